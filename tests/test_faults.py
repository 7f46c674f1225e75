"""The grader's own faults are never a student's zero; CUDA is never used across a fork.

Start-up failures are injected on the CPU by handing the worker a scratch folder that
does not exist (its start-up fails before any student code runs), and a CUDA process by
making torch report CUDA as initialised.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grader.commands.batch import BatchStopped, run_batch
from grader.engine.runner import Grader
from grader.sandbox import client
from grader.sandbox.client import Limits
from grader.sandbox.zygote import InfrastructureError
from tests.conftest import ROOT, SOLUTIONS

LIMITS = Limits(call_seconds=3.0, load_seconds=6.0)
MISSING_SCRATCH = "/nonexistent/grader-scratch"

# Runs the command line with every worker's start-up broken (no hook in the grader itself).
BROKEN_CLI = (
    "import sys\n"
    "from grader.sandbox import client\n"
    "real = client.WorkerConfig.to_json\n"
    f"client.WorkerConfig.to_json = lambda self: {{**real(self), 'scratch_dir': {MISSING_SCRATCH!r}}}\n"
    "from grader.cli import main\n"
    "sys.argv = ['grader', *sys.argv[1:]]\n"
    "main()\n"
)


@pytest.fixture
def broken_start_up(monkeypatch):
    real = client.WorkerConfig.to_json
    monkeypatch.setattr(client.WorkerConfig, "to_json", lambda self: {**real(self), "scratch_dir": MISSING_SCRATCH})


def _room(tmp_path: Path, names: list[str]) -> Path:
    room = tmp_path / "room"
    for name in names:
        shutil.copytree(SOLUTIONS, room / name, ignore=shutil.ignore_patterns("__pycache__"))
        (room / name / "note.txt").write_text(name)  # distinct content, distinct cache entries
    return room


def _gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


# ------------------------------------------------------------------ start-up failures


def test_a_worker_that_cannot_start_raises_the_graders_fault(course, broken_start_up):
    with Grader(course, limits=LIMITS) as grader:
        with pytest.raises(InfrastructureError, match="could not start.*FileNotFoundError"):
            grader.grade(SOLUTIONS, course.select(("masks",)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_grading_on_a_device_that_cannot_work_is_the_graders_fault(course):
    """What happened on a GPU machine whose workers could not start CUDA: never zeros."""
    with Grader(course, device="cuda", limits=LIMITS) as grader:
        with pytest.raises(InfrastructureError, match="could not start"):
            grader.grade(SOLUTIONS, course.select(("masks",)))


def test_grade_exits_nonzero_with_one_line_and_writes_no_report(tmp_path):
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-c", BROKEN_CLI, "grade", "solutions", "-e", "masks", "-o", str(report)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "the grader failed (not the submission's fault)" in result.stderr
    assert "Traceback" not in result.stderr and not report.exists()


def test_a_batch_that_cannot_start_a_worker_stops_before_grading(course, tmp_path, broken_start_up):
    room, out = _room(tmp_path, ["alice", "bob"]), tmp_path / "out"
    with pytest.raises(InfrastructureError, match="could not start"):
        run_batch(course, room, out, workers=1, limits=LIMITS)
    assert not list((out / ".cache").glob("*.json"))


def test_submissions_the_grader_fails_on_are_marked_not_scored_and_retried(course, tmp_path, monkeypatch):
    room, out = _room(tmp_path, ["alice", "bob", "carol"]), tmp_path / "out"
    real = Grader.grade

    def grade(self, path, exercises=None, name=None):
        if name == "bob":
            raise InfrastructureError("injected: the device failed")
        return real(self, path, exercises, name)

    with monkeypatch.context() as patch:
        patch.setattr(Grader, "grade", grade)
        result = run_batch(course, room, out, workers=1, limits=LIMITS)
    assert [name for name, _ in result.failed] == ["bob"] and result.graded == 2
    book = _gradebook(out)
    assert book["bob"]["score"] == "" and all(book["bob"][e.name] == "" for e in course.exercises)
    assert float(book["alice"]["score"]) == course.max_score
    bob = json.loads((out / "bob.json").read_text())
    assert bob["failed_to_grade"] and {e["status"] for e in bob["exercises"]} == {"failed to grade"}
    assert "injected: the device failed" in bob["notes"][0]
    assert len(list((out / ".cache").glob("*.json"))) == 2  # bob is not cached
    again = run_batch(course, room, out, workers=1, limits=LIMITS)
    assert again.cached == 2 and again.graded == 1 and not again.failed
    assert float(_gradebook(out)["bob"]["score"]) == course.max_score


def test_a_batch_stops_early_when_nothing_can_be_graded(course, tmp_path, monkeypatch):
    room, out = _room(tmp_path, ["a", "b", "c", "d", "e"]), tmp_path / "out"

    def grade(self, path, exercises=None, name=None):
        raise InfrastructureError("injected: the device is gone")

    monkeypatch.setattr(Grader, "grade", grade)
    with pytest.raises(BatchStopped, match="3 submissions in a row.*the device is gone"):
        run_batch(course, room, out, workers=1, limits=LIMITS)
    book = _gradebook(out)
    assert set(book) == {"a", "b", "c", "d", "e"} and all(row["score"] == "" for row in book.values())
    notes = [json.loads((out / f"{n}.json").read_text())["notes"][0] for n in ("d", "e")]
    assert all("not graded: the batch stopped" in note for note in notes)


def test_batch_command_exits_nonzero_when_workers_cannot_start(tmp_path):
    room, out = _room(tmp_path, ["alice"]), tmp_path / "out"
    result = subprocess.run([sys.executable, "-c", BROKEN_CLI, "batch", str(room), "-o", str(out), "--workers", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "could not start" in result.stderr


# ------------------------------------------------------------------ CUDA and fork


@pytest.fixture
def cuda_in_use(monkeypatch):
    """This process looks as if it had initialised CUDA (as after a CUDA test in the same run)."""
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)


def test_a_grader_in_a_cuda_process_grades_without_forking(course, cuda_in_use, monkeypatch):
    def no_fork():
        raise AssertionError("forked a grading process from a process where CUDA is initialised")

    monkeypatch.setattr(os, "fork", no_fork)
    with Grader(course, processes=2, limits=LIMITS) as grader:
        report = grader.grade(SOLUTIONS)
    assert report.score == report.max_score == course.max_score


def test_a_batch_in_a_cuda_process_refuses_to_fork(course, tmp_path, cuda_in_use):
    room, out = _room(tmp_path, ["alice"]), tmp_path / "out"
    with pytest.raises(BatchStopped, match="CUDA is already in use in this process"):
        run_batch(course, room, out, workers=1, limits=LIMITS)


# ------------------------------------------------------------------ the worker's start, device memory


def test_the_device_is_prepared_before_confinement(monkeypatch):
    """CUDA cannot start under Landlock: the worker initialises the device first."""
    from grader.sandbox import worker

    order: list[str] = []
    monkeypatch.setattr(worker, "_prepare_device", lambda config: order.append("device"))
    monkeypatch.setattr(worker, "_confine", lambda config: order.append("confine"))
    worker._start_up({})
    assert order == ["device", "confine"]


def test_device_memory_shares_never_add_up_to_more_than_the_device():
    from grader.sandbox.worker import device_memory_share

    total = 140 * 2**30
    for sharers in (1, 2, 9, 8 * 15):
        share = device_memory_share(total, 3 * 2**30, sharers)
        assert share * sharers <= 0.9 + 1e-9 and share * total <= 3 * 2**30
    assert device_memory_share(16 * 2**30, None, 4) == pytest.approx(0.9 / 4)


def test_an_out_of_memory_within_the_students_share_is_the_graders():
    from grader.sandbox.worker import device_oom_is_the_students

    share = 2**30
    assert device_oom_is_the_students(in_use=900 * 2**20, requested=200 * 2**20, share_bytes=share)
    assert not device_oom_is_the_students(in_use=10 * 2**20, requested=2**20, share_bytes=share)

"""Batch grading: every layout, unreadable entries, hostile neighbours, resuming, the outputs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from grader.commands.batch import discover, run_batch
from grader.sandbox.client import Limits
from tests.conftest import EXERCISES, ROOT, SOLUTIONS

LIMITS = Limits(call_seconds=3.0, load_seconds=6.0)
CAUSAL_BUG = (
    "\n\ndef causal_mask(q_len, k_len=None, device=None):\n"
    "    k_len = q_len if k_len is None else k_len\n"
    "    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril()\n"
)


def _copy(source: Path, target: Path, extra: dict[str, str] | None = None) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    for module, text in (extra or {}).items():
        with open(target / f"{module}.py", "a") as handle:
            handle.write(text)
    return target


@pytest.fixture(scope="module")
def classroom(tmp_path_factory) -> Path:
    room = tmp_path_factory.mktemp("class")
    _copy(SOLUTIONS, room / "alice")
    _copy(EXERCISES, room / "bob")
    _copy(SOLUTIONS, room / "carol", {"masks": CAUSAL_BUG})
    _copy(SOLUTIONS, room / "dan", {"masks": "\n\ndef causal_mask(q_len, k_len=None, device=None):\n    while True:\n        pass\n"})
    with zipfile.ZipFile(room / "erin.zip", "w") as archive:
        for file in SOLUTIONS.glob("*.py"):
            archive.write(file, f"exercises/{file.name}")
    (room / "frank.zip").write_bytes(b"this is not a zip")
    (room / "grace.ipynb").write_text("{ not json")
    (room / "heidi").mkdir()
    shutil.copyfile(SOLUTIONS / "masks.py", room / "ivan_4242_1001_masks.py")
    shutil.copyfile(SOLUTIONS / "attention.py", room / "ivan_4242_1002_attention-1.py")
    return room


@pytest.fixture(scope="module")
def batch_run(course, classroom, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run_batch(course, classroom, out, workers=2, limits=LIMITS)
    return result, out


def _gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def test_discovery_groups_canvas_files_and_lists_every_entry(classroom):
    names = [e.name for e in discover(classroom)]
    assert names == sorted(["alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan_4242"])
    ivan = next(e for e in discover(classroom) if e.name == "ivan_4242")
    assert len(ivan.files) == 2


def test_every_submission_gets_a_row_and_its_own_reports(batch_run, course):
    result, out = batch_run
    book = _gradebook(out)
    assert set(book) == {"alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan_4242"}
    header = next(csv.reader(open(out / "gradebook.csv")))
    assert header == ["submission", "score", "max_score", *[e.name for e in course.exercises]]
    for name in book:
        report = json.loads((out / f"{name}.json").read_text())
        assert report["submission"] == name and report["max_score"] == course.max_score
        gradescope = json.loads((out / f"{name}.results.json").read_text())
        assert gradescope["score"] == report["score"]
    assert float(book["alice"]["score"]) == course.max_score
    assert float(book["erin"]["score"]) == course.max_score
    assert float(book["bob"]["score"]) == 0


def test_unreadable_entries_score_zero_with_a_reason(batch_run):
    result, out = batch_run
    reasons = dict(result.unreadable)
    assert "not a readable zip" in reasons["frank"]
    assert "not a valid Jupyter notebook" in reasons["grace"]
    summary = (out / "summary.md").read_text()
    assert "frank" in summary and "grace" in summary and "heidi" in summary
    assert (out / "summary.html").read_text().startswith("<!doctype html>")


def test_each_mistake_costs_only_its_own_exercise(batch_run, course):
    _, out = batch_run
    book = _gradebook(out)
    for name, victim in (("carol", "masks.causal_mask"), ("dan", "masks.causal_mask")):
        for exercise in course.exercises:
            got, full = float(book[name][exercise.name]), exercise.max_score
            assert (got < full) if exercise.name == victim else (got == full), (name, exercise.name)
    dan = json.loads((out / "dan.json").read_text())
    assert next(e for e in dan["exercises"] if e["name"] == "masks.causal_mask")["status"] == "timed out"
    ivan = {e.name: float(_gradebook(out)["ivan_4242"][e.name]) for e in course.exercises}
    assert ivan["masks.causal_mask"] == course["masks.causal_mask"].max_score
    assert ivan["attention.softmax"] == course["attention.softmax"].max_score
    assert ivan["recurrent.rnn_cell"] == 0


def test_a_second_run_grades_only_what_is_new(batch_run, course, classroom, tmp_path):
    _, out = batch_run
    before = (out / "gradebook.csv").read_text()
    again = run_batch(course, classroom, out, workers=2, limits=LIMITS)
    assert again.graded == 0 and again.cached == 7
    assert (out / "gradebook.csv").read_text() == before
    room = tmp_path / "room"
    shutil.copytree(classroom, room)
    _copy(SOLUTIONS, room / "judy")
    (room / "judy" / "README.txt").write_text("judy's own copy")  # identical bytes would be a cache hit
    third = run_batch(course, room, out, workers=2, limits=LIMITS)
    assert third.graded == 1 and third.cached == 7
    assert float(_gradebook(out)["judy"]["score"]) == course.max_score


def test_a_submission_cannot_touch_other_reports(course, tmp_path):
    room, out = tmp_path / "room", tmp_path / "out"
    room.mkdir()
    _copy(SOLUTIONS, room / "alice")
    target = out / "alice.json"
    attack = (
        f"\n\nfor _path in [{str(target)!r}, {str(out / 'gradebook.csv')!r}, {str(out / 'zz.json')!r}]:\n"
        "    try:\n"
        "        open(_path, 'w').write('{\"score\": 1000}')\n"
        "    except OSError:\n"
        "        pass\n"
    )
    _copy(SOLUTIONS, room / "zz", {"masks": attack})
    result = run_batch(course, room, out, workers=1, limits=LIMITS)
    book = _gradebook(out)
    assert float(book["alice"]["score"]) == course.max_score
    assert json.loads(target.read_text())["score"] == course.max_score
    assert not (out / "zz.json").read_text().startswith('{"score": 1000')
    assert result.graded == 2


def test_an_interrupted_batch_resumes_without_losing_work(tmp_path):
    room, out = tmp_path / "room", tmp_path / "out"
    room.mkdir()
    for name in ("a", "b", "c", "d"):
        _copy(SOLUTIONS, room / name)
        (room / name / "note.txt").write_text(name)  # distinct content, distinct cache entries
    command = [sys.executable, "-m", "grader", "batch", str(room), "-o", str(out), "--workers", "1"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / ".cache").glob("*.json"))) < 1:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(list((out / ".cache").glob("*.json")))
    assert finished >= 1
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{finished} from the cache" in resumed.stderr or finished == 4
    assert set(_gradebook(out)) == {"a", "b", "c", "d"}


def test_batch_errors_are_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "grader", "batch", str(tmp_path / "none"), "-o", str(tmp_path / "o")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and result.stderr.count("\n") == 1 and "no such folder" in result.stderr


def test_gradescope_export_folders_are_named_after_their_submitters(tmp_path):
    export = tmp_path / "assignment_1_export"
    export.mkdir()
    for number in ("101", "102"):
        _copy(SOLUTIONS, export / f"submission_{number}")
    (export / "submission_metadata.yml").write_text(
        "submission_101:\n"
        "  :submitters:\n"
        "  - :name: Ada Lovelace\n"
        "    :sid: '17'\n"
        "    :email: ada@example.org\n"
        "  :created_at: 2026-11-01 10:00:00.000000000 -07:00\n"
        "submission_102:\n"
        "  :submitters:\n"
        "  - :name: 'Alan Turing'\n"
        "  - :name: Grace Hopper\n"
        "  :score: 3.0\n"
    )
    names = [entry.name for entry in discover(export)]
    assert names == ["Ada_Lovelace", "Alan_Turing_Grace_Hopper"]


def test_a_reply_left_by_a_killed_grading_process_is_skipped(tmp_path):
    """A grading process killed between asking the zygote for a worker and reading the reply
    leaves that reply on its channel; the process that takes over the channel skips it."""
    import socket

    from grader.sandbox.zygote import Zygote

    zygote = Zygote(tmp_path, channels=1)
    try:
        orphan, theirs = socket.socketpair()
        out_read, out_write = os.pipe()
        socket.send_fds(zygote.control, [b'{"op": "fork", "id": "killed-1"}'], [theirs.fileno(), out_write])
        theirs.close()
        os.close(out_write)
        orphan.close()  # the orphaned worker sees EOF and ends
        pid, sock, output = zygote.fork()
        assert pid > 0
        zygote.control.setblocking(False)
        try:
            leftover = zygote.control.recv(65536)
        except BlockingIOError:
            leftover = None
        zygote.control.setblocking(True)
        assert leftover is None, f"a reply was left on the channel: {leftover!r}"
        sock.close()
        os.close(output)
        os.close(out_read)
    finally:
        zygote.close()


def test_run_batch_reports_progress_to_the_end(tmp_path):
    from grader.commands.batch import run_batch
    from grader.engine.course import load_course

    room = tmp_path / "room"
    room.mkdir()
    for name in ("a", "b"):
        _copy(SOLUTIONS, room / name)
        (room / name / "note.txt").write_text(name)
    (room / "broken.zip").write_bytes(b"not a zip")
    course = load_course()
    calls = []
    result = run_batch(course, room, tmp_path / "out", workers=1,
                       progress=lambda done, total, name: calls.append((done, total)))
    assert calls[-1] == (3, 3)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert result.graded == 2 and len(result.unreadable) == 1


def test_the_progress_bar_shows_on_a_terminal(tmp_path):
    """On a terminal the batch shows a progress bar with an ETA (stderr is a pty here)."""
    import pty

    room = tmp_path / "room"
    room.mkdir()
    _copy(SOLUTIONS, room / "a")
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(room), "-o", str(tmp_path / "out"),
                                "--workers", "1"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(timeout=300) == 0
    os.close(leader)
    text = seen.decode(errors="replace")
    assert "grading" in text and "1/1" in text, text[-500:]


def test_printing_a_fake_perfect_result_changes_nothing(course, tmp_path):
    """What a submission prints is kept as its output, never read as a result."""
    room, out = tmp_path / "room", tmp_path / "out"
    room.mkdir()
    fake = json.dumps({"score": course.max_score, "max_score": course.max_score})
    boast = (
        "\n\nprint('total 109 / 109 100%')\n"
        f"print({fake!r})\n"
        "import sys\n"
        f"sys.stderr.write({fake!r})\n"
    )
    _copy(EXERCISES, room / "mallory", {"masks": boast})
    result = run_batch(course, room, out, workers=1, limits=LIMITS)
    report = json.loads((out / "mallory.json").read_text())
    assert report["score"] == 0 and float(_gradebook(out)["mallory"]["score"]) == 0
    assert "100%" in report.get("output", "")
    assert result.graded == 1


PINNING = """
import json, os, sys
from grader.commands.batch import _pin
cpus = sorted(os.sched_getaffinity(0))
slot, size = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"cpus": cpus, "pinned": _pin(slot, size), "now": sorted(os.sched_getaffinity(0))}))
"""


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this platform")
@pytest.mark.parametrize("extra", [0, 1], ids=["as many processes as CPUs", "more processes than CPUs"])
def test_grading_processes_keep_to_one_cpu_when_they_fill_the_machine(extra):
    """Each grading process and its workers take turns on one CPU when there is no CPU to
    spare; with fewer processes than CPUs, or GRADER_PIN=0, nothing is pinned."""
    def pin(slot, size, **env):
        result = subprocess.run([sys.executable, "-c", PINNING, str(slot), str(size)], capture_output=True,
                                text=True, cwd=ROOT, env={**os.environ, **env}, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout)

    cpus = sorted(os.sched_getaffinity(0))
    size = len(cpus) + extra
    last = pin(size - 1, size)
    assert last["pinned"] == last["now"] == [cpus[(size - 1) % len(cpus)]]
    assert pin(0, size, GRADER_PIN="0")["pinned"] is None
    if len(cpus) > 1:
        spare = pin(0, len(cpus) - 1)
        assert spare["pinned"] is None and spare["now"] == cpus


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this platform")
def test_workers_keep_to_the_cpu_of_their_grading_process(course):
    from grader.engine.runner import Grader
    from grader.engine.submission import load_submission

    cpu = sorted(os.sched_getaffinity(0))[-1]
    with Grader(course, processes=1) as grader:
        grader.zygote.cpus = [cpu]
        grader.workers.submission = load_submission(SOLUTIONS, course.modules, grader.workdir)
        worker = grader.workers.start_worker("masks", [])
        try:
            assert os.sched_getaffinity(worker.pid) == {cpu}
        finally:
            worker.close()

"""`grader batch --scheduler` on a real Dask scheduler and worker, started on loopback here."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time

import pytest

from tests.conftest import EXERCISES, ROOT, SOLUTIONS

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    common = ["--no-dashboard"]
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--scheduler-file", str(scheduler_file), *common],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
    )
    processes = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
             "--host", "127.0.0.1", *common],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        )
        processes.append(worker)
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def test_batch_on_a_dask_cluster_matches_a_local_batch(cluster, course, tmp_path):
    room = tmp_path / "room"
    room.mkdir()
    shutil.copytree(SOLUTIONS, room / "alice", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXERCISES, room / "bob", ignore=shutil.ignore_patterns("__pycache__"))
    (room / "carol.ipynb").write_text("{ broken")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(room), "-o", str(out), "--scheduler", cluster],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    with open(out / "gradebook.csv", newline="") as handle:
        book = {row["submission"]: row for row in csv.DictReader(handle)}
    assert float(book["alice"]["score"]) == course.max_score
    assert float(book["bob"]["score"]) == 0
    assert float(book["carol"]["score"]) == 0 and "carol" in (out / "summary.md").read_text()
    report = json.loads((out / "alice.json").read_text())
    assert report["submission"] == "alice" and report["facts"]["sandbox"]


def test_an_unreachable_scheduler_is_a_one_line_error(tmp_path):
    (tmp_path / "room").mkdir()
    shutil.copytree(SOLUTIONS, tmp_path / "room" / "alice")
    result = subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(tmp_path / "room"), "-o", str(tmp_path / "out"),
         "--scheduler", "tcp://127.0.0.1:9"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "Dask scheduler" in result.stderr

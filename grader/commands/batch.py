"""Grade a whole class: many submissions, a pool of grading processes, a resumable cache.

The batch process loads the course once and forks ``workers`` grading processes; each
grades one submission at a time through its own channel to a single clean zygote (torch
loaded, no student code, no reference), so a submission costs little more than its
checks. Only the batch process writes into the output folder, each file atomically,
and every result is cached under its content hash: an interrupted run loses nothing,
and running the same command again grades only what is new or changed.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import os
import re
import select
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader import __version__
from grader.engine.course import Course
from grader.engine.fingerprint import course_fingerprint
from grader.engine.results import ExerciseResult, Report

CANVAS_NAME = re.compile(r"^(?P<student>[a-z0-9]+)_(?:late_)?(?P<user>\d+)_(?P<sub>\d+)_(?P<original>.+)$", re.I)
CANVAS_RESUBMISSION = re.compile(r"-\d+(?=\.[^.]+$)")
SUBMISSION_SUFFIXES = {".zip", ".ipynb", ".py"}
TASK_SECONDS = 900.0


@dataclass
class Entry:
    """One student's submission as found in the folder."""

    name: str
    path: Path | None
    problem: str = ""  # why it cannot be graded at all (then path is None or unusable)
    files: list[Path] = field(default_factory=list)  # Canvas: the files grouped into one submission


def safe_name(text: str) -> str:
    """A file-name-safe, non-hidden version of a submission's name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "submission"
    return cleaned[:100]


def gradescope_names(folder: Path) -> dict[str, str]:
    """Submitter names by folder, from a Gradescope export's ``submission_metadata.yml``.

    Read line by line (no YAML dependency): a top-level ``submission_<id>:`` key, then the
    ``:name:`` of each of its ``:submitters:``.
    """
    metadata = folder / "submission_metadata.yml"
    names: dict[str, list[str]] = {}
    if not metadata.is_file():
        return {}
    current = None
    for line in metadata.read_text(errors="replace").splitlines():
        top = re.match(r"^(submission_\d+):\s*$", line)
        if top:
            current = top.group(1)
            names[current] = []
            continue
        submitter = re.match(r"^\s*-?\s*:name:\s*(.+?)\s*$", line)
        if current and submitter:
            names[current].append(submitter.group(1).strip("'\""))
    return {key: "+".join(value) for key, value in names.items() if value}


def discover(folder: Path) -> list[Entry]:
    """Every submission in ``folder``: one entry per student, Canvas file groups merged,
    Gradescope export folders named after their submitters."""
    entries: list[Entry] = []
    canvas: dict[str, Entry] = {}
    submitters = gradescope_names(folder)
    for child in sorted(folder.iterdir()):
        if child.name.startswith((".", "__")):
            continue
        match = CANVAS_NAME.match(child.name) if child.is_file() else None
        suffix = child.suffix.lower()
        if match and suffix in SUBMISSION_SUFFIXES:
            key = f"{match['student']}_{match['user']}"
            entry = canvas.setdefault(key, Entry(name=key, path=None))
            entry.files.append(child)
        elif child.is_dir():
            entries.append(Entry(submitters.get(child.name, child.name), child))
        elif suffix in (".zip", ".ipynb"):
            entries.append(Entry(child.stem, child))
        elif suffix == ".py":
            entries.append(Entry(child.stem, None, problem="a lone .py file: submit the exercises folder, a zip or a notebook"))
    entries.extend(canvas.values())
    names: dict[str, int] = {}
    for entry in entries:
        base = safe_name(entry.name)
        names[base] = names.get(base, 0) + 1
        entry.name = base if names[base] == 1 else f"{base}-{names[base]}"
    if not entries:
        return []
    return sorted(entries, key=lambda e: e.name)


def stage_canvas(entry: Entry, staging: Path) -> Path:
    """Canvas files of one student as one submission (a folder, or their single archive)."""
    originals = [(CANVAS_RESUBMISSION.sub("", CANVAS_NAME.match(f.name)["original"]), f) for f in entry.files]
    archives = [(name, f) for name, f in originals if Path(name).suffix.lower() in (".zip", ".ipynb")]
    if len(archives) == 1 and len(originals) == 1:
        return archives[0][1]
    target = staging / entry.name
    target.mkdir(parents=True, exist_ok=True)
    for name, file in sorted(originals, key=lambda pair: pair[1].name):
        shutil.copyfile(file, target / Path(name).name)
    return target


def content_hash(path: Path) -> str:
    """Hash of a submission's bytes (file, or every file below a folder, with their paths).

    A symbolic link inside a folder counts as its target's name, never its content: the
    grader does not follow it (see :mod:`grader.engine.submission`)."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink())
    for file in files[:5000]:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode() + b"\0")
        if path.is_dir() and file.is_symlink():
            digest.update(b"link:" + os.fsencode(os.readlink(file)))
            continue
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# ============================================================================ the pool


class _Pool:
    """``size`` forked grading processes, each talking to the zygote on its own channel."""

    def __init__(self, course: Course, device: str, size: int, zygote, workdir: Path, limits=None,
                 private: tuple[Path, ...] = ()) -> None:
        self.course, self.device, self.zygote, self.workdir, self.limits = course, device, zygote, workdir, limits
        self.private = private  # what no worker may read: the batch's folders
        self.children: dict[int, tuple[int, Any, Any]] = {}
        self.size = size
        for slot in range(size):
            self._start(slot)

    def _start(self, slot: int) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(to_child_w)
            os.close(from_child_r)
            status = 1
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                _serve(self.course, self.device, self.zygote, (slot, self.size), self.workdir, self.limits,
                       self.private, to_child_r, from_child_w)
                status = 0
            finally:
                os._exit(status)
        os.close(to_child_r)
        os.close(from_child_w)
        self.children[slot] = (pid, os.fdopen(to_child_w, "w", buffering=1), os.fdopen(from_child_r, "r"))

    def run(self, tasks: list[dict], on_result: Callable[[dict, dict], None],
            stop: Callable[[], bool] = lambda: False) -> None:
        """Hand out tasks as processes free up; ``on_result(task, reply)`` for each. Once
        ``stop()`` is true, no more are handed out (those running are finished)."""
        pending = list(tasks)
        busy: dict[int, tuple[dict, float]] = {}
        for slot in list(self.children):
            self._give(slot, pending, busy)
        while busy:
            readers = {self.children[slot][2].fileno(): slot for slot in busy}
            ready, _, _ = select.select(list(readers), [], [], 5.0)
            for fd in ready:
                slot = readers[fd]
                task, _ = busy.pop(slot)
                line = self.children[slot][2].readline()
                reply = json.loads(line) if line else {"error": "the grading process stopped unexpectedly"}
                if not line:
                    self._replace(slot)
                on_result(task, reply)
                self._give(slot, pending, busy, stop)
            for slot, (task, started) in list(busy.items()):
                if time.monotonic() - started > TASK_SECONDS:
                    busy.pop(slot)
                    self._replace(slot)
                    on_result(task, {"error": f"grading took longer than {TASK_SECONDS:g} s and was stopped"})
                    self._give(slot, pending, busy, stop)

    def _give(self, slot: int, pending: list[dict], busy: dict, stop: Callable[[], bool] = lambda: False) -> None:
        if pending and not stop():
            task = pending.pop(0)
            self.children[slot][1].write(json.dumps(task) + "\n")
            busy[slot] = (task, time.monotonic())

    def _replace(self, slot: int) -> None:
        pid, writer, reader = self.children.pop(slot)
        for stream in (writer, reader):
            try:
                stream.close()
            except OSError:
                pass
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        self._start(slot)

    def close(self) -> None:
        for pid, writer, reader in self.children.values():
            try:
                writer.close()
            except OSError:
                pass
            reader.close()
        for pid, _, _ in self.children.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        self.children.clear()


def _serve(
    course: Course, device: str, zygote, place: tuple[int, int], workdir: Path, limits, private: tuple[Path, ...],
    task_fd: int, reply_fd: int,
) -> None:
    """A grading process (``place``: its slot, of how many): read tasks, grade, answer one JSON line each."""
    import torch

    from grader.engine.runner import Grader

    slot, size = place
    torch.set_num_threads(1)
    zygote.use_channel(slot)
    zygote.cpus = _pin(slot, size)
    tasks = os.fdopen(task_fd, "r")
    replies = os.fdopen(reply_fd, "w", buffering=1)
    own_workdir = workdir / f"pool-{slot}"
    own_workdir.mkdir(exist_ok=True)
    with Grader(course, device=device, zygote=zygote, workdir=own_workdir, limits=limits, sharing=size,
                private=private) as grader:
        for line in tasks:
            task = json.loads(line)
            replies.write(json.dumps(grade_one(grader, Path(task["path"]), task["name"])) + "\n")


def grade_one(grader, path: Path, name: str) -> dict:
    """One submission's reply: ``report``, or ``unreadable`` (the submission's problem),
    ``infrastructure`` (the grader's own fault) or ``error`` (a bug of ours)."""
    from grader.sandbox.zygote import InfrastructureError
    from grader.engine.submission import SubmissionError

    try:
        return {"report": grader.grade(path, name=name).to_json()}
    except SubmissionError as error:
        return {"unreadable": str(error)}
    except InfrastructureError as fault:
        return {"infrastructure": str(fault)[:500]}
    except Exception as error:  # noqa: BLE001 - one bad submission never stops the batch
        return {"error": f"{type(error).__name__}: {error}"[:500]}


def _pin(slot: int, size: int) -> list[int] | None:
    """The CPU that grading process ``slot`` (of ``size``) and its workers keep to, if any.

    With at least as many grading processes as CPUs, each process and its workers take
    turns on one CPU: a turn then wakes the other side on the same CPU, with warm caches
    and without an interrupt between processors (costly in a virtual machine). With
    fewer, nothing is pinned, so that a process and its worker can overlap.
    ``GRADER_PIN=0`` turns this off.
    """
    if os.environ.get("GRADER_PIN", "1") == "0" or not hasattr(os, "sched_getaffinity"):
        return None
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if size < len(cpus):
            return None
        pinned = [cpus[slot % len(cpus)]]
        os.sched_setaffinity(0, pinned)
    except OSError:
        return None
    return pinned


# ============================================================================ the batch


@dataclass
class BatchResult:
    graded: int = 0
    cached: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    reports: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0


class BatchStopped(RuntimeError):
    """The batch stopped early: the grader cannot grade on this device at all."""


def empty_report(course: Course, name: str, device: str, reason: str, status: str = "unreadable") -> dict:
    """A report without grades, with the reason on every exercise: a zero for an
    ``unreadable`` submission (its own problem); for one that ``failed to grade`` (the
    grader's), no score at all is owed, and the gradebook leaves its cells empty."""
    exercises = [
        ExerciseResult(e.name, [], status=status, note=reason).to_json() | {"max_score": e.max_score}
        for e in course.exercises
    ]
    flag = "unreadable" if status == "unreadable" else "failed_to_grade"
    return Report(name, device, []).to_json() | {
        "exercises": exercises, "max_score": course.max_score, "notes": [reason], flag: True
    }


FAILED_TO_GRADE = "failed to grade"


def run_batch(
    course: Course,
    submissions: Path,
    out: Path,
    workers: int = 2,
    device: str = "cpu",
    progress: Callable[[int, int, str], None] | None = None,
    limits=None,
    scheduler: str | None = None,
    zygote=None,
) -> BatchResult:
    """Grade every submission in ``submissions`` into ``out`` (resumable, incremental).

    ``zygote``: one started early by the caller (it imports torch while the course
    loads), who also closes it; otherwise one is started here if anything is to be graded.
    """
    from grader.reports import gradescope
    from grader.sandbox.zygote import Zygote, make_workdir

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    cache = out / ".cache"
    cache.mkdir(exist_ok=True)
    workdir = make_workdir()
    result = BatchResult()
    fingerprint = course_fingerprint()
    entries = discover(submissions)
    tasks: list[dict] = []
    for entry in entries:
        if entry.problem:
            result.unreadable.append((entry.name, entry.problem))
            result.reports[entry.name] = empty_report(course, entry.name, device, entry.problem)
            continue
        path = stage_canvas(entry, workdir / "canvas") if entry.files else entry.path
        key = hashlib.sha256(f"{content_hash(path)}|{fingerprint}|{device}".encode()).hexdigest()
        cached = cache / f"{key}.json"
        if cached.exists():
            try:
                report = json.loads(cached.read_text())
                report["submission"] = entry.name
                result.reports[entry.name] = report
                result.cached += 1
                continue
            except ValueError:
                cached.unlink()
        tasks.append({"name": entry.name, "path": str(path), "cache": str(cached)})
    done = [result.cached + len(result.unreadable)]

    faults = _FaultWatch(max(3, workers))

    def on_result(task: dict, reply: dict) -> None:
        faults.saw("report" in reply or "unreadable" in reply, reply.get("infrastructure") or reply.get("error"))
        record(task, reply)

    def record(task: dict, reply: dict) -> None:
        name = task["name"]
        if "report" in reply:
            report = reply["report"]
            write_atomically(Path(task["cache"]), json.dumps(report))
            result.graded += 1
        elif "unreadable" in reply:
            result.unreadable.append((name, reply["unreadable"]))
            report = empty_report(course, name, device, reply["unreadable"])
        else:  # the grader's fault: not scored, not cached (a re-run grades it)
            reason = f"failed to grade: {reply.get('infrastructure') or reply.get('error')}"
            result.failed.append((name, reason))
            report = empty_report(course, name, device, reason, status=FAILED_TO_GRADE)
        result.reports[name] = report
        _write_submission(out, name, report, gradescope)
        done[0] += 1
        if progress:
            progress(done[0], len(entries), name)

    for name, report in result.reports.items():
        _write_submission(out, name, report, gradescope)
    if progress:
        progress(done[0], len(entries), "")
    own_zygote = zygote is None
    if own_zygote:
        zygote = Zygote(workdir, channels=max(1, workers)) if tasks and not scheduler else None
    pool = None
    try:
        if tasks and scheduler:
            from dataclasses import asdict

            from grader.commands.on_dask import run_on_dask
            from grader.sandbox.client import Limits

            run_on_dask(scheduler, tasks, device, asdict(limits or Limits()), on_result, stop=faults.stopped)
        elif tasks:
            from grader.engine.examples import BOOK, examples_file
            from grader.engine.runner import cuda_initialised

            if cuda_initialised():
                raise BatchStopped("CUDA is already in use in this process, and grading processes cannot be "
                                   "forked from it: run the batch from a fresh process")
            preflight(zygote, device, workdir, limits)
            # Once, inherited by every grading process, and kept for the next run.
            with BOOK.kept_in(examples_file(fingerprint) or cache / f"examples-{fingerprint}.pkl"):
                BOOK.record_all(course.exercises)
            # What the grading processes inherit is never collected there: a collection
            # would write to (and so copy) every page of it in each of them.
            gc.collect()
            gc.freeze()
            pool = _Pool(course, device, max(1, min(workers, len(tasks))), zygote, workdir, limits,
                         private=(submissions, out))
            pool.run(tasks, on_result, stop=faults.stopped)
        if faults.stopped():
            for task in tasks:
                if task["name"] not in result.reports:
                    record(task, {"infrastructure": "not graded: the batch stopped after repeated grader failures"})
    finally:
        if pool is not None:
            pool.close()
        gc.unfreeze()
        if zygote is not None and own_zygote:
            zygote.close()
        shutil.rmtree(workdir, ignore_errors=True)
        result.seconds = time.perf_counter() - started
        write_gradebook(course, out, result.reports)
        from grader.reports import summary

        facts = {"device": device, "grader": __version__, "course": fingerprint,
                 "workers": scheduler or workers,
                 "graded": result.graded, "cached": result.cached, "seconds": round(result.seconds, 1)}
        write_atomically(out / "summary.md", summary.markdown(course, result, facts))
        write_atomically(out / "summary.html", summary.html(course, result, facts))
    if faults.stopped():
        raise BatchStopped(f"stopped after {faults.limit} submissions in a row failed to grade, with none graded: "
                           f"{faults.last}")
    return result


class _FaultWatch:
    """Stops a batch whose first ``limit`` submissions all fail for the grader's own reasons
    (a device that cannot grade at all), rather than marking a whole class 'failed to grade'."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_a_row = 0
        self.any_graded = False
        self.last = ""

    def saw(self, graded: bool, fault: str | None) -> None:
        self.any_graded |= graded
        self.in_a_row = 0 if graded else self.in_a_row + 1
        self.last = fault or self.last

    def stopped(self) -> bool:
        return not self.any_graded and self.in_a_row >= self.limit


def preflight(zygote, device: str, workdir: Path, limits=None) -> None:
    """Start one worker with nothing to load, as every submission's would start: if the
    sandbox or the device cannot work, say so once, before grading anything."""
    from grader.sandbox.client import Limits, WorkerClient, WorkerConfig

    empty = workdir / "preflight"
    (empty / "submission").mkdir(parents=True, exist_ok=True)
    (empty / "scratch").mkdir(exist_ok=True)
    config = WorkerConfig(submission_dir=str(empty / "submission"), scratch_dir=str(empty / "scratch"),
                          modules=[], device=device)
    worker = WorkerClient(zygote, config, limits or Limits(), references=lambda name: None)
    worker.close()


def _write_submission(out: Path, name: str, report: dict, gradescope) -> None:
    write_atomically(out / f"{name}.json", json.dumps(report, indent=2) + "\n")
    results = gradescope.results(Report.from_json(report))
    write_atomically(out / f"{name}.results.json", json.dumps(results, indent=2) + "\n")


def write_gradebook(course: Course, out: Path, reports: dict[str, dict]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    names = [e.name for e in course.exercises]
    writer.writerow(["submission", "score", "max_score", *names])
    for submission in sorted(reports):
        report = reports[submission]
        if report.get("failed_to_grade"):  # no grade is owed for the grader's own failure
            writer.writerow([submission, "", _num(report["max_score"]), *("" for _ in names)])
            continue
        scores = {e["name"]: e["score"] for e in report["exercises"]}
        writer.writerow([submission, _num(report["score"]), _num(report["max_score"]), *(_num(scores.get(n, 0)) for n in names)])
    write_atomically(out / "gradebook.csv", buffer.getvalue())


def _num(value: float) -> str:
    return f"{value:g}"

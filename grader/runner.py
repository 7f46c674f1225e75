"""Grade one submission: import its modules, run every exercise's checks in the sandbox.

Each module gets its own worker, shared by its exercises; each call names the
prerequisites (``uses``) that the grading process's reference replaces, so a mistake is
charged only to the function that has it. Checks are tried first the cheap way (one
worker for every module, the student's own prerequisites where they passed) and run
again this way only if they fail: see :meth:`Grader.grade_exercise`. A check's examples
stream their calls to the worker (:class:`_Lookahead`). The verdict of every check is
computed here, from values the worker sent back.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import tempfile
import platform
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import greenlet
import hypothesis
import torch
from hypothesis.errors import HypothesisException

from . import __version__, course as course_module
from .compare import CheckFailed, device_of
from .course import Check, Course, Exercise, Student
from .describe import describe
from .examples import BOOK, ExampleBook, examples_folder
from .recording import NotRecorded
from .results import CheckResult, ExerciseResult, Report
from .sandbox.client import (
    CallLost,
    FunctionMissing,
    Pending,
    InfrastructureError,
    Limits,
    StudentRaised,
    Worker,
    close_all,
    tensors_in,
    WorkerConfig,
    WorkerFailure,
    Zygote,
    make_workdir,
)
from .sandbox import landlock
from .submission import Submission, load_submission

MAX_CRASHES_PER_EXERCISE = 3
LOOKAHEAD = 8  # examples whose first call is sent before the current one is checked
SLOW_NOTEBOOK_SECONDS = 1.0
TOGETHER = "*"  # the key, among the workers by module, of the one that imported them all
INPUTS_UNCHANGED = "leaves its inputs unchanged"
CHILD_GRACE_SECONDS = 600.0


@dataclass
class Handout:
    """Grading in a student's hand-out: recorded examples and reference outputs only.

    No hypothesis search (a failing recorded example is reported as it is), no
    reference to substitute for prerequisites (the student's own are used), and the
    instructor's ``hidden`` checks (``exercise -> [(check, points)]``) are listed as
    not run.
    """

    hidden: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


class ExamplesNotRecorded(Exception):
    """The hand-out has no recorded examples for a check."""


class StubNotImplemented(BaseException):
    """The student's function still raises NotImplementedError (ends the exercise)."""


class _Session:
    """The worker(s) behind one exercise, restarted after a crash.

    ``together``: calls go to the worker that imported every module, while it runs
    (see :meth:`Grader.start_together`); otherwise, and after it died, to the module's own.
    """

    def __init__(self, grader: "Grader", exercise: Exercise, substitute: list[str], together: bool = False) -> None:
        self.grader = grader
        self.exercise = exercise
        self.substitute = substitute
        self.together = together
        self.worker: Worker | None = None
        self.mutations: list[course_module.Mutation] = []
        self.completed_calls = 0
        self.calls = 0
        self.crashes = 0
        self.timed_out = ""
        self.stub_message = ""
        self.lookahead: _Lookahead | None = None

    def call(self, name: str, args: tuple, kwargs: dict, grad: bool = False, draws: tuple[int, int] | None = None):
        """The student's ``name(*args, **kwargs)`` (``draws``: see :meth:`Student.draws`); an example
        looked at ahead of its turn sends its call and waits for its turn (see :class:`_Lookahead`)."""
        lookahead = self.lookahead
        if lookahead is not None and lookahead.ahead():
            sent = self._submit(name, args, kwargs, grad, ahead=True, draws=draws)
            lookahead.wait_for_turn()
            if sent is not None:
                return self._collect(sent)
        return self._collect(self._submit(name, args, kwargs, grad, draws=draws))

    def _worker(self) -> Worker:
        if self.worker is None or not self.worker.alive:
            together = self.grader.together_worker() if self.together else None
            if together is not None:
                self.worker = together
                return together
            try:
                self.worker = self.grader.shared_worker(self.exercise.module)
            except OSError as error:
                raise InfrastructureError(f"could not start a worker: {error}") from error
        return self.worker

    def _submit(
        self, name: str, args: tuple, kwargs: dict, grad: bool, ahead: bool = False, draws: tuple[int, int] | None = None
    ) -> _Sent | None:
        worker = self._worker()
        pending = worker.submit(name, args, kwargs, grad=grad, substitute=self.substitute, ahead=ahead, draws=draws)
        return None if pending is None else _Sent(worker, pending, name, args, kwargs, grad, draws)

    def _collect(self, sent: _Sent):
        self.calls += 1
        name, args, kwargs = sent.name, sent.args, sent.kwargs
        try:
            while True:
                try:
                    result = sent.worker.result(sent.pending)
                    break
                except CallLost:  # an earlier call sent ahead crashed the worker: this one never ran
                    sent = self._submit(name, args, kwargs, sent.grad, draws=sent.draws)
        except StudentRaised as raised:
            self._record_mutations(name, args, kwargs, getattr(raised, "mutated", []))
            if raised.is_a(NotImplementedError) and raised.raised_in_submission:
                raise StubNotImplemented(self._stub_message(raised)) from None
            raise
        except WorkerFailure as failure:
            self.crashes += 1
            if failure.kind == "timeout":
                self.timed_out = failure.message
            raise
        self.completed_calls += 1
        self._record_mutations(name, args, kwargs, result.mutated)
        return result

    def _stub_message(self, raised: StudentRaised) -> str:
        """Whose stub it is: this function's, or one it calls (a hand-out uses the student's own)."""
        for used in self.exercise.uses:
            if f"{used} is not implemented yet" in raised.summary():
                self.stub_message = f"it calls your {used}, which still raises NotImplementedError: implement {used} first"
                return self.stub_message
        return raised.summary()

    def _record_mutations(self, name: str, args: tuple, kwargs: dict, indices: list[int]) -> None:
        """Inputs the call changed in place (whether it returned or raised)."""
        if indices:
            names = course_module.argument_names(self.exercise.reference, args, kwargs)
            self.mutations.extend(
                course_module.Mutation(name, names[i] if i < len(names) else "?") for i in indices
            )

    def expected_device(self, args: tuple, kwargs: dict) -> str:
        if tensors_in((args, kwargs)) or _has_callable((args, kwargs)):
            return self.grader.device_name  # tensors, and what callbacks return, live there
        device = kwargs.get("device")
        return device_of(device) if device is not None else "cpu"

    def close(self) -> None:
        self.worker = None  # the grader closes shared workers when the submission is done


@dataclass
class _Sent:
    """A call sent to a worker, and what it takes to send it again."""

    worker: Worker
    pending: Pending
    name: str
    args: tuple
    kwargs: dict
    grad: bool
    draws: tuple[int, int] | None = None


class _Lookahead:
    """Runs a check's recorded examples in order, sending each one's first call ahead.

    Each example's body runs in a greenlet (a paused call stack). Before example ``i``
    takes its turn, the next :data:`LOOKAHEAD` examples run up to their first call to
    the student's function, which is sent to the worker without waiting, and pause.
    The worker then answers a stream of calls instead of one round trip per call.

    Nothing else changes: examples take their turns in order, the first one that fails
    ends the check (its input is the one reported), and the calls sent for the examples
    after it are simply never looked at (a crash among them costs nothing: a call it
    stopped is sent again to a fresh worker). Only the order of calls in the worker
    differs from one example at a time, which matters only to a function that keeps
    state between calls.
    """

    def __init__(self, session: _Session, body: Callable[[dict], None], show: Callable[[dict], None]) -> None:
        self.session = session
        self.body = body
        self.show = show
        self.runner = greenlet.getcurrent()
        self.turn: greenlet.greenlet | None = None

    def ahead(self) -> bool:
        """Is the running example looking ahead (not yet its turn)?"""
        current = greenlet.getcurrent()
        return current is not self.runner and current is not self.turn

    def wait_for_turn(self) -> None:
        self.runner.switch()

    def run(self, examples: list[dict]) -> None:
        started: dict[int, tuple[greenlet.greenlet, list]] = {}
        self.session.lookahead = self
        try:
            for index, values in enumerate(examples):
                for later in range(index, min(len(examples), index + LOOKAHEAD + 1)):
                    if later not in started:
                        started[later] = self._start(examples[later])
                task, outcome = started.pop(index)
                self.turn = task
                self.show(values)
                if not task.dead:
                    task.switch()
                if outcome:
                    raise outcome[0]
        finally:
            self.session.lookahead = None
            self.turn = None
            for task, _ in started.values():
                if not task.dead:
                    task.throw()  # unwinds the examples left waiting (GreenletExit)

    def _start(self, values: dict) -> tuple[greenlet.greenlet, list]:
        outcome: list = []

        def example() -> None:
            try:
                self.body(values)
            except (greenlet.GreenletExit, KeyboardInterrupt):
                raise
            except BaseException as error:  # noqa: BLE001 - raised in turn, by run()
                outcome.append(error)

        task = greenlet.greenlet(example, parent=self.runner)
        task.switch()
        return task, outcome


class _ImportedAlone:
    """What each module of a package defines, learned from the workers that grade it.

    First from the worker that imports every module together (:meth:`Grader.start_together`).
    If one fails to import there, from each module's own worker, which imports it alone;
    the probe (every module imported in one worker, knowing what failed so far) then runs
    only if a module fails alone too, and settles whose fault it is (a module importing a
    broken one gets a stand-in for it). Reads like the probe's dict: ``get(module)``.
    """

    def __init__(self, grader: "Grader") -> None:
        self.grader = grader
        self.known: dict[str, dict] = {}
        self.probed = False
        self.together_tried = False

    def get(self, module: str, default: Any = None) -> Any:
        if not self.together_tried:
            self.together_tried = True
            self.known.update(self.grader.start_together())
        if module not in self.known and not self.probed:
            self._import_alone(module)
        return self.known.get(module, default)

    def values(self) -> Iterable[dict]:
        return self.known.values()

    def _import_alone(self, module: str) -> None:
        grader = self.grader
        if module not in grader.submission.present or module in grader.broken:
            return
        try:
            worker = grader.shared_worker(module)
        except WorkerFailure as failure:
            if failure.module is not None:
                grader.broken[failure.module] = failure.message
            self._probe()
            return
        info = worker.modules.get(module)
        if isinstance(info, dict) and info.get("ok"):
            self.known[module] = info
            return
        grader.close_worker(module)
        self._probe()

    def _probe(self) -> None:
        self.known = self.grader.probe()
        self.probed = True


def _has_callable(tree: Any) -> bool:
    if isinstance(tree, (list, tuple)):
        return any(_has_callable(item) for item in tree)
    if isinstance(tree, dict):
        return any(_has_callable(item) for item in tree.values())
    return callable(tree) and not isinstance(tree, (type, torch.dtype))


class Grader:
    """Grades submissions against a course on one device."""

    def __init__(
        self,
        course: Course,
        device: str = "cpu",
        limits: Limits | None = None,
        zygote: Zygote | None = None,
        workdir: Path | None = None,
        processes: int = 1,
        replay: bool = True,
        examples: ExampleBook | None = None,
        handout: Handout | None = None,
        own_prerequisites: bool = True,
        sharing: int = 1,
        private: Iterable[Path] = (),
    ) -> None:
        """``sharing``: how many grading processes (this one included) share the device, so
        that each worker's share of device memory leaves room for all of theirs.
        ``private``: folders no worker may read, besides the grader's and the reference's own
        (a batch's submissions and output folders)."""
        self.course = course
        self.private = [Path(p) for p in private]
        landlock.not_dumpable()  # no worker may attach to the process that holds the reference and the verdicts
        self.sharing = max(1, sharing)
        # Try passing prerequisites as the student's own (see grade_exercise). Off in a
        # hand-out (which uses the student's own throughout) and when recording one (which
        # needs the reference's result wherever an exercise calls a prerequisite).
        self.own_prerequisites = own_prerequisites and handout is None
        self.replay = replay
        self.handout = handout
        self.examples = examples if examples is not None else BOOK
        self.device = device
        self.device_name = device_of(device)
        course_module.set_run_device(self.device_name)
        # References run on tiny tensors; one thread is faster, and a forked grading
        # process must never enter an OpenMP pool inherited from its parent.
        torch.set_num_threads(1)
        self.limits = limits or Limits()
        self.workdir = workdir or make_workdir()
        self.owns_zygote = zygote is None
        self.zygote = zygote or Zygote(self.workdir)
        self.processes = max(1, min(processes, len(self.zygote.controls)))
        self.submission: Submission | None = None
        self.broken: dict[str, str] = {}
        self.output: list[str] = []
        self.sandbox_facts: dict = {}
        self._workers: dict[str, Worker] = {}
        self._slow_notebook = False
        self._paths: tuple[list[str], list[str]] | None = None
        self._original: Path | None = None  # where the submission being graded came from

    # ------------------------------------------------------------------ workers

    def deny_paths(self) -> list[str]:
        """What no worker may read, even where it lies inside a folder workers read (a
        package installed into site-packages): the grader, the reference, the examples kept
        on this machine, the folders :attr:`private` names."""
        roots = {Path(__file__).resolve().parent, *course_module.reference_folders(), *self.private}
        local = Path.cwd() / "solutions"
        if local.is_dir():
            roots.add(local)
        roots.add(examples_folder())
        return sorted(str(Path(r).resolve()) for r in roots)

    def worker_paths(self) -> tuple[list[str], list[str]]:
        """``(readable, writable)`` for this grader's workers (see :func:`landlock.worker_paths`),
        computed once; also never the submission's original location, if it lies inside."""
        if self._paths is None:
            self._paths = landlock.worker_paths(self.deny_paths(), cuda=self.device_name.startswith("cuda"))
        readable, writable = self._paths
        original = str(self._original.resolve()) if self._original is not None else None
        if original and any(original == p or original.startswith(p.rstrip("/") + "/") for p in readable):
            readable = landlock.allowed_roots(readable, [original])
        return readable, writable

    def start_worker(self, module: str | None, substitute: list[str], import_all: bool = False) -> Worker:
        assert self.submission is not None
        scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=self.workdir))
        readable, writable = self.worker_paths()
        present = self.submission.present if self.submission.kind == "package" else set(self.course.modules)
        stand_ins = {
            m: self.course.functions_of(m) for m in self.course.modules if m not in present or m in self.broken
        }
        if import_all:
            imports = [m for m in self.course.modules if m not in stand_ins]
        else:
            imports = [module] if module and module not in stand_ins else []
        config = WorkerConfig(
            submission_dir=str(self.submission.directory),
            scratch_dir=str(scratch),
            modules=list(self.course.modules),
            device=self.device_name,
            import_modules=imports,
            stand_ins=stand_ins,
            functions={m: self.course.functions_of(m) for m in self.course.modules},
            substitute=substitute,
            notebook_cells=self.submission.cells,
            readable_paths=readable,
            writable_paths=writable,
            memory_bytes=self.limits.memory_bytes,
            # Alive at once on the device: per grading process, the worker of every module
            # and the one that imported them all.
            device_sharers=self.sharing * self.processes * (len(self.course.modules) + 1),
            load_seconds=self.limits.load_seconds,
            notebook_definitions_only=self._slow_notebook,
        )
        worker = Worker(self.zygote, config, self.limits, self.course.reference)
        self.sandbox_facts = worker.sandbox_facts or self.sandbox_facts
        return worker

    def shared_worker(self, module: str) -> Worker:
        """A live worker that imported ``module``, started if needed.

        The exercises of a module share it (each call names the prerequisites to
        replace): a worker costs a fork, its pages copied as it runs, and loading the
        module, 10 to 60 ms here. Modules never share one, so what one module's import
        does (say, torch.set_default_dtype) cannot cost another's exercises; checks that
        pass in the worker of every module (:meth:`start_together`) never need it.
        """
        worker = self._workers.get(module)
        if worker is None or not worker.alive:
            if worker is not None:
                self.collect_output(worker)
                worker.close()
            worker = self._workers[module] = self.start_worker(module, [])
        return worker

    def start_together(self) -> dict[str, dict]:
        """Start one worker that imports every module; what each defines if all import.

        Checks are tried there first (:meth:`grade_exercise`): a correct submission then
        costs one worker, not one per module. Only a check that fails there is run again,
        and reported, in its module's own worker, so that what one module does to the
        interpreter cannot cost another's exercises. If a module fails to import here,
        this worker is not used and nothing is concluded from it (empty dict).
        """
        try:
            worker = self.start_worker(None, [], import_all=True)
        except WorkerFailure:
            return {}
        self._workers[TOGETHER] = worker
        modules = worker.modules
        if modules and all(isinstance(info, dict) and info.get("ok") for info in modules.values()):
            return modules
        self.close_worker(TOGETHER)
        return {}

    def together_worker(self) -> Worker | None:
        """The worker that imported every module, while it runs (it is never restarted)."""
        worker = self._workers.get(TOGETHER)
        return worker if worker is not None and worker.alive else None

    def close_worker(self, module: str) -> None:
        worker = self._workers.pop(module, None)
        if worker is not None:
            self.collect_output(worker)
            worker.close()

    def close_workers(self) -> None:
        for worker in self._workers.values():
            self.collect_output(worker)
        close_all(list(self._workers.values()))
        self._workers.clear()

    def collect_output(self, worker: Worker) -> None:
        if not worker.alive:
            worker.output.join(timeout=0.5)
        text = worker.output.text()
        if text.strip() and text not in self.output:
            self.output.append(text)

    def probe(self) -> dict[str, dict]:
        """Import every module once; learn which fail and what each defines."""
        while True:
            try:
                worker = self.start_worker(None, [], import_all=True)
                break
            except WorkerFailure as failure:
                if self.submission.kind == "notebook":  # one namespace: every module fails alike
                    message = f"the notebook's cells stopped the interpreter: {failure.message}"
                    self.broken.update((module, message) for module in self.course.modules)
                    return {}
                if failure.module is None or failure.module in self.broken:
                    return self._probe_one_by_one()
                self.broken[failure.module] = failure.message
        modules = worker.modules
        self.collect_output(worker)
        worker.close()
        return self._record_probe(modules)

    def _probe_one_by_one(self) -> dict[str, dict]:
        """A module hung or crashed the interpreter while importing: find which."""
        found: dict[str, dict] = {}
        for module in self.course.modules:
            if module in self.broken or (self.submission.kind == "package" and module not in self.submission.present):
                continue
            try:
                worker = self.start_worker(module, [])
            except WorkerFailure as failure:
                self.broken[module] = failure.message
                continue
            found.update(worker.modules)
            self.collect_output(worker)
            worker.close()
        return self._record_probe(found)

    def _record_probe(self, modules: dict[str, Any]) -> dict[str, dict]:
        for module, info in modules.items():
            if isinstance(info, dict) and not info.get("ok"):
                self.broken[module] = _error_text(info.get("error"))
        return {m: i for m, i in modules.items() if isinstance(i, dict)}

    # ------------------------------------------------------------------ grading

    def grade(self, path: Path, exercises: list[Exercise] | None = None, name: str | None = None) -> Report:
        started = time.perf_counter()
        for stale in ("submission", "extracted"):
            shutil.rmtree(self.workdir / stale, ignore_errors=True)
        self._original = Path(path)
        self.submission = load_submission(Path(path), self.course.modules, self.workdir)
        self.broken = {}
        self.output = []
        self._slow_notebook = False
        exercises = exercises if exercises is not None else list(self.course.exercises)
        official_package = self.submission.kind == "package" and not self.handout
        probe: Any = _ImportedAlone(self) if official_package else self.probe()
        notes = list(self.submission.notes)
        notes.extend(self._notebook_speed(probe))
        for module_info in probe.values():
            for cell_error in module_info.get("cell_errors", [])[:10]:
                note = self._cell_note(cell_error, set(module_info.get("functions", [])))
                if note not in notes:
                    notes.append(note)
        try:
            results = self._grade_exercises(exercises, probe)
            for exercise in exercises:
                if results[exercise.name].status == "graded":
                    results[exercise.name].checks.extend(self._own_prerequisites(exercise, results))
        finally:
            self.close_workers()
        return Report(
            submission=name or self.submission.name,
            device=self.device,
            exercises=list(results.values()),
            notes=notes,
            output="\n".join(self.output)[: self.limits.output_bytes],
            facts=self.facts(time.perf_counter() - started),
        )

    def _notebook_speed(self, probe: dict) -> list[str]:
        """A notebook whose cells take long (training, plots) is run in full once, by the
        probe; the workers that grade it then run only its imports and definitions."""
        if self.submission.kind != "notebook":
            return []
        seconds = max((info.get("seconds", 0.0) for info in probe.values() if isinstance(info, dict)), default=0.0)
        if not isinstance(seconds, (int, float)) or seconds < SLOW_NOTEBOOK_SECONDS:
            return []
        self._slow_notebook = True
        return [
            f"the notebook's cells took {seconds:.1f} s to run; they were run in full once, and only their imports "
            "and definitions for each exercise (keep training and plots out of the notebook you hand in)"
        ]

    def _cell_note(self, cell_error: dict, defined: set[str]) -> str:
        """A notebook cell's failure, explained; importing an exercise defined elsewhere is fine."""
        error = cell_error.get("error") if isinstance(cell_error.get("error"), dict) else {}
        imported = re.match(r"cannot import name '(\w+)' from 'exercises\.", str(error.get("message", "")))
        functions = {e.function: e.name for e in self.course.exercises}
        if error.get("type") == "ImportError" and imported and imported.group(1) in functions.keys() - defined:
            name = functions[imported.group(1)]
            return (
                f"cell {cell_error['cell']} imports {imported.group(1)} from the exercises package; this notebook "
                f"does not define it, so a correct {name} stands in wherever your functions call it"
            )
        return f"cell {cell_error['cell']} raised {_error_text(error or cell_error.get('error'))}"

    def _grade_exercises(self, exercises: list[Exercise], probe: dict) -> dict[str, ExerciseResult]:
        """Grade each exercise; with ``processes=2``, half of them in a forked grading process.

        Exercises are independent (an exercise's checks count as run in its module's own
        worker) and each group holds its exercises' prerequisites, so where one is graded
        changes nothing in its result. The child never runs student code itself.
        """
        if self.processes < 2 or len(exercises) < 4 or cuda_initialised():
            return self._grade_in_order(exercises, probe)  # a process that used CUDA is never forked
        mine, theirs = _split_by_cost(exercises)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_fd)
            status = 1
            try:
                torch.set_num_threads(1)
                self.zygote.use_channel(1)
                self._workers = {}  # the parent's, if any, are not ours to use or close
                self.output = []
                known = set(self.examples.keys())
                try:
                    graded = [r.to_json() for r in self._grade_in_order(theirs, probe).values()]
                    self.close_workers()
                    recorded = self.examples.dumps(lambda key: key not in known)
                    payload = {
                        "results": graded, "output": self.output, "sandbox": self.sandbox_facts,
                        "examples": base64.b64encode(recorded).decode(),
                    }
                except InfrastructureError as fault:
                    payload = {"infrastructure": str(fault)}
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(json.dumps(payload).encode())
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        try:
            results = self._grade_in_order(mine, probe)
        finally:
            data = _read_all(read_fd, CHILD_GRACE_SECONDS)
            if data is None:  # the child is stuck (a bug of ours): stop it and do its share here
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        try:
            payload = json.loads(data)
            if "infrastructure" in payload:
                raise InfrastructureError(str(payload["infrastructure"]))
            results.update((r["name"], ExerciseResult.from_json(r)) for r in payload["results"])
            self.output.extend(t for t in payload["output"] if t not in self.output)
            self.examples.loads(base64.b64decode(payload["examples"]))  # what the child drew, kept for next time
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            results.update(self._grade_in_order(theirs, probe))  # the child failed
        return {e.name: results[e.name] for e in exercises}

    def _grade_in_order(self, group: list[Exercise], probe: dict) -> dict[str, ExerciseResult]:
        """Grade ``group`` prerequisites first (see :func:`_split_by_cost`), in its order."""
        graded: dict[str, ExerciseResult] = {}
        for exercise in _prerequisites_first(group):
            graded[exercise.name] = self.grade_exercise(exercise, probe, graded)
        return {e.name: graded[e.name] for e in group}

    def facts(self, seconds: float) -> dict[str, Any]:
        return {
            "grader": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "hypothesis": hypothesis.__version__,
            "platform": platform.platform(terse=True),
            "seconds": round(seconds, 3),
            "sandbox": self.sandbox_facts,
            "seed": "derandomized (hypothesis), torch.manual_seed(0) before every call",
        }

    def grade_exercise(
        self, exercise: Exercise, probe: dict, graded: dict[str, ExerciseResult] | None = None
    ) -> ExerciseResult:
        """Grade one exercise; ``graded`` holds the results of its prerequisites, if known.

        Officially, a prerequisite that failed (or is not known to have passed) is replaced
        by the reference, so a mistake is charged once, and each module's exercises run in
        a worker of their own, so that what another module does cannot cost them points.
        Each check is first tried the cheap way, from the recorded examples alone: in the
        worker that imported every module (:meth:`start_together`) and with the student's
        own prerequisites where they passed every check. Only a check that fails so is run
        again, the strict way above, and that run is the one reported. A correct
        submission then costs one worker and no round trip for its prerequisites.
        """
        started = time.perf_counter()
        unavailable = self._unavailable(exercise, probe)
        if unavailable:
            status, message = unavailable
            checks = self._all_failed(exercise, message) + self._not_run(exercise)
            return ExerciseResult(exercise.name, checks, status=status, note=message)
        substitute = self._substitutes(exercise, probe)
        own = [u for u in substitute if _passed(graded, u)] if self.own_prerequisites else []
        session = _Session(self, exercise, substitute)
        trial = None
        if own or self.together_worker() is not None:
            trial = _Session(self, exercise, [u for u in substitute if u not in own], together=True)
            trial_student = Student(trial, exercise.name, exercise.reference)
        student = Student(session, exercise.name, exercise.reference)
        results: list[CheckResult] = []
        notes: list[CheckResult] = []
        not_implemented = 0
        try:
            for check in exercise.checks:
                if trial is not None:
                    tried, _ = self.run_check(exercise, check, trial_student, trial, quick=True)
                    if tried.passed:
                        results.append(tried)
                        continue
                result, stub = self.run_check(exercise, check, student, session)
                not_implemented += stub
                results.append(result)
                if trial is not None and result.passed and not notes:
                    notes.append(_passes_only_apart(own, tried))
            earned = any(result.passed and result.max_score > 0 for result in results)
            results.append(self._inputs_unchanged(exercise, earned, session, trial))
        finally:
            session.close()
            if trial is not None:
                trial.close()
        results.extend(self._not_run(exercise))
        status = "graded"
        note = ""
        if not_implemented == len(exercise.checks):
            status, note = "not implemented", session.stub_message or "still raises NotImplementedError"
        elif session.timed_out:
            status, note = "timed out", session.timed_out
        elif session.crashes:
            status, note = "crashed", "the worker crashed during some checks (see below)"
        return ExerciseResult(
            exercise.name, results + notes, status=status, note=note,
            seconds=time.perf_counter() - started, calls=session.calls + (trial.calls if trial else 0),
        )

    def _substitutes(self, exercise: Exercise, probe: dict) -> list[str]:
        """The prerequisites replaced by the reference while ``exercise`` is graded.

        Officially all of them, so a mistake is charged once. A hand-out has only
        recorded reference results, so it keeps the student's own and stands in only
        for those the submission does not define (e.g. a notebook of one concept).
        """
        if not self.handout:
            return list(exercise.uses)
        return [u for u in exercise.uses if self._unavailable(self.course[u], probe) is not None]

    def _not_run(self, exercise: Exercise) -> list[CheckResult]:
        """The hidden checks a hand-out cannot run, counted at zero so no one reads 'all passed'."""
        hidden = self.handout.hidden.get(exercise.name, []) if self.handout else []
        return [
            CheckResult(name, points, 0.0, False, "hidden check: not run locally; part of the official grade",
                        hidden=True, not_run=True)
            for name, points in hidden
        ]

    def _unavailable(self, exercise: Exercise, probe: dict) -> tuple[str, str] | None:
        submission = self.submission
        filename = f"{exercise.module}.py"
        if submission.kind == "package" and exercise.module not in submission.present:
            return "missing", f"{filename} is not in the submission"
        functions = (probe.get(exercise.module) or {}).get("functions", [])  # may learn it is broken
        if exercise.module in self.broken:
            if submission.kind == "notebook":
                return "import error", self.broken[exercise.module]
            return "import error", f"{filename} could not be imported: {self.broken[exercise.module]}"
        if exercise.function not in functions:
            where = "the notebook" if submission.kind == "notebook" else filename
            return "missing", f"{where} does not define a function named {exercise.function}"
        return None

    def _all_failed(self, exercise: Exercise, message: str) -> list[CheckResult]:
        checks = [CheckResult(c.name, c.points, 0.0, False, message, hidden=c.hidden) for c in exercise.checks]
        checks.append(CheckResult(INPUTS_UNCHANGED, exercise.inputs_unchanged_points, 0.0, False, message))
        return checks

    def run_check(
        self, exercise: Exercise, check: Check, student: Student, session: _Session,
        max_examples: int | None = None, quick: bool = False,
    ) -> tuple[CheckResult, bool]:
        """Run one check; returns its result and whether it met an unimplemented stub.

        ``quick``: the recorded examples only, no hypothesis search on a failure (its
        input is the first recorded one that failed).
        """
        label = {"input_label": "failing input (recorded; shrunk only by the official grader)"} if self.handout else {}
        fail = lambda message, **extra: CheckResult(  # noqa: E731
            check.name, check.points, 0.0, False, message, hint=extra.get("hint", check.hint),
            input=extra.get("input", ""), details={**extra.get("details", {}), **label}, hidden=check.hidden,
        )
        if session.timed_out:
            return fail(f"not run: an earlier check timed out ({session.timed_out})"), False
        if session.crashes >= MAX_CRASHES_PER_EXERCISE:
            return fail("not run: the function crashed the worker in earlier checks"), False
        drawn: dict[str, Any] = {}

        def show(values: dict[str, Any]) -> None:
            drawn.clear()
            drawn.update(values)

        def body(values: dict[str, Any]) -> None:
            show(values)
            check.function(student, **values)

        try:
            with _quiet_warnings():
                self.run_examples(exercise, check, _Lookahead(session, body, show), max_examples, quick)
        except CheckFailed as failure:
            return fail(failure.message, hint=failure.hint or check.hint, input=_render(drawn), details=failure.details), False
        except NotRecorded as missing:
            return fail(
                f"could not be checked here: it needs the reference's result for {missing.name} on an input "
                "that was not recorded (usually because your result already differs from the reference's); "
                "the official grader checks it in full",
                input=_render(drawn),
            ), False
        except ExamplesNotRecorded:
            return fail("not run: this hand-out has no recorded inputs for this check"), False
        except StudentRaised as raised:
            return fail(f"raised {raised.summary()}", input=_render(drawn)), False
        except StubNotImplemented as stub:
            return fail(f"not implemented yet: {stub}", hint=""), True
        except FunctionMissing:
            return fail(f"the submission does not define {student.name}"), False
        except WorkerFailure as failure:
            return fail(failure.message, input=_render(drawn)), False
        except HypothesisException as error:
            _debug(error)
            return fail(
                "gave different results when called twice with the same input; is it random or "
                f"stateful? ({type(error).__name__})",
                input=_render(drawn),
            ), False
        except Exception as error:  # noqa: BLE001 - the check could not digest the student's result
            _debug(error)
            detail = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
            return fail(
                f"the result could not be checked (wrong type or structure?): {detail[:300]}",
                input=_render(drawn),
            ), False
        return CheckResult(check.name, check.points, check.points, True, hidden=check.hidden), False

    def run_examples(
        self, exercise: Exercise, check: Check, lookahead: _Lookahead, max_examples: int | None = None,
        quick: bool = False,
    ) -> None:
        """``lookahead.body(values)`` on each example: replayed recordings first (their calls
        streamed), hypothesis on a failure.

        A failing recorded example is the first failure hypothesis itself would meet, so
        running hypothesis then finds it again and shrinks it: same verdict, same report.
        """
        body = lookahead.body
        if not check.strategies:
            body({})
            return
        if self.handout and not self.examples.has(exercise, check, max_examples):
            raise ExamplesNotRecorded(check.name)
        if self.replay or self.handout or quick:
            try:
                lookahead.run(list(self.examples.replay(exercise, check, max_examples)))
                return
            except FunctionMissing:
                raise
            except Exception:  # noqa: BLE001 - any failure is hypothesis's to shrink
                if self.handout or quick:
                    raise  # no search here: the recorded failing input is the report
        self.examples.test(exercise, check, max_examples or check.examples, body)()

    def _inputs_unchanged(self, exercise: Exercise, earned: bool, *sessions: _Session | None) -> CheckResult:
        """Judged on every call the exercise's checks made, whichever prerequisites they used;
        earned only beside another check (``earned``): a function that never returns a right
        answer has nothing to keep unchanged (``return x`` must not score)."""
        name, points = INPUTS_UNCHANGED, exercise.inputs_unchanged_points
        mutations = [m for session in sessions if session is not None for m in session.mutations]
        if mutations:
            changed = sorted({m.argument for m in mutations})
            return CheckResult(
                name, points, 0.0, False,
                f"modified its input{'s' if len(changed) > 1 else ''} {', '.join(f'`{c}`' for c in changed)} in place",
                hint="use out-of-place operations (x = x + 1, not x += 1 or x.add_(1)); clone before writing",
            )
        if not any(session is not None and session.completed_calls for session in sessions):
            return CheckResult(
                name, points, 0.0, False,
                "not verified: every call raised an error (fix the errors reported above first)",
            )
        if not earned:
            return CheckResult(
                name, points, 0.0, False,
                "not verified: no other check passed yet (these points come with a working function)",
            )
        return CheckResult(name, points, points, True)

    def _own_prerequisites(self, exercise: Exercise, graded: dict[str, ExerciseResult]) -> list[CheckResult]:
        """Tell the student when their own prerequisite is what breaks this function."""
        failing = [u for u in exercise.uses if u in graded and not graded[u].complete_where_run]
        if self.handout:
            return self._own_prerequisites_note(exercise, failing, graded)
        if not failing or not exercise.checks or not graded[exercise.name].checks[0].passed:
            return []
        session = _Session(self, exercise, [], together=True)
        try:
            check = exercise.checks[0]
            student = Student(session, exercise.name, exercise.reference)
            result, _ = self.run_check(exercise, check, student, session, max_examples=min(check.examples, 10))
        finally:
            session.close()
        names = ", ".join(failing)
        if result.passed:
            return []
        return [
            CheckResult(
                f"with your own {names}",
                0.0, 0.0, False,
                f"passes with correct versions of {names}, but fails with yours ({result.message}). "
                f"Fix {names} first; no points are taken here for it.",
                input=result.input,
            )
        ]

    @staticmethod
    def _own_prerequisites_note(
        exercise: Exercise, failing: list[str], graded: dict[str, ExerciseResult]
    ) -> list[CheckResult]:
        """In a hand-out the student's own prerequisites are used: say so where it matters."""
        if not failing or graded[exercise.name].complete_where_run:
            return []
        names = ", ".join(failing)
        return [
            CheckResult(
                f"with your own {names}", 0.0, 0.0, False,
                f"checked here with your own {names}, which fail their checks: fix {names} first. The "
                "official grader uses correct versions of them here, so a mistake costs points only once.",
            )
        ]

    def close(self) -> None:
        if self.owns_zygote:
            self.zygote.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cuda_initialised() -> bool:
    """Has this process initialised CUDA? Then it must not fork a grading process: CUDA does
    not survive a fork, and the child's device work would fail (costing points)."""
    return bool(torch.cuda.is_initialized())  # asks torch only: never touches the driver itself


def _read_all(fd: int, seconds: float) -> bytes | None:
    """Everything from ``fd`` until EOF, or None if that takes longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    chunks = []
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _debug(error: BaseException) -> None:
    """With GRADER_DEBUG=1, show the grader's own view of an unexpected error on stderr."""
    if os.environ.get("GRADER_DEBUG"):
        for inner in [error, *getattr(error, "exceptions", [])]:
            traceback.print_exception(inner, file=sys.stderr)


def _split_by_cost(exercises: list[Exercise]) -> tuple[list[Exercise], list[Exercise]]:
    """Two groups of about equal work (estimated by hypothesis examples), deterministically.

    An exercise stays with its prerequisites, so that each is graded knowing whether
    they passed, as it would be in one process.
    """
    families = _families(exercises)
    cost = lambda family: sum(c.examples for e in family for c in e.checks)  # noqa: E731
    groups: tuple[list[Exercise], list[Exercise]] = ([], [])
    loads = [0, 0]
    for family in sorted(families, key=lambda f: (-cost(f), f[0].name)):
        lighter = 0 if loads[0] <= loads[1] else 1
        groups[lighter].extend(family)
        loads[lighter] += cost(family)
    order = {e.name: i for i, e in enumerate(exercises)}
    return tuple(sorted(group, key=lambda e: order[e.name]) for group in groups)  # type: ignore[return-value]


def _families(exercises: list[Exercise]) -> list[list[Exercise]]:
    """The exercises linked by ``uses`` (either way), each family in course order."""
    family = {e.name: e.name for e in exercises}

    def root(name: str) -> str:
        while family[name] != name:
            name = family[name]
        return name

    for exercise in exercises:
        for used in exercise.uses:
            if used in family:
                family[root(used)] = root(exercise.name)
    grouped: dict[str, list[Exercise]] = {}
    for exercise in exercises:
        grouped.setdefault(root(exercise.name), []).append(exercise)
    return list(grouped.values())


def _prerequisites_first(exercises: list[Exercise]) -> list[Exercise]:
    """Course order, except that an exercise comes after those it uses."""
    by_name = {e.name: e for e in exercises}
    ordered: list[Exercise] = []
    placed: set[str] = set()

    def place(exercise: Exercise) -> None:
        if exercise.name in placed:
            return
        placed.add(exercise.name)
        for used in exercise.uses:
            if used in by_name:
                place(by_name[used])
        ordered.append(exercise)

    for exercise in exercises:
        place(exercise)
    return ordered


def _passed(graded: dict[str, ExerciseResult] | None, name: str) -> bool:
    """Did the exercise ``name`` (graded in this run) earn every point?"""
    result = (graded or {}).get(name)
    return result is not None and result.status == "graded" and result.score >= result.max_score


def _passes_only_apart(own: list[str], tried: CheckResult) -> CheckResult:
    """A check failed when tried with the student's own (passing) prerequisites and every
    module loaded, and passed with correct prerequisites in the module's own worker."""
    if own:
        names = ", ".join(own)
        return CheckResult(
            f"with your own {names}", 0.0, 0.0, False,
            f"{tried.name!r} passes with correct versions of {names}, but fails with yours ({tried.message}), "
            f"although yours pass their own checks: look at how this function calls them (or at what your "
            "other modules change when they are imported). No points are taken here for it.",
            input=tried.input,
        )
    return CheckResult(
        "with your other modules loaded", 0.0, 0.0, False,
        f"{tried.name!r} passes on its own, but fails when all your modules are imported together "
        f"({tried.message}): one of them changes something global when imported or called (the default "
        "dtype, a torch function, a builtin). No points are taken here for it.",
        input=tried.input,
    )


def _render(drawn: dict[str, Any]) -> str:
    return "\n".join(f"{key} = {describe(value)}" for key, value in drawn.items())


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        text = f"{error.get('type', 'Error')}: {error.get('message', '')}".rstrip(": ")
        return f"{text} ({error['where']})" if error.get("where") else text
    return str(error)


@contextlib.contextmanager
def _quiet_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def grade_path(path: Path, device: str = "cpu", exercises: tuple[str, ...] = (), limits: Limits | None = None) -> Report:
    """Convenience: load the course, grade ``path``, clean up."""
    course = course_module.load_course()
    chosen = course.select(exercises) if exercises else None
    with Grader(course, device=device, limits=limits) as grader:
        return grader.grade(path, chosen)


__all__ = ["Grader", "InfrastructureError", "StubNotImplemented", "grade_path"]

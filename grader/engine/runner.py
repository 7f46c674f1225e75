"""Grade one submission: load it, learn what its modules define, grade every exercise, report.

The pieces, each with one job: :class:`~grader.engine.workers.Workers` (the sandboxed
workers and the modules found broken), :class:`~grader.engine.grading.ExerciseGrader`
(one exercise, charged once), :class:`~grader.engine.checking.CheckRunner` (one check and
its verdict), :mod:`~grader.engine.processes` (half the exercises in a second grading
process). The verdict of every check is computed here, in the grading process, from the
values the workers sent back.
"""

from __future__ import annotations

import platform
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import hypothesis
import torch

from grader import __version__
from grader.engine.checking import CheckRunner
from grader.engine.compare import device_of
from grader.engine.course import Course, Exercise, load_course
from grader.engine.devices import set_run_device
from grader.engine.examples import BOOK, ExampleBook
from grader.engine.grading import ExerciseGrader
from grader.engine.ordering import prerequisites_first
from grader.engine.processes import cuda_initialised, grade_in_two
from grader.engine.results import ExerciseResult, Report
from grader.engine.submission import load_submission
from grader.engine.workers import ModuleImports, Workers, error_text
from grader.sandbox import landlock
from grader.sandbox.client import InfrastructureError, Limits, Zygote, make_workdir

SLOW_NOTEBOOK_SECONDS = 1.0


@dataclass
class Handout:
    """Grading in a student's hand-out: recorded examples and reference outputs only.

    No hypothesis search (a failing recorded example is reported as it is), no
    reference to substitute for prerequisites (the student's own are used), and the
    instructor's ``hidden`` checks (``exercise -> [(check, points)]``) are listed as
    not run.
    """

    hidden: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


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
        (a batch's submissions and output folders). ``own_prerequisites``: try a check with
        the student's own passing prerequisites first (off when recording a hand-out, which
        needs the reference's result wherever an exercise calls a prerequisite)."""
        self.course = course
        landlock.not_dumpable()  # no worker may attach to the process that holds the reference and the verdicts
        self.handout = handout
        self.examples = examples if examples is not None else BOOK
        self.device = device
        self.device_name = device_of(device)
        set_run_device(self.device_name)
        # References run on tiny tensors; one thread is faster, and a forked grading
        # process must never enter an OpenMP pool inherited from its parent.
        torch.set_num_threads(1)
        self.limits = limits or Limits()
        self.workdir = workdir or make_workdir()
        self.owns_zygote = zygote is None
        self.zygote = zygote or Zygote(self.workdir)
        self.processes = max(1, min(processes, len(self.zygote.controls)))
        # Alive at once on the device: per grading process, the worker of every module and
        # the one that imported them all.
        sharers = max(1, sharing) * self.processes * (len(course.modules) + 1)
        self.workers = Workers(course, self.zygote, self.workdir, self.device_name, self.limits, sharers, private)
        self.checks = CheckRunner(self.examples, replay=replay, handout=handout is not None)
        self.exercises = ExerciseGrader(
            course, self.workers, self.checks, own_prerequisites, None if handout is None else handout.hidden
        )

    def grade(self, path: Path, exercises: list[Exercise] | None = None, name: str | None = None) -> Report:
        started = time.perf_counter()
        for stale in ("submission", "extracted"):
            shutil.rmtree(self.workdir / stale, ignore_errors=True)
        submission = load_submission(Path(path), self.course.modules, self.workdir)
        workers = self.workers
        workers.begin(submission, Path(path))
        exercises = exercises if exercises is not None else list(self.course.exercises)
        official_package = submission.kind == "package" and not self.handout
        probe: Any = ModuleImports(workers) if official_package else workers.probe()
        notes = list(submission.notes)
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
                    results[exercise.name].checks.extend(self.exercises.prerequisite_notes(exercise, results))
        finally:
            workers.close_all()
        return Report(
            submission=name or submission.name,
            device=self.device,
            exercises=list(results.values()),
            notes=notes,
            output="\n".join(workers.output)[: self.limits.output_bytes],
            facts=self.facts(time.perf_counter() - started),
        )

    def _notebook_speed(self, probe: dict) -> list[str]:
        """A notebook whose cells take long (training, plots) is run in full once, by the
        probe; the workers that grade it then run only its imports and definitions."""
        if self.workers.submission.kind != "notebook":
            return []
        seconds = max((info.get("seconds", 0.0) for info in probe.values() if isinstance(info, dict)), default=0.0)
        if not isinstance(seconds, (int, float)) or seconds < SLOW_NOTEBOOK_SECONDS:
            return []
        self.workers.definitions_only = True
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
        return f"cell {cell_error['cell']} raised {error_text(error or cell_error.get('error'))}"

    def _grade_exercises(self, exercises: list[Exercise], probe: dict) -> dict[str, ExerciseResult]:
        """Grade each exercise; with ``processes=2``, half of them in a forked grading process."""

        def grade_group(group: list[Exercise]) -> dict[str, ExerciseResult]:
            graded: dict[str, ExerciseResult] = {}
            for exercise in prerequisites_first(group):
                graded[exercise.name] = self.exercises.grade(exercise, probe, graded)
            return {e.name: graded[e.name] for e in group}

        if self.processes < 2 or len(exercises) < 4 or cuda_initialised():
            return grade_group(exercises)  # a process that used CUDA is never forked
        return grade_in_two(exercises, grade_group, self.workers, self.examples)

    def facts(self, seconds: float) -> dict[str, Any]:
        return {
            "grader": __version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "hypothesis": hypothesis.__version__,
            "platform": platform.platform(terse=True),
            "seconds": round(seconds, 3),
            "sandbox": self.workers.sandbox_facts,
            "seed": "derandomized (hypothesis), torch.manual_seed(0) before every call",
        }

    def close(self) -> None:
        if self.owns_zygote:
            self.zygote.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def grade_path(path: Path, device: str = "cpu", exercises: tuple[str, ...] = (), limits: Limits | None = None) -> Report:
    """Convenience: load the course, grade ``path``, clean up."""
    course = load_course()
    chosen = course.select(exercises) if exercises else None
    with Grader(course, device=device, limits=limits) as grader:
        return grader.grade(path, chosen)


__all__ = ["Grader", "Handout", "InfrastructureError", "cuda_initialised", "grade_path"]

"""``grader selftest``: check the course itself, before any student sees it.

Four properties, each reported with exactly what breaks it:

1. the reference solutions pass every check (100%);
2. the stubs score 0 on every exercise, as "not implemented", without upsetting the grader;
3. every known mistake of the catalogue (:mod:`grader.engine.mistakes`) is caught on its own
   exercise and costs no points on any other (a mistake is charged once);
4. the inputs hypothesis draws for a check reach the edge cases the check declares
   (``edges=`` in :meth:`grader.engine.course.Exercise.check`).

Nothing here knows what the course teaches: it grades folders and reads reports.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from grader.engine.course import Course, Exercise, edge_reached
from grader.engine.examples import ExampleBook
from grader.engine.mistakes import module_of
from grader.engine.results import ExerciseResult, Report

__all__ = [
    "EdgeVerdict",
    "LostPoints",
    "MistakeVerdict",
    "SelftestResult",
    "check_edges",
    "grade_mistake",
    "run_selftest",
]

NOT_IMPLEMENTED = "not implemented"


def _symbols() -> tuple[str, str, str]:
    encoding = (getattr(sys.stdout, "encoding", "") or "").lower()
    return ("✓", "✗", "·") if "utf" in encoding else ("+", "x", "-")


def _points(value: float) -> str:
    return f"{value:g}"


def _first_line(text: str, limit: int = 200) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]


# ============================================================================ known mistakes


@dataclass
class LostPoints:
    """An exercise that did not get full marks, and the checks that failed there."""

    exercise: str
    score: float
    max_score: float
    failed: list[str] = field(default_factory=list)  # "check: first line of the message"

    def __str__(self) -> str:
        checks = "; ".join(self.failed[:2]) + (f"; and {len(self.failed) - 2} more" if len(self.failed) > 2 else "")
        return f"{self.exercise} ({_points(self.score)} / {_points(self.max_score)}: {checks})"

    @classmethod
    def of(cls, result: ExerciseResult) -> "LostPoints":
        failed = [f"{c.name}: {_first_line(c.message)}" for c in result.checks if not c.passed and c.max_score > 0]
        return cls(result.name, result.score, result.max_score, failed)


@dataclass
class MistakeVerdict:
    """What grading one mutant showed: caught on its own exercise? points lost elsewhere?"""

    mutant: Any
    caught: bool = False
    score: float = 0.0  # on the mutant's own exercise
    max_score: float = 0.0
    caught_by: list[str] = field(default_factory=list)  # the failed checks of its own exercise
    hidden_only: bool = False  # caught only by hidden checks (a student's local check misses it)
    collateral: list[LostPoints] = field(default_factory=list)  # other exercises that lost points
    error: str = ""  # the mutant could not be graded at all
    seconds: float = 0.0

    @property
    def id(self) -> str:
        return f"{self.mutant.exercise}: {self.mutant.name}"

    @property
    def ok(self) -> bool:
        return not self.error and self.caught and not self.collateral

    def problems(self) -> list[str]:
        """Why this mutant breaks the rule, one line each (empty when :attr:`ok`)."""
        if self.error:
            return [f"{self.id}: {self.error}"]
        found = []
        if not self.caught:
            found.append(f"{self.id}: NOT caught ({self.mutant.exercise} kept "
                         f"{_points(self.score)} / {_points(self.max_score)})")
        found += [f"{self.id}: also cost points on {lost}" for lost in self.collateral]
        return found


def grade_mistake(grader: Any, course: Course, mutant: Any, solutions_dir: Path, workdir: Path) -> MistakeVerdict:
    """Grade the reference with ``mutant`` applied to its module; judge the report.

    The submission is a copy of every reference module of ``solutions_dir`` (written in
    a fresh folder under ``workdir``, removed afterwards) with the mutant's module
    replaced by ``mutant.apply(reference source)``. Graded: the exercises the module can
    touch (``course.affected_by``); the others run in workers that never import it.
    """
    started = time.perf_counter()
    verdict = MistakeVerdict(mutant)
    module = module_of(mutant)
    solutions_dir = Path(solutions_dir)
    try:
        course[mutant.exercise]
    except KeyError:
        verdict.error = f"unknown exercise {mutant.exercise!r} (not in the course)"
        return verdict
    reference = solutions_dir / f"{module}.py"
    if not reference.is_file():
        verdict.error = f"{reference} does not exist"
        return verdict
    folder = Path(tempfile.mkdtemp(prefix="mistake-", dir=workdir))
    try:
        for file in sorted(solutions_dir.glob("*.py")):
            text = file.read_text(encoding="utf-8")
            (folder / file.name).write_text(mutant.apply(text) if file.stem == module else text, encoding="utf-8")
        report = grader.grade(folder, course.affected_by(module), name=verdict.id)
    except Exception as error:  # noqa: BLE001 - reported with the mutant
        verdict.error = f"could not be graded: {_error_text(error)}"
        return verdict
    except BaseException as error:  # the grader's InfrastructureError
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        verdict.error = f"could not be graded: {_error_text(error)}"
        return verdict
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return judge_mistake(verdict, report, started)


def judge_mistake(verdict: MistakeVerdict, report: Report, started: float | None = None) -> MistakeVerdict:
    """Fill ``verdict`` from the report of the mutated submission."""
    exercise = verdict.mutant.exercise
    for result in report.exercises:
        if result.name == exercise:
            verdict.score, verdict.max_score = result.score, result.max_score
            verdict.caught = result.score < result.max_score
            failed = [c for c in result.checks if not c.passed and c.max_score > 0]
            verdict.caught_by = [c.name for c in failed]
            verdict.hidden_only = bool(failed) and all(c.hidden for c in failed)
        elif result.score < result.max_score:
            verdict.collateral.append(LostPoints.of(result))
    if started is not None:
        verdict.seconds = time.perf_counter() - started
    return verdict


# ============================================================================ edges


@dataclass
class EdgeVerdict:
    """How many of a check's examples reach one of its declared edges."""

    exercise: str
    check: str
    edge: str
    reached: int
    examples: int
    error: str = ""
    draw: str = ""  # "" for the official draw, "hand-out" for the public one

    @property
    def ok(self) -> bool:
        return self.reached > 0 and not self.error

    def __str__(self) -> str:
        where = f"{self.exercise} / {self.check}: {self.edge}" + (f" [{self.draw}]" if self.draw else "")
        if self.error:
            return f"{where}: {self.error}"
        if self.reached:
            return f"{where}  ({self.reached} of {self.examples} examples)"
        return f"{where}: never reached in {self.examples} examples"


def check_edges(exercises: Iterable[Exercise], book: ExampleBook | None = None, draw: str = "") -> list[EdgeVerdict]:
    """Every declared edge of every check of ``exercises``, against the examples the engine runs.

    The examples are those hypothesis draws for the check (``book.record``): the very
    inputs every submission is graded on (``draw`` names the draw in the verdicts).
    """
    book = book if book is not None else ExampleBook()
    verdicts = []
    for exercise in exercises:
        for check in exercise.checks:
            if not check.edges:
                continue
            examples = book.record(exercise, check)
            for description, predicate in check.edges.items():
                reached, error = 0, ""
                for index, values in enumerate(examples):
                    try:
                        reached += edge_reached(predicate, values)
                    except Exception as failure:  # noqa: BLE001 - a broken predicate is the course's bug
                        error = f"the predicate raised {_error_text(failure)} on example {index + 1}"
                        break
                verdicts.append(EdgeVerdict(exercise.name, check.name, description, reached, len(examples), error, draw))
    return verdicts


# ============================================================================ the whole self-test


@dataclass
class SelftestResult:
    reference: list[str] = field(default_factory=list)  # failures of the reference, one line each
    stubs: list[str] = field(default_factory=list)  # stubs that scored or misbehaved
    mistakes: list[MistakeVerdict] = field(default_factory=list)
    catalogue: list[str] = field(default_factory=list)  # problems with the catalogue itself
    edges: list[EdgeVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        found = [f"reference: {p}" for p in self.reference] + [f"stubs: {p}" for p in self.stubs]
        found += [f"mistakes: {p}" for p in self.catalogue]
        found += [f"mistakes: {p}" for v in self.mistakes for p in v.problems()]
        found += [f"edges: {e}" for e in self.edges if not e.ok]
        return found

    @property
    def ok(self) -> bool:
        return not self.problems


def _reference_failures(report: Report) -> list[str]:
    found = []
    for result in report.exercises:
        if result.status != "graded":
            found.append(f"{result.name}: {result.status}: {_first_line(result.note)}")
            continue
        for check in result.checks:
            if not check.passed:
                line = f"{result.name}: {check.name} ({_points(check.score)} / {_points(check.max_score)}): " \
                       f"{_first_line(check.message, 300)}"
                if check.input:
                    line += "\n      input: " + "\n             ".join(check.input.splitlines()[:6])
                found.append(line)
    return found


def _stub_failures(report: Report) -> list[str]:
    found = []
    for result in report.exercises:
        passed = [c.name for c in result.checks if c.passed and c.max_score > 0]
        if result.score > 0:
            found.append(f"{result.name}: scored {_points(result.score)} / {_points(result.max_score)} "
                         f"(passed: {'; '.join(passed)})")
        if result.status != NOT_IMPLEMENTED:
            note = f": {_first_line(result.note)}" if result.note else ""
            found.append(f"{result.name}: status {result.status!r}, expected {NOT_IMPLEMENTED!r}{note}")
    return found


def _grade_part(grader: Any, path: Path, exercises: list[Exercise], name: str) -> tuple[Report | None, str]:
    try:
        return grader.grade(Path(path), exercises, name=name), ""
    except Exception as error:  # noqa: BLE001 - the self-test reports it
        return None, f"the grader failed on {path}: {_error_text(error)}"
    except BaseException as error:
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return None, f"the grader failed on {path}: {_error_text(error)}"


def select_mistakes(course: Course, mutants: list[Any], exercises: list[Exercise] | None) -> list[Any]:
    """The mutants of the chosen exercises (and those naming an exercise the course lacks)."""
    if exercises is None:
        return list(mutants)
    names = {e.name for e in exercises}
    modules = {e.module for e in exercises}
    known = {e.name for e in course.exercises}
    return [m for m in mutants if m.exercise in names or (m.exercise not in known and module_of(m) in modules)]


def _graded_part(
    grader: Any, folder: Path, chosen: list[Exercise], what: str,
    failures: Callable[[Report], list[str]], summary: Callable[[Report], str],
    echo: Callable[[str], None], title: str,
) -> list[str]:
    """Grade ``folder`` and report what is wrong with the result, or a one-line summary."""
    ok, bad, _ = _symbols()
    echo("")
    echo(title)
    started = time.perf_counter()
    report, error = _grade_part(grader, folder, chosen, what)
    problems = [error] if error else failures(report)
    for line in problems:
        echo(f"   {bad} {line}")
    if not problems:
        echo(f"   {ok} {summary(report)}  ({time.perf_counter() - started:.1f} s)")
    return problems


def run_selftest(
    course: Course,
    grader: Any,
    solutions_dir: Path,
    exercises_dir: Path,
    mutants: list[Any],
    exercises: list[Exercise] | None = None,
    echo: Callable[[str], None] = print,
    mistakes_label: str = "the catalogue",
) -> SelftestResult:
    """Run the four parts on ``exercises`` (default: all), reporting through ``echo`` as it goes."""
    ok, bad, none = _symbols()
    started = time.perf_counter()
    chosen = list(exercises) if exercises is not None else list(course.exercises)
    result = SelftestResult()
    max_score = sum(e.max_score for e in chosen)
    selected = select_mistakes(course, mutants, exercises)
    echo(f"Self-test of the course: {len(chosen)} exercises, {_points(max_score)} points, "
         f"{len(selected)} known mistakes ({mistakes_label})")

    # 1. the reference ---------------------------------------------------------------
    def reference_summary(report: Report) -> str:
        checks = sum(len(r.checks) for r in report.exercises)
        return f"{_points(report.score)} / {_points(report.max_score)}: all {checks} checks pass"

    result.reference = _graded_part(
        grader, solutions_dir, chosen, "reference", _reference_failures, reference_summary, echo,
        f"1. The reference ({solutions_dir}) passes every check",
    )

    # 2. the stubs -------------------------------------------------------------------
    result.stubs = _graded_part(
        grader, exercises_dir, chosen, "stubs", _stub_failures,
        lambda report: f"0 / {_points(report.max_score)} on all {len(report.exercises)} exercises", echo,
        f"2. The stubs ({exercises_dir}) score 0, every exercise {NOT_IMPLEMENTED!r}",
    )

    # 3. the known mistakes ----------------------------------------------------------
    echo("")
    echo("3. Every known mistake is caught on its own exercise, and costs no points elsewhere")
    part = time.perf_counter()
    if not mutants:
        result.catalogue.append(f"{mistakes_label} holds no mutants (no module defines MUTANTS)")
        echo(f"   {bad} {result.catalogue[-1]}")
    elif not selected:
        result.notes.append("no known mistakes for the chosen exercises")
        echo(f"   {none} {result.notes[-1]}")
    with tempfile.TemporaryDirectory(prefix="selftest-") as workdir:
        width = len(str(len(selected)))
        for index, mutant in enumerate(selected, 1):
            verdict = grade_mistake(grader, course, mutant, solutions_dir, Path(workdir))
            result.mistakes.append(verdict)
            counter = f"[{index:>{width}}/{len(selected)}]"
            if verdict.ok:
                extra = ", hidden checks only: the hand-out's local check misses it" if verdict.hidden_only else ""
                plural = "s" if len(verdict.caught_by) != 1 else ""
                echo(f"   {ok} {counter} {verdict.id}  (caught by {len(verdict.caught_by)} check{plural}{extra}; "
                     f"{verdict.seconds:.1f} s)")
            else:
                for line in verdict.problems():
                    echo(f"   {bad} {counter} {line}")
    covered = {m.exercise for m in mutants}
    uncovered = [e.name for e in chosen if e.name not in covered]
    if uncovered and mutants:
        result.notes.append(f"no known mistake for {', '.join(uncovered)}")
        echo(f"   {none} note: {result.notes[-1]}")
    if selected:
        caught = sum(v.ok for v in result.mistakes)
        echo(f"   {ok if caught == len(selected) else bad} {caught} of {len(selected)} caught on their own "
             f"exercise only  ({time.perf_counter() - part:.1f} s)")

    # 4. the edges -------------------------------------------------------------------
    echo("")
    echo("4. The drawn inputs reach every declared edge case (official draw and the hand-out's)")
    try:
        official = getattr(grader, "examples", None)
        result.edges = check_edges(chosen, official) + check_edges(chosen, ExampleBook(), draw="hand-out")
    except Exception as error:  # noqa: BLE001 - a strategy that cannot draw
        result.catalogue.append(f"the examples could not be drawn: {_error_text(error)}")
        echo(f"   {bad} {result.catalogue[-1]}")
    if not result.edges:
        echo(f"   {none} no edges declared for these exercises (edges= in .check(...))")
    for verdict in result.edges:
        echo(f"   {ok if verdict.ok else bad} {verdict}")

    # summary ------------------------------------------------------------------------
    result.seconds = time.perf_counter() - started
    problems = result.problems
    echo("")
    if problems:
        echo(f"Self-test FAILED: {len(problems)} problem{'s' if len(problems) != 1 else ''}  ({result.seconds:.0f} s)")
        for line in problems:
            echo(f"  {bad} {line.splitlines()[0]}")
    else:
        echo(f"Self-test passed: reference 100%, stubs 0, {len(result.mistakes)} known mistakes caught, "
             f"{len(result.edges)} edges reached  ({result.seconds:.0f} s)")
    return result

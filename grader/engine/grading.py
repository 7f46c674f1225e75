"""Grading one exercise: its checks, tried the cheap way first, charged once.

Officially, a prerequisite that failed (or is not known to have passed) is replaced by the
reference, so a mistake costs points only on the exercise that has it, and each module's
exercises run in a worker of their own. Each check is first tried the cheap way (the
worker that imported every module, the student's own passing prerequisites), and run the
strict way only if that fails: see :meth:`ExerciseGrader.grade`.
"""

from __future__ import annotations

import time

from grader.engine.checking import CheckRunner
from grader.engine.course import Course, Exercise
from grader.engine.results import CheckResult, ExerciseResult
from grader.engine.session import Session
from grader.engine.student import Student
from grader.engine.workers import Workers

INPUTS_UNCHANGED = "leaves its inputs unchanged"


class ExerciseGrader:
    """Grades the exercises of the submission that ``workers`` hold."""

    def __init__(
        self,
        course: Course,
        workers: Workers,
        checks: CheckRunner,
        own_prerequisites: bool = True,
        hidden: dict[str, list[tuple[str, float]]] | None = None,
    ) -> None:
        """``own_prerequisites``: try passing prerequisites as the student's own first.
        ``hidden``: in a hand-out, the checks kept back (``exercise -> [(check, points)]``),
        listed as not run; None officially, where the student's own prerequisites are used
        only where they passed (a hand-out, without the reference, uses them throughout)."""
        self.course = course
        self.workers = workers
        self.checks = checks
        self.handout = hidden is not None
        self.hidden = hidden or {}
        self.own_prerequisites = own_prerequisites and not self.handout

    def grade(
        self, exercise: Exercise, probe: dict, graded: dict[str, ExerciseResult] | None = None
    ) -> ExerciseResult:
        """Grade one exercise; ``graded`` holds the results of its prerequisites, if known.

        Officially, a prerequisite that failed (or is not known to have passed) is replaced
        by the reference, so a mistake is charged once, and each module's exercises run in
        a worker of their own, so that what another module does cannot cost them points.
        Each check is first tried the cheap way, from the recorded examples alone: in the
        worker that imported every module (:meth:`Workers.start_together`) and with the student's
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
        session = Session(self.workers, exercise, substitute)
        trial = None
        if own or self.workers.together_worker() is not None:
            trial = Session(self.workers, exercise, [u for u in substitute if u not in own], together=True)
            trial_student = Student(trial, exercise.name, exercise.reference)
        student = Student(session, exercise.name, exercise.reference)
        results: list[CheckResult] = []
        notes: list[CheckResult] = []
        not_implemented = 0
        try:
            for check in exercise.checks:
                if trial is not None:
                    tried, _ = self.checks.run_check(exercise, check, trial_student, trial, quick=True)
                    if tried.passed:
                        results.append(tried)
                        continue
                result, stub = self.checks.run_check(exercise, check, student, session)
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
        hidden = self.hidden.get(exercise.name, [])
        return [
            CheckResult(name, points, 0.0, False, "hidden check: not run locally; part of the official grade",
                        hidden=True, not_run=True)
            for name, points in hidden
        ]

    def _unavailable(self, exercise: Exercise, probe: dict) -> tuple[str, str] | None:
        submission = self.workers.submission
        filename = f"{exercise.module}.py"
        if submission.kind == "package" and exercise.module not in submission.present:
            return "missing", f"{filename} is not in the submission"
        functions = (probe.get(exercise.module) or {}).get("functions", [])  # may learn it is broken
        if exercise.module in self.workers.broken:
            if submission.kind == "notebook":
                return "import error", self.workers.broken[exercise.module]
            return "import error", f"{filename} could not be imported: {self.workers.broken[exercise.module]}"
        if exercise.function not in functions:
            where = "the notebook" if submission.kind == "notebook" else filename
            return "missing", f"{where} does not define a function named {exercise.function}"
        return None

    def _all_failed(self, exercise: Exercise, message: str) -> list[CheckResult]:
        checks = [CheckResult(c.name, c.points, 0.0, False, message, hidden=c.hidden) for c in exercise.checks]
        checks.append(CheckResult(INPUTS_UNCHANGED, exercise.inputs_unchanged_points, 0.0, False, message))
        return checks

    def _inputs_unchanged(self, exercise: Exercise, earned: bool, *sessions: Session | None) -> CheckResult:
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

    def prerequisite_notes(self, exercise: Exercise, graded: dict[str, ExerciseResult]) -> list[CheckResult]:
        """Tell the student when their own prerequisite is what breaks this function."""
        failing = [u for u in exercise.uses if u in graded and not graded[u].complete_where_run]
        if self.handout:
            return self._own_prerequisites_note(exercise, failing, graded)
        if not failing or not exercise.checks or not graded[exercise.name].checks[0].passed:
            return []
        session = Session(self.workers, exercise, [], together=True)
        try:
            check = exercise.checks[0]
            student = Student(session, exercise.name, exercise.reference)
            result, _ = self.checks.run_check(exercise, check, student, session, max_examples=min(check.examples, 10))
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

"""What every format says the same way."""

from __future__ import annotations

from ..results import CheckResult, ExerciseResult, Report


def fmt_points(value: float) -> str:
    return f"{value:g}"


def percent(report: Report) -> str:
    return f"{100 * report.score / report.max_score:.0f}%" if report.max_score else "-"


def failed_checks(exercise: ExerciseResult) -> list[CheckResult]:
    return [c for c in exercise.checks if not c.passed]


def exercise_summary(exercise: ExerciseResult) -> str:
    """A few words after the score: why it is not full marks."""
    if exercise.status in ("missing", "import error", "not implemented"):
        return exercise.note or exercise.status
    failed = [c for c in failed_checks(exercise) if not c.informational]
    if not failed:
        return "all checks passed"
    return f"{len(failed)} of {sum(1 for c in exercise.checks if not c.informational)} checks failed"


def explained(exercise: ExerciseResult) -> bool:
    """Whether the failed checks deserve a detailed section (not for a whole-exercise problem)."""
    return exercise.status not in ("missing", "import error", "not implemented") and bool(failed_checks(exercise))


def facts_line(report: Report) -> str:
    facts = report.facts
    parts = [f"device {report.device}"]
    for key in ("grader", "torch", "python"):
        if key in facts:
            parts.append(f"{key} {facts[key]}")
    if "seconds" in facts:
        parts.append(f"{facts['seconds']:.1f} s")
    return ", ".join(parts)

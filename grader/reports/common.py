"""What every format says the same way."""

from __future__ import annotations

from grader.engine.results import CheckResult, ExerciseResult, Report


def fmt_points(value: float) -> str:
    return f"{value:g}"


def percent(report: Report) -> str:
    return f"{100 * report.score / report.max_score:.0f}%" if report.max_score else "-"


def failed_checks(exercise: ExerciseResult) -> list[CheckResult]:
    return [c for c in exercise.checks if not c.passed and not c.not_run]


def not_run_checks(report: Report) -> list[CheckResult]:
    return [c for e in report.exercises for c in e.checks if c.not_run]


def not_run_note(report: Report) -> str:
    """Said whenever hidden checks were not run: the official grade may differ."""
    skipped = not_run_checks(report)
    if not skipped:
        return ""
    points = sum(c.max_score for c in skipped)
    return (
        f"{len(skipped)} hidden check{'s' if len(skipped) > 1 else ''} ({fmt_points(points)} points) "
        "are not run locally and count 0 here; the official grade runs them"
    )


def input_label(check: CheckResult) -> str:
    return check.details.get("input_label", "smallest failing input")


def exercise_summary(exercise: ExerciseResult) -> str:
    """A few words after the score: why it is not full marks."""
    if exercise.status in ("missing", "import error", "not implemented"):
        return exercise.note or exercise.status
    failed = [c for c in failed_checks(exercise) if not c.informational]
    hidden = sum(1 for c in exercise.checks if c.not_run)
    counted = sum(1 for c in exercise.checks if not c.informational and not c.not_run)
    summary = f"{len(failed)} of {counted} checks failed" if failed else "all checks passed"
    if hidden:
        summary = summary.replace("checks", "public checks", 1) + f"; {hidden} hidden not run locally"
    return summary


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

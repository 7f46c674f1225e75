"""A Markdown report (for a README, an issue, an LMS comment)."""

from __future__ import annotations

from grader.engine.results import Report
from grader.reports.common import exercise_summary, explained, facts_line, fmt_points, input_label, not_run_note, percent


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(report: Report) -> str:
    lines = [
        f"# Grade for {_cell(report.submission)}: {fmt_points(report.score)} / {fmt_points(report.max_score)} ({percent(report)})",
        "",
        f"_{facts_line(report)}_",
        "",
        "| exercise | score | |",
        "|---|---:|---|",
    ]
    for exercise in report.exercises:
        lines.append(
            f"| `{exercise.name}` | {fmt_points(exercise.score)} / {fmt_points(exercise.max_score)} | {_cell(exercise_summary(exercise))} |"
        )
    for note in [*report.notes, not_run_note(report)]:
        if note:
            lines += ["", f"> note: {_cell(note)}"]
    for exercise in report.exercises:
        if not explained(exercise):
            continue
        lines += ["", f"## `{exercise.name}`", ""]
        for check in exercise.checks:
            if check.passed or check.not_run:
                continue
            lines += [f"### ✗ {_cell(check.name)} ({fmt_points(check.score)}/{fmt_points(check.max_score)})", "", check.message, ""]
            if check.input:
                lines += [input_label(check).capitalize() + ":", "", "```", check.input, "```", ""]
            if check.hint:
                lines += [f"**Hint:** {check.hint}", ""]
    return "\n".join(lines) + "\n"

"""The terminal report: a score table, then each failed check explained."""

from __future__ import annotations

import sys

import click

from grader.engine.results import CheckResult, Report
from grader.reports.common import exercise_summary, explained, facts_line, fmt_points, input_label, not_run_note, percent


def _symbols() -> tuple[str, str, str]:
    encoding = (getattr(sys.stdout, "encoding", "") or "").lower()
    return ("✓", "✗", "·") if "utf" in encoding else ("+", "x", "-")


def render(report: Report, color: bool = False) -> str:
    ok, bad, none = _symbols()
    style = (lambda text, **kw: click.style(text, **kw)) if color else (lambda text, **kw: text)
    lines = [style(f"Grading {report.submission}", bold=True) + f"  ({facts_line(report)})", ""]
    width = max([len(e.name) for e in report.exercises] + [8])
    for exercise in report.exercises:
        full = exercise.complete_where_run
        symbol = ok if full else none if exercise.score == 0 and exercise.status != "graded" else bad
        colour = "green" if exercise.score == exercise.max_score else "yellow" if full or exercise.score else "red"
        score = f"{fmt_points(exercise.score):>5} / {fmt_points(exercise.max_score):<5}"
        lines.append(f"  {style(symbol, fg=colour)} {exercise.name:<{width}}  {style(score, fg=colour)}  {exercise_summary(exercise)}")
    total = f"{fmt_points(report.score):>5} / {fmt_points(report.max_score):<5}"
    lines.append(f"    {'total':<{width}}  {style(total, bold=True)}  {percent(report)}")
    for note in [*report.notes, not_run_note(report)]:
        if note:
            lines.append(style(f"  note: {note}", fg="yellow"))
    details = [e for e in report.exercises if explained(e)]
    if details:
        lines += ["", style("What to fix", bold=True), ""]
    for exercise in details:
        for check in exercise.checks:
            if not check.passed and not check.not_run:
                lines += _explain(exercise.name, check, style, bad)
    if report.output.strip():
        lines += ["", style("Your code printed (first lines):", dim=True)]
        lines += ["  | " + line for line in report.output.strip().splitlines()[:10]]
    return "\n".join(lines) + "\n"


def _explain(exercise: str, check: CheckResult, style, bad: str) -> list[str]:
    points = "info" if check.informational else f"{fmt_points(check.score)}/{fmt_points(check.max_score)}"
    lines = [style(f"{bad} {exercise}: {check.name}", fg="red", bold=True) + f"  ({points})"]
    lines += [f"    {line}" for line in check.message.splitlines()]
    if check.input:
        lines.append(f"    {input_label(check)}:")
        lines += [f"      {line}" for line in check.input.splitlines()]
    if check.hint:
        lines.append(style(f"    hint: {check.hint}", fg="cyan"))
    lines.append("")
    return lines

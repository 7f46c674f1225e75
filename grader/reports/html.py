"""A self-contained HTML page (no external assets); all student-provided text is escaped."""

from __future__ import annotations

from html import escape

from grader.engine.results import Report
from grader.reports.common import exercise_summary, explained, facts_line, fmt_points, input_label, not_run_note, percent

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.full{color:#17803d}.zero{color:#b42318}.part{color:#b54708}
.bar{background:#eee;height:.5rem;border-radius:.25rem;min-width:6rem}.bar>span{display:block;height:100%;border-radius:.25rem;background:#17803d}
details{margin:.6rem 0;border:1px solid #ddd;border-radius:.4rem;padding:.4rem .8rem}summary{cursor:pointer;font-weight:600}
pre{background:#f6f8fa;padding:.6rem;border-radius:.3rem;overflow:auto}.hint{color:#175cd3}.meta{color:#666;font-size:.9rem}
"""


def render(report: Report) -> str:
    rows = []
    for exercise in report.exercises:
        share = exercise.score / exercise.max_score if exercise.max_score else 0
        kind = "full" if share == 1 else "zero" if share == 0 else "part"
        rows.append(
            f"<tr><td><code>{escape(exercise.name)}</code></td>"
            f"<td class='num {kind}'>{fmt_points(exercise.score)} / {fmt_points(exercise.max_score)}</td>"
            f"<td><div class='bar'><span style='width:{100 * share:.0f}%'></span></div></td>"
            f"<td>{escape(exercise_summary(exercise))}</td></tr>"
        )
    sections = []
    for exercise in report.exercises:
        if not explained(exercise):
            continue
        for check in exercise.checks:
            if check.passed or check.not_run:
                continue
            body = [f"<p>{escape(check.message)}</p>"]
            if check.input:
                body.append(f"<p>{escape(input_label(check).capitalize())}:</p><pre>{escape(check.input)}</pre>")
            if check.hint:
                body.append(f"<p class='hint'>Hint: {escape(check.hint)}</p>")
            sections.append(
                f"<details open><summary>✗ {escape(exercise.name)}: {escape(check.name)} "
                f"({fmt_points(check.score)}/{fmt_points(check.max_score)})</summary>{''.join(body)}</details>"
            )
    notes = "".join(f"<p class='part'>Note: {escape(n)}</p>" for n in [*report.notes, not_run_note(report)] if n)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Grade for {escape(report.submission)}</title><style>{STYLE}</style></head><body>"
        f"<h1>Grade for {escape(report.submission)}: {fmt_points(report.score)} / {fmt_points(report.max_score)} ({percent(report)})</h1>"
        f"<p class='meta'>{escape(facts_line(report))}</p>{notes}"
        f"<table><tr><th>exercise</th><th>score</th><th></th><th></th></tr>{''.join(rows)}</table>"
        + (f"<h2>What to fix</h2>{''.join(sections)}" if sections else "")
        + "</body></html>\n"
    )

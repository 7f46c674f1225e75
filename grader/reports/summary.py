"""The instructor's summary of a batch: distributions, most-failed checks, problems, facts."""

from __future__ import annotations

import statistics
from collections import Counter
from html import escape
from typing import Any

from grader.engine.course import Course

BINS = 10


def _stats(course: Course, result: Any) -> dict[str, Any]:
    reports = result.reports
    totals = [r["score"] for r in reports.values()]
    per_exercise: dict[str, list[float]] = {e.name: [] for e in course.exercises}
    problems: list[tuple[str, str]] = list(result.unreadable) + list(result.failed)
    failed_checks: Counter = Counter()
    for name, report in sorted(reports.items()):
        if report.get("notes") and not report.get("unreadable"):
            problems.append((name, "; ".join(report["notes"][:3])))
        for exercise in report["exercises"]:
            if exercise["name"] in per_exercise:
                share = exercise["score"] / exercise["max_score"] if exercise["max_score"] else 0.0
                per_exercise[exercise["name"]].append(share)
            if exercise.get("status") in ("crashed", "timed out"):
                problems.append((name, f"{exercise['name']} {exercise['status']}: {exercise.get('note', '')}"))
            for check in exercise.get("checks", []):
                if not check["passed"] and check["max_score"] > 0 and exercise.get("status") == "graded":
                    failed_checks[(exercise["name"], check["name"])] += 1
    return {
        "count": len(reports),
        "totals": totals,
        "max": course.max_score,
        "per_exercise": per_exercise,
        "failed_checks": failed_checks.most_common(15),
        "problems": problems,
    }


def _histogram(shares: list[float]) -> list[int]:
    counts = [0] * BINS
    for share in shares:
        counts[min(BINS - 1, int(share * BINS))] += 1
    return counts


def _summary_line(values: list[float], scale: float = 1.0) -> str:
    if not values:
        return "-"
    return f"mean {statistics.mean(values) * scale:.1f}, median {statistics.median(values) * scale:.1f}"


def markdown(course: Course, result: Any, facts: dict[str, Any]) -> str:
    s = _stats(course, result)
    lines = [
        "# Batch summary",
        "",
        f"{s['count']} submissions; {facts['graded']} graded now, {facts['cached']} from the cache; "
        f"{len(result.unreadable)} unreadable, {len(result.failed)} failed to grade.",
        "",
        f"Total score (out of {s['max']:g}): {_summary_line(s['totals'])}.",
        "",
        "| exercise | mean | full marks | zero | distribution (0% → 100%) |",
        "|---|---:|---:|---:|---|",
    ]
    blocks = " ▁▂▃▄▅▆▇█"
    for name, shares in s["per_exercise"].items():
        counts = _histogram(shares)
        peak = max(counts) or 1
        bars = "".join(blocks[round(8 * c / peak)] for c in counts)
        mean = f"{100 * statistics.mean(shares):.0f}%" if shares else "-"
        lines.append(f"| `{name}` | {mean} | {sum(1 for x in shares if x >= 1)} | {sum(1 for x in shares if x == 0)} | `{bars}` |")
    lines += ["", "## Checks most often failed", ""]
    if s["failed_checks"]:
        lines += ["| exercise | check | submissions |", "|---|---|---:|"]
        lines += [f"| `{e}` | {c.replace('|', chr(92) + '|')} | {n} |" for (e, c), n in s["failed_checks"]]
    else:
        lines.append("None.")
    lines += ["", "## Submissions that need a look", ""]
    lines += [f"- **{name}**: {reason}" for name, reason in s["problems"]] or ["None."]
    lines += ["", "## Run", ""]
    lines += [f"- {key}: {value}" for key, value in facts.items()]
    return "\n".join(lines) + "\n"


def _svg_histogram(counts: list[int]) -> str:
    peak = max(counts) or 1
    bars = "".join(
        f"<rect x='{i * 12}' y='{40 - 40 * c / peak:.1f}' width='10' height='{40 * c / peak:.1f}'><title>"
        f"{i * 10}-{(i + 1) * 10}%: {c}</title></rect>"
        for i, c in enumerate(counts)
    )
    return f"<svg width='120' height='40' role='img' aria-label='distribution'>{bars}</svg>"


def html(course: Course, result: Any, facts: dict[str, Any]) -> str:
    s = _stats(course, result)
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td class='num'>"
        f"{(100 * statistics.mean(shares)) if shares else 0:.0f}%</td>"
        f"<td class='num'>{sum(1 for x in shares if x >= 1)}</td><td class='num'>{sum(1 for x in shares if x == 0)}</td>"
        f"<td>{_svg_histogram(_histogram(shares))}</td></tr>"
        for name, shares in s["per_exercise"].items()
    )
    failed = "".join(
        f"<tr><td><code>{escape(e)}</code></td><td>{escape(c)}</td><td class='num'>{n}</td></tr>"
        for (e, c), n in s["failed_checks"]
    ) or "<tr><td colspan='3'>None.</td></tr>"
    problems = "".join(f"<li><b>{escape(n)}</b>: {escape(r)}</li>" for n, r in s["problems"]) or "<li>None.</li>"
    run = "".join(f"<li>{escape(str(k))}: {escape(str(v))}</li>" for k, v in facts.items())
    total_hist = _svg_histogram(_histogram([t / s["max"] for t in s["totals"]] if s["max"] else []))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Batch summary</title><style>"
        "body{font:15px/1.5 system-ui,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;color:#222}"
        "table{border-collapse:collapse;width:100%}td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}"
        ".num{text-align:right}rect{fill:#175cd3}</style></head><body>"
        f"<h1>Batch summary</h1><p>{s['count']} submissions; {facts['graded']} graded now, {facts['cached']} from the "
        f"cache; {len(result.unreadable)} unreadable, {len(result.failed)} failed to grade.</p>"
        f"<p>Total score out of {s['max']:g}: {escape(_summary_line(s['totals']))} {total_hist}</p>"
        "<h2>Exercises</h2><table><tr><th>exercise</th><th>mean</th><th>full marks</th><th>zero</th>"
        f"<th>distribution (0% → 100%)</th></tr>{rows}</table>"
        f"<h2>Checks most often failed</h2><table><tr><th>exercise</th><th>check</th><th>submissions</th></tr>{failed}</table>"
        f"<h2>Submissions that need a look</h2><ul>{problems}</ul><h2>Run</h2><ul>{run}</ul></body></html>\n"
    )

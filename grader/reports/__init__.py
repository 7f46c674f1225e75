"""Report formats: text (terminal), json (the contract), markdown, html, gradescope."""

from __future__ import annotations

import json

from grader.engine.results import Report
from grader.reports import gradescope, html, markdown, text

FORMATS = ("text", "json", "markdown", "html", "gradescope")


def render(report: Report, fmt: str, color: bool = False) -> str:
    if fmt == "text":
        return text.render(report, color=color)
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    if fmt == "markdown":
        return markdown.render(report)
    if fmt == "html":
        return html.render(report)
    if fmt == "gradescope":
        return json.dumps(gradescope.results(report), indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}")

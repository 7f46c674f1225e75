"""Gradescope's results.json: one test per check, numbered exercise.check."""

from __future__ import annotations

from typing import Any

from grader.engine.results import Report
from grader.reports.common import facts_line


def results(report: Report) -> dict[str, Any]:
    tests = []
    for number, exercise in enumerate(report.exercises, start=1):
        for sub, check in enumerate(exercise.checks, start=1):
            output = check.message
            if check.input:
                output += "\n\nSmallest failing input:\n" + check.input
            if check.hint:
                output += "\n\nHint: " + check.hint
            test: dict[str, Any] = {
                "name": f"{exercise.name}: {check.name}",
                "number": f"{number}.{sub}",
                "score": check.score,
                "max_score": check.max_score,
                "status": "passed" if check.passed else "failed",
                "output": output.strip(),
                "tags": [exercise.name.split(".")[0]],
                "visibility": "after_published" if check.hidden else "visible",
            }
            tests.append(test)
    output = f"Graded on {facts_line(report)}."
    if report.notes:
        output += "\n" + "\n".join(f"Note: {n}" for n in report.notes)
    return {
        "score": report.score,
        "execution_time": report.facts.get("seconds", 0),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }

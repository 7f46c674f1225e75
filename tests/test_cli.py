"""The command line: formats, one-line errors, exit codes (run as a user would)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def test_list_shows_every_exercise_with_points(course):
    result = run("list")
    assert result.returncode == 0
    for exercise in course.exercises:
        assert exercise.name in result.stdout
    assert "total" in result.stdout


@pytest.mark.parametrize(
    "args,words",
    [
        (("grade", "no/such/folder"), "no such file or folder"),
        (("grade", "solutions", "--format", "pdf"), "--format"),
        (("check", "-e", "nonexistent_exercise", "solutions"), "unknown exercise"),
        (("grade", "solutions", "-o", "no/such/dir/report.json"), "no such folder"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(args, words):
    result = run(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0]


def test_cuda_unavailable_is_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    result = run("grade", "solutions", "--device", "cuda")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "CUDA" in result.stderr


def test_grade_writes_every_format(tmp_path):
    outputs = {}
    for fmt in ("json", "markdown", "html", "gradescope", "text"):
        target = tmp_path / f"report.{fmt}"
        result = run("grade", "solutions", "-e", "masks", "--format", fmt, "-o", str(target))
        assert result.returncode == 0, result.stderr
        outputs[fmt] = target.read_text()
    data = json.loads(outputs["json"])
    assert data["score"] == data["max_score"] > 0
    assert [e["name"] for e in data["exercises"]] == ["masks.causal_mask", "masks.padding_mask"]
    gradescope = json.loads(outputs["gradescope"])
    assert gradescope["score"] == data["score"]
    assert all({"name", "score", "max_score", "output", "visibility", "status"} <= set(t) for t in gradescope["tests"])
    assert outputs["html"].startswith("<!doctype html>") and "<script" not in outputs["html"]
    assert "| `masks.causal_mask` |" in outputs["markdown"]
    assert "masks.causal_mask" in outputs["text"] and "100%" in outputs["text"]


def test_check_on_the_stubs_reports_zero_and_exits_zero():
    result = run("check", "exercises", "-e", "masks")
    assert result.returncode == 0, result.stderr
    assert "0 / " in result.stdout and "still raises NotImplementedError" in result.stdout


def test_check_defaults_to_the_exercises_folder(tmp_path):
    result = run("check", cwd=tmp_path)
    assert result.returncode != 0
    assert "exercises" in result.stderr and "Traceback" not in result.stderr


def test_html_escapes_student_text(tmp_path):
    from grader.reports import render
    from grader.engine.results import CheckResult, ExerciseResult, Report

    check = CheckResult("x", 1, 0, False, message="raised ValueError: <script>alert(1)</script>")
    report = Report("<b>eve</b>", "cpu", [ExerciseResult("masks.causal_mask", [check])])
    page = render(report, "html")
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>eve" not in page


def test_the_official_grader_keeps_its_examples_for_the_next_run(tmp_path):
    """Drawn once per machine and course version; a damaged file is drawn again, not an error."""
    import os

    from grader.engine.examples import ExampleBook

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    first = run("grade", "solutions", "-e", "masks.causal_mask", env=env)
    assert first.returncode == 0 and "4 / 4" in first.stdout
    kept = list((tmp_path / "transformer-grader").glob("examples-*.pkl"))
    assert len(kept) == 1
    book = ExampleBook()
    book.load(kept[0])
    assert {key[0] for key in book.keys()} == {"masks.causal_mask"}
    kept[0].write_bytes(b"damaged")
    again = run("grade", "solutions", "-e", "masks.causal_mask", env=env)
    assert again.returncode == 0 and "4 / 4" in again.stdout
    assert kept[0].read_bytes() != b"damaged"

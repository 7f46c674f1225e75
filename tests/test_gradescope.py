"""The Gradescope autograder zip runs against a folder laid out like /autograder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, SOLUTIONS


@pytest.fixture(scope="module")
def autograder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gs")
    archive = folder / "autograder.zip"
    result = subprocess.run([sys.executable, "-m", "grader", "gradescope", str(archive)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert {"setup.sh", "run_autograder", "project/pyproject.toml", "project/grader/cli.py"} <= set(names)
        assert not any("__pycache__" in n for n in names)
        z.extractall(folder / "autograder" / "source")
    run = folder / "autograder" / "source" / "run_autograder"
    run.chmod(0o755)
    return folder / "autograder"


def _run(root: Path, fill) -> dict:
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    fill(submission)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), PYTHON=sys.executable)
    result = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads((root / "results" / "results.json").read_text())


def test_reference_modules_get_full_marks(autograder, course):
    results = _run(autograder, lambda s: [shutil.copy(f, s) for f in SOLUTIONS.glob("*.py")])
    assert results["score"] == course.max_score
    assert all(t["status"] == "passed" for t in results["tests"])


def test_a_single_notebook_is_graded(autograder):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell((SOLUTIONS / "masks.py").read_text()))
    results = _run(autograder, lambda s: (s / "work.ipynb").write_text(nbformat.writes(notebook)))
    masks = [t for t in results["tests"] if t["name"].startswith("masks.")]
    assert masks and all(t["status"] == "passed" for t in masks)
    assert 0 < results["score"]


def test_an_unreadable_submission_still_writes_results(autograder):
    results = _run(autograder, lambda s: (s / "broken.ipynb").write_text("{ not json"))
    assert results["score"] == 0 and "could not be graded" in results["output"]

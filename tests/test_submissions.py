"""Submissions as folders, zips (one folder down) and notebooks; unreadable ones fail cleanly."""

from __future__ import annotations

import json
import zipfile

import nbformat
import pytest

from grader.engine.submission import SubmissionError, code_of_cell, load_submission
from tests.conftest import SOLUTIONS

MODULES = ["masks", "attention"]


def test_zip_with_modules_one_folder_down(grader, tmp_path):
    archive = tmp_path / "alice.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for file in SOLUTIONS.glob("*.py"):
            z.write(file, f"exercises/{file.name}")
        z.writestr("__MACOSX/exercises/._masks.py", "junk")
        z.writestr("../evil.py", "print('outside')")
    report = grader.grade(archive)
    assert report.submission == "alice"
    assert report.score == report.max_score
    assert not (tmp_path.parent / "evil.py").exists()


def test_broken_zip_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(SubmissionError, match="not a readable zip"):
        load_submission(bad, MODULES, tmp_path)


def test_malformed_notebook_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{ not json")
    with pytest.raises(SubmissionError, match="not a valid Jupyter notebook") as error:
        load_submission(bad, MODULES, tmp_path)
    assert "\n" not in str(error.value)


def _notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    for kind, source in cells:
        maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        notebook.cells.append(maker(source))
    return notebook


def test_notebook_functions_are_graded_and_magics_ignored(grader, tmp_path):
    masks = (SOLUTIONS / "masks.py").read_text()
    notebook = _notebook(
        [
            ("markdown", "# My masks"),
            ("code", "%matplotlib inline\n!pip install nothing\nimport torch"),
            ("code", masks),
            ("code", "raise RuntimeError('a cell that fails')"),
            ("code", "%%bash\necho hello"),
        ]
    )
    path = tmp_path / "bob.ipynb"
    path.write_text(json.dumps(notebook))
    report = grader.grade(path)
    by_name = {e.name: e for e in report.exercises}
    assert by_name["masks.causal_mask"].score == by_name["masks.causal_mask"].max_score
    assert by_name["masks.padding_mask"].score == by_name["masks.padding_mask"].max_score
    others = [e for e in report.exercises if not e.name.startswith("masks.")]
    assert all(e.score == 0 and e.status == "missing" and "notebook" in e.note for e in others)
    assert any("a cell that fails" in note for note in report.notes)


def test_magic_lines_keep_blocks_valid():
    code = code_of_cell("if True:\n    !ls\nx = 1\n%timeit x")
    compile(code, "<cell>", "exec")
    assert code_of_cell("%%writefile a.py\nprint(1)") == ""
    assert "print(1)" in code_of_cell("%%time\nprint(1)")


def test_folder_without_modules_grades_to_zero_with_a_note(grader, tmp_path):
    (tmp_path / "empty").mkdir()
    report = grader.grade(tmp_path / "empty")
    assert report.score == 0 and report.notes

"""Notebook submissions, robustly: order, duplicates, cell types, magics, slow cells, old formats.

Each test builds a notebook from the reference solutions, laid out the way students'
notebooks go wrong, grades only the exercises it needs, and checks the score and the
notes that explain to the student what happened.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.sandbox import client
from grader.engine.submission import SubmissionError, code_of_cell, load_submission
from tests.conftest import ROOT, SOLUTIONS

SOLUTION_MARKERS = ("# BEGIN SOLUTION", "# END SOLUTION")


# ------------------------------------------------------------------------------ helpers


def reference_function(module: str, function: str) -> str:
    """The reference source of ``module.function`` (decorators included), without markers."""
    text = (SOLUTIONS / f"{module}.py").read_text()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            lines = text.splitlines()[(node.decorator_list or [node])[0].lineno - 1 : node.end_lineno]
            return "\n".join(line for line in lines if line.strip() not in SOLUTION_MARKERS) + "\n"
    raise LookupError(f"{module}.{function}")


IMPORTS = "import math\nimport torch\n"
SOFTMAX = reference_function("attention", "softmax")
ATTENTION = reference_function("attention", "scaled_dot_product_attention")
BROKEN_SOFTMAX = "def softmax(x, dim=-1):\n    return x.exp() / x.exp().sum(dim, keepdim=True) + 1\n"


def notebook(*cells: tuple[str, str], **metadata) -> nbformat.NotebookNode:
    """A v4 notebook of ``(kind, source)`` cells: kind is code, markdown or raw."""
    makers = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell, "raw": nbformat.v4.new_raw_cell}
    book = nbformat.v4.new_notebook(metadata=metadata)
    book.cells = [makers[kind](source) for kind, source in cells]
    return book


def write(tmp_path: Path, book, name: str = "student") -> Path:
    path = tmp_path / f"{name}.ipynb"
    path.write_text(book if isinstance(book, str) else json.dumps(book))
    return path


def grade(grader, course, path: Path, *exercises: str):
    """The report for ``path`` on ``exercises`` only, and its results by name."""
    report = grader.grade(path, course.select(exercises))
    return report, {e.name: e for e in report.exercises}


def full_marks(result) -> bool:
    return result.status == "graded" and result.score == result.max_score


def notes_about(report, *words: str) -> list[str]:
    return [note for note in report.notes if all(word in note for word in words)]


@pytest.fixture
def small_time_budget(monkeypatch):
    """Workers get 1 s per cell and 2 s for all cells (the defaults are 10 s and 10 s)."""
    original = client.WorkerConfig.to_json

    def to_json(self):
        return {**original(self), "cell_seconds": 1.0, "notebook_seconds": 2.0, "definition_seconds": 1.0}

    monkeypatch.setattr(client.WorkerConfig, "to_json", to_json)


# ------------------------------------------------------------------------------ order


def test_duplicated_cells_the_last_definition_wins(grader, course, tmp_path):
    fixed_later = notebook(("code", IMPORTS), ("code", BROKEN_SOFTMAX), ("code", SOFTMAX), ("code", SOFTMAX))
    report, results = grade(grader, course, write(tmp_path, fixed_later), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert notes_about(report, "softmax is defined in cells 2, 3 and 4", "last definition (cell 4)")

    broken_later = notebook(("code", IMPORTS), ("code", SOFTMAX), ("code", BROKEN_SOFTMAX))
    report, results = grade(grader, course, write(tmp_path, broken_later, "broken"), "attention.softmax")
    assert results["attention.softmax"].score < results["attention.softmax"].max_score
    assert notes_about(report, "softmax is defined in cells 2 and 3", "(cell 3)")


def test_cells_in_any_order_define_the_same_functions(grader, course, tmp_path):
    # Annotations (torch.Tensor) and a default (LAST) need names that only later cells
    # bind; the helper _normalise and softmax, also further down, are looked up when the
    # function is called, as in Jupyter.
    attention_with_helper = ATTENTION.replace("weights = softmax(", "weights = _normalise(")
    assert "_normalise(" in attention_with_helper
    book = notebook(
        ("code", attention_with_helper),
        ("code", "def _normalise(scores: torch.Tensor, dim: int = LAST) -> torch.Tensor:\n    return softmax(scores, dim)\n"),
        ("code", BROKEN_SOFTMAX.replace("(x, dim=-1)", "(x: torch.Tensor, dim=-1)")),
        ("code", SOFTMAX),
        ("code", "LAST = -1\n"),
        ("code", IMPORTS),
    )
    report, results = grade(
        grader, course, write(tmp_path, book), "attention.softmax", "attention.scaled_dot_product_attention"
    )
    assert full_marks(results["attention.softmax"])
    assert full_marks(results["attention.scaled_dot_product_attention"])
    assert notes_about(
        report, "cell 1 raised NameError", "'torch' is defined further down, in cell 6", "run again after all the cells",
        "'Restart & Run All' would fail here: move cell 6 above cell 1",
    )
    assert notes_about(report, "cell 2 raised NameError", "'LAST' is defined further down, in cell 5", "move cell 5 above cell 2")
    # The broken softmax of cell 3 is run again too, but the later, correct one of cell 4 still wins.
    assert notes_about(report, "softmax is defined in cells 3 and 4", "the last definition (cell 4) is the one graded")


def test_a_statement_that_needs_a_later_cell_is_explained_but_not_run_again(grader, course, tmp_path):
    book = notebook(
        ("code", "print('demo', softmax(torch.zeros(2)))\n"),
        ("code", IMPORTS + SOFTMAX),
        ("code", "print(never_defined)\n"),
    )
    report, results = grade(grader, course, write(tmp_path, book), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert notes_about(report, "cell 1 raised NameError", "'softmax' is only defined further down, in cell 2: run the cells in order")
    assert notes_about(report, "cell 3 raised NameError: name 'never_defined' is not defined (<cell 3>, line 1")
    assert "demo" not in report.output


def test_import_from_the_notebooks_own_module_before_the_definition(grader, course, tmp_path):
    book = notebook(
        ("code", "from attention import softmax as stable_softmax\n"),
        ("code", IMPORTS + "\ndef softmax(x, dim=-1):\n    return stable_softmax_impl(x, dim)\n"),
        ("code", SOFTMAX.replace("def softmax(", "def stable_softmax_impl(")),
    )
    report, results = grade(grader, course, write(tmp_path, book), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert notes_about(report, "cell 1 raised ImportError", "'softmax' is defined further down, in cell 2")


# ------------------------------------------------------------------------------ cell types


def test_a_definition_in_a_markdown_or_raw_cell_is_explained(grader, course, tmp_path):
    book = notebook(
        ("markdown", "# Attention\nImplement `softmax` like this:\n```python\ndef softmax(x, dim=-1):\n    ...\n```"),
        ("code", IMPORTS),
        ("markdown", SOFTMAX),
        ("raw", ATTENTION),
    )
    report, results = grade(
        grader, course, write(tmp_path, book), "attention.softmax", "attention.scaled_dot_product_attention"
    )
    assert results["attention.softmax"].score == 0 and results["attention.softmax"].status == "missing"
    assert notes_about(report, "cell 3 is a markdown cell but defines softmax; change it back to a code cell")
    assert notes_about(report, "cell 4 is a raw cell but defines scaled_dot_product_attention; change it back")
    assert not notes_about(report, "cell 1 is a markdown cell")  # a fenced example is documentation


def test_a_markdown_copy_of_a_function_that_a_code_cell_defines_is_fine(grader, course, tmp_path):
    book = notebook(("code", IMPORTS + SOFTMAX), ("markdown", SOFTMAX))
    report, results = grade(grader, course, write(tmp_path, book), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert not notes_about(report, "markdown cell")


def test_a_hand_out_notebook_is_graded_without_its_check_cell(grader, course, tmp_path):
    from grader.commands.handout_notebooks import concept_notebook

    book = concept_notebook("attention", (ROOT / "exercises" / "attention.py").read_text())
    for cell in book.cells:
        if cell.cell_type == "code" and cell.source.startswith("def softmax"):
            cell.source = SOFTMAX
    assert "from grader.notebook import check" in book.cells[-1].source
    book.cells.append(nbformat.v4.new_code_cell("from grader.notebook import check\n" + SOFTMAX))
    report, results = grade(
        grader, course, write(tmp_path, book), "attention.softmax", "attention.scaled_dot_product_attention"
    )
    assert full_marks(results["attention.softmax"])
    assert results["attention.scaled_dot_product_attention"].status == "not implemented"
    # The hand-out's own check cell is left out silently; one mixed into code is explained.
    assert [note for note in report.notes if note.startswith("cell")] == [
        note for note in report.notes if f"cell {len(book.cells)} raised ImportError" in note
    ]
    assert notes_about(report, "graded code cannot use the grader itself")
    assert notes_about(report, "softmax is defined in cells", "the one graded")


# ------------------------------------------------------------------------------ IPython syntax


def test_magics_and_shell_lines_are_ignored(grader, course, tmp_path):
    book = notebook(
        ("code", "%matplotlib inline\n%load_ext autoreload\n%autoreload 2\n!pip install torch\npip install numpy\n" + IMPORTS),
        ("code", "%%time\n" + SOFTMAX + "\nfiles = !ls\nassert files is None\n%time total = 1 + 1\nassert total == 2\nsoftmax?\n"),
        ("code", "%%bash\necho this is not Python\n"),
        ("code", "%%writefile notes.txt\nnot Python either\n"),
        ("code", "%%writefile attention.py\n" + IMPORTS + ATTENTION),
        (
            "code",
            "x = torch.zeros(3)\nif (x.sum()\n        != 0):\n    raise AssertionError\n"
            "display(softmax(x))\nget_ipython().run_line_magic('matplotlib', 'inline')\n",
        ),
    )
    report, results = grade(
        grader, course, write(tmp_path, book), "attention.softmax", "attention.scaled_dot_product_attention"
    )
    assert full_marks(results["attention.softmax"])
    assert full_marks(results["attention.scaled_dot_product_attention"])
    assert not [note for note in report.notes if note.startswith("cell")], report.notes


def test_code_of_cell_rewrites_ipython_syntax_into_python():
    assert code_of_cell("files = !ls\n%time y = 2\n") == "files = None\ny = 2\n"
    assert code_of_cell("if (a\n    != b):\n    c = (a\n    % b)\n") == "if (a\n    != b):\n    c = (a\n    % b)\n"
    assert code_of_cell("softmax?\n??torch.exp\npip install torch\n") == "pass\npass\npass\n"
    assert code_of_cell("\n%%writefile attention.py\ndef f(): pass", ["attention"]) == "\n\ndef f(): pass\n"
    assert code_of_cell("%%writefile helper.py\ndef f(): pass", ["attention"]) == ""


def test_outputs_and_widget_metadata_are_ignored(grader, course, tmp_path):
    book = notebook(
        ("code", IMPORTS + SOFTMAX),
        widgets={"application/vnd.jupyter.widget-state+json": {"state": {"abc": {"model_name": "FloatProgressModel"}}}},
    )
    book.cells[0].execution_count = 7
    book.cells[0].outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="training...\n"),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}),
        nbformat.v4.new_output(
            "display_data",
            data={"application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2}},
        ),
        nbformat.v4.new_output("error", ename="KeyboardInterrupt", evalue="", traceback=["..."]),
    ]
    report, results = grade(grader, course, write(tmp_path, book), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert report.notes == []


# ------------------------------------------------------------------------------ failing and slow cells


def test_failing_top_level_code_does_not_cost_the_functions(grader, course, tmp_path):
    book = notebook(
        ("code", "import matplotlib.pyplot as plt\n" + IMPORTS + SOFTMAX + "plt.plot([1, 2])\nplt.show()\n"),
        ("code", "def broken(:\n    pass\n"),
        ("code", ATTENTION + "\nraise SystemExit('stop here')\n"),
    )
    report, results = grade(
        grader, course, write(tmp_path, book), "attention.softmax", "attention.scaled_dot_product_attention"
    )
    assert full_marks(results["attention.softmax"])
    assert full_marks(results["attention.scaled_dot_product_attention"])
    assert notes_about(report, "cell 1 raised ModuleNotFoundError", "matplotlib", "not installed", "rest of the cell was skipped")
    assert notes_about(report, "cell 2 raised SyntaxError", "<cell 2>, line 1")
    assert notes_about(report, "cell 3 raised SystemExit: stop here")


def test_slow_cells_are_stopped_and_their_functions_still_graded(grader, course, tmp_path, small_time_budget):
    spin = "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except Exception:\n        pass\n"
    book = notebook(
        ("code", IMPORTS + SOFTMAX + spin),  # stopped by its own limit; `except Exception` cannot hide it
        ("code", "for epoch in range(10**9):\n    pass\n"),  # stopped by what is left of the notebook's time
        ("code", "while True:\n    pass\n"),  # no time left: only its definitions (none) run
        ("code", ATTENTION + "\nwhile True:\n    pass\n"),  # no time left: its function is still defined
    )
    report, results = grade(
        grader, course, write(tmp_path, book), "attention.softmax", "attention.scaled_dot_product_attention"
    )
    assert full_marks(results["attention.softmax"])
    assert full_marks(results["attention.scaled_dot_product_attention"])
    assert notes_about(report, "cell 1 raised TimeoutError", "more than 1 s")
    assert notes_about(report, "cell 2 raised TimeoutError", "may run 2 s in all")
    assert notes_about(report, "cell 3 raised TimeoutError", "cells 3 and 4 ran only their imports and definitions")
    assert report.facts["seconds"] < 15


def _constant(source: str, name: str) -> float:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return float(ast.literal_eval(node.value))
    raise LookupError(name)


def test_the_default_time_budget_of_a_notebook_fits_in_the_load_limit():
    worker = (ROOT / "grader" / "sandbox" / "worker.py").read_text()
    budget = _constant(worker, "NOTEBOOK_SECONDS") + _constant(worker, "DEFINITION_SECONDS")
    assert budget + 5 <= client.Limits().load_seconds  # room to start the worker (and CUDA)


# ------------------------------------------------------------------------------ formats


def test_nbformat_3_with_worksheets_and_input(grader, course, tmp_path):
    book = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": "old"},
        "worksheets": [
            {
                "cells": [
                    {"cell_type": "heading", "level": 1, "metadata": {}, "source": ["Attention"]},
                    {
                        "cell_type": "code", "collapsed": False, "language": "python", "metadata": {},
                        "input": IMPORTS.splitlines(keepends=True), "outputs": [], "prompt_number": 1,
                    },
                    {
                        "cell_type": "code", "collapsed": False, "language": "python", "metadata": {},
                        "input": SOFTMAX.splitlines(keepends=True),
                        "outputs": [{"output_type": "pyout", "prompt_number": 2, "text": ["ok"], "metadata": {}}],
                        "prompt_number": 2,
                    },
                ],
                "metadata": {},
            }
        ],
    }
    report, results = grade(grader, course, write(tmp_path, book), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert report.notes == []


def test_nbformat_4_0_without_cell_ids(grader, course, tmp_path):
    book = {
        "nbformat": 4,
        "nbformat_minor": 0,
        "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
        "cells": [
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": IMPORTS},
            {"cell_type": "markdown", "metadata": {}, "source": ["Softmax\n", "below"]},
            {"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [], "source": SOFTMAX.splitlines(True)},
        ],
    }
    report, results = grade(grader, course, write(tmp_path, book), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert report.notes == []


@pytest.mark.parametrize(
    "content,words",
    [
        ("{ not json", "broken JSON"),
        ("", "the file is empty"),
        ("[1, 2, 3]", "the JSON is a list"),
        ('{"metadata": {}}', "no list of cells"),
        ('{"cells": "no"}', "no list of cells"),
        (b"\x89PNG\r\n\x1a\n\xff\xfe", "not a text file"),
    ],
)
def test_unreadable_notebooks_are_one_line_errors(tmp_path, content, words):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SubmissionError, match=words) as error:
        load_submission(path, ["attention"], tmp_path)
    assert "\n" not in str(error.value)


def test_a_notebook_for_another_language_is_noted(tmp_path):
    book = notebook(("code", IMPORTS + SOFTMAX), kernelspec={"name": "ir", "language": "R", "display_name": "R"})
    submission = load_submission(write(tmp_path, book), ["attention"], tmp_path)
    assert [cell["index"] for cell in submission.cells] == [1]
    assert any("kernel is R, not Python" in note for note in submission.notes)


def test_unreadable_cells_are_skipped_with_a_note(grader, course, tmp_path):
    book = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        "not a cell",
        {"cell_type": "code", "source": 42},
        {"cell_type": "code", "source": IMPORTS + SOFTMAX, "outputs": [], "metadata": {}},
    ]}
    report, results = grade(grader, course, write(tmp_path, json.dumps(book)), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert notes_about(report, "cell 1 could not be read") and notes_about(report, "cell 2 could not be read")


def test_cli_on_a_malformed_notebook_is_one_line_and_fails(tmp_path):
    path = tmp_path / "bad.ipynb"
    path.write_text('{"cells": [')
    result = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a valid Jupyter notebook" in lines[0], result.stderr


def test_a_slow_notebook_runs_in_full_once_then_only_its_definitions(grader, course, tmp_path):
    """Training or plotting cells cost their time once (the probe), not once per module."""
    book = notebook(
        ("code", IMPORTS + "import time\n"),
        ("code", "time.sleep(1.5)  # 'training'\nlosses = [1.0, 0.5]\n"),
        ("code", SOFTMAX),
    )
    report, results = grade(grader, course, write(tmp_path, book), "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert notes_about(report, "the notebook's cells took", "only their imports and definitions")
    assert results["attention.softmax"].seconds < 1.5  # its worker did not sleep again


# ------------------------------------------------------------------------------ packaging


def test_a_notebook_zipped_alone_is_graded(grader, course, tmp_path):
    import zipfile

    path = write(tmp_path, notebook(("code", IMPORTS), ("code", SOFTMAX)))
    archive = tmp_path / "work.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(path, "week3/student.ipynb")
        handle.writestr("week3/.ipynb_checkpoints/student-checkpoint.ipynb", path.read_text())
    report, results = grade(grader, course, archive, "attention.softmax")
    assert full_marks(results["attention.softmax"])
    assert notes_about(report, "graded the notebook week3/student.ipynb found in the zip")


def test_a_zip_of_several_notebooks_is_refused_in_one_line(grader, course, tmp_path):
    import zipfile

    from grader.engine.submission import SubmissionError

    path = write(tmp_path, notebook(("code", SOFTMAX)))
    archive = tmp_path / "work.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(path, "a.ipynb")
        handle.write(path, "b.ipynb")
    with pytest.raises(SubmissionError, match="several notebooks"):
        grader.grade(archive, course.select(("attention.softmax",)))


def test_upper_case_suffixes_are_understood(grader, course, tmp_path):
    path = write(tmp_path, notebook(("code", IMPORTS), ("code", SOFTMAX)))
    shouting = path.rename(tmp_path / "STUDENT.IPYNB")
    report, results = grade(grader, course, shouting, "attention.softmax")
    assert full_marks(results["attention.softmax"])


def test_a_notebook_that_kills_the_interpreter_is_reported_once(grader, course, tmp_path):
    """One namespace for all modules: the notebook is not run again for each of them."""
    book = notebook(("code", IMPORTS + SOFTMAX), ("code", "import os\nos._exit(3)\n"))
    report, results = grade(grader, course, write(tmp_path, book), "attention.softmax", "masks.causal_mask")
    for result in results.values():
        assert result.status == "import error" and result.score == 0
        assert "the notebook's cells stopped the interpreter" in result.note

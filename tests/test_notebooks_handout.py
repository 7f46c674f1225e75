"""The hand-out's notebooks: one per concept, built from the stubs, graded from inside a kernel.

A notebook kernel is simulated without IPython: the code cells run one after the other in
one namespace (``__name__ == "__main__"``), each compiled under a unique file name whose
text is registered in :mod:`linecache` (what IPython does, and what lets
:func:`inspect.getsource` find functions defined in cells), with :class:`codeop.Compile`
carrying ``from __future__`` imports from cell to cell as IPython's compiler does.
"""

from __future__ import annotations

import ast
import codeop
import linecache
import re
import textwrap
import uuid

import nbformat
import pytest

from grader.commands.authoring import solution_lines
from grader.notebook import check, global_names, module_from_namespace
from grader.commands.handout_notebooks import concept_notebook, docstring_markdown, stub_functions, write_notebooks
from tests.conftest import EXERCISES, SOLUTIONS

MODULES = sorted(p.stem for p in EXERCISES.glob("*.py") if not p.stem.startswith("__"))
#: Solution lines shorter than this (``return x``, ``)``, ``break``) may legitimately
#: appear anywhere; longer ones must never reach a student's notebook.
TRIVIAL_LINE = 12


# --------------------------------------------------------------------------- helpers


def stub_text(module: str) -> str:
    return (EXERCISES / f"{module}.py").read_text(encoding="utf-8")


def code_cells(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def long_solution_lines(module: str) -> list[str]:
    """The non-trivial lines of the solution regions of ``solutions/<module>.py``."""
    lines = solution_lines((SOLUTIONS / f"{module}.py").read_text(encoding="utf-8"))
    return [line for line in lines if len(line) >= TRIVIAL_LINE]


def reference_function(module: str, name: str) -> str:
    """The reference's source of one function (markers and all)."""
    source = (SOLUTIONS / f"{module}.py").read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return "".join(lines[node.lineno - 1 : node.end_lineno])
    raise LookupError(f"{module}.{name}")


def run_kernel(cells: list[str]) -> dict:
    """Run code cells like a notebook kernel does; return the kernel's namespace."""
    namespace: dict = {"__name__": "__main__"}
    compiler = codeop.Compile()
    for source in cells:
        filename = f"<kernel-cell-{uuid.uuid4().hex}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        exec(compiler(source, filename, "exec"), namespace)  # noqa: S102 - the simulated kernel
    return namespace


def with_reference_bodies(module: str, cells: list[str]) -> list[str]:
    """The notebook's code cells with every stub cell replaced by the reference function."""
    names = {f.name for f in stub_functions(stub_text(module))}
    replaced = []
    for source in cells:
        body = ast.parse(source).body
        if len(body) == 1 and isinstance(body[0], ast.FunctionDef) and body[0].name in names:
            source = reference_function(module, body[0].name)
        replaced.append(source)
    return replaced


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, nbformat.NotebookNode]:
    folder = tmp_path_factory.mktemp("notebooks")
    paths = write_notebooks(folder, EXERCISES)
    assert [p.name for p in paths] == [f"{m}.ipynb" for m in MODULES]
    return {p.stem: nbformat.read(p, as_version=4) for p in paths}


# --------------------------------------------------------------------------- the notebooks


def test_every_notebook_validates(notebooks):
    assert sorted(notebooks) == MODULES and len(MODULES) >= 8
    for notebook in notebooks.values():
        nbformat.validate(notebook)


@pytest.mark.parametrize("module", MODULES)
def test_notebook_holds_every_stub_the_imports_and_a_check_cell(notebooks, module):
    notebook = notebooks[module]
    cells = code_cells(notebook)
    for function in stub_functions(stub_text(module)):
        assert function.source in cells, f"{module}.{function.name}: stub cell missing"
        assert f'raise NotImplementedError("{module}.{function.name} is not implemented yet")' in function.source
    imports = cells[0]
    assert "import torch" in imports and "from ." not in imports  # works outside the package
    compile(imports, "<imports>", "exec")
    assert cells[-1].strip().endswith(f'check("{module}")')
    assert "from grader.notebook import check" in cells[-1]
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert markdown.startswith("# ") and "## Check your work" in markdown


@pytest.mark.parametrize("module", MODULES)
def test_notebook_holds_no_solution_code(notebooks, module):
    lines = {line.strip() for cell in notebooks[module].cells for line in cell.source.splitlines()}
    leaked = [line for line in long_solution_lines(module) if line in lines]
    assert long_solution_lines(module), "the solution markers were not found"
    assert not leaked, f"{module}: solution lines in the notebook: {leaked}"


def test_notebooks_are_reproducible(tmp_path):
    first = write_notebooks(tmp_path / "a", EXERCISES)
    second = write_notebooks(tmp_path / "b", EXERCISES)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_sibling_imports_become_absolute_in_the_notebook(notebooks):
    imports = code_cells(notebooks["multihead"])[0]
    assert "from exercises.attention import scaled_dot_product_attention" in imports


def test_docstring_markdown_turns_sections_into_markdown():
    doc = textwrap.dedent(
        """\
        Do one thing.

        Args:
            x: input ``[B, I]``.
            a, b: two more,
                on two lines.

        Raises:
            ValueError: if wrong.

        Formula (in order):
            y = f(x)
            z = g(y)

        Pitfall: a plain ``trap``.
        """
    )
    text = docstring_markdown(doc)
    assert text.startswith("Do one thing.")
    assert "- `x`: input `[B, I]`." in text
    assert "- `a`, `b`: two more, on two lines." in text
    assert "- `ValueError`: if wrong." in text
    assert "**Formula** (in order):\n\n```\ny = f(x)\nz = g(y)\n```" in text
    assert "**Pitfall**: a plain `trap`." in text


def test_concept_notebook_from_a_minimal_stub():
    stub = textwrap.dedent(
        '''\
        """Toy: a concept.

        ## Shapes
        Some ``text``.
        """

        from __future__ import annotations

        import torch

        from .attention import softmax

        __all__ = ["double"]


        def double(x):
            """Twice ``x``."""
            raise NotImplementedError("toy.double is not implemented yet")
        '''
    )
    notebook = concept_notebook("toy", stub)
    nbformat.validate(notebook)
    cells = code_cells(notebook)
    assert cells[0] == (
        "from __future__ import annotations\n\nimport os\nimport sys\n"
        'sys.path.insert(0, os.path.abspath(".."))  # the hand-out folder, where exercises/ lives\n'
        "import torch\nfrom exercises.attention import softmax"
    )
    assert cells[1].startswith("def double(x):")
    assert notebook.cells[0].source.startswith("# Toy\n")
    assert "Some `text`." in notebook.cells[1].source


# --------------------------------------------------------------------------- check() inside a kernel


def test_check_gives_full_marks_to_the_reference_defined_in_cells(notebooks, capsys):
    cells = with_reference_bodies("masks", code_cells(notebooks["masks"]))
    run_kernel(cells)  # the last cell is check("masks"), reading the kernel's globals
    out = capsys.readouterr().out
    assert "masks.causal_mask" in out and "masks.padding_mask" in out
    assert re.search(r"total\s+8 / 8\s+100%", out), out


def test_check_reports_zero_for_the_stubs_without_raising(notebooks, capsys):
    run_kernel(code_cells(notebooks["masks"]))
    out = capsys.readouterr().out
    assert "still raises NotImplementedError" in out
    assert re.search(r"total\s+0 / 8\s+0%", out), out
    assert "Traceback" not in out


def test_check_grades_a_concept_that_imports_a_prerequisite(notebooks, capsys):
    cells = with_reference_bodies("multihead", code_cells(notebooks["multihead"]))
    run_kernel(cells)  # the imports cell reads scaled_dot_product_attention from exercises/
    out = capsys.readouterr().out
    assert re.search(r"total\s+18 / 18\s+100%", out), out


STUDENT_ATTENTION = '''
import torch.nn.functional as F
from math import sqrt

EPS = 0.0
scores = torch.zeros(3)  # a notebook global that shares a name with a local below


class Scaler:
    def __init__(self, d):
        self.d = d

    def __call__(self, s):
        return s / sqrt(self.d)


def _row_max(x, dim):
    return x.amax(dim=dim, keepdim=True) + EPS


def softmax(x, dim=-1):
    m = _row_max(x, dim)
    e = (x - m).exp()
    return e / e.sum(dim, keepdim=True)


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = Scaler(q.shape[-1])(q @ k.transpose(-2, -1))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = F.softmax(scores, dim=-1)
    return weights @ v, weights
'''


def test_rebuilt_module_carries_the_helpers_the_functions_use():
    namespace = run_kernel(["import torch", STUDENT_ATTENTION])
    module = module_from_namespace("attention", stub_text("attention"), namespace)
    text = module.text
    compile(text, "attention.py", "exec")
    assert text.index("from __future__ import annotations") < text.index("import math")
    assert "import torch.nn.functional as F" in text
    assert "from math import sqrt" in text
    assert "EPS = 0.0" in text
    assert "class Scaler:" in text and "def _row_max(x, dim):" in text
    assert "scores = torch.zeros(3)" not in text  # a local's name is not a global
    assert module.notes == []
    assert global_names("def f(x):\n    y = x.shape\n    return g(y)\n") == {"g"}


def test_rebuilt_module_keeps_the_prerequisite_import(notebooks):
    imports = code_cells(notebooks["multihead"])[0]
    namespace = run_kernel([
        imports,
        "def scaled_dot_product_attention(q, k, v, mask=None):\n    return q, q\n",
        "def multi_head_attention(*args):\n    return scaled_dot_product_attention(*args)\n",
    ])
    module = module_from_namespace("multihead", stub_text("multihead"), namespace)
    assert "from .attention import scaled_dot_product_attention" in module.text
    assert "return q, q" not in module.text
    assert any("graded with the course's correct `scaled_dot_product_attention`" in n for n in module.notes)
    assert any("multihead.split_heads is not defined" in n for n in module.notes)


def test_check_explains_what_it_cannot_grade(capsys):
    namespace: dict = {"__name__": "__main__"}
    exec(compile("def causal_mask(q_len, k_len=None, device=None):\n    return None\n", "<unregistered>", "exec"), namespace)  # noqa: S102
    namespace["padding_mask"] = len
    check("masks", namespace)
    check("no_such_concept", namespace)
    check("masks", None)  # this test module's globals: nothing of masks here
    lines = capsys.readouterr().out.splitlines()
    assert "masks.causal_mask: its source code is not available" in lines[0]
    assert "masks.padding_mask: its source code is not available" in lines[1]
    assert lines[2].startswith("check: nothing to grade")
    assert lines[3].startswith("check: unknown concept 'no_such_concept'; the concepts are: attention,")
    assert lines[4] == "masks.causal_mask is not defined in this notebook: run its cell first"

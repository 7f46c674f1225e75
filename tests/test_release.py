"""`grader release`: a hand-out that checks locally and reveals no solution.

The hand-out is built once per session. Most tests run its grader with `python` from
inside the hand-out folder (its `grader` package comes first on the path); the last one
installs it into a fresh virtual environment, as a student would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from grader.commands.release import find_solution_leaks, handout_checks_source
from tests.conftest import all_mutants
from tests.conftest import ROOT, SOLUTIONS

HIDDEN = "stays accurate at long sequences"


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "handout"
    result = subprocess.run(
        [sys.executable, "-m", "grader", "release", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert "hidden checks kept back" in result.stderr
    return out


def run_in(folder: Path, *arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    """The hand-out's own grader (its folder first on sys.path), not the instructor's."""
    environment = dict(os.environ, PYTHONPATH=str(folder))
    return subprocess.run(
        [sys.executable, "-m", "grader", *arguments], cwd=cwd, env=environment,
        capture_output=True, text=True, timeout=600,
    )


def local_report(handout: Path, submission: Path) -> dict:
    result = run_in(handout, "grade", str(submission), "--format", "json", cwd=handout)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_layout(handout):
    for path in ("README.md", "pyproject.toml", "exercises/attention.py", "notebooks/attention.ipynb",
                 "grader/recorded/attention.py", "grader/recorded/handout.json"):
        assert (handout / path).is_file(), path
    assert not (handout / "solutions").exists()


def test_no_solution_code_anywhere(handout, tmp_path):
    assert find_solution_leaks(handout, SOLUTIONS) == []
    leaked = tmp_path / "leaked"
    shutil.copytree(handout, leaked)
    (leaked / "grader" / "oops.py").write_text((SOLUTIONS / "masks.py").read_text())
    assert any("masks.py" in leak for leak in find_solution_leaks(leaked, SOLUTIONS))


def test_hidden_checks_and_search_helpers_are_kept_back(handout):
    manifest = json.loads((handout / "grader/recorded/handout.json").read_text())
    hidden = [name for checks in manifest["hidden"].values() for name, _ in checks]
    assert any(HIDDEN in name for name in hidden)
    concepts = sorted((handout / "grader" / "concepts").glob("*/*.py"))
    assert any(p.name == "checks.py" for p in concepts)
    assert not any(p.name == "mistakes.py" for p in concepts)  # wrong versions of the reference stay home
    shipped = "".join(p.read_text() for p in concepts)
    assert HIDDEN not in shipped
    assert "def reference_pool" not in shipped  # the beam search the strategies used to pick models
    assert "from solutions" not in shipped
    listed = run_in(handout, "list", cwd=handout).stdout
    assert "hidden checks" in listed and "graded only by your instructor" in listed


def test_checks_source_rewrite_is_valid_python():
    source = (ROOT / "grader" / "concepts" / "decoding" / "checks.py").read_text()
    rewritten = handout_checks_source(source)
    compile(rewritten, "decoding.py", "exec")
    assert "from grader.recorded import decoding as ref" in rewritten
    assert "return st.nothing()" in rewritten


def test_stubs_score_zero_and_reference_full_public_marks(handout, tmp_path):
    stubs = local_report(handout, handout / "exercises")
    assert stubs["score"] == 0
    reference = tmp_path / "mine"
    shutil.copytree(SOLUTIONS, reference)
    report = local_report(handout, reference)
    checks = [c for e in report["exercises"] for c in e["checks"]]
    not_run = [c for c in checks if c.get("not_run")]
    assert not_run and all(c["score"] == 0 for c in not_run)
    assert all(c["passed"] for c in checks if not c.get("not_run")), [c for c in checks if not c["passed"]][:2]
    assert report["score"] == report["max_score"] - sum(c["max_score"] for c in not_run)
    text = run_in(handout, "check", str(reference), cwd=handout).stdout
    assert "not run locally" in text and "all checks passed" in text


def test_local_check_catches_a_mistake_of_each_exercise(handout, tmp_path):
    """One catalogued mistake per exercise, each caught by the public checks on its exercise."""
    chosen = {}
    for mutant in all_mutants():
        chosen.setdefault(mutant.exercise, mutant)
    for index, mutant in enumerate(chosen.values()):
        folder = tmp_path / f"m{index}"
        shutil.copytree(SOLUTIONS, folder)
        path = folder / f"{mutant.module}.py"
        path.write_text(mutant.apply(path.read_text()))
    script = (
        "import json, sys; from pathlib import Path\n"
        "from grader.engine.course import load_course; from grader.engine.runner import Grader\n"
        "from grader.commands.release import installed_handout\n"
        "course = load_course(); handout = installed_handout()\n"
        "with Grader(course, handout=handout) as g:\n"
        "    for folder in sys.argv[1:]:\n"
        "        r = g.grade(Path(folder))\n"
        "        print(json.dumps({e.name: [e.score, e.max_score, [c.input for c in e.checks if not c.passed]] for e in r.exercises}))\n"
    )
    folders = [str(tmp_path / f"m{i}") for i in range(len(chosen))]
    result = subprocess.run(
        [sys.executable, "-c", script, *folders], cwd=handout, env=dict(os.environ, PYTHONPATH=str(handout)),
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for mutant, line in zip(chosen.values(), result.stdout.splitlines()):
        scores = json.loads(line)
        score, max_score, inputs = scores[mutant.exercise]
        assert score < max_score, f"{mutant.id} was not caught by the hand-out"


def _reference_function_sources(module: str) -> dict[str, str]:
    import ast

    source = (SOLUTIONS / f"{module}.py").read_text()
    tree = ast.parse(source)
    return {node.name: ast.get_source_segment(source, node) for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_a_handout_notebook_filled_in_gets_full_marks(handout, tmp_path):
    """The multihead notebook imports attention from elsewhere: graded both locally and officially."""
    import nbformat

    notebook = nbformat.read(handout / "notebooks" / "multihead.ipynb", as_version=4)
    functions = _reference_function_sources("multihead")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for name, source in functions.items():
                if cell.source.startswith(f"def {name}("):
                    cell.source = source
    path = tmp_path / "multihead.ipynb"
    nbformat.write(notebook, path)
    for where, run in (("hand-out", lambda *a: run_in(handout, *a, cwd=handout)),
                       ("official", lambda *a: subprocess.run([sys.executable, "-m", "grader", *a], cwd=ROOT,
                                                               capture_output=True, text=True, timeout=600))):
        result = run("grade", str(path), "--format", "json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        scores = {e["name"]: (e["score"], e["max_score"]) for e in report["exercises"] if e["name"].startswith("multihead.")}
        assert all(score == top for score, top in scores.values()), (where, scores, report["notes"])


KERNEL = """
import codeop, json, linecache, sys, uuid
namespace = {"__name__": "__main__"}
compiler = codeop.Compile()
for source in json.load(open(sys.argv[1])):
    filename = f"<kernel-cell-{uuid.uuid4().hex}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compiler(source, filename, "exec"), namespace)
"""


def test_the_check_cell_of_a_handout_notebook_works_in_the_handout(handout, tmp_path):
    """A kernel started in notebooks/ (as Jupyter does) runs the filled-in multihead notebook:
    its last cell grades it with the hand-out's grader, against recorded results."""
    import nbformat

    notebook = nbformat.read(handout / "notebooks" / "multihead.ipynb", as_version=4)
    functions = _reference_function_sources("multihead")
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            name = next((n for n in functions if cell.source.startswith(f"def {n}(")), None)
            cells.append(functions[name] if name else cell.source)
    (tmp_path / "cells.json").write_text(json.dumps(cells))
    (tmp_path / "kernel.py").write_text(KERNEL)
    result = subprocess.run(
        [sys.executable, str(tmp_path / "kernel.py"), str(tmp_path / "cells.json")], cwd=handout / "notebooks",
        env=dict(os.environ, PYTHONPATH=str(handout)), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"total\s+18 / 18\s+100%", result.stdout), result.stdout[-2000:]


def test_a_prerequisite_short_only_of_hidden_checks_is_not_blamed(handout, tmp_path):
    """Attention has a hidden check, so locally it scores below its maximum; a mistake in
    multi-head attention must still not be put down to the student's own attention."""
    mutant = next(m for m in all_mutants() if m.exercise == "multihead.multi_head_attention")
    folder = tmp_path / "mine"
    shutil.copytree(SOLUTIONS, folder)
    path = folder / "multihead.py"
    path.write_text(mutant.apply(path.read_text()))
    report = local_report(handout, folder)
    mha = next(e for e in report["exercises"] if e["name"] == "multihead.multi_head_attention")
    assert mha["score"] < mha["max_score"]
    assert not [c["name"] for c in mha["checks"] if c["name"].startswith("with your own")]


def test_release_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "something").write_text("x")
    result = subprocess.run([sys.executable, "-m", "grader", "release", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "not empty" in result.stderr


def _fill_in(exercises: Path) -> None:
    """What a student who got everything right hands in: the reference code, pasted."""
    for file in SOLUTIONS.glob("*.py"):
        if file.name != "__init__.py":
            (exercises / file.name).write_text(file.read_text())


@pytest.mark.skipif(not shutil.which("pip") and not Path(sys.executable).with_name("pip").exists(),
                    reason="pip is needed to install the hand-out")
def test_a_student_installs_the_handout_and_checks(handout, tmp_path):
    """Fresh venv, `pip install HANDOUT`, `grader check` in the hand-out: 0, then full public marks."""
    student = tmp_path / "handout"
    shutil.copytree(handout, student)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for command in (["install", "-q", "torch==2.13.0"], ["install", "-q", str(student)]):
        installed = subprocess.run([str(python), "-m", "pip", *command], env=environment,
                                   capture_output=True, text=True, timeout=900)
        assert installed.returncode == 0, installed.stderr[-2000:]
    grader_command = env_dir / "bin" / "grader"
    check = subprocess.run([str(grader_command), "check"], cwd=student, env=environment,
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, check.stderr
    assert "total" in check.stdout and " 0 / " in check.stdout
    assert "still raises NotImplementedError" in check.stdout

    located = subprocess.run([str(python), "-c", "import grader, sys; print(grader.__file__)"], cwd=tmp_path,
                             env=environment, capture_output=True, text=True)
    assert "site-packages" in located.stdout  # the installed copy, not a source folder
    no_reference = subprocess.run([str(python), "-c", "import solutions"], cwd=tmp_path, env=environment,
                                  capture_output=True, text=True)
    assert no_reference.returncode != 0

    _fill_in(student / "exercises")
    check = subprocess.run([str(grader_command), "check"], cwd=student, env=environment,
                           capture_output=True, text=True, timeout=600)
    assert check.returncode == 0, check.stderr
    assert "✗" not in check.stdout.split("total")[0]
    assert "not run locally" in check.stdout

    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import math\nimport torch")] + [
        nbformat.v4.new_code_cell((SOLUTIONS / "masks.py").read_text())
    ]
    path = tmp_path / "masks.ipynb"
    nbformat.write(notebook, path)
    checked = subprocess.run([str(grader_command), "check", str(path), "-e", "masks"], cwd=student,
                             env=environment, capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stderr
    assert re.search(r"total\s+8 / 8\s+100%", checked.stdout), checked.stdout

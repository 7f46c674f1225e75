"""``grader release OUT_DIR``: the student hand-out, which checks locally without the solutions.

The hand-out is a pip-installable project: the stubs (``exercises/``), one notebook per
concept (``notebooks/``), a student README, and the grader with the public checks. The
reference never travels: the release grades the reference once, recording

- the inputs hypothesis draws for every public check (:mod:`grader.engine.examples`), and
- every result the checks ask of the reference, by a digest of the arguments
  (:mod:`grader.engine.recording`);

the hand-out's ``grader/recorded/<module>.py`` are stubs with the reference's signatures
that look those results up. Hidden checks are cut out of the checks' source and listed
in ``grader/recorded/handout.json``, so the local report counts them as not run. The
hypothesis strategies are cut too (the examples are recorded), and so is any helper
only they used: a search in a strategy would otherwise give an algorithm away.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from grader import __version__
from grader.engine import recording
from grader.commands.authoring import generate_exercises, solution_lines
from grader.engine.course import Course, Exercise
from grader.engine.examples import ExampleBook
from grader.commands.handout_notebooks import write_notebooks

RECORDED = "recorded"
MANIFEST = "handout.json"
EXAMPLES_FILE = "examples.pkl"
REFERENCE_FILE = "reference.pkl"
SKIPPED_IN_COPY = ("__pycache__", "*.pyc", "*.egg-info")


class ReleaseError(Exception):
    """The hand-out cannot be built; the message is one line for the instructor."""


@dataclass
class ReleaseSummary:
    out: Path
    exercises: int = 0
    public_checks: int = 0
    hidden_checks: int = 0
    examples: int = 0
    reference_results: int = 0
    notebooks: list[Path] = field(default_factory=list)


# ============================================================================ the hand-out at run time


def handout_dir() -> Path:
    import grader

    return Path(grader.__file__).resolve().parent / RECORDED


def hidden_checks() -> dict[str, list[tuple[str, float]]] | None:
    """In a hand-out: the checks kept back, ``exercise -> [(check, points)]``; else None."""
    manifest = handout_dir() / MANIFEST
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return {name: [(c, float(p)) for c, p in checks] for name, checks in data.get("hidden", {}).items()}


def installed_handout():
    """In a hand-out: load the recordings and return the runner's :class:`Handout`; else None."""
    hidden = hidden_checks()
    if hidden is None:
        return None
    from grader.engine.examples import BOOK
    from grader.engine.runner import Handout

    BOOK.load(handout_dir() / EXAMPLES_FILE)
    recording.load(handout_dir() / REFERENCE_FILE)
    return Handout(hidden=hidden)


# ============================================================================ building it


def build_handout(out: Path, solutions_dir: Path, checks_package: str = "grader.concepts", force: bool = False) -> ReleaseSummary:
    """Write the hand-out into ``out`` (which must not exist, or be empty, unless ``force``)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise ReleaseError(f"{out}: already exists and is not empty (use --force to replace it)")
    from grader.engine.course import load_course

    course = load_course(checks_package)
    summary = ReleaseSummary(out=out)
    public = _public_course(course)
    book, reference_calls = record_reference(public, solutions_dir)
    with tempfile.TemporaryDirectory(prefix="release-") as staging:
        stage = Path(staging) / "handout"
        _write_package(stage, course, book, solutions_dir)
        generate_exercises(solutions_dir, stage / "exercises")
        summary.notebooks = write_notebooks(stage / "notebooks", stage / "exercises")
        (stage / "README.md").write_text(student_readme(course), encoding="utf-8")
        (stage / "pyproject.toml").write_text(PYPROJECT.format(version=__version__), encoding="utf-8")
        leaks = find_solution_leaks(stage, solutions_dir)
        if leaks:
            raise ReleaseError(f"the hand-out would reveal solution code: {leaks[0]}")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(stage, out)
    summary.exercises = len(course.exercises)
    summary.public_checks = sum(len(e.checks) for e in public.exercises)
    summary.hidden_checks = sum(len(e.checks) for e in course.exercises) - summary.public_checks
    summary.examples = len(book)
    summary.reference_results = reference_calls
    summary.notebooks = [out / "notebooks" / p.name for p in summary.notebooks]
    return summary


def _public_course(course: Course) -> Course:
    exercises = [dataclasses.replace(e, checks=[c for c in e.checks if not c.hidden]) for e in course.exercises]
    return Course(exercises, {m: float(i) for i, m in enumerate(course.modules)})


@contextlib.contextmanager
def _recording_references(course: Course) -> Iterator[None]:
    """Every reference function of the course records its calls (module attributes patched)."""
    patched: list[tuple[Any, str, Any]] = []
    previous = recording.MODE["mode"]
    try:
        for exercise in course.exercises:
            module = inspect.getmodule(exercise.reference)
            original = getattr(module, exercise.function)
            patched.append((module, exercise.function, original))
            setattr(module, exercise.function, recording.recorded(exercise.name, original))
        recording.MODE["mode"] = "record"
        yield
    finally:
        recording.MODE["mode"] = previous
        for module, name, original in patched:
            setattr(module, name, original)


def record_reference(course: Course, solutions_dir: Path) -> tuple[ExampleBook, int]:
    """Grade the reference through the sandbox, recording examples and reference results."""
    from grader.engine.runner import Grader

    book = ExampleBook()
    recording.clear()
    with _recording_references(course), Grader(course, processes=1, examples=book, own_prerequisites=False) as grader:
        report = grader.grade(Path(solutions_dir), name="reference")
    if report.score != report.max_score:
        failed = [f"{e.name}: {c.name}" for e in report.exercises for c in e.checks if not c.passed]
        raise ReleaseError(f"the reference does not pass its own checks ({'; '.join(failed[:3])})")
    return book, recording.recorded_calls()


# ---------------------------------------------------------------------------- the grader package


def _write_package(stage: Path, course: Course, book: ExampleBook, solutions_dir: Path) -> None:
    import grader

    target = stage / "grader"
    shutil.copytree(Path(grader.__file__).parent, target, ignore=_not_in_handout)
    for path in sorted((target / "concepts").glob("*/checks.py")):
        path.write_text(handout_checks_source(path.read_text(encoding="utf-8")), encoding="utf-8")
    recorded = target / RECORDED
    recorded.mkdir()
    (recorded / "__init__.py").write_text(
        '"""The reference\'s results, recorded when the hand-out was made (no reference code)."""\n',
        encoding="utf-8",
    )
    for module in course.modules:
        functions = [e for e in course.exercises if e.module == module]
        (recorded / f"{module}.py").write_text(recorded_module_source(module, functions), encoding="utf-8")
    public = {(e.name, c.name) for e in course.exercises for c in e.checks if not c.hidden}
    book.save(recorded / EXAMPLES_FILE, keep=lambda key: (key[0], key[1]) in public)
    recording.save(recorded / REFERENCE_FILE)
    hidden = {
        e.name: [[c.name, c.points] for c in e.checks if c.hidden] for e in course.exercises if any(c.hidden for c in e.checks)
    }
    manifest = {"grader": __version__, "exercises": [e.name for e in course.exercises], "hidden": hidden}
    (recorded / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _not_in_handout(folder: str, names: list[str]) -> set[str]:
    """Build artefacts, and each concept's catalogue of known mistakes: wrong versions of the
    reference, so mostly the reference itself."""
    skipped = set(shutil.ignore_patterns(*SKIPPED_IN_COPY)(folder, names))
    if Path(folder).parent.name == "concepts":
        skipped |= {name for name in names if name == "mistakes.py"}
    return skipped


def recorded_module_source(module: str, exercises: list[Exercise]) -> str:
    """``grader/recorded/<module>.py``: the reference's signatures, answering from recordings."""
    lines = [
        f'"""Recorded results of the reference {module} functions (the code is not in the hand-out)."""',
        "",
        "import torch  # noqa: F401 - defaults such as dtype=torch.float32",
        "",
        "from grader.engine.recording import replayed",
    ]
    for exercise in exercises:
        signature = inspect.signature(exercise.reference)
        parameters = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
        plain = signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty)
        arguments = ", ".join(f"{p.name!r}: {p.name}" for p in parameters)
        lines += ["", "", f"def {exercise.function}{plain}:", f"    return replayed({exercise.name!r}, {{{arguments}}})"]
    return "\n".join(lines) + "\n"


def handout_checks_source(source: str) -> str:
    """A checks module as the hand-out ships it.

    The reference import points at the recordings; hidden checks are removed; the
    bodies of hypothesis strategies (``@st.composite``) become a stub, and helpers
    that nothing else uses any more are removed.
    """
    source = re.sub(r"^from solutions import", "from grader.recorded import", source, flags=re.M)
    source = re.sub(r"^from solutions\.(\w+) import", r"from grader.recorded.\1 import", source, flags=re.M)
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cuts: list[tuple[int, int, list[str]]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and _is_hidden_check(node):
            cuts.append((_first_line(node), node.end_lineno, []))
        elif isinstance(node, ast.FunctionDef) and _is_composite(node):
            stub = [
                f"def {node.name}(*args, **kwargs):\n",
                '    """Its examples were recorded when the hand-out was made."""\n',
                "    return st.nothing()\n",
            ]
            cuts.append((_first_line(node), node.end_lineno, stub))
    text = _apply_cuts(lines, cuts)
    for _ in range(10):
        pruned = _prune_unused_helpers(text)
        if pruned == text:
            break
        text = pruned
    if re.search(r"^\s*(from|import) solutions\b", text, flags=re.M):
        raise ReleaseError("a checks module imports the solutions in a way the release cannot redirect")
    return text


def _first_line(node: ast.FunctionDef) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


def _is_hidden_check(node: ast.FunctionDef) -> bool:
    return any(
        isinstance(d, ast.Call)
        and any(k.arg == "hidden" and isinstance(k.value, ast.Constant) and k.value.value is True for k in d.keywords)
        for d in node.decorator_list
    )


def _is_composite(node: ast.FunctionDef) -> bool:
    return any(ast.unparse(d).endswith("composite") for d in node.decorator_list)


def _apply_cuts(lines: list[str], cuts: list[tuple[int, int, list[str]]]) -> str:
    for start, end, replacement in sorted(cuts, reverse=True):
        lines[start - 1 : end] = replacement
    return "".join(lines)


def _prune_unused_helpers(source: str) -> str:
    """Remove undecorated top-level functions that nothing in the module refers to any more."""
    tree = ast.parse(source)
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
    exported = _exported_names(tree)
    cuts = [
        (node.lineno, node.end_lineno, [])
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and not node.decorator_list
        and node.name not in used and node.name not in exported
    ]
    return _apply_cuts(source.splitlines(keepends=True), cuts)


def _exported_names(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {ast.literal_eval(e) for e in node.value.elts}  # type: ignore[attr-defined]
    return set()


# ---------------------------------------------------------------------------- the student's files


def find_solution_leaks(folder: Path, solutions_dir: Path) -> list[str]:
    """Solution code that appears in ``folder``: 3 consecutive lines of a region, or a long line.

    Whitespace at the ends of lines is ignored; notebooks are read as their JSON text
    (cell sources are lists of lines there, so each line is searched on its own too).
    """
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".md", ".ipynb", ".toml", ".txt", ".json"):
            texts[path] = _normalised_lines(path.read_text(encoding="utf-8", errors="replace"), path.suffix)
    leaks = []
    for solution in sorted(Path(solutions_dir).glob("*.py")):
        region = solution_lines(solution.read_text(encoding="utf-8"))
        windows = [region[i : i + 3] for i in range(max(0, len(region) - 2))]
        long_lines = [line for line in region if len(line) >= 50]
        for path, lines in texts.items():
            joined = "\n".join(lines)
            for window in windows:
                if "\n".join(window) in joined:
                    leaks.append(f"{path.relative_to(folder)} contains {solution.name}'s `{window[0]}` ...")
                    break
            for line in long_lines:
                if line in lines:
                    leaks.append(f"{path.relative_to(folder)} contains {solution.name}'s `{line}`")
                    break
    return leaks


def _normalised_lines(text: str, suffix: str) -> list[str]:
    if suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
            text = "\n".join("".join(c.get("source", "")) if isinstance(c.get("source"), list) else c.get("source", "")
                             for c in cells)
        except (ValueError, AttributeError):
            pass
    return [line.strip() for line in text.splitlines() if line.strip()]


PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "transformer-exercises"
version = "{version}"
description = "Exercises on the building blocks of transformers, with a grader that checks them locally"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["torch>=2.2,<2.14", "numpy", "hypothesis>=6.100", "click>=8", "nbformat>=5", "greenlet>=3"]

[project.scripts]
grader = "grader.cli:main"

[tool.setuptools.packages.find]
include = ["grader*"]

[tool.setuptools.package-data]
grader = ["recorded/*.pkl", "recorded/*.json"]
"""


def student_readme(course: Course) -> str:
    modules = "\n".join(
        f"- `exercises/{m}.py` ({', '.join(course.functions_of(m))}), notebook `notebooks/{m}.ipynb`"
        for m in course.modules
    )
    return STUDENT_README.format(modules=modules, exercises=len(course.exercises))


STUDENT_README = """\
# Transformer building blocks: exercises

You implement {exercises} functions, the building blocks of a transformer, and check them
on your own machine as often as you like.

## Set up (once)

```bash
python3 -m venv .venv && . .venv/bin/activate
pip install .
```

## Work

Each concept is a module with stub functions; its docstrings give the shapes, the
formula and the classic pitfall. Work in the module, or in its notebook (same stubs,
with the concept explained and a cell that checks your work):

{modules}

The notebooks need Jupyter, which this project does not install (`pip install notebook`,
then `jupyter notebook notebooks/`); each notebook finds `exercises/` one folder up.

Replace each `raise NotImplementedError(...)` with your code, then check:

```bash
grader check                      # grades ./exercises and explains what to fix
grader check -e attention         # one module (or -e attention.softmax)
grader check my_notebook.ipynb    # a notebook whose code cells define the functions
grader list                       # the exercises and their points
```

## What the local check can and cannot tell you

- It runs the same public checks as the official grader, on the inputs recorded when
  this hand-out was made, and compares with the reference's recorded results. The
  reference code itself is not in this folder.
- A failure shows the first recorded input that fails. The official grader shrinks it to
  the smallest failing input, so its report may show a simpler one.
- Your own functions are used everywhere here: if your `softmax` is wrong, your
  attention fails too. The official grader substitutes correct versions of the
  functions an exercise builds on, so each mistake costs points only once.
- Hidden checks are not run here; the report lists them as "not run locally" and counts
  them in the maximum, so a full local score is never shown as "all passed" when the
  official grade may differ.
"""

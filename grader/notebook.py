"""Grade, from inside a Jupyter notebook, the functions that notebook defines.

In a concept's notebook the last cell is::

    from grader.notebook import check
    check("attention")

:func:`check` takes the concept's functions from the running kernel (the caller's
globals), recovers their source (IPython keeps every cell's text in :mod:`linecache`, so
:func:`inspect.getsource` works for functions defined in cells), and writes them into a
temporary ``attention.py``: the stub module's imports first, then the helpers the
functions use, then the functions. That folder is graded by ``python -m grader check DIR
-e attention`` in a subprocess, with the same sandbox and the same feedback as on the
command line; its report is printed.

Helpers are found by following names: every global a function refers to is looked up in
that function's globals and becomes

- its source, for a function or class defined in the notebook (followed in turn);
- an import, for a module (``F`` -> ``import torch.nn.functional as F``) or for a
  function or class imported from a module (``from math import sqrt``);
- an assignment, for a constant that can be written down (``EPS = 1e-09``).

Names the stub imports itself are never replaced: a prerequisite imported from a sibling
exercise (``from .attention import scaled_dot_product_attention`` in ``multihead``) stays
an import, so while grading, the grader supplies its correct version, as it does for
``grader check``.

Whatever goes wrong, :func:`check` prints one line that says what and never raises at
the student.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import inspect
import linecache
import os
import subprocess
import sys
import symtable
import tempfile
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

from grader.commands.handout_notebooks import exercise_names, sibling_imports, stub_preamble

__all__ = ["check", "module_from_namespace"]

#: Seconds the grading subprocess may run before it is stopped.
GRADING_TIMEOUT = 600
#: The folder name the temporary submission gets (it names the report).
SUBMISSION_NAME = "notebook"
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the stub module


def stub_source(concept: str) -> str | None:
    """The text of ``exercises/<concept>.py``, or None if there is no such concept.

    Looked up first as the importable ``exercises`` package (the hand-out installs it),
    then next to this grader (a source checkout).
    """
    if not concept.isidentifier():
        return None
    candidates = []
    try:
        spec = importlib.util.find_spec(f"exercises.{concept}")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin))
    candidates.append(_PROJECT_ROOT / "exercises" / f"{concept}.py")
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


def known_concepts() -> list[str]:
    """The concept names that :func:`stub_source` can find."""
    folders = [_PROJECT_ROOT / "exercises"]
    try:
        spec = importlib.util.find_spec("exercises")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) for p in spec.submodule_search_locations]
    return sorted({p.stem for folder in folders for p in folder.glob("*.py") if not p.stem.startswith("__")})


# --------------------------------------------------------------------------- sources of definitions


def _bound_at_top(source: str) -> set[str]:
    """Names that a piece of module-level code binds (defs, classes, assignments, imports)."""
    table = symtable.symtable(source, "<notebook>", "exec")
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}


def global_names(source: str) -> set[str]:
    """The names a piece of module-level code reads from its globals.

    Uses :mod:`symtable`, so local variables, parameters and attributes (``x.shape``) are
    not mistaken for globals, however the notebook happens to name its own variables.
    """
    top = symtable.symtable(source, "<notebook>", "exec")
    names = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    pending = list(top.get_children())
    while pending:
        table = pending.pop()
        names |= {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
        pending.extend(table.get_children())
    return names - _bound_at_top(source)


def _class_source_from_methods(cls: type) -> str | None:
    """A class's source found through its methods' code (``getsource`` fails in notebooks)."""
    for attribute in vars(cls).values():
        function = getattr(attribute, "__func__", attribute)
        function = getattr(function, "fget", function)
        code = getattr(function, "__code__", None)
        if code is None:
            continue
        text = "".join(linecache.getlines(code.co_filename))
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if start <= code.co_firstlineno <= (node.end_lineno or start):
                    return "".join(text.splitlines(keepends=True)[start - 1 : node.end_lineno])
    return None


def definition_source(value: object) -> str | None:
    """The dedented source text that defines a function or class, or None if unavailable."""
    try:
        source = inspect.getsource(value)  # type: ignore[arg-type]
    except (OSError, TypeError):
        source = _class_source_from_methods(value) if isinstance(value, type) else None
    if not source:
        return None
    source = textwrap.dedent(source)
    try:
        ast.parse(source)
    except SyntaxError:  # e.g. a lambda in the middle of a larger expression
        return None
    return source.rstrip() + "\n"


# --------------------------------------------------------------------------- one module from a namespace


@dataclass
class NotebookModule:
    """The module rebuilt from a kernel, and what the student should know about it."""

    concept: str
    preamble: list[str]
    imports: list[str] = field(default_factory=list)
    constants: list[str] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)  # in the order they were found
    functions: list[str] = field(default_factory=list)  # the exercise functions found
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The module's source: preamble, imports, constants, helpers (dependencies first)."""
        blocks = [
            "# Written by grader.notebook.check from the functions defined in a notebook.",
            "\n".join(self.preamble),
            "\n".join(self.imports),
            "\n".join(self.constants),
            *reversed(self.helpers),
            *self.functions,
        ]
        return "\n\n\n".join(block.rstrip("\n") for block in blocks if block.strip()) + "\n"


def _defined_in(value: object, namespace: dict) -> bool:
    """Whether a function or class was defined in the code that owns ``namespace``."""
    return getattr(value, "__module__", None) == namespace.get("__name__", "__main__")


def _import_line(name: str, value: object) -> str | None:
    """An import statement that binds ``name`` to ``value`` again, or None."""
    if isinstance(value, types.ModuleType):
        module = value.__name__
        return f"import {module}" if module == name else f"import {module} as {name}"
    module_name = getattr(value, "__module__", None)
    attribute = getattr(value, "__name__", None)
    if not module_name or not attribute or module_name in ("__main__", "builtins"):
        return None
    owner = sys.modules.get(module_name)
    if owner is None or getattr(owner, attribute, None) is not value:
        return None
    suffix = "" if attribute == name else f" as {name}"
    return f"from {module_name} import {attribute}{suffix}"


def _constant_line(name: str, value: object) -> str | None:
    """``name = <literal>`` for a value that a literal writes down exactly, or None."""
    if not isinstance(value, (int, float, complex, str, bytes, bool, type(None), tuple, list, dict, set, frozenset)):
        return None
    text = repr(value)
    if len(text) > 10_000:
        return None
    try:
        if ast.literal_eval(text) != value:
            return None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return f"{name} = {text}"


class _ModuleBuilder:
    """Follows the names a concept's functions use and collects what defines them."""

    def __init__(self, concept: str, stub: str, reserved: list[str]) -> None:
        self.module = NotebookModule(concept, stub_preamble(stub))
        self.siblings = sibling_imports(stub)
        #: Names already bound in the module: the preamble's, and the exercise functions
        #: (added by ``add_exercise``, never as someone's helper).
        self.taken = _bound_at_top("\n".join(self.module.preamble)) | {"__name__", "__file__", *reserved}

    def add_exercise(self, name: str, namespace: dict) -> None:
        """Add the exercise function ``name`` as the notebook defines it (or say why not)."""
        qualified = f"{self.module.concept}.{name}"
        if name not in namespace:
            self.module.notes.append(f"{qualified} is not defined in this notebook: run its cell first")
            return
        value = namespace[name]
        is_function = callable(value) and not isinstance(value, type)
        source = self._source_binding(name, value) if is_function else None
        if source is None:
            self.module.notes.append(
                f"{qualified}: its source code is not available; define it with `def {name}(...)` "
                "in a cell of this notebook and run that cell"
            )
            return
        self.module.functions.append(source)
        self._follow(source, value, namespace)

    def _source_binding(self, name: str, value: object) -> str | None:
        """Source text that binds ``name`` to a definition of ``value`` (a function or class), or None."""
        source = definition_source(value)
        if source is None:
            return None
        bound = _bound_at_top(source)
        if name in bound:
            return source
        own_name = getattr(value, "__name__", "")
        if own_name.isidentifier() and own_name in bound:
            self.taken.add(own_name)
            return f"{source}\n{name} = {own_name}\n"  # def my_softmax(...); softmax = my_softmax
        return None

    def _follow(self, source: str, owner: object, fallback: dict) -> None:
        """Resolve every global ``source`` reads, in the globals of ``owner`` (its function)."""
        namespace = getattr(owner, "__globals__", fallback)
        for name in sorted(global_names(source)):
            if name in self.taken:
                self._note_shadowed_prerequisite(name, namespace)
                continue
            self.taken.add(name)
            self._resolve(name, namespace)

    def _note_shadowed_prerequisite(self, name: str, namespace: dict) -> None:
        module = self.siblings.get(name)
        value = namespace.get(name)
        note = (
            f"note: {self.module.concept} is graded with the course's correct `{name}` (from "
            f"{module}), not the one defined in this notebook"
        )
        if module and value is not None and _defined_in(value, namespace) and note not in self.module.notes:
            self.module.notes.append(note)

    def _resolve(self, name: str, namespace: dict) -> None:
        if name not in namespace:
            if not hasattr(builtins, name):
                self.module.notes.append(f"warning: `{name}` is used but not defined in this notebook")
            return
        value = namespace[name]
        if isinstance(value, (types.FunctionType, type)) and _defined_in(value, namespace):
            source = self._source_binding(name, value)
            if source is not None:
                self.module.helpers.append(source)
                self._follow(source, value, namespace)
                return
            self.module.notes.append(f"warning: the source of `{name}` is not available, so it is left out")
            return
        line = _import_line(name, value) or _constant_line(name, value)
        if line is None:
            kind = type(value).__name__
            self.module.notes.append(
                f"warning: `{name}` (a {kind}) is a global the grader cannot copy; create it inside the function"
            )
        elif line.startswith(("import ", "from ")):
            self.module.imports.append(line)
        else:
            self.module.constants.append(line)


def module_from_namespace(concept: str, stub: str, namespace: dict) -> NotebookModule:
    """Rebuild ``<concept>.py`` from the functions (and their helpers) in ``namespace``.

    Args:
        concept: the concept's module name, e.g. ``"masks"``.
        stub: the text of ``exercises/<concept>.py`` (its imports and constants are kept).
        namespace: the globals of the notebook (a kernel's user namespace).

    Returns:
        The rebuilt module; ``functions`` is empty when none of the concept's functions
        could be recovered, and ``notes`` says why.
    """
    names = exercise_names(stub)
    builder = _ModuleBuilder(concept, stub, reserved=names)
    for name in names:
        builder.add_exercise(name, namespace)
    return builder.module


# --------------------------------------------------------------------------- grading it


def _grader_environment() -> dict[str, str]:
    """The subprocess's environment: no colours, and this very grader importable."""
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    if _PROJECT_ROOT.name not in ("site-packages", "dist-packages"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


def grade_module(concept: str, text: str) -> str:
    """Grade one module's text with ``python -m grader check`` and return what to print."""
    with tempfile.TemporaryDirectory(prefix="grader-notebook-") as scratch:
        folder = Path(scratch) / SUBMISSION_NAME
        folder.mkdir()
        (folder / f"{concept}.py").write_text(text, encoding="utf-8")
        command = [sys.executable, "-m", "grader", "check", str(folder), "-e", concept]
        try:
            result = subprocess.run(
                command, cwd=scratch, env=_grader_environment(), capture_output=True,
                text=True, encoding="utf-8", errors="replace", timeout=GRADING_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return f"check: grading took longer than {GRADING_TIMEOUT} s and was stopped\n"
    output = result.stdout
    if result.returncode != 0:
        problem = next((line for line in reversed(result.stderr.splitlines()) if line.strip()), "")
        output += f"check: the grader could not run (exit status {result.returncode}): {problem}\n"
    return output


def _check(concept: str, namespace: dict) -> None:
    stub = stub_source(concept)
    if stub is None:
        known = ", ".join(known_concepts()) or "none found"
        print(f"check: unknown concept {concept!r}; the concepts are: {known}")
        return
    module = module_from_namespace(concept, stub, namespace)
    for note in module.notes:
        print(note)
    if not module.functions:
        print(f"check: nothing to grade: none of the {concept} functions could be read (see above)")
        return
    print(grade_module(concept, module.text), end="")


def check(concept: str, namespace: dict | None = None) -> None:
    """Grade the functions of ``concept`` as the running notebook defines them, and print the report.

    Args:
        concept: the concept's module name, e.g. ``"attention"`` (``grader list`` shows them).
        namespace: where the functions live; by default the caller's globals, which in a
            notebook is the kernel's namespace.

    Prints the same report as ``grader check -e <concept>``. Never raises: a problem (an
    unknown concept, a function whose source cannot be found, the grader failing to
    start) is printed as one line.
    """
    if namespace is None:
        frame = inspect.currentframe()
        caller = frame.f_back if frame is not None else None
        namespace = caller.f_globals if caller is not None else {}
        del frame, caller
    try:
        _check(concept, namespace)
    except KeyboardInterrupt:
        print("check: interrupted")
    except Exception as error:  # noqa: BLE001 - the promise is: one line, no traceback
        print(f"check: could not grade {concept!r}: {type(error).__name__}: {error}")

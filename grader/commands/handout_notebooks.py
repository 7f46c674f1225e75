"""Jupyter notebooks for the student hand-out: one worksheet per concept.

A concept's notebook is built from its stub module, ``exercises/<concept>.py`` (itself
generated from ``solutions/<concept>.py`` by :mod:`grader.commands.authoring`), so notebooks, stubs
and solutions cannot drift apart. It reads from top to bottom:

1. the title and the concept explained: the module docstring, written in Markdown
   (shapes, formulas, a table or a picture);
2. a code cell with the module's imports (and constants such as type aliases);
3. for each exercise function, a Markdown cell that says what to implement (converted
   from the function's docstring) and a code cell holding the stub to fill in;
4. a code cell that grades what the running kernel defines:
   ``from grader.notebook import check; check("<concept>")``.

The helpers that read a stub module (:func:`stub_functions`, :func:`stub_preamble`,
:func:`exercise_names`) are shared with :mod:`grader.notebook`, which rebuilds a module from
a kernel's functions. They need nothing but the standard library; ``nbformat`` is imported
only to build notebooks.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbformat import NotebookNode

__all__ = [
    "StubFunction",
    "concept_notebook",
    "docstring_markdown",
    "exercise_names",
    "sibling_imports",
    "stub_functions",
    "stub_preamble",
    "write_notebooks",
]

#: The package students import sibling modules from (``from exercises.attention import ...``).
PACKAGE = "exercises"

# --------------------------------------------------------------------------- reading a stub


@dataclass(frozen=True)
class StubFunction:
    """One exercise function of a stub module, as text."""

    name: str
    signature: str  #: the ``def`` line(s), up to and including the colon
    docstring: str  #: cleaned (``inspect.cleandoc``)
    source: str  #: decorators, signature, docstring and the stub body


def _segment(lines: list[str], first: int, last: int) -> str:
    """Lines ``first..last`` (1-based, inclusive) of a source, without the final newline."""
    return "".join(lines[first - 1 : last]).rstrip("\n")


def stub_functions(stub_source: str) -> list[StubFunction]:
    """The top-level functions of a stub module, in file order."""
    lines = stub_source.splitlines(keepends=True)
    functions = []
    for node in ast.parse(stub_source).body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        body_start = node.body[0].lineno
        functions.append(
            StubFunction(
                name=node.name,
                signature=_segment(lines, node.lineno, body_start - 1),
                docstring=ast.get_docstring(node) or "",
                source=_segment(lines, start, node.end_lineno or node.lineno),
            )
        )
    return functions


def exercise_names(stub_source: str) -> list[str]:
    """The exercise functions of a stub module: its ``__all__``, else its public functions."""
    tree = ast.parse(stub_source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            try:
                return [str(name) for name in ast.literal_eval(node.value)]
            except ValueError:
                break
    return [f.name for f in stub_functions(stub_source) if not f.name.startswith("_")]


def _is_all_assignment(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and any(
        isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
    )


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _absolute_import(node: ast.ImportFrom) -> str:
    """``from .attention import f`` as ``from exercises.attention import f``."""
    parts = [PACKAGE] + ([node.module] if node.module else [])
    absolute = ast.ImportFrom(module=".".join(parts), names=node.names, level=0)
    return ast.unparse(absolute)


def stub_preamble(stub_source: str, *, absolute_imports: bool = False) -> list[str]:
    """The module-level statements of a stub besides its docstring, ``__all__`` and defs.

    These are the imports and the constants (such as ``StepFn = Callable[...]``) that the
    functions rely on, each as its source text. With ``absolute_imports`` a relative import
    of a sibling (``from .attention import f``) becomes ``from exercises.attention import f``,
    which also works outside the package, in a notebook.
    """
    lines = stub_source.splitlines(keepends=True)
    tree = ast.parse(stub_source)
    statements = []
    for index, node in enumerate(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if (index == 0 and _is_docstring(node)) or _is_all_assignment(node):
            continue
        if absolute_imports and isinstance(node, ast.ImportFrom) and node.level > 0:
            statements.append(_absolute_import(node))
        else:
            statements.append(_segment(lines, node.lineno, node.end_lineno or node.lineno))
    return statements


def sibling_imports(stub_source: str) -> dict[str, str]:
    """Names a stub imports from sibling exercise modules: ``{name: module}``."""
    found = {}
    for node in ast.parse(stub_source).body:
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        if node.level > 0:
            sibling = module
        elif module.startswith(PACKAGE + "."):
            sibling = module[len(PACKAGE) + 1 :]
        else:
            continue
        for alias in node.names:
            found[alias.asname or alias.name] = sibling
    return found


# --------------------------------------------------------------------------- docstrings to Markdown

#: Docstring section labels (``Args:``, ``Formula (in order):``, ...) that get their own block.
SECTION_LABELS = {
    "Args", "Arguments", "Returns", "Raises", "Yields", "Example", "Examples",
    "Formula", "Intuition", "Pitfall", "Pitfalls", "Algorithm", "Note", "Notes",
}
_LABEL = re.compile(r"^(?P<label>[A-Z][a-z]+)(?P<extra>\s*\([^)]*\))?:(?:\s+(?P<rest>.*))?$")
_ITEM = re.compile(r"^(?P<names>\w+(?:\s*,\s*\w+)*):\s*(?P<text>.*)$")
_RST_CODE = re.compile(r"(?<!`)``([^`\n]+)``(?!`)")
#: Sections listing named items (one bullet per ``name: text`` line).
_ITEM_SECTIONS = {"Args", "Arguments", "Raises"}
#: Sections whose indented lines are kept verbatim, as a code block.
_CODE_SECTIONS = {"Example", "Examples", "Formula", "Algorithm"}


@dataclass
class _Section:
    label: str | None  # None for a plain paragraph
    extra: str  # a parenthesised remark after the label, e.g. "(in this order)"
    head: list[str]  # lines at the left margin
    body: list[str]  # indented lines, with their indentation


def _split_sections(doc: str) -> list[_Section]:
    """Cut a cleaned docstring into paragraphs and labelled sections."""
    sections: list[_Section] = []
    current: _Section | None = None
    after_blank = False
    for line in doc.splitlines():
        if not line.strip():
            after_blank = True
            continue
        if line[0].isspace():  # indented: the body of the current section or paragraph
            if current is None:
                current = _Section(None, "", [], [])
                sections.append(current)
            current.body.append(line)
        elif (match := _LABEL.match(line)) and match.group("label") in SECTION_LABELS:
            rest = match.group("rest")
            extra = (match.group("extra") or "").strip()
            current = _Section(match.group("label"), extra, [rest] if rest else [], [])
            sections.append(current)
        elif current is None or after_blank or current.body:
            current = _Section(None, "", [line], [])
            sections.append(current)
        else:  # the wrapped continuation of the current line of text
            current.head.append(line)
        after_blank = False
    return sections


def _inline(text: str) -> str:
    """RST's ``code`` as Markdown's `code`, outside fenced code blocks."""
    lines, in_fence = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            line = _RST_CODE.sub(lambda m: f"`{m.group(1)}`", line)
        lines.append(line)
    return "\n".join(lines)


def _dedent(lines: list[str]) -> list[str]:
    width = min(len(line) - len(line.lstrip()) for line in lines)
    return [line[width:] for line in lines]


def _bullets(lines: list[str]) -> list[str]:
    """``name: text`` lines (continued by deeper lines) as Markdown bullets."""
    bullets: list[str] = []
    for line in _dedent(lines):
        item = _ITEM.match(line)
        if item and not line[0].isspace():
            names = ", ".join(f"`{name.strip()}`" for name in item.group("names").split(","))
            bullets.append(f"- {names}: {_inline(item.group('text'))}")
        elif bullets:
            bullets[-1] += " " + _inline(line.strip())
        else:
            bullets.append(f"- {_inline(line.strip())}")
    return bullets


def _render_section(section: _Section) -> str:
    head = " ".join(_inline(line.strip()) for line in section.head)
    if section.label is None:
        paragraph = head
        if section.body:
            paragraph += "\n\n```\n" + "\n".join(_dedent(section.body)) + "\n```"
        return paragraph.strip()
    title = f"**{section.label}**" + (f" {_inline(section.extra)}" if section.extra else "")
    if section.label in _ITEM_SECTIONS:
        items = ([head] if head else []) + _bullets(section.body)
        return title + "\n\n" + "\n".join(items)
    if section.label in _CODE_SECTIONS and section.body:
        lead = f"{title}: {head}" if head else f"{title}:"
        return lead + "\n\n```\n" + "\n".join(_dedent(section.body)) + "\n```"
    text = " ".join([head, *(_inline(line.strip()) for line in section.body)]).strip()
    return f"{title}: {text}"


def docstring_markdown(doc: str) -> str:
    """A Google-style docstring as Markdown.

    ``Args:`` and ``Raises:`` become bullet lists, indented formulas and examples become
    code blocks, ``Pitfall: ...`` and the like become bold labels, and RST's
    double-backtick code becomes Markdown's single-backtick code.
    """
    return "\n\n".join(_render_section(s) for s in _split_sections(inspect.cleandoc(doc)))


# --------------------------------------------------------------------------- building a notebook


def _title_and_explanation(module: str, docstring: str) -> tuple[str, str]:
    """The title line and the Markdown body of a module docstring."""
    first, _, rest = inspect.cleandoc(docstring).partition("\n")
    title = first.strip().rstrip(".") or module
    return title, _inline(rest.strip())


def _title_cell(module: str, title: str, functions: list[str]) -> str:
    """``# Heading``, the subtitle after the title's colon, and how to work through the notebook."""
    heading, _, subtitle = title.partition(": ")
    listed = ", ".join(f"`{module}.{name}`" for name in functions)
    lines = [f"# {heading}", ""]
    if subtitle:
        lines += [f"*{subtitle[0].upper() + subtitle[1:]}.*", ""]
    lines += [
        f"Exercises in this notebook: {listed}.",
        "",
        "Run the cells from the top. In each exercise cell, replace "
        "`raise NotImplementedError(...)` with your code and run the cell again; "
        "the last cell grades the functions as this notebook defines them and explains "
        "what to fix.",
    ]
    return "\n".join(lines)


def _imports_cell_markdown(module: str, stub_source: str) -> str:
    siblings = sibling_imports(stub_source)
    text = "## Setup\n\nThe imports the exercises use."
    if siblings:
        names = ", ".join(f"`{name}`" for name in siblings)
        modules = ", ".join(sorted({f"`exercises/{m}.py`" for m in siblings.values()}))
        text += (
            f"\n\n{names} comes from an earlier exercise ({modules}). Until your version "
            "there works, calling it raises `NotImplementedError`; you may define it in a "
            "cell of this notebook instead. Either way, the check at the end grades this "
            f"notebook's functions with a correct version of {names}, so a mistake there "
            f"costs no points in `{module}`."
        )
    return text


def _imports_cell_code(stub_source: str) -> str:
    """The stub's imports and constants, with a blank line after a ``__future__`` import."""
    statements = stub_preamble(stub_source, absolute_imports=True)
    if sibling_imports(stub_source):
        position = 1 if statements and statements[0].startswith("from __future__") else 0
        statements[position:position] = [
            "import os",
            "import sys",
            'sys.path.insert(0, os.path.abspath(".."))  # the hand-out folder, where exercises/ lives',
        ]
    text = "\n".join(statements)
    if statements and statements[0].startswith("from __future__"):
        text = statements[0] + "\n\n" + "\n".join(statements[1:])
    return text


def _exercise_markdown(module: str, index: int, function: StubFunction) -> str:
    return (
        f"## {index}. `{module}.{function.name}`\n\n"
        f"```python\n{function.signature}\n```\n\n"
        f"{docstring_markdown(function.docstring)}"
    )


def _check_cells(module: str) -> tuple[str, str]:
    markdown = (
        "## Check your work\n\n"
        "Run this cell after the cells above. It grades the functions exactly as this "
        "notebook defines them now (in a separate, sandboxed process) and tells you which "
        "property failed, on which smallest input, and what to look at. It never changes "
        f"your notebook. From a terminal, `grader check -e {module}` runs the same checks on "
        f"`exercises/{module}.py`."
    )
    code = f'from grader.notebook import check\n\ncheck("{module}")'
    return markdown, code


def concept_notebook(module: str, stub_source: str) -> NotebookNode:
    """The worksheet notebook of one concept, built from its stub module's text.

    Args:
        module: the concept's module name, e.g. ``"attention"``.
        stub_source: the text of ``exercises/<module>.py``.

    Returns:
        An nbformat v4 notebook: title, explanation (the module docstring), the imports,
        then for each exercise function a Markdown cell and a code cell with its stub, and
        finally a check cell. Cell ids are deterministic, so a release is reproducible.
    """
    import nbformat.v4 as v4

    docstring = ast.get_docstring(ast.parse(stub_source), clean=True) or ""
    title, explanation = _title_and_explanation(module, docstring)
    wanted = exercise_names(stub_source)
    functions = [f for f in stub_functions(stub_source) if f.name in wanted]
    cells = [v4.new_markdown_cell(_title_cell(module, title, [f.name for f in functions]))]
    if explanation:
        cells.append(v4.new_markdown_cell(explanation))
    cells.append(v4.new_markdown_cell(_imports_cell_markdown(module, stub_source)))
    cells.append(v4.new_code_cell(_imports_cell_code(stub_source)))
    for index, function in enumerate(functions, start=1):
        cells.append(v4.new_markdown_cell(_exercise_markdown(module, index, function)))
        cells.append(v4.new_code_cell(function.source))
    check_markdown, check_code = _check_cells(module)
    cells += [v4.new_markdown_cell(check_markdown), v4.new_code_cell(check_code)]
    for number, cell in enumerate(cells):
        cell["id"] = f"{module}-{number:02d}"
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata.update(
        {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
    )
    return notebook


def write_notebooks(out_dir: Path, exercises_dir: Path) -> list[Path]:
    """Write ``<concept>.ipynb`` into ``out_dir`` for every stub module in ``exercises_dir``.

    Every module but ``__init__.py`` is a concept. Each notebook is checked with
    ``nbformat.validate`` before it is written. Returns the written paths, sorted by name.
    """
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stub in sorted(Path(exercises_dir).glob("*.py")):
        if stub.stem.startswith("__"):
            continue
        notebook = concept_notebook(stub.stem, stub.read_text(encoding="utf-8"))
        nbformat.validate(notebook)
        target = out_dir / f"{stub.stem}.ipynb"
        with open(target, "w", encoding="utf-8", newline="\n") as handle:
            nbformat.write(notebook, handle)
        written.append(target)
    return written

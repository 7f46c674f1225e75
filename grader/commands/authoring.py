"""Generate the student stubs in ``exercises/`` from the reference ``solutions/``.

A reference module marks each solution with comment lines::

    def softmax(x, dim=-1):
        \"\"\"Docstring shared with the students.\"\"\"
        # BEGIN SOLUTION
        ...reference code...
        # END SOLUTION

or, for a one-line body, a trailing ``# SOLUTION`` comment. :func:`strip_solutions`
replaces each region (markers included) with the stub text at the same indentation::

        # TODO: implement (see the docstring above).
        raise NotImplementedError("attention.softmax is not implemented yet")

Everything outside the regions (imports, signatures, docstrings, helpers) is copied
unchanged, so stubs and solutions cannot drift apart.

Command line (from the repository root)::

    python -m grader.commands.authoring           # regenerate exercises/ from solutions/
    python -m grader.commands.authoring --check   # write nothing; exit 1 if out of sync
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

__all__ = [
    "EXERCISES_INIT",
    "generate_exercises",
    "render_exercises",
    "solution_lines",
    "strip_solutions",
    "stub_lines",
]

#: The text of ``exercises/__init__.py`` (the solutions' ``__init__`` is not copied).
EXERCISES_INIT = (
    '"""Student stubs for the transformer-building-blocks exercises.\n'
    "\n"
    "Replace every ``raise NotImplementedError`` with your implementation, following the\n"
    "docstrings, then run ``grader check`` to see how you are doing.\n"
    '"""\n'
)

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)#\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^(?P<indent>[ \t]*)#\s*END SOLUTION\s*$")
_ONE_LINE = re.compile(r"^(?P<indent>[ \t]*)\S.*#\s*SOLUTION\s*$")
_DEF = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?def[ \t]+(?P<name>\w+)[ \t]*\(")


def stub_lines(indent: str, module: str, function: str, newline: str = "\n") -> list[str]:
    """The stub text that replaces one solution region, as lines ending in ``newline``."""
    return [
        f"{indent}# TODO: implement (see the docstring above).{newline}",
        f'{indent}raise NotImplementedError("{module}.{function} is not implemented yet"){newline}',
    ]


def _indent_width(indent: str) -> int:
    return len(indent.expandtabs(8))


def _enclosing_function(lines: list[str], index: int, indent: str) -> str:
    """Name of the nearest ``def`` above ``lines[index]`` indented less than ``indent``."""
    width = _indent_width(indent)
    for line in reversed(lines[:index]):
        match = _DEF.match(line)
        if match and _indent_width(match.group("indent")) < width:
            return match.group("name")
    raise ValueError(f"line {index + 1}: solution marker is not inside a function")


def _newline_of(line: str) -> str:
    for ending in ("\r\n", "\n", "\r"):
        if line.endswith(ending):
            return ending
    return "\n"


def strip_solutions(source: str, module: str) -> str:
    """Replace every solution region of ``source`` with the stub text.

    Args:
        source: the text of a reference module.
        module: the module name used in the ``NotImplementedError`` message
            (``"attention"`` gives ``"attention.softmax is not implemented yet"``).

    Returns:
        The stub module's text. Regions between ``# BEGIN SOLUTION`` and
        ``# END SOLUTION`` (markers included), and single lines ending in
        ``# SOLUTION``, become two lines at the marker's indentation: a TODO comment and
        ``raise NotImplementedError("<module>.<function> is not implemented yet")``,
        where ``<function>`` is the enclosing ``def``.

    Raises:
        ValueError: for a nested or unterminated region, an ``END`` without ``BEGIN``,
            or a marker outside any function.
    """
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    begin_line: int | None = None
    for index, line in enumerate(lines):
        text = line.rstrip("\r\n")
        if begin_line is not None:
            if _BEGIN.match(text):
                raise ValueError(
                    f"{module}: line {index + 1}: '# BEGIN SOLUTION' nested inside the "
                    f"region opened at line {begin_line + 1}"
                )
            if _END.match(text):
                begin_line = None
            continue
        begin = _BEGIN.match(text)
        if begin:
            indent = begin.group("indent")
            function = _enclosing_function(lines, index, indent)
            out.extend(stub_lines(indent, module, function, _newline_of(line)))
            begin_line = index
            continue
        if _END.match(text):
            raise ValueError(f"{module}: line {index + 1}: '# END SOLUTION' without a BEGIN")
        one_line = _ONE_LINE.match(text)
        if one_line:
            indent = one_line.group("indent")
            function = _enclosing_function(lines, index, indent)
            out.extend(stub_lines(indent, module, function, _newline_of(line)))
            continue
        out.append(line)
    if begin_line is not None:
        raise ValueError(
            f"{module}: '# BEGIN SOLUTION' at line {begin_line + 1} has no '# END SOLUTION'"
        )
    return "".join(out)


def solution_lines(source: str) -> list[str]:
    """The code lines inside solution regions (stripped), what a hand-out must never contain."""
    found: list[str] = []
    inside = False
    for line in source.splitlines():
        if _BEGIN.match(line):
            inside = True
        elif _END.match(line):
            inside = False
        elif inside:
            found.append(line.strip())
        elif _ONE_LINE.match(line):
            found.append(re.sub(r"#\s*SOLUTION\s*$", "", line).strip())
    return [line for line in found if line and not line.startswith("#")]


def render_exercises(solutions_dir: Path) -> dict[str, str]:
    """The text of every stub file, keyed by file name, for the ``*.py`` in ``solutions_dir``.

    ``__init__.py`` becomes :data:`EXERCISES_INIT`; every other module goes through
    :func:`strip_solutions` with its file stem as the module name.
    """
    rendered: dict[str, str] = {}
    for path in sorted(Path(solutions_dir).glob("*.py")):
        if path.name == "__init__.py":
            rendered[path.name] = EXERCISES_INIT
        else:
            source = path.read_text(encoding="utf-8")
            rendered[path.name] = strip_solutions(source, path.stem)
    return rendered


def generate_exercises(solutions_dir: Path, exercises_dir: Path) -> list[Path]:
    """Write the stub of every ``*.py`` in ``solutions_dir`` into ``exercises_dir``.

    Creates ``exercises_dir`` if needed, overwrites existing stubs, leaves other files
    alone and returns the written paths (sorted by name).
    """
    exercises_dir = Path(exercises_dir)
    exercises_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in render_exercises(Path(solutions_dir)).items():
        target = exercises_dir / name
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        written.append(target)
    return written


def out_of_sync(solutions_dir: Path, exercises_dir: Path) -> list[Path]:
    """Stub files in ``exercises_dir`` that are missing or differ from the generated text."""
    stale: list[Path] = []
    for name, text in render_exercises(Path(solutions_dir)).items():
        target = Path(exercises_dir) / name
        try:
            current = target.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current != text:
            stale.append(target)
    return stale


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m grader.commands.authoring",
        description="Regenerate the student stubs in exercises/ from solutions/.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the files that are out of sync",
    )
    args = parser.parse_args(argv)
    root = _repo_root()
    solutions_dir, exercises_dir = root / "solutions", root / "exercises"
    try:
        if args.check:
            stale = out_of_sync(solutions_dir, exercises_dir)
            if stale:
                print("exercises/ is out of sync with solutions/:", file=sys.stderr)
                for path in stale:
                    print(f"  {path.relative_to(root)}", file=sys.stderr)
                print("run: python -m grader.commands.authoring", file=sys.stderr)
                return 1
            print("exercises/ is in sync with solutions/")
            return 0
        written = generate_exercises(solutions_dir, exercises_dir)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Turn what a student hands in (folder, zip, notebook) into modules the worker can load.

Everything is copied into a private folder first, so the worker never reads the
original location (which may sit next to the reference solutions) and a zip cannot
write outside its folder.
"""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
MAX_NOTEBOOK_BYTES = MAX_TOTAL_BYTES  # stored outputs (plots) make notebooks large
MAX_ZIP_ENTRIES = 2000
MAX_DUPLICATE_NOTES = 5

# IPython syntax in code cells. A shell escape is ``!`` not followed by ``=`` (``!=`` may
# start a continued line); a magic is ``%`` or ``%%`` followed by a name (``% b`` is a
# continued modulo).
_SHELL_OR_MAGIC = r"(?:!(?!=)|%{1,2}[A-Za-z_])"
SHELL_OR_MAGIC = re.compile(rf"^\s*(?:{_SHELL_OR_MAGIC}|\w+(?:\s*,\s*\w+)*\s*=\s*{_SHELL_OR_MAGIC})")
ASSIGNED_FROM_SHELL = re.compile(rf"^(\s*)([A-Za-z_]\w*)\s*=\s*{_SHELL_OR_MAGIC}")  # files = !ls
TIMED_STATEMENT = re.compile(r"^(\s*)%time\s+(\S.*)$")  # %time y = f(x) runs y = f(x)
HELP_REQUEST = re.compile(r"^\s*(?:\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")  # softmax? / ??softmax
PACKAGE_MANAGER = re.compile(r"^\s*(?:pip|pip3|conda|mamba)\s+(?:install|uninstall|list|show|freeze)\b")  # automagic
GRADER_IMPORT = re.compile(r"^(?:from\s+grader(?:\.\w+)*\s+import\s+(.+)|import\s+(grader(?:\.\w+)*(?:\s+as\s+\w+)?))$")
CALL = re.compile(r"^([A-Za-z_][\w.]*)\s*\(.*\)$")
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "python", "python3", "debug"}
TOP_LEVEL_DEFINITION = re.compile(r"^(?:async[ \t]+def|def|class)[ \t]+([A-Za-z_]\w*)", re.MULTILINE)
TOP_LEVEL_BINDING = re.compile(
    r"^(?:(?:async[ \t]+def|def|class)[ \t]+([A-Za-z_]\w*)|([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=))", re.MULTILINE
)


class SubmissionError(Exception):
    """The submission cannot be read at all; the message is one line for the user."""


@dataclass
class Submission:
    name: str
    kind: str  # "package" or "notebook"
    directory: Path
    present: set[str] = field(default_factory=set)
    cells: list[dict] | None = None  # a notebook's code cells: index, source (Python), original
    notes: list[str] = field(default_factory=list)


def load_submission(path: Path, modules: list[str], workdir: Path) -> Submission:
    """Copy ``path`` into ``workdir/submission`` and describe what it holds."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or folder")
    target = workdir / "submission"
    target.mkdir(parents=True, exist_ok=True)
    name = path.stem if path.is_file() else path.resolve().name
    if path.is_dir():
        source = _module_folder(path, modules)
        return _copy_modules(source, target, modules, name)
    suffix = path.suffix.lower()  # NOTEBOOK.IPYNB and WORK.ZIP are what some systems save
    if suffix == ".zip":
        return _load_zip(path, target, modules, name, workdir)
    if suffix == ".ipynb":
        return _load_notebook(path, target, name, modules)
    if suffix == ".py":
        return _copy_modules(path.parent, target, [path.stem] if path.stem in modules else [], name)
    raise SubmissionError(f"{path}: not a folder, a .zip or a .ipynb notebook")


def _module_folder(folder: Path, modules: list[str]) -> Path:
    """The folder itself, or the one folder below it, that holds the course's modules
    (a folder reached through a symbolic link is never one: links are not followed)."""
    if any(_is_module_file(folder / f"{m}.py") for m in modules):
        return folder
    candidates = [
        child
        for child in sorted(folder.iterdir())
        if child.is_dir() and not child.is_symlink() and not child.name.startswith((".", "__"))
        and any(_is_module_file(child / f"{m}.py") for m in modules)
    ]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise SubmissionError(
            f"{folder}: several folders hold exercise modules ({', '.join(c.name for c in candidates)}); submit one"
        )
    return folder


def _is_module_file(path: Path) -> bool:
    """A regular file or a symbolic link (which is then refused with a note, never followed)."""
    return path.is_symlink() or path.is_file()


def _copy_modules(source: Path, target: Path, modules: list[str], name: str) -> Submission:
    """Copy the folder's ``.py`` files; a symbolic link is refused with a note, never followed
    (it could point at the reference, a classmate's work or the grader's files)."""
    total = 0
    present = set()
    notes = []
    for file in sorted(source.glob("*.py")):
        if file.is_symlink():
            notes.append(_link_note(file.name, _link_target(file)))
            continue
        data = _read_no_follow(file)
        if data is None:
            continue
        total += len(data)
        if len(data) > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise SubmissionError(f"{file}: too large for a submission ({len(data)} bytes)")
        (target / file.name).write_bytes(data)
        if file.stem in modules:
            present.add(file.stem)
    submission = Submission(name=name, kind="package", directory=target, present=present, notes=notes)
    if not present:
        submission.notes.append(
            f"no exercise module ({', '.join(m + '.py' for m in modules)}) was found in {source}"
        )
    return submission


def _read_no_follow(file: Path) -> bytes | None:
    """A regular file's bytes, opened without following a link (None if it is not one)."""
    try:
        descriptor = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None  # a link (ELOOP), or gone
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        return handle.read(MAX_TOTAL_BYTES + 1)


def _link_target(file: Path) -> str:
    try:
        return os.readlink(file)
    except OSError:
        return "?"


def _link_note(name: str, target: str) -> str:
    return (f"{name} is a symbolic link (to {target[:120]}); links are not followed, so it was left out: "
            "submit the file itself")


def _is_link_entry(entry: zipfile.ZipInfo) -> bool:
    """A zip entry that unpacks to a symbolic link (Unix mode in its external attributes)."""
    return entry.create_system == 3 and stat.S_ISLNK(entry.external_attr >> 16)


def _load_zip(path: Path, target: Path, modules: list[str], name: str, workdir: Path) -> Submission:
    extracted = workdir / "extracted"
    extracted.mkdir(exist_ok=True)
    links: list[str] = []
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ZIP_ENTRIES:
                raise SubmissionError(f"{path}: too many files in the zip ({len(entries)})")
            total = 0
            for entry in entries:
                parts = Path(entry.filename).parts
                kind = Path(entry.filename).suffix.lower()
                if entry.is_dir() or kind not in (".py", ".ipynb") or "__MACOSX" in parts:
                    continue
                if entry.filename.startswith("/") or ".." in parts or len(parts) > 3 or ".ipynb_checkpoints" in parts:
                    continue
                if _is_link_entry(entry):
                    links.append(_link_note(Path(entry.filename).name, archive.read(entry)[:200].decode("utf-8", "replace")))
                    continue
                limit = MAX_FILE_BYTES if kind == ".py" else MAX_NOTEBOOK_BYTES
                total += entry.file_size
                if entry.file_size > limit or total > MAX_TOTAL_BYTES:
                    raise SubmissionError(f"{path}: too large once unpacked")
                destination = extracted.joinpath(*parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(entry) as source, open(destination, "wb") as out:
                    out.write(source.read(limit + 1)[:limit])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise SubmissionError(f"{path}: not a readable zip file ({error})") from None
    folder = _module_folder(extracted, modules)
    if not any((folder / f"{m}.py").is_file() for m in modules):
        notebooks = sorted(p for p in extracted.rglob("*") if p.suffix.lower() == ".ipynb")
        if len(notebooks) == 1:
            submission = _load_notebook(notebooks[0], target, name, modules)
            submission.notes[:0] = [f"graded the notebook {notebooks[0].relative_to(extracted)} found in the zip", *links]
            return submission
        if len(notebooks) > 1:
            found = ", ".join(str(p.relative_to(extracted)) for p in notebooks[:5])
            raise SubmissionError(f"{path}: the zip holds several notebooks ({found}) and no exercise module; submit one")
    submission = _copy_modules(folder, target, modules, name)
    submission.notes[:0] = links
    return submission


def _load_notebook(path: Path, target: Path, name: str, modules: Iterable[str] = ()) -> Submission:
    """A notebook's code cells, ready for the worker, and notes on what will not run.

    Only the cells' sources are read: outputs, attachments and widget state are ignored,
    and the JSON is read leniently (any nbformat from 1 to 4, cell ids or not), so that a
    notebook Jupyter opens is never refused for a detail of its schema.
    """
    notebook = read_notebook(path)
    cells, notes = notebook_cells(notebook)
    runnable = []
    for cell in cells:
        if cell.kind != "code":
            continue
        python = code_of_cell(cell.source, modules)
        if python.strip() and not is_self_check_cell(python):
            entry = {"index": cell.index, "source": python}
            if python.rstrip("\n") != cell.source.rstrip("\n"):
                entry["original"] = cell.source  # the worker falls back to it if the rewrite broke it
            runnable.append(entry)
    submission = Submission(name=name, kind="notebook", directory=target, cells=runnable)
    submission.notes.extend(notes)
    submission.notes.extend(_kernel_notes(notebook))
    if not runnable:
        submission.notes.append(f"{path.name} has no code cells")
    submission.notes.extend(_misfiled_definition_notes(cells, runnable))
    submission.notes.extend(_duplicate_definition_notes(runnable))
    return submission


@dataclass
class NotebookCell:
    """One cell as stored: its 1-based position among all cells, its type, its text."""

    index: int
    kind: str
    source: str


def read_notebook(path: Path) -> dict:
    """The notebook's JSON object; a :class:`SubmissionError` (one line) if it is not one."""
    invalid = f"{path}: not a valid Jupyter notebook"
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise SubmissionError(f"{path}: too large for a submission ({size} bytes)")
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionError(f"{path}: not a text file (a notebook is JSON)") from None
    except OSError as error:
        raise SubmissionError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not text.strip():
        raise SubmissionError(f"{invalid} (the file is empty)")
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        raise SubmissionError(f"{invalid} (broken JSON: {error.msg} at line {error.lineno}, column {error.colno})") from None
    except (RecursionError, MemoryError, ValueError) as error:
        raise SubmissionError(f"{invalid} ({type(error).__name__}: {_first_line(error)})") from None
    if not isinstance(notebook, dict):
        raise SubmissionError(f"{invalid} (the JSON is a {type(notebook).__name__}, not an object with cells)")
    if not isinstance(notebook.get("cells"), list) and not isinstance(notebook.get("worksheets"), list):
        raise SubmissionError(f"{invalid} (no list of cells in it; is it a notebook?)")
    return notebook


def notebook_cells(notebook: dict) -> tuple[list[NotebookCell], list[str]]:
    """Every readable cell, in order, whatever the nbformat version; notes on unreadable ones.

    nbformat 4 (and 1) keeps ``cells`` at the top level; 2 and 3 keep them in
    ``worksheets``, with a code cell's text under ``input``. A source is a string or a
    list of strings.
    """
    if isinstance(notebook.get("cells"), list):
        raw_cells = notebook["cells"]
    else:
        raw_cells = [
            cell
            for sheet in notebook["worksheets"]
            if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list)
            for cell in sheet["cells"]
        ]
    cells, notes = [], []
    for index, raw in enumerate(raw_cells, start=1):
        source = _cell_source(raw)
        if source is None:
            notes.append(f"cell {index} could not be read (no text in it where a notebook keeps it); it was skipped")
            continue
        kind = raw.get("cell_type")
        cells.append(NotebookCell(index, kind if isinstance(kind, str) else "unknown", source))
    return cells, notes


def _cell_source(cell: object) -> str | None:
    """A stored cell's text (``source``, or ``input``/``code`` in old versions), or None."""
    if not isinstance(cell, dict):
        return None
    for key in ("source", "input", "code"):
        source = cell.get(key)
        if isinstance(source, str):
            return source
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            return "".join(source)
    return None


def code_of_cell(source: str, modules: Iterable[str] = ()) -> str:
    """A code cell's Python, as IPython would run it, with line numbers kept.

    A cell magic whose body is Python (``%%time``, ``%%capture``, ...) keeps its body, as
    does ``%%writefile attention.py`` for one of the course's ``modules``; any other
    (``%%bash``, ``%%html``, ``%%writefile notes.txt``) empties the cell. Shell commands,
    line magics, ``pip install`` and ``name?`` help become ``pass``, except that
    ``x = !ls`` becomes ``x = None`` and ``%time statement`` runs the statement.
    """
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        if not _is_python_cell_magic(lines[first], set(modules)):
            return ""
        lines[first] = ""
    return "\n".join(_python_line(line) for line in lines) + "\n"


def is_self_check_cell(python: str) -> bool:
    """Whether a cell only runs the grader from inside Jupyter (the hand-out's last cell).

    Such a cell (``from grader.notebook import check`` then ``check("attention")``) grades
    the running kernel; graded code may not import the grader, so it is left out.
    """
    lines = [line.split("#", 1)[0].strip() for line in python.splitlines()]
    lines = [line for line in lines if line and line != "pass"]
    imported: set[str] = set()
    calls = []
    for line in lines:
        found = GRADER_IMPORT.match(line)
        if found is None:
            calls.append(line)
        elif found.group(1):  # from grader.x import a, b as c
            imported |= {part.split(" as ")[-1].strip() for part in found.group(1).strip("()").split(",")}
        else:  # import grader.x [as y]
            imported.add(found.group(2).split(" as ")[-1].strip().split(".")[0])
    called = [CALL.match(line) for line in calls]
    return bool(imported) and all(match is not None and match.group(1).split(".")[0] in imported for match in called)


def _is_python_cell_magic(line: str, modules: set[str]) -> bool:
    words = line[2:].split()
    if not words:
        return False
    if words[0] in PYTHON_CELL_MAGICS:
        return True
    files = [word for word in words[1:] if not word.startswith("-")]
    return words[0] == "writefile" and len(files) == 1 and files[0].endswith(".py") and Path(files[0]).stem in modules


def _python_line(line: str) -> str:
    """One line of a code cell with IPython's own syntax replaced by plain Python."""
    timed = TIMED_STATEMENT.match(line)
    if timed:
        return timed.group(1) + timed.group(2)
    assigned = ASSIGNED_FROM_SHELL.match(line)
    if assigned:
        return f"{assigned.group(1)}{assigned.group(2)} = None"
    if SHELL_OR_MAGIC.match(line) or HELP_REQUEST.match(line) or PACKAGE_MANAGER.match(line):
        return _blank(line)
    return line


def _blank(line: str) -> str:
    """``pass`` at the line's indentation, so that a block keeps a statement."""
    return line[: len(line) - len(line.lstrip())] + "pass"


def _kernel_notes(notebook: dict) -> list[str]:
    """A note when the notebook was written for another language than Python."""
    metadata = notebook.get("metadata") if isinstance(notebook.get("metadata"), dict) else {}
    kernel = metadata.get("kernelspec") if isinstance(metadata.get("kernelspec"), dict) else {}
    info = metadata.get("language_info") if isinstance(metadata.get("language_info"), dict) else {}
    language = kernel.get("language") or info.get("name")
    if isinstance(language, str) and language.strip() and language.strip().lower() not in ("python", "python3"):
        return [f"the notebook's kernel is {language.strip()[:40]}, not Python; its code cells were run as Python"]
    return []


def _defined_names(python: str) -> list[str]:
    """Names a cell binds at its top level (functions, classes, plain assignments), by pattern."""
    return [match.group(1) or match.group(2) for match in TOP_LEVEL_BINDING.finditer(python)]


def _misfiled_definition_notes(cells: list[NotebookCell], runnable: list[dict]) -> list[str]:
    """Markdown or raw cells holding code that defines what no code cell defines.

    Such a cell was most likely a code cell whose type was changed by accident; a fenced
    example inside prose (```) is documentation and is left alone.
    """
    defined = {name for cell in runnable for name in _defined_names(cell["source"])}
    notes = []
    for cell in cells:
        if cell.kind == "code" or "```" in cell.source or "~~~" in cell.source:
            continue
        names = [
            match.group(1)
            for match in TOP_LEVEL_DEFINITION.finditer(cell.source)
            if match.group(1) not in defined
        ]
        if names:
            listed = _join(list(dict.fromkeys(names)))
            notes.append(
                f"cell {cell.index} is a {cell.kind} cell but defines {listed}; change it back to a "
                f"code cell (only code cells are run, so {listed} {'is' if len(names) == 1 else 'are'} not graded from it)"
            )
    return notes


def _duplicate_definition_notes(runnable: list[dict]) -> list[str]:
    """Functions defined in several cells: the last definition is the one graded."""
    cells_of: dict[str, list[int]] = {}
    for cell in runnable:
        for match in TOP_LEVEL_DEFINITION.finditer(cell["source"]):
            if not match.group(1).startswith("_"):
                cells_of.setdefault(match.group(1), [])
                if cell["index"] not in cells_of[match.group(1)]:
                    cells_of[match.group(1)].append(cell["index"])
    notes = []
    for function, indices in cells_of.items():
        if len(indices) > 1:
            notes.append(
                f"{function} is defined in cells {_join([str(i) for i in indices])}; as when the notebook "
                f"runs top to bottom, the last definition (cell {indices[-1]}) is the one graded"
            )
    return notes[:MAX_DUPLICATE_NOTES]


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__

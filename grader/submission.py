"""Turn what a student hands in (folder, zip, notebook) into modules the worker can load.

Everything is copied into a private folder first, so the worker never reads the
original location (which may sit next to the reference solutions) and a zip cannot
write outside its folder.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_TOTAL_BYTES = 50 * 1024 * 1024
MAX_ZIP_ENTRIES = 2000
SHELL_OR_MAGIC = re.compile(r"^\s*(?:[!%]|\w+\s*=\s*[!%])")
CODE_CELL_MAGICS = {"%%time", "%%timeit", "%%capture", "%%prun", "%%python", "%%python3"}


class SubmissionError(Exception):
    """The submission cannot be read at all; the message is one line for the user."""


@dataclass
class Submission:
    name: str
    kind: str  # "package" or "notebook"
    directory: Path
    present: set[str] = field(default_factory=set)
    cells: list[dict] | None = None
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
    if path.suffix == ".zip":
        return _load_zip(path, target, modules, name, workdir)
    if path.suffix == ".ipynb":
        return _load_notebook(path, target, name)
    if path.suffix == ".py":
        return _copy_modules(path.parent, target, [path.stem] if path.stem in modules else [], name)
    raise SubmissionError(f"{path}: not a folder, a .zip or a .ipynb notebook")


def _module_folder(folder: Path, modules: list[str]) -> Path:
    """The folder itself, or the one folder below it, that holds the course's modules."""
    if any((folder / f"{m}.py").is_file() for m in modules):
        return folder
    candidates = [
        child
        for child in sorted(folder.iterdir())
        if child.is_dir() and not child.name.startswith((".", "__"))
        and any((child / f"{m}.py").is_file() for m in modules)
    ]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise SubmissionError(
            f"{folder}: several folders hold exercise modules ({', '.join(c.name for c in candidates)}); submit one"
        )
    return folder


def _copy_modules(source: Path, target: Path, modules: list[str], name: str) -> Submission:
    total = 0
    present = set()
    for file in sorted(source.glob("*.py")):
        size = file.stat().st_size
        total += size
        if size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
            raise SubmissionError(f"{file}: too large for a submission ({size} bytes)")
        shutil.copyfile(file, target / file.name)
        if file.stem in modules:
            present.add(file.stem)
    submission = Submission(name=name, kind="package", directory=target, present=present)
    if not present:
        submission.notes.append(
            f"no exercise module ({', '.join(m + '.py' for m in modules)}) was found in {source}"
        )
    return submission


def _load_zip(path: Path, target: Path, modules: list[str], name: str, workdir: Path) -> Submission:
    extracted = workdir / "extracted"
    extracted.mkdir(exist_ok=True)
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ZIP_ENTRIES:
                raise SubmissionError(f"{path}: too many files in the zip ({len(entries)})")
            total = 0
            for entry in entries:
                parts = Path(entry.filename).parts
                if entry.is_dir() or not entry.filename.endswith(".py") or "__MACOSX" in parts:
                    continue
                if entry.filename.startswith("/") or ".." in parts or len(parts) > 3:
                    continue
                total += entry.file_size
                if entry.file_size > MAX_FILE_BYTES or total > MAX_TOTAL_BYTES:
                    raise SubmissionError(f"{path}: too large once unpacked")
                destination = extracted.joinpath(*parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(entry) as source, open(destination, "wb") as out:
                    out.write(source.read(MAX_FILE_BYTES + 1)[:MAX_FILE_BYTES])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
        raise SubmissionError(f"{path}: not a readable zip file ({error})") from None
    return _copy_modules(_module_folder(extracted, modules), target, modules, name)


def _load_notebook(path: Path, target: Path, name: str) -> Submission:
    import nbformat

    try:
        notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
    except UnicodeDecodeError:
        raise SubmissionError(f"{path}: not a text file (a notebook is JSON)") from None
    except Exception as error:  # noqa: BLE001 - nbformat raises several unrelated types
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SubmissionError(f"{path}: not a valid Jupyter notebook ({first_line[:200]})") from None
    cells = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = code_of_cell(cell.get("source", ""))
        if source.strip():
            cells.append({"index": index + 1, "source": source})
    submission = Submission(name=name, kind="notebook", directory=target, cells=cells)
    if not cells:
        submission.notes.append(f"{path.name} has no code cells")
    return submission


def code_of_cell(source: str) -> str:
    """A code cell's Python: IPython magics and shell lines blanked (line numbers kept)."""
    lines = source.splitlines()
    if lines and lines[0].startswith("%%"):
        if lines[0].split()[0] not in CODE_CELL_MAGICS:
            return ""
        lines[0] = ""
    return "\n".join(_blank(line) if SHELL_OR_MAGIC.match(line) else line for line in lines) + "\n"


def _blank(line: str) -> str:
    """``pass`` at the line's indentation, so that a block keeps a statement."""
    return line[: len(line) - len(line.lstrip())] + "pass"

"""A course's catalogue of known mistakes: realistic wrong implementations of its exercises.

A catalogue is a folder of Python modules (``tests/buggy/`` by default), one per concept,
each with a list ``MUTANTS`` of :class:`Mutant`::

    from grader.engine.mistakes import Mutant

    MUTANTS = [
        Mutant("masks.causal_mask", "diagonal excluded", '''
            def causal_mask(q_len, k_len=None, device=None):
                ...
        '''),
    ]

A mutant's source is appended to a copy of the reference module, so its definitions
replace the correct ones. :func:`load_mistakes` imports the modules by file path, so a
catalogue needs to be neither a package nor importable. ``grader selftest`` and the test
suite grade every mutant with :func:`grader.commands.selftest.grade_mistake`.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

__all__ = ["MistakeError", "Mutant", "course_catalogue", "load_mistakes", "module_of"]


class MistakeError(Exception):
    """The catalogue cannot be read; the message is one line for the instructor."""


@dataclass(frozen=True)
class Mutant:
    """One wrong function, as a student might write it."""

    exercise: str  # "module.function" that the bug lives in
    name: str  # what the student got wrong, in a few words
    source: str  # a complete `def` (plus helpers) replacing the correct function

    @property
    def module(self) -> str:
        return module_of(self)

    @property
    def id(self) -> str:
        return f"{self.exercise}: {self.name}"

    def apply(self, reference_source: str) -> str:
        """The reference module with this mutant's definitions appended (they win)."""
        body = textwrap.dedent(self.source).strip()
        return reference_source.rstrip() + "\n\n\n# --- mutant: " + self.name + "\n" + body + "\n"


def module_of(mutant: Any) -> str:
    """The module a mutant changes (any object with ``.exercise = "module.function"``)."""
    return str(mutant.exercise).split(".")[0]


def _is_mutant(item: Any) -> bool:
    return all(hasattr(item, attribute) for attribute in ("exercise", "name", "source")) and callable(
        getattr(item, "apply", None)
    )


def course_catalogue(package: str = "grader.concepts") -> Path:
    """The folder of a course's concepts, each holding its known mistakes in ``mistakes.py``."""
    return Path(importlib.import_module(package).__path__[0])


def load_mistakes(folder: Path) -> list[Any]:
    """Every mutant of the catalogue in ``folder``, module by module in name order.

    The modules are ``folder/*.py`` (``_*.py`` skipped) and ``folder/<concept>/mistakes.py``,
    imported from their files; an ``__init__.py`` is loaded as their package (so ``from .
    import Mutant`` works). The current folder is on ``sys.path`` meanwhile, as ``python -m``
    would have it, and the modules leave ``sys.modules`` once read.
    A module without ``MUTANTS`` contributes nothing. Any object with ``exercise``,
    ``name``, ``source`` and ``apply(reference_source)`` is accepted as a mutant.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MistakeError(f"{folder}: no such folder (the catalogue of known mistakes)")
    files = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
    files += sorted(folder.glob("*/mistakes.py"))
    package = f"_grader_mistakes_{hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]}"
    found: list[Any] = []
    before = set(sys.modules)
    with _current_folder_importable(), _forgotten_afterwards(before):
        init = folder / "__init__.py"
        if init.is_file():
            _import(package, init, folder, is_package=True)
        for path in files:
            stem = path.stem if path.parent == folder else f"{path.parent.name}_{path.stem}"
            name = f"{package}.{stem}" if init.is_file() else f"{package}_{stem}"
            module = _import(name, path, folder)
            mutants = getattr(module, "MUTANTS", [])
            if not isinstance(mutants, (list, tuple)):
                raise MistakeError(f"{path}: MUTANTS is a {type(mutants).__name__}, not a list")
            for index, item in enumerate(mutants):
                if not _is_mutant(item):
                    raise MistakeError(
                        f"{path}: MUTANTS[{index}] is a {type(item).__name__}, not a mutant "
                        "(it needs exercise, name, source and apply(reference_source))"
                    )
                found.append(item)
    return found


def _import(name: str, path: Path, folder: Path, is_package: bool = False) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(folder)] if is_package else None
    )
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
        raise MistakeError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - reported as one line
        sys.modules.pop(name, None)
        detail = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
        raise MistakeError(f"{path} could not be imported: {detail}") from None
    return module


@contextlib.contextmanager
def _forgotten_afterwards(before: set[str]) -> Iterator[None]:
    """Drop the catalogue's modules from ``sys.modules`` once read (the mutants keep what they need).

    Hypothesis draws some values from constants found in the local modules loaded at the
    time, so a catalogue left loaded could change the inputs the checks are graded on.
    """
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n not in before and n.startswith("_grader_mistakes_")]:
            del sys.modules[name]


@contextlib.contextmanager
def _current_folder_importable() -> Iterator[None]:
    here = os.getcwd()
    added = here not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(here)

"""A catalogue of realistic buggy implementations, one module per concept.

Each :class:`Mutant` is the source of one wrong function. The test suite appends it to
a copy of the reference module (so it replaces the correct definition) and grades the
whole submission: the mutant's own exercise must lose points, every other exercise
must keep full marks (a mistake is charged once, to the function that has it).
"""

from __future__ import annotations

import importlib
import pkgutil
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    exercise: str  # "module.function" that the bug lives in
    name: str  # what the student got wrong, in a few words
    source: str  # a complete `def` (plus helpers) replacing the correct function

    @property
    def module(self) -> str:
        return self.exercise.split(".")[0]

    @property
    def id(self) -> str:
        return f"{self.exercise}: {self.name}"

    def apply(self, reference_source: str) -> str:
        """The reference module with this mutant's definitions appended (they win)."""
        return reference_source.rstrip() + "\n\n\n# --- mutant: " + self.name + "\n" + textwrap.dedent(self.source).strip() + "\n"


def all_mutants() -> list[Mutant]:
    found: list[Mutant] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "MUTANTS", []))
    return found

"""A catalogue of realistic buggy implementations, one module per concept.

Each :class:`~grader.mistakes.Mutant` is the source of one wrong function. It is
appended to a copy of the reference module (so it replaces the correct definition) and
the modules it can touch are graded (:func:`grader.selftest.grade_mistake`): the
mutant's own exercise must lose points, every other exercise must keep full marks (a
mistake is charged once, to the function that has it). ``grader selftest`` and
``tests/test_catalogue.py`` both run this catalogue.
"""

from __future__ import annotations

from pathlib import Path

from grader.mistakes import Mutant, load_mistakes

__all__ = ["Mutant", "all_mutants"]


def all_mutants() -> list[Mutant]:
    return load_mistakes(Path(__file__).parent)

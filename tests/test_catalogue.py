"""Every realistic mistake in the catalogue is caught, on its own exercise and only there."""

from __future__ import annotations

import pytest

from grader.commands.selftest import grade_mistake
from grader.author import Mutant
from tests.conftest import all_mutants
from tests.conftest import SOLUTIONS

MUTANTS = all_mutants()


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_caught_on_its_own_exercise(mutant: Mutant, grader, course, tmp_path):
    """Graded: the mutant's module and every module building on it. The others run in
    workers that never import the mutated module, so they cannot be affected."""
    verdict = grade_mistake(grader, course, mutant, SOLUTIONS, tmp_path)
    assert not verdict.error, f"{mutant.id}: {verdict.error}"
    assert verdict.caught, f"{mutant.id} was not caught"
    assert not verdict.collateral, f"{mutant.id} also cost points on {[str(c) for c in verdict.collateral]}"


def test_catalogue_covers_every_exercise_three_times(course):
    counts = {e.name: 0 for e in course.exercises}
    for mutant in MUTANTS:
        counts[mutant.exercise] += 1
    assert {name: n for name, n in counts.items() if n < 3} == {}

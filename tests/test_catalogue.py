"""Every realistic mistake in the catalogue is caught, on its own exercise and only there."""

from __future__ import annotations

import pytest

from tests.buggy import Mutant, all_mutants
from tests.conftest import SOLUTIONS

MUTANTS = all_mutants()


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_caught_on_its_own_exercise(mutant: Mutant, grader, course, submission_factory):
    """Graded: the mutant's module and every module building on it. The others run in
    workers that never import the mutated module, so they cannot be affected."""
    source = mutant.apply((SOLUTIONS / f"{mutant.module}.py").read_text())
    report = grader.grade(submission_factory({mutant.module: source}), course.affected_by(mutant.module))
    scores = {e.name: (e.score, e.max_score) for e in report.exercises}
    score, max_score = scores[mutant.exercise]
    assert score < max_score, f"{mutant.id} was not caught"
    others = {name: s for name, s in scores.items() if name != mutant.exercise and s[0] < s[1]}
    assert not others, f"{mutant.id} also cost points on {others}"


def test_catalogue_covers_every_exercise_three_times(course):
    counts = {e.name: 0 for e in course.exercises}
    for mutant in MUTANTS:
        counts[mutant.exercise] += 1
    assert {name: n for name, n in counts.items() if n < 3} == {}

"""The random exercises' checks give the same verdicts on every run, and judge draws, not random numbers."""

from __future__ import annotations

from grader.engine.results import without_timings
from tests.conftest import all_mutants
from tests.conftest import SOLUTIONS

RANDOM = ("sampling.sample_next_token", "mlm.mask_tokens")


def test_the_reference_gets_identical_reports_ten_times(grader, course):
    exercises = course.select(RANDOM)
    reports = [without_timings(grader.grade(SOLUTIONS, exercises).to_json()) for _ in range(10)]
    assert all(report == reports[0] for report in reports)
    assert reports[0]["score"] == reports[0]["max_score"] > 0


def test_a_wrong_sampler_and_a_wrong_masking_get_identical_reports_twice(grader, course, submission_factory):
    """Statistical failures (the temperature ignored, 10/10/80), with their messages and inputs, are stable."""
    chosen = {m.id: m for m in all_mutants()}
    sources = {
        "sampling": chosen["sampling.sample_next_token: temperature applied after the softmax (to the probabilities)"],
        "mlm": chosen["mlm.mask_tokens: 80/10/10 done as 10/10/80 (mask 10%, random 10%, unchanged 80%)"],
    }
    folder = submission_factory({m: mutant.apply((SOLUTIONS / f"{m}.py").read_text()) for m, mutant in sources.items()})
    exercises = course.select(RANDOM)
    first, second = (without_timings(grader.grade(folder, exercises).to_json()) for _ in range(2))
    assert first == second
    assert all(e["score"] < e["max_score"] for e in first["exercises"])

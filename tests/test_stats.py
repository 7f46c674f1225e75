"""The statistical tests' p-values are upper bounds at every sample size, and have power."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from grader.engine import stats


def _exact_binomial_two_sided(successes: int, trials: int, p: float) -> float:
    """P(X as far from n p as `successes`, on its side) times 2, from the pmf."""
    pmf = stats.binomial_probabilities(trials, p)
    tail = pmf[successes:].sum() if successes >= trials * p else pmf[: successes + 1].sum()
    return float(min(1.0, 2 * tail))


@pytest.mark.parametrize("trials, p", [(10, 0.5), (40, 0.15), (200, 0.8), (1000, 0.01)])
def test_the_binomial_bound_is_never_below_the_exact_tail(trials, p):
    for successes in range(trials + 1):
        assert stats.binomial_p_value(successes, trials, p) >= _exact_binomial_two_sided(successes, trials, p) - 1e-12


def test_binomial_probabilities_sum_to_one_and_match_the_formula():
    pmf = stats.binomial_probabilities(7, 0.3)
    assert abs(float(pmf.sum()) - 1) < 1e-12
    assert abs(float(pmf[2]) - math.comb(7, 2) * 0.3**2 * 0.7**5) < 1e-12
    assert stats.binomial_probabilities(3, 1.0).tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize("probabilities, draws", [([0.5, 0.3, 0.2], 12), ([0.7, 0.1, 0.1, 0.1], 9)])
def test_the_multinomial_and_cellwise_bounds_are_never_below_the_exact_probability(probabilities, draws):
    """Enumerate every outcome: P(an outcome at least as unlikely, by each test's own measure) <= its bound."""
    k = len(probabilities)
    outcomes = [c for c in itertools.product(range(draws + 1), repeat=k) if sum(c) == draws]
    probability = {
        c: math.factorial(draws) * math.prod(p**n / math.factorial(n) for p, n in zip(probabilities, c)) for c in outcomes
    }
    for test in (stats.multinomial_p_value, lambda c, p: stats.cellwise_p_value(c, p)[0]):
        value = {c: test(list(c), probabilities) for c in outcomes}
        for c in outcomes:
            exact = sum(probability[o] for o in outcomes if value[o] <= value[c])
            assert value[c] >= exact - 1e-12, (c, value[c], exact)


def test_false_failures_are_rarer_than_alpha_under_the_null():
    generator = torch.Generator().manual_seed(0)
    p = torch.tensor([0.4, 0.3, 0.2, 0.05, 0.05])
    counts = [torch.bincount(torch.multinomial(p, 300, replacement=True, generator=generator), minlength=5)
              for _ in range(400)]
    for test in (stats.multinomial_p_value, lambda c, q: stats.cellwise_p_value(c, q)[0], stats.chi_square_p_value):
        rejected = sum(test(c, p) <= 0.05 for c in counts)
        assert rejected <= 0.05 * len(counts) + 3 * math.sqrt(0.05 * len(counts))


def test_the_tests_have_power_and_name_the_cell():
    p = torch.tensor([0.5, 0.3, 0.2])
    missing = torch.tensor([625, 375, 0])  # the last cell never drawn in 1000 draws
    assert stats.multinomial_p_value(missing, p) < 1e-80
    value, cell = stats.cellwise_p_value(missing, p)
    assert value < 1e-90 and cell == 2
    assert stats.multinomial_p_value(torch.tensor([1, 0, 0, 1]), [0.5, 0.5, 0.0, 0.0]) == 0.0
    assert stats.cellwise_p_value([1, 1, 0], [0.5, 0.0, 0.5]) == (0.0, 1)
    assert stats.binomial_p_value(150, 1000, 0.15) == 1.0
    assert stats.binomial_p_value(300, 1000, 0.15) < 1e-30


def test_chi_square_matches_the_closed_form_and_merges_small_cells():
    # X^2 = (10^2 + 10^2 + 0) / 20 = 10 on 2 degrees of freedom: p = exp(-5)
    assert abs(stats.chi_square_p_value([30, 10, 20], [1 / 3, 1 / 3, 1 / 3]) - math.exp(-5)) < 1e-12
    # the cell expecting 4 draws is merged into the one expecting 6: 2 degrees of freedom left
    merged = stats.chi_square_p_value([50, 40, 6, 4], [0.5, 0.4, 0.06, 0.04])
    direct = stats.chi_square_p_value([50, 40, 10], [0.5, 0.4, 0.1])
    assert abs(merged - direct) < 1e-12
    assert stats.chi_square_p_value([3, 1], [1.0, 0.0]) == 0.0


def test_malformed_inputs_are_refused():
    for counts, probabilities in (([1, 2], [0.5]), ([1, -1], [0.5, 0.5]), ([1.5, 1], [0.5, 0.5]), ([1, 1], [0.5, 0.6])):
        with pytest.raises(ValueError):
            stats.multinomial_p_value(counts, probabilities)
    with pytest.raises(ValueError):
        stats.binomial_p_value(5, 4, 0.5)

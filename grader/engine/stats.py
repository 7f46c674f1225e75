"""Tests for judging a random function by its draws, each with a false-failure bound that holds for any sample size.

A check of a random function (see :meth:`grader.engine.student.Student.draws`) counts what the draws
did and asks how likely counts that far from the expected ones are for a correct function.
It fails the function only when that probability is below a tiny ``alpha``: the false-failure
rate of a check is then at most the sum of the ``alpha`` of the tests it makes (Bonferroni),
whatever the seed. Give each test ``alpha = budget / tests``; the course's checks take a
budget of 1e-6 per check.

The p-values returned are *upper bounds*, from inequalities that hold for every sample size
(no normal or chi-square approximation), so a test at level ``alpha`` fails a correct function
with probability at most ``alpha``:

- :func:`binomial_p_value`: the Chernoff bound ``P(X >= k) <= exp(-n KL(k/n || p))`` (and its
  mirror for ``X <= k``), doubled for the two sides.
- :func:`multinomial_p_value`: the method of types. The chance of one empirical distribution
  (type) ``q`` of ``n`` draws is at most ``exp(-n KL(q || p))``, and ``n`` draws over ``k``
  cells have ``C(n + k - 1, k - 1)`` types, so ``P(KL(q || p) >= d) <= C(n + k - 1, k - 1) exp(-n d)``
  (Cover and Thomas, Elements of Information Theory, theorems 11.1.1 and 11.1.4).
  It costs about ``(k - 1) log n`` nats over the chi-square approximation, so it needs a few
  times more draws for the same power; in exchange its bound is exact.
- :func:`cellwise_p_value`: the binomial bound on every cell, times the number of cells
  (Bonferroni): the most powerful when a wrong function misses or favours a few cells.
- :func:`chi_square_p_value`: Pearson's chi-square test, the classic, for comparison and for
  reports; its p-value is asymptotic (the chi-square approximation is poor far in the tail), so
  do not base a tiny ``alpha`` on it alone.

Power: a wrong function whose draws follow ``q`` instead of ``p`` gives ``n KL(q || p)`` nats of
evidence on average; choose ``n`` so that this exceeds ``log(1 / alpha)`` plus the log of the
number of types by a wide margin. Only the standard library and torch are used (no SciPy).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = [
    "binomial_p_value",
    "binomial_probabilities",
    "cellwise_p_value",
    "chi_square_p_value",
    "kl_divergence",
    "multinomial_p_value",
]


def _as_float64(values: torch.Tensor | Sequence[float]) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        values = torch.tensor(values, dtype=torch.float64)  # not float32 first: 0.15 must stay 0.15
    return values.detach().to("cpu", torch.float64).reshape(-1)


def _checked(counts: torch.Tensor | Sequence[int], probabilities: torch.Tensor | Sequence[float]):
    counts, probabilities = _as_float64(counts), _as_float64(probabilities)
    if counts.shape != probabilities.shape or counts.numel() == 0:
        raise ValueError(f"{counts.numel()} counts for {probabilities.numel()} probabilities")
    if bool((counts < 0).any()) or not torch.equal(counts, counts.round()):
        raise ValueError("counts must be non-negative integers")
    if bool((probabilities < 0).any()) or abs(float(probabilities.sum()) - 1.0) > 1e-6:
        raise ValueError(f"probabilities must be non-negative and sum to 1 (they sum to {float(probabilities.sum())})")
    return counts, probabilities / probabilities.sum()


def kl_divergence(frequencies: torch.Tensor | Sequence[float], probabilities: torch.Tensor | Sequence[float]) -> float:
    """``KL(q || p) = sum q log(q / p)`` in nats (infinite if ``q`` puts mass where ``p`` has none)."""
    q, p = _as_float64(frequencies), _as_float64(probabilities)
    q, p = q / q.sum(), p / p.sum()
    where = q > 0
    if bool((p[where] == 0).any()):
        return math.inf
    return float((q[where] * (q[where].log() - p[where].log())).sum().clamp_min(0.0))


def binomial_p_value(successes: int, trials: int, probability: float) -> float:
    """An upper bound on the two-sided p-value of ``successes`` out of ``trials`` at ``probability``:
    ``min(1, 2 exp(-trials KL(successes / trials || probability)))`` (the Chernoff bound on each tail)."""
    successes, trials = int(successes), int(trials)
    if not 0 <= successes <= trials or not 0.0 <= probability <= 1.0:
        raise ValueError(f"{successes} successes of {trials} trials at probability {probability}")
    if trials == 0:
        return 1.0
    divergence = kl_divergence([successes, trials - successes], [probability, 1.0 - probability])
    return min(1.0, 2.0 * math.exp(-trials * divergence))


def cellwise_p_value(
    counts: torch.Tensor | Sequence[int], probabilities: torch.Tensor | Sequence[float]
) -> tuple[float, int]:
    """``(p, cell)``: the cell whose count is the least likely (by :func:`binomial_p_value` against
    its own probability), and an upper bound on the p-value of so unlikely a cell among the ``k``
    cells of non-zero probability: its bound times ``k`` (Bonferroni); 0 if a cell of probability 0
    was drawn. More powerful than :func:`multinomial_p_value` against a deviation in a few cells
    (a token never drawn), less against one spread thinly over many."""
    counts, probabilities = _checked(counts, probabilities)
    total = int(counts.sum())
    impossible = ((probabilities == 0) & (counts > 0)).nonzero()
    if len(impossible):
        return 0.0, int(impossible[0])
    possible = (probabilities > 0).nonzero().reshape(-1).tolist()
    bounds = [binomial_p_value(int(counts[i]), total, float(probabilities[i])) for i in possible]
    worst = min(range(len(possible)), key=lambda j: bounds[j])
    return min(1.0, bounds[worst] * len(possible)), possible[worst]


def _log_types(draws: int, cells: int) -> float:
    """``log C(draws + cells - 1, cells - 1)``: how many empirical distributions ``draws`` draws can have."""
    return math.lgamma(draws + cells) - math.lgamma(cells) - math.lgamma(draws + 1)


def multinomial_p_value(counts: torch.Tensor | Sequence[int], probabilities: torch.Tensor | Sequence[float]) -> float:
    """An upper bound on the p-value of ``counts`` (one per cell) for draws from ``probabilities``:
    ``min(1, C(n + k - 1, k - 1) exp(-n KL(counts / n || probabilities)))``, the method of types, where
    ``k`` counts the cells of non-zero probability; 0 if a cell of probability 0 was drawn."""
    counts, probabilities = _checked(counts, probabilities)
    total = int(counts.sum())
    if total == 0:
        return 1.0
    divergence = kl_divergence(counts, probabilities)
    if divergence == math.inf:
        return 0.0
    cells = int((probabilities > 0).sum())
    if cells <= 1:
        return 1.0
    return min(1.0, math.exp(_log_types(total, cells) - total * divergence))


def chi_square_p_value(
    counts: torch.Tensor | Sequence[int], probabilities: torch.Tensor | Sequence[float], min_expected: float = 5.0
) -> float:
    """Pearson's chi-square goodness-of-fit p-value (asymptotic), ``Q(df / 2, X^2 / 2)`` by
    ``torch.special.gammaincc``. Cells expecting fewer than ``min_expected`` draws are merged (the
    least likely first) until every cell expects that many; a cell of probability 0 that was drawn gives 0."""
    counts, probabilities = _checked(counts, probabilities)
    total = float(counts.sum())
    if bool((counts[probabilities == 0] > 0).any()):
        return 0.0
    order = probabilities.argsort(descending=True)
    observed, expected = counts[order].tolist(), (probabilities[order] * total).tolist()
    while len(expected) > 1 and expected[-1] < min_expected:
        observed[-2] += observed.pop()
        expected[-2] += expected.pop()
    if len(expected) < 2:
        return 1.0
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected))
    dof = torch.tensor((len(expected) - 1) / 2.0, dtype=torch.float64)
    return float(torch.special.gammaincc(dof, torch.tensor(statistic / 2.0, dtype=torch.float64)))


def binomial_probabilities(trials: int, probability: float) -> torch.Tensor:
    """``P(X = j)`` for ``j = 0 .. trials`` of a binomial ``X`` (float64, computed in logs)."""
    j = torch.arange(trials + 1, dtype=torch.float64)
    if probability in (0.0, 1.0):
        return (j == (trials if probability == 1.0 else 0)).to(torch.float64)
    log_choose = math.lgamma(trials + 1) - torch.lgamma(j + 1) - torch.lgamma(trials - j + 1)
    return (log_choose + j * math.log(probability) + (trials - j) * math.log1p(-probability)).exp()

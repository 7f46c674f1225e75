"""The sampling reference against hand-built oracles, the docstrings' worked examples and many draws."""

from __future__ import annotations

import math

import pytest
import torch

from grader.engine import stats
from solutions import sampling

f64 = torch.float64


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def top_p_loop(logits: torch.Tensor, p: float) -> torch.Tensor:
    """The contract's rule, one row and one token at a time, in Python floats."""
    out = logits.clone()
    for row in out.reshape(-1, out.shape[-1]):
        probs = [math.exp(v) for v in (row - torch.logsumexp(row.double(), 0)).tolist()]
        total = 0.0
        for index in sorted(range(len(probs)), key=lambda i: -probs[i]):
            if not total < p:
                row[index] = float("-inf")
            total += probs[index]
    return out


@pytest.mark.parametrize("dtype", [torch.float32, f64])
def test_top_k_keeps_the_k_largest_and_their_ties(dtype):
    logits = torch.randn(2, 3, 7, generator=gen(0), dtype=f64).to(dtype)
    for k in range(1, 7):
        out = sampling.top_k_filter(logits, k)
        assert out.dtype == dtype and out.shape == logits.shape
        kth = torch.sort(logits, dim=-1, descending=True).values[..., k - 1 : k]
        assert torch.equal(out, torch.where(logits >= kth, logits, torch.tensor(float("-inf"), dtype=dtype)))
        assert torch.equal((out > float("-inf")).sum(-1), torch.full((2, 3), k))
    ties = torch.tensor([[1.0, 3.0, 2.0, 2.0], [0.0, 0.0, 0.0, 5.0]])
    assert sampling.top_k_filter(ties, 2).isinf().tolist() == [[True, False, False, False], [False, False, False, False]]
    for k in (7, 9):
        assert torch.equal(sampling.top_k_filter(logits, k), logits)
    for k in (0, -2):
        with pytest.raises(ValueError):
            sampling.top_k_filter(logits, k)


def test_top_k_docstring_examples():
    inf = float("-inf")
    assert sampling.top_k_filter(torch.tensor([[1.0, 3.0, 2.0, 3.0]]), 2).tolist() == [[inf, 3.0, inf, 3.0]]
    assert sampling.top_k_filter(torch.tensor([[1.0, 3.0, 2.0, 2.0]]), 2).tolist() == [[inf, 3.0, 2.0, 2.0]]


@pytest.mark.parametrize("dtype", [torch.float32, f64])
def test_top_p_matches_the_rule_token_by_token(dtype):
    logits = (torch.randn(4, 2, 6, generator=gen(1), dtype=f64) * 2).to(dtype)
    for p in (1e-3, 0.2, 0.5, 0.77, 0.95, 0.999):
        out = sampling.top_p_filter(logits, p)
        assert out.dtype == dtype
        assert torch.equal(out, top_p_loop(logits, p)), p
        assert bool((out.isfinite().any(-1)).all())  # the most likely token always stays
    assert torch.equal(sampling.top_p_filter(logits, 1.0), logits)
    for p in (0.0, -0.1, 1.01):
        with pytest.raises(ValueError):
            sampling.top_p_filter(logits, p)


def test_top_p_docstring_example_and_the_most_unlikely_token_at_p_1():
    logits = torch.log(torch.tensor([[0.1, 0.4, 0.2, 0.3]]))
    assert sampling.top_p_filter(logits, 0.75).isinf().tolist() == [[True, False, False, False]]
    far = torch.tensor([[0.0, -40.0, -80.0]])  # float32 cumulative sums reach 1 before the last token
    assert torch.equal(sampling.top_p_filter(far, 1.0), far)


def test_the_filters_pass_gradients_to_the_kept_logits():
    logits = torch.randn(3, 5, generator=gen(2), dtype=f64, requires_grad=True)
    for out in (sampling.top_k_filter(logits, 2), sampling.top_p_filter(logits, 0.6)):
        (grad,) = torch.autograd.grad(out[out.isfinite()].sum(), logits)
        assert torch.equal(grad, out.isfinite().to(f64))


def test_temperature_zero_is_the_argmax_and_negative_is_refused():
    logits = torch.randn(5, 7, generator=gen(3))
    assert torch.equal(sampling.sample_next_token(logits, 0.0), logits.argmax(-1))
    assert torch.equal(sampling.sample_next_token(logits, 0, top_k=3, top_p=0.5), logits.argmax(-1))
    with pytest.raises(ValueError):
        sampling.sample_next_token(logits, -0.5)


def _frequencies_fit(logits, expected, draws=3000, **settings):
    tokens = sampling.sample_next_token(logits.expand(draws, -1), generator=gen(4), **settings)
    assert tokens.dtype == torch.int64 and tokens.shape == (draws,)
    counts = torch.bincount(tokens, minlength=logits.shape[-1])
    return stats.multinomial_p_value(counts, expected) > 1e-4 and bool((counts[expected == 0] == 0).all())


def test_the_docstring_table_of_distributions():
    logits = torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.1]], dtype=f64))
    table = [
        ({}, [0.4, 0.3, 0.2, 0.1]),
        ({"temperature": 0.5}, [0.16 / 0.3, 0.09 / 0.3, 0.04 / 0.3, 0.01 / 0.3]),
        ({"temperature": 2.0}, (torch.tensor([0.4, 0.3, 0.2, 0.1]).sqrt() / torch.tensor([0.4, 0.3, 0.2, 0.1]).sqrt().sum()).tolist()),
        ({"top_k": 2}, [4 / 7, 3 / 7, 0, 0]),
        ({"top_p": 0.75}, [4 / 9, 3 / 9, 2 / 9, 0]),
        ({"top_k": 2, "top_p": 0.5}, [1, 0, 0, 0]),
    ]
    for settings, expected in table:
        assert _frequencies_fit(logits, torch.tensor(expected, dtype=f64), **settings), settings


def test_draws_come_from_the_generator_only():
    logits = torch.randn(50, 6, generator=gen(5))
    first = sampling.sample_next_token(logits, 1.3, top_k=4, generator=gen(6))
    torch.manual_seed(123)
    assert torch.equal(sampling.sample_next_token(logits, 1.3, top_k=4, generator=gen(6)), first)
    assert not torch.equal(sampling.sample_next_token(logits, 1.3, top_k=4, generator=gen(7)), first)

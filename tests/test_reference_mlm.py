"""The masking reference: what holds on every draw, its rates over many draws, the docstring's example."""

from __future__ import annotations

import pytest
import torch

from grader.engine import stats
from solutions import mlm


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch(dtype=torch.int64) -> torch.Tensor:
    tokens = torch.randint(4, 50, (64, 32), generator=gen(0)).to(dtype)
    tokens[:, 0], tokens[:, -1], tokens[::3, -5:] = 1, 2, 0  # [CLS], [SEP], some padding
    return tokens


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
def test_every_draw_labels_the_selected_and_leaves_the_rest(dtype):
    tokens = batch(dtype)
    kept = tokens.clone()
    inputs, labels = mlm.mask_tokens(tokens, 3, 50, 0.3, special_ids=(0, 1, 2), generator=gen(1))
    assert torch.equal(tokens, kept)
    assert inputs.dtype == labels.dtype == dtype and inputs.shape == labels.shape == tokens.shape
    selected = labels != -100
    assert torch.equal(labels[selected], tokens[selected])
    assert torch.equal(inputs[~selected], tokens[~selected])
    assert not bool(selected[torch.isin(tokens, torch.tensor([0, 1, 2], dtype=dtype))].any())
    assert bool(((inputs[selected] == 3) | ((inputs[selected] >= 0) & (inputs[selected] < 50))).all())


def test_rates_over_many_draws():
    tokens = batch()
    eligible = ~torch.isin(tokens, torch.tensor([0, 1, 2]))
    outcomes, selected_total, trials = torch.zeros(3, dtype=torch.long), 0, 0
    for seed in range(20):
        inputs, labels = mlm.mask_tokens(tokens, 3, 50, special_ids=[0, 1, 2], generator=gen(seed))
        selected = labels != -100
        selected_total, trials = selected_total + int(selected.sum()), trials + int(eligible.sum())
        value, original = inputs[selected], tokens[selected]
        masked = value == 3
        same = ~masked & (value == original)
        outcomes += torch.stack([masked.sum(), same.sum(), (~masked & ~same).sum()])
    assert stats.binomial_p_value(selected_total, trials, 0.15) > 1e-4
    expected = torch.tensor([0.8 + 0.1 / 50, 0.1 + 0.1 / 50, 0.1 - 0.2 / 50], dtype=torch.float64)
    assert stats.multinomial_p_value(outcomes, expected) > 1e-4
    assert abs(outcomes[0] / outcomes.sum() - 0.8) < 0.02


def test_extreme_probabilities_and_the_docstring_example():
    tokens = batch()
    none = mlm.mask_tokens(tokens, 3, 50, 0.0, (0, 1, 2), gen(0))
    assert torch.equal(none[0], tokens) and bool((none[1] == -100).all())
    every = mlm.mask_tokens(tokens, 3, 50, 1.0, (0, 1, 2), gen(0))[1] != -100
    assert torch.equal(every, ~torch.isin(tokens, torch.tensor([0, 1, 2])))
    inputs, labels = mlm.mask_tokens(torch.tensor([[101, 7, 42, 9, 102]]), mask_id=103, vocab_size=1000,
                                     special_ids=(101, 102), generator=gen(0))
    assert inputs.tolist() == [[101, 7, 756, 103, 102]] and labels.tolist() == [[-100, -100, 42, 9, -100]]


def test_draws_come_from_the_generator_only():
    tokens = batch()
    first = mlm.mask_tokens(tokens, 3, 50, 0.4, (0, 1, 2), gen(8))
    torch.manual_seed(99)
    again = mlm.mask_tokens(tokens, 3, 50, 0.4, (0, 1, 2), gen(8))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(mlm.mask_tokens(tokens, 3, 50, 0.4, (0, 1, 2), gen(9))[1], first[1])

"""The reference lora_linear and merge_lora agree with PyTorch and have LoRA's properties.

The oracle is ``torch.nn.Linear`` in float64: the frozen layer plus the adapter built as two
bias-free ``nn.Linear`` layers (``A``: in -> r, ``B``: r -> out), as PEFT builds it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from solutions.lora import lora_linear, merge_lora

f64 = torch.float64


def randn(*shape: int, seed: int, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def torch_lora(x, weight, bias, lora_a, lora_b, alpha):
    size_out, size_in = weight.shape
    r = lora_a.shape[0]
    base = nn.Linear(size_in, size_out, bias=bias is not None, dtype=f64)
    down = nn.Linear(size_in, r, bias=False, dtype=f64)
    up = nn.Linear(r, size_out, bias=False, dtype=f64)
    with torch.no_grad():
        base.weight.copy_(weight)
        if bias is not None:
            base.bias.copy_(bias)
        down.weight.copy_(lora_a)
        up.weight.copy_(lora_b)
        return base(x) + alpha / r * up(down(x))


def case(size_in=5, size_out=3, r=2, seed=0, bias=True):
    return (randn(2, 4, size_in, seed=seed), randn(size_out, size_in, seed=seed + 1),
            randn(size_out, seed=seed + 2) if bias else None, randn(r, size_in, seed=seed + 3),
            randn(size_out, r, seed=seed + 4))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sizes", [(5, 3, 2), (3, 6, 4), (4, 4, 3)])
@pytest.mark.parametrize("alpha", [1, 6.0, 16.0])
def test_lora_linear_matches_torch_and_the_merged_weight(sizes, bias, alpha):
    size_in, size_out, r = sizes
    x, weight, b, lora_a, lora_b = case(size_in, size_out, r, seed=sum(sizes), bias=bias)
    out = lora_linear(x, weight, b, lora_a, lora_b, alpha)
    assert out.shape == (2, 4, size_out)
    torch.testing.assert_close(out, torch_lora(x, weight, b, lora_a, lora_b, alpha), rtol=1e-12, atol=1e-12)
    merged = merge_lora(weight, lora_a, lora_b, alpha)
    assert merged.shape == weight.shape
    torch.testing.assert_close(F.linear(x, merged, b), out, rtol=1e-12, atol=1e-12)


def test_zero_b_is_the_plain_linear_layer():
    x, weight, bias, lora_a, lora_b = case()
    zero = torch.zeros_like(lora_b)
    assert torch.equal(lora_linear(x, weight, bias, lora_a, zero, 8.0), F.linear(x, weight, bias))
    assert torch.equal(merge_lora(weight, lora_a, zero, 8.0), weight)


def test_the_update_has_rank_r():
    x, weight, bias, lora_a, lora_b = case(size_in=6, size_out=5, r=3)
    delta = merge_lora(weight, lora_a, lora_b, 4.0) - weight
    assert int(torch.linalg.matrix_rank(delta)) == 3
    # lora_linear's update, as a map of x, has the same rank: feed it the basis vectors
    eye = torch.eye(6, dtype=f64)
    update = lora_linear(eye, weight, None, lora_a, lora_b, 4.0) - eye @ weight.T
    assert int(torch.linalg.matrix_rank(update)) == 3


def test_the_gradient_reaches_a_only_through_b():
    x, weight, bias, lora_a, lora_b = case()
    lora_a.requires_grad_()
    zero = torch.zeros_like(lora_b).requires_grad_()
    lora_linear(x, weight, bias, lora_a, zero, 4.0).square().sum().backward()
    assert torch.equal(lora_a.grad, torch.zeros_like(lora_a))
    assert zero.grad.abs().max() > 0.1
    lora_a.grad = None
    lora_linear(x, weight, bias, lora_a, lora_b, 4.0).square().sum().backward()
    assert lora_a.grad.abs().max() > 0.1


def test_merge_returns_a_new_tensor_and_keeps_weight():
    _, weight, _, lora_a, lora_b = case()
    before = weight.clone()
    merged = merge_lora(weight, lora_a, lora_b, 2.0)
    assert torch.equal(weight, before)
    assert merged.data_ptr() != weight.data_ptr()
    torch.testing.assert_close(merged, weight + 1.0 * lora_b @ lora_a)


def test_float32_keeps_its_dtype_and_the_docstring_example():
    x = torch.tensor([[1.0, 2.0, 3.0]])
    weight = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    lora_a, lora_b = torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[1.0], [0.0]])
    out = lora_linear(x, weight, None, lora_a, lora_b, alpha=2)
    assert out.dtype == torch.float32 and torch.equal(out, torch.tensor([[7.0, 2.0]]))
    merged = merge_lora(weight, lora_a, lora_b, alpha=2)
    assert merged.dtype == torch.float32
    assert torch.equal(merged, torch.tensor([[3.0, 2.0, 0.0], [0.0, 1.0, 0.0]]))


def test_gradcheck():
    inputs = [t.requires_grad_() for t in case(size_in=4, size_out=3, r=2, seed=7)]
    assert torch.autograd.gradcheck(lambda *a: lora_linear(*a, 6.0), inputs)
    _, weight, _, lora_a, lora_b = inputs
    assert torch.autograd.gradcheck(lambda w, a, b: merge_lora(w, a, b, 6.0), (weight, lora_a, lora_b))

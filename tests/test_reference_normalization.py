"""The reference layer_norm and rms_norm agree with torch in float64, and have the properties
the checks rely on (moments, invariances, accuracy far from zero, dtypes, gradients).

Sizes are distinct and >= 3 so that a statistic taken over the wrong axis cannot pass.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from solutions import normalization

f64 = torch.float64


def randn(*shape: int, seed: int, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ------------------------------------------------------------------------------ layer_norm


@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 5, 7)])
def test_layer_norm_matches_torch(affine, shape):
    x = randn(*shape, seed=1) * 2 + randn(*shape[:-1], 1, seed=2) * 3
    weight = randn(7, seed=3) + 1 if affine in ("both", "weight") else None
    bias = randn(7, seed=4) if affine in ("both", "bias") else None
    for eps in (1e-5, 1e-2):
        expected = F.layer_norm(x, (7,), weight, bias, eps)
        torch.testing.assert_close(normalization.layer_norm(x, weight, bias, eps=eps), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(normalization.layer_norm(x, weight, bias), F.layer_norm(x, (7,), weight, bias),
                               rtol=1e-12, atol=1e-12)


def test_layer_norm_matches_nn_layer_norm_module():
    x = randn(3, 4, 6, seed=5)
    module = torch.nn.LayerNorm(6, dtype=f64)
    with torch.no_grad():
        module.weight.copy_(randn(6, seed=6))
        module.bias.copy_(randn(6, seed=7))
        expected = module(x)
    torch.testing.assert_close(normalization.layer_norm(x, module.weight.detach(), module.bias.detach()), expected)


def test_layer_norm_worked_example():
    out = normalization.layer_norm(torch.tensor([[1.0, 2.0, 3.0, 6.0]]))
    torch.testing.assert_close(out, torch.tensor([[-1.0690, -0.5345, 0.0, 1.6036]]), atol=1e-4, rtol=0)


def test_layer_norm_rows_have_mean_zero_and_unit_variance():
    x = randn(4, 9, seed=8) * 3 + 5
    y = normalization.layer_norm(x)
    var = x.var(-1, correction=0)
    torch.testing.assert_close(y.mean(-1), torch.zeros(4, dtype=f64), atol=1e-12, rtol=0)
    torch.testing.assert_close(y.var(-1, correction=0), var / (var + 1e-5))
    # the unbiased variance would give rows of variance (D - 1) / D instead
    assert not torch.allclose(y.var(-1, correction=0), torch.full((4,), 8 / 9, dtype=f64), atol=1e-3)


def test_layer_norm_is_invariant_to_shifting_and_scaling_each_row():
    x = randn(5, 8, seed=9)
    a = torch.rand(5, 1, generator=torch.Generator().manual_seed(10), dtype=f64) * 3.5 + 0.5
    c = randn(5, 1, seed=11) * 6
    torch.testing.assert_close(normalization.layer_norm(a * x + c, eps=1e-12), normalization.layer_norm(x, eps=1e-12))
    # normalising over the wrong axis is not invariant: statistics must be per row
    shifted = normalization.layer_norm((a * x + c).T.contiguous(), eps=1e-12).T
    assert not torch.allclose(shifted, normalization.layer_norm(x.T.contiguous(), eps=1e-12).T)


def test_layer_norm_sum_has_zero_gradient_wrt_x():
    x = randn(3, 6, seed=12).requires_grad_(True)
    normalization.layer_norm(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.zeros_like(x), atol=1e-12, rtol=0)


def test_layer_norm_gradients_match_torch():
    x = randn(3, 5, seed=13).requires_grad_(True)
    weight = (randn(5, seed=14) + 1).requires_grad_(True)
    bias = randn(5, seed=15).requires_grad_(True)
    cotangent = randn(3, 5, seed=16)
    ours = torch.autograd.grad(normalization.layer_norm(x, weight, bias), (x, weight, bias), cotangent)
    theirs = torch.autograd.grad(F.layer_norm(x, (5,), weight, bias), (x, weight, bias), cotangent)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("offset", [1e3, -2e3, 5e3, 1e4])
def test_layer_norm_float32_far_from_zero_within_the_checks_tolerance(offset):
    """Two passes stay within 4 * eps32 * |offset| / std of the float64 answer; E[x^2] - E[x]^2 does not."""
    x = (randn(4, 12, seed=17) + offset).float()
    expected = F.layer_norm(x.double(), (12,))
    eps32 = torch.finfo(torch.float32).eps
    allowed = 1e-5 + 4 * eps32 * abs(offset) / float(x.double().std(-1, correction=0).min())
    error = (normalization.layer_norm(x).double() - expected).abs().max().item()
    assert error <= allowed / 2
    torch_error = (F.layer_norm(x, (12,)).double() - expected).abs().max().item()
    assert torch_error <= allowed / 2
    mean = x.mean(-1, keepdim=True)
    shortcut = (x - mean) / torch.sqrt((x * x).mean(-1, keepdim=True) - mean * mean + 1e-5)
    shortcut_error = (shortcut.double() - expected).abs().max().nan_to_num(nan=float("inf")).item()
    assert shortcut_error > allowed


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layer_norm_keeps_the_dtype(dtype):
    x = randn(2, 3, seed=18, dtype=dtype)
    assert normalization.layer_norm(x, torch.ones(3, dtype=dtype), torch.zeros(3, dtype=dtype)).dtype == dtype


# ------------------------------------------------------------------------------ rms_norm


def rms_oracle(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
    """F.rms_norm (torch >= 2.4), else the contract's formula."""
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, (x.shape[-1],), weight, eps)
    y = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y if weight is None else y * weight


@pytest.mark.skipif(not hasattr(F, "rms_norm"), reason="F.rms_norm needs torch >= 2.4")
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 5, 7)])
def test_rms_norm_matches_torch(weighted, shape):
    x = randn(*shape, seed=20) * 2 + 1
    weight = randn(7, seed=21) + 1 if weighted else None
    for eps in (1e-6, 1e-3):
        torch.testing.assert_close(normalization.rms_norm(x, weight, eps=eps), F.rms_norm(x, (7,), weight, eps),
                                   rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(normalization.rms_norm(x, weight), F.rms_norm(x, (7,), weight, 1e-6),
                               rtol=1e-12, atol=1e-12)


def test_rms_norm_default_eps_is_one_in_a_million():
    x = randn(3, 5, seed=22) * 1e-3  # mean square ~1e-6: the default eps matters
    torch.testing.assert_close(normalization.rms_norm(x), rms_oracle(x, None, 1e-6))
    assert not torch.allclose(normalization.rms_norm(x), rms_oracle(x, None, 1e-5), rtol=1e-3, atol=1e-3)


def test_rms_norm_worked_example():
    out = normalization.rms_norm(torch.tensor([[1.0, 2.0, 3.0, 6.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.2828, 0.5657, 0.8485, 1.6971]]), atol=1e-4, rtol=0)


def test_rms_norm_keeps_direction_and_unit_mean_square():
    x = randn(4, 9, seed=23) * 2 + 3
    y = normalization.rms_norm(x)
    factor = y / x
    torch.testing.assert_close(factor, factor[:, :1].expand_as(factor))
    assert bool((factor > 0).all())
    ms = x.pow(2).mean(-1)
    torch.testing.assert_close(y.pow(2).mean(-1), ms / (ms + 1e-6))


def test_rms_norm_is_invariant_to_scaling_but_not_to_shifting():
    x = randn(5, 8, seed=24)
    a = torch.rand(5, 1, generator=torch.Generator().manual_seed(25), dtype=f64) * 3.5 + 0.5
    torch.testing.assert_close(normalization.rms_norm(a * x, eps=1e-12), normalization.rms_norm(x, eps=1e-12))
    change = (normalization.rms_norm(x + 2.0) - normalization.rms_norm(x)).abs().amax(-1)
    assert bool((change > 1e-3).all())


def test_rms_norm_gradients_match_the_formula():
    x = randn(3, 5, seed=26).requires_grad_(True)
    weight = (randn(5, seed=27) + 1).requires_grad_(True)
    cotangent = randn(3, 5, seed=28)
    ours = torch.autograd.grad(normalization.rms_norm(x, weight), (x, weight), cotangent)
    theirs = torch.autograd.grad(rms_oracle(x, weight, 1e-6), (x, weight), cotangent)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rms_norm_keeps_the_dtype(dtype):
    x = randn(2, 3, seed=29, dtype=dtype)
    assert normalization.rms_norm(x, torch.ones(3, dtype=dtype)).dtype == dtype
    assert normalization.rms_norm(x).dtype == dtype

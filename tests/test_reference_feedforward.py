"""The reference gelu and feed_forward agree with torch in float64 (F.gelu in both forms,
nn.Linear layers, nn.TransformerEncoderLayer's feed-forward half), and have the properties
the checks rely on (the two GELU forms differ by up to 4.7e-4, position-wise, errors).

F != D everywhere except where F == D is the point, so a missing transpose cannot pass.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from solutions import feedforward

f64 = torch.float64


def randn(*shape: int, seed: int, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ------------------------------------------------------------------------------ gelu


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    x = torch.linspace(-8, 8, 1601, dtype=f64)
    torch.testing.assert_close(feedforward.gelu(x, approximate=approximate), F.gelu(x, approximate=approximate),
                               rtol=1e-12, atol=1e-14)


def test_gelu_default_is_exact():
    x = randn(3, 4, seed=1) * 3
    torch.testing.assert_close(feedforward.gelu(x), F.gelu(x), rtol=1e-12, atol=1e-14)


def test_the_two_forms_differ_by_up_to_4_7e_4_near_minus_2_7():
    x = torch.linspace(-6, 6, 120001, dtype=f64)
    gap = (feedforward.gelu(x) - feedforward.gelu(x, approximate="tanh")).abs()
    assert 4.6e-4 < float(gap.max()) < 4.8e-4
    assert abs(float(x[gap.argmax()]) + 2.7) < 0.05
    sigmoid_gap = (feedforward.gelu(x) - x * torch.sigmoid(1.702 * x)).abs().max()
    assert 1.9e-2 < float(sigmoid_gap) < 2.1e-2


def test_gelu_worked_example_and_shape_properties():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0], dtype=f64)
    torch.testing.assert_close(feedforward.gelu(x), torch.tensor([-0.0040, -0.1587, 0.0, 0.8413, 2.9960], dtype=f64),
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(feedforward.gelu(x, approximate="tanh"),
                               torch.tensor([-0.0036, -0.1588, 0.0, 0.8412, 2.9964], dtype=f64), atol=1e-4, rtol=0)
    y = randn(50, seed=2) * 3
    for form in ("none", "tanh"):
        torch.testing.assert_close(feedforward.gelu(y, form) - feedforward.gelu(-y, form), y)
    minimum = feedforward.gelu(torch.linspace(-3, 0, 3001, dtype=f64)).min()
    assert abs(float(minimum) + 0.17) < 1e-3


@pytest.mark.parametrize("approximate", ["sigmoid", "exact", "TANH", None])
def test_gelu_rejects_other_forms(approximate):
    with pytest.raises(ValueError):
        feedforward.gelu(torch.zeros(3), approximate=approximate)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient_matches_torch(approximate):
    x = (randn(10, seed=3) * 3).requires_grad_(True)
    (ours,) = torch.autograd.grad(feedforward.gelu(x, approximate).sum(), x)
    (theirs,) = torch.autograd.grad(F.gelu(x, approximate=approximate).sum(), x)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gelu_keeps_the_dtype(dtype):
    for form in ("none", "tanh"):
        assert feedforward.gelu(randn(4, seed=4, dtype=dtype), form).dtype == dtype


# ------------------------------------------------------------------------------ feed_forward


def weights(d: int, f: int, seed: int, biases: bool = True):
    return (randn(f, d, seed=seed), randn(f, seed=seed + 1) if biases else None,
            randn(d, f, seed=seed + 2), randn(d, seed=seed + 3) if biases else None)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("biases", [True, False])
def test_feed_forward_matches_torch_linear_layers(activation, biases):
    x = randn(2, 3, 4, seed=10)
    w_1, b_1, w_2, b_2 = weights(4, 6, 11, biases)
    act = {"relu": F.relu, "gelu": F.gelu}[activation]
    expected = F.linear(act(F.linear(x, w_1, b_1)), w_2, b_2)
    torch.testing.assert_close(feedforward.feed_forward(x, w_1, b_1, w_2, b_2, activation=activation), expected)


def test_feed_forward_default_is_relu_and_biases_may_be_mixed():
    x = randn(3, 5, seed=20)
    w_1, b_1, w_2, b_2 = weights(5, 2, 21)
    torch.testing.assert_close(feedforward.feed_forward(x, w_1, b_1, w_2, b_2),
                               F.linear(F.relu(F.linear(x, w_1, b_1)), w_2, b_2))
    torch.testing.assert_close(feedforward.feed_forward(x, w_1, None, w_2, b_2, "gelu"),
                               F.linear(F.gelu(F.linear(x, w_1)), w_2, b_2))
    torch.testing.assert_close(feedforward.feed_forward(x, w_1, b_1, w_2, None, "gelu"),
                               F.linear(F.gelu(F.linear(x, w_1, b_1)), w_2))


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feed_forward_is_the_encoder_layers_feed_forward_half(activation):
    """nn.TransformerEncoderLayer's feed-forward half: linear2(dropout(activation(linear1(x))))."""
    layer = torch.nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0, activation=activation,
                                             batch_first=True, dtype=f64)
    x = randn(2, 3, 4, seed=30)
    with torch.no_grad():
        expected = layer.linear2(layer.activation(layer.linear1(x)))
    got = feedforward.feed_forward(x, layer.linear1.weight.detach(), layer.linear1.bias.detach(),
                                   layer.linear2.weight.detach(), layer.linear2.bias.detach(), activation)
    torch.testing.assert_close(got, expected)


def test_feed_forward_square_weights_are_transposed():
    x = randn(2, 4, seed=40)
    w_1, b_1, w_2, b_2 = weights(4, 4, 41)
    out = feedforward.feed_forward(x, w_1, b_1, w_2, b_2)
    torch.testing.assert_close(out, F.relu(x @ w_1.T + b_1) @ w_2.T + b_2)
    assert not torch.allclose(out, F.relu(x @ w_1 + b_1) @ w_2 + b_2)


def test_feed_forward_is_position_wise():
    x = randn(2, 5, 3, seed=50)
    w_1, b_1, w_2, b_2 = weights(3, 7, 51)
    perm = torch.tensor([3, 0, 4, 1, 2])
    out = feedforward.feed_forward(x, w_1, b_1, w_2, b_2, "gelu")
    torch.testing.assert_close(feedforward.feed_forward(x[:, perm], w_1, b_1, w_2, b_2, "gelu"), out[:, perm])
    torch.testing.assert_close(feedforward.feed_forward(x[1], w_1, b_1, w_2, b_2, "gelu"), out[1])


@pytest.mark.parametrize("activation", ["tanh", "silu", "GELU", None])
def test_feed_forward_rejects_other_activations(activation):
    w_1, b_1, w_2, b_2 = weights(3, 5, 60)
    with pytest.raises(ValueError):
        feedforward.feed_forward(randn(2, 3, seed=61), w_1, b_1, w_2, b_2, activation=activation)


def test_feed_forward_gradients_reach_every_input():
    x, w_1, b_1, w_2, b_2 = (t.requires_grad_(True) for t in (randn(2, 3, seed=70), *weights(3, 5, 71)))
    cotangent = randn(2, 3, seed=75)
    inputs = (x, w_1, b_1, w_2, b_2)
    ours = torch.autograd.grad(feedforward.feed_forward(*inputs, activation="gelu"), inputs, cotangent)
    theirs = torch.autograd.grad(F.linear(F.gelu(F.linear(x, w_1, b_1)), w_2, b_2), inputs, cotangent)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_feed_forward_keeps_the_dtype(dtype):
    x = randn(2, 3, seed=80, dtype=dtype)
    w_1, b_1, w_2, b_2 = (t.to(dtype) for t in weights(3, 5, 81))
    for activation in ("relu", "gelu"):
        assert feedforward.feed_forward(x, w_1, b_1, w_2, b_2, activation).dtype == dtype
    assert math.isfinite(float(feedforward.feed_forward(x, w_1, b_1, w_2, b_2).sum()))

"""The reference vit_embed and vit_classify agree with torch (Conv2d, LayerNorm, Linear) and have ViT's properties.

Sizes are distinct and >= 2 (B = 2, a non-square grid of patches, C = 3, K != D) so that
transposed or swapped axes cannot pass by accident.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from solutions import vit

f64 = torch.float64


def randn(*shape: int, seed: int, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def embed_inputs(bias: bool = True):
    """Two 3-channel 8 x 12 images, 4 x 4 patches (a 2 x 3 grid, N = 6), D = 5."""
    images = randn(2, 3, 8, 12, seed=1)
    weight = randn(5, 3, 4, 4, seed=2) / 7
    return images, weight, randn(5, seed=3) if bias else None, randn(5, seed=4), randn(7, 5, seed=5)


@pytest.mark.parametrize("bias", [True, False])
def test_vit_embed_matches_conv2d_and_cat(bias):
    images, weight, b, cls, pos = embed_inputs(bias)
    conv = nn.Conv2d(3, 5, kernel_size=4, stride=4, bias=bias).double()
    with torch.no_grad():
        conv.weight.copy_(weight)
        if bias:
            conv.bias.copy_(b)
        tokens = conv(images).flatten(2).transpose(1, 2)
    expected = torch.cat([cls.expand(2, 1, 5), tokens], dim=1) + pos
    out = vit.vit_embed(images, weight, b, cls, pos)
    assert out.shape == (2, 7, 5) and out.dtype == f64
    torch.testing.assert_close(out, expected)
    out32 = vit.vit_embed(*(t if t is None else t.float() for t in (images, weight, b, cls, pos)))
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, expected.float(), rtol=1e-5, atol=1e-5)


def test_vit_embed_class_row_and_locality():
    images, weight, b, cls, pos = embed_inputs()
    out = vit.vit_embed(images, weight, b, cls, pos)
    for image in range(2):
        torch.testing.assert_close(out[image, 0], cls + pos[0])
    changed = images.clone()
    changed[1, :, 4:8, 8:12] += 1.0  # image 1, patch (i=1, j=2): n = 1 * 3 + 2 = 5, row 6
    moved = (vit.vit_embed(changed, weight, b, cls, pos) - out).abs().amax(-1) > 0
    assert moved.nonzero().tolist() == [[1, 6]]


def test_vit_embed_errors():
    images, weight, b, cls, pos = embed_inputs()
    for rows in (6, 8, 1):
        with pytest.raises(ValueError):
            vit.vit_embed(images, weight, b, cls, randn(rows, 5, seed=6))
    with pytest.raises(ValueError):
        vit.vit_embed(randn(2, 3, 10, 12, seed=7), weight, b, cls, pos)


def test_vit_embed_gradcheck():
    images, weight, b, cls, pos = (t.requires_grad_() for t in embed_inputs())
    assert torch.autograd.gradcheck(vit.vit_embed, (images[:, :, :4, :8], weight, b, cls, pos[:3]))


def classify_inputs(bias: bool = True):
    """B = 2, N + 1 = 5 tokens, D = 6, K = 4."""
    encoded = randn(2, 5, 6, seed=10) * 2 + 3
    return (encoded, randn(6, seed=11) * 0.5 + 1, randn(6, seed=12), randn(4, 6, seed=13),
            randn(4, seed=14) if bias else None)


@pytest.mark.parametrize("eps", [1e-5, 0.3])
@pytest.mark.parametrize("bias", [True, False])
def test_vit_classify_matches_layer_norm_and_linear(eps, bias):
    encoded, norm_w, norm_b, head_w, head_b = classify_inputs(bias)
    norm = nn.LayerNorm(6, eps=eps).double()
    head = nn.Linear(6, 4, bias=bias).double()
    with torch.no_grad():
        norm.weight.copy_(norm_w)
        norm.bias.copy_(norm_b)
        head.weight.copy_(head_w)
        if bias:
            head.bias.copy_(head_b)
        expected = head(norm(encoded[:, 0]))
    out = vit.vit_classify(encoded, norm_w, norm_b, head_w, head_b, eps=eps)
    assert out.shape == (2, 4) and out.dtype == f64
    torch.testing.assert_close(out, expected)
    out32 = vit.vit_classify(*(t if t is None else t.float() for t in (encoded, norm_w, norm_b, head_w, head_b)),
                             eps=eps)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, expected.float(), rtol=1e-5, atol=1e-5)


def test_vit_classify_reads_only_the_class_token():
    encoded, *params = classify_inputs()
    out = vit.vit_classify(encoded, *params)
    others = encoded.clone()
    others[:, 1:] = randn(2, 4, 6, seed=15) * 10
    torch.testing.assert_close(vit.vit_classify(others, *params), out, rtol=0, atol=0)
    first = encoded.clone()
    first[:, 0] += randn(2, 6, seed=16)
    assert ((vit.vit_classify(first, *params) - out).abs().amax(-1) > 1e-3).all()
    # the worked example of the module docstring
    example = torch.tensor([[[1.0, 2.0, 3.0, 6.0], [9, 9, 9, 9], [0, 1, 0, 1]]])
    head_w = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1]])
    scores = vit.vit_classify(example, torch.ones(4), torch.zeros(4), head_w, torch.tensor([0.0, 0.5]))
    torch.testing.assert_close(scores, torch.tensor([[-1.0690, 2.1036]]), rtol=0, atol=1e-4)


def test_vit_classify_gradcheck():
    inputs = tuple(t.requires_grad_() for t in classify_inputs())
    assert torch.autograd.gradcheck(lambda *a: vit.vit_classify(*a, eps=0.1), inputs)


def test_a_whole_vit_matches_torch_modules():
    """embed -> nn.TransformerEncoder -> classify equals the same model written with torch modules."""
    torch.manual_seed(0)
    images, weight, b, cls, pos = embed_inputs()
    layer = nn.TransformerEncoderLayer(5, 1, dim_feedforward=8, dropout=0.0, batch_first=True,
                                       norm_first=True, dtype=f64)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    norm_w, norm_b, head_w, head_b = randn(5, seed=20) + 1, randn(5, seed=21), randn(3, 5, seed=22), randn(3, seed=23)
    with torch.no_grad():
        ours = vit.vit_classify(encoder(vit.vit_embed(images, weight, b, cls, pos)), norm_w, norm_b, head_w, head_b)
        tokens = F.conv2d(images, weight, b, stride=4).flatten(2).transpose(1, 2)
        z = torch.cat([cls.expand(2, 1, 5), tokens], dim=1) + pos
        state = encoder(z)[:, 0]
        expected = F.linear(F.layer_norm(state, (5,), norm_w, norm_b, 1e-5), head_w, head_b)
    torch.testing.assert_close(ours, expected)

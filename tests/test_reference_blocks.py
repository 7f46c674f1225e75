"""The reference blocks agree with nn.TransformerEncoderLayer / nn.TransformerDecoderLayer.

Sizes are distinct and >= 2 (B = 2, two or three heads, L != M, F != D) and the norms'
weights and biases are far from 1 and 0, so that a swapped axis, a forgotten bias or a
shared norm cannot pass by accident. PyTorch's masks mean True = blocked: the oracle gets
the inverted mask, as a 3-D ``[B * heads, Lq, Lk]`` tensor (batch-major).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from grader.concepts.blocks import checks
from solutions import blocks

f64 = torch.float64


def randn(*shape, seed: int, scale: float = 1.0, dtype=f64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=generator, dtype=f64) * scale).to(dtype)


def make_params(d: int, f: int, decoder: bool, seed: int, dtype=f64) -> dict[str, torch.Tensor]:
    params = {}
    for prefix in ("", "cross_") if decoder else ("",):
        for i, name in enumerate("qkvo"):
            params[f"{prefix}w_{name}"] = randn(d, d, seed=seed + i, scale=1 / math.sqrt(d), dtype=dtype)
            params[f"{prefix}b_{name}"] = randn(d, seed=seed + 10 + i, scale=0.5, dtype=dtype)
        seed += 100
    params["w_1"] = randn(f, d, seed=seed + 20, scale=1 / math.sqrt(d), dtype=dtype)
    params["b_1"] = randn(f, seed=seed + 21, scale=0.5, dtype=dtype)
    params["w_2"] = randn(d, f, seed=seed + 22, scale=1 / math.sqrt(f), dtype=dtype)
    params["b_2"] = randn(d, seed=seed + 23, scale=0.5, dtype=dtype)
    for k in (1, 2, 3) if decoder else (1, 2):
        params[f"norm{k}_weight"] = 1 + randn(d, seed=seed + 30 + k, scale=0.5, dtype=dtype)
        params[f"norm{k}_bias"] = randn(d, seed=seed + 40 + k, scale=0.5, dtype=dtype)
    return params


def torch_layer(decoder: bool, params: dict, heads: int, norm_first: bool, activation: str, eps: float) -> nn.Module:
    """concepts.md section 12: PyTorch's layer holding the contract's parameters."""
    d, f = params["w_1"].shape[1], params["w_1"].shape[0]
    kind = nn.TransformerDecoderLayer if decoder else nn.TransformerEncoderLayer
    layer = kind(d, heads, dim_feedforward=f, dropout=0.0, activation=activation, layer_norm_eps=eps,
                 batch_first=True, norm_first=norm_first, dtype=f64)
    attentions = [(layer.self_attn, "")] + ([(layer.multihead_attn, "cross_")] if decoder else [])
    with torch.no_grad():
        for module, prefix in attentions:
            module.in_proj_weight.copy_(torch.cat([params[prefix + "w_" + n] for n in "qkv"]))
            module.in_proj_bias.copy_(torch.cat([params[prefix + "b_" + n] for n in "qkv"]))
            module.out_proj.weight.copy_(params[prefix + "w_o"])
            module.out_proj.bias.copy_(params[prefix + "b_o"])
        layer.linear1.weight.copy_(params["w_1"])
        layer.linear1.bias.copy_(params["b_1"])
        layer.linear2.weight.copy_(params["w_2"])
        layer.linear2.bias.copy_(params["b_2"])
        for k in (1, 2, 3) if decoder else (1, 2):
            getattr(layer, f"norm{k}").weight.copy_(params[f"norm{k}_weight"])
            getattr(layer, f"norm{k}").bias.copy_(params[f"norm{k}_bias"])
    return layer


def blocked(mask, batch: int, heads: int, lq: int, lk: int):
    return None if mask is None else ~mask.expand(batch, heads, lq, lk).reshape(batch * heads, lq, lk)


def random_mask(*shape, seed: int) -> torch.Tensor:
    """Random, with at least one True per row (a fully masked row is unspecified)."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(shape, generator=generator) < 0.5
    mask[..., 0] = True
    return mask.flip(-1) if seed % 2 else mask


B, L, M, D, HEADS, FF = 2, 3, 5, 6, 2, 7
CAUSAL = torch.ones(L, L, dtype=torch.bool).tril()
ENCODER_MASKS = {
    "none": None,
    "causal [L, L]": CAUSAL,
    "padding [B, 1, 1, L]": torch.tensor([[True, True, False], [True, True, True]])[:, None, None, :],
    "per-head [B, h, L, L]": random_mask(B, HEADS, L, L, seed=3),
}
MEMORY_MASKS = {
    "none": None,
    "padding [B, 1, 1, M]": torch.tensor([[True] * 3 + [False] * 2, [True] * 5])[:, None, None, :],
    "per-head [B, h, L, M]": random_mask(B, HEADS, L, M, seed=4),
    "[L, M]": random_mask(L, M, seed=5),
}
SETTINGS = list(itertools.product([False, True], ["relu", "gelu"]))


@pytest.mark.parametrize("mask_kind", list(ENCODER_MASKS))
@pytest.mark.parametrize("norm_first,activation", SETTINGS)
def test_encoder_block_matches_torch(norm_first, activation, mask_kind):
    params = make_params(D, FF, False, seed=10)
    x = randn(B, L, D, seed=11)
    mask = ENCODER_MASKS[mask_kind]
    eps = 1e-3
    layer = torch_layer(False, params, HEADS, norm_first, activation, eps)
    with torch.no_grad():
        expected = layer(x, src_mask=blocked(mask, B, HEADS, L, L))
    got = blocks.encoder_block(x, params, HEADS, mask=mask, norm_first=norm_first, activation=activation, eps=eps)
    assert got.shape == (B, L, D) and got.dtype == f64
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("self_kind,memory_kind", [
    ("none", "none"), ("causal [L, L]", "padding [B, 1, 1, M]"), ("per-head [B, h, L, L]", "per-head [B, h, L, M]"),
    ("causal [L, L]", "[L, M]"),
])
@pytest.mark.parametrize("norm_first,activation", SETTINGS)
def test_decoder_block_matches_torch(norm_first, activation, self_kind, memory_kind):
    params = make_params(D, FF, True, seed=20)
    x, memory = randn(B, L, D, seed=21), randn(B, M, D, seed=22)
    self_mask, memory_mask = ENCODER_MASKS[self_kind], MEMORY_MASKS[memory_kind]
    eps = 1e-3
    layer = torch_layer(True, params, HEADS, norm_first, activation, eps)
    with torch.no_grad():
        expected = layer(x, memory, tgt_mask=blocked(self_mask, B, HEADS, L, L),
                         memory_mask=blocked(memory_mask, B, HEADS, L, M))
    got = blocks.decoder_block(x, memory, params, HEADS, self_mask=self_mask, memory_mask=memory_mask,
                               norm_first=norm_first, activation=activation, eps=eps)
    assert got.shape == (B, L, D) and got.dtype == f64
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_defaults_are_post_norm_relu_and_eps_1e_5():
    params = make_params(D, FF, True, seed=30)
    x, memory = randn(B, L, D, seed=31), randn(B, M, D, seed=32)
    with torch.no_grad():
        encoder = torch_layer(False, {k: v for k, v in params.items() if "cross" not in k and "norm3" not in k},
                              HEADS, False, "relu", 1e-5)
        decoder = torch_layer(True, params, HEADS, False, "relu", 1e-5)
        torch.testing.assert_close(blocks.encoder_block(x, params, HEADS), encoder(x))
        torch.testing.assert_close(blocks.decoder_block(x, memory, params, HEADS), decoder(x, memory))


def test_float32_keeps_its_dtype_and_is_close():
    params = make_params(D, FF, True, seed=40)
    x, memory = randn(B, L, D, seed=41), randn(B, M, D, seed=42)
    params32 = {k: v.float() for k, v in params.items()}
    for norm_first in (False, True):
        enc = blocks.encoder_block(x.float(), params32, HEADS, mask=CAUSAL, norm_first=norm_first)
        dec = blocks.decoder_block(x.float(), memory.float(), params32, HEADS, self_mask=CAUSAL,
                                   norm_first=norm_first)
        assert enc.dtype == torch.float32 and dec.dtype == torch.float32
        torch.testing.assert_close(enc.double(), blocks.encoder_block(x, params, HEADS, mask=CAUSAL,
                                                                      norm_first=norm_first), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(dec.double(), blocks.decoder_block(x, memory, params, HEADS, self_mask=CAUSAL,
                                                                      norm_first=norm_first), rtol=1e-4, atol=1e-5)


def test_gradcheck():
    params = make_params(4, 3, True, seed=50)
    x, memory = randn(2, 2, 4, seed=51), randn(2, 3, 4, seed=52)
    keys = list(params)

    def decoder(x, memory, *values):
        return blocks.decoder_block(x, memory, dict(zip(keys, values)), 2, self_mask=torch.ones(2, 2).tril().bool(),
                                    norm_first=True, activation="gelu", eps=1e-3)

    inputs = (x, memory, *params.values())
    assert torch.autograd.gradcheck(decoder, tuple(t.clone().requires_grad_() for t in inputs))
    enc_keys = [k for k in keys if "cross" not in k and "norm3" not in k]

    def encoder(x, *values):
        return blocks.encoder_block(x, dict(zip(enc_keys, values)), 2, activation="gelu")

    enc_inputs = (x, *(params[k] for k in enc_keys))
    assert torch.autograd.gradcheck(encoder, tuple(t.clone().requires_grad_() for t in enc_inputs))


def test_pre_norm_with_zero_sublayers_is_the_identity():
    params = make_params(D, FF, True, seed=60)
    for key in ("w_o", "b_o", "cross_w_o", "cross_b_o", "w_2", "b_2"):
        params[key] = torch.zeros_like(params[key])
    x, memory = randn(B, L, D, seed=61), randn(B, M, D, seed=62)
    assert torch.equal(blocks.encoder_block(x, params, HEADS, mask=CAUSAL, norm_first=True), x)
    assert torch.equal(blocks.decoder_block(x, memory, params, HEADS, self_mask=CAUSAL, norm_first=True), x)
    assert not torch.allclose(blocks.encoder_block(x, params, HEADS), x)  # post-norm normalises the stream


def test_masked_memory_position_changes_nothing():
    params = make_params(D, FF, True, seed=70)
    x, memory = randn(B, L, D, seed=71), randn(B, M, D, seed=72)
    memory_mask = MEMORY_MASKS["padding [B, 1, 1, M]"]  # row 0 hides positions 3 and 4
    changed = memory.clone()
    changed[0, 3:] = 100.0
    for norm_first in (False, True):
        before = blocks.decoder_block(x, memory, params, HEADS, memory_mask=memory_mask, norm_first=norm_first)
        after = blocks.decoder_block(x, changed, params, HEADS, memory_mask=memory_mask, norm_first=norm_first)
        torch.testing.assert_close(after, before, rtol=0, atol=1e-12)
        visible = memory.clone()
        visible[0, 0] += 1.0
        moved = blocks.decoder_block(x, visible, params, HEADS, memory_mask=memory_mask, norm_first=norm_first)
        assert (moved[0] - before[0]).abs().max() > 1e-3


def test_causal_self_attention_never_looks_ahead():
    params = make_params(D, FF, True, seed=80)
    x, memory = randn(B, L, D, seed=81), randn(B, M, D, seed=82)
    for t in range(1, L):
        changed = x.clone()
        changed[:, t] = randn(B, D, seed=83 + t) * 3
        for norm_first in (False, True):
            before = blocks.decoder_block(x, memory, params, HEADS, self_mask=CAUSAL, norm_first=norm_first)
            after = blocks.decoder_block(changed, memory, params, HEADS, self_mask=CAUSAL, norm_first=norm_first)
            torch.testing.assert_close(after[:, :t], before[:, :t], rtol=0, atol=1e-12)
            assert (after[:, t] - before[:, t]).abs().max() > 1e-3
            enc_before = blocks.encoder_block(x, params, HEADS, mask=CAUSAL, norm_first=norm_first)
            enc_after = blocks.encoder_block(changed, params, HEADS, mask=CAUSAL, norm_first=norm_first)
            torch.testing.assert_close(enc_after[:, :t], enc_before[:, :t], rtol=0, atol=1e-12)


def test_params_and_inputs_are_left_unchanged():
    params = make_params(D, FF, True, seed=90)
    copies = {k: v.clone() for k, v in params.items()}
    x, memory = randn(B, L, D, seed=91), randn(B, M, D, seed=92)
    x_copy, memory_copy = x.clone(), memory.clone()
    for norm_first in (False, True):
        blocks.encoder_block(x, params, HEADS, mask=CAUSAL, norm_first=norm_first)
        blocks.decoder_block(x, memory, params, HEADS, self_mask=CAUSAL, norm_first=norm_first)
    assert list(params) == list(copies)
    assert all(torch.equal(params[k], copies[k]) for k in copies)
    assert torch.equal(x, x_copy) and torch.equal(memory, memory_copy)


def test_the_docstrings_worked_example():
    """One token, w_v = I, w_o = 0.5 I, plain norms, a feed-forward network that outputs 0."""
    d = 4
    params = {f"w_{n}": torch.eye(d, dtype=f64) for n in "qkv"}
    params["w_o"] = 0.5 * torch.eye(d, dtype=f64)
    params.update({f"b_{n}": torch.zeros(d, dtype=f64) for n in "qkvo"})
    params.update(w_1=torch.ones(3, d, dtype=f64), b_1=torch.zeros(3, dtype=f64),
                  w_2=torch.zeros(d, 3, dtype=f64), b_2=torch.zeros(d, dtype=f64))
    for k in (1, 2):
        params[f"norm{k}_weight"], params[f"norm{k}_bias"] = torch.ones(d, dtype=f64), torch.zeros(d, dtype=f64)
    x = torch.tensor([[[1.0, 2.0, 3.0, 6.0]]], dtype=f64)
    post = blocks.encoder_block(x, params, 2)
    pre = blocks.encoder_block(x, params, 2, norm_first=True)
    torch.testing.assert_close(post[0, 0], torch.tensor([-1.0690, -0.5345, 0.0, 1.6036], dtype=f64), atol=1e-4, rtol=0)
    torch.testing.assert_close(pre[0, 0], torch.tensor([0.4655, 1.7327, 3.0, 6.8018], dtype=f64), atol=1e-4, rtol=0)


@pytest.mark.parametrize("norm_first,activation", SETTINGS)
def test_the_checks_mistake_builder_without_a_mistake_is_torch(norm_first, activation):
    """grader/concepts/blocks/checks.py names mistakes with ``_torch_block``: switched off, it must be right."""
    params = make_params(D, FF, True, seed=100)
    x, memory = randn(B, L, D, seed=101), randn(B, M, D, seed=102)
    self_mask, memory_mask = CAUSAL, MEMORY_MASKS["per-head [B, h, L, M]"]
    settings = dict(norm_first=norm_first, activation=activation, eps=0.1)
    encoder = checks._torch_block(x, None, params, HEADS, self_mask=self_mask, memory_mask=None, **settings)
    decoder = checks._torch_block(x, memory, params, HEADS, self_mask=self_mask, memory_mask=memory_mask, **settings)
    torch.testing.assert_close(encoder, blocks.encoder_block(x, params, HEADS, mask=self_mask, **settings))
    torch.testing.assert_close(decoder, blocks.decoder_block(x, memory, params, HEADS, self_mask=self_mask,
                                                             memory_mask=memory_mask, **settings))

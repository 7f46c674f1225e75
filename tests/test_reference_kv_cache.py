"""The reference cached_attention agrees with PyTorch and has the properties of a KV cache.

The oracle is ``F.scaled_dot_product_attention`` in float64: with
``torch.nn.attention.bias.causal_lower_right(n, p + n)`` for new queries after a cache
(the bottom-right causal alignment), and with ``is_causal=True`` over a whole sequence
(square, where top-left and bottom-right coincide).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right

from solutions.kv_cache import cached_attention

f64 = torch.float64


def randn(*shape: int, seed: int, dtype: torch.dtype = f64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
@pytest.mark.parametrize("p,n", [(1, 2), (3, 2), (4, 1), (2, 4)])
def test_matches_torch_with_a_cache(lead, p, n):
    d, dv = 4, 3
    q, k, v = randn(*lead, n, d, seed=1), randn(*lead, n, d, seed=2), randn(*lead, n, dv, seed=3)
    past_k, past_v = randn(*lead, p, d, seed=4), randn(*lead, p, dv, seed=5)
    out, k_all, v_all = cached_attention(q, k, v, past_k, past_v)
    assert torch.equal(k_all, torch.cat([past_k, k], -2)) and torch.equal(v_all, torch.cat([past_v, v], -2))
    assert out.shape == (*lead, n, dv)
    k_cat, v_cat = torch.cat([past_k, k], -2), torch.cat([past_v, v], -2)
    expected = F.scaled_dot_product_attention(q, k_cat, v_cat, attn_mask=causal_lower_right(n, p + n))
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    # the same with the mask written out: query i may see key j iff j <= p + i
    allowed = torch.tensor([[j <= p + i for j in range(p + n)] for i in range(n)])
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k_cat, v_cat, attn_mask=allowed),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunks", [(2, 1, 4, 2), (1, 1, 1, 1, 1), (5,), (3, 2), (1, 4)])
def test_chunks_of_any_sizes_equal_causal_attention_over_the_whole_sequence(chunks):
    total = sum(chunks)
    q, k, v = randn(2, 3, total, 5, seed=10), randn(2, 3, total, 5, seed=11), randn(2, 3, total, 2, seed=12)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    past_k = past_v = None
    outputs, start = [], 0
    for size in chunks:
        piece = slice(start, start + size)
        out, past_k, past_v = cached_attention(q[..., piece, :], k[..., piece, :], v[..., piece, :], past_k, past_v)
        outputs.append(out)
        start += size
    torch.testing.assert_close(torch.cat(outputs, -2), expected, rtol=0, atol=1e-12)
    assert torch.equal(past_k, k) and torch.equal(past_v, v)


def test_no_cache_is_causal_self_attention():
    q, k, v = randn(2, 4, 3, seed=20), randn(2, 4, 3, seed=21), randn(2, 4, 6, seed=22)
    for out, k_all, v_all in (cached_attention(q, k, v), cached_attention(q, k, v, None, None)):
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
        assert torch.equal(k_all, k) and torch.equal(v_all, v)


def test_one_new_token_sees_the_whole_cache():
    q, k, v = randn(2, 1, 4, seed=30), randn(2, 1, 4, seed=31), randn(2, 1, 3, seed=32)
    past_k, past_v = randn(2, 5, 4, seed=33), randn(2, 5, 3, seed=34)
    out, k_all, v_all = cached_attention(q, k, v, past_k, past_v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k_all, v_all))  # no mask needed


def test_keys_shared_across_heads_broadcast():
    q = randn(2, 3, 2, 4, seed=40)
    k, v = randn(2, 1, 2, 4, seed=41), randn(2, 1, 2, 5, seed=42)
    past_k, past_v = randn(2, 1, 3, 4, seed=43), randn(2, 1, 3, 5, seed=44)
    out, k_all, v_all = cached_attention(q, k, v, past_k, past_v)
    assert out.shape == (2, 3, 2, 5) and k_all.shape == (2, 1, 5, 4)
    expected = F.scaled_dot_product_attention(q, k_all.expand(2, 3, 5, 4), v_all.expand(2, 3, 5, 5),
                                              attn_mask=causal_lower_right(2, 5))
    torch.testing.assert_close(out, expected)


def test_float32_keeps_its_dtype_and_the_docstring_example():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    out, k_all, v_all = cached_attention(x[:2], x[:2], x[:2])
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0], [0.3302, 0.6698]]), rtol=0, atol=1e-4)
    out, k_all, v_all = cached_attention(x[2:], x[2:], x[2:], k_all, v_all)
    torch.testing.assert_close(out, torch.tensor([[0.7517, 0.7517]]), rtol=0, atol=1e-4)
    assert k_all.shape == (3, 2) and torch.equal(k_all, x) and out.dtype == k_all.dtype == torch.float32


def test_gradcheck():
    inputs = [randn(2, 2, 3, seed=50), randn(2, 2, 3, seed=51), randn(2, 2, 4, seed=52),
              randn(2, 3, 3, seed=53), randn(2, 3, 4, seed=54)]
    inputs = [t.requires_grad_() for t in inputs]
    assert torch.autograd.gradcheck(lambda *a: cached_attention(*a), inputs)


def test_value_errors():
    q, k, v = randn(3, 4, seed=60), randn(2, 4, seed=61), randn(2, 5, seed=62)
    past_k, past_v = randn(3, 4, seed=63), randn(3, 5, seed=64)
    with pytest.raises(ValueError):
        cached_attention(q, k, v)
    with pytest.raises(ValueError):
        cached_attention(q, k, v, past_k, past_v)
    with pytest.raises(ValueError):
        cached_attention(q[:2], k, v, past_k, None)
    with pytest.raises(ValueError):
        cached_attention(q[:2], k, v, None, past_v)

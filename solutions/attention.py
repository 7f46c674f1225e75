"""Softmax and scaled dot-product attention: how each token decides what to look at.

The core of every transformer layer. Each query is compared with every key, a softmax
turns the scaled scores into weights that sum to one, and the output is the weighted
average of the values. In the lecture's "your cat is a lovely cat" table, each row holds
the six weights with which one word draws on every word of the sentence, itself included.

## Shapes

| tensor    | shape                               | meaning                                  |
|-----------|-------------------------------------|------------------------------------------|
| `q`       | `[..., Lq, d]`                      | one query per output position            |
| `k`       | `[..., Lk, d]`                      | one key per input position (same `d`)    |
| `v`       | `[..., Lk, dv]`                     | one value per input position             |
| `mask`    | bool, broadcastable to `[..., Lq, Lk]` | True = may attend                     |
| `weights` | `[..., Lq, Lk]`                     | row `i`: what query `i` takes from each key; sums to 1 |
| `output`  | `[..., Lq, dv]`                     | row `i`: the weighted average of the values |

The leading dims `...` (batch, heads) broadcast and are never mixed: all the work
happens in the last two axes.

## Formula

```
softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m),   m = max_j x_j   (per slice)

scores  = q kᵀ / sqrt(d)                  [..., Lq, Lk]
scores  = -inf where the mask is False    (those keys get weight exactly 0)
weights = softmax(scores) over the keys   [..., Lq, Lk]
output  = weights v                       [..., Lq, dv]
```

## A worked example

Three tokens with `d = 2` and `q = k = v = [[1, 0], [0, 1], [1, 1]]`. The scores
`q kᵀ / sqrt(2)` and the weights after the row-wise softmax are:

| query ↓ key → | key 0 | key 1 | key 2 |   | weight 0 | weight 1 | weight 2 | sum |
|-------------|-------|-------|-------|---|----------|----------|----------|-----|
| query 0     | 0.71  | 0     | 0.71  |   | 0.40     | 0.20     | 0.40     | 1   |
| query 1     | 0     | 0.71  | 0.71  |   | 0.20     | 0.40     | 0.40     | 1   |
| query 2     | 0.71  | 0.71  | 1.41  |   | 0.25     | 0.25     | 0.50     | 1   |

so the output of query 2 is `0.25 [1, 0] + 0.25 [0, 1] + 0.5 [1, 1] = [0.75, 0.75]`.
With a causal mask (see `masks`) query 0 sees only key 0 and gets weights `[1, 0, 0]`.

## Why subtract the max?

`exp(89.)` is already `inf` in float32, so `softmax([1000., 1001.])` computed naively is
`inf / inf = nan`. Shifting every entry by the slice's max changes nothing
mathematically and keeps every exponent `<= 0`.
"""

from __future__ import annotations

import math

import torch

__all__ = ["softmax", "scaled_dot_product_attention"]


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax of ``x`` along ``dim``.

    Args:
        x: floating tensor of any shape.
        dim: the axis to normalise over.

    Returns:
        Tensor with the shape and dtype of ``x``: non-negative, summing to 1 along ``dim``.

    Formula: ``softmax(x)_i = exp(x_i - m) / sum_j exp(x_j - m)`` with ``m = max_j x_j``
    taken per slice along ``dim``. Subtracting ``m`` cancels out mathematically. It makes
    the largest exponent ``exp(0) = 1``, so nothing overflows and the denominator is >= 1.

    Intuition: a "soft" argmax. Large entries take most of the mass, and an entry of
    ``-inf`` gets exactly 0, which is how masks switch keys off.

    Pitfall: the naive ``exp(x) / exp(x).sum()`` overflows to ``inf / inf = nan`` once an
    entry exceeds about 88 in float32 (try ``[1000., 1001.]``). Take the max per slice
    (``keepdim=True``), not one global max over the whole tensor. A slice that is entirely
    ``-inf`` has no meaningful answer, and what you return for it is not graded (just do
    not crash).

    Example:
        softmax(torch.tensor([1000., 1001., 1002.]))  ->  tensor([0.0900, 0.2447, 0.6652])
        softmax(torch.tensor([0., float("-inf")]))    ->  tensor([1., 0.])
    """
    # BEGIN SOLUTION
    if x.numel() == 0:  # amax cannot reduce an empty axis
        return x.clone()
    m = x.amax(dim=dim, keepdim=True)
    # A slice that is all -inf has max -inf and (-inf) - (-inf) = nan: shift it by 0
    # instead, which makes the whole slice come out as zeros below.
    m = m.masked_fill(~torch.isfinite(m), 0.0)
    e = torch.exp(x - m)
    total = e.sum(dim=dim, keepdim=True)
    # total >= 1 whenever the slice has a finite entry; it is 0 only for all -inf slices.
    return e / total.masked_fill(total == 0, 1.0)
    # END SOLUTION


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention, returning both the output and the weights.

    Args:
        q: queries ``[..., Lq, d]``.
        k: keys ``[..., Lk, d]``.
        v: values ``[..., Lk, dv]``. Leading dims of q, k, v broadcast.
        mask: optional bool tensor broadcastable to ``[..., Lq, Lk]``; True = may attend.

    Returns:
        ``(output, weights)``: ``output`` ``[..., Lq, dv]``, ``weights`` ``[..., Lq, Lk]``
        (each row sums to 1; masked-out entries are exactly 0).

    Formula: ``weights = softmax(q @ k^T / sqrt(d))`` over the key axis, with masked
    scores set to ``-inf`` before the softmax; ``output = weights @ v``. Use this
    module's ``softmax``.

    Intuition: each query asks "which keys look like me?" and returns the matching
    average of the values. Dividing by ``sqrt(d)`` keeps the scores at unit scale, so
    the softmax does not saturate into a one-hot with vanishing gradients.

    Pitfall: divide by ``sqrt(d)`` with ``d`` the last dim of ``q`` (the head size),
    not by ``d`` itself and not by ``d_model``. The mask polarity is True = attend (as in
    ``F.scaled_dot_product_attention``); ``nn.MultiheadAttention`` uses the opposite.
    Filling with ``-1e9`` instead of ``-inf`` overflows in float16. Rows whose keys are
    all masked are not graded.
    """
    # BEGIN SOLUTION
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))
    weights = softmax(scores, dim=-1)
    return weights @ v, weights
    # END SOLUTION

"""Multi-head attention: several attention patterns side by side.

The tokens are projected to queries, keys and values, the ``D`` features are cut into
``h`` heads of ``D // h``, and each head runs scaled dot-product attention on its own
(one head may link "it" to "apple" while another tracks word order). The heads are then
concatenated and mixed: ``MultiHead(Q, K, V) = Concat(head_1 ... head_h) W_o``.

## The pipeline

```
query [B, Lq, D] --(w_q, b_q)--> Q [B, Lq, D] --split_heads--> [B, h, Lq, Dh]
key   [B, Lk, D] --(w_k, b_k)--> K [B, Lk, D] --split_heads--> [B, h, Lk, Dh]
value [B, Lk, D] --(w_v, b_v)--> V [B, Lk, D] --split_heads--> [B, h, Lk, Dh]

scaled_dot_product_attention per head  -->  heads [B, h, Lq, Dh], weights [B, h, Lq, Lk]
merge_heads(heads) [B, Lq, D] --(w_o, b_o)--> output [B, Lq, D]
```

with `Dh = D // h` and every projection in the `nn.Linear` layout, `y = x @ w.T + b`.

## Which features go to which head

`D = 6`, `h = 2`, so `Dh = 3`: head `k` takes features `k*Dh : (k+1)*Dh` of every token.

| token | features 0 1 2 | features 3 4 5 |
|-------|----------------|----------------|
| 0     | head 0         | head 1         |
| 1     | head 0         | head 1         |
| 2     | head 0         | head 1         |

Every head sees *all* tokens, with a slice of their features; `merge_heads` puts the
slices back side by side in the same order.

## Relation to PyTorch

The result equals `torch.nn.MultiheadAttention(D, h, batch_first=True)` with
`in_proj_weight = cat([w_q, w_k, w_v])`, `out_proj.weight = w_o`, the biases likewise,
and the mask inverted (there, True means *blocked*).

This module builds on `attention.scaled_dot_product_attention`. While the grader checks
it, a correct version of that function is used, so a mistake there costs points only in
`attention`.
"""

from __future__ import annotations

import torch

from .attention import scaled_dot_product_attention

__all__ = ["split_heads", "merge_heads", "multi_head_attention"]


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Split the feature axis into heads.

    Args:
        x: ``[B, L, D]``.
        num_heads: ``h``; must divide ``D``.

    Returns:
        ``[B, h, L, D // h]``, where head ``k`` holds features ``k*Dh : (k+1)*Dh``.

    Raises:
        ValueError: if ``D`` is not divisible by ``num_heads``.

    Formula: reshape to ``[B, L, h, Dh]``, then swap the L and h axes.

    Intuition: each head receives its own slice of every token's features, so each
    head can compute attention over all ``L`` tokens independently.

    Pitfall: ``x.reshape(B, h, L, Dh)`` without the transpose has the right shape but
    mixes tokens with heads: head 0 would get the first ``L / h`` tokens. This bug is
    invisible when ``L == 1`` or ``h == 1``.
    """
    # BEGIN SOLUTION
    *lead, length, d_model = x.shape
    if num_heads <= 0 or d_model % num_heads != 0:
        raise ValueError(
            f"split_heads: the feature size {d_model} is not divisible by num_heads={num_heads}"
        )
    x = x.reshape(*lead, length, num_heads, d_model // num_heads)
    return x.transpose(-3, -2)
    # END SOLUTION


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Concatenate the heads again: the inverse of ``split_heads``.

    Args:
        x: ``[B, h, L, Dh]``.

    Returns:
        ``[B, L, h * Dh]`` with head ``k`` in features ``k*Dh : (k+1)*Dh``.

    Formula: swap the h and L axes back, then reshape (the transposed tensor is not
    contiguous, so use ``reshape``, or ``.contiguous().view``).

    Intuition: ``merge_heads(split_heads(x, h)) == x`` exactly.

    Pitfall: reshaping ``[B, h, L, Dh]`` straight to ``[B, L, h*Dh]`` without the
    transpose gives the correct shape and wrong values.
    """
    # BEGIN SOLUTION
    *lead, num_heads, length, head_dim = x.shape
    return x.transpose(-3, -2).reshape(*lead, length, num_heads * head_dim)
    # END SOLUTION


def multi_head_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    num_heads: int,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    w_o: torch.Tensor,
    b_q: torch.Tensor | None = None,
    b_k: torch.Tensor | None = None,
    b_v: torch.Tensor | None = None,
    b_o: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-head attention, numerically equal to ``torch.nn.MultiheadAttention``.

    Args:
        query: ``[B, Lq, D]``. key, value: ``[B, Lk, D]``.
        num_heads: ``h``, dividing ``D``.
        w_q, w_k, w_v, w_o: ``[D, D]`` projection weights (``nn.Linear`` layout).
        b_q, b_k, b_v, b_o: ``[D]`` biases, or ``None`` for no bias.
        mask: optional bool mask broadcastable to ``[B, h, Lq, Lk]``, True = may attend
            (a ``[Lq, Lk]`` causal mask, or a ``[B, 1, 1, Lk]`` padding mask).

    Returns:
        ``(output, weights)``: ``output`` ``[B, Lq, D]``; per-head ``weights``
        ``[B, h, Lq, Lk]``.

    Formula: ``Q = query @ w_q.T + b_q`` (likewise K, V); split each into h heads;
    ``heads, weights = scaled_dot_product_attention(Qh, Kh, Vh, mask)``;
    ``output = merge_heads(heads) @ w_o.T + b_o``. Build it from ``split_heads``,
    ``merge_heads`` and ``scaled_dot_product_attention``.

    Intuition: the cost is about the same as one big head, but h different attention
    patterns are learned.

    Pitfall: the scale is ``1/sqrt(D // h)`` (the head size), which you get for free by
    calling attention on the split heads. Apply ``w_o`` after merging, not per head.
    ``nn.MultiheadAttention`` wants the inverted mask (True = blocked).
    """
    # BEGIN SOLUTION
    q = query @ w_q.T
    k = key @ w_k.T
    v = value @ w_v.T
    if b_q is not None:
        q = q + b_q
    if b_k is not None:
        k = k + b_k
    if b_v is not None:
        v = v + b_v
    heads, weights = scaled_dot_product_attention(
        split_heads(q, num_heads),
        split_heads(k, num_heads),
        split_heads(v, num_heads),
        mask,
    )
    output = merge_heads(heads) @ w_o.T
    if b_o is not None:
        output = output + b_o
    return output, weights
    # END SOLUTION

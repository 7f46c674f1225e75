"""The KV cache: generating one token at a time without recomputing the past.

A decoder generates text one token at a time. After "your cat is" it predicts "a",
appends it, and runs again on "your cat is a". The lecture's step-by-step inference does
exactly this: every step feeds the whole prefix through the decoder again, although
the keys and values of the earlier tokens have not changed. With causal attention they
cannot change, because a token never looks at what comes after it. A **KV cache** keeps
them: each step computes the query, key and value of the *new* tokens only, appends the
new keys and values to the cache, and lets the new queries attend to everything
cached plus themselves. This is the "computations reused without repeating" that masked
attention makes possible.

## Shapes

| tensor   | shape           | meaning                                          |
|----------|-----------------|--------------------------------------------------|
| `q`      | `[..., n, d]`   | queries of the `n` newest positions              |
| `k`      | `[..., n, d]`   | their keys                                       |
| `v`      | `[..., n, dv]`  | their values                                     |
| `past_k` | `[..., p, d]`   | keys of the `p` earlier positions, or `None`     |
| `past_v` | `[..., p, dv]`  | their values, or `None` (both or neither)        |
| `output` | `[..., n, dv]`  | one output per new query                         |
| `k_all`  | `[..., p + n, d]`  | the cache to pass to the next step: `cat(past_k, k)` |
| `v_all`  | `[..., p + n, dv]` | likewise `cat(past_v, v)`                         |

The leading dims `...` (batch, heads) broadcast between `q` and the keys as in
`scaled_dot_product_attention`.

## Which keys may a new query see?

The new queries sit at absolute positions `p, p + 1, ..., p + n - 1`. Query `i` may
attend key `j` iff `j <= p + i`: the whole cache, then the new tokens up to itself.
That is `causal_mask(n, p + n)`, aligned to the **bottom right**. With `p = 2` cached
and `n = 2` new positions:

| new query ↓ key → | 0 (cached) | 1 (cached) | 2 (new) | 3 (new) |
|-------------------|------------|------------|---------|---------|
| 0 (at position 2) | ✓          | ✓          | ✓       | ·       |
| 1 (at position 3) | ✓          | ✓          | ✓       | ✓       |

## A worked example

Take the attention module's three tokens `q = k = v = [[1, 0], [0, 1], [1, 1]]` with a
causal mask. Causal attention over all three gives the weights and outputs

| query | weights                  | output           |
|-------|--------------------------|------------------|
| 0     | `[1, 0, 0]`              | `[1, 0]`         |
| 1     | `[0.330, 0.670, 0]`      | `[0.330, 0.670]` |
| 2     | `[0.248, 0.248, 0.504]`  | `[0.752, 0.752]` |

Now feed the sequence in two chunks. The first call gets tokens 0 and 1 with no cache
(`p = 0`). It returns the first two rows of the table and the cache `k_all = k[:2]`,
`v_all = v[:2]`. The second call gets token 2 alone (`n = 1`) with that cache (`p = 2`).
Its query may see keys 0, 1 and 2, so it returns the third row, `[0.752, 0.752]`.
The outputs are the same as before, but the second call computed one row of scores
instead of three. Generating `T` tokens this way costs `O(T)` per step instead of
`O(T²)`.
"""

from __future__ import annotations

import torch

from .attention import scaled_dot_product_attention
from .masks import causal_mask

__all__ = ["cached_attention"]


def cached_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    past_k: torch.Tensor | None = None,
    past_v: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Causal attention of ``n`` new positions over a cache of ``p`` earlier ones.

    Args:
        q: queries of the new positions ``[..., n, d]``.
        k: keys of the new positions ``[..., n, d]``.
        v: values of the new positions ``[..., n, dv]``.
        past_k: cached keys of the earlier positions ``[..., p, d]``, or ``None``.
        past_v: cached values ``[..., p, dv]``, or ``None``. Give both or neither.

    Returns:
        ``(output, k_all, v_all)``: ``output`` ``[..., n, dv]``; ``k_all = cat(past_k, k)``
        ``[..., p + n, d]`` and ``v_all = cat(past_v, v)`` ``[..., p + n, dv]``, joined
        along the positions (``k`` and ``v`` themselves when there is no cache).

    Raises:
        ValueError: if ``q`` and ``k`` hold different numbers of positions, or if only
            one of ``past_k`` and ``past_v`` is given.

    Formula: ``output = softmax(q @ k_all^T / sqrt(d) with mask) @ v_all``, where query
    ``i`` may attend key ``j`` iff ``j <= p + i``, i.e. ``mask = causal_mask(n, p + n)``.
    Use ``scaled_dot_product_attention`` and ``causal_mask`` from the earlier exercises.

    Intuition: the keys and values of earlier tokens never change in a causal model,
    so they are computed once and kept. Each step adds the new tokens' keys and values
    to the cache and attends to the cache plus the new tokens up to itself. Feeding a
    sentence in chunks of any sizes gives the same outputs as causal attention over
    the whole sentence at once.

    Pitfall: the new queries are the *last* ``n`` positions. ``causal_mask(p + n)[:n]``
    (or ``torch.tril`` on an ``[n, p + n]`` tensor) takes the first rows instead, so
    the newest token would see only the oldest keys. The cache goes *before* the new
    keys, and you must return the whole cache, not only the new keys. Forgetting the
    mask goes unnoticed when ``n = 1`` (the newest token may see everything) but is wrong
    for chunks of two or more tokens.

    Example:
        x = torch.tensor([[1., 0.], [0., 1.], [1., 1.]])
        out, k_all, v_all = cached_attention(x[:2], x[:2], x[:2])              # p = 0, n = 2
        out, k_all, v_all = cached_attention(x[2:], x[2:], x[2:], k_all, v_all)  # p = 2, n = 1
        out  ->  tensor([[0.7517, 0.7517]]);  k_all.shape  ->  (3, 2)
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("kv_cache.cached_attention is not implemented yet")

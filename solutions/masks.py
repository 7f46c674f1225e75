"""Attention masks: which keys each query is allowed to see.

A mask is a boolean ``[Lq, Lk]`` (or broadcastable) tensor where **True means "may
attend"**. Masked scores become -inf before the softmax, so they get exactly zero
weight. A decoder uses a causal mask so that while it predicts the word after "your cat
is", it cannot peek at "a lovely cat". Padding masks hide the filler tokens that make
sentences of different lengths fit into one batch.

## The causal mask

`causal_mask(4)`: query `i` (a row) may attend key `j` (a column) iff `j <= i`
(✓ = True, · = False):

| query ↓ key → | 0 | 1 | 2 | 3 |
|-------------|---|---|---|---|
| 0 (your)    | ✓ | · | · | · |
| 1 (cat)     | ✓ | ✓ | · | · |
| 2 (is)      | ✓ | ✓ | ✓ | · |
| 3 (a)       | ✓ | ✓ | ✓ | ✓ |

With a cache of earlier keys there are more keys than queries, and the queries are
the *last* `q_len` positions. `causal_mask(2, 4)`: query `i` may attend key `j` iff
`j <= i + (k_len - q_len)`, so the triangle sits at the bottom right:

| query ↓ key → | 0 | 1 | 2 | 3 |
|-------------|---|---|---|---|
| 0 (at 2)    | ✓ | ✓ | ✓ | · |
| 1 (at 3)    | ✓ | ✓ | ✓ | ✓ |

## The padding mask

A batch of sentences of lengths 2 and 3, padded to 4 tokens: `padding_mask([2, 3], 4)`

| sequence ↓ position → | 0 | 1 | 2 | 3 |
|---------------------|---|---|---|---|
| "your cat" + pad    | ✓ | ✓ | · | · |
| "a lovely cat" + pad| ✓ | ✓ | ✓ | · |

## Shapes and combining

| mask    | shape          | reshape for attention scores `[B, h, Lq, Lk]` |
|---------|----------------|-----------------------------------------------|
| causal  | `[Lq, Lk]`     | broadcasts as is                              |
| padding | `[B, Lk]`      | `[B, 1, 1, Lk]`: the same keys hidden for every head and query |

Two masks combine with `&` (a key is visible only if both allow it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["causal_mask", "padding_mask"]


def causal_mask(
    q_len: int,
    k_len: int | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Causal ("no peeking at the future") mask.

    Args:
        q_len: number of queries. They are the LAST ``q_len`` of the ``k_len`` positions.
        k_len: number of keys (defaults to ``q_len``).
        device: device of the result (default: the default device).

    Returns:
        Bool tensor ``[q_len, k_len]``: ``mask[i, j]`` is True iff
        ``j <= i + (k_len - q_len)``.

    Intuition: query ``i`` sits at absolute position ``i + (k_len - q_len)`` and may
    see itself and everything before it. With ``k_len == q_len`` this is the lower
    triangle with the diagonal included.

    Pitfall: when generating with a cache of earlier keys (``k_len > q_len``), the mask
    must be aligned to the bottom right. ``torch.tril(torch.ones(q_len, k_len))``
    (and ``is_causal=True`` in PyTorch) aligns it to the top left, so the newest token
    would see only the first key. Also keep the diagonal: a token may attend to itself.

    Example:
        causal_mask(2, 4)  ->  [[True, True, True, False],
                                [True, True, True, True ]]
    """
    # BEGIN SOLUTION
    if k_len is None:
        k_len = q_len
    rows = torch.arange(q_len, device=device).unsqueeze(-1)
    cols = torch.arange(k_len, device=device)
    return cols <= rows + (k_len - q_len)
    # END SOLUTION


def padding_mask(lengths: torch.Tensor | Sequence[int], max_len: int) -> torch.Tensor:
    """Mask that hides the padding at the end of each sequence of a batch.

    Args:
        lengths: 1-D integer tensor (or list) of ``B`` true sequence lengths.
        max_len: padded length of the batch.

    Returns:
        Bool tensor ``[B, max_len]`` on the device of ``lengths``:
        ``mask[b, t]`` is True iff ``t < lengths[b]``.

    Raises:
        ValueError: if a length is negative or greater than ``max_len``.

    Intuition: "your cat" padded to 4 tokens gives ``[True, True, False, False]``.
    To mask keys in attention, reshape it to ``[B, 1, 1, max_len]`` (or
    ``[B, 1, max_len]``) so that it broadcasts over the heads and queries.

    Pitfall: the polarity is inverted compared with ``key_padding_mask`` in
    ``nn.MultiheadAttention`` (True there means IGNORE). Use ``<`` and not ``<=``:
    a sequence of length 2 occupies positions 0 and 1.

    Example:
        padding_mask(torch.tensor([2, 3]), 4)  ->  [[True, True, False, False],
                                                    [True, True, True,  False]]
    """
    # BEGIN SOLUTION
    lengths = torch.as_tensor(lengths)
    if lengths.numel() > 0:
        low, high = int(lengths.min()), int(lengths.max())
        if low < 0 or high > max_len:
            raise ValueError(
                f"padding_mask: lengths must lie in [0, {max_len}], got values in [{low}, {high}]"
            )
    positions = torch.arange(max_len, device=lengths.device)
    return positions < lengths.unsqueeze(-1)
    # END SOLUTION

"""Token embeddings: turning integer token ids into vectors.

The first layer of every transformer maps each token id to a vector. A one-hot vector is
as long as the vocabulary and keeps all words equally far apart; a learned embedding is a
row of a ``[V, D]`` matrix, and training places related words near each other, so that
E(king) - E(man) + E(woman) ends up close to E(queen).

## Shapes

| function           | input                                  | output            |
|--------------------|----------------------------------------|-------------------|
| `one_hot`          | ids of any shape `S`, `num_classes = C` | `S + (C,)`       |
| `embedding_lookup` | ids of any shape `S`, `weight` `[V, D]` | `S + (D,)`       |

## A picture

With the vocabulary `a=0, cat=1, is=2, lovely=3, your=4` (`V = 5`), the sentence
"your cat is a lovely cat" is the ids `[4, 1, 2, 0, 3, 1]`, and its one-hot
encoding is a `[6, 5]` matrix with one 1 per row:

| token  | id | a | cat | is | lovely | your |
|--------|----|---|-----|----|--------|------|
| your   | 4  | 0 | 0   | 0  | 0      | 1    |
| cat    | 1  | 0 | 1   | 0  | 0      | 0    |
| is     | 2  | 0 | 0   | 1  | 0      | 0    |
| a      | 0  | 1 | 0   | 0  | 0      | 0    |
| lovely | 3  | 0 | 0   | 0  | 1      | 0    |
| cat    | 1  | 0 | 1   | 0  | 0      | 0    |

## Formula

```
one_hot(ids, V)[s, c] = 1 if ids[s] == c else 0
embedding_lookup(ids, W)[s] = W[ids[s]] = (one_hot(ids, V) @ W)[s]
```

Multiplying a one-hot row by `W` picks one row of `W`, so an embedding layer is a
bias-free linear layer applied to one-hot vectors, only without the wasted zeros. Both
occurrences of "cat" read row 1 of `W`, and in training that row receives the sum of
their two gradients.
"""

from __future__ import annotations

import torch

__all__ = ["one_hot", "embedding_lookup"]


def one_hot(
    indices: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """One-hot encode integer class indices.

    Args:
        indices: integer tensor of any shape ``S`` with values in ``[0, num_classes)``.
        num_classes: ``C``, the length of each one-hot vector (the vocabulary size).
        dtype: dtype of the result (default float32).

    Returns:
        Tensor of shape ``S + (C,)`` and dtype ``dtype`` on the device of ``indices``:
        ``out[..., c] = 1`` if ``indices[...] == c``, else 0.

    Raises:
        ValueError: if an index is negative or ``>= num_classes``.

    Intuition: ``one_hot(i, V) @ W`` selects row ``i`` of ``W``. That is why an embedding
    layer is the same as a bias-free linear layer applied to one-hot vectors.

    Pitfall: ``torch.nn.functional.one_hot`` returns int64 and requires int64 input, so
    you need to convert the dtype before any matmul. Also, an out-of-range index must
    raise an error and must not be wrapped around or dropped silently. Check the range
    yourself (an empty ``indices`` has nothing to check).

    Example:
        one_hot(torch.tensor([2, 0]), 3)  ->  [[0., 0., 1.], [1., 0., 0.]]
    """
    # BEGIN SOLUTION
    if indices.numel() > 0:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"one_hot: indices must lie in [0, {num_classes}), got values in [{low}, {high}]"
            )
    classes = torch.arange(num_classes, device=indices.device)
    return (indices.unsqueeze(-1) == classes).to(dtype)
    # END SOLUTION


def embedding_lookup(indices: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Look up the embedding vector of every token id.

    Args:
        indices: integer tensor of any shape ``S`` with values in ``[0, V)``.
        weight: embedding matrix ``[V, D]``; row ``v`` is the vector of token ``v``.

    Returns:
        Tensor ``[*S, D]`` with the dtype and device of ``weight``, where
        ``out[s] = weight[indices[s]]``. Gradients flow back into ``weight``.

    Raises:
        ValueError: if an index lies outside ``[0, V)``.

    Formula: ``out = one_hot(indices, V) @ weight`` (a gather is the same, only faster).

    Intuition: the embedding matrix is a trainable lookup table. A token that appears
    twice in a batch reads the same row twice, so that row receives the sum of both
    gradients.

    Pitfall: negative indices do not raise an error in Python indexing: ``weight[-1]``
    silently returns the last row. On CUDA an index ``>= V`` causes a device-side assert
    instead of a clear error. Validate the range first. Also do not copy ``weight`` into
    a new tensor (for example with ``torch.tensor(...)``), because that cuts the
    gradient.

    Example:
        W = torch.tensor([[0., 1.], [2., 3.], [4., 5.]])
        embedding_lookup(torch.tensor([[2, 0]]), W)  ->  [[[4., 5.], [0., 1.]]]
    """
    # BEGIN SOLUTION
    num_rows = weight.shape[0]
    if indices.numel() > 0:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= num_rows:
            raise ValueError(
                f"embedding_lookup: indices must lie in [0, {num_rows}), "
                f"got values in [{low}, {high}]"
            )
    return weight[indices.long()]
    # END SOLUTION

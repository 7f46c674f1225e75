"""Patch embedding: how a Vision Transformer (ViT) turns an image into tokens.

A transformer consumes a sequence of vectors. ViT cuts an image into non-overlapping
``P x P`` patches (a 224 x 224 image with P = 16 gives a 14 x 14 grid, 196 tokens),
flattens each patch and maps it to ``D`` features with one shared linear layer. After
that the patches are handled like the words of a sentence: positional embeddings are
added, and attention lets every patch look at every other patch.

## Patch order

A one-channel `4 x 4` image holding the numbers 0..15, cut with `P = 2` into a
`2 x 2` grid of patches, numbered row by row:

```
 0  1 |  2  3          +---------+---------+
 4  5 |  6  7          | patch 0 | patch 1 |
------+------   -->    +---------+---------+
 8  9 | 10 11          | patch 2 | patch 3 |
12 13 | 14 15          +---------+---------+
```

`patchify` gives `[1, 4, 4]`, one row per patch, each patch read row by row:

| token | pixels          |
|-------|-----------------|
| 0     | `0, 1, 4, 5`    |
| 1     | `2, 3, 6, 7`    |
| 2     | `8, 9, 12, 13`  |
| 3     | `10, 11, 14, 15`|

A plain reshape to `[1, 4, 4]` would give the strips `0, 1, 2, 3` / `4, 5, 6, 7` /
...: right shape, wrong patches. With several channels a patch holds all of its
channel-0 pixels first, then its channel-1 pixels, and so on (`(C, P, P)` order).

## Shapes

| tensor          | shape                                   |
|-----------------|-----------------------------------------|
| `images`        | `[B, C, H, W]`, `H` and `W` multiples of `P` |
| `patchify(...)` | `[B, N, C*P*P]`, `N = (H/P) * (W/P)`    |
| `weight`        | `[D, C, P, P]` (a `Conv2d` kernel)       |
| `bias`          | `[D]` or `None`                          |
| `patch_embedding(...)` | `[B, N, D]`                       |

`patch_embedding` is one linear map applied to every flattened patch, the same as a
convolution whose stride equals its kernel size `P`, with its output read as `N`
tokens of `D` features.
"""

from __future__ import annotations

import torch

__all__ = ["patchify", "patch_embedding"]


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into flattened, non-overlapping square patches.

    Args:
        images: ``[B, C, H, W]``.
        patch_size: ``P``; must divide both ``H`` and ``W``.

    Returns:
        ``[B, N, C*P*P]`` with ``N = (H/P) * (W/P)``. Patch ``n = row * (W/P) + col``
        (row-major over the grid), each flattened in ``(C, P, P)`` order: channel first,
        then pixel row, then pixel column.

    Raises:
        ValueError: if ``H`` or ``W`` is not a multiple of ``P``.

    Formula: reshape to ``[B, C, H/P, P, W/P, P]``, permute to
    ``[B, H/P, W/P, C, P, P]``, then reshape to ``[B, N, C*P*P]``.

    Intuition: a patch of an image plays the role of a word in a sentence.

    Pitfall: a reshape without the permute produces strips of pixels, not square
    patches. Swapping H and W (or using the ``(P, P, C)`` order) goes unnoticed on
    square images and single-channel inputs, so test with ``H != W`` and ``C > 1``.

    Example:
        patchify(torch.zeros(2, 3, 8, 12), 4).shape  ->  torch.Size([2, 6, 48])
    """
    # BEGIN SOLUTION
    batch, channels, height, width = images.shape
    p = patch_size
    if p <= 0 or height % p != 0 or width % p != 0:
        raise ValueError(
            f"patchify: image size {height}x{width} is not a whole number of {p}x{p} patches"
        )
    grid_h, grid_w = height // p, width // p
    x = images.reshape(batch, channels, grid_h, p, grid_w, p)
    x = x.permute(0, 2, 4, 1, 3, 5)
    return x.reshape(batch, grid_h * grid_w, channels * p * p)
    # END SOLUTION


def patch_embedding(
    images: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Embed every patch linearly: ViT's first layer, equal to a strided convolution.

    Args:
        images: ``[B, C, H, W]``.
        weight: ``[D, C, P, P]`` (the layout of a ``Conv2d`` kernel); ``P`` is read from it.
        bias: ``[D]`` or ``None``.

    Returns:
        ``[B, N, D]``, token ``n`` being patch ``n`` in the order of ``patchify``.

    Raises:
        ValueError: like ``patchify``, if the image is not a whole number of patches.

    Formula: ``patchify(images, P) @ weight.reshape(D, C*P*P).T + bias``. This equals
    ``conv2d(images, weight, bias, stride=P).flatten(2).transpose(1, 2)``.

    Intuition: a convolution with stride equal to its kernel size visits each patch
    exactly once and applies the same linear map to it.

    Pitfall: ``weight.reshape(D, -1)`` flattens in ``(C, P, P)`` order, so the patches
    must be flattened in that order too. The output is ``[B, N, D]``, not ``[B, D, N]``
    as returned by the convolution before its final transpose.
    """
    # BEGIN SOLUTION
    embed_dim = weight.shape[0]
    patch_size = weight.shape[-1]
    patches = patchify(images, patch_size)
    out = patches @ weight.reshape(embed_dim, -1).T
    if bias is not None:
        out = out + bias
    return out
    # END SOLUTION

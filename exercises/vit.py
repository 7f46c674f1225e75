"""The Vision Transformer (ViT): from an image to a sequence of tokens, and back to a class.

Dosovitskiy et al. (2020) showed that a plain transformer encoder classifies images
as well as a convolutional network, once the image is turned into a sequence. The
model has three parts, and this module writes the first and the last:

1. **`vit_embed`**: cut the image into `P x P` patches and embed each one linearly
   (`patches.patch_embedding`, a strided convolution), put one extra learned vector,
   the **class token**, in front of them, and add a learned **position embedding**
   (one row per token, class token included).
2. A stack of encoder blocks (attention lets every token look at every other token).
3. **`vit_classify`**: read the class token's final vector, layer-normalise it, and
   map it to `K` class scores with one linear layer (the "head").

The class token belongs to no patch. It starts as the same learned vector for every
image, and attention lets it gather what the whole image holds; BERT does the same
with its `[CLS]` token. The head reads that one vector. Averaging the patch tokens
(mean pooling) is another model, not this one.

## Shapes

| tensor          | shape              | meaning                                          |
|-----------------|--------------------|--------------------------------------------------|
| `images`        | `[B, C, H, W]`     | `H` and `W` multiples of `P`                      |
| `patch_weight`  | `[D, C, P, P]`     | a `Conv2d` kernel; `P` is read from it            |
| `patch_bias`    | `[D]` or `None`    |                                                  |
| `cls_token`     | `[D]`              | one vector, shared by every image of the batch    |
| `pos_embedding` | `[N + 1, D]`       | row 0 for the class token, row `1 + n` for patch `n` |
| `vit_embed(...)`| `[B, N + 1, D]`    | `N = (H/P) * (W/P)` patches plus the class token  |
| `encoded`       | `[B, N + 1, D]`    | the encoder's output; token 0 is the class token  |
| `head_weight`   | `[K, D]`           | `nn.Linear(D, K)` layout                          |
| `vit_classify(...)` | `[B, K]`       | one score per class                               |

## Formulas

```
z = [cls_token; patch_embedding(images)_1; ...; patch_embedding(images)_N] + pos_embedding
logits = layer_norm(encoded[:, 0], norm_weight, norm_bias, eps) @ head_weight.T + head_bias
```

## A worked example

A one-channel `2 x 4` image holding `0 .. 7`, patches of `2 x 2` (a `1 x 2` grid, so
`N = 2`), `D = 2`. The first feature of the kernel sums the patch, the second reads its
top-left pixel, and there is no bias:

```
 0  1 |  2  3        patch 0 = [0, 1, 4, 5] -> [10, 0]
 4  5 |  6  7        patch 1 = [2, 3, 6, 7] -> [18, 2]
```

With `cls_token = [0.5, -0.5]` and `pos_embedding = [[0, 1], [1, 0], [2, 0]]`:

| row | token        | + position | = output     |
|-----|--------------|------------|--------------|
| 0   | `[0.5, -0.5]` (class) | `[0, 1]` | `[0.5, 0.5]` |
| 1   | `[10, 0]` (patch 0)   | `[1, 0]` | `[11, 0]`    |
| 2   | `[18, 2]` (patch 1)   | `[2, 0]` | `[20, 2]`    |

For the classifier, say the class token's encoded vector is `[1, 2, 3, 6]`. Layer norm
gives `[-1.0690, -0.5345, 0, 1.6036]`; a head that reads feature 0 for class 0 and
feature 3 for class 1, with bias `[0, 0.5]`, gives the scores `[-1.0690, 2.1036]`. The
other rows of `encoded` play no part: change them and the scores stay the same.
"""

from __future__ import annotations

import torch

from .normalization import layer_norm
from .patches import patch_embedding

__all__ = ["vit_embed", "vit_classify"]


def vit_embed(
    images: torch.Tensor,
    patch_weight: torch.Tensor,
    patch_bias: torch.Tensor | None,
    cls_token: torch.Tensor,
    pos_embedding: torch.Tensor,
) -> torch.Tensor:
    """The input sequence of a ViT: the class token, then the patch embeddings, plus positions.

    Args:
        images: ``[B, C, H, W]``.
        patch_weight: ``[D, C, P, P]``, the kernel of ``patches.patch_embedding``.
        patch_bias: ``[D]`` or ``None`` (no bias).
        cls_token: ``[D]``, the learned class token, the same for every image.
        pos_embedding: ``[N + 1, D]``, one learned row per token.

    Returns:
        ``[B, N + 1, D]`` with ``N = (H/P) * (W/P)``: row 0 is ``cls_token + pos_embedding[0]``
        and row ``1 + n`` is patch ``n``'s embedding plus ``pos_embedding[1 + n]``.

    Raises:
        ValueError: if ``pos_embedding`` does not have ``N + 1`` rows, and, like
        ``patches.patchify``, if ``H`` or ``W`` is not a multiple of ``P``.

    Formula: ``cat([cls_token expanded to [B, 1, D], patch_embedding(images, patch_weight,
    patch_bias)], dim=1) + pos_embedding``.

    Intuition: the class token is an extra "word" that belongs to no patch. It is placed
    first, so its final state is easy to find, and it gets a position of its own.

    Pitfall: the class token goes in front (row 0), not at the end, and it gets
    ``pos_embedding[0]`` too: add the positions after concatenating, to all ``N + 1``
    rows. ``cls_token`` is one vector for the whole batch: expand it to ``[B, 1, D]``
    before concatenating (``torch.cat`` does not broadcast). Build on
    ``patch_embedding``; its patches go row by row over the grid.

    Example:
        vit_embed(torch.zeros(2, 3, 8, 12), torch.zeros(5, 3, 4, 4), None,
                  torch.ones(5), torch.zeros(7, 5)).shape  ->  torch.Size([2, 7, 5])
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("vit.vit_embed is not implemented yet")


def vit_classify(
    encoded: torch.Tensor,
    norm_weight: torch.Tensor,
    norm_bias: torch.Tensor,
    head_weight: torch.Tensor,
    head_bias: torch.Tensor,
    eps: float = 1e-5,
) -> torch.Tensor:
    """ViT's classifier: layer-normalise the class token's final state, then a linear head.

    Args:
        encoded: ``[B, N + 1, D]``, the encoder's output; token 0 is the class token.
        norm_weight: ``[D]``, the final layer norm's scale.
        norm_bias: ``[D]``, the final layer norm's shift.
        head_weight: ``[K, D]`` (``nn.Linear(D, K)`` layout).
        head_bias: ``[K]`` or ``None`` (no bias).
        eps: the layer norm's epsilon (inside the square root).

    Returns:
        ``[B, K]`` class scores (logits), with the dtype of ``encoded``.

    Formula: ``layer_norm(encoded[:, 0], norm_weight, norm_bias, eps) @ head_weight.T + head_bias``.

    Intuition: after the encoder, the class token has gathered what the whole image
    holds; a single linear layer turns that one vector into class scores.

    Pitfall: read token 0 only; the mean over the tokens (mean pooling) or the last
    token is another model. Normalise *before* the head, over the ``D`` features, with
    the ``eps`` you were given. ``head_weight`` is ``[K, D]``: multiply by its transpose.

    Example:
        vit_classify(torch.randn(2, 7, 4), torch.ones(4), torch.zeros(4),
                     torch.randn(3, 4), torch.zeros(3)).shape  ->  torch.Size([2, 3])
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("vit.vit_classify is not implemented yet")

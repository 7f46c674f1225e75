"""Layer norm and RMSNorm: keeping every token's vector at a steady scale.

A transformer block adds each sub-layer's output back to its input ("Add") and then
normalises ("Normalize"). Without the norm, the residual stream grows with every block,
and training becomes unstable. Layer norm looks at one token's vector of `D` features
at a time. It removes the vector's mean, divides by its standard deviation, and then
applies a learned per-feature scale (`weight`) and shift (`bias`). Batch statistics
play no part, so a sentence is normalised the same way whatever else is in the batch.

## Shapes

| tensor   | shape      | meaning                                           |
|----------|------------|---------------------------------------------------|
| `x`      | `[..., D]` | any leading dims (batch, positions); `D` features |
| `weight` | `[D]`      | per-feature scale (gamma), or `None` for 1        |
| `bias`   | `[D]`      | per-feature shift (beta), or `None` for 0         |
| output   | `[..., D]` | same shape and dtype as `x`                       |

## Formulas (over the last dimension only)

```
layer_norm:  mean = x.mean(-1)      var = ((x - mean)**2).mean(-1)      (biased: / D)
             y = (x - mean) / sqrt(var + eps) * weight + bias

rms_norm:    rms = sqrt((x**2).mean(-1) + eps)
             y = x / rms * weight                    (no centring, no bias)
```

## A worked example

One token `x = [1, 2, 3, 6]`: mean 3, deviations `[-2, -1, 0, 3]`, variance
`(4 + 1 + 0 + 9) / 4 = 3.5`, so layer norm gives `[-1.069, -0.535, 0, 1.604]` (mean 0,
variance 1). RMSNorm divides by `sqrt((1 + 4 + 9 + 36) / 4) = 3.536` instead:
`[0.283, 0.566, 0.849, 1.697]`. It keeps the direction of `x` and only fixes its scale.
LLaMA uses RMSNorm because it is cheaper and works as well.

## What the norms ignore

Layer norm gives the same output for `x` and `a * x + c` (any `a > 0`, any shift `c`),
up to `eps`: `[1, 2, 3, 6]`, `[2, 4, 6, 12]` and `[101, 102, 103, 106]` all become
`[-1.069, -0.535, 0, 1.604]`. RMSNorm ignores only the scale `a`: shifting a row
changes its direction, so it changes the output.

## Why subtract the mean before squaring?

The variance is also `mean(x**2) - mean(x)**2`, but that shortcut subtracts two huge,
nearly equal numbers when the row sits far from zero. Shift the token above by 10000:
in float32, `mean(x**2)` and `mean(x)**2` are both about `1e8`, stored to the nearest
multiple of 8, and their difference comes out as `0` instead of `3.5`. For noisier rows
it can even come out negative, and `sqrt` of it is `nan`. Centring first,
`mean((x - mean)**2)`, squares small numbers and stays accurate.
"""

from __future__ import annotations

import torch

__all__ = ["layer_norm", "rms_norm"]


def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Layer normalisation over the last dimension, as ``F.layer_norm(x, (D,), weight, bias, eps)``.

    Args:
        x: floating tensor ``[..., D]``.
        weight: per-feature scale ``[D]``, or ``None`` (no scaling).
        bias: per-feature shift ``[D]``, or ``None`` (no shift).
        eps: added to the variance inside the square root.

    Returns:
        Tensor with the shape and dtype of ``x``.

    Raises:
        Nothing of its own (a ``weight`` or ``bias`` that does not have ``D`` entries
        fails in torch's broadcasting).

    Formula: ``(x - mean) / sqrt(var + eps) * weight + bias``, with ``mean`` and the
    *biased* variance ``var = mean((x - mean)**2)`` taken over the last dim (keepdim).

    Intuition: every token's vector is re-centred and rescaled to unit spread, so the
    next layer always sees inputs of the same size, however the residual stream has grown.

    Pitfall: ``torch.var`` and ``x.var()`` divide by ``D - 1`` by default (the unbiased
    estimate): pass ``unbiased=False`` (or ``correction=0``). ``eps`` goes *inside* the
    square root. Normalise over the last dim only, never over the batch or the
    positions. Do not compute the variance as ``mean(x**2) - mean(x)**2``: for a row
    like ``1000 + small noise`` the two terms are huge and nearly equal, and their
    difference is mostly rounding error in float32.

    Example:
        layer_norm(torch.tensor([[1., 2., 3., 6.]]))  ->  [[-1.0690, -0.5345, 0.0000, 1.6036]]
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("normalization.layer_norm is not implemented yet")


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """Root-mean-square normalisation over the last dimension (RMSNorm, as in LLaMA).

    Args:
        x: floating tensor ``[..., D]``.
        weight: per-feature scale ``[D]``, or ``None`` (no scaling).
        eps: added to the mean square inside the square root.

    Returns:
        Tensor with the shape and dtype of ``x``.

    Raises:
        Nothing of its own (a ``weight`` that does not have ``D`` entries fails in
        torch's broadcasting).

    Formula: ``x / sqrt(mean(x**2 over the last dim) + eps) * weight``.

    Intuition: layer norm without the centring: only the vector's length is fixed, its
    direction (the information) is kept. One reduction instead of two.

    Pitfall: there is no mean subtracted and no bias. The mean is over the last dim
    (divide by ``D``), not the sum, and ``eps`` goes inside the square root. The
    default ``eps`` is 1e-6, not layer norm's 1e-5.

    Example:
        rms_norm(torch.tensor([[1., 2., 3., 6.]]))  ->  [[0.2828, 0.5657, 0.8485, 1.6971]]
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("normalization.rms_norm is not implemented yet")

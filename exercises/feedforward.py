"""GELU and the position-wise feed-forward network: the "thinking" half of a block.

After attention has mixed information *between* tokens, every transformer block runs the
same small two-layer MLP on each token *separately*. It first widens the token's vector
from `D` to `F` features (usually `F = 4 D`), then applies a non-linearity, then
narrows back to `D`. The lecture calls it "a simple 2-layer MLP for more processing":
attention decides what to look at, and the feed-forward network works on what was found.

## Shapes

| tensor | shape      | meaning                                  |
|--------|------------|------------------------------------------|
| `x`    | `[..., D]` | any leading dims (batch, positions)      |
| `w_1`  | `[F, D]`   | first linear layer (`nn.Linear(D, F)`)   |
| `b_1`  | `[F]`      | its bias, or `None`                      |
| `w_2`  | `[D, F]`   | second linear layer (`nn.Linear(F, D)`)  |
| `b_2`  | `[D]`      | its bias, or `None`                      |
| output | `[..., D]` | one output vector per input vector       |

## Formulas

```
FFN(x)  = act(x @ w_1.T + b_1) @ w_2.T + b_2          act = relu or gelu

gelu(x) = 0.5 x (1 + erf(x / sqrt(2)))                           exact ("none")
        ≈ 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x**3)))     approximate="tanh" (GPT-2)
```

GELU weights `x` by the probability that a standard normal variable is below `x`.
It is a smooth ReLU: it is 0 far to the left, `x` far to the right, and slightly
negative around `x = -0.75`. BERT and GPT use it instead of ReLU.

## A worked example

| x         | -3      | -1      | 0 | 1      | 3      |
|-----------|---------|---------|---|--------|--------|
| relu      | 0       | 0       | 0 | 1      | 3      |
| gelu      | -0.0040 | -0.1587 | 0 | 0.8413 | 2.9960 |
| gelu tanh | -0.0036 | -0.1588 | 0 | 0.8412 | 2.9964 |

The two GELU forms differ by at most 4.7e-4 (near `x = -2.7`); the quick
`x * sigmoid(1.702 x)` is off by up to 2e-2. Small gaps, but they are different
functions: a model trained with one form should be run with the same one.

One token through a tiny network with `D = 2` and `F = 3`:

```
x   = [1, -1]
w_1 = [[1, 0], [0, 1], [1, 1]]     b_1 = [0, 0, -0.5]
w_2 = [[1, 1, 1], [0, 2, -1]]      b_2 = [0, 0.5]

x @ w_1.T + b_1 = [1, -1, -0.5]                       (widen: D = 2 -> F = 3)
relu            = [1, 0, 0]       -> @ w_2.T + b_2 = [1, 0.5]
gelu            = [0.8413, -0.1587, -0.1543]
                                  -> @ w_2.T + b_2 = [0.5284, 0.3370]
```

Every other token of the sentence goes through the same weights on its own.
"""

from __future__ import annotations

import math

import torch

__all__ = ["gelu", "feed_forward"]


def gelu(x: torch.Tensor, approximate: str = "none") -> torch.Tensor:
    """The Gaussian error linear unit, as ``F.gelu(x, approximate=approximate)``.

    Args:
        x: floating tensor of any shape.
        approximate: ``"none"`` for the exact form, ``"tanh"`` for GPT-2's approximation.

    Returns:
        Tensor with the shape and dtype of ``x``.

    Raises:
        ValueError: if ``approximate`` is neither ``"none"`` nor ``"tanh"``.

    Formula: exact ``0.5 * x * (1 + erf(x / sqrt(2)))``; with ``approximate="tanh"``,
    ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``.

    Intuition: ``x`` times "how likely is a standard normal value to be below ``x``":
    large positive inputs pass, large negative ones are switched off, and in between
    the switch is smooth (so gradients never die abruptly as with ReLU).

    Pitfall: the two forms differ by up to about 5e-4, and the sigmoid shortcut
    ``x * sigmoid(1.702 x)`` by about 2e-2: use the formula you are asked for. The
    constant is ``sqrt(2 / pi)``, not ``sqrt(2 * pi)``, and the cube is ``x**3``.

    Example:
        gelu(torch.tensor([-1., 0., 1.]))  ->  tensor([-0.1587, 0.0000, 0.8413])
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("feedforward.gelu is not implemented yet")


def feed_forward(
    x: torch.Tensor,
    w_1: torch.Tensor,
    b_1: torch.Tensor | None,
    w_2: torch.Tensor,
    b_2: torch.Tensor | None,
    activation: str = "relu",
) -> torch.Tensor:
    """The position-wise feed-forward network ``act(x @ w_1.T + b_1) @ w_2.T + b_2``.

    Args:
        x: floating tensor ``[..., D]``.
        w_1: ``[F, D]``; b_1: ``[F]`` or ``None``.
        w_2: ``[D, F]``; b_2: ``[D]`` or ``None``.
        activation: ``"relu"`` or ``"gelu"`` (the exact GELU: use this module's ``gelu``).

    Returns:
        Tensor ``[..., D]`` with the dtype of ``x``.

    Raises:
        ValueError: for any other ``activation``.

    Formula: ``h = act(x @ w_1.T + b_1)`` (``[..., F]``), then ``h @ w_2.T + b_2``.
    Weights follow ``nn.Linear``: ``[out_features, in_features]``.

    Intuition: the same small MLP is applied to every position on its own. Nothing
    flows between positions here (that is attention's job), so permuting the positions
    of ``x`` permutes the output rows in the same way.

    Pitfall: ``x @ w_1`` (without ``.T``) fails or silently mixes features when
    ``F == D``. The activation goes between the two layers, never after the second.
    A bias of ``None`` means no bias.

    Example:
        feed_forward(x, w_1, None, w_2, None)  ==  torch.relu(x @ w_1.T) @ w_2.T
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("feedforward.feed_forward is not implemented yet")

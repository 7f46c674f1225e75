"""LoRA: fine-tuning a huge linear layer by training two thin matrices.

Fine-tuning all the weights of a large language model means storing and updating
billions of numbers for every new task. The lecture's remark is that a trained,
over-parameterised model has a low *intrinsic dimensionality* for fine-tuning: the
change a new task needs fits in a few directions. Low-rank adaptation (LoRA, Hu et al.
2021) therefore freezes the pre-trained weight `W` and learns only a low-rank update
`ΔW = (alpha / r) B A`. It is made of two thin matrices, `A` with `r` rows and `B` with
`r` columns, where the rank `r` is small (4, 8, 16).

## Shapes

| tensor   | shape         | meaning                                             |
|----------|---------------|-----------------------------------------------------|
| `x`      | `[..., in]`   | any leading dims (batch, positions)                 |
| `weight` | `[out, in]`   | the frozen pre-trained weight (`nn.Linear` layout)  |
| `bias`   | `[out]`       | the frozen bias, or `None`                          |
| `lora_a` | `[r, in]`     | `A`: projects the input down to `r` numbers         |
| `lora_b` | `[out, r]`    | `B`: projects them back up to `out` features        |
| `alpha`  | number        | scale; the update is multiplied by `alpha / r`      |
| output   | `[..., out]`  | as `nn.Linear`, plus the low-rank correction        |

The rank `r` is read from the adapters: `r = lora_a.shape[0] = lora_b.shape[1]`.

## Formulas

```
lora_linear(x) = x @ W.T + bias + (alpha / r) * (x @ A.T) @ B.T
merge_lora(W)  = W + (alpha / r) * B @ A                      [out, in]

x @ merge_lora(W).T + bias  ==  lora_linear(x)                 (same outputs)
```

`B` starts at zero, so training starts exactly at the pre-trained model. Dividing by
`r` means that changing the rank does not force a new learning rate: `alpha` stays the
knob. For a `4096 x 4096` projection, full fine-tuning trains 16.8 million numbers, while
LoRA with `r = 8` trains `8 * (4096 + 4096) = 65,536`, 0.4% of them.

## A worked example

`W = [[1, 0, 0], [0, 1, 0]]` (out = 2, in = 3), no bias, `A = [[1, 1, 0]]` (r = 1),
`B = [[1], [0]]` and `alpha = 2`, so the scale is `alpha / r = 2`. For `x = [1, 2, 3]`:

| step              | value                                     |
|-------------------|-------------------------------------------|
| `x @ W.T`         | `[1, 2]`                                  |
| `x @ A.T`         | `[3]` (down to r = 1 number)              |
| `(x @ A.T) @ B.T` | `[3, 0]` (back up to out = 2)             |
| output            | `[1, 2] + 2 * [3, 0] = [7, 2]`            |
| `merge_lora(W)`   | `W + 2 * B @ A = [[3, 2, 0], [0, 1, 0]]`  |

and `x @ merge_lora(W).T = [3 + 4, 2] = [7, 2]`, the same output. Merging removes the
extra matrix products after training: the model runs as fast as the original.
"""

from __future__ import annotations

import torch

__all__ = ["lora_linear", "merge_lora"]


def lora_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """A linear layer with a LoRA adapter, the low-rank path kept separate.

    Args:
        x: inputs ``[..., in]``.
        weight: frozen weight ``[out, in]`` (``nn.Linear`` layout).
        bias: frozen bias ``[out]``, or ``None`` for no bias.
        lora_a: the down-projection ``A`` ``[r, in]``.
        lora_b: the up-projection ``B`` ``[out, r]``.
        alpha: the LoRA scale; the update is multiplied by ``alpha / r``.

    Returns:
        Tensor ``[..., out]`` in the dtype of ``x``.

    Formula: ``x @ weight.T + bias + (alpha / r) * (x @ lora_a.T) @ lora_b.T`` with
    ``r = lora_a.shape[0]``.

    Intuition: the frozen layer does what it learned in pre-training. The adapter squeezes
    ``x`` through ``r`` numbers and adds a small learned correction. With ``lora_b = 0`` (its
    initial value) the layer is exactly the pre-trained one, and ``lora_a`` gets no gradient
    until ``lora_b`` moves away from zero.

    Pitfall: the scale is ``alpha / r``, not ``alpha`` and not ``r / alpha``. ``r`` is the
    *small* axis: ``lora_a.shape[0]`` or ``lora_b.shape[1]``, never ``lora_b.shape[0]``
    (that is ``out``). Apply ``A`` first, then ``B``: ``(x @ A.T) @ B.T``. Multiply by the
    scale once, and add the bias once, only if it is not ``None``.

    Example:
        x = torch.tensor([[1., 2., 3.]])
        W = torch.tensor([[1., 0., 0.], [0., 1., 0.]])
        lora_linear(x, W, None, torch.tensor([[1., 1., 0.]]), torch.tensor([[1.], [0.]]), alpha=2)
        ->  tensor([[7., 2.]])
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("lora.lora_linear is not implemented yet")


def merge_lora(weight: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, alpha: float) -> torch.Tensor:
    """Fold a LoRA adapter into the weight it adapts.

    Args:
        weight: the frozen weight ``[out, in]``.
        lora_a: ``A`` ``[r, in]``.
        lora_b: ``B`` ``[out, r]``.
        alpha: the LoRA scale (the update is multiplied by ``alpha / r``).

    Returns:
        A **new** tensor ``[out, in]``, ``weight + (alpha / r) * lora_b @ lora_a``, in the
        dtype of ``weight``. ``weight`` itself is left unchanged.

    Formula: ``W' = W + (alpha / r) * B @ A`` with ``r = lora_a.shape[0]``.

    Intuition: ``x @ W'.T + bias`` gives exactly the output of ``lora_linear``. After
    training you merge once and serve the model at the original speed. The update
    ``B @ A`` has rank at most ``r``: it changes ``W`` in only ``r`` directions.

    Pitfall: ``B @ A`` is ``[out, in]``, like ``weight``. ``A @ B`` has the wrong shape,
    and ``A.T @ B.T`` is its transpose, which goes unnoticed for square weights. Do not
    write into ``weight`` (``weight += ...`` or ``weight.add_(...)``): the caller keeps
    the pre-trained weight to merge other adapters later. The scale is ``alpha / r``
    with ``r = lora_a.shape[0]``.

    Example:
        W = torch.tensor([[1., 0., 0.], [0., 1., 0.]])
        merge_lora(W, torch.tensor([[1., 1., 0.]]), torch.tensor([[1.], [0.]]), alpha=2)
        ->  tensor([[3., 2., 0.], [0., 1., 0.]])
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("lora.merge_lora is not implemented yet")

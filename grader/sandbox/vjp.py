"""Vector-Jacobian products without torch's slow path.

``torch.autograd.grad(outputs, inputs, grad_outputs)`` imports sympy on its first call
(about a second, in every fresh worker). Backpropagating the scalar
``sum((output * cotangent).sum())`` gives the same gradients and skips that import.
Standard library and torch only: the worker imports this as a top-level module.
"""

from __future__ import annotations

import torch


def vjp(outputs: list[torch.Tensor], inputs: list[torch.Tensor], cotangents: list[torch.Tensor]) -> tuple:
    """Gradients of ``sum_i <outputs[i], cotangents[i]>`` w.r.t. ``inputs`` (None where unused)."""
    if not outputs or not inputs:
        return (None,) * len(inputs)
    total = sum((o * c.to(o.dtype)).sum() for o, c in zip(outputs, cotangents))
    return torch.autograd.grad(total, inputs, allow_unused=True)

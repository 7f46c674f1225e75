"""Gradients of the student's function against the reference's, input by input."""

from __future__ import annotations

from typing import Any

import torch

from grader.engine.compare import CheckFailed, expect_close, expect_shape, in_float64, map_leaves
from grader.engine.recording import reference_call
from grader.engine.student import argument_names
from grader.sandbox.client import tensors_in
from grader.sandbox.vjp import vjp


def expect_gradients(student: Any, *args: Any, scale: float = 1.0, **kwargs: Any) -> None:
    """Gradients of the student's function match the reference's, for every floating input.

    The worker backpropagates a random cotangent through the student's outputs; the
    reference does the same with the same cotangent in float64.
    """
    outputs, grads, cotangents = student.gradients(*args, **kwargs)
    names = argument_names(student.reference, args, kwargs)
    args64, kwargs64 = in_float64(*args, **kwargs)
    ref_outputs = tensors_in(reference_call(student.name, student.reference, *args64, **kwargs64))
    got_outputs = tensors_in(outputs)
    if len(got_outputs) != len(ref_outputs) or len(cotangents) != len(got_outputs):
        raise CheckFailed(f"returned {len(got_outputs)} tensors, expected {len(ref_outputs)}")
    for ref, got in zip(ref_outputs, got_outputs):
        expect_shape(got, ref.shape)
    reference = student.reference

    def reference_vjp(args: tuple, kwargs: dict, cotangents: list) -> list:
        """The reference's float64 input gradients for these output cotangents."""
        leaves, ref_args, ref_kwargs = _float64_leaves(args, kwargs)
        pairs = [
            (ref, cot.to(torch.float64))
            for ref, cot in zip(tensors_in(reference(*ref_args, **ref_kwargs)), cotangents)
            if ref.requires_grad
        ]
        wanted = [leaf for leaf in leaves if leaf is not None]
        found = iter(vjp([r for r, _ in pairs], wanted, [c for _, c in pairs]))
        return [
            None if leaf is None else _zeros_if_none(next(found), leaf) for leaf in leaves
        ]

    expected_grads = reference_call(f"{student.name} (gradients)", reference_vjp, args, kwargs, list(cotangents))
    for index, expected in enumerate(expected_grads):
        if expected is None:
            continue
        got = grads[index] if index < len(grads) else None
        name = names[index] if index < len(names) else f"input {index}"
        if got is None:
            if bool((expected == 0).all()):
                continue
            raise CheckFailed(
                f"no gradient reaches `{name}`: it is not connected to the output",
                hint="every floating input must influence the result through torch operations "
                "(no .detach(), no in-place writes into a tensor made with torch.zeros)",
            )
        expect_close(got, expected, what=f"the gradient with respect to `{name}`", scale=scale)


def _zeros_if_none(gradient: Any, leaf: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(leaf).detach() if gradient is None else gradient.detach()


def _float64_leaves(args: tuple, kwargs: dict) -> tuple[list, tuple, dict]:
    """Copies of the arguments in float64; floating tensors become grad-requiring leaves."""
    leaves: list = []

    def convert(node: Any) -> Any:
        if not isinstance(node, torch.Tensor):
            return node
        if node.is_floating_point():
            leaf = node.detach().to(torch.float64).requires_grad_(True)
            leaves.append(leaf)
            return leaf
        leaves.append(None)
        return node

    new_args = map_leaves(convert, args)
    new_kwargs = map_leaves(convert, kwargs)
    return leaves, new_args, new_kwargs

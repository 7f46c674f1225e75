"""The student's function as a check sees it: called in the sandbox, its results verified."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import torch

from grader.engine.compare import CheckFailed, device_of
from grader.sandbox.client import tensors_in


@dataclass
class Mutation:
    """A call that changed one of its inputs in place."""

    function: str
    argument: str


class Student:
    """The student's function as the checks see it: called in the sandbox.

    Calling it returns the decoded result (tensors on the CPU). The engine verifies on
    every call that returned tensors live on the inputs' device and records inputs
    changed in place. :meth:`gradients` also returns the gradient of a random
    projection of the outputs with respect to every floating input.
    """

    def __init__(self, session: Any, name: str, reference: Callable) -> None:
        self._session = session
        self.name = name
        self.reference = reference

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, grad=False)

    def gradients(self, *args: Any, **kwargs: Any) -> tuple[Any, list, list]:
        """``(outputs, input_grads, cotangents)``; grads align with :func:`tensor_arguments`."""
        value, (grads, info), cotangents = self._call(args, kwargs, grad=True)
        if info.get("differentiable_outputs", 0) == 0 and info.get("outputs", 0) > 0:
            raise CheckFailed(
                "the output is not differentiable (it has no grad_fn): avoid .detach(), .item(), "
                "NumPy round trips and building new tensors from Python numbers",
                hint="autograd must flow from the output back to every floating input",
            )
        return value, grads, cotangents

    def draws(self, n: int, *args: Any, global_seed: int = 0, **kwargs: Any) -> Any:
        """``n`` results of ``student(*args, **kwargs)``, made in ONE call to the worker and
        stacked along a new first dimension: a tensor ``[n, ...]``, or a tuple (list) of them
        for a tuple (list) of tensors; draws that do not stack (shapes that change from draw
        to draw, other values) arrive as an ``Unsupported`` saying why.

        For random functions. A ``torch.Generator`` among the arguments is rebuilt in the
        worker from its seed (on the run device) once, so it advances from draw to draw and
        the same seed gives the same ``n`` draws. Every call seeds torch's and Python's global
        RNGs first, a plain call with 0 and this one with ``global_seed``: a function that uses
        them draws differently within the ``n`` draws, identically from one call to the next
        (whatever its generator), and differently for another ``global_seed``.
        """
        if not isinstance(n, int) or not 1 <= n <= 1_000_000:
            raise ValueError(f"draws: n must be an int in [1, 1e6], not {n!r}")
        if not isinstance(global_seed, int) or not 0 <= global_seed < 2**63:
            raise ValueError(f"draws: global_seed must be an int in [0, 2**63), not {global_seed!r}")
        return self._call(args, kwargs, grad=False, draws=(n, global_seed))

    def _call(self, args: tuple, kwargs: dict, grad: bool, draws: tuple[int, int] | None = None) -> Any:
        result = self._session.call(self.name, args, kwargs, grad=grad, draws=draws)
        expected = self._session.expected_device(args, kwargs)
        asked = kwargs.get("device") if not tensors_in((args, kwargs)) else None
        for tensor in tensors_in(result.value):
            info = result.infos.get(id(tensor))
            if info is not None and device_of(info.device) != expected:
                if asked is not None:
                    raise CheckFailed(
                        f"returned a tensor on {info.device} when asked for device={str(asked)!r}",
                        hint="pass device=device to every tensor you create (torch.arange(..., device=device), "
                        "torch.ones(..., device=device)); never move the result with .cpu() or .to()",
                    )
                raise CheckFailed(
                    f"returned a tensor on {info.device} for inputs on {expected}",
                    hint="create new tensors with device=x.device (or x.new_zeros, torch.zeros_like); "
                    "never call .cpu() or .cuda() on results",
                )
        return result.value


def argument_names(function: Callable, args: tuple, kwargs: dict) -> list[str]:
    """Names of the tensors among ``args``/``kwargs`` in wire order, e.g. ``state[0]``."""
    try:
        bound = inspect.signature(function).bind_partial(*args, **kwargs).arguments
        named = list(bound.items())
    except (TypeError, ValueError):
        named = [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    order = [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    # The wire order is positional arguments, then keywords; map each to its parameter name.
    position_names = [name for name, _ in named][: len(args)]
    names: list[str] = []

    def walk(label: str, node: Any) -> None:
        if isinstance(node, torch.Tensor):
            names.append(label)
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(f"{label}[{i}]", item)
        elif isinstance(node, dict):
            for key, item in node.items():
                walk(f"{label}[{key!r}]", item)

    for i, (label, value) in enumerate(order):
        walk(position_names[i] if i < len(position_names) else label, value)
    return names

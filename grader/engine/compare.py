"""Assertions for checks, with messages a student can act on.

In the spirit of ``torch.testing.assert_close``: tolerances chosen per dtype (and
scalable by the check), and on failure the number of mismatches, the largest error,
where it is, and the expected and actual values there.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator

import torch

# (rtol, atol) against a float64 reference, by the dtype the student computed in.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-7, 1e-9),
    torch.float32: (1e-4, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-2),
    torch.float16: (1e-3, 1e-3),
}


class CheckFailed(AssertionError):
    """A property does not hold; ``str()`` is the student-facing explanation."""

    def __init__(self, message: str, *, hint: str = "", details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}


def device_of(device: Any) -> str:
    """Canonical device text: ``cuda`` and ``cuda:0`` are the same device."""
    text = str(device)
    return "cuda:0" if text == "cuda" else text


def tolerance(dtype: torch.dtype, scale: float = 1.0) -> tuple[float, float]:
    rtol, atol = TOLERANCES.get(dtype, (0.0, 0.0))
    return rtol * scale, atol * scale


def _fmt(x: float) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return f"{x:.6g}"


def _distinct(expected: float, got: float) -> tuple[str, str]:
    """Both values with just enough digits to see that they differ."""
    for digits in (6, 9, 12, 17):
        pair = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if pair[0] != pair[1]:
            return pair
    return pair


def _index(flat_index: int, shape: torch.Size) -> str:
    if len(shape) == 0:
        return "[]"
    coords = []
    for size in reversed(shape):
        coords.append(flat_index % size)
        flat_index //= size
    return "[" + ", ".join(str(c) for c in reversed(coords)) + "]"


def expect_tensor(got: Any, what: str = "the output") -> torch.Tensor:
    """``got`` must be a tensor (a NumPy array or a list is a different answer)."""
    if not isinstance(got, torch.Tensor):
        kind = getattr(got, "type_name", type(got).__name__)
        raise CheckFailed(
            f"{what} should be a torch.Tensor, got {kind}",
            hint="return a tensor (no NumPy, no Python lists), built with torch operations",
        )
    return got


def expect_tuple(got: Any, length: int, what: str = "the result") -> tuple:
    if not isinstance(got, (tuple, list)) or len(got) != length:
        kind = f"a {type(got).__name__}" + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        raise CheckFailed(f"{what} should be a tuple of {length} items, got {kind}")
    return tuple(got)


def expect_shape(got: torch.Tensor, shape: tuple[int, ...] | torch.Size, what: str = "the output") -> None:
    expect_tensor(got, what)
    if tuple(got.shape) != tuple(shape):
        raise CheckFailed(
            f"{what} has shape {list(got.shape)}, expected {list(shape)}",
            hint="print the shape after each step; a transpose or a reshape in the wrong order is the usual cause",
        )


def expect_dtype(got: torch.Tensor, dtype: torch.dtype, what: str = "the output") -> None:
    expect_tensor(got, what)
    if got.dtype != dtype:
        raise CheckFailed(
            f"{what} has dtype {str(got.dtype).replace('torch.', '')}, expected {str(dtype).replace('torch.', '')}",
            hint="keep the dtype of the inputs: avoid hard-coded dtype=torch.float32 and Python-float tensors",
        )


def expect_close(
    got: Any,
    expected: torch.Tensor,
    *,
    what: str = "the output",
    dtype: torch.dtype | None = None,
    scale: float = 1.0,
    atol: float | None = None,
    rtol: float | None = None,
    hint: str = "",
) -> None:
    """``got`` equals ``expected`` within the tolerance of ``dtype`` (default: ``got``'s dtype).

    ``scale`` multiplies both tolerances (for results whose error grows with the
    maths, e.g. long sums or large angles). Non-finite values must match exactly.
    """
    got = expect_tensor(got, what)
    expect_shape(got, expected.shape, what)
    default_rtol, default_atol = tolerance(dtype or got.dtype, scale)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    actual = got.detach().to(torch.float64)
    wanted = expected.detach().to(torch.float64)
    within = _within(actual, wanted, rtol, atol)
    if bool(within.all()):  # the usual case (an empty result too): no NaN or infinity to excuse
        return
    both_nan = torch.isnan(actual) & torch.isnan(wanted)
    same_inf = torch.isinf(actual) & torch.isinf(wanted) & (actual == wanted)
    ok = within | both_nan | same_inf
    if bool(ok.all()):
        return
    bad = ~ok
    error = (actual - wanted).abs()
    error = torch.where(torch.isfinite(error), error, torch.full_like(error, math.inf))
    scored = torch.where(bad, error, torch.full_like(error, -1.0))
    worst = int(scored.flatten().argmax())
    expected_value = float(wanted.flatten()[worst])
    got_value = float(actual.flatten()[worst])
    count = int(bad.sum())
    where = _index(worst, got.shape)
    delta = abs(got_value - expected_value)
    relative = delta / abs(expected_value) if expected_value not in (0.0,) and math.isfinite(delta) else math.inf
    if not math.isfinite(got_value):
        headline = f"{what} has {_fmt(got_value)} at {where} where {_fmt(expected_value)} was expected"
    else:
        shown_expected, shown_got = _distinct(expected_value, got_value)
        headline = (
            f"{what}: {count} of {got.numel()} values are off; the largest error is "
            f"{_fmt(delta)} at {where}: expected {shown_expected}, got {shown_got}"
        )
    raise CheckFailed(
        headline,
        hint=hint,
        details={
            "mismatched": count,
            "total": got.numel(),
            "max_abs_error": delta if math.isfinite(delta) else None,
            "max_rel_error": relative if math.isfinite(relative) else None,
            "index": where,
            "expected": expected_value if math.isfinite(expected_value) else str(expected_value),
            "got": got_value if math.isfinite(got_value) else str(got_value),
            "atol": atol,
            "rtol": rtol,
        },
    )


def _within(actual: torch.Tensor, wanted: torch.Tensor, rtol: float, atol: float) -> torch.Tensor:
    """Where ``|actual - wanted| <= atol + rtol * |wanted|`` (never at a NaN), in float64.

    In-place operations on the temporaries: this runs for every comparison of every
    check, and a matching result needs nothing more.
    """
    return torch.le((actual - wanted).abs_(), wanted.abs().mul_(rtol).add_(atol))


def expect_equal(got: Any, expected: torch.Tensor, *, what: str = "the output", hint: str = "") -> None:
    """Exact equality, for integer and boolean results (shape, dtype and values)."""
    got = expect_tensor(got, what)
    expect_shape(got, expected.shape, what)
    expect_dtype(got, expected.dtype, what)
    if torch.equal(got, expected.to(got.device)):
        return
    bad = got != expected
    first = int(bad.flatten().nonzero()[0])
    where = _index(first, got.shape)
    raise CheckFailed(
        f"{what}: {int(bad.sum())} of {got.numel()} values are wrong; the first at {where}: "
        f"expected {_fmt(expected.flatten()[first].item())}, got {_fmt(got.flatten()[first].item())}",
        hint=hint,
        details={"mismatched": int(bad.sum()), "total": got.numel(), "index": where},
    )


def expect_true(condition: bool, message: str, *, hint: str = "") -> None:
    if not condition:
        raise CheckFailed(message, hint=hint)


def expect_diagnosed(check: Callable[[], None], diagnose: Callable[[], None]) -> None:
    """``check()`` (some ``expect_*`` calls); when it fails, ``diagnose()`` may fail first, better.

    ``diagnose`` names a known mistake that a wrong result matches, or returns and lets the
    failure of ``check`` stand. It costs extra reference computations, so it runs only
    for a result that fails ``check``: a right result is never diagnosed (nor blamed for
    also resembling a wrong formula). While ``grader release`` records the reference's
    results for a hand-out, it always runs, first, so that its reference calls are
    recorded and the hand-out can name the mistake too.
    """
    from grader.engine.recording import MODE

    if MODE["mode"] == "record":
        diagnose()
        check()
        return
    try:
        check()
    except CheckFailed as failure:
        unexplained = failure
    else:
        return
    diagnose()  # outside the handler, so that a better failure does not chain to the first
    raise unexplained


@contextlib.contextmanager
def expect_raises(exception: type[BaseException], situation: str) -> Iterator[None]:
    """The block (a student call) must raise ``exception``; ``situation`` says when."""
    from grader.sandbox.client import StudentRaised

    try:
        yield
    except StudentRaised as raised:
        if raised.is_a(exception):
            return
        raise CheckFailed(
            f"should raise {exception.__name__} {situation}, but raised {raised.summary()}",
            hint=f"check the input first and `raise {exception.__name__}(...)` with a helpful message",
        ) from None
    raise CheckFailed(
        f"should raise {exception.__name__} {situation}, but returned normally",
        hint=f"check the input first and `raise {exception.__name__}(...)` with a helpful message",
    )


def expect_gradients(student: Any, *args: Any, scale: float = 1.0, **kwargs: Any) -> None:
    """Gradients of the student's function match the reference's, for every floating input.

    The worker backpropagates a random cotangent through the student's outputs; the
    reference does the same with the same cotangent in float64.
    """
    from grader.engine.course import argument_names
    from grader.engine.recording import reference_call
    from grader.sandbox.client import tensors_in

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
        from grader.sandbox.vjp import vjp

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

    new_args = _map(convert, args)
    new_kwargs = _map(convert, kwargs)
    return leaves, new_args, new_kwargs


def in_float64(*args: Any, **kwargs: Any) -> tuple[tuple, dict]:
    """The arguments with floating tensors cast to float64 (for computing references), all detached."""
    return _map(_detached_float64, args), _map(_detached_float64, kwargs)


def _detached_float64(node: Any) -> Any:
    if not isinstance(node, torch.Tensor):
        return node
    return node.detach().to(torch.float64) if node.is_floating_point() else node.detach()


def _map(function: Any, node: Any) -> Any:
    """``function`` applied to every leaf of nested tuples, lists and dicts (rebuilt as plain ones)."""
    if isinstance(node, tuple):
        return tuple(_map(function, v) for v in node)
    if isinstance(node, list):
        return [_map(function, v) for v in node]
    if isinstance(node, dict):
        return {k: _map(function, v) for k, v in node.items()}
    return function(node)

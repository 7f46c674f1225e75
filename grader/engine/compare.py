"""Assertions for checks, with messages a student can act on.

In the spirit of ``torch.testing.assert_close``: tolerances chosen per dtype (and
scalable by the check), and on failure the number of mismatches, the largest error,
where it is, and the expected and actual values there.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from grader.sandbox.client import StudentRaised

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
    mismatch = locate_mismatch(got, expected, rtol, atol)
    if mismatch is not None:
        raise CheckFailed(mismatch.headline(what), hint=hint, details=mismatch.details())


@dataclass
class Mismatch:
    """Where a result is farthest outside the tolerance, and how far."""

    count: int
    total: int
    index: str
    expected: float
    got: float
    rtol: float
    atol: float

    @property
    def error(self) -> float:
        return abs(self.got - self.expected)

    def headline(self, what: str) -> str:
        if not math.isfinite(self.got):
            return f"{what} has {_fmt(self.got)} at {self.index} where {_fmt(self.expected)} was expected"
        shown_expected, shown_got = _distinct(self.expected, self.got)
        return (
            f"{what}: {self.count} of {self.total} values are off; the largest error is "
            f"{_fmt(self.error)} at {self.index}: expected {shown_expected}, got {shown_got}"
        )

    def details(self) -> dict[str, Any]:
        delta = self.error
        relative = delta / abs(self.expected) if self.expected != 0.0 and math.isfinite(delta) else math.inf
        return {
            "mismatched": self.count,
            "total": self.total,
            "max_abs_error": delta if math.isfinite(delta) else None,
            "max_rel_error": relative if math.isfinite(relative) else None,
            "index": self.index,
            "expected": self.expected if math.isfinite(self.expected) else str(self.expected),
            "got": self.got if math.isfinite(self.got) else str(self.got),
            "atol": self.atol,
            "rtol": self.rtol,
        }


def locate_mismatch(got: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> Mismatch | None:
    """The worst entry outside ``atol + rtol * |expected|`` (same-shape tensors), or None.

    NaN matches NaN and an infinity the same infinity; anything else non-finite is the worst.
    """
    actual = got.detach().to(torch.float64)
    wanted = expected.detach().to(torch.float64)
    within = _within(actual, wanted, rtol, atol)
    if bool(within.all()):  # the usual case (an empty result too): no NaN or infinity to excuse
        return None
    both_nan = torch.isnan(actual) & torch.isnan(wanted)
    same_inf = torch.isinf(actual) & torch.isinf(wanted) & (actual == wanted)
    bad = ~(within | both_nan | same_inf)
    if not bool(bad.any()):
        return None
    error = (actual - wanted).abs()
    error = torch.where(torch.isfinite(error), error, torch.full_like(error, math.inf))
    worst = int(torch.where(bad, error, torch.full_like(error, -1.0)).flatten().argmax())
    return Mismatch(
        count=int(bad.sum()),
        total=got.numel(),
        index=_index(worst, got.shape),
        expected=float(wanted.flatten()[worst]),
        got=float(actual.flatten()[worst]),
        rtol=rtol,
        atol=atol,
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


@contextlib.contextmanager
def expect_raises(exception: type[BaseException], situation: str) -> Iterator[None]:
    """The block (a student call) must raise ``exception``; ``situation`` says when."""
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


def in_float64(*args: Any, **kwargs: Any) -> tuple[tuple, dict]:
    """The arguments with floating tensors cast to float64 (for computing references), all detached."""
    return map_leaves(_detached_float64, args), map_leaves(_detached_float64, kwargs)


def _detached_float64(node: Any) -> Any:
    if not isinstance(node, torch.Tensor):
        return node
    return node.detach().to(torch.float64) if node.is_floating_point() else node.detach()


def map_leaves(function: Any, node: Any) -> Any:
    """``function`` applied to every leaf of nested tuples, lists and dicts (rebuilt as plain ones)."""
    if isinstance(node, tuple):
        return tuple(map_leaves(function, v) for v in node)
    if isinstance(node, list):
        return [map_leaves(function, v) for v in node]
    if isinstance(node, dict):
        return {k: map_leaves(function, v) for k, v in node.items()}
    return function(node)

"""Naming the known mistake a wrong result matches: one way for every concept.

A check that compares a result with the reference can say more than "off by 0.3" when the
result is what a classic mistake gives (the unbiased variance, a mask aligned to the top
left, the scale alpha instead of alpha / r...). The check lists candidate mistakes, each a
message and the tensor that mistake computes (or a function building it), and
:func:`expect_close_or_named` names the first one that the result matches and that this
input tells apart from the right answer. Nothing is computed for a right result.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Union

import torch

from grader.engine.compare import CheckFailed, expect_close, expect_equal, tolerance
from grader.engine.recording import MODE

Candidate = Union[torch.Tensor, Callable[[], torch.Tensor]]
Mistakes = Iterable[tuple[str, Candidate]]


def expect_diagnosed(check: Callable[[], None], diagnose: Callable[[], None]) -> None:
    """``check()`` (some ``expect_*`` calls); when it fails, ``diagnose()`` may fail first, better.

    ``diagnose`` names a known mistake that a wrong result matches, or returns and lets the
    failure of ``check`` stand. It costs extra reference computations, so it runs only
    for a result that fails ``check``: a right result is never diagnosed (nor blamed for
    also resembling a wrong formula). While ``grader release`` records the reference's
    results for a hand-out, it always runs, first, so that its reference calls are
    recorded and the hand-out can name the mistake too.
    """
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


def matches(
    got: Any, candidate: torch.Tensor, *, scale: float = 10.0, dtype: torch.dtype | None = None,
    atol: float | None = None,
) -> bool:
    """Is ``got`` what ``candidate`` is, within ``scale`` times the tolerance of ``dtype``
    (default: ``got``'s own; ``atol`` raises the absolute part to at least ``scale * atol``)?
    Loose on purpose: it only ever explains a failure."""
    if not isinstance(got, torch.Tensor) or not isinstance(candidate, torch.Tensor):
        return False
    if tuple(got.shape) != tuple(candidate.shape):
        return False
    rtol, default_atol = tolerance(dtype or got.dtype, scale)
    atol = default_atol if atol is None else max(default_atol, scale * atol)
    actual, wanted = got.detach().to(torch.float64), candidate.detach().to(torch.float64)
    return bool(torch.allclose(actual, wanted, rtol=rtol, atol=atol, equal_nan=True))


def named_mistake(
    got: Any,
    expected: torch.Tensor,
    mistakes: Mistakes | Callable[[], Mistakes],
    *,
    scale: float = 10.0,
    dtype: torch.dtype | None = None,
    atol: float | None = None,
) -> str | None:
    """The message of the first mistake whose result ``got`` matches (:func:`matches`),
    skipping the mistakes this input cannot tell apart from ``expected`` (and those it
    cannot even build)."""
    dtype = dtype or (got.dtype if isinstance(got, torch.Tensor) else None)
    for message, candidate in mistakes() if callable(mistakes) else mistakes:
        try:
            built = candidate() if callable(candidate) else candidate
        except (RuntimeError, ValueError, IndexError):  # a mistake these shapes cannot make
            continue
        if matches(expected, built, scale=scale, dtype=dtype, atol=atol):
            continue  # the mistake makes no difference on this input
        if matches(got, built, scale=scale, dtype=dtype, atol=atol):
            return message
    return None


def expect_close_or_named(
    got: Any,
    expected: torch.Tensor,
    mistakes: Mistakes | Callable[[], Mistakes],
    *,
    what: str = "the output",
    hint: str = "",
    scale: float = 1.0,
    match_scale: float = 10.0,
    dtype: torch.dtype | None = None,
    atol: float | None = None,
    otherwise: str = "",
) -> None:
    """:func:`~grader.engine.compare.expect_close`; when it fails, the message goes on to name
    the known mistake the result matches (:func:`named_mistake`, within ``match_scale``
    times the comparison's tolerance), e.g. "... expected 0.5, got 0.47. This is the
    unbiased variance: ...", or says ``otherwise`` when none does. ``mistakes`` may be a
    function, built only on a failure."""
    try:
        expect_close(got, expected, what=what, hint=hint, scale=scale, dtype=dtype, atol=atol)
    except CheckFailed as failure:
        message = named_mistake(got, expected, mistakes, scale=match_scale * scale, dtype=dtype, atol=atol)
        message = message or otherwise
        if not message:
            raise
        raise CheckFailed(f"{failure.message}. {message}", hint=failure.hint, details=failure.details) from None


def exact_mistake(got: Any, mistakes: Mistakes | Callable[[], Mistakes]) -> str | None:
    """The message of the first mistake whose result ``got`` is exactly (shape, dtype and values),
    for exact results: layouts, masks, indices."""
    for message, candidate in mistakes() if callable(mistakes) else mistakes:
        built = candidate() if callable(candidate) else candidate
        if isinstance(got, torch.Tensor) and got.shape == built.shape and got.dtype == built.dtype:
            if torch.equal(got, built):
                return message
    return None


def expect_equal_or_named(
    got: Any,
    expected: torch.Tensor,
    mistakes: Mistakes | Callable[[], Mistakes],
    *,
    what: str = "the output",
    hint: str = "",
) -> None:
    """:func:`~grader.engine.compare.expect_equal`; when it fails, the message names the first
    known mistake whose result ``got`` is exactly (:func:`exact_mistake`)."""
    try:
        expect_equal(got, expected, what=what, hint=hint)
    except CheckFailed as failure:
        message = exact_mistake(got, mistakes)
        if message is None:
            raise
        raise CheckFailed(f"{failure.message}. {message}", hint=failure.hint, details=failure.details) from None

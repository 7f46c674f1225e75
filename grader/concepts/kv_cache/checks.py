"""Checks for kv_cache.cached_attention (causal attention over a cache of earlier keys).

The independent oracle for "feeding a sequence in chunks" is PyTorch's own
``F.scaled_dot_product_attention(..., is_causal=True)`` over the whole sequence in float64
(square, so its top-left alignment is the right one there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    StudentRaised,
    exercise,
    expect_close_or_named,
    expect_dtype,
    expect_equal,
    expect_gradients,
    expect_raises,
    expect_shape,
    expect_tensor,
    expect_tuple,
    in_float64,
    strategies as gs,
)
from solutions import kv_cache as ref

POSITION = 12

cached_attention = exercise(
    "kv_cache.cached_attention",
    reference=ref.cached_attention,
    uses=["masks.causal_mask", "attention.scaled_dot_product_attention", "attention.softmax"],
)

ATTEND_HINT = (
    "k_all = cat(past_k, k) and v_all = cat(past_v, v) along the positions (dim=-2); then "
    "scaled_dot_product_attention(q, k_all, v_all, causal_mask(n, p + n)): query i sits at position "
    "p + i and may see keys j <= p + i"
)
CACHE_HINT = (
    "return the whole cache for the next step: k_all = torch.cat([past_k, k], dim=-2) (the past "
    "first, then the new keys), likewise v_all; with no cache, k_all is k and v_all is v"
)
RESULT = "the result (output, k_all, v_all)"


# ------------------------------------------------------------------------------ inputs


@dataclass
class CacheCase:
    """``n`` new positions (q, k, v) after ``p`` cached ones (past_k, past_v)."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    past_k: torch.Tensor | None
    past_v: torch.Tensor | None

    def args(self) -> tuple:
        return self.q, self.k, self.v, self.past_k, self.past_v


def _leading(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Leading dims of q and of the keys; with heads, the keys may be shared across them."""
    kind = draw(st.sampled_from(["[B, H]", "[B, H], keys shared across heads", "[B]", "none"]))
    batch, heads = draw(gs.distinct_sizes(2, 2, 3))
    if kind == "none":
        return (), ()
    if kind == "[B]":
        return (batch,), (batch,)
    # one key/value head for all the query heads (multi-query attention): it broadcasts
    return (batch, heads), (batch, 1 if kind.endswith("heads") else heads)


@st.composite
def cache_cases(draw: st.DrawFn, n_sizes=(2, 4), p_sizes=(1, 5), dtypes=None) -> CacheCase:
    """p >= 1 cached positions; d != dv; n != p (where the ranges allow)."""
    n = draw(st.integers(*n_sizes))
    p = draw(st.integers(*p_sizes).filter(lambda p: p != n or n_sizes[0] == n_sizes[1]))
    d, dv = draw(gs.distinct_sizes(2, 2, 6))
    lead, kv_lead = _leading(draw)
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    seed = draw(gs.seeds())
    return CacheCase(
        gs.random_tensor(lead + (n, d), seed, dtype),
        gs.random_tensor(kv_lead + (n, d), seed + 1, dtype),
        gs.random_tensor(kv_lead + (n, dv), seed + 2, dtype),
        gs.random_tensor(kv_lead + (p, d), seed + 3, dtype),
        gs.random_tensor(kv_lead + (p, dv), seed + 4, dtype),
    )


@dataclass
class ChunkCase:
    """A whole sequence (q, k, v of T positions) and the chunk sizes it is fed in."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    chunks: tuple[int, ...]


@st.composite
def chunk_cases(draw: st.DrawFn) -> ChunkCase:
    chunks = tuple(draw(st.lists(st.integers(1, 3), min_size=2, max_size=4)))
    total = sum(chunks)
    d, dv = draw(gs.distinct_sizes(2, 2, 5))
    lead, kv_lead = _leading(draw)
    dtype = draw(gs.float_dtypes())
    seed = draw(gs.seeds())
    return ChunkCase(
        gs.random_tensor(lead + (total, d), seed, dtype),
        gs.random_tensor(kv_lead + (total, d), seed + 1, dtype),
        gs.random_tensor(kv_lead + (total, dv), seed + 2, dtype),
        chunks,
    )


# ------------------------------------------------------------------------------ helpers


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Attention in float64 by PyTorch itself (True = may attend), to name a wrong result."""
    q, k, v = (t.detach().to(torch.float64) for t in (q, k, v))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)


def _bottom_right(n: int, total: int) -> torch.Tensor:
    """Query i (at position total - n + i) may see key j iff j <= total - n + i."""
    return torch.arange(total)[None, :] <= torch.arange(n)[:, None] + (total - n)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Broadcast two shapes (torch.broadcast_shapes imports torch._refs: ~0.7 s the first time)."""
    width = max(len(a), len(b))
    a, b = (1,) * (width - len(a)) + a, (1,) * (width - len(b)) + b
    return tuple(max(x, y) for x, y in zip(a, b))


def _output_mistakes(case: CacheCase) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """What the usual wrong versions return as the output, with what to tell the student."""
    n = case.q.shape[-2]
    if case.past_k is None:
        return [
            ("This is attention without any mask: the new tokens must not see the ones after them; "
             "mask with causal_mask(n, n) (query i may see keys j <= i)",
             lambda: _attend(case.q, case.k, case.v, None)),
        ]
    p = case.past_k.shape[-2]
    past_first = (torch.cat([case.past_k, case.k], -2), torch.cat([case.past_v, case.v], -2))
    new_first = (torch.cat([case.k, case.past_k], -2), torch.cat([case.v, case.past_v], -2))
    return [
        (f"This is the mask aligned to the top left (the first {_count(n, 'row')} of a causal mask over "
         f"{p + n} positions, torch.tril on [{n}, {p + n}], or is_causal=True): query i would sit at position "
         f"i, but the new queries are the LAST {_count(n, 'position')}, p + i = {p} + i. Use causal_mask(n, p + n)",
         lambda: _attend(case.q, *past_first, torch.ones(n, p + n).tril().bool())),
        ("This is attention without any mask: a new query must not see the new tokens after it. This goes "
         "unnoticed with one token at a time (n = 1) but not with chunks; use causal_mask(n, p + n)",
         lambda: _attend(case.q, *past_first, None)),
        ("The cached keys and values were placed after the new ones: cat(k, past_k) instead of "
         "cat(past_k, k). The past comes first, so that position j of the cache is token j",
         lambda: _attend(case.q, *new_first, _bottom_right(n, p + n))),
        ("This is causal attention over the new tokens only: the cache is ignored. The new queries must "
         "also attend to every cached key (past_k, past_v)",
         lambda: _attend(case.q, case.k, case.v, _bottom_right(n, n))),
    ]


def _close_or_explain(got, expected: torch.Tensor, case: CacheCase, *, what: str, hint: str = ATTEND_HINT,
                      scale: float = 1.0) -> None:
    """``expect_close``; when it fails, say which classic mistake of the cache the result matches."""
    expect_close_or_named(got, expected, lambda: _output_mistakes(case), what=what, hint=hint, scale=scale)


def _check_cache(k_all, v_all, case: CacheCase) -> None:
    """k_all = cat(past_k, k) and v_all = cat(past_v, v) exactly, with explanations."""
    k_parts = [t for t in (case.past_k, case.k) if t is not None]
    v_parts = [t for t in (case.past_v, case.v) if t is not None]
    want_k, want_v = torch.cat(k_parts, -2), torch.cat(v_parts, -2)
    expect_tensor(k_all, "k_all")
    expect_tensor(v_all, "v_all")
    if tuple(k_all.shape) == tuple(want_v.shape) and tuple(v_all.shape) == tuple(want_k.shape) \
            and want_k.shape != want_v.shape:
        raise CheckFailed(
            f"k_all has shape {list(k_all.shape)} and v_all {list(v_all.shape)}: they look swapped. Return "
            "(output, k_all, v_all) in this order, keys first (their last dim is d, the values' is dv)",
            hint=CACHE_HINT,
        )
    p = 0 if case.past_k is None else case.past_k.shape[-2]
    n = case.k.shape[-2]
    if p and tuple(k_all.shape) == tuple(case.k.shape):
        raise CheckFailed(
            f"k_all has {_count(n, 'position')}, only the new keys: the cache returned must hold all "
            f"p + n = {p} + {n} = {p + n} positions, cat(past_k, k), or the next step forgets the past",
            hint=CACHE_HINT,
        )
    for got, want, new, old, name in ((k_all, want_k, case.k, case.past_k, "k_all"),
                                      (v_all, want_v, case.v, case.past_v, "v_all")):
        expect_shape(got, want.shape, f"{name} ([..., p + n, {'d' if name == 'k_all' else 'dv'}])")
        expect_dtype(got, want.dtype, name)
        if old is not None and torch.equal(got, torch.cat([new, old], -2)):
            raise CheckFailed(
                f"{name} holds the new positions first and the cached ones after them: the past comes "
                f"first, {name} = cat({'past_k, k' if name == 'k_all' else 'past_v, v'}) along dim=-2",
                hint=CACHE_HINT,
            )
        expect_equal(got, want, what=f"{name} (the concatenation along the positions)", hint=CACHE_HINT)


def _shapes(case: CacheCase) -> str:
    named = zip(("q", "k", "v", "past_k", "past_v"), case.args())
    return ", ".join(f"{name} {'None' if t is None else list(t.shape)}" for name, t in named)


def _run(student, case: CacheCase, *, omit_past: bool = False, what: str = RESULT):
    """``(output, k_all, v_all)``; an error on these valid inputs is explained with their shapes."""
    try:
        result = student(case.q, case.k, case.v) if omit_past else student(*case.args())
    except StudentRaised as raised:
        if raised.is_a(NotImplementedError):
            raise
        raise CheckFailed(
            f"raised {raised.summary()} for valid inputs: {_shapes(case)}. The keys go along dim=-2 "
            "(k_all [..., p + n, d], v_all [..., p + n, dv]) and the leading dims of q and the keys broadcast",
            hint=ATTEND_HINT,
        ) from None
    return expect_tuple(result, 3, what)


def _check_output(out, case: CacheCase, what: str = "the output") -> None:
    batch = _broadcast(tuple(case.q.shape[:-2]), tuple(case.k.shape[:-2]))
    expect_shape(out, batch + (case.q.shape[-2], case.v.shape[-1]), f"{what} ([..., n, dv])")
    expect_dtype(out, case.q.dtype, what)
    args64, _ = in_float64(*case.args())
    expected = ref.cached_attention(*args64)[0]
    _close_or_explain(out, expected, case, what=what)


# ====================================================================== cached_attention


@cached_attention.check(
    "matches the reference (output, k_all, v_all) with a cache: p >= 1 cached, n >= 2 new, d != dv",
    points=2,
    examples=12,
    hint=ATTEND_HINT,
    case=cache_cases(),
    edges={
        "batch and heads (two leading dims)": lambda case: case.q.dim() == 4,
        "keys and values shared across the heads ([B, 1, ...] broadcast)":
            lambda case: case.q.dim() == 4 and case.k.shape[1] == 1,
        "no leading dims": lambda case: case.q.dim() == 2,
        "more new positions than cached ones (n > p)": lambda case: case.q.shape[-2] > case.past_k.shape[-2],
    },
)
def cache_matches_reference(student, case):
    out, k_all, v_all = _run(student, case)
    _check_cache(k_all, v_all, case)
    _check_output(out, case)


@cached_attention.check(
    "one new token (n = 1, as when generating) attends to every cached key and to itself",
    points=1,
    examples=6,
    hint="with n = 1 the mask is causal_mask(1, p + 1): a single row of True. A top-left aligned mask "
    "(torch.tril, is_causal=True) would let the newest token see only the oldest key",
    case=cache_cases(n_sizes=(1, 1), p_sizes=(2, 6)),
)
def cache_single_token(student, case):
    out, k_all, v_all = _run(student, case)
    _check_cache(k_all, v_all, case)
    _check_output(out, case, "the output of the new token")


@cached_attention.check(
    "feeding a sequence in chunks of any sizes gives causal attention over the whole of it",
    points=2,
    examples=8,
    hint="each call returns k_all and v_all, which the next call receives as past_k and past_v; the n new "
    "queries are the last n of the p + n positions, so query i may see keys j <= p + i",
    case=chunk_cases(),
    edges={
        "a chunk of one token after a cache": lambda case: 1 in case.chunks[1:],
        "a chunk of three tokens after a cache": lambda case: 3 in case.chunks[1:],
    },
)
def cache_chunks(student, case):
    q64, k64, v64 = (t.to(torch.float64) for t in (case.q, case.k, case.v))
    full = F.scaled_dot_product_attention(q64, k64, v64, is_causal=True)
    total, count = sum(case.chunks), len(case.chunks)
    past_k = past_v = None
    start = 0
    outputs = []
    for index, size in enumerate(case.chunks):
        stop = start + size
        where = (f"chunk {index + 1} of {count} (positions {start}..{stop - 1} of {total}: p = {start} cached, "
                 f"n = {size} new)")
        pieces = tuple(t[..., start:stop, :] for t in (case.q, case.k, case.v))
        chunk = CacheCase(*pieces, past_k, past_v)
        out, k_all, v_all = _run(student, chunk, what=f"the result of {where}")
        try:
            _check_cache(k_all, v_all, chunk)
        except CheckFailed as failure:
            raise CheckFailed(f"{where}: {failure.message}", hint=failure.hint, details=failure.details) from None
        past_k, past_v = k_all, v_all  # exactly the keys and values so far (checked)
        expect_shape(out, full.shape[:-2] + (size, full.shape[-1]), f"the output of {where}")
        outputs.append((out, where, start, stop, chunk))
        start = stop
    for out, where, start, stop, chunk in outputs:
        _close_or_explain(out, full[..., start:stop, :], chunk, scale=2.0,
                          what=f"the output of {where}, compared with causal attention over the whole sequence "
                          "(F.scaled_dot_product_attention, is_causal=True)",
                          hint="the outputs of the chunks must be those of the whole sequence; " + ATTEND_HINT)


@cached_attention.check(
    "without a cache (past_k = past_v = None) it is causal self-attention, and k_all, v_all are k, v",
    points=1,
    examples=6,
    hint="with no cache p = 0: attend with causal_mask(n, n) and return k and v as the cache",
    case=cache_cases(p_sizes=(0, 0)).map(lambda c: CacheCase(c.q, c.k, c.v, None, None)),
    omit_past=st.booleans(),
)
def cache_no_past(student, case, omit_past):
    out, k_all, v_all = _run(student, case, omit_past=omit_past)
    _check_cache(k_all, v_all, case)
    q64, k64, v64 = (t.to(torch.float64) for t in (case.q, case.k, case.v))
    expected = F.scaled_dot_product_attention(q64, k64, v64, is_causal=True)
    expect_shape(out, expected.shape, "the output ([..., n, dv])")
    expect_dtype(out, case.q.dtype)
    _close_or_explain(out, expected, case, what="the output (compared with F.scaled_dot_product_attention, "
                      "is_causal=True)", hint="mask with causal_mask(n, n): query i may see keys j <= i")


@cached_attention.check(
    "has the right gradients with respect to q, k, v, past_k and past_v",
    points=1,
    examples=4,
    hint="use differentiable torch operations only (torch.cat, no .detach() on the cache, no in-place writes); "
    "gradients must flow into the cached keys and values too",
    case=cache_cases(dtypes=st.just(torch.float64)),
)
def cache_gradients(student, case):
    expect_gradients(student, *case.args())


@cached_attention.check(
    "raises ValueError when q and k hold different numbers of positions, or only one of past_k, past_v is given",
    points=1,
    examples=1,
    hint="compare q.shape[-2] with k.shape[-2], and check `(past_k is None) != (past_v is None)`, before "
    "computing anything; raise ValueError saying what does not fit",
)
def cache_errors(student):
    q, k, v = gs.random_tensor((2, 3, 4), 0), gs.random_tensor((2, 2, 4), 1), gs.random_tensor((2, 2, 5), 2)
    past_k, past_v = gs.random_tensor((2, 3, 4), 3), gs.random_tensor((2, 3, 5), 4)
    with expect_raises(ValueError, "for q with 3 positions and k with 2 (no cache)"):
        student(q, k, v)
    with expect_raises(ValueError, "for q with 3 positions and k with 2 (with a cache of 3)"):
        student(q, k, v, past_k, past_v)
    with expect_raises(ValueError, "when past_k is given without past_v"):
        student(q[:, :2], k, v, past_k, None)
    with expect_raises(ValueError, "when past_v is given without past_k"):
        student(q[:, :2], k, v, None, past_v)

"""Checks for attention.softmax and attention.scaled_dot_product_attention."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from hypothesis import strategies as st

from grader.author import (
    exercise,
    expect_close,
    expect_close_or_named,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tensor,
    expect_true,
    expect_tuple,
    in_float64,
    strategies as gs,
    tolerance,
)
from solutions import attention as ref

POSITION = 3

softmax = exercise("attention.softmax", reference=ref.softmax)
sdpa = exercise(
    "attention.scaled_dot_product_attention",
    reference=ref.scaled_dot_product_attention,
    uses=["attention.softmax"],
)

STABLE_HINT = (
    "subtract the per-slice maximum first: m = x.amax(dim, keepdim=True); e = exp(x - m); "
    "return e / e.sum(dim, keepdim=True)"
)
SCALE_HINT = "weights = softmax(q @ k.transpose(-2, -1) / sqrt(d), dim=-1) with d = q.shape[-1]"
MASK_HINT = (
    "True means 'may attend': set the scores where the mask is False to -inf *before* the "
    "softmax (torch.where(mask, scores, float('-inf')) or scores.masked_fill(~mask, float('-inf')))"
)


# ------------------------------------------------------------------------------ helpers


def _ref64(function: Callable, *args, **kwargs):
    """The reference, computed in float64 from the same inputs."""
    args64, kwargs64 = in_float64(*args, **kwargs)
    return function(*args64, **kwargs64)


def _one_true_per_row(shape, seed: int, p_true: float = 0.5) -> torch.Tensor:
    """A random bool mask whose every row (last axis) has at least one True."""
    mask = gs.bool_masks(shape, seed, p_true)
    keep = gs.random_ints(tuple(shape[:-1]) + (1,), seed + 1, 0, shape[-1])
    return mask.scatter(-1, keep, True)


def _plain_softmax(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    return torch.softmax(scores.to(torch.float64), dim=dim)


# ============================================================================== softmax


@dataclass
class SoftmaxCase:
    x: torch.Tensor
    dim: int


@st.composite
def softmax_cases(draw, scales=(1.0, 4.0), dtypes=None, min_dims=1):
    shape = draw(gs.shapes(min_dims, 4, 2, 5))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    scale = draw(st.sampled_from(scales))
    return SoftmaxCase(gs.random_tensor(shape, draw(gs.seeds()), dtype, scale), dim)


def _softmax_explanations(case: SoftmaxCase) -> Callable[[], list[tuple[str, torch.Tensor]]]:
    def build():
        x64 = case.x.to(torch.float64)
        found = [
            ("This is log-softmax (x - logsumexp): exponentiate, or normalise exp(x - max) by its sum",
             torch.log_softmax(x64, case.dim)),
        ]
        if case.x.dim() > 1 and case.dim % case.x.dim() != case.x.dim() - 1:
            found.append((f"This is the softmax over the last axis; normalise over dim={case.dim}, the "
                          "axis you were given (use it in amax and sum, with keepdim=True)",
                          torch.softmax(x64, -1)))
        return found

    return build


@softmax.check(
    "matches the reference for random shapes and dims, in float32 and float64",
    points=1.5,
    examples=20,
    hint="reduce over `dim` (not always the last axis) with keepdim=True, and keep the input's dtype",
    case=softmax_cases(),
    edges={"a dim other than the last": lambda case: case.x.dim() > 1 and case.dim % case.x.dim() != case.x.dim() - 1},
)
def softmax_matches_reference(student, case):
    got = student(case.x, case.dim)
    expect_shape(got, case.x.shape)
    expect_dtype(got, case.x.dtype)
    expect_close_or_named(got, _ref64(ref.softmax, case.x, case.dim), _softmax_explanations(case),
                          what="softmax(x, dim)")


@softmax.check(
    "sums to one along dim and is unchanged by adding a constant (up to |c| = 100)",
    points=1,
    examples=15,
    hint="softmax(x + c) = softmax(x): exp(x_i + c) / sum_j exp(x_j + c) cancels exp(c). "
    + STABLE_HINT,
    case=softmax_cases(),
    c=st.sampled_from([100.0, -100.0, 37.5, -12.25, 3.0]),
)
def softmax_shift_invariance(student, case, c):
    got = expect_tensor(student(case.x, case.dim))
    expect_shape(got, case.x.shape)
    expect_true(bool(torch.isfinite(got).all()),
                "softmax(x) contains nan or inf for ordinary inputs (|x| of a few units)", hint=STABLE_HINT)
    expect_true(bool((got >= 0).all()), "softmax(x) has negative entries: it must be a probability distribution",
                hint="return probabilities exp(x - m) / sum, not log-probabilities")
    sums = got.to(torch.float64).sum(case.dim)
    expect_close(sums, torch.ones_like(sums), what=f"the sum of softmax(x) along dim={case.dim}",
                 dtype=got.dtype, scale=float(case.x.shape[case.dim]),
                 hint="normalise by the sum along the same `dim` (keepdim=True)")
    shifted = expect_tensor(student(case.x + c, case.dim), "softmax(x + c)")
    expect_shape(shifted, case.x.shape, "softmax(x + c)")
    rtol, atol = tolerance(got.dtype)
    atol = atol + 4 * torch.finfo(got.dtype).eps * abs(c)
    expect_close(shifted, got.detach(), what=f"softmax(x + {c:g}) compared with softmax(x)", atol=atol, rtol=rtol,
                 dtype=got.dtype, hint="adding the same constant to every entry of a slice must not change the "
                 "result; exp(x + c) overflows (or underflows to 0/0) unless you subtract the max first")


@st.composite
def large_cases(draw):
    kind = draw(st.sampled_from(["[1000, 1001, 1002]", "random"]))
    if kind != "random":
        return SoftmaxCase(torch.tensor([[1000.0, 1001.0, 1002.0], [-1002.0, -1001.0, -1000.0]]), -1)
    return draw(softmax_cases(scales=(1e2, 1e3, 1e4)))


@softmax.check(
    "is finite and correct for large inputs (|x| up to 1e4, e.g. [1000, 1001, 1002])",
    points=1,
    examples=15,
    hint="exp(1000) overflows to inf (inf / inf = nan) and exp(-1000) underflows to 0 (0 / 0 = nan). "
    + STABLE_HINT,
    case=large_cases(),
    edges={
        "|x| >= 50 (exp overflows without the max subtracted)": lambda case: float(case.x.abs().max()) >= 50,
        "float32 with |x| >= 1000": lambda case: case.x.dtype == torch.float32 and float(case.x.abs().max()) >= 1000,
    },
)
def softmax_large_inputs(student, case):
    got = expect_tensor(student(case.x, case.dim))
    expect_shape(got, case.x.shape)
    bad = int((~torch.isfinite(got)).sum())
    expect_true(bad == 0, f"softmax(x) has {bad} nan/inf entries for inputs as large as "
                f"{float(case.x.abs().max()):.4g}: the exponentials overflow or underflow", hint=STABLE_HINT)
    expect_close(got, _ref64(ref.softmax, case.x, case.dim), what="softmax(x, dim) for large x",
                 scale=_magnitude_scale(case.x))


@st.composite
def spread_cases(draw):
    rows, width = draw(gs.distinct_sizes(2, 2, 5))
    offsets = draw(st.lists(st.sampled_from([0.0, 1000.0, -1000.0, 5000.0, -5000.0]), min_size=rows,
                            max_size=rows).filter(lambda o: len(set(o)) > 1))
    dtype = draw(gs.float_dtypes())
    x = gs.random_tensor((rows, width), draw(gs.seeds()), dtype, 3.0) + torch.tensor(offsets, dtype=dtype)[:, None]
    if draw(st.booleans()):  # the slices run along dim 0 instead
        return SoftmaxCase(x.T.contiguous(), 0)
    return SoftmaxCase(x, 1)


@softmax.check(
    "takes the max per slice: slices of very different magnitudes in one tensor",
    points=1,
    examples=10,
    hint="x.max() over the whole tensor is not enough: a slice far below the global max becomes "
    "exp(-5000) = 0 everywhere and 0 / 0 = nan. Use x.amax(dim, keepdim=True)",
    case=spread_cases(),
)
def softmax_per_slice_max(student, case):
    got = expect_tensor(student(case.x, case.dim))
    expect_shape(got, case.x.shape)
    bad = int((~torch.isfinite(got)).sum())
    expect_true(bad == 0, f"softmax(x) has {bad} nan/inf entries when the slices along dim={case.dim} lie "
                "around very different values (0, ±1000, ±5000)", hint=STABLE_HINT)
    expect_close(got, _ref64(ref.softmax, case.x, case.dim), what="softmax(x, dim)",
                 scale=_magnitude_scale(case.x))


def _magnitude_scale(x: torch.Tensor) -> float:
    """Inputs near |x| are only known to eps * |x|; so is exp(x - anything) relative to 1.

    Correct stable forms differ by that much (x - max is exact, x - logsumexp(x) rounds), so
    the tolerance grows with the magnitude; overflow, nan and wrong axes stay far outside it.
    """
    rtol, _ = tolerance(x.dtype)
    return 1.0 + 2 * torch.finfo(x.dtype).eps * float(x.abs().max()) / rtol


@st.composite
def masked_cases(draw):
    case = draw(softmax_cases(scales=(1.0, 3.0)))
    moved = case.x.movedim(case.dim, -1)
    keep = _one_true_per_row(tuple(moved.shape), draw(gs.seeds()), 0.5)
    x = moved.masked_fill(~keep, float("-inf")).movedim(-1, case.dim).contiguous()
    return SoftmaxCase(x, case.dim)


@softmax.check(
    "gives exactly 0 to -inf entries (masked positions)",
    points=1,
    examples=15,
    hint="exp(-inf - m) is exactly 0; do not add an epsilon to the exponentials or the sum, and "
    "subtract a finite max (every slice here has a finite entry)",
    case=masked_cases(),
)
def softmax_negative_infinity(student, case):
    got = expect_tensor(student(case.x, case.dim))
    expect_shape(got, case.x.shape)
    masked = torch.isneginf(case.x)
    leak = got[masked].abs().max().item() if bool(masked.any()) else 0.0
    expect_true(leak == 0.0, f"an entry of -inf got weight {leak:.3g} instead of exactly 0: masked keys must "
                "receive no attention at all")
    expect_close(got, _ref64(ref.softmax, case.x, case.dim), what="softmax(x, dim) with -inf entries")


@softmax.check(
    "has the right gradient",
    points=0.5,
    examples=4,
    hint="build the result from differentiable torch operations (no .detach(), no NumPy, no in-place writes)",
    case=softmax_cases(),
)
def softmax_gradient(student, case):
    expect_gradients(student, case.x, case.dim)


# =========================================================== scaled dot-product attention


@dataclass
class AttentionCase:
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    mask: torch.Tensor | None = None


@st.composite
def attention_cases(draw, scale: float = 1.0, min_d: int = 2, max_d: int = 8, dtypes=None, batch_dims=(0, 2)):
    lead = tuple(draw(st.lists(gs.sizes(2, 3), min_size=batch_dims[0], max_size=batch_dims[1])))
    lq, lk = draw(gs.distinct_sizes(2, 2, 6))
    d, dv = draw(gs.distinct_sizes(2, min_d, max_d))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    seed = draw(gs.seeds())
    # k and v may be shared across the first leading dim (it broadcasts)
    kv_lead = lead
    if lead and draw(st.booleans()):
        kv_lead = (1,) + lead[1:]
    q = gs.random_tensor(lead + (lq, d), seed, dtype, scale)
    k = gs.random_tensor(kv_lead + (lk, d), seed + 1, dtype, scale)
    v = gs.random_tensor(kv_lead + (lk, dv), seed + 2, dtype)
    return AttentionCase(q, k, v)


def _weights_explanations(case: AttentionCase) -> Callable[[], list[tuple[str, torch.Tensor]]]:
    def build():
        q, k = case.q.to(torch.float64), case.k.to(torch.float64)
        scores = q @ k.transpose(-2, -1)
        d, dv = q.shape[-1], case.v.shape[-1]
        allowed = case.mask

        def soft(s, dim=-1, mask=allowed):
            if mask is not None:
                s = torch.where(mask, s, float("-inf"))
            return ref.softmax(s, dim)

        found = [
            (f"These are the weights of softmax(q @ k^T / d): divide by sqrt(d) = {math.sqrt(d):.4g}, not by "
             f"d = {d}", soft(scores / d)),
            ("These are the weights without any scaling: divide the scores by sqrt(d) with d = q.shape[-1]",
             soft(scores)),
            (f"These weights are scaled by 1/sqrt({dv}), the value size: the scale uses the query/key size "
             f"d = q.shape[-1] = {d}", soft(scores / math.sqrt(dv))),
            ("The softmax runs over the query axis (dim=-2): each query's weights over the keys must sum to "
             "one, so normalise over the last axis", soft(scores / math.sqrt(d), -2)),
        ]
        if allowed is not None:
            scaled = scores / math.sqrt(d)
            found += [
                ("The mask is used with the wrong polarity: True means 'may attend' (as in "
                 "F.scaled_dot_product_attention), False entries are blocked", soft(scaled, mask=~allowed)),
                ("The mask was ignored in the weights: set the blocked scores to -inf before the softmax and "
                 "return those weights", soft(scaled, mask=None)),
                ("Blocked scores were set to 0 instead of -inf: exp(0) = 1 still gives them weight",
                 ref.softmax(torch.where(allowed, scaled, 0.0), -1)),
                ("The weights were masked after the softmax, so rows no longer sum to one: mask the scores "
                 "(-inf) before the softmax", torch.where(allowed, ref.softmax(scaled, -1), 0.0)),
            ]
        return found

    return build


def _check_attention(student, case: AttentionCase, what: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    result = student(case.q, case.k, case.v, mask=case.mask)
    out, weights = expect_tuple(result, 2, "the result (output, weights)")
    ref_out, ref_weights = _ref64(ref.scaled_dot_product_attention, case.q, case.k, case.v, mask=case.mask)
    expect_shape(weights, ref_weights.shape, "the weights")
    expect_shape(out, ref_out.shape, "the output")
    expect_dtype(weights, case.q.dtype, "the weights")
    expect_dtype(out, case.q.dtype, "the output")
    expect_close_or_named(weights, ref_weights, _weights_explanations(case), what=f"the weights{what}",
                          hint=SCALE_HINT)
    expect_close(out, ref_out, what=f"the output{what}", hint="output = weights @ v")
    return out, weights


@sdpa.check(
    "matches the reference (output and weights) with batch dims, Lq != Lk, d != dv",
    points=2,
    examples=20,
    hint="scores = q @ k.transpose(-2, -1) (not k.T, which reverses every axis of a batched tensor); "
    "weights = softmax(scores / sqrt(d), dim=-1); output = weights @ v",
    case=attention_cases(),
)
def sdpa_matches_reference(student, case):
    _check_attention(student, case)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Broadcast two shapes (torch.broadcast_shapes imports torch._refs: ~0.7 s the first time)."""
    width = max(len(a), len(b))
    a, b = (1,) * (width - len(a)) + tuple(a), (1,) * (width - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b))


@st.composite
def masked_attention_cases(draw):
    kind = draw(st.sampled_from(["[Lq, Lk] for batched q", "[B, 1, 1, Lk] padding", "full shape"]))
    seed = draw(gs.seeds())
    if kind == "[B, 1, 1, Lk] padding":
        case = draw(attention_cases(batch_dims=(2, 2)))
        batch, lk = case.q.shape[0], case.k.shape[-2]
        lengths = gs.random_ints((batch,), seed, 1, lk + 1)
        mask = (torch.arange(lk)[None, :] < lengths[:, None])[:, None, None, :]
    elif kind == "[Lq, Lk] for batched q":
        case = draw(attention_cases(batch_dims=(1, 2)))
        mask = _one_true_per_row((case.q.shape[-2], case.k.shape[-2]), seed)
    else:
        case = draw(attention_cases(batch_dims=(0, 2)))
        shape = _broadcast(case.q.shape[:-2], case.k.shape[:-2]) + (case.q.shape[-2], case.k.shape[-2])
        mask = _one_true_per_row(tuple(shape), seed)
    return AttentionCase(case.q, case.k, case.v, mask)


@sdpa.check(
    "applies a boolean mask (broadcast [Lq, Lk] and [B, 1, 1, Lk]): blocked weights are exactly 0",
    points=1.5,
    examples=20,
    hint=MASK_HINT,
    case=masked_attention_cases(),
    edges={
        "a [B, 1, 1, Lk] padding mask": lambda case: case.mask.dim() == 4 and tuple(case.mask.shape[1:3]) == (1, 1),
        "an [Lq, Lk] mask broadcast over batched queries": lambda case: case.mask.dim() == 2 and case.q.dim() > 2,
    },
)
def sdpa_masks(student, case):
    _, weights = _check_attention(student, case, " with a mask")
    blocked = ~case.mask.expand(weights.shape)
    leak = weights[blocked].abs().max().item() if bool(blocked.any()) else 0.0
    expect_true(leak == 0.0, f"a blocked key (mask False) got weight {leak:.3g} instead of exactly 0", hint=MASK_HINT)
    expect_close(weights.to(torch.float64).sum(-1), torch.ones(weights.shape[:-1], dtype=torch.float64),
                 what="the sum of each row of weights", dtype=weights.dtype, scale=4.0, hint=MASK_HINT)


@sdpa.check(
    "scales the scores by 1/sqrt(d), d = q.shape[-1]",
    points=1,
    examples=10,
    hint=SCALE_HINT + ". Without the scale, large d makes the softmax saturate into a one-hot",
    case=attention_cases(scale=1.5, min_d=4, max_d=16, dtypes=st.just(torch.float64), batch_dims=(0, 1)),
)
def sdpa_scale(student, case):
    _, weights = expect_tuple(student(case.q, case.k, case.v), 2, "the result (output, weights)")
    _, ref_weights = _ref64(ref.scaled_dot_product_attention, case.q, case.k, case.v)
    expect_close_or_named(weights, ref_weights, _weights_explanations(case), what="the weights", hint=SCALE_HINT)


@sdpa.check(
    "has the right gradients with respect to q, k and v",
    points=1,
    examples=4,
    hint="use differentiable torch operations only (no .detach(), no NumPy, no in-place writes into the scores)",
    case=st.one_of(attention_cases(batch_dims=(1, 1)), masked_attention_cases()),
)
def sdpa_gradients(student, case):
    expect_gradients(student, case.q, case.k, case.v, mask=case.mask)


@sdpa.check(
    "is unchanged by adding one vector to every key, and by permuting the keys and values together",
    points=0.5, hidden=True,
    examples=8,
    hint="softmax over the keys (dim=-1) ignores q·c, which is the same for every key of a query; "
    "the keys and their values are a set, so their order must not matter",
    case=attention_cases(batch_dims=(0, 1)),
    seed=gs.seeds(),
)
def sdpa_invariances(student, case, seed):
    out, weights = expect_tuple(student(case.q, case.k, case.v), 2, "the result (output, weights)")
    expect_tensor(out, "the output")
    shift = gs.random_tensor(case.k.shape[:-2] + (1, case.k.shape[-1]), seed, case.k.dtype)
    shifted_out, _ = expect_tuple(student(case.q, case.k + shift, case.v), 2, "the result (output, weights)")
    expect_close(shifted_out, out.detach(), what="the output after adding the same vector c to every key",
                 scale=10.0, hint="q·(k_j + c) = q·k_j + q·c, and q·c is the same for every key j, so a "
                 "softmax over the key axis (dim=-1) does not change")
    perm = torch.randperm(case.k.shape[-2], generator=torch.Generator().manual_seed(seed))
    perm_out, perm_weights = expect_tuple(student(case.q, case.k[..., perm, :], case.v[..., perm, :]), 2,
                                          "the result (output, weights)")
    expect_close(perm_out, out.detach(), what="the output after permuting the keys and values together",
                 scale=10.0)
    expect_close(perm_weights, weights.detach()[..., perm], what="the weights after permuting the keys and values",
                 scale=10.0, hint="weights[..., i, j] belongs to key j: permuting the keys permutes the columns")

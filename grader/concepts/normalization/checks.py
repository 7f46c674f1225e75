"""Checks for normalization.layer_norm and normalization.rms_norm.

Layer norm is compared with ``torch.nn.functional.layer_norm`` computed in float64 from
the same inputs; RMSNorm with the float64 reference (the tests compare that with
``F.rms_norm`` where the installed torch has it). Besides the values: the properties that
need no reference (rows of mean 0 and variance 1, invariance to shifting and scaling a
row, RMSNorm keeping each row's direction), rows far from zero (which catch the
variance computed as ``E[x²] - E[x]²``), ``eps`` inside the square root and its default,
gradients and dtypes. A wrong result is compared with the classic mistakes (unbiased
variance, wrong axis, eps outside the root, weight and bias swapped...) so that the
student is told which one it matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    exercise,
    expect_close,
    expect_close_or_named,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tensor,
    expect_true,
    in_float64,
    strategies as gs,
    tolerance,
)
from solutions import normalization as ref

POSITION = 9

layer_norm = exercise("normalization.layer_norm", reference=ref.layer_norm)
rms_norm = exercise("normalization.rms_norm", reference=ref.rms_norm)

LN_HINT = (
    "over the last dim only (keepdim=True): mean = x.mean(-1), var = ((x - mean)**2).mean(-1) (biased: "
    "divide by D); y = (x - mean) / sqrt(var + eps); then y * weight + bias where they are not None"
)
RMS_HINT = (
    "over the last dim only (keepdim=True): y = x / sqrt((x**2).mean(-1) + eps), then y * weight where it "
    "is not None; no mean is subtracted and there is no bias"
)
LN_DEFAULT_EPS = 1e-5
RMS_DEFAULT_EPS = 1e-6
OFFSET_HINT = (
    "compute the variance from the centred values, ((x - mean)**2).mean(-1): the shortcut "
    "mean(x**2) - mean(x)**2 subtracts two huge, nearly equal numbers and keeps only their rounding error "
    "(around 1000 + noise in float32 it is off by ~1; around 1e4 it can even go negative and give nan)"
)
TINY_EPS = 1e-12  # for the invariances, which hold exactly only without eps


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


# ------------------------------------------------------------------------------ cases


@dataclass
class NormCase:
    """A layer-norm call; ``eps`` None means "not passed" (the default applies)."""

    x: torch.Tensor
    weight: torch.Tensor | None
    bias: torch.Tensor | None
    eps: float | None = None

    def call(self) -> tuple[tuple, dict]:
        """The arguments as a student's code is usually called: positional when both are given."""
        kwargs = {} if self.eps is None else {"eps": self.eps}
        if self.weight is not None and self.bias is not None:
            return (self.x, self.weight, self.bias), kwargs
        if self.weight is not None:
            kwargs["weight"] = self.weight
        if self.bias is not None:
            kwargs["bias"] = self.bias
        return (self.x,), kwargs

    @property
    def eps_value(self) -> float:
        return LN_DEFAULT_EPS if self.eps is None else self.eps


@dataclass
class RmsCase:
    """An RMSNorm call; ``eps`` None means "not passed" (the default applies)."""

    x: torch.Tensor
    weight: torch.Tensor | None
    eps: float | None = None

    def call(self) -> tuple[tuple, dict]:
        kwargs = {} if self.eps is None else {"eps": self.eps}
        return ((self.x, self.weight) if self.weight is not None else (self.x,)), kwargs

    @property
    def eps_value(self) -> float:
        return RMS_DEFAULT_EPS if self.eps is None else self.eps


AFFINE = ("weight and bias", "weight only", "bias only", "neither")


def _rows(draw, dtypes, scales, seed: int) -> torch.Tensor:
    """``[..., D]`` rows (1 to 3 dims, sizes distinct and >= 3), each around its own offset."""
    dims = draw(st.integers(1, 3))
    shape = draw(gs.distinct_sizes(dims, 3, 8))  # D >= 3: with D = 2 every row normalises to +-1
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    scale = draw(st.sampled_from(scales))
    offsets = gs.random_tensor(shape[:-1] + (1,), seed + 1, torch.float64, 2.0 * scale)
    return (gs.random_tensor(shape, seed, torch.float64, scale) + offsets).to(dtype)


@st.composite
def norm_cases(draw, affine=AFFINE, dtypes=None, scales=(0.5, 2.0), eps=(None,)):
    seed = draw(gs.seeds())
    x = _rows(draw, dtypes, scales, seed)
    kind = draw(st.sampled_from(affine))
    d = x.shape[-1]
    weight = gs.random_tensor((d,), seed + 2, x.dtype) + 1.0 if kind in ("weight and bias", "weight only") else None
    bias = gs.random_tensor((d,), seed + 3, x.dtype) if kind in ("weight and bias", "bias only") else None
    return NormCase(x, weight, bias, draw(st.sampled_from(eps)))


@st.composite
def rms_cases(draw, weights=(True, False), dtypes=None, scales=(0.5, 2.0), eps=(None,)):
    seed = draw(gs.seeds())
    x = _rows(draw, dtypes, scales, seed)
    weight = gs.random_tensor((x.shape[-1],), seed + 2, x.dtype) + 1.0 if draw(st.sampled_from(weights)) else None
    return RmsCase(x, weight, draw(st.sampled_from(eps)))


# ------------------------------------------------------------------------------ oracles and mistakes


# A wrong result is matched to a known mistake within four times the comparison's tolerance.
MATCH = 4.0


def _torch_layer_norm(case: NormCase) -> torch.Tensor:
    """The independent oracle: F.layer_norm in float64 on the same inputs."""
    (x, weight, bias), _ = in_float64(case.x, case.weight, case.bias)
    return F.layer_norm(x, (x.shape[-1],), weight, bias, case.eps_value)


def _reference_rms_norm(case: RmsCase) -> torch.Tensor:
    args, kwargs = case.call()
    args64, kwargs64 = in_float64(*args, **kwargs)
    return ref.rms_norm(*args64, **kwargs64)


def _statistics(x: torch.Tensor, dim) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float64 ``(x - mean, biased variance, mean of the squares)`` over ``dim`` (keepdim)."""
    centred = x - x.mean(dim=dim, keepdim=True)
    return centred, centred.pow(2).mean(dim=dim, keepdim=True), x.pow(2).mean(dim=dim, keepdim=True)


def _with_affine(normed: torch.Tensor, weight, bias) -> torch.Tensor:
    out = normed if weight is None else normed * weight
    return out if bias is None else out + bias


def _layer_norm_mistakes(case: NormCase) -> list[tuple[str, torch.Tensor]]:
    """What the classic wrong layer norms give on ``case`` (float64), with what to tell the student."""
    (x, weight, bias), _ = in_float64(case.x, case.weight, case.bias)
    eps, d = case.eps_value, x.shape[-1]
    centred, var, mean_square = _statistics(x, -1)
    plain = lambda normed: _with_affine(normed, weight, bias)  # noqa: E731
    found = []
    if d > 1:
        found.append((
            f"It matches the unbiased variance (divided by D - 1 = {d - 1} instead of D = {d}): torch.var, x.var() "
            "and x.std() divide by D - 1 unless you pass unbiased=False (or correction=0); layer norm uses the "
            "biased variance mean((x - mean)**2)",
            plain(centred / (var * d / (d - 1) + eps).sqrt()),
        ))
    found += [
        ("It matches eps added outside the square root, (x - mean) / (sqrt(var) + eps): eps goes inside, "
         "sqrt(var + eps)", plain(centred / (var.sqrt() + eps))),
        ("It matches a layer norm without eps, (x - mean) / sqrt(var): add eps inside the square root",
         plain(centred / var.sqrt())),
    ]
    if case.eps is not None and case.eps != LN_DEFAULT_EPS:
        found.append((f"It matches eps = 1e-5 although eps={case.eps:g} was passed: use the eps argument, not a "
                      "constant", plain(centred / (var + LN_DEFAULT_EPS).sqrt())))
    if case.eps is None:
        found.append(("It matches eps = 1e-6 (RMSNorm's usual default): layer norm's default is eps=1e-5, as "
                      "nn.LayerNorm", plain(centred / (var + 1e-6).sqrt())))
    found += [
        ("It matches dividing by the variance instead of the standard deviation: divide by sqrt(var + eps)",
         plain(centred / (var + eps))),
        ("It matches x / sqrt(var + eps) without subtracting the mean from x: the numerator is x - mean",
         plain(x / (var + eps).sqrt())),
        ("It matches RMSNorm, x / sqrt(mean(x**2) + eps): layer norm subtracts each row's mean first",
         plain(x / (mean_square + eps).sqrt())),
    ]
    if x.dim() >= 2:
        for dims, where in ((0, "over the first axis (dim=0)"), (tuple(range(x.dim())), "over the whole tensor")):
            wrong_centred, wrong_var, _ = _statistics(x, dims)
            found.append((
                f"It matches normalising {where}: the mean and the variance belong to one vector, its D features "
                "(dim=-1, keepdim=True), so that every row is normalised on its own",
                plain(wrong_centred / (wrong_var + eps).sqrt()),
            ))
    normed = centred / (var + eps).sqrt()
    if weight is not None and bias is not None:
        found += [
            ("It matches weight and bias swapped (normalised * bias + weight): weight (gamma) scales, bias (beta) "
             "shifts: y * weight + bias", normed * bias + weight),
            ("It matches the bias added before scaling, (normalised + bias) * weight: scale first, then shift: "
             "y * weight + bias", (normed + bias) * weight),
        ]
    if bias is not None:
        found.append(("It matches the result without the bias: add bias after scaling by weight",
                      _with_affine(normed, weight, None)))
    if weight is not None:
        found.append(("It matches the result without the weight: multiply by weight before adding bias",
                      _with_affine(normed, None, bias)))
    return found


def _rms_norm_mistakes(case: RmsCase) -> list[tuple[str, torch.Tensor]]:
    """What the classic wrong RMSNorms give on ``case`` (float64), with what to tell the student."""
    (x, weight), _ = in_float64(case.x, case.weight)
    eps, d = case.eps_value, x.shape[-1]
    centred, var, mean_square = _statistics(x, -1)
    plain = lambda normed: _with_affine(normed, weight, None)  # noqa: E731
    found = [
        ("It matches a layer norm (the mean is subtracted): RMSNorm does not centre, it divides x itself by "
         "sqrt(mean(x**2) + eps)", plain(centred / (var + eps).sqrt())),
        (f"It matches the sum of the squares instead of their mean: divide the sum by D = {d} (or use .mean(-1))",
         plain(x / (mean_square * d + eps).sqrt())),
        ("It matches eps added outside the square root, x / (sqrt(mean(x**2)) + eps): eps goes inside",
         plain(x / (mean_square.sqrt() + eps))),
        ("It matches dividing by mean(x**2) + eps without the square root: divide by the root of the mean square",
         plain(x / (mean_square + eps))),
    ]
    if case.eps is None:
        found.append(("It matches eps = 1e-5 (layer norm's default): RMSNorm's default eps is 1e-6",
                      plain(x / (mean_square + 1e-5).sqrt())))
    elif case.eps != RMS_DEFAULT_EPS:
        found.append((f"It matches eps = 1e-6 although eps={case.eps:g} was passed: use the eps argument, not a "
                      "constant", plain(x / (mean_square + RMS_DEFAULT_EPS).sqrt())))
    found += [
        ("It matches a result without eps: add eps inside the square root, sqrt(mean(x**2) + eps)",
         plain(x / mean_square.sqrt())),
    ]
    if d > 1:
        found.append((f"It matches dividing the sum of squares by D - 1 = {d - 1}: the mean square divides by D = {d}",
                      plain(x / (mean_square * d / (d - 1) + eps).sqrt())))
    if x.dim() >= 2:
        _, _, first_axis = _statistics(x, 0)
        found.append((
            "It matches normalising over the first axis (dim=0): the mean square belongs to one vector, its D "
            "features (dim=-1, keepdim=True)",
            plain(x / (first_axis + eps).sqrt()),
        ))
    if weight is not None:
        found.append(("It matches the result without the weight: multiply by weight at the end",
                      x / (mean_square + eps).sqrt()))
    return found


def _output(student, case, what: str = "the output") -> torch.Tensor:
    args, kwargs = case.call()
    got = expect_tensor(student(*args, **kwargs), what)
    expect_shape(got, case.x.shape, what)
    return got


# ============================================================================== layer_norm


@layer_norm.check(
    "matches F.layer_norm(x, (D,), weight, bias) for 1-d to 3-d inputs, with and without weight and bias",
    points=2,
    examples=12,
    hint=LN_HINT,
    case=norm_cases(),
    edges={
        "weight and bias both None": lambda case: case.weight is None and case.bias is None,
        "a weight without a bias": lambda case: case.weight is not None and case.bias is None,
        "a bias without a weight": lambda case: case.weight is None and case.bias is not None,
        "a 3-d input": lambda case: case.x.dim() == 3,
    },
)
def layer_norm_matches_torch(student, case):
    got = _output(student, case)
    expect_dtype(got, case.x.dtype)
    expect_close_or_named(got, _torch_layer_norm(case), lambda: _layer_norm_mistakes(case),
                      what="layer_norm(x) compared with F.layer_norm", hint=LN_HINT, match_scale=MATCH)


@layer_norm.check(
    "without weight and bias, every row has mean 0 and variance var / (var + eps), about 1",
    points=1,
    examples=8,
    hint="subtract the row's mean and divide by sqrt(var + eps), with the biased variance "
    "((x - mean)**2).mean(-1), both over the last dim (keepdim=True)",
    case=norm_cases(affine=("neither",)),
)
def layer_norm_moments(student, case):
    got = _output(student, case)
    d = case.x.shape[-1]
    y = got.detach().to(torch.float64)
    x = case.x.to(torch.float64)
    rtol, atol = tolerance(got.dtype, 4.0)
    means = y.mean(-1)
    worst = int(means.abs().flatten().argmax())
    worst_mean = float(means.flatten()[worst])
    expect_true(abs(worst_mean) <= atol * max(1.0, d ** 0.5),
                f"a row of the output has mean {worst_mean:.4g} instead of 0 (weight and bias None): layer norm "
                "subtracts each row's mean, taken over the last dim",
                hint="mean = x.mean(dim=-1, keepdim=True); the numerator is x - mean")
    variance = x.var(-1, correction=0)
    expected = variance / (variance + case.eps_value)
    got_var = y.var(-1, correction=0)
    index = int(((got_var - expected).abs() / expected).flatten().argmax())
    got_v, want_v = float(got_var.flatten()[index]), float(expected.flatten()[index])
    if abs(got_v - want_v) <= atol + rtol * abs(want_v):
        return
    message = f"a row of the output has variance {got_v:.6g} instead of var / (var + eps) = {want_v:.6g}"
    if d > 1 and abs(got_v - want_v * (d - 1) / d) <= 4 * (atol + rtol * want_v):
        message += (f" = {want_v:.4g} * (D - 1) / D with D = {d}: you divided by the unbiased standard deviation "
                    "(torch.var, x.var() and x.std() divide by D - 1 by default); pass unbiased=False or "
                    "correction=0")
    raise CheckFailed(message, hint="var = ((x - mean)**2).mean(dim=-1, keepdim=True), divided by D, and the "
                      "output is (x - mean) / sqrt(var + eps)")


def _row_map(x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    rows = x.shape[:-1] + (1,)
    scale = 0.5 + 3.5 * torch.rand(rows, generator=generator, dtype=torch.float64)
    shift = 6.0 * (2 * torch.rand(rows, generator=generator, dtype=torch.float64) - 1)
    return scale.to(x.dtype), shift.to(x.dtype)


@layer_norm.check(
    "is unchanged by scaling and shifting a row, x -> a*x + c (a > 0, one a and c per row, eps tiny)",
    points=1,
    examples=8,
    hint="normalise each row (the last dim) on its own: subtracting the row's mean removes c and dividing by "
    "the row's standard deviation removes a; statistics over another axis or the whole tensor mix rows. "
    "This check passes eps=1e-12: use the eps argument",
    case=norm_cases(eps=(TINY_EPS,)),
    seed=gs.seeds(),
)
def layer_norm_invariance(student, case, seed):
    got = _output(student, case)
    scale, shift = _row_map(case.x, seed)
    moved = NormCase(case.x * scale + shift, case.weight, case.bias, case.eps)
    got_moved = _output(student, moved, "layer_norm(a*x + c)")
    # a*x + c is rounded: in float32 the shifted input is only known to ~eps32 * |c| / (a * std)
    expect_close(got_moved, got.detach(), scale=10.0,
                 what="layer_norm(a*x + c) compared with layer_norm(x) (a, c one per row)",
                 hint="the statistics must come from each row alone: mean and var over dim=-1 with keepdim=True")


@dataclass
class OffsetCase:
    x: torch.Tensor
    offset: float
    noise: float


@dataclass
class OffsetCases:
    """One float32 case (rows around 1e3..1e4) and one float64 case (around 1e6), both run."""

    float32: OffsetCase
    float64: OffsetCase


@st.composite
def offset_cases(draw):
    """Rows offset + noise. The largest float32 offset comes first, so that hypothesis's
    first (simplest) example always reaches it."""
    noise = draw(st.sampled_from((0.5, 1.0, 2.0)))
    rows, d = draw(gs.distinct_sizes(2, 3, 16))
    seed = draw(gs.seeds())
    cases = []
    for dtype, offsets in ((torch.float32, (1e4, 1e3, -2e3, 5e3)), (torch.float64, (1e6, -3e6))):
        offset = draw(st.sampled_from(offsets))
        x = gs.random_tensor((rows, d), seed + len(cases), torch.float64, noise) + offset
        cases.append(OffsetCase(x.to(dtype), offset, noise))
    return OffsetCases(*cases)


@layer_norm.check(
    "stays accurate for rows far from zero (float32 rows around 1e3 to 1e4, float64 around 1e6)",
    points=1.5,
    examples=6,
    hint=OFFSET_HINT,
    cases=offset_cases(),
    edges={
        "float32 rows around 1e4": lambda cases: abs(cases.float32.offset) >= 1e4,
        "float32 rows around 1e3": lambda cases: abs(cases.float32.offset) < 1e4,
    },
)
def layer_norm_large_offset(student, cases):
    for case in (cases.float32, cases.float64):
        _offset_case(student, case)


def _offset_case(student, case: OffsetCase) -> None:
    got = expect_tensor(student(case.x))
    expect_shape(got, case.x.shape)
    x64 = case.x.to(torch.float64)
    expected = F.layer_norm(x64, (x64.shape[-1],))
    bad = int((~torch.isfinite(got)).sum())
    expect_true(bad == 0, f"the output has {bad} nan/inf entries for rows around {case.offset:g} (noise of "
                f"std {case.noise:g}): the variance came out negative, as mean(x**2) - mean(x)**2 can in float32",
                hint=OFFSET_HINT)
    # The row's mean is itself only known to about ulp(offset): even F.layer_norm is off by
    # ~1e-4 at 1e3 and ~2e-3 at 1e4 in float32. Allow 4 * eps * |offset| / std on top (the
    # smallest row std: correct two-pass forms stay below half of that, the shortcut above it).
    rtol, atol = tolerance(got.dtype)
    atol += 4 * torch.finfo(got.dtype).eps * abs(case.offset) / float(x64.std(-1, correction=0).min())
    expect_close_or_named(
        got, expected, lambda: _layer_norm_mistakes(NormCase(case.x, None, None)), atol=atol,
        what=f"layer_norm(x) for rows around {case.offset:g} (compared with F.layer_norm in float64)",
        hint=OFFSET_HINT,
        otherwise="An error this large only for rows far from zero is the signature of the variance computed as "
        "mean(x**2) - mean(x)**2: both terms are about offset**2 and their difference is rounding error",
        match_scale=MATCH,
    )


@layer_norm.check(
    "puts eps inside the square root and uses eps = 1e-5 by default (rows of small variance)",
    points=1,
    examples=6,
    hint="y = (x - mean) / sqrt(var + eps): eps matters when var is small (here var ~ 1e-4); "
    "the default is eps=1e-5 (as nn.LayerNorm), and the eps passed in must be used",
    case=norm_cases(scales=(0.01, 0.03), eps=(None, 1e-3, 1e-2)),
    edges={"the default eps": lambda case: case.eps is None,
           "eps = 1e-2 given": lambda case: case.eps == 1e-2},
)
def layer_norm_eps(student, case):
    got = _output(student, case)
    eps_text = "the default eps" if case.eps is None else f"eps={case.eps:g}"
    expect_close_or_named(got, _torch_layer_norm(case), lambda: _layer_norm_mistakes(case), hint=LN_HINT,
                      what=f"layer_norm(x) with {eps_text} for rows of variance "
                      f"~{float(case.x.to(torch.float64).var(-1, correction=0).mean()):.1g}", match_scale=MATCH)


@layer_norm.check(
    "has the right gradients with respect to x, weight and bias",
    points=1,
    examples=4,
    hint="build the result from differentiable torch operations (no .detach(), .item() or NumPy); "
    "the mean and the variance are part of the graph too",
    case=norm_cases(affine=("weight and bias", "weight and bias", "neither")),
)
def layer_norm_gradients(student, case):
    args, kwargs = case.call()
    expect_gradients(student, *args, **kwargs)


@layer_norm.check("keeps the dtype of x (float32 and float64)", points=0.5, examples=1,
                  hint="no .float() or .double() on the result, and no constants created as float32 tensors")
def layer_norm_dtype(student):
    for dtype in (torch.float32, torch.float64):
        x = gs.random_tensor((3, 5), 11, dtype, 2.0)
        for weight, bias in ((None, None), (gs.random_tensor((5,), 12, dtype) + 1, gs.random_tensor((5,), 13, dtype))):
            got = expect_tensor(student(x, weight, bias))
            expect_shape(got, x.shape)
            expect_dtype(got, dtype, f"the output for {_dtype_name(dtype)} inputs")


# ============================================================================== rms_norm


@rms_norm.check(
    "matches the reference x / sqrt(mean(x**2) + eps) * weight (= F.rms_norm), 1-d to 3-d, with and without weight",
    points=2,
    examples=12,
    hint=RMS_HINT,
    case=rms_cases(),
    edges={"weight None": lambda case: case.weight is None, "a 3-d input": lambda case: case.x.dim() == 3},
)
def rms_norm_matches(student, case):
    got = _output(student, case)
    expect_dtype(got, case.x.dtype)
    expect_close_or_named(got, _reference_rms_norm(case), lambda: _rms_norm_mistakes(case),
                      what="rms_norm(x)", hint=RMS_HINT, match_scale=MATCH)


@rms_norm.check(
    "without weight, every row keeps its direction (y = s * x, s > 0) and has mean square ms / (ms + eps), about 1",
    points=1,
    examples=8,
    hint="RMSNorm only rescales each row: y = x / sqrt(mean(x**2) + eps) over the last dim; it subtracts "
    "nothing (that is layer norm) and divides by the mean of the squares (not their sum)",
    case=rms_cases(weights=(False,)),
)
def rms_norm_direction(student, case):
    got = _output(student, case)
    y = got.detach().to(torch.float64)
    x = case.x.to(torch.float64)
    factor = (y * x).sum(-1, keepdim=True) / (x * x).sum(-1, keepdim=True)
    expect_true(bool((factor > 0).all()), "a row of the output points away from its input (y . x <= 0): RMSNorm "
                "multiplies each row by a positive number", hint=RMS_HINT)
    expect_close(got, factor * x, scale=4.0, what="the output compared with a positive multiple of its row of x",
                 hint="y must be x times one positive number per row: subtracting the mean (as layer norm "
                 "does) or normalising over another axis changes the direction")
    mean_square = (x * x).mean(-1)
    wanted = mean_square / (mean_square + case.eps_value)
    got_ms = (y * y).mean(-1)
    rtol, atol = tolerance(got.dtype, 4.0)
    index = int(((got_ms - wanted).abs() / wanted).flatten().argmax())
    got_v, want_v = float(got_ms.flatten()[index]), float(wanted.flatten()[index])
    if abs(got_v - want_v) <= atol + rtol * want_v:
        return
    d = x.shape[-1]
    message = f"a row of the output has mean square {got_v:.6g} instead of ms / (ms + eps) = {want_v:.6g}"
    if abs(got_v - want_v / d) <= 4 * (atol + rtol * want_v):
        message += (f" = {want_v:.4g} / D with D = {d}: you divided by the root of the sum of the squares (the L2 "
                    "norm); RMSNorm divides by the root of their mean, sqrt(mean(x**2) + eps)")
    raise CheckFailed(message, hint="divide by sqrt(mean(x**2) + eps): the mean over the last dim (sum / D), "
                      "inside a square root")


@rms_norm.check(
    "scaling a row by a > 0 changes nothing; adding a constant to a row does (RMSNorm does not centre)",
    points=1,
    examples=6,
    hint="y = x / sqrt(mean(x**2) + eps) per row: a*x gives the same y, but x + c does not, because RMSNorm "
    "subtracts no mean (that is the difference with layer norm). This check passes eps=1e-12: use the eps argument",
    case=rms_cases(eps=(TINY_EPS,)),
    seed=gs.seeds(),
)
def rms_norm_invariance(student, case, seed):
    got = _output(student, case)
    scale, shift = _row_map(case.x, seed)
    scaled = _output(student, RmsCase(case.x * scale, case.weight, case.eps), "rms_norm(a*x)")
    expect_close(scaled, got.detach(), scale=10.0, what="rms_norm(a*x) compared with rms_norm(x) (a > 0, one per row)",
                 hint="each row's mean square must come from that row alone: mean over dim=-1, keepdim=True")
    shift = torch.where(shift.abs() < 1, shift.sign() + (shift == 0), shift)  # |c| >= 1
    moved = _output(student, RmsCase(case.x + shift, case.weight, case.eps), "rms_norm(x + c)")
    change = (moved.detach().to(torch.float64) - got.detach().to(torch.float64)).abs().amax(-1)
    expect_true(bool((change > 1e-3).all()),
                "adding a constant c (|c| >= 1) to a row left your output unchanged: your RMSNorm removes the "
                "row's mean, as layer norm does; RMSNorm divides x itself by sqrt(mean(x**2) + eps)",
                hint=RMS_HINT)


@rms_norm.check(
    "puts eps inside the square root and uses eps = 1e-6 by default (rows of tiny values)",
    points=1,
    examples=6,
    hint="y = x / sqrt(mean(x**2) + eps): eps matters when the values are tiny (here mean(x**2) ~ 1e-6); "
    "RMSNorm's default is eps=1e-6 (layer norm's is 1e-5), and the eps passed in must be used",
    case=rms_cases(scales=(0.001, 0.003), eps=(None, 1e-5, 1e-4)),
    edges={"the default eps": lambda case: case.eps is None},
)
def rms_norm_eps(student, case):
    got = _output(student, case)
    eps_text = "the default eps" if case.eps is None else f"eps={case.eps:g}"
    expect_close_or_named(got, _reference_rms_norm(case), lambda: _rms_norm_mistakes(case), hint=RMS_HINT,
                      what=f"rms_norm(x) with {eps_text} for rows of mean square "
                      f"~{float(case.x.to(torch.float64).pow(2).mean()):.1g}", match_scale=MATCH)


@rms_norm.check(
    "has the right gradients with respect to x and weight",
    points=1,
    examples=4,
    hint="build the result from differentiable torch operations (no .detach(), .item() or NumPy); the mean "
    "square is part of the graph too",
    case=rms_cases(weights=(True, True, False)),
)
def rms_norm_gradients(student, case):
    args, kwargs = case.call()
    expect_gradients(student, *args, **kwargs)


@rms_norm.check("keeps the dtype of x (float32 and float64)", points=0.5, examples=1,
                hint="no .float() or .double() on the result, and no constants created as float32 tensors")
def rms_norm_dtype(student):
    for dtype in (torch.float32, torch.float64):
        x = gs.random_tensor((3, 5), 21, dtype, 2.0)
        for weight in (None, gs.random_tensor((5,), 22, dtype) + 1):
            got = expect_tensor(student(x) if weight is None else student(x, weight))
            expect_shape(got, x.shape)
            expect_dtype(got, dtype, f"the output for {_dtype_name(dtype)} inputs")

"""Checks for positional.sinusoidal_positional_encoding and positional.rotary_embedding.

The reference is computed in float64. A float32 table is accepted within
``atol = 1e-5 + 1e-7 * max_position``: the angle ``p * w`` loses about ``p * 2**-24`` in
float32, so two correct float32 implementations already differ by ~1e-4 at p = 2048,
while float16 or bfloat16 angles are off by whole tenths there. The same allowance,
times the size of ``x``, applies to a float32 rotary embedding; a float64 one must be
accurate to float64 precision (its angles computed in float64).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    call_on_requested_device,
    exercise,
    expect_close,
    expect_diagnosed,
    expect_dtype,
    expect_gradients,
    expect_raises,
    expect_shape,
    expect_tensor,
    in_float64,
    named_mistake,
    strategies as gs,
)
from solutions import positional as ref

POSITION = 6

sinusoidal = exercise("positional.sinusoidal_positional_encoding", reference=ref.sinusoidal_positional_encoding)
rotary = exercise("positional.rotary_embedding", reference=ref.rotary_embedding)

FORMULA = (
    "PE[p, j] = sin(p * w) for even j and cos(p * w) for odd j, with w = base ** (-(j - j % 2) / d_model), "
    "p = 0 .. seq_len - 1"
)
LAYOUT_HINT = (
    "even columns are sin, odd columns cos of the SAME frequency (columns 2i and 2i + 1 share "
    "w_i = base ** (-2i / d_model)); do not put all sines first"
)
PRECISION_HINT = (
    "compute positions and angles in float64 (or at least float32) and cast to `dtype` at the end; "
    "float16/bfloat16 angles lose whole tenths at positions in the hundreds"
)


def float32_atol(max_position: int) -> float:
    """What float32 angles can legitimately lose at positions up to ``max_position``."""
    return 1e-5 + 1e-7 * max_position


def reference(seq_len: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    return ref.sinusoidal_positional_encoding(seq_len, d_model, base, dtype=torch.float64)


def _table(student, seq_len: int, d_model: int, what: str = "the table", **kwargs) -> torch.Tensor:
    got = student(seq_len, d_model, **kwargs)
    expect_shape(got, (seq_len, d_model), what)
    return got


def _fmt_row(row: torch.Tensor, limit: int = 6) -> str:
    values = [f"{v:.3g}" for v in row[:limit].tolist()]
    return "[" + ", ".join(values) + (", ..." if row.numel() > limit else "") + "]"


@sinusoidal.check(
    "matches the formula (float64 reference) for short tables, odd d_model included",
    points=2,
    examples=20,
    hint=FORMULA + "; an odd d_model has one more sine column than cosine columns",
    seq_len=st.integers(2, 64),
    d_model=st.integers(2, 33),
    edges={"an odd d_model": lambda d_model: d_model % 2 == 1,
           "d_model = 2 (one frequency)": lambda d_model: d_model == 2},
)
def matches_formula(student, seq_len, d_model):
    got = _table(student, seq_len, d_model)
    expect_dtype(got, torch.float32, "the table (default dtype)")
    expect_close(got, reference(seq_len, d_model), what="the table", atol=float32_atol(seq_len),
                 hint=FORMULA + "; " + LAYOUT_HINT)


@sinusoidal.check(
    "stays accurate at long sequences (positions up to 2047)",
    points=1, hidden=True,
    examples=3,
    hint=PRECISION_HINT,
    d_model=st.integers(4, 48),
)
def long_sequences(student, d_model):
    seq_len = 2048
    got = _table(student, seq_len, d_model)
    expect_close(
        got, reference(seq_len, d_model), what="the 2048-position table", atol=float32_atol(seq_len),
        hint=f"{PRECISION_HINT} (allowed error here: {float32_atol(seq_len):.2g})",
    )


@sinusoidal.check(
    "is interleaved: PE[0] = [0, 1, 0, 1, ...], even columns sin, odd columns cos of the same frequency",
    points=1,
    examples=10,
    hint=LAYOUT_HINT,
    seq_len=st.integers(4, 16),
    d_model=st.integers(4, 15),
)
def interleaved_layout(student, seq_len, d_model):
    got = _table(student, seq_len, d_model).detach().to(torch.float64)
    expected = reference(seq_len, d_model)
    loose = 2e-2  # layout only: precision is charged by the other checks

    def near(a: torch.Tensor, b: torch.Tensor) -> bool:
        return bool(((a - b).abs() <= loose).all())

    if near(got, expected):
        return
    sines = expected[:, 0::2]
    cosines = expected[:, 1::2]
    if near(got, torch.cat([sines, cosines], dim=1)):
        raise CheckFailed(
            f"the table holds all {sines.shape[1]} sine columns first and then the {cosines.shape[1]} cosine "
            "columns ([sin | cos] halves, as tensor2tensor and many libraries do); this course uses the "
            "interleaved layout of the paper",
            hint="write pe[:, 0::2] = sin(p * w) and pe[:, 1::2] = cos(p * w), not torch.cat([sin, cos], -1)",
        )
    swapped = torch.where(torch.arange(d_model) % 2 == 0, torch.cos(_angles(seq_len, d_model)),
                          torch.sin(_angles(seq_len, d_model)))
    if near(got, swapped):
        raise CheckFailed(
            "sin and cos are swapped: even columns hold cos(p * w) and odd columns sin(p * w)",
            hint="PE[p, 2i] = sin(p * w_i), PE[p, 2i + 1] = cos(p * w_i); so PE[0] = [0, 1, 0, 1, ...]",
        )
    zero_one = torch.tensor([float(j % 2) for j in range(d_model)], dtype=torch.float64)
    if not near(got[0], zero_one):
        shifted = reference(seq_len + 1, d_model)[1:]
        extra = (" Your rows look like positions 1 .. seq_len: positions start at 0."
                 if near(got, shifted) else "")
        raise CheckFailed(
            f"PE[0] (position 0) should be [0, 1, 0, 1, ...] (sin 0 = 0, cos 0 = 1), got {_fmt_row(got[0])}.{extra}",
            hint="positions are torch.arange(seq_len), i.e. 0 .. seq_len - 1; " + LAYOUT_HINT,
        )
    for j in range(d_model):
        if near(got[:, j], expected[:, j]):
            continue
        pair = j // 2
        if j % 2 == 1:
            own = torch.cos(_angles(seq_len, d_model, exponent_of_j=True)[:, j])
            extra = (
                f" Your column {j} uses the exponent {j}/d_model; the pair shares (j - j % 2)/d_model = {j - 1}/d_model."
                if near(got[:, j], own) else ""
            )
            raise CheckFailed(
                f"column {j} should be cos(p * w_{pair}) with the same frequency as column {j - 1} "
                f"(w_{pair} = base ** (-{2 * pair}/{d_model})), got {_fmt_row(got[:, j])} "
                f"instead of {_fmt_row(expected[:, j])}.{extra}",
                hint=LAYOUT_HINT,
            )
        raise CheckFailed(
            f"column {j} should be sin(p * w_{pair}) with w_{pair} = base ** (-{2 * pair}/{d_model}), "
            f"got {_fmt_row(got[:, j])} instead of {_fmt_row(expected[:, j])}",
            hint=FORMULA,
        )


def _angles(seq_len: int, d_model: int, exponent_of_j: bool = False) -> torch.Tensor:
    """``p * w_j`` in float64 (with the exponent ``j`` instead of ``j - j % 2`` on request)."""
    cols = torch.arange(d_model, dtype=torch.float64)
    exponents = cols if exponent_of_j else cols - cols % 2
    return torch.arange(seq_len, dtype=torch.float64)[:, None] * 10000.0 ** (-exponents / d_model)


@sinusoidal.check(
    "shifting by k positions rotates every (sin, cos) pair by the same angle k * w",
    points=1,
    examples=15,
    hint="with the pair (PE[p, 2i], PE[p, 2i + 1]) = (sin p*w_i, cos p*w_i): "
    "sin((p+k)w) = sin(pw)cos(kw) + cos(pw)sin(kw) and cos((p+k)w) = cos(pw)cos(kw) - sin(pw)sin(kw). "
    "This holds only if both columns of a pair use the same frequency, sin comes first and p starts at 0",
    seq_len=st.integers(6, 40),
    d_model=st.integers(2, 24),
)
def rotation_property(student, seq_len, d_model):
    got = _table(student, seq_len, d_model).detach().to(torch.float64)
    pairs = d_model // 2
    if pairs == 0:
        return
    atol = 4 * float32_atol(seq_len)
    sin, cos = got[:, 0 : 2 * pairs : 2], got[:, 1 : 2 * pairs : 2]
    radius = sin**2 + cos**2
    off_circle = (radius - 1).abs()
    if bool((off_circle > atol * 2).any()):
        p, i = (off_circle == off_circle.max()).nonzero()[0].tolist()
        raise CheckFailed(
            f"the pair (PE[{p}, {2 * i}], PE[{p}, {2 * i + 1}]) = ({sin[p, i]:.4g}, {cos[p, i]:.4g}) is not on the "
            f"unit circle (sin^2 + cos^2 = {radius[p, i]:.4g}); every pair must be (sin a, cos a) of ONE angle a",
            hint=LAYOUT_HINT,
        )
    if _rotations_hold(sin, cos, atol):
        return
    for k in range(1, seq_len):
        n = seq_len - k
        predicted_sin = sin[:n] * cos[k] + cos[:n] * sin[k]
        predicted_cos = cos[:n] * cos[k] - sin[:n] * sin[k]
        for name, column_offset, predicted, actual in (
            ("sin", 0, predicted_sin, sin[k:]),
            ("cos", 1, predicted_cos, cos[k:]),
        ):
            error = (predicted - actual).abs()
            if bool((error > atol).any()):
                p, i = (error == error.max()).nonzero()[0].tolist()
                raise CheckFailed(
                    f"shifting by k={k} is not a rotation of pair {i} (columns {2 * i}, {2 * i + 1}): from rows {p} "
                    f"and {k} the {name} column of row {p + k} should be {predicted[p, i]:.6g}, got "
                    f"{actual[p, i]:.6g} (PE[{p + k}, {2 * i + column_offset}])",
                    hint=LAYOUT_HINT + "; positions start at 0",
                )


def _rotations_hold(sin: torch.Tensor, cos: torch.Tensor, atol: float) -> bool:
    """The rotation test of :func:`rotation_property` for every shift k and row p at once.

    Element ``[k - 1, p]`` of the predictions is what rows p and k predict for row p + k
    (pairs with p + k beyond the table are left out). A right table passes here in a few
    tensor operations; only a wrong one goes through the loop that explains the first
    failure, with the same arithmetic and so the same verdict.
    """
    seq_len = sin.shape[0]
    target = torch.arange(1, seq_len)[:, None] + torch.arange(seq_len)[None, :]  # [k - 1, p] -> p + k
    inside = (target < seq_len)[..., None]
    target = target.clamp(max=seq_len - 1)
    sin_k, cos_k = sin[1:, None], cos[1:, None]
    predicted_sin = sin * cos_k + cos * sin_k
    predicted_cos = cos * cos_k - sin * sin_k
    return not any(
        bool((((predicted - actual[target]).abs() > atol) & inside).any())
        for predicted, actual in ((predicted_sin, sin), (predicted_cos, cos))
    )


@sinusoidal.check(
    "honours `base` and `dtype=torch.float64` (accurate to float64 precision)",
    points=1.5,
    examples=6,
    seq_len=st.integers(2, 48),
    d_model=st.integers(2, 17),
    base=st.sampled_from([100.0, 1000.0, 500.0, 1e5]),
)
def base_and_dtype(student, seq_len, d_model, base):
    got = _table(student, seq_len, d_model, f"the table with base={base:g}", base=base)
    expect_close(
        got, reference(seq_len, d_model, base), what=f"the table with base={base:g}", atol=float32_atol(seq_len),
        hint="use the `base` argument in w = base ** (-(j - j % 2) / d_model), not the constant 10000",
    )
    got = _table(student, seq_len, d_model, "the float64 table", dtype=torch.float64)
    expect_tensor(got, "the float64 table")
    if got.dtype != torch.float64:
        raise CheckFailed(
            f"with dtype=torch.float64 the table has dtype {str(got.dtype).replace('torch.', '')}",
            hint="finish with .to(dtype) (or build in `dtype`); do not hard-code float32",
        )
    expected = reference(seq_len, d_model)
    expect_shape(got, expected.shape, "the float64 table")
    error = (got.detach() - expected).abs()
    atol = 1e-10 + 1e-13 * seq_len
    if not bool((error <= atol).all()):  # NaN fails too
        worst = int(torch.nan_to_num(error, nan=float("inf")).flatten().argmax())
        p, j = divmod(worst, d_model)
        raise CheckFailed(
            f"the float64 table is off by up to {float(error.flatten()[worst]):.3g} (at [{p}, {j}]: expected "
            f"{float(expected[p, j]):.17g}, got {float(got[p, j]):.17g}); a float64 result should be within "
            f"{atol:.1g}, and an error of this size means part of the computation ran in float32",
            hint="when dtype is float64, compute positions, frequencies and angles in float64 "
            "(torch.arange(..., dtype=torch.float64)) and cast only the final table",
        )


@sinusoidal.check("is created on the requested device", points=0.5, examples=1)
def on_device(student):
    # The engine fails any result that is not on the requested device (`meta` on a CPU
    # run, where there are no values to compare).
    got = call_on_requested_device(student, 5, 6)
    if got is None:
        return
    expect_shape(got, (5, 6), "the table")
    if got.device.type != "meta":
        expect_close(got, reference(5, 6), what="the table", atol=float32_atol(5),
                     hint="create every tensor with device=device (torch.arange(..., device=device))")



# ============================================================================ rotary_embedding

ROTARY_FORMULA = (
    "pair i is the columns (2i, 2i + 1), turned by the angle a = p * theta_i with theta_i = base ** (-2i / d) "
    "(i counted from 0): y[2i] = x[2i] cos a - x[2i+1] sin a, y[2i+1] = x[2i] sin a + x[2i+1] cos a"
)
ROTARY_PRECISION_HINT = (
    "compute theta and the angles positions * theta in float64 (positions.to(torch.float64), "
    "torch.arange(..., dtype=torch.float64)), then cast cos and sin to x.dtype"
)
POSITIONS_HINT = (
    "rotate row l by positions[l] (any integers: an offset, a shuffle, repeats, negative values); "
    "never replace them by torch.arange(L)"
)
POSITION_KINDS = ("0 .. L-1", "an offset run s .. s+L-1", "arbitrary integers (unsorted, repeated, negative)")


@dataclass
class RotaryCase:
    """``x`` is ``[..., L, d]``; ``positions`` holds the integer position of each of the L rows."""

    x: torch.Tensor
    positions: torch.Tensor


def _positions(kind: str, length: int, seed: int, low: int = -20, high: int = 100) -> torch.Tensor:
    if kind == "0 .. L-1":
        return torch.arange(length)
    if kind == "an offset run s .. s+L-1":
        return torch.arange(length) + int(gs.random_ints((1,), seed, 1, high))
    return gs.random_ints((length,), seed, low, high)


@st.composite
def rotary_cases(draw, dtypes=gs.FLOAT_DTYPES, kinds=POSITION_KINDS, pairs=(2, 5), lead_dims=(0, 2)):
    """``d >= 4`` (so that halves, pairs counted from 1 and ``-i/d`` all differ) and ``L != d``."""
    lead = tuple(draw(st.lists(gs.sizes(2, 3), min_size=lead_dims[0], max_size=lead_dims[1])))
    length = draw(st.sampled_from([2, 3, 5, 7]))
    d = 2 * draw(st.integers(*pairs))
    dtype = draw(st.sampled_from(dtypes))
    kind = draw(st.sampled_from(kinds))
    seed = draw(gs.seeds())
    positions = _positions(kind, length, seed + 1)
    if kind != "0 .. L-1" and draw(st.booleans()):
        positions = positions.to(torch.int32)
    return RotaryCase(gs.random_tensor(lead + (length, d), seed, dtype), positions)


def _is_arange(positions: torch.Tensor) -> bool:
    return torch.equal(positions.to(torch.int64), torch.arange(positions.numel()))


def _rotary_reference(x: torch.Tensor, positions: torch.Tensor, **kwargs) -> torch.Tensor:
    (x64, positions), kwargs64 = in_float64(x, positions, **kwargs)
    return ref.rotary_embedding(x64, positions, **kwargs64)


def _rotary_atol(x: torch.Tensor, positions: torch.Tensor) -> float:
    """What float32 angles may cost at these positions: the sinusoidal table's allowance, times the
    largest length of a pair (at most sqrt(2) * max |x|)."""
    biggest = int(positions.abs().max()) if positions.numel() else 0
    return float32_atol(biggest) * 2 * max(1.0, float(x.detach().abs().max()))


def _rotary_close(got: torch.Tensor, expected: torch.Tensor, x: torch.Tensor, positions: torch.Tensor,
                  what: str, hint: str = ROTARY_FORMULA, strict: bool = False) -> None:
    """Within what float32 angles may cost; with ``strict``, a float64 result to float64 precision.

    Only the check on far positions is strict: a float64 result computed with float32 angles
    is charged there, once, and not by every check that compares values.
    """
    if strict and got.dtype == torch.float64:
        expect_close(got, expected, what=what, hint=hint)
    else:
        expect_close(got, expected, what=what, atol=_rotary_atol(x, positions), hint=hint)


def _angles(positions: torch.Tensor, d: int, base: float = 10000.0, first_pair: int = 0,
            per_pair: float = 2.0) -> torch.Tensor:
    """``[L, d/2]``: ``positions * base ** (-per_pair * (i + first_pair) / d)`` for pair ``i``, in float64."""
    exponents = -per_pair * (torch.arange(d // 2, dtype=torch.float64) + first_pair) / d
    return positions.to(torch.float64).reshape(-1, 1) * torch.pow(torch.tensor(float(base), dtype=torch.float64),
                                                                  exponents)


def _turn(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Each pair (x[2i], x[2i+1]) read as the complex number x[2i] + 1j*x[2i+1], times exp(1j*angle)."""
    as_complex = torch.view_as_complex(x.detach().to(torch.float64).reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(as_complex * torch.polar(torch.ones_like(angles), angles)).reshape(x.shape)


def _turn_halves(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """What Hugging Face's rotate_half computes: column i is paired with column i + d/2."""
    half = x.shape[-1] // 2
    order = torch.arange(2 * half).reshape(2, half).T.reshape(-1)  # 0, h, 1, h + 1, ...
    return _turn(x[..., order], angles)[..., torch.argsort(order)]


def _rotary_mistakes(x: torch.Tensor, positions: torch.Tensor, base: float) -> list[tuple[str, torch.Tensor]]:
    d = x.shape[-1]
    angles = _angles(positions, d, base)
    return [
        ("It matches the two-halves pairing of Hugging Face's LLaMA (rotate_half: column i with column i + d/2). "
         "Here the pairs are neighbours: columns (0, 1), (2, 3), ... (x[..., 0::2] with x[..., 1::2])",
         _turn_halves(x, angles)),
        ("Each pair turns the wrong way: the sign of sin is swapped. y[2i] = x[2i] cos - x[2i+1] sin and "
         "y[2i+1] = x[2i] sin + x[2i+1] cos",
         _turn(x, -angles)),
        ("It matches theta_i = base ** (-2(i + 1) / d), pairs counted from 1: count them from 0, so that pair 0 "
         "turns by exactly p radians (theta_0 = 1)",
         _turn(x, _angles(positions, d, base, first_pair=1))),
        ("It matches theta_i = base ** (-i / d): the exponent is -2i / d (i is the pair, 2i its first column; "
         "torch.arange(0, d, 2) / d gives 2i / d)",
         _turn(x, _angles(positions, d, base, per_pair=1.0))),
        ("It matches rows rotated by 0, 1, ..., L - 1 instead of the given positions: " + POSITIONS_HINT,
         _turn(x, _angles(torch.arange(positions.numel()), d, base))),
        ("It matches the default base 10000: use the `base` argument in theta_i = base ** (-2i / d)",
         _turn(x, _angles(positions, d, 10000.0))),
        ("It matches x * cos a + x * sin a column by column: each column needs its partner, "
         "y[2i] = x[2i] cos a - x[2i+1] sin a and y[2i+1] = x[2i] sin a + x[2i+1] cos a",
         x.to(torch.float64) * (angles.cos() + angles.sin()).repeat_interleave(2, dim=-1)),
        ("It matches x plus a sinusoidal table: rotary embedding does not add anything, it turns each pair "
         "(x[2i], x[2i+1]) by the angle p * theta_i",
         x.to(torch.float64) + torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(angles.shape[0], -1)),
    ]


def _diagnose_rotary(got, expected: torch.Tensor, x: torch.Tensor, positions: torch.Tensor,
                     base: float = 10000.0, strict: bool = False) -> None:
    """Name the known mistake a failing result matches (a right result is never blamed)."""
    if not isinstance(got, torch.Tensor) or got.shape != x.shape:
        return
    try:
        _rotary_close(got, expected, x, positions, "the rotated x", strict=strict)
    except CheckFailed as failure:
        headline = failure
    else:
        return
    explanation = named_mistake(got, expected, _rotary_mistakes(x, positions, base), atol=_rotary_atol(x, positions))
    if explanation is not None:
        raise CheckFailed(f"{headline.message}. {explanation}", hint=headline.hint, details=headline.details)
    actual = got.detach().to(torch.float64)
    as_float32 = bool(torch.allclose(actual, expected, rtol=1e-4, atol=_rotary_atol(x, positions)))
    if got.dtype == torch.float64 and as_float32:
        raise CheckFailed(
            f"{headline.message}. A float64 result is only as accurate as float32 here: part of the computation "
            "(theta, the angles or cos/sin) ran in float32, e.g. torch.arange(...).float() or positions.float()",
            hint=ROTARY_PRECISION_HINT, details=headline.details,
        )


def _rotated(student, x: torch.Tensor, positions: torch.Tensor, what: str = "the output", **kwargs) -> torch.Tensor:
    got = expect_tensor(student(x, positions, **kwargs), what)
    expect_shape(got, x.shape, f"{what} ([..., L, d], the shape of x)")
    return got


def _pair_lengths(t: torch.Tensor) -> torch.Tensor:
    t = t.detach().to(torch.float64)
    return t.reshape(*t.shape[:-1], -1, 2).norm(dim=-1)


@rotary.check(
    "matches the formula (float64 reference): interleaved pairs, any leading dims, float32 and float64",
    points=2,
    examples=12,
    hint=ROTARY_FORMULA,
    case=rotary_cases(),
    edges={
        "no leading dims (x is [L, d])": lambda case: case.x.dim() == 2,
        "two leading dims (x is [B, H, L, d])": lambda case: case.x.dim() == 4,
        "positions other than 0 .. L-1": lambda case: not _is_arange(case.positions),
    },
)
def rotary_values(student, case):
    got = _rotated(student, case.x, case.positions)
    expect_dtype(got, case.x.dtype, "the output")
    expected = _rotary_reference(case.x, case.positions)
    expect_diagnosed(
        lambda: _rotary_close(got, expected, case.x, case.positions, "the rotated x"),
        lambda: _diagnose_rotary(got, expected, case.x, case.positions),
    )


@rotary.check(
    "position 0 is the identity: with every position 0 the output equals x",
    points=0.5,
    examples=4,
    hint="at position 0 every angle is 0 (cos 0 = 1, sin 0 = 0), so nothing may change. " + POSITIONS_HINT
    + "; rotate the pairs, do not add a table to x",
    case=rotary_cases(kinds=("0 .. L-1",)),
)
def rotary_position_zero(student, case):
    zeros = torch.zeros_like(case.positions)
    got = _rotated(student, case.x, zeros, "the output for positions all 0")
    try:
        expect_close(got, case.x.to(torch.float64), what="the output for positions all 0 (it should equal x)")
    except CheckFailed as failure:
        moved = _turn(case.x, _angles(torch.arange(zeros.numel()), case.x.shape[-1]))
        if bool(torch.allclose(got.detach().to(torch.float64), moved, rtol=1e-3, atol=1e-4)):
            raise CheckFailed(f"{failure.message}. Your rows are rotated by 0, 1, ..., L - 1 although every "
                              "position is 0", hint=POSITIONS_HINT, details=failure.details) from None
        raise


@rotary.check(
    "keeps the length of every pair (x[2i], x[2i+1]): a rotation never stretches",
    points=1,
    examples=8,
    hint="turn each pair (x[2i], x[2i+1]) by one angle with cos and sin of that same angle; "
    "the pairs are neighbouring columns, not the halves (i, i + d/2)",
    case=rotary_cases(),
)
def rotary_pair_lengths(student, case):
    got = _rotated(student, case.x, case.positions)
    before, after = _pair_lengths(case.x), _pair_lengths(got)
    try:
        expect_close(after, before, what="the lengths sqrt(y[2i]^2 + y[2i+1]^2) of the pairs (compared with x's)",
                     dtype=got.dtype, scale=2.0)
    except CheckFailed as failure:
        half = case.x.shape[-1] // 2

        def halves(t: torch.Tensor) -> torch.Tensor:
            t = t.detach().to(torch.float64)
            return (t[..., :half] ** 2 + t[..., half:] ** 2).sqrt()

        if bool(torch.allclose(halves(got), halves(case.x), rtol=1e-3, atol=1e-4)):
            raise CheckFailed(
                f"{failure.message}. Your output keeps the length of (x[i], x[i + d/2]) instead: that is the "
                "rotate_half pairing of Hugging Face's LLaMA; here pair i is the columns (2i, 2i + 1)",
                hint=ROTARY_FORMULA, details=failure.details,
            ) from None
        raise


@dataclass
class ShiftCase:
    """``x`` is ``[2, ..., L, d]``: ``x[0]`` holds queries and ``x[1]`` keys; all positions move by ``shift``."""

    x: torch.Tensor
    positions: torch.Tensor
    shift: int


@st.composite
def shift_cases(draw):
    case = draw(rotary_cases(lead_dims=(0, 1)))
    shift = draw(st.integers(-300, 300).filter(lambda s: s != 0))
    seed = draw(gs.seeds())
    x = torch.stack([case.x, gs.random_tensor(case.x.shape, seed, case.x.dtype)])
    return ShiftCase(x, case.positions.to(torch.int64), shift)


@rotary.check(
    "q . k after rotation depends only on p - s: shifting every position by the same integer changes no dot product",
    points=1,
    examples=8,
    hint="rotate each pair by positions * theta_i, with cos and sin of the same angle on both columns of the pair "
    "(a rotation): then R(p) q . R(s) k = q . R(s - p) k. Adding a position table, or scaling by cos + sin, "
    "breaks this",
    case=shift_cases(),
    edges={"a negative position after the shift": lambda case: int((case.positions + case.shift).min()) < 0},
)
def rotary_relative(student, case):
    before = _rotated(student, case.x, case.positions).detach().to(torch.float64)
    moved = case.positions + case.shift
    after = _rotated(student, case.x, moved, f"the output for positions + {case.shift}").detach().to(torch.float64)
    scores_before = before[0] @ before[1].transpose(-2, -1)
    scores_after = after[0] @ after[1].transpose(-2, -1)
    d = case.x.shape[-1]
    atol = 4 * d * _rotary_atol(case.x, moved) * max(1.0, float(case.x.abs().max()))
    expect_close(
        scores_after, scores_before, atol=atol, rtol=1e-4,
        what=f"the dot products q_l . k_m (l, m over the L rows) after shifting every position by {case.shift}, "
        "compared with before the shift",
        hint="rotate each pair by positions * theta_i, with cos and sin of the same angle on both columns of the "
        "pair; then only the difference of two positions reaches q . k",
    )


@rotary.check(
    "uses the given positions: offset, shuffled, repeated, negative, int32",
    points=1,
    examples=6,
    hint=POSITIONS_HINT,
    case=rotary_cases(kinds=POSITION_KINDS[1:]),
    edges={"int32 positions": lambda case: case.positions.dtype == torch.int32,
           "a negative position": lambda case: int(case.positions.min()) < 0},
)
def rotary_positions(student, case):
    got = _rotated(student, case.x, case.positions)
    expected = _rotary_reference(case.x, case.positions)
    expect_diagnosed(
        lambda: _rotary_close(got, expected, case.x, case.positions,
                              f"the output for positions {case.positions.tolist()}", hint=POSITIONS_HINT),
        lambda: _diagnose_rotary(got, expected, case.x, case.positions),
    )


@st.composite
def far_rotary_cases(draw):
    case = draw(rotary_cases(lead_dims=(0, 1), kinds=("0 .. L-1",)))
    seed = draw(gs.seeds())
    positions = gs.random_ints((case.positions.numel(),), seed, 1000, 10_001)
    return RotaryCase(case.x, positions)


@rotary.check(
    "stays accurate at positions in the thousands (a float64 x to float64 precision: float64 angles)",
    points=1,
    examples=4,
    hint=ROTARY_PRECISION_HINT,
    case=far_rotary_cases(),
    edges={"float64 input": lambda case: case.x.dtype == torch.float64,
           "float32 input": lambda case: case.x.dtype == torch.float32},
)
def rotary_far_positions(student, case):
    got = _rotated(student, case.x, case.positions)
    expected = _rotary_reference(case.x, case.positions)
    expect_diagnosed(
        lambda: _rotary_close(got, expected, case.x, case.positions, "the output at positions up to 10000",
                              hint=ROTARY_PRECISION_HINT, strict=True),
        lambda: _diagnose_rotary(got, expected, case.x, case.positions, strict=True),
    )


@rotary.check(
    "honours `base`",
    points=0.5,
    examples=4,
    hint="use the `base` argument in theta_i = base ** (-2i / d), not the constant 10000",
    case=rotary_cases(lead_dims=(0, 1)),
    base=st.sampled_from([100.0, 500.0, 1e5]),
)
def rotary_base(student, case, base):
    got = _rotated(student, case.x, case.positions, f"the output with base={base:g}", base=base)
    expected = _rotary_reference(case.x, case.positions, base=base)
    expect_diagnosed(
        lambda: _rotary_close(got, expected, case.x, case.positions, f"the output with base={base:g}",
                              hint="theta_i = base ** (-2i / d) with the `base` argument"),
        lambda: _diagnose_rotary(got, expected, case.x, case.positions, base),
    )


@rotary.check(
    "raises ValueError for an odd d",
    points=0.5,
    examples=1,
    hint="check x.shape[-1] % 2 first and raise ValueError: an odd last column has no partner to turn with",
)
def rotary_odd_d(student):
    for d in (5, 3):
        x = gs.random_tensor((2, 3, d), d)
        with expect_raises(ValueError, f"for d = {d} (x of shape {list(x.shape)})"):
            student(x, torch.arange(3))


@rotary.check(
    "has the right gradient with respect to x",
    points=0.5,
    examples=3,
    hint="build the result from torch operations on x (no .detach(), no NumPy, no in-place writes into x or "
    "into a tensor made with torch.zeros)",
    case=rotary_cases(dtypes=(torch.float64,), kinds=("0 .. L-1",)),
)
def rotary_gradients(student, case):
    # positions 0 .. L-1 and a tolerance that forgives float32 angles (charged by the far-positions check)
    expect_gradients(student, case.x, case.positions, scale=1000.0)


@rotary.check(
    "keeps the dtype of x (float32 and float64), d = 2 (one pair) included",
    points=0.5,
    examples=1,
    hint="cast cos and sin to x.dtype (torch.cos(angles).to(x.dtype)); do not hard-code float32",
)
def rotary_dtype(student):
    for dtype, shape, seed in ((torch.float32, (3, 2), 1), (torch.float64, (2, 3, 6), 2)):
        x = gs.random_tensor(shape, seed, dtype)
        positions = torch.tensor([4, 0, 9])
        name = str(dtype).replace("torch.", "")
        got = _rotated(student, x, positions, f"the output for {name} x")
        expect_dtype(got, dtype, f"the output (for {name} x)")
        _rotary_close(got, _rotary_reference(x, positions), x, positions,
                      f"the output for {name} x of shape {list(shape)}")

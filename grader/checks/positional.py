"""Checks for positional.sinusoidal_positional_encoding.

The reference is computed in float64. A float32 table is accepted within
``atol = 1e-5 + 1e-7 * max_position``: the angle ``p * w`` loses about ``p * 2**-24`` in
float32, so two correct float32 implementations already differ by ~1e-4 at p = 2048,
while float16 or bfloat16 angles are off by whole tenths there.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from grader.compare import CheckFailed, expect_close, expect_dtype, expect_shape, expect_tensor
from grader.course import call_on_requested_device, exercise
from solutions import positional as ref

POSITION = 6

sinusoidal = exercise("positional.sinusoidal_positional_encoding", reference=ref.sinusoidal_positional_encoding)

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


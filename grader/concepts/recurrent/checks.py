"""Checks for recurrent.rnn_cell, recurrent.lstm_cell and recurrent.gru_cell.

Every case has a batch B >= 2 and an input size I different from the hidden size H, so a
weight that is not transposed (or transposed twice) cannot pass by accident. Weights are
scaled like torch's initialisation (about 1/sqrt(fan_in)) and biases are non-zero, so the
gates are neither saturated nor trivially 1/2. The "forced gate" checks put +-50 into one
chunk of ``bias_ih``: that pins a gate to 0 or 1 and turns the cell into a simple identity
(c' == c, h' == 0, h' == h, ...) that tells the conventions (gate order, which state the
GRU update gate weights, where the reset gate applies) apart, with a message for each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    StudentRaised,
    exercise,
    expect_close,
    expect_diagnosed,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tensor,
    expect_tuple,
    in_float64,
    matches,
    strategies as gs,
)
from solutions import recurrent as ref

POSITION = 2

rnn_cell = exercise("recurrent.rnn_cell", reference=ref.rnn_cell)
lstm_cell = exercise("recurrent.lstm_cell", reference=ref.lstm_cell)
gru_cell = exercise("recurrent.gru_cell", reference=ref.gru_cell)

# Gradients are compared in float32: a float64 input run through float32 maths (a dtype bug,
# charged by the dtype check) would otherwise also fail here by 1e-8.
GRAD_DTYPES = st.just(torch.float32)
FORCE = 50.0  # sigmoid(+-50) is 1 or 0 to far below any tolerance
GATES = {"rnn": 1, "lstm": 4, "gru": 3}

RNN_HINT = "h' = tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh): weights are [out, in] as in nn.Linear, two biases"
LSTM_HINT = (
    "split x @ W_ih.T + b_ih + h @ W_hh.T + b_hh into 4 chunks of H along the last axis, in torch's "
    "order i, f, g, o; i, f, o = sigmoid, g = tanh; c' = f * c + i * g; h' = o * tanh(c'); return (h', c')"
)
GRU_HINT = (
    "chunks in order r, z, n; r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise; "
    "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) * n + z * h"
)
HINTS = {"rnn": RNN_HINT, "lstm": LSTM_HINT, "gru": GRU_HINT}
BIAS_HINT = "a bias given as None means no bias: add each bias only `if bias is not None` (each one separately)"
BATCH_HINT = (
    "every row of the batch is an independent sequence: use matrix products over the feature axis only, "
    "never sum, normalise or squeeze over the batch axis (a [1, I] input must give a [1, H] output)"
)


# ------------------------------------------------------------------------------ inputs


@dataclass
class CellCase:
    """One call's inputs; an LSTM case also has a cell state ``c``."""

    x: torch.Tensor
    h: torch.Tensor
    weight_ih: torch.Tensor
    weight_hh: torch.Tensor
    bias_ih: torch.Tensor | None
    bias_hh: torch.Tensor | None

    @property
    def state(self):
        return self.h

    def args(self, **changes) -> tuple:
        case = dataclasses.replace(self, **changes) if changes else self
        return (case.x, case.state, case.weight_ih, case.weight_hh, case.bias_ih, case.bias_hh)

    def row(self, i: int) -> "CellCase":
        return dataclasses.replace(self, x=self.x[i : i + 1], h=self.h[i : i + 1])

    @property
    def dtype(self) -> torch.dtype:
        return self.x.dtype


@dataclass
class LSTMCase(CellCase):
    c: torch.Tensor | None = None

    @property
    def state(self):
        return (self.h, self.c)

    def row(self, i: int) -> "LSTMCase":
        return dataclasses.replace(self, x=self.x[i : i + 1], h=self.h[i : i + 1], c=self.c[i : i + 1])


def build_case(kind: str, B: int, I: int, H: int, dtype: torch.dtype, seed: int, bias: bool = True) -> CellCase:
    """Seeded inputs: x ~ N(0, 1), states ~ N(0, 0.5), W ~ N(0, 1/fan_in), biases ~ N(0, 0.5)."""
    gates = GATES[kind]
    base = seed * 8

    def tensor(shape, k, scale):
        return gs.random_tensor(shape, base + k, dtype, scale)

    fields = dict(
        x=tensor((B, I), 0, 1.0),
        h=tensor((B, H), 1, 0.5),
        weight_ih=tensor((gates * H, I), 2, I**-0.5),
        weight_hh=tensor((gates * H, H), 3, H**-0.5),
        bias_ih=tensor((gates * H,), 4, 0.5) if bias else None,
        bias_hh=tensor((gates * H,), 5, 0.5) if bias else None,
    )
    if kind == "lstm":
        return LSTMCase(**fields, c=tensor((B, H), 6, 1.0))
    return CellCase(**fields)


@st.composite
def cell_cases(draw, kind: str, dtypes=None, bias: bool = True) -> CellCase:
    """B in [2, 4]; I != H, both in [2, 6]; float32 or float64."""
    B = draw(gs.sizes(2, 4))
    I, H = draw(gs.distinct_sizes(2, 2, 6))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    return build_case(kind, B, I, H, dtype, draw(gs.seeds()), bias)


def reference(kind: str, *args):
    function = {"rnn": ref.rnn_cell, "lstm": ref.lstm_cell, "gru": ref.gru_cell}[kind]
    ref_args, _ = in_float64(*args)
    return function(*ref_args)


def forced(bias: torch.Tensor, H: int, **chunks: float) -> torch.Tensor:
    """A copy of ``bias`` with chunk k (``c0=``, ``c1=``...) of size H set to a value."""
    bias = bias.clone()
    for key, value in chunks.items():
        k = int(key[1:])
        bias[k * H : (k + 1) * H] = value
    return bias


def close(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> bool:
    """Whether ``a`` equals ``b`` within the tolerance of ``dtype`` (for diagnosing a failure)."""
    return matches(a, b, scale=1.0, dtype=dtype)


def lstm_outputs(result) -> tuple[torch.Tensor, torch.Tensor]:
    h_new, c_new = expect_tuple(result, 2, "the result (h', c')")
    return expect_tensor(h_new, "h' (the first returned item)"), expect_tensor(c_new, "c' (the second returned item)")


# ------------------------------------------------------------------------------ shared check bodies


def known_mistake(kind: str, got, case: CellCase) -> str | None:
    """If ``got`` is what a known mistake computes on ``case``, the explanation (no student calls)."""
    mistakes = [
        ({"bias_hh": None}, "it equals the result without bias_hh: add both biases, b_ih and b_hh (torch keeps two)"),
        ({"bias_ih": None}, "it equals the result without bias_ih: add both biases, b_ih and b_hh (torch keeps two)"),
    ]
    if kind == "rnn":
        mistakes.append((
            {"weight_hh": case.weight_hh.T},
            "it equals what h @ weight_hh (not transposed) gives: weights are stored [out, in], use h @ weight_hh.T",
        ))
    for changes, explanation in mistakes:
        wrong = reference(kind, *case.args(**changes))
        if kind == "lstm":
            if isinstance(got, (tuple, list)) and len(got) == 2 and all(
                close(g, w, case.dtype) for g, w in zip(got, wrong)
            ):
                return explanation
        elif close(got, wrong, case.dtype):
            return explanation
    return None


def check_matches(kind: str, student, case: CellCase) -> None:
    """The result equals the reference's; a wrong one is first checked against known mistakes."""
    got = student(*case.args())
    expected = reference(kind, *case.args())
    hint = HINTS[kind]
    expect_diagnosed(
        lambda: expect_matches(kind, got, expected, hint),
        lambda: diagnose(kind, got, expected, case, hint),
    )


def diagnose(kind: str, got, expected, case: CellCase, hint: str) -> None:
    """Fail with an explanation if ``got`` is what a known mistake gives, or an LSTM's swapped outputs."""
    mistake = known_mistake(kind, got, case)
    if mistake:
        raise CheckFailed(f"the output does not match the reference: {mistake}", hint=hint)
    if kind == "lstm":
        h_new, c_new = lstm_outputs(got)
        ref_h, ref_c = expected
        if close(h_new, ref_c, case.dtype) and close(c_new, ref_h, case.dtype):
            raise CheckFailed(
                "returned (c', h'): the values are right but swapped",
                hint="return (h', c') like nn.LSTMCell: the hidden state first, then the cell state",
            )


def expect_matches(kind: str, got, expected, hint: str) -> None:
    """The cell's result equals the reference's: h', or for an LSTM (h', c') (c' compared first)."""
    if kind == "lstm":
        h_new, c_new = lstm_outputs(got)
        ref_h, ref_c = expected
        expect_close(c_new, ref_c, what="c' (the second returned item)", hint=hint)
        expect_close(h_new, ref_h, what="h' (the first returned item)", hint=hint)
    else:
        expect_close(got, expected, what="h'", hint=hint)


def check_without_biases(kind: str, student, case: CellCase) -> None:
    """``None`` must behave exactly like a zero bias (compared with the student's own result, so
    a mistake in the formula itself is left to the other checks)."""
    zero = torch.zeros_like(case.bias_ih)
    variants = [
        ("bias_ih=None and bias_hh=None", (None, None), (zero, zero)),
        ("bias_ih given and bias_hh=None", (case.bias_ih, None), (case.bias_ih, zero)),
        ("bias_ih=None and bias_hh given", (None, case.bias_hh), (zero, case.bias_hh)),
    ]
    for label, (b_ih, b_hh), (z_ih, z_hh) in variants:
        try:
            got = student(*case.args(bias_ih=b_ih, bias_hh=b_hh))
        except StudentRaised as raised:
            raise CheckFailed(f"with {label} it raised {raised.summary()}", hint=BIAS_HINT) from None
        expected = student(*case.args(bias_ih=z_ih, bias_hh=z_hh))
        outputs = zip(lstm_outputs(got), lstm_outputs(expected), ("h'", "c'")) if kind == "lstm" else [
            (expect_tensor(got, "h'"), expect_tensor(expected, "h'"), "h'")
        ]
        for tensor, wanted, name in outputs:
            expect_close(
                tensor, wanted.detach().to(torch.float64), dtype=wanted.dtype,
                what=f"{name} with {label} (compared with your own result for a zero bias in place of None)",
                hint=BIAS_HINT,
            )


def check_batch_rows(kind: str, student, case: CellCase, row: int) -> None:
    i = row % case.x.shape[0]
    full = student(*case.args())
    alone = student(*case.row(i).args())
    if kind == "lstm":
        pairs = zip(lstm_outputs(full), lstm_outputs(alone), ("h'", "c'"))
    else:
        pairs = [(expect_tensor(full, "h'"), expect_tensor(alone, "h'"), "h'")]
    for batched, single, name in pairs:
        expect_shape(single, (1, case.h.shape[1]), f"{name} for a batch of one row")
        expect_shape(batched, tuple(case.h.shape), f"{name} for the whole batch")
        expect_close(
            batched[i : i + 1].detach(), single.detach().to(torch.float64), dtype=batched.dtype,
            what=f"row {i} of the batched {name} compared with the call on row {i} alone", hint=BATCH_HINT,
        )


def check_dtype(kind: str, student, case: CellCase) -> None:
    for dtype in (torch.float64, torch.float32):
        args = tuple(a.to(dtype) if isinstance(a, torch.Tensor) else a for a in case.args())
        if kind == "lstm":
            args = (args[0], (case.h.to(dtype), case.c.to(dtype)), *args[2:])
        got = student(*args)
        outputs = zip(lstm_outputs(got), ("h'", "c'")) if kind == "lstm" else [(got, "h'")]
        for tensor, name in outputs:
            expect_dtype(tensor, dtype, f"{name} for {str(dtype).replace('torch.', '')} inputs")


# ------------------------------------------------------------------------------ rnn_cell


@rnn_cell.check("matches the reference (random inputs, I != H, both biases)", points=2, hint=RNN_HINT,
                case=cell_cases("rnn"),
                edges={"I > H": lambda case: case.x.shape[1] > case.h.shape[1],
                       "I < H": lambda case: case.x.shape[1] < case.h.shape[1]})
def rnn_matches(student, case):
    check_matches("rnn", student, case)


@rnn_cell.check("works without biases (None means no bias)", points=1, examples=4, hint=BIAS_HINT,
                case=cell_cases("rnn"))
def rnn_without_biases(student, case):
    check_without_biases("rnn", student, case)


@rnn_cell.check(
    "applies weights as x @ W.T (nn.Linear layout [out, in])", points=1, examples=3,
    hint="weight_ih is [H, I] and weight_hh is [H, H], stored [out, in]: use x @ weight_ih.T and h @ weight_hh.T",
    seed=gs.seeds(), sizes=gs.distinct_sizes(2, 2, 6), dtype=gs.float_dtypes(),
)
def rnn_transposed(student, seed, sizes, dtype):
    I, H = sizes
    case = build_case("rnn", H, I, H, dtype, seed, bias=False)
    # h = identity (row j is e_j) and x = 0: row j of h' must be tanh of COLUMN j of weight_hh.
    zero_bias = torch.zeros(H, dtype=dtype)  # given, not None: that is another check's business
    eye_h = torch.eye(H, dtype=dtype)
    zeros_x = torch.zeros(H, I, dtype=dtype)
    try:
        got = student(zeros_x, eye_h, case.weight_ih, case.weight_hh, zero_bias, zero_bias)
    except StudentRaised as raised:
        raise CheckFailed(f"with x = 0, h = identity and I = {I} != H = {H} it raised {raised.summary()}") from None

    def rows_instead_of_columns() -> None:
        if close(got, torch.tanh(case.weight_hh.double()), dtype):
            raise CheckFailed(
                "with x = 0 and h = e_j, h' should be tanh(weight_hh[:, j]) (a column, since h @ weight_hh.T), "
                "but it is tanh(weight_hh[j, :]) (a row): the hidden-to-hidden weight is not transposed",
            )

    expect_diagnosed(
        lambda: expect_close(
            got, torch.tanh(case.weight_hh.double().T),
            what="h' for x = 0 and h = identity (row j should be tanh(weight_hh[:, j]))",
        ),
        rows_instead_of_columns,
    )
    # x = identity and h = 0: row j of h' must be tanh of column j of weight_ih.
    eye_x = torch.eye(I, dtype=dtype)
    zeros_h = torch.zeros(I, H, dtype=dtype)
    try:
        got = student(eye_x, zeros_h, case.weight_ih, case.weight_hh, zero_bias, zero_bias)
    except StudentRaised as raised:
        raise CheckFailed(
            f"with x = identity, h = 0 and I = {I} != H = {H} it raised {raised.summary()}; "
            f"weight_ih is [H, I] = [{H}, {I}], so x [B, I] @ weight_ih.T gives [B, H]"
        ) from None
    expect_close(got, torch.tanh(case.weight_ih.double().T),
                 what="h' for x = identity and h = 0 (row j should be tanh(weight_ih[:, j]))")


@rnn_cell.check("treats every batch row independently", points=0.5, examples=6, hint=BATCH_HINT,
                case=cell_cases("rnn"), row=st.integers(0, 3))
def rnn_batch_rows(student, case, row):
    check_batch_rows("rnn", student, case, row)


@rnn_cell.check("has the reference's gradients (x, h, weights, biases)", points=1, examples=4,
                hint="build the output only from torch operations on the inputs (no .detach(), no .item())",
                case=cell_cases("rnn", dtypes=GRAD_DTYPES))
def rnn_gradients(student, case):
    expect_gradients(student, *case.args())


@rnn_cell.check("keeps the dtype (float32 -> float32, float64 -> float64)", points=0.5, examples=1,
                case=cell_cases("rnn"))
def rnn_dtype(student, case):
    check_dtype("rnn", student, case)


# ------------------------------------------------------------------------------ lstm_cell


@lstm_cell.check("matches the reference (random inputs, I != H, both biases)", points=2, hint=LSTM_HINT,
                 case=cell_cases("lstm"),
                 edges={"I > H": lambda case: case.x.shape[1] > case.h.shape[1],
                        "I < H": lambda case: case.x.shape[1] < case.h.shape[1]})
def lstm_matches(student, case):
    check_matches("lstm", student, case)


@lstm_cell.check("works without biases (None means no bias)", points=0.5, examples=4, hint=BIAS_HINT,
                 case=cell_cases("lstm"))
def lstm_without_biases(student, case):
    check_without_biases("lstm", student, case)


@lstm_cell.check(
    "gates in torch's order i, f, g, o (forced open and closed)", points=1.5, examples=5,
    hint="the 4H pre-activations are chunks [0:H] = input i, [H:2H] = forget f, [2H:3H] = cell g, "
    "[3H:4H] = output o (not Keras/TF1 i, j, f, o, nor ONNX i, o, f, c, nor f, i, o, g from slides)",
    case=cell_cases("lstm"),
)
def lstm_forced_gates(student, case):
    H = case.h.shape[1]
    # Forget gate open (chunk 1 = +50), input gate closed (chunk 0 = -50): the memory passes unchanged.
    keep = forced(case.bias_ih, H, c0=-FORCE, c1=FORCE)
    h_new, c_new = lstm_outputs(student(*case.args(bias_ih=keep)))
    if not close(c_new, case.c, case.dtype):
        if close(c_new, case.h, case.dtype):
            raise CheckFailed(
                "with the forget gate forced open and the input gate closed, c' equals the previous h instead of c: "
                "c' = f * c + i * g uses the previous CELL state c",
            )
        expect_close(
            c_new, case.c,
            what="c' with the forget gate forced open (bias chunk [H:2H] = +50) and the input gate closed "
            "([0:H] = -50), which should leave the cell state unchanged (c' == c)",
        )
    # Output gate closed (chunk 3 = -50): nothing of the memory is shown, h' == 0.
    hide = forced(case.bias_ih, H, c3=-FORCE)
    h_new, c_new = lstm_outputs(student(*case.args(bias_ih=hide)))
    expect_close(
        h_new, torch.zeros_like(case.h, dtype=torch.float64),
        what="h' with the output gate forced closed (bias chunk [3H:4H] = -50), which should be 0",
    )
    # Both open, cell input saturated: c' = c + tanh(+50) = c + 1, h' = tanh(c + 1).
    write = forced(case.bias_ih, H, c0=FORCE, c1=FORCE, c2=FORCE, c3=FORCE)
    h_new, c_new = lstm_outputs(student(*case.args(bias_ih=write)))
    expect_close(c_new, case.c.double() + 1,
                 what="c' with every chunk of bias_ih at +50 (i = f = o = 1, g = 1), which should be c + 1")

    def cell_state_not_squashed() -> None:
        if close(h_new, case.c.double() + 1, case.dtype):
            raise CheckFailed(
                "with every gate forced open (i = f = o = 1, g = 1) h' equals c' = c + 1: the output is "
                "h' = o * tanh(c'), squash the cell state with tanh before the output gate",
            )

    expect_diagnosed(
        lambda: expect_close(
            h_new, torch.tanh(case.c.double() + 1),
            what="h' with every chunk of bias_ih at +50 (o = 1, c' = c + 1), which should be tanh(c + 1)",
        ),
        cell_state_not_squashed,
    )


@lstm_cell.check("treats every batch row independently", points=0.5, examples=6, hint=BATCH_HINT,
                 case=cell_cases("lstm"), row=st.integers(0, 3))
def lstm_batch_rows(student, case, row):
    check_batch_rows("lstm", student, case, row)


@lstm_cell.check("has the reference's gradients (x, h, c, weights, biases)", points=1, examples=4,
                 hint="build both outputs only from torch operations on the inputs (no .detach(), no .item())",
                 case=cell_cases("lstm", dtypes=GRAD_DTYPES))
def lstm_gradients(student, case):
    expect_gradients(student, *case.args())


@lstm_cell.check("keeps the dtype (float32 -> float32, float64 -> float64)", points=0.5, examples=1,
                 case=cell_cases("lstm"))
def lstm_dtype(student, case):
    check_dtype("lstm", student, case)


# ------------------------------------------------------------------------------ gru_cell


@gru_cell.check("matches the reference (random inputs, I != H, both biases)", points=2, hint=GRU_HINT,
                case=cell_cases("gru"),
                edges={"I > H": lambda case: case.x.shape[1] > case.h.shape[1],
                       "I < H": lambda case: case.x.shape[1] < case.h.shape[1]})
def gru_matches(student, case):
    check_matches("gru", student, case)


@gru_cell.check("works without biases (None means no bias)", points=0.5, examples=4, hint=BIAS_HINT,
                case=cell_cases("gru"))
def gru_without_biases(student, case):
    check_without_biases("gru", student, case)


@gru_cell.check(
    "keeps the old state when the update gate is 1 (z -> 1 gives h' == h)", points=1, examples=5,
    hint="in torch the update gate z weights the OLD state: h' = (1 - z) * n + z * h, and z is chunk [H:2H] "
    "(order r, z, n; Keras and ONNX use z, r, h)",
    case=cell_cases("gru"),
)
def gru_update_gate(student, case):
    H = case.h.shape[1]
    keep = forced(case.bias_ih, H, c1=FORCE)
    got = expect_tensor(student(*case.args(bias_ih=keep)), "h'")
    if not close(got, case.h, case.dtype):
        candidate = reference("gru", *case.args(bias_ih=forced(case.bias_ih, H, c1=-FORCE)))  # z = 0: h' = n
        if close(got, candidate, case.dtype):
            raise CheckFailed(
                "with b_iz = +50 (z -> 1) h' is the candidate n instead of the old state h: you use the lecture "
                "convention h' = (1 - z) * h + z * n; in torch (and this course) h' = (1 - z) * n + z * h",
            )
        expect_close(got, case.h, what="h' with b_iz = bias_ih[H:2H] = +50 (z -> 1), which should equal h")


@gru_cell.check(
    "applies the reset gate after the matmul, to (W_hn h + b_hn)", points=1, examples=5,
    hint="n = tanh(W_in x + b_in + r * (W_hn h + b_hn)): r multiplies the hidden part AFTER the matmul, "
    "bias b_hn included (torch's linear_before_reset); not W_hn (r * h), and not r * (W_hn h) + b_hn",
    case=cell_cases("gru"),
)
def gru_reset_gate(student, case):
    H = case.h.shape[1]
    # r -> 0 and z -> 0: h' = n = tanh(W_in x + b_in), independent of h and of b_hn.
    shut = forced(case.bias_ih, H, c0=-FORCE, c1=-FORCE)
    got = expect_tensor(student(*case.args(bias_ih=shut)), "h'")
    x, w_in, b_in = case.x.double(), case.weight_ih.double()[2 * H :], case.bias_ih.double()[2 * H :]
    expected = torch.tanh(x @ w_in.T + b_in)
    if not close(got, expected, case.dtype):
        with_b_hn = torch.tanh(x @ w_in.T + b_in + case.bias_hh.double()[2 * H :])
        if close(got, torch.zeros_like(expected), case.dtype):
            raise CheckFailed(
                "with r -> 0 and z -> 0 (b_ir = b_iz = -50), h' = n is 0: your reset gate also multiplies "
                "W_in x + b_in; it must multiply only the hidden part (W_hn h + b_hn), so chunk the input "
                "and hidden pre-activations separately",
            )
        if close(got, with_b_hn, case.dtype):
            raise CheckFailed(
                "with r -> 0 and z -> 0 (b_ir = b_iz = -50), h' still contains b_hn: the reset gate must multiply "
                "(W_hn h + b_hn) as a whole, after the matmul; W_hn (r * h) + b_hn and r * (W_hn h) + b_hn both "
                "leave b_hn outside the gate",
            )
        expect_close(got, expected, what="h' with r -> 0 and z -> 0 (b_ir = b_iz = -50), which should be "
                     "tanh(W_in x + b_in), independent of h")


@gru_cell.check("treats every batch row independently", points=0.5, examples=6, hint=BATCH_HINT,
                case=cell_cases("gru"), row=st.integers(0, 3))
def gru_batch_rows(student, case, row):
    check_batch_rows("gru", student, case, row)


@gru_cell.check("has the reference's gradients (x, h, weights, biases)", points=1, examples=4,
                hint="build the output only from torch operations on the inputs (no .detach(), no .item())",
                case=cell_cases("gru", dtypes=GRAD_DTYPES))
def gru_gradients(student, case):
    expect_gradients(student, *case.args())


@gru_cell.check("keeps the dtype (float32 -> float32, float64 -> float64)", points=0.5, examples=1,
                case=cell_cases("gru"))
def gru_dtype(student, case):
    check_dtype("gru", student, case)

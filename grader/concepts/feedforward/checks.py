"""Checks for feedforward.gelu and feedforward.feed_forward.

Both are compared with torch computed in float64 from the same inputs: ``F.gelu`` (both
forms) and ``F.linear`` / ``F.relu`` / ``F.gelu`` for the network. The exact GELU and its
tanh approximation differ by at most 4.7e-4 (near x = -2.7), far above the tolerances used
here, so one form cannot pass for the other. A wrong result is compared with the classic
mistakes (the other form, the sigmoid shortcut, sqrt(2 * pi), a missing cube; the
activation after the second layer, a missing bias, x @ w instead of x @ w.T...) so that
the student is told which one it matches. ``feed_forward`` uses the student's ``gelu``
where that passed, the reference's otherwise (``uses``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from grader.author import (
    exercise,
    expect_close,
    expect_close_or_named,
    expect_dtype,
    expect_gradients,
    expect_raises,
    expect_shape,
    expect_tensor,
    in_float64,
    strategies as gs,
)
from solutions import feedforward as ref

POSITION = 10

gelu = exercise("feedforward.gelu", reference=ref.gelu)
feed_forward = exercise("feedforward.feed_forward", reference=ref.feed_forward, uses=["feedforward.gelu"])

EXACT_HINT = (
    "approximate='none' (the default) is the exact GELU 0.5 * x * (1 + torch.erf(x / math.sqrt(2))); "
    "only approximate='tanh' uses the tanh formula"
)
TANH_HINT = (
    "approximate='tanh' is 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))): "
    "sqrt(2 / pi), not sqrt(2 * pi), and the cube of x"
)
FFN_HINT = (
    "h = act(x @ w_1.T + b_1) with act = relu or the exact gelu, then h @ w_2.T + b_2; weights are stored "
    "[out_features, in_features] as in nn.Linear, and a bias of None means no bias"
)


# ------------------------------------------------------------------------------ helpers


# A wrong result is matched to a known mistake within twice the tolerance: the exact and tanh
# forms are only ~20 tolerances apart in float32 near x = 3, so a looser match could blame the
# wrong one.
MATCH = 2.0


def _sqrt_2_over_pi() -> float:
    return math.sqrt(2.0 / math.pi)


def _tanh_form(x: torch.Tensor, constant: float, power: int = 3) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(constant * (x + 0.044715 * x.pow(power))))


def _gelu_mistakes(x: torch.Tensor, approximate: str) -> list[tuple[str, torch.Tensor]]:
    """What the classic wrong GELUs give on ``x`` (float64), with what to tell the student."""
    x = x.detach().to(torch.float64)
    phi = 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    found = []
    if approximate == "none":
        found.append(("It matches the tanh approximation: approximate='none' (the default) asks for the exact "
                      "GELU, 0.5 * x * (1 + erf(x / sqrt(2))); the two differ by up to 4.7e-4, near x = -2.7",
                      F.gelu(x, approximate="tanh")))
    else:
        found.append(("It matches the exact GELU (with erf): approximate='tanh' asks for the tanh formula "
                      "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))", F.gelu(x)))
    found += [
        ("It matches the sigmoid shortcut x * sigmoid(1.702 * x): it is off by up to 2e-2; use the formula asked for",
         x * torch.sigmoid(1.702 * x)),
        ("It matches the tanh formula with sqrt(2 * pi): the constant is sqrt(2 / pi) = 0.7979",
         _tanh_form(x, math.sqrt(2.0 * math.pi))),
        ("It matches the tanh formula without the cube, x + 0.044715 * x: the term is 0.044715 * x**3",
         _tanh_form(x, _sqrt_2_over_pi(), power=1)),
        ("It matches the tanh formula with x**2 instead of x**3: the term is 0.044715 * x**3",
         _tanh_form(x, _sqrt_2_over_pi(), power=2)),
        ("It matches erf(x) without dividing by sqrt(2): the exact GELU is 0.5 * x * (1 + erf(x / sqrt(2)))",
         0.5 * x * (1.0 + torch.erf(x))),
        ("It matches Phi(x) = 0.5 * (1 + erf(x / sqrt(2))) without the factor x: GELU is x * Phi(x)", phi),
        ("It matches x * (1 + erf(x / sqrt(2))), twice the GELU: keep the factor 0.5", 2.0 * x * phi),
        ("It matches ReLU: GELU is the smooth x * Phi(x), negative (down to -0.17) for small negative x", F.relu(x)),
    ]
    return found


# ============================================================================== gelu


GELU_EDGES = {"approximate left at its default": lambda form: form == "(default)"}


def _call_gelu(student, x: torch.Tensor, form: str):
    return student(x) if form == "(default)" else student(x, approximate=form)


@gelu.check(
    "matches F.gelu(x) (the exact form), with approximate='none' or left at its default",
    points=2,
    examples=12,
    hint=EXACT_HINT,
    x=gs.tensors(gs.shapes(1, 3, 2, 5), gs.float_dtypes(), 2.5),
    form=st.sampled_from(["(default)", "none"]),
    edges=GELU_EDGES,
)
def gelu_exact(student, x, form):
    got = expect_tensor(_call_gelu(student, x, form))
    expect_shape(got, x.shape)
    expect_dtype(got, x.dtype)
    expect_close_or_named(got, F.gelu(x.to(torch.float64)), lambda: _gelu_mistakes(x, "none"),
                          what="gelu(x) compared with F.gelu(x)", hint=EXACT_HINT, match_scale=MATCH)


@gelu.check(
    "matches F.gelu(x, approximate='tanh') (GPT-2's formula)",
    points=1.5,
    examples=10,
    hint=TANH_HINT,
    x=gs.tensors(gs.shapes(1, 3, 2, 5), gs.float_dtypes(), 2.5),
)
def gelu_tanh(student, x):
    got = expect_tensor(student(x, approximate="tanh"))
    expect_shape(got, x.shape)
    expect_dtype(got, x.dtype)
    expect_close_or_named(got, F.gelu(x.to(torch.float64), approximate="tanh"), lambda: _gelu_mistakes(x, "tanh"),
                          what="gelu(x, approximate='tanh') compared with F.gelu", hint=TANH_HINT, match_scale=MATCH)


@gelu.check(
    "gelu(x) - gelu(-x) = x for both forms (x * Phi(x) with Phi(-x) = 1 - Phi(x))",
    points=0.5,
    examples=6,
    hint="GELU is x times a smooth step that goes from 0 to 1 and is symmetric about 1/2: so gelu(x) - gelu(-x) = x. "
    "Keep the factor x and the 0.5",
    x=gs.tensors(gs.shapes(1, 2, 2, 5), gs.float_dtypes(), 3.0),
    form=st.sampled_from(["none", "tanh"]),
)
def gelu_odd_part(student, x, form):
    plus = expect_tensor(student(x, approximate=form), "gelu(x)")
    minus = expect_tensor(student(-x, approximate=form), "gelu(-x)")
    expect_shape(plus, x.shape, "gelu(x)")
    expect_shape(minus, x.shape, "gelu(-x)")
    difference = plus.detach().to(torch.float64) - minus.detach().to(torch.float64)
    expect_close(difference, x.to(torch.float64), dtype=x.dtype, scale=4.0,
                 what=f"gelu(x) - gelu(-x) with approximate={form!r} (x expected)")


@gelu.check(
    "raises ValueError for an approximate other than 'none' and 'tanh'",
    points=1,
    examples=1,
    hint="accept exactly 'none' and 'tanh' (as F.gelu) and `raise ValueError(...)` for anything else, "
    "instead of falling back to one of the forms",
)
def gelu_errors(student):
    x = gs.random_tensor((2, 3), 5)
    with expect_raises(ValueError, "for approximate='sigmoid'"):
        student(x, approximate="sigmoid")
    with expect_raises(ValueError, "for approximate='exact' (the exact form is called 'none')"):
        student(x, approximate="exact")


@gelu.check(
    "has the right gradient, for both forms",
    points=1,
    examples=4,
    hint="build the result from differentiable torch operations (torch.erf, torch.tanh): no .detach(), "
    "no math.erf on tensors, no NumPy",
    x=gs.tensors(gs.shapes(1, 2, 2, 5), gs.float_dtypes(), 2.5),
    form=st.sampled_from(["none", "tanh"]),
)
def gelu_gradient(student, x, form):
    expect_gradients(student, x, approximate=form)


@gelu.check("keeps the dtype of x (float32 and float64)", points=0.5, examples=1,
            hint="no .float() or .double() on the result; Python floats such as math.sqrt(2) keep the tensor's dtype")
def gelu_dtype(student):
    for dtype in (torch.float32, torch.float64):
        x = gs.random_tensor((2, 4), 7, dtype, 2.0)
        for form in ("none", "tanh"):
            got = expect_tensor(student(x, approximate=form))
            expect_shape(got, x.shape)
            expect_dtype(got, dtype, f"gelu(x, approximate={form!r}) for {str(dtype).replace('torch.', '')} x")


# ============================================================================== feed_forward


@dataclass
class FeedForwardCase:
    """A call; ``activation`` "(default)" means the argument is not passed (relu)."""

    x: torch.Tensor
    w_1: torch.Tensor
    b_1: torch.Tensor | None
    w_2: torch.Tensor
    b_2: torch.Tensor | None
    activation: str = "relu"

    def call(self, x: torch.Tensor | None = None) -> tuple[tuple, dict]:
        args = (self.x if x is None else x, self.w_1, self.b_1, self.w_2, self.b_2)
        return args, ({} if self.activation == "(default)" else {"activation": self.activation})

    @property
    def act(self) -> str:
        return "relu" if self.activation == "(default)" else self.activation


@st.composite
def ffn_cases(draw, biases: str = "both", square: bool = False, dtypes=None, lead_dims=(1, 2),
              activations=("relu", "gelu", "(default)")):
    """``x`` ``[..., D]`` with F != D (or F == D when ``square``), non-zero biases or a drawn subset of None."""
    if square:
        d = f = draw(gs.sizes(3, 6))
    else:
        d, f = draw(gs.distinct_sizes(2, 2, 7))
    lead = tuple(draw(st.lists(gs.sizes(2, 4), min_size=lead_dims[0], max_size=lead_dims[1])))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    seed = draw(gs.seeds())
    subsets = [(False, True), (True, False), (False, False)]
    present = (True, True) if biases == "both" else draw(st.sampled_from(subsets))
    tensor = lambda shape, offset, scale=1.0: gs.random_tensor(shape, seed + offset, dtype, scale)  # noqa: E731
    return FeedForwardCase(
        tensor(lead + (d,), 0), tensor((f, d), 1, 1.5 / math.sqrt(d)), tensor((f,), 2, 0.5) if present[0] else None,
        tensor((d, f), 3, 1.5 / math.sqrt(f)), tensor((d,), 4, 0.5) if present[1] else None,
        draw(st.sampled_from(activations)),
    )


def _linear(x: torch.Tensor, weight: torch.Tensor, bias) -> torch.Tensor:
    return F.linear(x, weight, bias)


def _activate(h: torch.Tensor, name: str) -> torch.Tensor:
    return {"relu": F.relu, "gelu": F.gelu, "gelu tanh": lambda t: F.gelu(t, approximate="tanh"),
            "identity": lambda t: t}[name](h)


def _torch_ffn(case: FeedForwardCase, *, act: str | None = None, order: str = "between", b_1: bool = True,
               b_2: bool = True, transpose: tuple[bool, bool] = (True, True)) -> torch.Tensor:
    """The network computed with torch in float64; the keywords build the classic mistakes."""
    (x, w_1, b1, w_2, b2), _ = in_float64(case.x, case.w_1, case.b_1, case.w_2, case.b_2)
    act = act or case.act
    w_1 = w_1 if transpose[0] else w_1.T
    w_2 = w_2 if transpose[1] else w_2.T
    hidden = _linear(x, w_1, b1 if b_1 else None)
    if order == "between":
        return _linear(_activate(hidden, act), w_2, b2 if b_2 else None)
    if order == "bias after":
        return _linear(_activate(_linear(x, w_1, None), act) + (0 if b1 is None else b1), w_2, b2)
    if order == "after":
        return _activate(_linear(hidden, w_2, b2 if b_2 else None), act)
    return _activate(_linear(_activate(hidden, act), w_2, b2), act)  # "both"


def _ffn_mistakes(case: FeedForwardCase) -> list[tuple[str, torch.Tensor]]:
    act = case.act
    found = [
        ("It matches the activation applied after the second layer: it goes between the layers, "
         "act(x @ w_1.T + b_1) @ w_2.T + b_2", _torch_ffn(case, order="after")),
        ("It matches an activation after both layers: only the hidden layer is activated; the output "
         "h @ w_2.T + b_2 stays linear", _torch_ffn(case, order="both")),
        ("It matches no activation at all: apply relu or gelu to the hidden layer", _torch_ffn(case, act="identity")),
    ]
    if act == "gelu":
        found += [
            ("It matches GELU's tanh approximation: activation='gelu' means the exact GELU (approximate='none', "
             "as nn.TransformerEncoderLayer's 'gelu')", _torch_ffn(case, act="gelu tanh")),
            ("It matches ReLU although activation='gelu' was asked: apply the exact gelu",
             _torch_ffn(case, act="relu")),
        ]
    else:
        found.append((f"It matches GELU although activation={case.activation!r} asks for ReLU"
                      + (" (relu is the default)" if case.activation == "(default)" else ""),
                      _torch_ffn(case, act="gelu")))
    if case.b_1 is not None:
        found += [
            ("It matches the result without b_1: add b_1 to x @ w_1.T before the activation",
             _torch_ffn(case, b_1=False)),
            ("It matches b_1 added after the activation: act(x @ w_1.T + b_1), the bias goes inside",
             _torch_ffn(case, order="bias after")),
        ]
    if case.b_2 is not None:
        found.append(("It matches the result without b_2: add b_2 to the output", _torch_ffn(case, b_2=False)))
    if case.b_1 is not None and case.b_2 is not None:
        found.append(("It matches the result without both biases: add b_1 and b_2",
                      _torch_ffn(case, b_1=False, b_2=False)))
    if case.w_1.shape[0] == case.w_1.shape[1]:
        found += [
            ("It matches x @ w_1 and h @ w_2 without the transposes: weights are stored [out_features, "
             "in_features] as in nn.Linear, so use x @ w_1.T and h @ w_2.T (with F == D the shapes do not warn you)",
             _torch_ffn(case, transpose=(False, False))),
            ("It matches x @ w_1 without the transpose (w_2 is right): use x @ w_1.T",
             _torch_ffn(case, transpose=(False, True))),
            ("It matches h @ w_2 without the transpose (w_1 is right): use h @ w_2.T",
             _torch_ffn(case, transpose=(True, False))),
        ]
    return found


def _check_ffn(student, case: FeedForwardCase, what: str, hint: str = FFN_HINT) -> torch.Tensor:
    args, kwargs = case.call()
    got = expect_tensor(student(*args, **kwargs))
    expect_shape(got, case.x.shape, "the output ([..., D], the shape of x)")
    expect_dtype(got, case.x.dtype)
    expect_close_or_named(got, _torch_ffn(case), lambda: _ffn_mistakes(case), what=what, hint=hint, scale=2.0,
                          match_scale=MATCH)
    return got


@feed_forward.check(
    "matches F.linear(act(F.linear(x, w_1, b_1)), w_2, b_2) for relu (the default) and the exact gelu, F != D",
    points=2,
    examples=12,
    hint=FFN_HINT,
    case=ffn_cases(),
    edges={
        "activation left at its default (relu)": lambda case: case.activation == "(default)",
        "activation='gelu'": lambda case: case.activation == "gelu",
        "two leading dims": lambda case: case.x.dim() == 3,
    },
)
def ffn_matches_torch(student, case):
    _check_ffn(student, case, f"feed_forward(..., activation={case.activation!r}) compared with torch")


@feed_forward.check(
    "works when b_1, b_2 or both are None",
    points=1,
    examples=8,
    hint="a bias of None means no bias: add b_1 and b_2 only `if ... is not None`",
    case=ffn_cases(biases="some None"),
    edges={"both biases None": lambda case: case.b_1 is None and case.b_2 is None},
)
def ffn_no_bias(student, case):
    _check_ffn(student, case, "feed_forward(...) with None biases compared with torch",
               hint="a bias of None means no bias: add b_1 and b_2 only `if ... is not None`")


@feed_forward.check(
    "uses x @ w_1.T and h @ w_2.T also when F == D (square weights)",
    points=1,
    examples=6,
    hint="weights follow nn.Linear, [out_features, in_features]: x @ w_1.T, then h @ w_2.T; with F == D, "
    "x @ w_1 has the right shape but the wrong values",
    case=ffn_cases(square=True),
)
def ffn_square(student, case):
    _check_ffn(student, case, "feed_forward(...) with F == D compared with torch")


@feed_forward.check(
    "is position-wise: permuting the positions of x permutes the outputs the same way",
    points=1,
    examples=6,
    hint="each position (each vector along the last dim) goes through the network on its own: only the "
    "last dim is ever mixed, never the batch or sequence axes",
    case=ffn_cases(lead_dims=(2, 2)),
    seed=gs.seeds(),
)
def ffn_position_wise(student, case, seed):
    args, kwargs = case.call()
    got = expect_tensor(student(*args, **kwargs))
    expect_shape(got, case.x.shape, "the output ([..., D], the shape of x)")
    generator = torch.Generator().manual_seed(seed)
    positions = torch.randperm(case.x.shape[-2], generator=generator)
    batches = torch.randperm(case.x.shape[0], generator=generator)
    moved_x = case.x[batches][:, positions]
    moved_args, _ = case.call(moved_x)
    moved = expect_tensor(student(*moved_args, **kwargs), "the output for permuted positions")
    expect_shape(moved, case.x.shape, "the output for permuted positions")
    expect_close(moved, got.detach()[batches][:, positions], scale=4.0,
                 what="the output for x with its batch entries and positions permuted, compared with your output "
                 "for x permuted the same way")


@feed_forward.check(
    "raises ValueError for an activation other than 'relu' and 'gelu'",
    points=1,
    examples=1,
    hint="accept exactly 'relu' and 'gelu' and `raise ValueError(...)` for anything else, instead of falling "
    "back to one of them",
)
def ffn_errors(student):
    x = gs.random_tensor((2, 3, 4), 1)
    weights = (gs.random_tensor((5, 4), 2), gs.random_tensor((5,), 3), gs.random_tensor((4, 5), 4),
               gs.random_tensor((4,), 5))
    for name in ("tanh", "silu"):
        with expect_raises(ValueError, f"for activation={name!r}"):
            student(x, *weights, activation=name)


@feed_forward.check(
    "has the right gradients with respect to x, w_1, b_1, w_2 and b_2",
    points=1,
    examples=4,
    hint="build the result from differentiable torch operations: no .detach(), no NumPy, no in-place writes "
    "(such as relu_ or h[h < 0] = 0) into a tensor autograd needs",
    case=ffn_cases(activations=("relu", "gelu"), lead_dims=(1, 1)),
)
def ffn_gradients(student, case):
    args, kwargs = case.call()
    expect_gradients(student, *args, **kwargs)


@feed_forward.check("keeps the dtype of x (float32 and float64)", points=0.5, examples=1,
                    hint="no .float() or .double() on the result, and no tensors created without dtype=x.dtype")
def ffn_dtype(student):
    for dtype in (torch.float32, torch.float64):
        x = gs.random_tensor((2, 3, 4), 11, dtype)
        weights = (gs.random_tensor((6, 4), 12, dtype), gs.random_tensor((6,), 13, dtype),
                   gs.random_tensor((4, 6), 14, dtype), gs.random_tensor((4,), 15, dtype))
        for activation in ("relu", "gelu"):
            got = expect_tensor(student(x, *weights, activation=activation))
            expect_shape(got, x.shape)
            expect_dtype(got, dtype, f"the output for {str(dtype).replace('torch.', '')} inputs ({activation})")

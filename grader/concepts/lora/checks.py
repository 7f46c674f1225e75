"""Checks for lora.lora_linear and lora.merge_lora (low-rank adaptation).

Sizes: ``r``, ``in`` and ``out`` are all different and ``r >= 2``, and ``alpha != r``, so
that a scale of ``alpha``, ``r / alpha``, ``alpha / out`` or ``(alpha / r)**2`` cannot pass
for ``alpha / r``. A separate check uses a square weight (``out == in``, like attention's
projections), where a transposed update has the right shape and must be caught by value.
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
    expect_close,
    expect_close_or_named,
    expect_dtype,
    expect_gradients,
    expect_shape,
    expect_tensor,
    expect_true,
    in_float64,
    strategies as gs,
)
from solutions import lora as ref

POSITION = 13

# A student may build lora_linear on merge_lora (x @ merge_lora(W).T + b): a wrong merge
# is then charged to merge_lora only.
lora_linear = exercise("lora.lora_linear", reference=ref.lora_linear, uses=["lora.merge_lora"])
# "merge_lora returns a new tensor": writing into `weight` costs the whole engine check.
merge_lora = exercise("lora.merge_lora", reference=ref.merge_lora, inputs_unchanged_points=1.0)

LINEAR_HINT = (
    "x @ weight.T + bias + (alpha / r) * (x @ lora_a.T) @ lora_b.T with r = lora_a.shape[0]; add the bias "
    "only if it is not None"
)
MERGE_HINT = "weight + (alpha / r) * lora_b @ lora_a with r = lora_a.shape[0]; a new tensor, weight unchanged"
ALPHAS = (0.5, 1, 3.0, 6.0, 8, 16.0)


# ------------------------------------------------------------------------------ inputs


@dataclass
class LoraCase:
    x: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None
    lora_a: torch.Tensor
    lora_b: torch.Tensor
    alpha: float

    def args(self) -> tuple:
        return self.x, self.weight, self.bias, self.lora_a, self.lora_b, self.alpha


@st.composite
def lora_cases(draw: st.DrawFn, bias: bool = True, square: bool = False, zero_b: bool = False,
               dtypes=None) -> LoraCase:
    """r, in, out all different (out == in when ``square``), r >= 2, alpha != r."""
    if square:
        r, features = draw(gs.distinct_sizes(2, 2, 6))
        size_in = size_out = features
    else:
        r, size_in, size_out = draw(gs.distinct_sizes(3, 2, 6))
    alpha = draw(st.sampled_from(ALPHAS).filter(lambda a: a != r))
    lead = draw(gs.shapes(1, 2, 2, 4))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    seed = draw(gs.seeds())
    lora_b = gs.random_tensor((size_out, r), seed + 4, dtype)
    return LoraCase(
        gs.random_tensor(lead + (size_in,), seed, dtype),
        gs.random_tensor((size_out, size_in), seed + 1, dtype, size_in ** -0.5),
        gs.random_tensor((size_out,), seed + 2, dtype) if bias else None,
        gs.random_tensor((r, size_in), seed + 3, dtype, size_in ** -0.5),
        torch.zeros_like(lora_b) if zero_b else lora_b,
        alpha,
    )


@dataclass
class MergeCase:
    weight: torch.Tensor
    lora_a: torch.Tensor
    lora_b: torch.Tensor
    alpha: float

    def args(self) -> tuple:
        return self.weight, self.lora_a, self.lora_b, self.alpha


def _fractional_scale(case: LoraCase | MergeCase) -> bool:
    return case.alpha % case.lora_a.shape[0] != 0


def _merge_case(case: LoraCase) -> MergeCase:
    return MergeCase(case.weight, case.lora_a, case.lora_b, case.alpha)


# ------------------------------------------------------------------------------ helpers


def _scale_mistakes(r: int, out: int, alpha: float) -> list[tuple[str, float]]:
    """Wrong scales of the update, with what to tell the student."""
    right = alpha / r
    found = [
        (f"the update is scaled by alpha = {alpha:g} instead of alpha / r = {alpha:g} / {r} = {right:.4g}", alpha),
        (f"the update is scaled by r / alpha = {r / alpha:.4g} instead of alpha / r = {right:.4g}", r / alpha),
        (f"the update is scaled by (alpha / r)**2 = {right ** 2:.4g}: the scale alpha / r is applied twice "
         f"(e.g. to both A and B); apply it once", right ** 2),
        (f"the update is scaled by alpha / {out} = {alpha / out:.4g}: r was read from lora_b.shape[0], which "
         f"is out = {out}; r is the small axis, lora_a.shape[0] = lora_b.shape[1] = {r}", alpha / out),
        (f"the update is not scaled: multiply it by alpha / r = {right:.4g}", 1.0),
        (f"the update is scaled by alpha // r = {alpha // r:g} (floor division): use alpha / r = {right:.4g}",
         float(alpha // r)),
    ]
    return [(message, scale) for message, scale in found if abs(scale - right) > 1e-9 * max(1.0, abs(right))]


def _linear_mistakes(case: LoraCase) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    (x, weight, bias, a, b, alpha), _ = in_float64(*case.args())
    r, out = a.shape[0], weight.shape[0]
    base = F.linear(x, weight, bias)
    low = F.linear(F.linear(x, a), b)
    found: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (f"This is x @ W.T + b + s * (x @ A.T) @ B.T with a wrong s: {message}",
         lambda s=scale: base + s * low)
        for message, scale in _scale_mistakes(r, out, alpha)
    ]
    if bias is not None:
        found += [
            ("The bias is missing: add bias (shape [out]) once, when it is not None",
             lambda: F.linear(x, weight) + alpha / r * low),
            ("The bias is added twice: add it once, to the frozen layer's output",
             lambda: base + bias + alpha / r * low),
            ("The bias went into the LoRA branch too (it is scaled by alpha / r there): the adapter is "
             "(x @ A.T) @ B.T with no bias", lambda: base + alpha / r * (low + bias)),
        ]
    if weight.shape[0] == weight.shape[1]:
        found.append(("The update is transposed: this is x @ (B @ A) (or (x @ B) @ A). Apply A first, then "
                      "B, each as a linear layer: (x @ A.T) @ B.T, which is x @ (B @ A).T",
                      lambda: base + alpha / r * (x @ (b @ a))))
        found.append(("The frozen weight is used as x @ W instead of x @ W.T (nn.Linear layout: W is "
                      "[out, in])", lambda: x @ weight + (0 if bias is None else bias) + alpha / r * low))
    return found


def _shapes(**tensors: torch.Tensor | None) -> str:
    return ", ".join(f"{name} {'None' if t is None else list(t.shape)}" for name, t in tensors.items())


def _call(student, args: tuple, shapes: str, hint: str):
    """The student's result; an error on these valid inputs is explained with their shapes."""
    try:
        return student(*args)
    except StudentRaised as raised:
        if raised.is_a(NotImplementedError):
            raise
        raise CheckFailed(f"raised {raised.summary()} for valid inputs: {shapes}", hint=hint) from None


def _linear_shapes(case: LoraCase) -> str:
    return (_shapes(x=case.x, weight=case.weight, bias=case.bias, lora_a=case.lora_a, lora_b=case.lora_b)
            + f" (in = {case.weight.shape[1]}, out = {case.weight.shape[0]}, r = {case.lora_a.shape[0]}); "
            "x @ lora_a.T is [..., r] and (x @ lora_a.T) @ lora_b.T is [..., out]")


def _merge_shapes(case: MergeCase) -> str:
    return (_shapes(weight=case.weight, lora_a=case.lora_a, lora_b=case.lora_b)
            + f" (in = {case.weight.shape[1]}, out = {case.weight.shape[0]}, r = {case.lora_a.shape[0]}); "
            "lora_b @ lora_a is [out, r] @ [r, in] = [out, in], the shape of weight")


def _check_linear(student, case: LoraCase, what: str = "the output") -> None:
    got = expect_tensor(_call(student, case.args(), _linear_shapes(case), LINEAR_HINT), what)
    out = case.weight.shape[0]
    expect_shape(got, tuple(case.x.shape[:-1]) + (out,), f"{what} ([..., out])")
    expect_dtype(got, case.x.dtype, what)
    args64, _ = in_float64(*case.args())
    expected = ref.lora_linear(*args64)
    expect_close_or_named(got, expected, lambda: _linear_mistakes(case), what=what, hint=LINEAR_HINT)


def _merge_mistakes(case: MergeCase) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    (weight, a, b, alpha), _ = in_float64(*case.args())
    r, out = a.shape[0], weight.shape[0]
    update = b @ a
    found: list[tuple[str, Callable[[], torch.Tensor]]] = [
        (f"This is W + s * B @ A with a wrong s: {message}", lambda s=scale: weight + s * update)
        for message, scale in _scale_mistakes(r, out, alpha)
    ]
    found.append(("This is only the update (alpha / r) * B @ A: add it to weight", lambda: alpha / r * update))
    if weight.shape[0] == weight.shape[1]:
        found.append(("The update is transposed: this is W + s * A.T @ B.T = W + s * (B @ A).T. The update "
                      "B @ A is [out, in], like weight", lambda: weight + alpha / r * update.T))
    return found


def _check_merge(student, case: MergeCase) -> torch.Tensor:
    got = expect_tensor(_call(student, case.args(), _merge_shapes(case), MERGE_HINT), "the merged weight")
    expect_shape(got, case.weight.shape, "the merged weight ([out, in])")
    expect_dtype(got, case.weight.dtype, "the merged weight")
    args64, _ = in_float64(*case.args())
    expected = ref.merge_lora(*args64)
    expect_close_or_named(got, expected, lambda: _merge_mistakes(case), what="the merged weight", hint=MERGE_HINT)
    return got


# =========================================================================== lora_linear


@lora_linear.check(
    "matches the reference: x with leading dims, bias present, r >= 2, in != out, alpha != r",
    points=2,
    examples=12,
    hint=LINEAR_HINT,
    case=lora_cases(),
    edges={"two leading dims (batch and positions)": lambda case: case.x.dim() == 3,
           "alpha / r is not a whole number (alpha // r differs)": lambda case: _fractional_scale(case)},
)
def linear_matches_reference(student, case):
    _check_linear(student, case)


@lora_linear.check(
    "with lora_b = 0 (LoRA's initial state) it is the plain linear layer x @ weight.T + bias",
    points=1,
    examples=6,
    hint="B starts at zero so that fine-tuning starts exactly at the pre-trained model: then only "
    "x @ weight.T + bias remains (add the bias once, outside the adapter)",
    case=lora_cases(zero_b=True),
)
def linear_zero_b(student, case):
    got = expect_tensor(_call(student, case.args(), _linear_shapes(case), LINEAR_HINT))
    (x, weight, bias), _ = in_float64(case.x, case.weight, case.bias)
    expect_close(got, F.linear(x, weight, bias), what="the output with lora_b = 0 (compared with "
                 "F.linear(x, weight, bias))", hint="with lora_b = 0 the adapter adds exactly nothing")


@lora_linear.check(
    "works without a bias (bias=None)",
    points=1,
    examples=6,
    hint="`bias=None` means no bias: add it only `if bias is not None`",
    case=lora_cases(bias=False),
)
def linear_no_bias(student, case):
    _check_linear(student, case, "the output without bias")


@lora_linear.check(
    "square weight (out == in, like an attention projection): the update is (x @ A.T) @ B.T",
    points=1,
    examples=6,
    hint="apply A first (down to r numbers), then B (back up to out): (x @ lora_a.T) @ lora_b.T. With a "
    "square weight a transposed update x @ (B @ A) has the right shape but the wrong values",
    case=lora_cases(square=True),
)
def linear_square(student, case):
    _check_linear(student, case, "the output for a square weight")


@lora_linear.check(
    "has the right gradients with respect to x, weight, bias, lora_a and lora_b",
    points=1,
    examples=4,
    hint="use differentiable torch operations only: no .detach(), no NumPy, no in-place writes",
    case=lora_cases(dtypes=st.just(torch.float64)),
)
def linear_gradients(student, case):
    expect_gradients(student, *case.args())


@lora_linear.check(
    "while lora_b = 0, lora_a gets no gradient and lora_b does (the gradient reaches A only through B)",
    points=0.5,
    examples=3,
    hint="the adapter is (alpha / r) * (x @ lora_a.T) @ lora_b.T: its gradient with respect to lora_a is "
    "multiplied by lora_b, so it is zero at the start of training, while lora_b's gradient is not",
    case=lora_cases(zero_b=True, dtypes=st.just(torch.float64)),
)
def linear_zero_b_gradients(student, case):
    expect_gradients(student, *case.args())


# ============================================================================ merge_lora


@merge_lora.check(
    "matches the reference W + (alpha / r) B @ A: r >= 2, in != out, alpha != r",
    points=2,
    examples=10,
    hint=MERGE_HINT,
    case=lora_cases().map(_merge_case),
    edges={"alpha / r is not a whole number (alpha // r differs)": lambda case: _fractional_scale(case)},
)
def merge_matches_reference(student, case):
    _check_merge(student, case)


@merge_lora.check(
    "square weight (out == in): the update is B @ A, not its transpose",
    points=1,
    examples=6,
    hint="B @ A is [out, r] @ [r, in] = [out, in]; A.T @ B.T is its transpose, which has the same shape "
    "only when the weight is square",
    case=lora_cases(square=True).map(_merge_case),
)
def merge_square(student, case):
    _check_merge(student, case)


@merge_lora.check(
    "x @ merge_lora(W).T + bias gives the output of the unmerged LoRA layer",
    points=1,
    examples=6,
    hint="merging must not change what the layer computes: x @ (W + s B A).T = x @ W.T + s (x @ A.T) @ B.T "
    "with s = alpha / r",
    case=lora_cases(),
)
def merge_same_outputs(student, case):
    merge_case = _merge_case(case)
    merged = expect_tensor(_call(student, merge_case.args(), _merge_shapes(merge_case), MERGE_HINT),
                           "the merged weight")
    expect_shape(merged, case.weight.shape, "the merged weight ([out, in])")
    (x, bias), _ = in_float64(case.x, case.bias)
    args64, _ = in_float64(*case.args())
    expected = ref.lora_linear(*args64)
    got = F.linear(x, merged.to(torch.float64), bias)
    expect_close(got, expected, what="x @ merge_lora(W).T + bias, compared with the LoRA layer's output",
                 dtype=merged.dtype, scale=4.0, hint=MERGE_HINT)


@merge_lora.check(
    "the update merge_lora(W) - W has rank <= r",
    points=0.5,
    examples=4,
    hint="the update (alpha / r) * lora_b @ lora_a goes through r numbers, so it has rank at most r; "
    "return weight plus that update, nothing else",
    case=lora_cases(dtypes=st.just(torch.float64)).map(_merge_case),
)
def merge_rank(student, case):
    merged = expect_tensor(_call(student, case.args(), _merge_shapes(case), MERGE_HINT), "the merged weight")
    expect_shape(merged, case.weight.shape, "the merged weight ([out, in])")
    r = case.lora_a.shape[0]
    singular = torch.linalg.svdvals(merged.to(torch.float64) - case.weight.to(torch.float64))
    size = float(singular[0]) if singular.numel() else 0.0
    extra = float(singular[r:].max()) if singular.numel() > r else 0.0
    expect_true(extra <= 1e-9 * max(1.0, size),
                f"merge_lora(W) - W has rank above r = {r}: its singular value number {r + 1} is {extra:.3g} "
                f"(the largest is {size:.3g}); a low-rank update changes W in at most r directions",
                hint="the update (alpha / r) * lora_b @ lora_a goes through r numbers, so it has rank at most r; "
                "return weight plus that update, nothing else")


@merge_lora.check(
    "has the right gradients with respect to weight, lora_a and lora_b",
    points=1,
    examples=3,
    hint="use differentiable torch operations only, and no in-place writes into weight (weight += ... "
    "fails on a tensor that requires grad)",
    case=lora_cases(dtypes=st.just(torch.float64)).map(_merge_case),
)
def merge_gradients(student, case):
    expect_gradients(student, *case.args())

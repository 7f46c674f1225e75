"""Checks for normalization.layer_norm and normalization.rms_norm."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from grader import strategies as gs
from grader.compare import expect_close, expect_shape, expect_tensor, in_float64
from grader.course import exercise
from solutions import normalization as ref

POSITION = 9

layer_norm = exercise("normalization.layer_norm", reference=ref.layer_norm)
rms_norm = exercise("normalization.rms_norm", reference=ref.rms_norm)


@dataclass
class NormCase:
    x: torch.Tensor
    weight: torch.Tensor | None
    bias: torch.Tensor | None


@st.composite
def norm_cases(draw):
    shape = draw(gs.shapes(1, 3, 2, 6))
    dtype = draw(gs.float_dtypes())
    seed = draw(gs.seeds())
    affine = draw(st.booleans())
    d = shape[-1]
    weight = gs.random_tensor((d,), seed + 1, dtype) + 1.5 if affine else None
    bias = gs.random_tensor((d,), seed + 2, dtype) if affine else None
    return NormCase(gs.random_tensor(shape, seed, dtype, 3.0) + 2.0, weight, bias)


@layer_norm.check("matches the reference", points=2, case=norm_cases())
def layer_norm_matches(student, case):
    got = expect_tensor(student(case.x, case.weight, case.bias))
    expect_shape(got, case.x.shape)
    args, _ = in_float64(case.x, case.weight, case.bias)
    expect_close(got, ref.layer_norm(*args), what="the output")


@rms_norm.check("matches the reference", points=2, case=norm_cases())
def rms_norm_matches(student, case):
    got = expect_tensor(student(case.x, case.weight))
    expect_shape(got, case.x.shape)
    args, _ = in_float64(case.x, case.weight)
    expect_close(got, ref.rms_norm(*args), what="the output")

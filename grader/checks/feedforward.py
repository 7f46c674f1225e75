"""Checks for feedforward.gelu and feedforward.feed_forward."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from grader import strategies as gs
from grader.compare import expect_close, expect_shape, expect_tensor, in_float64
from grader.course import exercise
from solutions import feedforward as ref

POSITION = 10

gelu = exercise("feedforward.gelu", reference=ref.gelu)
feed_forward = exercise("feedforward.feed_forward", reference=ref.feed_forward, uses=["feedforward.gelu"])


@gelu.check("matches the reference", points=2, x=gs.tensors(gs.shapes(1, 3), gs.float_dtypes(), 3.0),
            approximate=st.sampled_from(["none", "tanh"]))
def gelu_matches(student, x, approximate):
    got = expect_tensor(student(x, approximate=approximate))
    expect_shape(got, x.shape)
    args, kwargs = in_float64(x, approximate=approximate)
    expect_close(got, ref.gelu(*args, **kwargs), what="the output")


@dataclass
class FeedForwardCase:
    x: torch.Tensor
    w_1: torch.Tensor
    b_1: torch.Tensor
    w_2: torch.Tensor
    b_2: torch.Tensor
    activation: str


@st.composite
def feed_forward_cases(draw):
    d, f = draw(gs.distinct_sizes(2, 2, 6))
    lead = draw(gs.shapes(1, 2, 2, 4))
    dtype = draw(gs.float_dtypes())
    seed = draw(gs.seeds())
    activation = draw(st.sampled_from(["relu", "gelu"]))
    return FeedForwardCase(
        gs.random_tensor((*lead, d), seed, dtype), gs.random_tensor((f, d), seed + 1, dtype),
        gs.random_tensor((f,), seed + 2, dtype), gs.random_tensor((d, f), seed + 3, dtype),
        gs.random_tensor((d,), seed + 4, dtype), activation,
    )


@feed_forward.check("matches the reference", points=2, case=feed_forward_cases())
def feed_forward_matches(student, case):
    got = expect_tensor(student(case.x, case.w_1, case.b_1, case.w_2, case.b_2, activation=case.activation))
    expect_shape(got, case.x.shape)
    args, kwargs = in_float64(case.x, case.w_1, case.b_1, case.w_2, case.b_2, activation=case.activation)
    expect_close(got, ref.feed_forward(*args, **kwargs), what="the output")

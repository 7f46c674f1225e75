"""Checks for masks.causal_mask and masks.padding_mask."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from grader.author import (
    call_on_requested_device,
    exercise,
    expect_dtype,
    expect_equal,
    expect_raises,
    expect_shape,
    strategies as gs,
)
from solutions import masks as ref

POSITION = 4

causal_mask = exercise("masks.causal_mask", reference=ref.causal_mask)
padding_mask = exercise("masks.padding_mask", reference=ref.padding_mask)

CAUSAL_HINT = "query i may see key j iff j <= i + (k_len - q_len); True means 'may attend'"


@causal_mask.check("is a bool [q_len, q_len] lower triangle, diagonal included", points=1, q_len=gs.sizes(2, 9))
def causal_square(student, q_len):
    got = student(q_len)
    expect_dtype(got, torch.bool, "the mask")
    expect_equal(got, torch.ones(q_len, q_len).tril().bool(), what="the mask", hint=CAUSAL_HINT)


@causal_mask.check(
    "aligns queries with the last keys when k_len > q_len (KV cache)",
    points=1.5,
    sizes=gs.distinct_sizes(2, 1, 9).map(sorted),
    edges={"a single query (q_len = 1) against a longer cache": lambda sizes: sizes[0] == 1},
)
def causal_rectangular(student, sizes):
    q_len, k_len = sizes
    got = student(q_len, k_len)
    expect_shape(got, (q_len, k_len), "the mask")
    expect_equal(got, ref.causal_mask(q_len, k_len), what="the mask", hint=CAUSAL_HINT)


@causal_mask.check(
    "follows j <= i + (k_len - q_len) for any sizes, also q_len > k_len",
    points=0.5,
    q_len=gs.sizes(1, 8),
    k_len=gs.sizes(1, 8),
    edges={"q_len < k_len": lambda q_len, k_len: q_len < k_len, "q_len > k_len": lambda q_len, k_len: q_len > k_len},
)
def causal_any_sizes(student, q_len, k_len):
    expect_equal(student(q_len, k_len), ref.causal_mask(q_len, k_len), what="the mask", hint=CAUSAL_HINT)


@causal_mask.check("is created on the requested device", points=0.5, examples=1, q_len=st.just(3))
def causal_device(student, q_len):
    # The engine fails a result that is not on the requested device (`meta` on a CPU run).
    got = call_on_requested_device(student, q_len, 5)
    if got is not None:
        expect_shape(got, (q_len, 5), "the mask")
        expect_dtype(got, torch.bool, "the mask")


@padding_mask.check(
    "is True exactly at positions < length",
    points=1.5,
    batch=gs.sizes(2, 5),
    max_len=gs.sizes(2, 8),
    seed=gs.seeds(),
    edges={
        "a length-0 row":
            lambda batch, max_len, seed: bool((gs.random_ints((batch,), seed, 0, max_len + 1) == 0).any()),
        "a length == max_len row":
            lambda batch, max_len, seed: bool((gs.random_ints((batch,), seed, 0, max_len + 1) == max_len).any()),
    },
)
def padding_values(student, batch, max_len, seed):
    lengths = gs.random_ints((batch,), seed, 0, max_len + 1)
    got = student(lengths, max_len)
    expect_equal(got, ref.padding_mask(lengths, max_len), what="the mask",
                 hint="compare arange(max_len) with lengths[:, None]; True marks real tokens")


@padding_mask.check("accepts lengths 0 and max_len: an all-False and an all-True row", points=0.5, examples=1,
                    seed=gs.seeds())
def padding_edges(student, seed):
    lengths = torch.cat([torch.tensor([0, 5]), gs.random_ints((2,), seed, 1, 5)])[gs.random_permutation(4, seed)]
    got = student(lengths, 5)
    expect_equal(got, ref.padding_mask(lengths, 5), what="the mask",
                 hint="0 and max_len are valid lengths; only < 0 and > max_len are errors")


@padding_mask.check("accepts int32 lengths", points=0.5, examples=1, seed=gs.seeds())
def padding_int32(student, seed):
    lengths = gs.random_ints((3,), seed, 0, 5).to(torch.int32)
    expect_equal(student(lengths, 4 + int(lengths.max() == 4)), ref.padding_mask(lengths, 4 + int(lengths.max() == 4)),
                 what="the mask")


@padding_mask.check("raises ValueError for a negative length or one above max_len", points=1, examples=1)
def padding_errors(student):
    with expect_raises(ValueError, "for a length greater than max_len"):
        student(torch.tensor([2, 6]), 5)
    with expect_raises(ValueError, "for a negative length"):
        student(torch.tensor([-1, 3]), 5)
    with expect_raises(ValueError, "for a length greater than max_len (only that one)"):
        student(torch.tensor([5, 6]), 5)

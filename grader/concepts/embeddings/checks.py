"""Checks for embeddings.one_hot and embeddings.embedding_lookup.

Both are pure selections (no arithmetic), so every value comparison is exact.
``embedding_lookup`` may be written as ``one_hot(indices, V, dtype=weight.dtype) @ weight``;
while it is graded the student's ``one_hot`` is replaced by the reference (``uses``), so a
mistake in ``one_hot`` is charged to ``one_hot`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    exercise,
    expect_dtype,
    expect_equal,
    expect_gradients,
    expect_raises,
    expect_shape,
    expect_tensor,
    run_device,
    strategies as gs,
)
from solutions import embeddings as ref

POSITION = 1

one_hot = exercise("embeddings.one_hot", reference=ref.one_hot)
embedding_lookup = exercise(
    "embeddings.embedding_lookup", reference=ref.embedding_lookup, uses=["embeddings.one_hot"]
)

ONE_HOT_HINT = (
    "out[..., c] is 1 where indices[...] == c and 0 elsewhere; the class axis is a NEW LAST axis, "
    "so the shape is indices.shape + (num_classes,), also for a 0-d index"
)
LOOKUP_HINT = (
    "out[s] is row weight[indices[s]] (a row of the [V, D] table, not a column), "
    "so the shape is indices.shape + (D,)"
)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


# ------------------------------------------------------------------------------ one_hot


@dataclass
class OneHotCase:
    indices: torch.Tensor
    num_classes: int


@st.composite
def one_hot_cases(draw: st.DrawFn, min_dims: int = 0, max_dims: int = 3) -> OneHotCase:
    """Index tensors of 0 to 3 dims (sizes >= 2) with values in [0, num_classes)."""
    shape = draw(gs.shapes(min_dims, max_dims, 2, 4))
    num_classes = draw(st.integers(2, 9))
    indices = gs.random_ints(shape, draw(gs.seeds()), 0, num_classes)
    return OneHotCase(indices, num_classes)


@one_hot.check(
    "matches F.one_hot(indices, num_classes) for index tensors of any shape (0-d to 3-d)",
    points=2,
    examples=20,
    hint=ONE_HOT_HINT,
    case=one_hot_cases(),
    edges={"a 0-d index tensor": lambda case: case.indices.dim() == 0},
)
def one_hot_values(student, case):
    got = student(case.indices, case.num_classes)
    expected = ref.one_hot(case.indices, case.num_classes)
    expect_shape(got, expected.shape, "the one-hot tensor")
    expect_dtype(got, torch.float32, "the one-hot tensor (default dtype)")
    expect_equal(got, expected, what="the one-hot tensor", hint=ONE_HOT_HINT)


@one_hot.check(
    "returns the requested dtype (float32, float64, int64)",
    points=1,
    examples=10,
    case=one_hot_cases(1, 2),
    dtype=st.sampled_from([torch.float64, torch.int64, torch.float32]),
)
def one_hot_dtype(student, case, dtype):
    got = student(case.indices, case.num_classes, dtype=dtype)
    expect_tensor(got, "the one-hot tensor")
    if got.dtype != dtype:
        raise CheckFailed(
            f"with dtype={dtype} the one-hot tensor has dtype {_dtype_name(got.dtype)}, "
            f"expected {_dtype_name(dtype)}",
            hint="build the 0/1 values and finish with .to(dtype); F.one_hot alone always gives int64 "
            "and a hard-coded .float() ignores the argument",
        )
    expect_equal(got, ref.one_hot(case.indices, case.num_classes, dtype), what=f"the {_dtype_name(dtype)} one-hot tensor",
                 hint=ONE_HOT_HINT)


@one_hot.check(
    "each vector holds a single 1, at the index (sums to 1, argmax == index)",
    points=1,
    examples=15,
    case=one_hot_cases(1, 3),
)
def one_hot_properties(student, case):
    got = student(case.indices, case.num_classes)
    expect_shape(got, tuple(case.indices.shape) + (case.num_classes,), "the one-hot tensor")
    values = got.detach().to(torch.float64)
    if not bool(((values == 0) | (values == 1)).all()):
        bad = values[(values != 0) & (values != 1)].flatten()[0].item()
        raise CheckFailed(f"a one-hot tensor holds only 0 and 1, found {bad:g}", hint=ONE_HOT_HINT)
    sums = values.sum(-1)
    if not bool((sums == 1).all()):
        where = (sums != 1).nonzero()[0].tolist()
        raise CheckFailed(
            f"the vector at {where} has {int(sums[tuple(where)])} ones; every vector must have exactly one",
            hint=ONE_HOT_HINT,
        )
    argmax = values.argmax(-1)
    if not torch.equal(argmax, case.indices.long()):
        where = (argmax != case.indices).nonzero()[0].tolist()
        raise CheckFailed(
            f"the vector at {where} has its 1 at class {int(argmax[tuple(where)])}, "
            f"but the index there is {int(case.indices[tuple(where)])}",
            hint=ONE_HOT_HINT,
        )


@one_hot.check("raises ValueError for an index < 0 or >= num_classes", points=1, examples=1)
def one_hot_errors(student):
    with expect_raises(ValueError, "for an index equal to num_classes (indices [1, 5], num_classes=5)"):
        student(torch.tensor([1, 5]), 5)
    with expect_raises(ValueError, "for a negative index (indices [2, -1], num_classes=5); "
                                   "it must not wrap around to the last class"):
        student(torch.tensor([2, -1]), 5)
    with expect_raises(ValueError, "for an index far above num_classes (indices [[0, 1], [9, 2]], num_classes=3)"):
        student(torch.tensor([[0, 1], [9, 2]]), 3)
    got = student(torch.tensor([0, 4]), 5)
    expect_equal(got, ref.one_hot(torch.tensor([0, 4]), 5), what="one_hot([0, 4], 5) (the edges of the valid range)",
                 hint="0 and num_classes - 1 are valid indices")


@one_hot.check(
    "accepts empty and int32 index tensors",
    points=1,
    examples=1,
    hint="an empty tensor has no min() or max(): only check the range when indices.numel() > 0; "
    "F.one_hot only accepts int64, so convert with indices.long() or compare with arange",
)
def one_hot_edge_inputs(student):
    for shape in [(0,), (3, 0)]:
        empty = torch.zeros(shape, dtype=torch.int64)
        got = student(empty, 4)
        expect_tensor(got, f"one_hot of an empty {list(shape)} index tensor")
        expect_shape(got, shape + (4,), f"one_hot of an empty {list(shape)} index tensor")
        expect_dtype(got, torch.float32, f"one_hot of an empty {list(shape)} index tensor")
    indices = torch.tensor([[2, 0, 1], [1, 1, 3]], dtype=torch.int32)
    got = student(indices, 4)
    expect_equal(got, ref.one_hot(indices, 4), what="one_hot of int32 indices",
                 hint="F.one_hot only accepts int64: convert with indices.long(), or compare with arange")


@one_hot.check("returns its result on the device of `indices`", points=0.5, examples=1, seed=gs.seeds())
def one_hot_device(student, seed):
    # The sandbox places `indices` on the run device; the engine fails any result elsewhere.
    indices = gs.random_ints((2, 2), seed, 0, 3)
    got = student(indices, 3)
    expect_equal(got, ref.one_hot(indices, 3), what="the one-hot tensor",
                 hint=f"create torch.arange / torch.zeros with device=indices.device (grading runs on {run_device()})")


# ------------------------------------------------------------------------------ embedding_lookup


@dataclass
class LookupCase:
    indices: torch.Tensor
    weight: torch.Tensor


@st.composite
def lookup_cases(
    draw: st.DrawFn,
    dtype: st.SearchStrategy[torch.dtype] | torch.dtype = torch.float32,
    min_dims: int = 0,
    max_dims: int = 3,
    index_dtype: torch.dtype = torch.int64,
) -> LookupCase:
    """A [V, D] table (V != D) and indices of 0-3 dims, with a repeated id whenever there are two."""
    vocab, dim = draw(gs.distinct_sizes(2, 2, 7))
    shape = draw(gs.shapes(min_dims, max_dims, 2, 4))
    seed = draw(gs.seeds())
    chosen = draw(dtype) if isinstance(dtype, st.SearchStrategy) else dtype
    indices = gs.random_ints(shape, seed, 0, vocab)
    if indices.numel() >= 2:
        flat = indices.flatten().clone()
        flat[-1] = flat[0]  # a token that occurs twice
        indices = flat.reshape(shape)
    weight = gs.random_tensor((vocab, dim), seed + 1, chosen)
    return LookupCase(indices.to(index_dtype), weight)


@embedding_lookup.check(
    "equals weight[indices] exactly (any index shape, repeated ids)",
    points=2,
    examples=20,
    hint=LOOKUP_HINT,
    case=lookup_cases(),
    edges={"a 0-d index tensor": lambda case: case.indices.dim() == 0},
)
def lookup_values(student, case):
    got = student(case.indices, case.weight)
    expected = case.weight[case.indices]
    expect_shape(got, expected.shape, "the embeddings")
    expect_equal(got, expected, what="the embeddings", hint=LOOKUP_HINT)


@embedding_lookup.check(
    "gradients flow into weight, and a repeated id accumulates them",
    points=1.5,
    examples=5,
    hint="the gradient of weight[v] is the sum of the upstream gradients of every position holding id v; "
    "indexing (or one_hot @ weight) does this for you, as long as you do not detach or copy weight",
    case=lookup_cases(gs.float_dtypes(), 1, 2),
)
def lookup_gradients(student, case):
    expect_gradients(student, case.indices, case.weight)


@embedding_lookup.check(
    "keeps the dtype of weight (float32 and float64)",
    points=1,
    examples=6,
    case=lookup_cases(st.just(torch.float64), 1, 2),
)
def lookup_dtype(student, case):
    for weight in (case.weight, case.weight.to(torch.float32)):
        got = student(case.indices, weight)
        expect_tensor(got, "the embeddings")
        if got.dtype != weight.dtype:
            raise CheckFailed(
                f"for a {_dtype_name(weight.dtype)} weight the embeddings are {_dtype_name(got.dtype)}",
                hint="return rows of weight itself; if you go through one_hot, pass dtype=weight.dtype",
            )
        expect_equal(got, weight[case.indices], what=f"the embeddings of a {_dtype_name(weight.dtype)} weight",
                     hint=LOOKUP_HINT)


@embedding_lookup.check(
    "accepts int32 indices (as nn.Embedding does)",
    points=0.5,
    examples=3,
    case=lookup_cases(torch.float32, 1, 2, torch.int32),
)
def lookup_int32(student, case):
    got = student(case.indices, case.weight)
    expect_equal(got, case.weight[case.indices.long()], what="the embeddings of int32 indices",
                 hint="F.one_hot and some indexing ops want int64: use indices.long() where needed")


@embedding_lookup.check("raises ValueError for an index outside [0, V)", points=1, examples=1)
def lookup_errors(student):
    weight = gs.random_tensor((4, 3), 7)
    with expect_raises(ValueError, "for an index equal to V (indices [0, 4] with a [4, 3] weight)"):
        student(torch.tensor([0, 4]), weight)
    with expect_raises(ValueError, "for a negative index (indices [[1, -1]] with a [4, 3] weight); "
                                   "weight[-1] would silently return the last row"):
        student(torch.tensor([[1, -1]]), weight)
    got = student(torch.tensor([3, 0]), weight)
    expect_equal(got, weight[torch.tensor([3, 0])], what="the embeddings of [3, 0] (the edges of the valid range)",
                 hint="0 and V - 1 are valid ids")

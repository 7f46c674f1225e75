"""Checks for multihead.split_heads, multihead.merge_heads and multihead.multi_head_attention."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    exercise,
    expect_close_or_named,
    expect_dtype,
    expect_equal,
    expect_equal_or_named,
    expect_gradients,
    expect_raises,
    expect_shape,
    expect_tensor,
    expect_true,
    expect_tuple,
    in_float64,
    strategies as gs,
)
from solutions import multihead as ref

POSITION = 5

split_heads = exercise("multihead.split_heads", reference=ref.split_heads)
# merge_heads has no prerequisite: a merge calls nothing of the course, and its checks
# build split inputs with the reference (never with the student's split_heads).
merge_heads = exercise("multihead.merge_heads", reference=ref.merge_heads)
multi_head_attention = exercise(
    "multihead.multi_head_attention",
    reference=ref.multi_head_attention,
    uses=[
        "multihead.split_heads",
        "multihead.merge_heads",
        "attention.scaled_dot_product_attention",
        "attention.softmax",
    ],
)

SPLIT_HINT = (
    "x.reshape(B, L, num_heads, D // num_heads).transpose(1, 2): first cut each token's features into "
    "heads, then swap the L and head axes"
)
MERGE_HINT = (
    "x.transpose(1, 2).reshape(B, L, num_heads * Dh): swap the head and L axes back first, then "
    "concatenate the heads of each token"
)
MHA_HINT = (
    "Q = query @ w_q.T + b_q (likewise K from key, V from value); split each into heads; run scaled "
    "dot-product attention on the heads (scale 1/sqrt(D // num_heads)); merge; output = merged @ w_o.T + b_o"
)


# ------------------------------------------------------------------------------ helpers


@dataclass
class HeadsCase:
    x: torch.Tensor
    num_heads: int


@st.composite
def split_cases(draw, dtypes=None):
    """[B, L, D] with B, L, num_heads and Dh all different (so no axis can be confused)."""
    batch, length, heads, head_dim = draw(gs.distinct_sizes(4, 2, 6))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    x = gs.random_tensor((batch, length, heads * head_dim), draw(gs.seeds()), dtype)
    return HeadsCase(x, heads)


@st.composite
def merge_cases(draw, dtypes=None):
    batch, length, heads, head_dim = draw(gs.distinct_sizes(4, 2, 6))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    x = gs.random_tensor((batch, heads, length, head_dim), draw(gs.seeds()), dtype)
    return HeadsCase(x, heads)


# ============================================================================ split_heads


@split_heads.check(
    "returns [B, num_heads, L, D // num_heads] in the input's dtype",
    points=1,
    examples=10,
    hint=SPLIT_HINT,
    case=split_cases(),
)
def split_shape(student, case):
    batch, length, d_model = case.x.shape
    got = student(case.x, case.num_heads)
    expect_shape(got, (batch, case.num_heads, length, d_model // case.num_heads))
    expect_dtype(got, case.x.dtype)


@split_heads.check(
    "puts features h*Dh:(h+1)*Dh of every token in head h (B, L, heads, Dh all different)",
    points=2,
    examples=15,
    hint=SPLIT_HINT,
    case=split_cases(),
    edges={"more heads than features per head": lambda case: case.num_heads > case.x.shape[-1] // case.num_heads},
)
def split_layout(student, case):
    batch, length, d_model = case.x.shape
    heads, head_dim = case.num_heads, d_model // case.num_heads
    got = expect_tensor(student(case.x, heads))
    expected = ref.split_heads(case.x, heads)
    expect_shape(got, expected.shape)
    if not torch.equal(got, expected):  # values only: the dtype has a check of its own
        expect_equal_or_named(got, expected, lambda: [
            ("This is x.reshape(B, num_heads, L, Dh) without the transpose: it mixes tokens with heads "
             "(head 0 gets the first tokens). Reshape to [B, L, num_heads, Dh] first, then transpose(1, 2)",
             case.x.reshape(batch, heads, length, head_dim)),
            ("Head h holds the strided features h, h + num_heads, h + 2*num_heads...: each head must get a "
             "contiguous block of Dh features, so reshape to [B, L, num_heads, Dh] (not [B, L, Dh, num_heads])",
             case.x.reshape(batch, length, head_dim, heads).permute(0, 3, 1, 2)),
        ], what="the heads", hint=SPLIT_HINT)


@split_heads.check(
    "is undone by merge_heads: merge_heads(split_heads(x)) == x",
    points=1,
    examples=10,
    hint="split_heads must only rearrange the features (no arithmetic), in the layout merge_heads undoes",
    case=split_cases(),
)
def split_round_trip(student, case):
    got = expect_tensor(student(case.x, case.num_heads))
    batch, length, d_model = case.x.shape
    expect_shape(got, (batch, case.num_heads, length, d_model // case.num_heads))
    expect_equal(ref.merge_heads(got), case.x, what="merge_heads(split_heads(x))", hint=SPLIT_HINT)


@split_heads.check(
    "raises ValueError when D is not divisible by num_heads",
    points=1,
    examples=1,
    hint="check D % num_heads first and `raise ValueError(...)` saying which sizes do not fit",
)
def split_errors(student):
    x = gs.random_tensor((2, 3, 10), 0)
    with expect_raises(ValueError, "for D = 10 and num_heads = 4 (10 % 4 != 0)"):
        student(x, 4)
    with expect_raises(ValueError, "for D = 10 and num_heads = 3 (10 % 3 != 0)"):
        student(x, 3)
    expect_shape(student(x, 5), (2, 5, 3, 2), "split_heads(x, 5) for D = 10")


@split_heads.check(
    "passes gradients straight through (a pure rearrangement)",
    points=1,
    examples=3,
    hint="use reshape/view/transpose only: no .detach(), no copying values into a new tensor by hand",
    case=split_cases(),
)
def split_gradient(student, case):
    expect_gradients(student, case.x, case.num_heads)


# ============================================================================ merge_heads


@merge_heads.check(
    "returns [B, L, num_heads * Dh] in the input's dtype",
    points=1,
    examples=10,
    hint=MERGE_HINT,
    case=merge_cases(),
)
def merge_shape(student, case):
    batch, heads, length, head_dim = case.x.shape
    got = student(case.x)
    expect_shape(got, (batch, length, heads * head_dim))
    expect_dtype(got, case.x.dtype)


@merge_heads.check(
    "puts head h in features h*Dh:(h+1)*Dh of every token (B, L, heads, Dh all different)",
    points=2,
    examples=15,
    hint=MERGE_HINT,
    case=merge_cases(),
)
def merge_layout(student, case):
    batch, heads, length, head_dim = case.x.shape
    got = expect_tensor(student(case.x))
    expected = ref.merge_heads(case.x)
    expect_shape(got, expected.shape)
    if not torch.equal(got, expected):  # values only: the dtype has a check of its own
        expect_equal_or_named(got, expected, lambda: [
            ("This is x.reshape(B, L, D) without the transpose: it mixes tokens with heads. Transpose "
             "[B, h, L, Dh] to [B, L, h, Dh] first, then reshape",
             case.x.reshape(batch, length, heads * head_dim)),
            ("The features are interleaved (feature j*h + head): keep each head's Dh features together, "
             "i.e. transpose to [B, L, h, Dh], not [B, L, Dh, h]",
             case.x.permute(0, 2, 3, 1).reshape(batch, length, heads * head_dim)),
            ("The heads are in reverse order: head 0 must come first (features 0:Dh)",
             case.x.flip(1).transpose(1, 2).reshape(batch, length, heads * head_dim)),
        ], what="the merged features", hint=MERGE_HINT)


@merge_heads.check(
    "undoes split_heads: merge_heads(split_heads(x)) == x",
    points=1,
    examples=10,
    hint="merge_heads is the exact inverse of split_heads: only rearrange, never add or scale",
    case=split_cases(),
)
def merge_round_trip(student, case):
    got = student(ref.split_heads(case.x, case.num_heads))
    expect_equal(got, case.x, what="merge_heads(split_heads(x))", hint=MERGE_HINT)


@merge_heads.check(
    "passes gradients straight through (a pure rearrangement)",
    points=1,
    examples=3,
    hint="use transpose and reshape only: no .detach(), no copying values into a new tensor by hand",
    case=merge_cases(),
)
def merge_gradient(student, case):
    expect_gradients(student, case.x)


# =================================================================== multi_head_attention


@dataclass
class MHACase:
    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    num_heads: int
    w_q: torch.Tensor
    w_k: torch.Tensor
    w_v: torch.Tensor
    w_o: torch.Tensor
    b_q: torch.Tensor | None
    b_k: torch.Tensor | None
    b_v: torch.Tensor | None
    b_o: torch.Tensor | None
    mask: torch.Tensor | None = None

    def args(self) -> tuple:
        return (self.query, self.key, self.value, self.num_heads, self.w_q, self.w_k, self.w_v, self.w_o,
                self.b_q, self.b_k, self.b_v, self.b_o)


MASK_KINDS = ("[Lq, Lk] causal-like", "[B, 1, 1, Lk] padding", "[B, num_heads, Lq, Lk]")


def _one_true_per_row(shape, seed: int, p_true: float = 0.5) -> torch.Tensor:
    """A random bool mask whose every row (last axis) has at least one True."""
    mask = gs.bool_masks(shape, seed, p_true)
    keep = gs.random_ints(tuple(shape[:-1]) + (1,), seed + 1, 0, shape[-1])
    return mask.scatter(-1, keep, True)


def _mask(kind: str, batch: int, heads: int, lq: int, lk: int, seed: int) -> torch.Tensor:
    if kind == "[Lq, Lk] causal-like":
        rows = torch.arange(lq)[:, None] + max(lk - lq, 0)
        causal = torch.arange(lk)[None, :] <= rows  # query i sees keys up to its own position
        return causal
    if kind == "[B, 1, 1, Lk] padding":
        lengths = gs.random_ints((batch,), seed, 1, lk + 1)
        return (torch.arange(lk)[None, :] < lengths[:, None])[:, None, None, :]
    return _one_true_per_row((batch, heads, lq, lk), seed)


@st.composite
def mha_cases(draw, biases: str = "all", masks: bool = False, dtypes=None):
    """heads >= 2, Lq != Lk, key != value, non-zero biases (or a drawn subset of None)."""
    batch = draw(gs.sizes(2, 3))
    lq, lk = draw(gs.distinct_sizes(2, 2, 5))
    heads = draw(gs.sizes(2, 4))
    head_dim = draw(gs.sizes(2, 4))
    d_model = heads * head_dim
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    seed = draw(gs.seeds())
    tensor = lambda shape, offset, scale=1.0: gs.random_tensor(shape, seed + offset, dtype, scale)  # noqa: E731
    weights = [tensor((d_model, d_model), 3 + i, 1 / math.sqrt(d_model)) for i in range(4)]
    if biases == "all":
        present = (True, True, True, True)
    else:
        present = draw(st.tuples(*[st.booleans()] * 4).filter(lambda p: not all(p)))
    bias = [tensor((d_model,), 7 + i, 0.5) if present[i] else None for i in range(4)]
    mask = None
    if masks:
        mask = _mask(draw(st.sampled_from(MASK_KINDS)), batch, heads, lq, lk, seed + 11)
    return MHACase(tensor((batch, lq, d_model), 0), tensor((batch, lk, d_model), 1), tensor((batch, lk, d_model), 2),
                   heads, *weights, *bias, mask)


_ORACLES: dict[tuple[int, int], torch.nn.MultiheadAttention] = {}


def torch_mha(case: MHACase) -> tuple[torch.Tensor, torch.Tensor]:
    """The independent oracle: torch.nn.MultiheadAttention in float64, inverted mask, per-head weights."""
    d_model, heads = case.query.shape[-1], case.num_heads
    module = _ORACLES.get((d_model, heads))
    if module is None:
        with torch.random.fork_rng(devices=[]):  # its initialisation must not touch the global RNG
            module = torch.nn.MultiheadAttention(d_model, heads, batch_first=True, dtype=torch.float64)
        _ORACLES[(d_model, heads)] = module
    f64 = lambda t, size=d_model: (  # noqa: E731
        torch.zeros(size, dtype=torch.float64) if t is None else t.detach().to(torch.float64)
    )
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.cat([f64(case.w_q), f64(case.w_k), f64(case.w_v)]))
        module.in_proj_bias.copy_(torch.cat([f64(case.b_q), f64(case.b_k), f64(case.b_v)]))
        module.out_proj.weight.copy_(f64(case.w_o))
        module.out_proj.bias.copy_(f64(case.b_o))
        attn_mask = None
        batch, lq, lk = case.query.shape[0], case.query.shape[1], case.key.shape[1]
        if case.mask is not None:
            attn_mask = ~case.mask.expand(batch, heads, lq, lk).reshape(batch * heads, lq, lk)
        out, weights = module(f64(case.query), f64(case.key), f64(case.value), attn_mask=attn_mask,
                              need_weights=True, average_attn_weights=False)
    return out, weights


def _variant(case: MHACase, *, scale_dim: int | None = None, swap_kv: bool = False, w_o: str = "w_o.T",
             drop_b_v: bool = False, invert_mask: bool = False, proj: str = "w.T") -> tuple[torch.Tensor, torch.Tensor]:
    """A float64 multi-head attention with one classic mistake, to name what the student did."""
    (query, key, value, heads, w_q, w_k, w_v, w_o_, b_q, b_k, b_v, b_o), _ = in_float64(*case.args())
    linear = lambda x, w, b: (x @ (w.T if proj == "w.T" else w)) + (0 if b is None else b)  # noqa: E731
    q = linear(query, w_q, b_q)
    k = linear(key, w_v if swap_kv else w_k, b_v if swap_kv else b_k)
    v = linear(value, w_k if swap_kv else w_v, None if drop_b_v else (b_k if swap_kv else b_v))
    qh, kh, vh = (ref.split_heads(t, heads) for t in (q, k, v))
    scores = qh @ kh.transpose(-2, -1) / math.sqrt(scale_dim or qh.shape[-1])
    if case.mask is not None:
        scores = torch.where(~case.mask if invert_mask else case.mask, scores, float("-inf"))
    weights = torch.softmax(scores, -1).nan_to_num(0.0)
    merged = ref.merge_heads(weights @ vh)
    out = {"w_o.T": merged @ w_o_.T, "w_o": merged @ w_o_, "none": merged, "b_o only": merged}[w_o]
    if b_o is not None and w_o != "none":
        out = out + b_o
    return out, weights


def _mha_explanations(case: MHACase) -> list[tuple[str, Callable[[], tuple[torch.Tensor, torch.Tensor]]]]:
    d_model, heads = case.query.shape[-1], case.num_heads
    found = [
        (f"The scores are divided by sqrt(D) = sqrt({d_model}): scale by sqrt(d_k) = sqrt(D / num_heads) = "
         f"sqrt({d_model // heads}), the per-head dimension, not sqrt(D)",
         lambda: _variant(case, scale_dim=d_model)),
        ("The output projection is applied as merged @ w_o: weights follow nn.Linear, so use merged @ w_o.T + b_o",
         lambda: _variant(case, w_o="w_o")),
        ("The output projection is missing: after merging the heads, output = merged @ w_o.T + b_o",
         lambda: _variant(case, w_o="none")),
        ("The output projection w_o is missing (only b_o is added): output = merged @ w_o.T + b_o",
         lambda: _variant(case, w_o="b_o only")),
        ("The projections use x @ w instead of x @ w.T: weights follow nn.Linear (y = x @ W.T + b)",
         lambda: _variant(case, proj="w")),
        ("The key and value projections are swapped: K = key @ w_k.T + b_k and V = value @ w_v.T + b_v",
         lambda: _variant(case, swap_kv=True)),
        ("b_v is ignored: V = value @ w_v.T + b_v", lambda: _variant(case, drop_b_v=True)),
    ]
    if case.mask is not None:
        found.append(("The mask polarity is inverted: here True means 'may attend' (pass the mask as it is); only "
                      "nn.MultiheadAttention wants ~mask", lambda: _variant(case, invert_mask=True)))
    return found


def _check_mha(student, case: MHACase, expected: tuple[torch.Tensor, torch.Tensor], against: str) -> torch.Tensor:
    result = student(*case.args(), mask=case.mask)
    out, weights = expect_tuple(result, 2, "the result (output, weights)")
    batch, lq, d_model = case.query.shape
    lk = case.key.shape[1]
    expect_tensor(weights, "the weights")
    if tuple(weights.shape) == (batch, lq, lk):
        raise CheckFailed(
            f"the weights have shape {list(weights.shape)}: they are averaged over the heads. Return the "
            f"per-head weights [B, num_heads, Lq, Lk] = {[batch, case.num_heads, lq, lk]}",
            hint="return the weights of scaled dot-product attention on the split heads as they are "
            "(nn.MultiheadAttention's average_attn_weights=False)",
        )
    expect_shape(out, (batch, lq, d_model), "the output")
    expect_shape(weights, (batch, case.num_heads, lq, lk), "the weights")
    expect_dtype(out, case.query.dtype, "the output")
    expect_dtype(weights, case.query.dtype, "the weights")
    for index, (got, what) in enumerate(((out, "the output"), (weights, "the weights"))):
        mistakes = lambda i=index: [(m, lambda b=b: b()[i]) for m, b in _mha_explanations(case)]  # noqa: E731
        # matched to a mistake within 10 tolerances (5 times the comparison's 2)
        expect_close_or_named(got, expected[index], mistakes, what=f"{what} (compared with {against})",
                              hint=MHA_HINT, scale=2.0, match_scale=5.0)
    return weights


@multi_head_attention.check(
    "matches torch.nn.MultiheadAttention (output and per-head weights), heads >= 2, Lq != Lk, key != value",
    points=2,
    examples=12,
    hint=MHA_HINT,
    case=mha_cases(),
)
def mha_matches_torch(student, case):
    _check_mha(student, case, torch_mha(case), "torch.nn.MultiheadAttention")


@multi_head_attention.check(
    "works when some or all biases are None",
    points=1,
    examples=8,
    hint="a bias given as None means no bias: add b only `if b is not None`",
    case=mha_cases(biases="some None"),
    edges={"all four biases None": lambda case: all(b is None for b in (case.b_q, case.b_k, case.b_v, case.b_o))},
)
def mha_no_bias(student, case):
    args64, _ = in_float64(*case.args())
    _check_mha(student, case, ref.multi_head_attention(*args64), "the reference")


@multi_head_attention.check(
    "applies a mask broadcast from [Lq, Lk] or [B, 1, 1, Lk] (True = may attend); blocked weights are 0",
    points=1.5,
    examples=12,
    hint="pass the mask to scaled dot-product attention on the split heads [B, h, Lq, Lk]: it broadcasts. "
    "True means 'may attend' (nn.MultiheadAttention's attn_mask is the opposite)",
    case=mha_cases(masks=True),
    edges={
        "a [B, 1, 1, Lk] padding mask": lambda case: case.mask.dim() == 4 and case.mask.shape[1] == 1,
        "a per-head [B, num_heads, Lq, Lk] mask": lambda case: case.mask.dim() == 4 and case.mask.shape[1] > 1,
    },
)
def mha_masks(student, case):
    weights = _check_mha(student, case, torch_mha(case), "torch.nn.MultiheadAttention with attn_mask=~mask")
    blocked = ~case.mask.expand(weights.shape)
    leak = weights[blocked].abs().max().item() if bool(blocked.any()) else 0.0
    expect_true(leak == 0.0, f"a blocked key (mask False) got weight {leak:.3g} instead of exactly 0")


@multi_head_attention.check(
    "has the right gradients with respect to the inputs, weights and biases",
    points=1,
    examples=3,
    hint="use differentiable torch operations only: no .detach(), no NumPy, no in-place writes",
    case=st.one_of(mha_cases(dtypes=st.just(torch.float64)),
                   mha_cases(masks=True, dtypes=st.just(torch.float64))),
)
def mha_gradients(student, case):
    expect_gradients(student, *case.args(), mask=case.mask)

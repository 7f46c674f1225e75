"""Checks for blocks.encoder_block and blocks.decoder_block.

Values are compared with the float64 reference, which tests/test_reference_blocks.py holds
equal to ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` (dropout 0,
batch_first, masks inverted). When a result is wrong, a float64 block built from PyTorch's
functional pieces with one classic mistake switched on (``_torch_block``) names the
mistake the student made.
Sizes are tiny (a block runs two or three attentions) and always expose layout bugs:
heads >= 2, L != M, F != D, norm weights and biases far from 1 and 0.
"""

from __future__ import annotations

import itertools
import math
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
    matches,
    strategies as gs,
)
from solutions import blocks as ref

POSITION = 11

# Every exercise a block's code may call (directly or through them): a mistake there is
# charged to that exercise, and the reference replaces it while the block is graded.
BUILDS_ON = [
    "multihead.multi_head_attention",
    "multihead.split_heads",
    "multihead.merge_heads",
    "attention.scaled_dot_product_attention",
    "attention.softmax",
    "normalization.layer_norm",
    "feedforward.feed_forward",
    "feedforward.gelu",
]

encoder_block = exercise("blocks.encoder_block", reference=ref.encoder_block, uses=BUILDS_ON)
decoder_block = exercise("blocks.decoder_block", reference=ref.decoder_block, uses=BUILDS_ON)

ENCODER_HINT = (
    "post-norm: x = LN1(x + SA(x)); x = LN2(x + FFN(x)). Pre-norm (norm_first=True): "
    "x = x + SA(LN1(x)); x = x + FFN(LN2(x)). SA(h) = multi_head_attention(h, h, h, num_heads, w_q, w_k, "
    "w_v, w_o, b_q, b_k, b_v, b_o, mask=mask)[0], FFN(h) = feed_forward(h, w_1, b_1, w_2, b_2, activation), "
    "LNk(h) = layer_norm(h, normk_weight, normk_bias, eps)"
)
DECODER_HINT = (
    "post-norm: x = LN1(x + SA(x)); x = LN2(x + CA(x)); x = LN3(x + FFN(x)). Pre-norm: x = x + SA(LN1(x)); "
    "x = x + CA(LN2(x)); x = x + FFN(LN3(x)). SA uses w_*, b_* and self_mask; CA(h) = "
    "multi_head_attention(h, memory, memory, num_heads, cross_w_q, ..., cross_b_o, mask=memory_mask)[0] "
    "(queries from the decoder, keys and values from memory, which is never normalised)"
)
GRADIENT_HINT = (
    "use differentiable torch operations only: no .detach(), no NumPy, and no in-place updates such as "
    "x += ... (build x = x + ... instead); every tensor of params must reach the output"
)

#: Tolerance factor on top of the dtype's (float32: rtol 1e-4, atol 1e-5). A float32 block
#: goes through two or three layer norms; over 1200 drawn cases the float32 reference's
#: worst error was 0.11 of the unscaled tolerance, so 2 leaves a wide margin.
SCALE = 2.0
DEFAULT_EPS = 1e-5


# ------------------------------------------------------------------------------ cases


def _layout(d: int, f: int, decoder: bool) -> list[tuple[str, tuple[int, ...], float, float]]:
    """(key, shape, scale, shift) of every tensor of a block's params, in the contract's order."""
    layout = []
    for prefix in ("", "cross_") if decoder else ("",):
        layout += [(f"{prefix}w_{n}", (d, d), 1 / math.sqrt(d), 0.0) for n in "qkvo"]
        layout += [(f"{prefix}b_{n}", (d,), 0.5, 0.0) for n in "qkvo"]
    layout += [("w_1", (f, d), 1 / math.sqrt(d), 0.0), ("b_1", (f,), 0.5, 0.0),
               ("w_2", (d, f), 1 / math.sqrt(f), 0.0), ("b_2", (d,), 0.5, 0.0)]
    for k in (1, 2, 3) if decoder else (1, 2):
        layout += [(f"norm{k}_weight", (d,), 0.5, 1.0), (f"norm{k}_bias", (d,), 0.5, 0.0)]
    return layout


def block_params(d_model: int, d_ff: int, seed: int, dtype: torch.dtype, decoder: bool) -> dict[str, torch.Tensor]:
    """The weights of a block (a fresh dict of fresh tensors on every call), from one seeded draw.

    Attention and feed-forward weights have the usual 1/sqrt(fan_in) scale, so that the
    attention patterns are neither uniform nor one-hot; biases are far from 0 and the
    norms' weights far from 1 (1 + 0.5 N(0, 1)), so that forgetting one of them shows.
    """
    layout = _layout(d_model, d_ff, decoder)
    sizes = [math.prod(shape) for _, shape, _, _ in layout]
    chunks = gs.random_tensor((sum(sizes),), seed, dtype).split(sizes)
    params: dict[str, torch.Tensor] = {}
    for (key, shape, scale, shift), chunk in zip(layout, chunks):
        tensor = chunk.reshape(shape) * scale  # a tensor of its own (not a view of the draw)
        params[key] = tensor.add_(shift) if shift else tensor
    return params


@dataclass
class EncoderCase:
    x: torch.Tensor
    num_heads: int
    d_ff: int
    params_seed: int  # params = block_params(D, d_ff, params_seed, x.dtype, decoder=False)
    mask: torch.Tensor | None
    norm_first: bool
    activation: str
    eps: float

    def params(self) -> dict[str, torch.Tensor]:
        return block_params(self.x.shape[-1], self.d_ff, self.params_seed, self.x.dtype, decoder=False)

    def kwargs(self) -> dict:
        """The keyword arguments, defaults left out (so that the defaults are used too)."""
        found: dict = {}
        if self.mask is not None:
            found["mask"] = self.mask
        if self.norm_first:
            found["norm_first"] = True
        if self.activation != "relu":
            found["activation"] = self.activation
        if self.eps != DEFAULT_EPS:
            found["eps"] = self.eps
        return found


@dataclass
class DecoderCase:
    x: torch.Tensor
    memory: torch.Tensor
    num_heads: int
    d_ff: int
    params_seed: int  # params = block_params(D, d_ff, params_seed, x.dtype, decoder=True)
    self_mask: torch.Tensor | None
    memory_mask: torch.Tensor | None
    norm_first: bool
    activation: str
    eps: float

    def params(self) -> dict[str, torch.Tensor]:
        return block_params(self.x.shape[-1], self.d_ff, self.params_seed, self.x.dtype, decoder=True)

    def kwargs(self) -> dict:
        found: dict = {}
        if self.self_mask is not None:
            found["self_mask"] = self.self_mask
        if self.memory_mask is not None:
            found["memory_mask"] = self.memory_mask
        if self.norm_first:
            found["norm_first"] = True
        if self.activation != "relu":
            found["activation"] = self.activation
        if self.eps != DEFAULT_EPS:
            found["eps"] = self.eps
        return found


def _one_true_per_row(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """A random bool mask whose every row (last axis) has at least one True."""
    mask = gs.bool_masks(shape, seed, 0.5)
    keep = gs.random_ints(tuple(shape[:-1]) + (1,), seed + 1, 0, shape[-1])
    return mask.scatter(-1, keep, True)


def _causal(lq: int, lk: int) -> torch.Tensor:
    return torch.arange(lk)[None, :] <= torch.arange(lq)[:, None] + (lk - lq)


def _padding(batch: int, length: int, seed: int) -> torch.Tensor:
    """``[B, 1, 1, length]``: True for the first ``n_b >= 1`` positions of row b, at least one row padded."""
    lengths = gs.random_ints((batch,), seed, 1, length)
    lengths[-1] = max(1, length - 1) if length > 1 else 1
    return (torch.arange(length)[None, :] < lengths[:, None])[:, None, None, :]


ENCODER_MASKS = ("[L, L] causal", "[B, 1, 1, L] padding", "[B, num_heads, L, L]")
#: (self_mask, memory_mask) kinds drawn together
DECODER_MASKS = (
    ("[L, L] causal", "[B, 1, 1, M] padding"),
    ("[L, L] causal", "none"),
    ("none", "[B, 1, 1, M] padding"),
    ("[B, num_heads, L, L]", "[B, num_heads, L, M]"),
    ("[L, L] causal", "[L, M]"),
    ("none", "[B, num_heads, L, M]"),
)


def _mask(kind: str, batch: int, heads: int, lq: int, lk: int, seed: int) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind.endswith("causal"):
        return _causal(lq, lk)
    if kind.endswith("padding"):
        return _padding(batch, lk, seed)
    if kind.startswith("[B, num_heads"):
        return _one_true_per_row((batch, heads, lq, lk), seed)
    return _one_true_per_row((lq, lk), seed)


@st.composite
def _sizes(draw: st.DrawFn) -> tuple[int, int, int]:
    """(num_heads, D, F): heads >= 2, D <= 8, F != D."""
    heads = draw(st.integers(2, 3))
    head_dim = draw(st.integers(2, 8 // heads))
    d_model = heads * head_dim
    d_ff = draw(st.integers(3, 10).filter(lambda f: f != d_model))
    return heads, d_model, d_ff


@st.composite
def encoder_cases(draw: st.DrawFn, norm_first: bool | None = None, masks: bool = False, dtypes=None) -> EncoderCase:
    heads, d_model, d_ff = draw(_sizes())
    batch, length = 2, draw(st.integers(2, 4))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    seed = draw(gs.seeds())
    first = draw(st.booleans()) if norm_first is None else norm_first
    activation = draw(st.sampled_from(["relu", "gelu"]))
    eps = draw(st.sampled_from([DEFAULT_EPS, 0.1]))
    mask = None
    if masks:
        mask = _mask(draw(st.sampled_from(ENCODER_MASKS)), batch, heads, length, length, seed + 7)
    x = gs.random_tensor((batch, length, d_model), seed, dtype)
    return EncoderCase(x, heads, d_ff, seed + 1000, mask, first, activation, eps)


@st.composite
def decoder_cases(draw: st.DrawFn, norm_first: bool | None = None, masks: bool = False, dtypes=None) -> DecoderCase:
    heads, d_model, d_ff = draw(_sizes())
    batch = 2
    length, memory_length = draw(gs.distinct_sizes(2, 2, 4))
    dtype = draw(dtypes if dtypes is not None else gs.float_dtypes())
    seed = draw(gs.seeds())
    first = draw(st.booleans()) if norm_first is None else norm_first
    activation = draw(st.sampled_from(["relu", "gelu"]))
    eps = draw(st.sampled_from([DEFAULT_EPS, 0.1]))
    self_mask = memory_mask = None
    if masks:
        kinds = draw(st.sampled_from(DECODER_MASKS))
        self_mask = _mask(kinds[0], batch, heads, length, length, seed + 7)
        memory_mask = _mask(kinds[1], batch, heads, length, memory_length, seed + 9)
    x = gs.random_tensor((batch, length, d_model), seed, dtype)
    memory = gs.random_tensor((batch, memory_length, d_model), seed + 1, dtype)
    return DecoderCase(x, memory, heads, d_ff, seed + 1000, self_mask, memory_mask, first, activation, eps)


# ------------------------------------------------------------------------------ oracles


def _f64(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().to(torch.float64) for key, value in params.items()}


def _blocked(mask: torch.Tensor | None, batch: int, heads: int, lq: int, lk: int) -> torch.Tensor | None:
    """Our mask (True = may attend) as PyTorch's 3-D attn_mask (True = blocked), batch-major."""
    if mask is None:
        return None
    return ~mask.expand(batch, heads, lq, lk).reshape(batch * heads, lq, lk)


def reference_encoder(case: EncoderCase, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """The reference in float64 (tests/test_reference_blocks.py: equal to nn.TransformerEncoderLayer)."""
    (x, params64), kwargs = in_float64(case.x, params, **case.kwargs())
    return ref.encoder_block(x, params64, case.num_heads, **kwargs)


def reference_decoder(case: DecoderCase, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """The reference in float64 (equal to nn.TransformerDecoderLayer)."""
    (x, memory, params64), kwargs = in_float64(case.x, case.memory, params, **case.kwargs())
    return ref.decoder_block(x, memory, params64, case.num_heads, **kwargs)


# ----------------------------------------------------------------- known mistakes, named


def _torch_block(
    x: torch.Tensor,
    memory: torch.Tensor | None,
    params: dict[str, torch.Tensor],
    heads: int,
    *,
    self_mask: torch.Tensor | None,
    memory_mask: torch.Tensor | None,
    norm_first: bool,
    activation: str,
    eps: float,
    wiring: str = "right",
    norms: tuple[int, ...] = (1, 2, 3),
    cross_from_stream: bool = False,
    cross_prefix: str = "cross_",
    normalise_memory: bool = False,
    ffn_before_cross: bool = False,
) -> torch.Tensor:
    """A float64 block from PyTorch's functional pieces, with one classic mistake switched on.

    ``wiring``: "right", "residual outside the norm" (post-norm LN(x) + f(x)), "stream
    normalised" (pre-norm x = LN(x); x = x + f(x)) or "no residual". ``norms[k - 1]`` is
    the norm whose weights sub-layer k uses.
    """
    p = _f64(params)
    x = x.detach().to(torch.float64)
    batch, _, d_model = x.shape

    def attend(h: torch.Tensor, source: torch.Tensor, prefix: str, allowed: torch.Tensor | None) -> torch.Tensor:
        blocked = _blocked(allowed, batch, heads, h.shape[1], source.shape[1])
        out, _ = F.multi_head_attention_forward(
            h.transpose(0, 1), source.transpose(0, 1), source.transpose(0, 1), d_model, heads,
            torch.cat([p[prefix + "w_" + n] for n in "qkv"]), torch.cat([p[prefix + "b_" + n] for n in "qkv"]),
            None, None, False, 0.0, p[prefix + "w_o"], p[prefix + "b_o"],
            training=False, need_weights=False, attn_mask=blocked,
        )
        return out.transpose(0, 1)

    def normed(h: torch.Tensor, k: int) -> torch.Tensor:
        which = norms[k - 1]
        return F.layer_norm(h, (d_model,), p[f"norm{which}_weight"], p[f"norm{which}_bias"], eps)

    act = F.gelu if activation == "gelu" else F.relu
    feed = lambda h: F.linear(act(F.linear(h, p["w_1"], p["b_1"])), p["w_2"], p["b_2"])  # noqa: E731

    def cross(h: torch.Tensor, k: int) -> torch.Tensor:
        source = h if cross_from_stream else memory.detach().to(torch.float64)
        if normalise_memory and not cross_from_stream:
            source = normed(source, k)
        return attend(h, source, cross_prefix, None if cross_from_stream else memory_mask)

    steps: list[Callable[[torch.Tensor, int], torch.Tensor]] = [lambda h, k: attend(h, h, "", self_mask)]
    if memory is not None:
        steps.append(cross)
    steps.insert(len(steps) - 1 if ffn_before_cross else len(steps), lambda h, k: feed(h))
    for k, step in enumerate(steps, start=1):
        if norm_first:
            if wiring == "stream normalised":
                x = normed(x, k)
                x = x + step(x, k)
            elif wiring == "no residual":
                x = step(normed(x, k), k)
            else:
                x = x + step(normed(x, k), k)
        elif wiring == "residual outside the norm":
            x = normed(x, k) + step(x, k)
        elif wiring == "no residual":
            x = normed(step(x, k), k)
        else:
            x = normed(x + step(x, k), k)
    return x


#: (what the student did, how to compute its result) pairs
Mistakes = list[tuple[str, Callable[[], torch.Tensor]]]


def _common_mistakes(build: Callable[..., torch.Tensor], norm_first: bool, activation: str, eps: float,
                     norm_count: int) -> Mistakes:
    sublayers = "SA, then CA, then FFN" if norm_count == 3 else "SA, then FFN"
    if norm_first:
        swapped = ("This is the post-norm block (x = LN1(x + SA(x)), ...), but norm_first=True asks for pre-norm: "
                   "x = x + SA(LN1(x)), normalising only what goes into each sub-layer")
    else:
        swapped = ("This is the pre-norm block (x = x + SA(LN1(x)), ...), but norm_first=False (the default) asks "
                   "for post-norm: x = LN1(x + SA(x)), normalising the sum after each sub-layer")
    found = [
        (swapped, lambda: build(norm_first=not norm_first)),
        ("The residual is added outside the norm (x = LN(x) + SA(x)): post-norm normalises the sum, "
         "x = LN1(x + SA(x))", lambda: build(wiring="residual outside the norm")),
        ("The stream itself is normalised (x = LN1(x); x = x + SA(x)): pre-norm adds the sub-layer's output to "
         "the un-normalised x, x = x + SA(LN1(x))", lambda: build(wiring="stream normalised")),
        ("The residual connections are missing: each sub-layer's input is added back to its output "
         "(x + SA(...))", lambda: build(wiring="no residual")),
        ("norm1's weight and bias are used for every layer norm: sub-layer k has its own normk_weight and "
         f"normk_bias ({sublayers} use norm1, norm2{', norm3' if norm_count == 3 else ''})",
         lambda: build(norms=(1, 1, 1))),
    ]
    names = ("SA", "CA", "FFN") if norm_count == 3 else ("SA", "FFN")
    for order in itertools.permutations(range(1, norm_count + 1)):
        if list(order) != sorted(order):
            used = ", ".join(f"{name} uses norm{k}" for name, k in zip(names, order))
            right = ", ".join(f"norm{k}" for k in range(1, norm_count + 1))
            found.append((f"The layer norms are mixed up ({used}): {sublayers} use {right}, in that order",
                          lambda order=order: build(norms=order + (3,) * (3 - norm_count))))
    if activation == "gelu":
        found.append(("The feed-forward network uses relu although activation='gelu': pass activation on to "
                      "feed_forward", lambda: build(activation="relu")))
    if eps != DEFAULT_EPS:
        found.append((f"The layer norms use eps=1e-5 instead of the eps given ({eps:g}): pass eps on to layer_norm",
                      lambda: build(eps=DEFAULT_EPS)))
    return found


def _mask_mistakes(name: str, mask: torch.Tensor | None, attention: str,
                   build: Callable[..., torch.Tensor]) -> Mistakes:
    if mask is None:
        return []
    return [
        (f"{name} is ignored: pass mask={name} to the {attention}'s multi_head_attention",
         lambda: build(**{name: None})),
        (f"{name}'s polarity is inverted: True means 'may attend' here (pass the mask as it is); only PyTorch's "
         "nn.Transformer*Layer wants ~mask", lambda: build(**{name: ~mask})),
    ]


def encoder_mistakes(case: EncoderCase, params: dict[str, torch.Tensor]) -> Mistakes:
    def build(**changes) -> torch.Tensor:
        settings = dict(self_mask=case.mask, memory_mask=None, norm_first=case.norm_first,
                        activation=case.activation, eps=case.eps)
        if "mask" in changes:
            changes["self_mask"] = changes.pop("mask")
        settings.update(changes)
        return _torch_block(case.x, None, params, case.num_heads, **settings)

    return (_common_mistakes(build, case.norm_first, case.activation, case.eps, 2)
            + _mask_mistakes("mask", case.mask, "self-attention", build))


def decoder_mistakes(case: DecoderCase, params: dict[str, torch.Tensor]) -> Mistakes:
    def build(**changes) -> torch.Tensor:
        settings = dict(self_mask=case.self_mask, memory_mask=case.memory_mask, norm_first=case.norm_first,
                        activation=case.activation, eps=case.eps)
        settings.update(changes)
        return _torch_block(case.x, case.memory, params, case.num_heads, **settings)

    found = _common_mistakes(build, case.norm_first, case.activation, case.eps, 3)
    found += [
        ("The cross-attention takes its keys and values from the decoder stream: only its queries come from x, "
         "its keys and values come from memory (multi_head_attention(h, memory, memory, ...))",
         lambda: build(cross_from_stream=True)),
        ("The cross-attention uses the self-attention's weights (w_q, ..., b_o): it has its own, cross_w_q, "
         "cross_w_k, cross_w_v, cross_w_o and cross_b_q, ..., cross_b_o", lambda: build(cross_prefix="")),
        ("The sub-layers are in the wrong order (feed-forward before cross-attention): self-attention, then "
         "cross-attention, then feed-forward", lambda: build(ffn_before_cross=True)),
        ("The sub-layers are in the wrong order (feed-forward before cross-attention, each with its own norm): "
         "self-attention with norm1, cross-attention with norm2, feed-forward with norm3",
         lambda: build(ffn_before_cross=True, norms=(1, 3, 2))),
    ]
    if case.norm_first:
        found.append(("memory is layer-normalised before the cross-attention: pre-norm normalises only the "
                      "decoder stream (the queries), never memory", lambda: build(normalise_memory=True)))
    found += _mask_mistakes("self_mask", case.self_mask, "self-attention", build)
    found += _mask_mistakes("memory_mask", case.memory_mask, "cross-attention", build)
    if case.self_mask is not None or case.memory_mask is not None:
        found.append(("self_mask and memory_mask are swapped: self_mask belongs to the self-attention ([L, L] "
                      "scores), memory_mask to the cross-attention ([L, M] scores)",
                      lambda: build(self_mask=case.memory_mask, memory_mask=case.self_mask)))
    return found


def _shape_of(mask: torch.Tensor | None) -> str:
    return "None" if mask is None else str(list(mask.shape))


def _call(student, args: tuple, kwargs: dict, hint: str) -> torch.Tensor:
    """The student's block; an error with both decoder masks given gets a word on where each goes."""
    try:
        return expect_tensor(student(*args, **kwargs))
    except StudentRaised as raised:
        if ("self_mask" in kwargs or "memory_mask" in kwargs) and not raised.is_a(ValueError):
            raise CheckFailed(
                f"raised {raised.summary()} with self_mask {_shape_of(kwargs.get('self_mask'))} and memory_mask "
                f"{_shape_of(kwargs.get('memory_mask'))} (L = {args[0].shape[1]}, M = {args[1].shape[1]}). If a "
                "mask does not fit: self_mask goes to the self-attention (scores [B, h, L, L]) and memory_mask to "
                "the cross-attention (scores [B, h, L, M]); multi_head_attention broadcasts each as it is",
                hint=hint,
            ) from None
        raise


def _check_encoder(student, case: EncoderCase, against: str) -> None:
    params = case.params()
    got = _call(student, (case.x, params, case.num_heads), case.kwargs(), ENCODER_HINT)
    expect_shape(got, case.x.shape, "the output ([B, L, D])")
    expect_dtype(got, case.x.dtype)
    expect_close_or_named(got, reference_encoder(case, params), lambda: encoder_mistakes(case, params),
                          what=f"the output (compared with {against})", hint=ENCODER_HINT, scale=SCALE)


def _check_decoder(student, case: DecoderCase, against: str) -> None:
    params = case.params()
    got = _call(student, (case.x, case.memory, params, case.num_heads), case.kwargs(), DECODER_HINT)
    expect_shape(got, case.x.shape, "the output ([B, L, D], the shape of x, not of memory)")
    expect_dtype(got, case.x.dtype)
    expect_close_or_named(got, reference_decoder(case, params), lambda: decoder_mistakes(case, params),
                          what=f"the output (compared with {against})", hint=DECODER_HINT, scale=SCALE)


_DTYPE_EDGES = {
    "float32": lambda case: case.x.dtype == torch.float32,
    "float64": lambda case: case.x.dtype == torch.float64,
    "activation='gelu'": lambda case: case.activation == "gelu",
    "an eps other than the default": lambda case: case.eps != DEFAULT_EPS,
}


# ============================================================================ encoder_block


@encoder_block.check(
    "post-norm (the default) matches nn.TransformerEncoderLayer, relu and gelu, float32 and float64",
    points=2,
    examples=8,
    hint=ENCODER_HINT,
    case=encoder_cases(norm_first=False),
    edges=_DTYPE_EDGES,
)
def encoder_post_norm(student, case):
    _check_encoder(student, case, "the float64 reference, equal to nn.TransformerEncoderLayer")


@encoder_block.check(
    "pre-norm (norm_first=True) matches nn.TransformerEncoderLayer(norm_first=True)",
    points=2,
    examples=8,
    hint=ENCODER_HINT,
    case=encoder_cases(norm_first=True),
    edges=_DTYPE_EDGES,
)
def encoder_pre_norm(student, case):
    _check_encoder(student, case, "the float64 reference, equal to nn.TransformerEncoderLayer(norm_first=True)")


@encoder_block.check(
    "applies the mask (True = may attend), broadcast from [L, L], [B, 1, 1, L] or [B, num_heads, L, L]",
    points=1.5,
    examples=8,
    hint="pass mask=mask to multi_head_attention as it is (it broadcasts to [B, num_heads, L, L]); True means "
    "'may attend' (PyTorch's src_mask is the opposite)",
    case=encoder_cases(masks=True),
    edges={
        "a [B, 1, 1, L] padding mask": lambda case: case.mask.dim() == 4 and case.mask.shape[1] == 1,
        "a per-head [B, num_heads, L, L] mask": lambda case: case.mask.dim() == 4 and case.mask.shape[1] > 1,
        "a causal [L, L] mask": lambda case: case.mask.dim() == 2,
    },
)
def encoder_masks(student, case):
    _check_encoder(student, case, "the float64 reference, equal to nn.TransformerEncoderLayer with src_mask=~mask")


def _zero_sublayers(params: dict[str, torch.Tensor], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The sub-layers' last projections set to zero: every sub-layer then outputs exactly 0."""
    zeroed = dict(params)
    for key in [p + name for p in prefixes for name in ("w_o", "b_o")] + ["w_2", "b_2"]:
        zeroed[key] = torch.zeros_like(params[key])
    return zeroed


IDENTITY_HINT = "pre-norm never normalises the stream: x = x + SA(LN1(x)), not x = LN1(x) + ..."


def _expect_identity(got: torch.Tensor, x: torch.Tensor, params: dict[str, torch.Tensor], eps: float,
                     norm_count: int) -> None:
    """``got`` is ``x``; if it is x pushed through every norm instead, say that the stream was normalised."""
    expected = x.detach().to(torch.float64)
    try:
        expect_close(got, expected, what="the output (expected x itself)", hint=IDENTITY_HINT)
    except CheckFailed as failure:
        p = _f64(params)
        normed = expected
        for k in range(1, norm_count + 1):
            normed = F.layer_norm(normed, (x.shape[-1],), p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
        if matches(got, normed, scale=10 * SCALE):
            chain = "(".join(f"LN{k}" for k in range(norm_count, 0, -1)) + "(x" + ")" * norm_count
            raise CheckFailed(
                f"{failure.message}. Your output is {chain}: the stream itself goes through the norms (as in "
                "post-norm, or x = LN(x) before a sub-layer). In pre-norm x only receives additions, "
                "x = x + f(LNk(x)), so sub-layers that output 0 leave it as it is",
                hint=IDENTITY_HINT, details=failure.details,
            ) from None
        raise


@encoder_block.check(
    "pre-norm with zero sub-layers (w_o, b_o, w_2, b_2 = 0) returns x unchanged (the residual stream)",
    points=1,
    examples=3,
    hint="in pre-norm, x = x + SA(LN1(x)) and x = x + FFN(LN2(x)): when both sub-layers output 0, x passes "
    "through untouched. Normalise only the sub-layers' inputs, never x itself",
    case=encoder_cases(norm_first=True),
)
def encoder_identity(student, case):
    params = _zero_sublayers(case.params(), ("",))
    got = _call(student, (case.x, params, case.num_heads), case.kwargs(), ENCODER_HINT)
    expect_shape(got, case.x.shape, "the output ([B, L, D])")
    _expect_identity(got, case.x, params, case.eps, 2)


@encoder_block.check(
    "has the right gradients with respect to x and every tensor of params",
    points=1,
    examples=3,
    hint=GRADIENT_HINT,
    case=encoder_cases(masks=True, dtypes=st.just(torch.float64)),
)
def encoder_gradients(student, case):
    expect_gradients(student, case.x, case.params(), case.num_heads, **case.kwargs())


# ============================================================================ decoder_block


@decoder_block.check(
    "post-norm (the default) matches nn.TransformerDecoderLayer (L != M), relu and gelu, float32 and float64",
    points=2,
    examples=8,
    hint=DECODER_HINT,
    case=decoder_cases(norm_first=False),
    edges=_DTYPE_EDGES,
)
def decoder_post_norm(student, case):
    _check_decoder(student, case, "the float64 reference, equal to nn.TransformerDecoderLayer")


@decoder_block.check(
    "pre-norm (norm_first=True) matches nn.TransformerDecoderLayer(norm_first=True); memory is not normalised",
    points=2,
    examples=8,
    hint=DECODER_HINT,
    case=decoder_cases(norm_first=True),
    edges=_DTYPE_EDGES,
)
def decoder_pre_norm(student, case):
    _check_decoder(student, case, "the float64 reference, equal to nn.TransformerDecoderLayer(norm_first=True)")


@decoder_block.check(
    "applies self_mask to the self-attention and memory_mask to the cross-attention (True = may attend)",
    points=1.5,
    examples=8,
    hint="self-attention: mask=self_mask (scores [B, h, L, L]); cross-attention: mask=memory_mask (scores "
    "[B, h, L, M]); pass them as they are (True = may attend; PyTorch's tgt_mask and memory_mask are the opposite)",
    case=decoder_cases(masks=True),
    edges={
        "both masks at once": lambda case: case.self_mask is not None and case.memory_mask is not None,
        "only self_mask": lambda case: case.memory_mask is None,
        "only memory_mask": lambda case: case.self_mask is None,
        "a [B, 1, 1, M] padding memory_mask": lambda case: case.memory_mask is not None
        and case.memory_mask.dim() == 4 and case.memory_mask.shape[1] == 1,
    },
)
def decoder_masks(student, case):
    _check_decoder(student, case, "the float64 reference, equal to nn.TransformerDecoderLayer with "
                   "tgt_mask=~self_mask and memory_mask=~memory_mask")


@decoder_block.check(
    "pre-norm with zero sub-layers (w_o, b_o, cross_w_o, cross_b_o, w_2, b_2 = 0) returns x unchanged",
    points=1,
    examples=3,
    hint="in pre-norm each sub-layer adds to the stream, x = x + f(LNk(x)): when all three output 0, x passes "
    "through untouched. Normalise only the sub-layers' inputs, never x itself",
    case=decoder_cases(norm_first=True),
)
def decoder_identity(student, case):
    params = _zero_sublayers(case.params(), ("", "cross_"))
    got = _call(student, (case.x, case.memory, params, case.num_heads), case.kwargs(), DECODER_HINT)
    expect_shape(got, case.x.shape, "the output ([B, L, D])")
    _expect_identity(got, case.x, params, case.eps, 3)


@st.composite
def padded_memory_cases(draw: st.DrawFn) -> DecoderCase:
    """A [B, 1, 1, M] padding memory_mask whose last row hides at least one memory position."""
    case = draw(decoder_cases())
    batch, memory_length = case.memory.shape[:2]
    case.memory_mask = _padding(batch, memory_length, case.params_seed + 5)
    return case


@decoder_block.check(
    "a memory position masked out for every query (padding) cannot change the output",
    points=1,
    examples=3,
    hint="the cross-attention must apply memory_mask (True = may attend) to the keys and values from memory: "
    "a padded encoder position may not influence the decoder",
    case=padded_memory_cases(),
)
def decoder_memory_padding(student, case):
    params = case.params()
    before = _call(student, (case.x, case.memory, params, case.num_heads), case.kwargs(), DECODER_HINT)
    expect_shape(before, case.x.shape, "the output ([B, L, D])")
    row = case.x.shape[0] - 1
    hidden = ~case.memory_mask[row, 0, 0]
    changed = case.memory.clone()
    changed[row, hidden] = changed[row, hidden] * -3.0 + 5.0
    after = _call(student, (case.x, changed, params, case.num_heads), case.kwargs(), DECODER_HINT)
    positions = [int(i) for i in hidden.nonzero().flatten()]
    expect_close(after, before.detach().to(torch.float64), dtype=before.dtype,
                 what=f"the output after changing memory[{row}] at its masked-out positions {positions} "
                 "(compared with your output before the change)",
                 hint="memory_mask[b, ..., j] = False means that no query may attend memory position j: pass "
                 "mask=memory_mask to the cross-attention, as it is (True = may attend)")


@st.composite
def causal_cases(draw: st.DrawFn) -> tuple[DecoderCase, int]:
    case = draw(decoder_cases())
    case.self_mask = _causal(case.x.shape[1], case.x.shape[1])
    case.memory_mask = None
    return case, draw(st.integers(1, case.x.shape[1] - 1))


@decoder_block.check(
    "with a causal self_mask, changing token t changes no output before t (and changes output t)",
    points=1,
    examples=3,
    hint="pass mask=self_mask to the self-attention (True = may attend): position i may only look at "
    "positions <= i, so the future cannot leak into the past",
    case_and_t=causal_cases(),
    edges={"t = L - 1 (only the last token changes)": lambda case_and_t: case_and_t[1] == case_and_t[0].x.shape[1] - 1},
)
def decoder_causality(student, case_and_t):
    case, t = case_and_t
    params = case.params()
    before = _call(student, (case.x, case.memory, params, case.num_heads), case.kwargs(), DECODER_HINT)
    expect_shape(before, case.x.shape, "the output ([B, L, D])")
    changed = case.x.clone()
    changed[:, t] = changed[:, t] * -3.0 + 2.0
    after = _call(student, (changed, case.memory, params, case.num_heads), case.kwargs(), DECODER_HINT)
    expect_shape(after, case.x.shape, "the output ([B, L, D])")
    expect_close(after[:, :t], before[:, :t].detach().to(torch.float64), dtype=before.dtype,
                 what=f"the outputs at positions 0..{t - 1} after changing token {t}",
                 hint="with self_mask = causal, position i must not see positions after it: pass mask=self_mask "
                 "to the self-attention, as it is (True = may attend)")
    change = float((after[:, t].to(torch.float64) - before[:, t].to(torch.float64)).abs().max())
    expect_true(change > 1e-3, f"changing token {t} changed its own output by only {change:.3g}",
                hint=DECODER_HINT)


@decoder_block.check(
    "has the right gradients with respect to x, memory and every tensor of params",
    points=1,
    examples=3,
    hint=GRADIENT_HINT,
    case=decoder_cases(masks=True, dtypes=st.just(torch.float64)),
)
def decoder_gradients(student, case):
    expect_gradients(student, case.x, case.memory, case.params(), case.num_heads, **case.kwargs())

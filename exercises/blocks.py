"""Encoder and decoder blocks: attention, feed-forward, and "Add & Norm" around each.

A transformer is a stack of identical blocks. Each block has a few *sub-layers*: a
self-attention (every token looks at the others), in a decoder a cross-attention (every
token of the output looks at the encoder's output, the `memory`), then the position-wise
feed-forward network. Around every sub-layer sits the lecture's "Add & Normalize": the
sub-layer's input is added back to its output (the residual connection) and the sum is
layer-normalised, so the vectors keep a steady scale however many blocks are stacked.
BERT stacks encoder blocks; the original translation model (and T5) stacks encoder
blocks and decoder blocks; GPT stacks blocks with a causal mask and no cross-attention.

## Shapes

| tensor                       | shape          | meaning                                      |
|------------------------------|----------------|----------------------------------------------|
| `x`                          | `[B, L, D]`    | the block's input stream, `L` tokens         |
| `memory`                     | `[B, M, D]`    | the encoder's output (decoder only)          |
| `w_q w_k w_v w_o`            | `[D, D]`       | self-attention, as in `multi_head_attention` |
| `b_q b_k b_v b_o`            | `[D]`          | its biases                                   |
| `cross_w_* / cross_b_*`      | `[D, D]`/`[D]` | cross-attention (decoder only)               |
| `w_1`, `b_1`                 | `[F, D]`, `[F]`| feed-forward, first layer                    |
| `w_2`, `b_2`                 | `[D, F]`, `[D]`| feed-forward, second layer                   |
| `normK_weight`, `normK_bias` | `[D]`          | layer norm `K` (1, 2; the decoder also has 3)|
| `mask`, `self_mask`          | `[B, h, L, L]` | or anything broadcastable; True = may attend |
| `memory_mask`                | `[B, h, L, M]` | or anything broadcastable; True = may attend |
| output                       | `[B, L, D]`    | same shape and dtype as `x`                  |

## Post-norm and pre-norm

```
post-norm (the original paper, the default)   pre-norm (norm_first=True, GPT-2 and later)
x = LN1(x + SelfAttn(x))                       x = x + SelfAttn(LN1(x))
x = LN2(x + CrossAttn(x, memory))   decoder    x = x + CrossAttn(LN2(x), memory)   decoder
x = LNk(x + FFN(x))                            x = x + FFN(LNk(x))
```

`k` is 2 in an encoder block and 3 in a decoder block. The cross-attention takes its
queries from the decoder stream and its keys and values from `memory`, which is never
normalised here (the encoder stack normalises its own output).

## A worked example

One token (so the attention weight is 1 and `SelfAttn(h) = h @ w_v.T @ w_o.T`), with
`w_v = I`, `w_o = 0.5 I`, no biases, plain layer norms, `x = [1, 2, 3, 6]`:

```
LN(x)                     = [-1.0690, -0.5345, 0.0000, 1.6036]
post-norm  LN(x + 0.5 x)  = [-1.0690, -0.5345, 0.0000, 1.6036]   (re-scaled every time)
pre-norm   x + 0.5 LN(x)  = [ 0.4655,  1.7327, 3.0000, 6.8018]   (x plus a small update)
```

In post-norm the residual stream is normalised after every sub-layer. In pre-norm `x`
itself flows through the whole stack untouched, and each sub-layer only adds an update
computed from a normalised copy: this "residual highway" is what makes deep pre-norm
stacks easy to train.

## Relation to PyTorch

`encoder_block` equals `nn.TransformerEncoderLayer(D, h, dim_feedforward=F, dropout=0.0,
activation=activation, batch_first=True, norm_first=norm_first, layer_norm_eps=eps)` with
`self_attn.in_proj_weight = cat(w_q, w_k, w_v)`, `self_attn.out_proj = (w_o, b_o)`,
`linear1 = (w_1, b_1)`, `linear2 = (w_2, b_2)`, `norm1`, `norm2`; `decoder_block` equals
`nn.TransformerDecoderLayer` with the cross-attention in `multihead_attn` and a `norm3`.
PyTorch's masks mean True = *blocked*: pass `~mask`.

This module builds on `multihead.multi_head_attention`, `normalization.layer_norm` and
`feedforward.feed_forward`. While the grader checks it, correct versions of those are
used, so a mistake there costs points only in their own exercises.
"""

from __future__ import annotations

import torch

from .feedforward import feed_forward
from .multihead import multi_head_attention
from .normalization import layer_norm

__all__ = ["encoder_block", "decoder_block"]


def encoder_block(
    x: torch.Tensor,
    params: dict[str, torch.Tensor],
    num_heads: int,
    mask: torch.Tensor | None = None,
    norm_first: bool = False,
    activation: str = "relu",
    eps: float = 1e-5,
) -> torch.Tensor:
    """One transformer encoder block, as ``nn.TransformerEncoderLayer`` (batch_first, no dropout).

    Args:
        x: ``[B, L, D]``.
        params: a dict with the self-attention's ``w_q, w_k, w_v, w_o`` (``[D, D]``) and
            ``b_q, b_k, b_v, b_o`` (``[D]``), the feed-forward's ``w_1`` ``[F, D]``,
            ``b_1`` ``[F]``, ``w_2`` ``[D, F]``, ``b_2`` ``[D]``, and the layer norms'
            ``norm1_weight, norm1_bias, norm2_weight, norm2_bias`` (``[D]``). Read it,
            never change it.
        num_heads: ``h``, dividing ``D``.
        mask: optional bool mask broadcastable to ``[B, h, L, L]``, True = may attend.
        norm_first: ``False`` for post-norm, ``True`` for pre-norm.
        activation: ``"relu"`` or ``"gelu"``, passed on to the feed-forward network.
        eps: the layer norms' epsilon.

    Returns:
        ``[B, L, D]`` with the dtype of ``x``.

    Raises:
        Nothing of its own; an unknown ``activation`` raises ``feed_forward``'s ``ValueError``.

    Formula: with ``SA(h) = multi_head_attention(h, h, h, num_heads, w_q, ..., b_o,
    mask=mask)[0]``, ``FFN(h) = feed_forward(h, w_1, b_1, w_2, b_2, activation)`` and
    ``LNk(h) = layer_norm(h, normk_weight, normk_bias, eps)``:
    post-norm ``x = LN1(x + SA(x)); x = LN2(x + FFN(x))``;
    pre-norm ``x = x + SA(LN1(x)); x = x + FFN(LN2(x))``.

    Intuition: the attention lets every token gather information from the others, the
    feed-forward network processes what each token gathered, and "Add & Norm" keeps the
    original signal (the residual) and the scale of the vectors under control.

    Pitfall: the residual adds the sub-layer's *input*: post-norm is ``LN(x + SA(x))``,
    not ``LN(x) + SA(x)``. Each sub-layer has its own norm (``norm1`` then ``norm2``).
    Pre-norm normalises only what goes *into* the sub-layer; the stream itself is never
    normalised. Build new tensors (``x = x + ...``) rather than writing into ``x`` or
    ``params`` in place.

    Example:
        encoder_block(x, params, 2)  ==  nn.TransformerEncoderLayer(D, 2, F, 0.0,
        batch_first=True) holding the same weights, applied to x. With ``w_o``, ``b_o``,
        ``w_2``, ``b_2`` all zero, ``encoder_block(x, params, 2, norm_first=True)`` returns
        ``x`` itself (both sub-layers output 0), while the post-norm block returns
        ``LN2(LN1(x))``.
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("blocks.encoder_block is not implemented yet")


def decoder_block(
    x: torch.Tensor,
    memory: torch.Tensor,
    params: dict[str, torch.Tensor],
    num_heads: int,
    self_mask: torch.Tensor | None = None,
    memory_mask: torch.Tensor | None = None,
    norm_first: bool = False,
    activation: str = "relu",
    eps: float = 1e-5,
) -> torch.Tensor:
    """One transformer decoder block, as ``nn.TransformerDecoderLayer`` (batch_first, no dropout).

    Args:
        x: ``[B, L, D]``, the decoder's stream (the output generated so far).
        memory: ``[B, M, D]``, the encoder's output.
        params: everything an encoder block's ``params`` holds, plus the
            cross-attention's ``cross_w_q, cross_w_k, cross_w_v, cross_w_o`` (``[D, D]``)
            and ``cross_b_q, cross_b_k, cross_b_v, cross_b_o`` (``[D]``), and
            ``norm3_weight, norm3_bias`` (``[D]``). Read it, never change it.
        num_heads: ``h``, dividing ``D``, for both attentions.
        self_mask: optional bool mask broadcastable to ``[B, h, L, L]`` (usually causal).
        memory_mask: optional bool mask broadcastable to ``[B, h, L, M]`` (e.g. the
            encoder's padding). True = may attend, for both.
        norm_first: ``False`` for post-norm, ``True`` for pre-norm.
        activation: ``"relu"`` or ``"gelu"``, passed on to the feed-forward network.
        eps: the layer norms' epsilon.

    Returns:
        ``[B, L, D]`` with the dtype of ``x``.

    Raises:
        Nothing of its own; an unknown ``activation`` raises ``feed_forward``'s ``ValueError``.

    Formula: with ``SA`` as in ``encoder_block`` (using ``self_mask``),
    ``CA(h) = multi_head_attention(h, memory, memory, num_heads, cross_w_q, ...,
    cross_b_o, mask=memory_mask)[0]`` and ``FFN``, ``LNk`` as in ``encoder_block``:
    post-norm ``x = LN1(x + SA(x)); x = LN2(x + CA(x)); x = LN3(x + FFN(x))``;
    pre-norm ``x = x + SA(LN1(x)); x = x + CA(LN2(x)); x = x + FFN(LN3(x))``.

    Intuition: first the output tokens look at each other (only backwards, with a
    causal ``self_mask``), then they look up what they need in the encoded input
    (cross-attention: "which source words matter for the word I am writing?"), then the
    feed-forward network processes the result.

    Pitfall: in the cross-attention only the *queries* come from ``x``; the keys and
    values come from ``memory``, with ``memory_mask`` (not ``self_mask``). Pre-norm
    normalises ``x`` before each sub-layer but never ``memory``. The order is
    self-attention, cross-attention, feed-forward, with ``norm1``, ``norm2``,
    ``norm3`` in that order.

    Example:
        decoder_block(x, memory, params, 2, self_mask=causal_mask(L))  ==
        nn.TransformerDecoderLayer(D, 2, F, 0.0, batch_first=True) holding the same
        weights, applied to (x, memory) with tgt_mask=~causal_mask(L). With that causal
        ``self_mask``, changing ``x[:, t]`` changes no output before position ``t``; with
        ``memory_mask[b, 0, 0, j] = False``, changing ``memory[b, j]`` changes nothing.
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("blocks.decoder_block is not implemented yet")

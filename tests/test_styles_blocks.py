"""Correct encoder and decoder blocks in other styles get full marks.

PyTorch's own layers through ``torch.func.functional_call``, functional PyTorch without
the course's functions, hand-written einsum attention, a loop over sub-layers, float64
inside: all are right, so none may lose a point.
"""

from __future__ import annotations

import pytest

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS

VARIANTS = [
    # ------------------------------------------------------------- encoder_block
    Variant("blocks.encoder_block", "nn.TransformerEncoderLayer through torch.func.functional_call", """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            from torch.func import functional_call
            batch, length, d_model = x.shape
            layer = torch.nn.TransformerEncoderLayer(
                d_model, num_heads, dim_feedforward=params["w_1"].shape[0], dropout=0.0, activation=activation,
                layer_norm_eps=eps, batch_first=True, norm_first=norm_first, device="meta")
            weights = {
                "self_attn.in_proj_weight": torch.cat([params["w_q"], params["w_k"], params["w_v"]]),
                "self_attn.in_proj_bias": torch.cat([params["b_q"], params["b_k"], params["b_v"]]),
                "self_attn.out_proj.weight": params["w_o"], "self_attn.out_proj.bias": params["b_o"],
                "linear1.weight": params["w_1"], "linear1.bias": params["b_1"],
                "linear2.weight": params["w_2"], "linear2.bias": params["b_2"],
                "norm1.weight": params["norm1_weight"], "norm1.bias": params["norm1_bias"],
                "norm2.weight": params["norm2_weight"], "norm2.bias": params["norm2_bias"],
            }
            blocked = None
            if mask is not None:
                blocked = ~mask.expand(batch, num_heads, length, length).reshape(batch * num_heads, length, length)
            return functional_call(layer, weights, (x,), {"src_mask": blocked})
        """),
    Variant("blocks.encoder_block", "functional PyTorch only (F.multi_head_attention_forward, F.layer_norm)", """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            import torch.nn.functional as F
            p = params
            batch, length, d_model = x.shape
            blocked = None
            if mask is not None:
                blocked = ~mask.expand(batch, num_heads, length, length).reshape(batch * num_heads, length, length)

            def attention(h):
                t = h.transpose(0, 1)
                out, _ = F.multi_head_attention_forward(
                    t, t, t, d_model, num_heads, torch.cat([p["w_q"], p["w_k"], p["w_v"]]),
                    torch.cat([p["b_q"], p["b_k"], p["b_v"]]), None, None, False, 0.0, p["w_o"], p["b_o"],
                    training=False, need_weights=False, attn_mask=blocked)
                return out.transpose(0, 1)

            act = F.gelu if activation == "gelu" else F.relu
            ffn = lambda h: F.linear(act(F.linear(h, p["w_1"], p["b_1"])), p["w_2"], p["b_2"])
            norm = lambda h, k: F.layer_norm(h, (d_model,), p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                x = x + attention(norm(x, 1))
                return x + ffn(norm(x, 2))
            x = norm(x + attention(x), 1)
            return norm(x + ffn(x), 2)
        """),
    Variant("blocks.encoder_block", "einsum attention by hand, float64 inside, a loop over sub-layers", """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            import math
            p = {k: v.double() for k, v in params.items()}
            h = x.double()
            batch, length, d_model = h.shape
            dh = d_model // num_heads

            def attention(t):
                q, k, v = (torch.einsum("bld,ed->ble", t, p["w_" + n]) + p["b_" + n] for n in "qkv")
                q, k, v = (u.view(batch, length, num_heads, dh) for u in (q, k, v))
                scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(dh)
                if mask is not None:
                    scores = scores.masked_fill(~mask, float("-inf"))
                heads = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).reshape(batch, length, d_model)
                return heads @ p["w_o"].T + p["b_o"]

            def ffn(t):
                hidden = t @ p["w_1"].T + p["b_1"]
                hidden = torch.nn.functional.gelu(hidden) if activation == "gelu" else hidden.clamp(min=0)
                return hidden @ p["w_2"].T + p["b_2"]

            def norm(t, k):
                centred = t - t.mean(-1, keepdim=True)
                scale = torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps)
                return centred / scale * p[f"norm{k}_weight"] + p[f"norm{k}_bias"]

            for k, sublayer in ((1, attention), (2, ffn)):
                h = h + sublayer(norm(h, k)) if norm_first else norm(h + sublayer(h), k)
            return h.to(x.dtype)
        """),
    # ------------------------------------------------------------- decoder_block
    Variant("blocks.decoder_block", "nn.TransformerDecoderLayer through torch.func.functional_call", """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            from torch.func import functional_call
            batch, length, d_model = x.shape
            memory_length = memory.shape[1]
            layer = torch.nn.TransformerDecoderLayer(
                d_model, num_heads, dim_feedforward=params["w_1"].shape[0], dropout=0.0, activation=activation,
                layer_norm_eps=eps, batch_first=True, norm_first=norm_first, device="meta")
            weights = {}
            for name, prefix in (("self_attn", ""), ("multihead_attn", "cross_")):
                weights[name + ".in_proj_weight"] = torch.cat([params[prefix + "w_" + n] for n in "qkv"])
                weights[name + ".in_proj_bias"] = torch.cat([params[prefix + "b_" + n] for n in "qkv"])
                weights[name + ".out_proj.weight"] = params[prefix + "w_o"]
                weights[name + ".out_proj.bias"] = params[prefix + "b_o"]
            for k in (1, 2):
                weights[f"linear{k}.weight"], weights[f"linear{k}.bias"] = params[f"w_{k}"], params[f"b_{k}"]
            for k in (1, 2, 3):
                weights[f"norm{k}.weight"] = params[f"norm{k}_weight"]
                weights[f"norm{k}.bias"] = params[f"norm{k}_bias"]

            def blocked(mask, keys):
                if mask is None:
                    return None
                return ~mask.expand(batch, num_heads, length, keys).reshape(batch * num_heads, length, keys)

            return functional_call(layer, weights, (x, memory), {
                "tgt_mask": blocked(self_mask, length), "memory_mask": blocked(memory_mask, memory_length)})
        """),
    Variant("blocks.decoder_block", "an add-and-norm helper and a list of sub-layers", """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            def attend(prefix, source, mask):
                def run(h):
                    kv = h if source is None else source
                    weights = [params[prefix + name] for name in ("w_q", "w_k", "w_v", "w_o")]
                    biases = [params[prefix + name] for name in ("b_q", "b_k", "b_v", "b_o")]
                    return multi_head_attention(h, kv, kv, num_heads, *weights, *biases, mask=mask)[0]
                return run

            sublayers = [
                (attend("", None, self_mask), "norm1"),
                (attend("cross_", memory, memory_mask), "norm2"),
                (lambda h: feed_forward(h, params["w_1"], params["b_1"], params["w_2"], params["b_2"],
                                        activation=activation), "norm3"),
            ]

            def add_and_norm(h, sublayer, norm):
                ln = lambda t: layer_norm(t, params[norm + "_weight"], params[norm + "_bias"], eps=eps)
                if norm_first:
                    return h + sublayer(ln(h))
                return ln(h + sublayer(h))

            for sublayer, norm in sublayers:
                x = add_and_norm(x, sublayer, norm)
            return x
        """),
    Variant("blocks.decoder_block", "functional PyTorch only, masks as -inf float biases", """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            import torch.nn.functional as F
            p = params
            batch, length, d_model = x.shape

            def attention(h, source, prefix, mask):
                keys = source.shape[1]
                bias = None
                if mask is not None:
                    bias = torch.zeros(mask.shape, dtype=h.dtype, device=h.device).masked_fill(~mask, float("-inf"))
                    bias = bias.expand(batch, num_heads, length, keys).reshape(batch * num_heads, length, keys)
                out, _ = F.multi_head_attention_forward(
                    h.transpose(0, 1), source.transpose(0, 1), source.transpose(0, 1), d_model, num_heads,
                    torch.cat([p[prefix + "w_q"], p[prefix + "w_k"], p[prefix + "w_v"]]),
                    torch.cat([p[prefix + "b_q"], p[prefix + "b_k"], p[prefix + "b_v"]]), None, None, False, 0.0,
                    p[prefix + "w_o"], p[prefix + "b_o"], training=False, need_weights=False, attn_mask=bias)
                return out.transpose(0, 1)

            act = F.gelu if activation == "gelu" else F.relu
            norm = lambda h, k: F.layer_norm(h, (d_model,), p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = norm(x, 1)
                x = x + attention(h, h, "", self_mask)
                x = x + attention(norm(x, 2), memory, "cross_", memory_mask)
                return x + F.linear(act(F.linear(norm(x, 3), p["w_1"], p["b_1"])), p["w_2"], p["b_2"])
            x = norm(x + attention(x, x, "", self_mask), 1)
            x = norm(x + attention(x, memory, "cross_", memory_mask), 2)
            return norm(x + F.linear(act(F.linear(x, p["w_1"], p["b_1"])), p["w_2"], p["b_2"]), 3)
        """),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}

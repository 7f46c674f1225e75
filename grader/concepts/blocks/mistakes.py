"""Realistic mistakes in blocks.py."""

from grader.author import Mutant

MUTANTS = [
    # ------------------------------------------------------------- encoder_block
    Mutant(
        "blocks.encoder_block",
        "post-norm and pre-norm swapped",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=mask)[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln1 = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"], eps)
            ln2 = lambda h: layer_norm(h, p["norm2_weight"], p["norm2_bias"], eps)
            if not norm_first:
                x = x + sa(ln1(x))
                x = x + ff(ln2(x))
            else:
                x = ln1(x + sa(x))
                x = ln2(x + ff(x))
            return x
        """,
    ),
    Mutant(
        "blocks.encoder_block",
        "residual added outside the norm: LN(x) + SA(x)",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=mask)[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln1 = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"], eps)
            ln2 = lambda h: layer_norm(h, p["norm2_weight"], p["norm2_bias"], eps)
            if norm_first:
                x = x + sa(ln1(x))
                x = x + ff(ln2(x))
            else:
                x = ln1(x) + sa(x)
                x = ln2(x) + ff(x)
            return x
        """,
    ),
    Mutant(
        "blocks.encoder_block",
        "norm1's weights used for both norms",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=mask)[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"], eps)
            if norm_first:
                x = x + sa(ln(x))
                x = x + ff(ln(x))
            else:
                x = ln(x + sa(x))
                x = ln(x + ff(x))
            return x
        """,
    ),
    Mutant(
        "blocks.encoder_block",
        "activation ignored (always relu)",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=mask)[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"])
            ln1 = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"], eps)
            ln2 = lambda h: layer_norm(h, p["norm2_weight"], p["norm2_bias"], eps)
            if norm_first:
                x = x + sa(ln1(x))
                x = x + ff(ln2(x))
            else:
                x = ln1(x + sa(x))
                x = ln2(x + ff(x))
            return x
        """,
    ),
    Mutant(
        "blocks.encoder_block",
        "mask ignored",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"])[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln1 = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"], eps)
            ln2 = lambda h: layer_norm(h, p["norm2_weight"], p["norm2_bias"], eps)
            if norm_first:
                x = x + sa(ln1(x))
                x = x + ff(ln2(x))
            else:
                x = ln1(x + sa(x))
                x = ln2(x + ff(x))
            return x
        """,
    ),
    Mutant(
        "blocks.encoder_block",
        "mask polarity inverted (nn.TransformerEncoderLayer's src_mask)",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            blocked = None if mask is None else ~mask
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=blocked)[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln1 = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"], eps)
            ln2 = lambda h: layer_norm(h, p["norm2_weight"], p["norm2_bias"], eps)
            if norm_first:
                x = x + sa(ln1(x))
                x = x + ff(ln2(x))
            else:
                x = ln1(x + sa(x))
                x = ln2(x + ff(x))
            return x
        """,
    ),
    Mutant(
        "blocks.encoder_block",
        "pre-norm normalises the stream itself (x = LN(x); x = x + SA(x))",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=mask)[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln1 = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"], eps)
            ln2 = lambda h: layer_norm(h, p["norm2_weight"], p["norm2_bias"], eps)
            if norm_first:
                x = ln1(x)
                x = x + sa(x)
                x = ln2(x)
                x = x + ff(x)
            else:
                x = ln1(x + sa(x))
                x = ln2(x + ff(x))
            return x
        """,
    ),
    Mutant(
        "blocks.encoder_block",
        "eps not passed on to layer_norm",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=mask)[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln1 = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"])
            ln2 = lambda h: layer_norm(h, p["norm2_weight"], p["norm2_bias"])
            if norm_first:
                x = x + sa(ln1(x))
                x = x + ff(ln2(x))
            else:
                x = ln1(x + sa(x))
                x = ln2(x + ff(x))
            return x
        """,
    ),
    Mutant(
        "blocks.encoder_block",
        "pre-norm residual added in place (x += ...) into the caller's tensor",
        """
        def encoder_block(x, params, num_heads, mask=None, norm_first=False, activation="relu", eps=1e-5):
            p = params
            def sa(h):
                return multi_head_attention(h, h, h, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=mask)[0]
            def ff(h):
                return feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln1 = lambda h: layer_norm(h, p["norm1_weight"], p["norm1_bias"], eps)
            ln2 = lambda h: layer_norm(h, p["norm2_weight"], p["norm2_bias"], eps)
            if norm_first:
                x += sa(ln1(x))
                x += ff(ln2(x))
            else:
                x = ln1(x + sa(x))
                x = ln2(x + ff(x))
            return x
        """,
    ),
    # ------------------------------------------------------------- decoder_block
    Mutant(
        "blocks.decoder_block",
        "post-norm and pre-norm swapped",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if not norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", self_mask)
                x = x + mha(ln(x, 2), memory, "cross_", memory_mask)
                x = x + ff(ln(x, 3))
            else:
                x = ln(x + mha(x, x, "", self_mask), 1)
                x = ln(x + mha(x, memory, "cross_", memory_mask), 2)
                x = ln(x + ff(x), 3)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "cross-attention keys and values from the decoder stream instead of memory",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", self_mask)
                h = ln(x, 2)
                x = x + mha(h, h, "cross_", None)
                x = x + ff(ln(x, 3))
            else:
                x = ln(x + mha(x, x, "", self_mask), 1)
                x = ln(x + mha(x, x, "cross_", None), 2)
                x = ln(x + ff(x), 3)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "pre-norm normalises memory too",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", self_mask)
                x = x + mha(ln(x, 2), ln(memory, 2), "cross_", memory_mask)
                x = x + ff(ln(x, 3))
            else:
                x = ln(x + mha(x, x, "", self_mask), 1)
                x = ln(x + mha(x, memory, "cross_", memory_mask), 2)
                x = ln(x + ff(x), 3)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "self_mask and memory_mask swapped",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", memory_mask)
                x = x + mha(ln(x, 2), memory, "cross_", self_mask)
                x = x + ff(ln(x, 3))
            else:
                x = ln(x + mha(x, x, "", memory_mask), 1)
                x = ln(x + mha(x, memory, "cross_", self_mask), 2)
                x = ln(x + ff(x), 3)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "feed-forward before cross-attention",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", self_mask)
                x = x + ff(ln(x, 2))
                x = x + mha(ln(x, 3), memory, "cross_", memory_mask)
            else:
                x = ln(x + mha(x, x, "", self_mask), 1)
                x = ln(x + ff(x), 2)
                x = ln(x + mha(x, memory, "cross_", memory_mask), 3)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "memory_mask ignored",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", self_mask)
                x = x + mha(ln(x, 2), memory, "cross_", None)
                x = x + ff(ln(x, 3))
            else:
                x = ln(x + mha(x, x, "", self_mask), 1)
                x = ln(x + mha(x, memory, "cross_", None), 2)
                x = ln(x + ff(x), 3)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "self_mask ignored",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", None)
                x = x + mha(ln(x, 2), memory, "cross_", memory_mask)
                x = x + ff(ln(x, 3))
            else:
                x = ln(x + mha(x, x, "", None), 1)
                x = ln(x + mha(x, memory, "cross_", memory_mask), 2)
                x = ln(x + ff(x), 3)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "norm2 and norm3 swapped",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", self_mask)
                x = x + mha(ln(x, 3), memory, "cross_", memory_mask)
                x = x + ff(ln(x, 2))
            else:
                x = ln(x + mha(x, x, "", self_mask), 1)
                x = ln(x + mha(x, memory, "cross_", memory_mask), 3)
                x = ln(x + ff(x), 2)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "cross-attention with the self-attention's weights (cross_ prefix forgotten)",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, mask):
                return multi_head_attention(q, kv, kv, num_heads, p["w_q"], p["w_k"], p["w_v"], p["w_o"],
                                            p["b_q"], p["b_k"], p["b_v"], p["b_o"], mask=mask)[0]
            ff = lambda h: feed_forward(h, p["w_1"], p["b_1"], p["w_2"], p["b_2"], activation)
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, self_mask)
                x = x + mha(ln(x, 2), memory, memory_mask)
                x = x + ff(ln(x, 3))
            else:
                x = ln(x + mha(x, x, self_mask), 1)
                x = ln(x + mha(x, memory, memory_mask), 2)
                x = ln(x + ff(x), 3)
            return x
        """,
    ),
    Mutant(
        "blocks.decoder_block",
        "activation ignored (always relu)",
        """
        def decoder_block(x, memory, params, num_heads, self_mask=None, memory_mask=None, norm_first=False,
                          activation="relu", eps=1e-5):
            p = params
            def mha(q, kv, pre, mask):
                return multi_head_attention(q, kv, kv, num_heads, p[pre + "w_q"], p[pre + "w_k"], p[pre + "w_v"],
                                            p[pre + "w_o"], p[pre + "b_q"], p[pre + "b_k"], p[pre + "b_v"],
                                            p[pre + "b_o"], mask=mask)[0]
            ff = lambda h: torch.relu(h @ p["w_1"].T + p["b_1"]) @ p["w_2"].T + p["b_2"]
            ln = lambda h, k: layer_norm(h, p[f"norm{k}_weight"], p[f"norm{k}_bias"], eps)
            if norm_first:
                h = ln(x, 1)
                x = x + mha(h, h, "", self_mask)
                x = x + mha(ln(x, 2), memory, "cross_", memory_mask)
                x = x + ff(ln(x, 3))
            else:
                x = ln(x + mha(x, x, "", self_mask), 1)
                x = ln(x + mha(x, memory, "cross_", memory_mask), 2)
                x = ln(x + ff(x), 3)
            return x
        """,
    ),
]

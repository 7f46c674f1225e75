"""Realistic mistakes in multihead.py."""

from grader.author import Mutant

MUTANTS = [
    # -------------------------------------------------------------- split_heads
    Mutant(
        "multihead.split_heads",
        "reshape to [B, h, L, Dh] without the transpose",
        """
        def split_heads(x, num_heads):
            batch, length, d_model = x.shape
            if d_model % num_heads:
                raise ValueError("D must be divisible by num_heads")
            return x.reshape(batch, num_heads, length, d_model // num_heads)
        """,
    ),
    Mutant(
        "multihead.split_heads",
        "strided heads: view(B, L, Dh, h) then permute",
        """
        def split_heads(x, num_heads):
            batch, length, d_model = x.shape
            if d_model % num_heads:
                raise ValueError("D must be divisible by num_heads")
            return x.view(batch, length, d_model // num_heads, num_heads).permute(0, 3, 1, 2)
        """,
    ),
    Mutant(
        "multihead.split_heads",
        "no ValueError when D % num_heads != 0",
        """
        def split_heads(x, num_heads):
            batch, length, d_model = x.shape
            return x.reshape(batch, length, num_heads, -1).transpose(1, 2)
        """,
    ),
    Mutant(
        "multihead.split_heads",
        "transposes the wrong axes ([B, L, Dh, h])",
        """
        def split_heads(x, num_heads):
            batch, length, d_model = x.shape
            if d_model % num_heads:
                raise ValueError("D must be divisible by num_heads")
            return x.reshape(batch, length, num_heads, d_model // num_heads).transpose(2, 3)
        """,
    ),
    Mutant(
        "multihead.split_heads",
        "rebuilds the heads with torch.tensor (breaks autograd)",
        """
        def split_heads(x, num_heads):
            batch, length, d_model = x.shape
            if d_model % num_heads:
                raise ValueError("D must be divisible by num_heads")
            out = x.reshape(batch, length, num_heads, d_model // num_heads).transpose(1, 2)
            return torch.tensor(out.tolist(), dtype=x.dtype, device=x.device)
        """,
    ),
    # -------------------------------------------------------------- merge_heads
    Mutant(
        "multihead.merge_heads",
        "reshape to [B, L, D] without the transpose",
        """
        def merge_heads(x):
            batch, heads, length, head_dim = x.shape
            return x.reshape(batch, length, heads * head_dim)
        """,
    ),
    Mutant(
        "multihead.merge_heads",
        "interleaves the heads (permute to [B, L, Dh, h])",
        """
        def merge_heads(x):
            batch, heads, length, head_dim = x.shape
            return x.permute(0, 2, 3, 1).reshape(batch, length, heads * head_dim)
        """,
    ),
    Mutant(
        "multihead.merge_heads",
        "heads concatenated in reverse order",
        """
        def merge_heads(x):
            batch, heads, length, head_dim = x.shape
            return torch.cat([x[:, h] for h in reversed(range(heads))], dim=-1)
        """,
    ),
    Mutant(
        "multihead.merge_heads",
        ".view after the transpose (not contiguous)",
        """
        def merge_heads(x):
            batch, heads, length, head_dim = x.shape
            return x.transpose(1, 2).view(batch, length, heads * head_dim)
        """,
    ),
    Mutant(
        "multihead.merge_heads",
        "sums the heads instead of concatenating them",
        """
        def merge_heads(x):
            return x.sum(dim=1)
        """,
    ),
    # ----------------------------------------------------- multi_head_attention
    Mutant(
        "multihead.multi_head_attention",
        "scales by sqrt(D) instead of sqrt(D / num_heads)",
        """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            import math
            from exercises.attention import softmax
            d_model = query.shape[-1]
            q = query @ w_q.T + (b_q if b_q is not None else 0)
            k = key @ w_k.T + (b_k if b_k is not None else 0)
            v = value @ w_v.T + (b_v if b_v is not None else 0)
            q, k, v = (split_heads(t, num_heads) for t in (q, k, v))
            scores = q @ k.transpose(-2, -1) / math.sqrt(d_model)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = softmax(scores, dim=-1)
            output = merge_heads(weights @ v) @ w_o.T
            if b_o is not None:
                output = output + b_o
            return output, weights
        """,
    ),
    Mutant(
        "multihead.multi_head_attention",
        "w_o applied as x @ w_o (no transpose)",
        """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            q = query @ w_q.T + (b_q if b_q is not None else 0)
            k = key @ w_k.T + (b_k if b_k is not None else 0)
            v = value @ w_v.T + (b_v if b_v is not None else 0)
            heads, weights = scaled_dot_product_attention(
                split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads), mask)
            output = merge_heads(heads) @ w_o
            if b_o is not None:
                output = output + b_o
            return output, weights
        """,
    ),
    Mutant(
        "multihead.multi_head_attention",
        "output projection w_o not applied",
        """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            q = query @ w_q.T + (b_q if b_q is not None else 0)
            k = key @ w_k.T + (b_k if b_k is not None else 0)
            v = value @ w_v.T + (b_v if b_v is not None else 0)
            heads, weights = scaled_dot_product_attention(
                split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads), mask)
            output = merge_heads(heads)
            if b_o is not None:
                output = output + b_o
            return output, weights
        """,
    ),
    Mutant(
        "multihead.multi_head_attention",
        "key and value projections swapped",
        """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            q = query @ w_q.T + (b_q if b_q is not None else 0)
            k = key @ w_v.T + (b_v if b_v is not None else 0)
            v = value @ w_k.T + (b_k if b_k is not None else 0)
            heads, weights = scaled_dot_product_attention(
                split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads), mask)
            output = merge_heads(heads) @ w_o.T
            if b_o is not None:
                output = output + b_o
            return output, weights
        """,
    ),
    Mutant(
        "multihead.multi_head_attention",
        "b_v ignored",
        """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            q = query @ w_q.T + (b_q if b_q is not None else 0)
            k = key @ w_k.T + (b_k if b_k is not None else 0)
            v = value @ w_v.T
            heads, weights = scaled_dot_product_attention(
                split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads), mask)
            output = merge_heads(heads) @ w_o.T
            if b_o is not None:
                output = output + b_o
            return output, weights
        """,
    ),
    Mutant(
        "multihead.multi_head_attention",
        "mask inverted (nn.MultiheadAttention polarity)",
        """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            q = query @ w_q.T + (b_q if b_q is not None else 0)
            k = key @ w_k.T + (b_k if b_k is not None else 0)
            v = value @ w_v.T + (b_v if b_v is not None else 0)
            heads, weights = scaled_dot_product_attention(
                split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads),
                None if mask is None else ~mask)
            output = merge_heads(heads) @ w_o.T
            if b_o is not None:
                output = output + b_o
            return output, weights
        """,
    ),
    Mutant(
        "multihead.multi_head_attention",
        "weights averaged over heads",
        """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            q = query @ w_q.T + (b_q if b_q is not None else 0)
            k = key @ w_k.T + (b_k if b_k is not None else 0)
            v = value @ w_v.T + (b_v if b_v is not None else 0)
            heads, weights = scaled_dot_product_attention(
                split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads), mask)
            output = merge_heads(heads) @ w_o.T
            if b_o is not None:
                output = output + b_o
            return output, weights.mean(dim=1)
        """,
    ),
    Mutant(
        "multihead.multi_head_attention",
        "biases always added (fails when a bias is None)",
        """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            heads, weights = scaled_dot_product_attention(
                split_heads(query @ w_q.T + b_q, num_heads), split_heads(key @ w_k.T + b_k, num_heads),
                split_heads(value @ w_v.T + b_v, num_heads), mask)
            return merge_heads(heads) @ w_o.T + b_o, weights
        """,
    ),
]

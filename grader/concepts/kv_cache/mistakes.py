"""Realistic mistakes in kv_cache.py."""

from grader.author import Mutant

MUTANTS = [
    Mutant(
        "kv_cache.cached_attention",
        "mask without the offset: the first n rows of the full causal mask",
        """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            n = q.shape[-2]
            if k.shape[-2] != n:
                raise ValueError("q and k must hold the same number of positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("give both past_k and past_v, or neither")
            if past_k is not None:
                k = torch.cat([past_k, k], dim=-2)
                v = torch.cat([past_v, v], dim=-2)
            total = k.shape[-2]
            mask = causal_mask(total, device=q.device)[:n]
            output, _ = scaled_dot_product_attention(q, k, v, mask)
            return output, k, v
        """,
    ),
    Mutant(
        "kv_cache.cached_attention",
        "is_causal=True in F.scaled_dot_product_attention (top-left aligned)",
        """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            import torch.nn.functional as F
            if k.shape[-2] != q.shape[-2]:
                raise ValueError("q and k must hold the same number of positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("give both past_k and past_v, or neither")
            if past_k is not None:
                k = torch.cat([past_k, k], dim=-2)
                v = torch.cat([past_v, v], dim=-2)
            return F.scaled_dot_product_attention(q, k, v, is_causal=True), k, v
        """,
    ),
    Mutant(
        "kv_cache.cached_attention",
        "past concatenated after the new keys and values",
        """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            n = q.shape[-2]
            if k.shape[-2] != n:
                raise ValueError("q and k must hold the same number of positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("give both past_k and past_v, or neither")
            if past_k is not None:
                k = torch.cat([k, past_k], dim=-2)
                v = torch.cat([v, past_v], dim=-2)
            mask = causal_mask(n, k.shape[-2], device=q.device)
            output, _ = scaled_dot_product_attention(q, k, v, mask)
            return output, k, v
        """,
    ),
    Mutant(
        "kv_cache.cached_attention",
        "returns only the new keys and values as the cache",
        """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            n = q.shape[-2]
            if k.shape[-2] != n:
                raise ValueError("q and k must hold the same number of positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("give both past_k and past_v, or neither")
            k_all, v_all = k, v
            if past_k is not None:
                k_all = torch.cat([past_k, k], dim=-2)
                v_all = torch.cat([past_v, v], dim=-2)
            mask = causal_mask(n, k_all.shape[-2], device=q.device)
            output, _ = scaled_dot_product_attention(q, k_all, v_all, mask)
            return output, k, v
        """,
    ),
    Mutant(
        "kv_cache.cached_attention",
        "no mask at all (right only for one token at a time)",
        """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            if k.shape[-2] != q.shape[-2]:
                raise ValueError("q and k must hold the same number of positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("give both past_k and past_v, or neither")
            if past_k is not None:
                k = torch.cat([past_k, k], dim=-2)
                v = torch.cat([past_v, v], dim=-2)
            output, _ = scaled_dot_product_attention(q, k, v)
            return output, k, v
        """,
    ),
    Mutant(
        "kv_cache.cached_attention",
        "k and v caches swapped in the result",
        """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            n = q.shape[-2]
            if k.shape[-2] != n:
                raise ValueError("q and k must hold the same number of positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("give both past_k and past_v, or neither")
            if past_k is not None:
                k = torch.cat([past_k, k], dim=-2)
                v = torch.cat([past_v, v], dim=-2)
            output, _ = scaled_dot_product_attention(q, k, v, causal_mask(n, k.shape[-2], device=q.device))
            return output, v, k
        """,
    ),
    Mutant(
        "kv_cache.cached_attention",
        "the cache is detached (no gradient reaches past_k, past_v)",
        """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            n = q.shape[-2]
            if k.shape[-2] != n:
                raise ValueError("q and k must hold the same number of positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("give both past_k and past_v, or neither")
            if past_k is not None:
                k = torch.cat([past_k.detach(), k], dim=-2)
                v = torch.cat([past_v.detach(), v], dim=-2)
            output, _ = scaled_dot_product_attention(q, k, v, causal_mask(n, k.shape[-2], device=q.device))
            return output, k, v
        """,
    ),
    Mutant(
        "kv_cache.cached_attention",
        "no ValueError: a lone past_k is ignored, mismatched q and k are not checked",
        """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            n = q.shape[-2]
            if past_k is not None and past_v is not None:
                k = torch.cat([past_k, k], dim=-2)
                v = torch.cat([past_v, v], dim=-2)
            output, _ = scaled_dot_product_attention(q, k, v, causal_mask(n, k.shape[-2], device=q.device))
            return output, k, v
        """,
    ),
]

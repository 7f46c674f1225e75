"""Correct cached_attention in other styles gets full marks (loops, einsum, torch built-ins, float64 inside)."""

from __future__ import annotations

import pytest

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS

VARIANTS = [
    Variant("kv_cache.cached_attention", "one query at a time over its visible keys (no mask)", """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            if q.shape[-2] != k.shape[-2]:
                raise ValueError("q and k must cover the same positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("past_k and past_v go together")
            k_all = k if past_k is None else torch.cat((past_k, k), dim=-2)
            v_all = v if past_v is None else torch.cat((past_v, v), dim=-2)
            p = k_all.shape[-2] - q.shape[-2]
            rows = []
            for i in range(q.shape[-2]):
                keys, values = k_all[..., : p + i + 1, :], v_all[..., : p + i + 1, :]
                scores = q[..., i : i + 1, :] @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1])
                rows.append(torch.softmax(scores, dim=-1) @ values)
            return torch.cat(rows, dim=-2), k_all, v_all
        """),
    Variant("kv_cache.cached_attention", "F.scaled_dot_product_attention with causal_lower_right", """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            from torch.nn.attention.bias import causal_lower_right
            if q.size(-2) != k.size(-2):
                raise ValueError(f"{q.size(-2)} queries for {k.size(-2)} keys")
            if (past_k is None) ^ (past_v is None):
                raise ValueError("give both caches or none")
            if past_k is not None:
                k, v = torch.cat([past_k, k], -2), torch.cat([past_v, v], -2)
            mask = causal_lower_right(q.size(-2), k.size(-2))
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask), k, v
        """),
    Variant("kv_cache.cached_attention", "einsum, a tril(p) mask, -1e9 fill, float64 inside", """
        def cached_attention(q, k, v, past_k=None, past_v=None):
            n = q.shape[-2]
            if k.shape[-2] != n:
                raise ValueError("q and k hold different numbers of positions")
            if (past_k is None) != (past_v is None):
                raise ValueError("only one of past_k, past_v")
            k_all = k if past_k is None else torch.cat([past_k, k], dim=-2)
            v_all = v if past_v is None else torch.cat([past_v, v], dim=-2)
            p = k_all.shape[-2] - n
            allowed = torch.ones(n, p + n, dtype=torch.bool, device=q.device).tril(diagonal=p)
            scores = torch.einsum("...id,...jd->...ij", q.double(), k_all.double()) / q.shape[-1] ** 0.5
            weights = scores.masked_fill(~allowed, -1e9).softmax(dim=-1)
            out = torch.einsum("...ij,...jd->...id", weights, v_all.double())
            return out.to(q.dtype), k_all, v_all
        """),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    if "math." in source and "import math" not in source:
        source = "import math\n" + source.replace("from __future__ import annotations\n", "", 1)
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}

"""Correct rotary embeddings in other styles get full marks.

Complex numbers, rotate-every-two, a loop over the pairs, angles computed in x.dtype.
"""

from __future__ import annotations

import pytest

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS

VARIANTS = [
    Variant("positional.rotary_embedding", "complex numbers (Meta's LLaMA), float64 inside", """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("the feature size must be even")
            freqs = 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64, device=x.device) / d))
            angles = torch.outer(positions.to(device=x.device, dtype=torch.float64), freqs)
            rotation = torch.polar(torch.ones_like(angles), angles)
            pairs = torch.view_as_complex(x.to(torch.float64).reshape(*x.shape[:-1], d // 2, 2).contiguous())
            return torch.view_as_real(pairs * rotation).reshape(x.shape).to(x.dtype)
        """),
    Variant("positional.rotary_embedding", "rotate-every-two with repeat_interleave (GPT-J), angles in x.dtype", """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2 == 1:
                raise ValueError("odd d")
            exponent = torch.arange(0, d, 2, device=x.device, dtype=x.dtype) / d
            angles = positions.to(x.dtype)[:, None] * base ** -exponent
            cos = angles.cos().repeat_interleave(2, dim=-1)
            sin = angles.sin().repeat_interleave(2, dim=-1)
            swapped = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).reshape(x.shape)
            return x * cos + swapped * sin
        """),
    Variant("positional.rotary_embedding", "a Python loop over the pairs", """
        def rotary_embedding(x, positions, base=10000.0):
            d = x.shape[-1]
            if d % 2:
                raise ValueError("d must be even")
            p = positions.double().to(x.device)
            columns = []
            for i in range(d // 2):
                angle = p * base ** (-2.0 * i / d)
                c, s = torch.cos(angle).to(x.dtype)[:, None], torch.sin(angle).to(x.dtype)[:, None]
                a, b = x[..., 2 * i : 2 * i + 1], x[..., 2 * i + 1 : 2 * i + 2]
                columns += [a * c - b * s, a * s + b * c]
            return torch.cat(columns, dim=-1)
        """),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}

"""Correct layer norms and RMSNorms in other styles get full marks (torch built-ins, var_mean,
float64 inside, einsum, explicit sums, rsqrt, nn.functional...)."""

from __future__ import annotations

import pytest

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS

VARIANTS = [
    Variant("normalization.layer_norm", "F.layer_norm", """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            return torch.nn.functional.layer_norm(x, (x.shape[-1],), weight, bias, eps)
        """),
    Variant("normalization.layer_norm", "torch.var_mean with correction=0 and rsqrt", """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
            y = (x - mean) * torch.rsqrt(var + eps)
            if weight is not None:
                y = weight * y
            return y if bias is None else y + bias
        """),
    Variant("normalization.layer_norm", "float64 inside, explicit sums over D, cast back", """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            d = x.shape[-1]
            x64 = x.to(torch.float64)
            mean = x64.sum(-1, keepdim=True) / d
            var = ((x64 - mean) ** 2).sum(-1, keepdim=True) / d
            y = ((x64 - mean) / (var + eps) ** 0.5).to(x.dtype)
            if weight is not None:
                y = y * weight
            if bias is not None:
                y = y + bias
            return y
        """),
    Variant("normalization.layer_norm", "x.std(unbiased=False) and addcmul", """
        def layer_norm(x, weight=None, bias=None, eps=1e-5):
            centred = x - x.mean(dim=-1, keepdim=True)
            std = (centred.std(dim=-1, keepdim=True, unbiased=False) ** 2 + eps).sqrt()
            y = centred / std
            ones = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)
            zeros = torch.zeros_like(ones)
            w = ones if weight is None else weight
            b = zeros if bias is None else bias
            return torch.addcmul(b, y, w)
        """),
    Variant("normalization.rms_norm", "F.rms_norm with the contract's eps", """
        def rms_norm(x, weight=None, eps=1e-6):
            if hasattr(torch.nn.functional, "rms_norm"):
                return torch.nn.functional.rms_norm(x, (x.shape[-1],), weight, eps)
            y = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
            return y if weight is None else y * weight
        """),
    Variant("normalization.rms_norm", "vector norm / sqrt(D), einsum for the squares", """
        def rms_norm(x, weight=None, eps=1e-6):
            d = x.shape[-1]
            mean_square = torch.einsum("...d,...d->...", x, x).unsqueeze(-1) / d
            y = x / torch.sqrt(mean_square + eps)
            if weight is not None:
                y = torch.einsum("...d,d->...d", y, weight)
            return y
        """),
    Variant("normalization.rms_norm", "float64 inside, cast back", """
        def rms_norm(x, weight=None, eps=1e-6):
            x64 = x.double()
            y = x64 * torch.rsqrt(x64.square().mean(dim=-1, keepdim=True) + eps)
            if weight is not None:
                y = y * weight.double()
            return y.to(x.dtype)
        """),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}

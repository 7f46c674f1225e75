"""Correct lora_linear and merge_lora in other styles get full marks (F.linear, einsum, addmm, loops...)."""

from __future__ import annotations

import pytest

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS

VARIANTS = [
    Variant("lora.lora_linear", "nested F.linear", """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            F = torch.nn.functional
            scale = alpha / lora_b.shape[1]
            return F.linear(x, weight, bias) + scale * F.linear(F.linear(x, lora_a), lora_b)
        """),
    Variant("lora.lora_linear", "through merge_lora (the merged weight)", """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            return torch.nn.functional.linear(x, merge_lora(weight, lora_a, lora_b, alpha), bias)
        """),
    Variant("lora.lora_linear", "einsum, bias as zeros when absent", """
        def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
            if bias is None:
                bias = x.new_zeros(weight.shape[0])
            down = torch.einsum("...i,ri->...r", x, lora_a)
            up = torch.einsum("...r,or->...o", down, lora_b)
            return torch.einsum("...i,oi->...o", x, weight) + bias + up * (alpha / lora_a.shape[0])
        """),
    Variant("lora.merge_lora", "torch.addmm", """
        def merge_lora(weight, lora_a, lora_b, alpha):
            return torch.addmm(weight, lora_b, lora_a, alpha=alpha / lora_a.shape[0])
        """),
    Variant("lora.merge_lora", "a sum of r outer products", """
        def merge_lora(weight, lora_a, lora_b, alpha):
            r = lora_a.shape[0]
            merged = weight.clone()
            for i in range(r):
                merged = merged + (alpha / r) * torch.outer(lora_b[:, i], lora_a[i])
            return merged
        """),
    Variant("lora.merge_lora", "float64 inside, cast back", """
        def merge_lora(weight, lora_a, lora_b, alpha):
            update = lora_b.double() @ lora_a.double() * alpha / lora_a.shape[0]
            return (weight.double() + update).to(weight.dtype)
        """),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}


def test_lora_linear_built_on_a_wrong_merge_lora_is_charged_to_merge_lora_only(grader, course, submission_factory):
    source = (SOLUTIONS / "lora.py").read_text() + '''

def merge_lora(weight, lora_a, lora_b, alpha):
    return weight + alpha * (lora_b @ lora_a)  # alpha instead of alpha / r


def lora_linear(x, weight, bias, lora_a, lora_b, alpha):
    return torch.nn.functional.linear(x, merge_lora(weight, lora_a, lora_b, alpha), bias)
'''
    report = grader.grade(submission_factory({"lora": source}), course.affected_by("lora"))
    exercises = {e.name: e for e in report.exercises}
    assert exercises["lora.merge_lora"].score < exercises["lora.merge_lora"].max_score
    linear = exercises["lora.lora_linear"]
    assert linear.score == linear.max_score, [c.message for c in linear.checks if not c.passed]

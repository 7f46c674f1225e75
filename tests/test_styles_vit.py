"""Correct ViT embeddings and heads in other styles get full marks (conv2d, einsum, preallocation, F.linear...)."""

from __future__ import annotations

import pytest

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS

VARIANTS = [
    Variant("vit.vit_embed", "F.conv2d and its own checks, cls_token.expand", """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            p = patch_weight.shape[-1]
            height, width = images.shape[-2:]
            if height % p or width % p:
                raise ValueError("the image is not a whole number of patches")
            n = (height // p) * (width // p)
            if pos_embedding.shape[0] != n + 1:
                raise ValueError("pos_embedding needs one row per patch plus one for the class token")
            tokens = torch.nn.functional.conv2d(images, patch_weight, patch_bias, stride=p).flatten(2).transpose(1, 2)
            cls = cls_token.expand(images.shape[0], 1, -1)
            return torch.cat([cls, tokens], dim=1) + pos_embedding.unsqueeze(0)
        """),
    Variant("vit.vit_embed", "patchify and einsum, cls_token.repeat", """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            from .patches import patchify
            d, p = patch_weight.shape[0], patch_weight.shape[-1]
            flat = patchify(images, p)
            tokens = torch.einsum("bnk,dk->bnd", flat, patch_weight.reshape(d, -1))
            if patch_bias is not None:
                tokens = tokens + patch_bias
            if pos_embedding.shape != (tokens.shape[1] + 1, d):
                raise ValueError("pos_embedding must be [N + 1, D]")
            cls = cls_token.repeat(images.shape[0], 1, 1)
            return torch.cat((cls + pos_embedding[0], tokens + pos_embedding[1:]), dim=1)
        """),
    Variant("vit.vit_embed", "a preallocated sequence filled by slices", """
        def vit_embed(images, patch_weight, patch_bias, cls_token, pos_embedding):
            tokens = patch_embedding(images, patch_weight, patch_bias)
            b, n, d = tokens.shape
            if len(pos_embedding) != n + 1:
                raise ValueError("wrong number of position rows")
            sequence = tokens.new_zeros(b, n + 1, d)
            sequence[:, 0] = cls_token
            sequence[:, 1:] = tokens
            return sequence + pos_embedding
        """),
    Variant("vit.vit_classify", "F.layer_norm over every token, then F.linear on row 0", """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            F = torch.nn.functional
            normed = F.layer_norm(encoded, encoded.shape[-1:], norm_weight, norm_bias, eps)
            return F.linear(normed[:, 0, :], head_weight, head_bias)
        """),
    Variant("vit.vit_classify", "the formula by hand in float64, einsum head", """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            x = encoded[:, 0].double()
            centred = x - x.mean(-1, keepdim=True)
            normed = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + eps)
            normed = (normed * norm_weight.double() + norm_bias.double()).to(encoded.dtype)
            logits = torch.einsum("bd,kd->bk", normed, head_weight)
            return logits if head_bias is None else logits + head_bias
        """),
    Variant("vit.vit_classify", "torch.var(unbiased=False) and torch.addmm", """
        def vit_classify(encoded, norm_weight, norm_bias, head_weight, head_bias, eps=1e-5):
            cls = encoded.select(1, 0)
            var, mean = torch.var_mean(cls, dim=-1, unbiased=False, keepdim=True)
            normed = (cls - mean) * torch.rsqrt(var + eps) * norm_weight + norm_bias
            if head_bias is None:
                return normed @ head_weight.t()
            return torch.addmm(head_bias, normed, head_weight.t())
        """),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}

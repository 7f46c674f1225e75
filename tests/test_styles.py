"""Correct implementations in other styles get full marks (loops, einsum, float64 inside, -1e9 masks...)."""

from __future__ import annotations

import pytest

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS

VARIANTS = [
    Variant("attention.softmax", "float64 inside, cast back", """
        def softmax(x, dim=-1):
            x64 = x.double()
            e = (x64 - x64.amax(dim, keepdim=True)).exp()
            return (e / e.sum(dim, keepdim=True)).to(x.dtype)
        """),
    Variant("attention.softmax", "log-sum-exp form", """
        def softmax(x, dim=-1):
            return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))
        """),
    Variant("attention.scaled_dot_product_attention", "einsum and a -1e9 fill", """
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, -1e9)
            weights = torch.softmax(scores, dim=-1)
            return torch.einsum("...qk,...kv->...qv", weights, v), weights
        """),
    Variant("masks.causal_mask", "Python loops", """
        def causal_mask(q_len, k_len=None, device=None):
            k_len = q_len if k_len is None else k_len
            rows = [[j <= i + (k_len - q_len) for j in range(k_len)] for i in range(q_len)]
            return torch.tensor(rows, dtype=torch.bool, device=device).reshape(q_len, k_len)
        """),
    Variant("masks.causal_mask", "offset read back with .item() (fails on meta tensors, honours device)", """
        def causal_mask(q_len, k_len=None, device=None):
            k_len = q_len if k_len is None else k_len
            offset = int(torch.tensor(k_len - q_len, device=device).item())
            return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(offset)
        """),
    Variant("patches.patchify", "F.unfold (im2col)", """
        def patchify(images, patch_size):
            import torch.nn.functional as F
            if images.shape[-2] % patch_size or images.shape[-1] % patch_size:
                raise ValueError("the image is not a whole number of patches")
            return F.unfold(images, kernel_size=patch_size, stride=patch_size).transpose(1, 2)
        """),
    Variant("patches.patch_embedding", "conv2d", """
        def patch_embedding(images, weight, bias=None):
            p = weight.shape[-1]
            if images.shape[-2] % p or images.shape[-1] % p:
                raise ValueError("the image is not a whole number of patches")
            return torch.nn.functional.conv2d(images, weight, bias, stride=p).flatten(2).transpose(1, 2)
        """),
    Variant("recurrent.rnn_cell", "F.linear", """
        def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
            F = torch.nn.functional
            return torch.tanh(F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh))
        """),
    Variant("embeddings.embedding_lookup", "one-hot matmul", """
        def embedding_lookup(indices, weight):
            if indices.numel() and (indices.min() < 0 or indices.max() >= weight.shape[0]):
                raise ValueError("index out of range")
            return one_hot(indices, weight.shape[0], dtype=weight.dtype) @ weight
        """),
    Variant("decoding.greedy_decode", "beam search of width one", """
        def greedy_decode(step_fn, bos_id, eos_id, max_new_tokens):
            return beam_search(step_fn, bos_id, eos_id, 1, max_new_tokens)[0]
        """),
    Variant("multihead.multi_head_attention", "one fused projection, F.scaled_dot_product_attention", """
        def multi_head_attention(query, key, value, num_heads, w_q, w_k, w_v, w_o,
                                 b_q=None, b_k=None, b_v=None, b_o=None, mask=None):
            F = torch.nn.functional
            q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
            q, k, v = split_heads(q, num_heads), split_heads(k, num_heads), split_heads(v, num_heads)
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return F.linear(merge_heads(weights @ v), w_o, b_o), weights
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

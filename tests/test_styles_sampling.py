"""Correct samplers written differently from the reference get full marks, whatever they draw.

The sample_next_token styles draw other tokens than the reference from the same seed (an
inverse CDF with torch.rand and searchsorted, Gumbel-max, an exponential race, a per-row
loop), so only checks that judge the distribution of the draws can pass them. Each is graded
once by the real grader, and its statistical checks are run in-process for several seeds
of the official draw, to show that false failures are rare rather than lucky once.
"""

from __future__ import annotations

import pytest
import torch

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS
from tests.local_checks import draws_differ, run_checks

VARIANTS = [
    Variant("sampling.top_k_filter", "sort, threshold with torch.where", """
        def top_k_filter(logits, k):
            if not k >= 1:
                raise ValueError(f"k = {k}: need k >= 1")
            if k >= logits.size(-1):
                return logits + 0
            threshold = logits.sort(dim=-1, descending=True).values[..., k - 1].unsqueeze(-1)
            return torch.where(logits >= threshold, logits, torch.full_like(logits, float("-inf")))
        """),
    Variant("sampling.top_p_filter", "Hugging Face's ascending sort: remove where the cumulative sum <= 1 - p", """
        def top_p_filter(logits, p):
            if not (0 < p <= 1):
                raise ValueError("p must be in (0, 1]")
            if p == 1:
                return logits.clone()
            ordered, indices = torch.sort(logits, dim=-1)
            cumulative = ordered.softmax(dim=-1).cumsum(dim=-1)
            remove_sorted = cumulative <= 1 - p
            remove_sorted[..., -1:] = False
            remove = remove_sorted.scatter(-1, indices, remove_sorted)
            return logits.masked_fill(remove, float("-inf"))
        """),
    Variant("sampling.top_p_filter", "a loop over the rows and their tokens", """
        def top_p_filter(logits, p):
            if p <= 0 or p > 1:
                raise ValueError("p must be in (0, 1]")
            flat = logits.reshape(-1, logits.shape[-1])
            rows = []
            for row in flat:
                probs = torch.exp(row - torch.logsumexp(row, dim=0))
                keep = torch.zeros_like(row, dtype=torch.bool)
                total = 0.0
                for index in torch.argsort(probs, descending=True).tolist():
                    if total >= p:
                        break
                    keep[index] = True
                    total += float(probs[index])
                rows.append(torch.where(keep, row, torch.tensor(float("-inf"), dtype=row.dtype)))
            return torch.stack(rows).reshape(logits.shape)
        """),
    Variant("sampling.sample_next_token", "inverse CDF: torch.rand and searchsorted", """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("negative temperature")
            if temperature == 0:
                return torch.argmax(logits, dim=-1)
            scores = logits / temperature
            if top_k is not None:
                scores = top_k_filter(scores, top_k)
            if top_p is not None:
                scores = top_p_filter(scores, top_p)
            cdf = torch.softmax(scores.double(), dim=-1).cumsum(dim=-1)
            u = torch.rand(cdf.shape[0], 1, generator=generator, device=logits.device, dtype=cdf.dtype)
            index = torch.searchsorted(cdf, u * cdf[:, -1:], right=True).squeeze(-1)
            return index.clamp(max=logits.shape[-1] - 1)
        """),
    Variant("sampling.sample_next_token", "Gumbel-max: argmax of the logits plus Gumbel noise", """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("negative temperature")
            if temperature == 0:
                return logits.max(dim=-1).indices
            scores = logits / temperature
            if top_k is not None:
                scores = top_k_filter(scores, top_k)
            if top_p is not None:
                scores = top_p_filter(scores, top_p)
            u = torch.rand(scores.shape, generator=generator, device=scores.device, dtype=torch.float64)
            gumbel = -torch.log(-torch.log(u.clamp(1e-300, 1 - 1e-16)))
            return (scores.double() + gumbel).argmax(dim=-1)
        """),
    # (An exponential race, argmax of p / E with E ~ Exp(1), is how torch.multinomial itself draws one
    # sample on the CPU: it gives the reference's very tokens, so it is not a style of its own here.)
    Variant("sampling.sample_next_token", "counts the cumulative probabilities below a uniform number", """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("negative temperature")
            if temperature == 0:
                return logits.argmax(-1)
            scores = logits / temperature
            if top_k is not None:
                scores = top_k_filter(scores, top_k)
            if top_p is not None:
                scores = top_p_filter(scores, top_p)
            weights = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
            cdf = weights.cumsum(-1)
            u = torch.rand(scores.shape[:-1] + (1,), generator=generator, device=scores.device) * cdf[..., -1:]
            chosen = (cdf <= u).sum(-1)
            return torch.minimum(chosen, (weights > 0).long().cumsum(-1).argmax(-1))
        """),
    Variant("sampling.sample_next_token", "a per-row loop of torch.multinomial on float64 probabilities", """
        def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
            if temperature < 0:
                raise ValueError("negative temperature")
            if temperature == 0:
                return logits.argmax(-1)
            scores = logits.double() / temperature
            if top_k is not None:
                scores = top_k_filter(scores, top_k)
            if top_p is not None:
                scores = top_p_filter(scores, top_p)
            probs = torch.softmax(scores, -1)
            picks = [torch.multinomial(row.flip(0), 1, generator=generator) for row in probs]
            return (logits.shape[-1] - 1 - torch.cat(picks)).to(logits.device)
        """),
]
SAMPLERS = [v for v in VARIANTS if v.exercise == "sampling.sample_next_token"]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}


@pytest.mark.parametrize("variant", SAMPLERS, ids=[v.id for v in SAMPLERS])
def test_a_correct_sampler_draws_differently_from_the_reference(variant: Variant):
    logits = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
    assert draws_differ(variant, {"logits": logits, "temperature": 1.3, "top_k": 4})


@pytest.mark.parametrize("variant", SAMPLERS[:2], ids=[v.id for v in SAMPLERS[:2]])
def test_a_correct_sampler_passes_for_many_seeds_of_the_draw(variant: Variant):
    """The statistical checks on 5 other draws (other seeds, other cases): no false failure."""
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    for secret in range(5):
        failed = run_checks("sampling", source, functions=["sample_next_token"], secret=secret)
        assert failed == {}, (secret, failed)

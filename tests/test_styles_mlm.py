"""Correct BERT masking written differently from the reference gets full marks, whatever it draws.

Each style draws other positions and replacements than the reference from the same seed
(Hugging Face's three Bernoulli draws, one uniform number for both decisions, a loop over
positions), so only checks that judge the draws by what always holds and by their
distribution can pass them. Each is graded once by the real grader, and two have their
checks run in-process on several other draws, to show that false failures are rare.
"""

from __future__ import annotations

import pytest
import torch

from grader.author import Mutant as Variant
from tests.conftest import SOLUTIONS
from tests.local_checks import draws_differ, run_checks

VARIANTS = [
    Variant("mlm.mask_tokens", "Hugging Face's DataCollatorForLanguageModeling: three Bernoulli draws", """
        def mask_tokens(tokens, mask_id, vocab_size, mask_prob=0.15, special_ids=(), generator=None):
            labels = tokens.clone()
            special = torch.isin(tokens, torch.tensor(list(special_ids), dtype=tokens.dtype, device=tokens.device))
            chance = torch.full(tokens.shape, mask_prob, device=tokens.device).masked_fill(special, 0.0)
            selected = torch.bernoulli(chance, generator=generator).bool()
            labels[~selected] = -100
            replaced = torch.bernoulli(torch.full(tokens.shape, 0.8, device=tokens.device), generator=generator).bool()
            replaced &= selected
            inputs = tokens.clone()
            inputs[replaced] = mask_id
            randomised = torch.bernoulli(torch.full(tokens.shape, 0.5, device=tokens.device), generator=generator)
            randomised = randomised.bool() & selected & ~replaced
            words = torch.randint(vocab_size, tokens.shape, generator=generator, device=tokens.device)
            inputs[randomised] = words[randomised].to(tokens.dtype)
            return inputs, labels
        """),
    Variant("mlm.mask_tokens", "one uniform number for both decisions; random ids drawn only where needed", """
        def mask_tokens(tokens, mask_id, vocab_size, mask_prob=0.15, special_ids=(), generator=None):
            u = torch.rand(tokens.shape, generator=generator, device=tokens.device, dtype=torch.float64)
            special = torch.zeros_like(tokens, dtype=torch.bool)
            for s in set(special_ids):
                special = special | (tokens == s)
            selected = (u < mask_prob) & ~special
            # given u < mask_prob, u / mask_prob is uniform on [0, 1): the first 80% mask, the next 10% random
            to_mask = selected & (u < 0.8 * mask_prob)
            to_random = selected & ~to_mask & (u < 0.9 * mask_prob)
            inputs = torch.where(to_mask, torch.full_like(tokens, mask_id), tokens)
            where = to_random.nonzero(as_tuple=True)
            words = torch.randint(0, vocab_size, (len(where[0]),), generator=generator, device=tokens.device)
            inputs = inputs.index_put(where, words.to(tokens.dtype))
            labels = torch.where(selected, tokens, torch.full_like(tokens, -100))
            return inputs, labels
        """),
    Variant("mlm.mask_tokens", "a Python loop over the positions", """
        def mask_tokens(tokens, mask_id, vocab_size, mask_prob=0.15, special_ids=(), generator=None):
            specials = set(int(s) for s in special_ids)
            flat = tokens.reshape(-1).tolist()
            inputs, labels = [], []
            for token in flat:
                if token in specials or float(torch.rand((), generator=generator, device=tokens.device)) >= mask_prob:
                    inputs.append(token)
                    labels.append(-100)
                    continue
                labels.append(token)
                action = float(torch.rand((), generator=generator, device=tokens.device))
                if action < 0.8:
                    inputs.append(mask_id)
                elif action < 0.9:
                    inputs.append(int(torch.randint(vocab_size, (), generator=generator, device=tokens.device)))
                else:
                    inputs.append(token)
            make = lambda values: torch.tensor(values, dtype=tokens.dtype, device=tokens.device).reshape(tokens.shape)
            return make(inputs), make(labels)
        """),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_gets_full_marks(variant: Variant, grader, course, submission_factory):
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    report = grader.grade(submission_factory({variant.module: source}), course.affected_by(variant.module))
    lost = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert lost == {}


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.id for v in VARIANTS])
def test_a_correct_variant_draws_differently_from_the_reference(variant: Variant):
    tokens = torch.randint(4, 30, (4, 16), generator=torch.Generator().manual_seed(0))
    assert draws_differ(variant, {"tokens": tokens, "mask_id": 3, "vocab_size": 30, "mask_prob": 0.4,
                                  "special_ids": (0, 1, 2)})


@pytest.mark.parametrize("variant", VARIANTS[:2], ids=[v.id for v in VARIANTS[:2]])
def test_a_correct_variant_passes_for_many_seeds_of_the_draw(variant: Variant):
    """Every check on 5 other draws (other seeds, other cases): no false failure."""
    source = variant.apply((SOLUTIONS / f"{variant.module}.py").read_text())
    for secret in range(5):
        failed = run_checks("mlm", source, secret=secret)
        assert failed == {}, (secret, failed)

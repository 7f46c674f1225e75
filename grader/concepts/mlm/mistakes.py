"""Realistic mistakes in mlm.py."""

from grader.author import Mutant


def _masking(select: str = "torch.rand(tokens.shape, generator=generator, device=device) < mask_prob",
             special: str = "special |= tokens == special_id",
             labels: str = "torch.where(selected, tokens, torch.full_like(tokens, -100))",
             random_tokens: str = "torch.randint(0, vocab_size, tokens.shape, generator=generator, device=device, "
                                  "dtype=tokens.dtype)",
             split: str = "mask = selected & (action < 0.8)\n    rand = selected & (action >= 0.8) & (action < 0.9)") -> str:
    """The reference's structure with one part replaced."""
    return f"""
def mask_tokens(tokens, mask_id, vocab_size, mask_prob=0.15, special_ids=(), generator=None):
    device = tokens.device
    special = torch.zeros(tokens.shape, dtype=torch.bool, device=device)
    for special_id in special_ids:
        {special}
    selected = ({select}) & ~special
    labels = {labels}
    action = torch.rand(tokens.shape, generator=generator, device=device)
    random_tokens = {random_tokens}
    {split}
    inputs = torch.where(mask, torch.full_like(tokens, mask_id), tokens)
    inputs = torch.where(rand, random_tokens, inputs)
    return inputs, labels
"""


MUTANTS = [
    Mutant("mlm.mask_tokens", "masks special tokens too (special_ids ignored)",
           _masking(special="pass")),
    Mutant("mlm.mask_tokens", "80/10/10 done as 10/10/80 (mask 10%, random 10%, unchanged 80%)",
           _masking(split="mask = selected & (action < 0.1)\n    rand = selected & (action >= 0.1) & (action < 0.2)")),
    Mutant("mlm.mask_tokens", "random replacements from [0, vocab_size] (randint's upper bound taken as included)",
           _masking(random_tokens="torch.randint(0, vocab_size + 1, tokens.shape, generator=generator, "
                                  "device=device, dtype=tokens.dtype)")),
    Mutant("mlm.mask_tokens", "random replacements from every id in use, special ones after the vocabulary included",
           _masking(random_tokens="torch.randint(0, max(vocab_size, mask_id + 1, *[s + 1 for s in special_ids]), "
                                  "tokens.shape, generator=generator, device=device, dtype=tokens.dtype)")),
    Mutant("mlm.mask_tokens", "random replacements never 0 (randint(1, vocab_size), to skip [PAD])",
           _masking(random_tokens="torch.randint(1, vocab_size, tokens.shape, generator=generator, device=device, "
                                  "dtype=tokens.dtype)")),
    Mutant("mlm.mask_tokens", "random replacements drawn from the tokens of the batch",
           _masking(random_tokens="tokens.reshape(-1)[torch.randint(0, tokens.numel(), tokens.shape, "
                                  "generator=generator, device=device)]")),
    Mutant("mlm.mask_tokens", "labels set everywhere (the original token at every position)",
           _masking(labels="tokens.clone()")),
    Mutant("mlm.mask_tokens", "labels are the masked inputs instead of the original tokens",
           _masking().replace("    return inputs, labels\n",
                              "    return inputs, torch.where(selected, inputs, torch.full_like(tokens, -100))\n")),
    Mutant("mlm.mask_tokens", "labels -100 where selected and the token elsewhere (inverted)",
           _masking(labels="torch.where(selected, torch.full_like(tokens, -100), tokens)")),
    Mutant("mlm.mask_tokens", "writes the masks into tokens in place",
           _masking().replace("    inputs = torch.where(mask, torch.full_like(tokens, mask_id), tokens)\n"
                              "    inputs = torch.where(rand, random_tokens, inputs)\n",
                              "    inputs = tokens\n    inputs[mask] = mask_id\n    inputs[rand] = random_tokens[rand]\n")),
    Mutant("mlm.mask_tokens", "mask_prob ignored (always 15%)",
           _masking(select="torch.rand(tokens.shape, generator=generator, device=device) < 0.15")),
    Mutant("mlm.mask_tokens", "selects exactly round(mask_prob * length) positions of each row",
           _masking(select="torch.rand(tokens.shape, generator=generator, device=device).argsort(-1).argsort(-1) "
                           "< round(mask_prob * tokens.shape[-1])")),
    Mutant("mlm.mask_tokens", "the same selection for every row (one row of random numbers for the batch)",
           _masking(select="torch.rand(tokens.shape[-1:], generator=generator, device=device) < mask_prob")),
    Mutant("mlm.mask_tokens", "random tokens for 10% of the remaining 20% (Hugging Face's 0.5 misread as 0.1)",
           _masking(split="mask = selected & (action < 0.8)\n"
                          "    rand = selected & ~mask & (torch.rand(tokens.shape, generator=generator, device=device) "
                          "< 0.1)")),
    Mutant("mlm.mask_tokens", "one uniform for the selection and the split, not rescaled (every selected token masked)",
           _masking(select="action_first < mask_prob",
                    split="mask = selected & (action_first < 0.8)\n"
                          "    rand = selected & (action_first >= 0.8) & (action_first < 0.9)").replace(
               "    special = torch.zeros", "    action_first = torch.rand(tokens.shape, generator=generator, "
               "device=device)\n    special = torch.zeros")),
    Mutant("mlm.mask_tokens", "random tokens from the global RNG (randint without the generator)",
           _masking(random_tokens="torch.randint(0, vocab_size, tokens.shape, device=device, dtype=tokens.dtype)")),
    Mutant("mlm.mask_tokens", "everything from the global RNG (the generator ignored)",
           _masking().replace("generator=generator, ", "")),
]

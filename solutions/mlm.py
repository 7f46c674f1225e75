"""BERT's masked language modelling: hiding tokens for the model to guess.

GPT learns by predicting the next token; BERT (Devlin et al. 2018) learns by filling in
blanks, which lets it look at the words both before and after each blank (it is
*bidirectional*). The lecture's example: "The cat <mask> sleeping on the <mask> next to
the sofa." The model sees the sentence with some tokens hidden and is trained to name
them ("is", "mat"), with the cross-entropy loss on the hidden positions only.

`mask_tokens` prepares one training example:

1. **Select** each position independently with probability `mask_prob` (BERT: 15%), except
   special tokens (`[CLS]`, `[SEP]`, padding, listed in `special_ids`), which are never
   selected.
2. **Labels**: the original token where selected, `-100` elsewhere. `-100` is the
   `ignore_index` of `F.cross_entropy`, so the loss counts only the selected positions.
3. **Inputs**: at a selected position, with probability 0.8 the token becomes `mask_id`,
   with probability 0.1 a random token (uniform over `[0, vocab_size)`), and with
   probability 0.1 it stays as it is. Everywhere else the input is the original token.

Why not always `[MASK]`? At fine-tuning and prediction time there is no `[MASK]` in the
text; if the model only ever had to guess at `[MASK]`, it would learn nothing useful about
the other positions. The random and unchanged 10% make it keep a good guess for every
token it sees.

## A worked example

`tokens = [[101, 7, 42, 9, 102]]` with `special_ids = (101, 102)` (CLS and SEP),
`mask_id = 103`, `vocab_size = 1000`. Suppose positions 1 and 3 are selected: position 1
draws "mask" and position 3 draws "random" (say 555). Then

| position | token | selected | label  | input |
|----------|-------|----------|--------|-------|
| 0 (CLS)  | 101   | never    | -100   | 101   |
| 1        | 7     | yes      | 7      | 103 (mask) |
| 2        | 42    | no       | -100   | 42    |
| 3        | 9     | yes      | 9      | 555 (random) |
| 4 (SEP)  | 102   | never    | -100   | 102   |

Over many examples, about 15% of the ordinary positions are selected, and of those about
80% read `mask_id`, 10% a random token and 10% the original (slightly more: a random draw
can hit the original token).

## Randomness

Every random number comes from the `torch.Generator` passed in (on the tokens' device),
never from the global random state. The grader judges your function by its draws over
many calls (rates, the 80/10/10 split, which values appear), never by matching particular
random numbers, so any correct way of drawing gets full marks.
"""

from __future__ import annotations

from collections.abc import Collection

import torch

__all__ = ["mask_tokens"]


def mask_tokens(
    tokens: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    mask_prob: float = 0.15,
    special_ids: Collection[int] = (),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of a batch of token ids: ``(inputs, labels)``.

    Args:
        tokens: integer tensor of any shape (usually ``[B, T]``); it is not modified.
        mask_id: the id of the ``[MASK]`` token.
        vocab_size: random replacements are drawn uniformly from ``[0, vocab_size)``.
        mask_prob: the probability that an ordinary position is selected.
        special_ids: ids that are never selected (``[CLS]``, ``[SEP]``, padding, ...).
        generator: the ``torch.Generator`` (on the tokens' device) every random number
            comes from; ``None`` uses torch's global random state.

    Returns:
        ``(inputs, labels)``, both shaped like ``tokens`` (same integer dtype and device).
        Each position whose token is not in ``special_ids`` is selected independently with
        probability ``mask_prob``. ``labels`` is the original token where selected and
        ``-100`` elsewhere. ``inputs`` equals ``tokens`` except where selected: there it is
        ``mask_id`` with probability 0.8, a token drawn uniformly from ``[0, vocab_size)``
        with probability 0.1, and the original token with probability 0.1.

    Steps: a boolean ``special`` mask (``torch.isin``, or ``|=`` over the ids); ``selected =
    (torch.rand(shape, generator=...) < mask_prob) & ~special``; one more uniform per position
    decides the replacement (``< 0.8`` mask, ``< 0.9`` random, else keep); ``torch.where``
    builds both outputs without writing into ``tokens``.

    Pitfalls: the split is 80% mask, 10% random, 10% unchanged, in that order (not 10/10/80);
    the 10% random is of the *selected* positions (not 10% of the remaining 20%); labels are
    ``-100`` at every position that was not selected, special ones included; random tokens are
    drawn from ``[0, vocab_size)`` (``torch.randint(vocab_size, ...)`` excludes ``vocab_size``);
    pass ``generator=generator`` (and ``device=tokens.device``) to every random call.

    Example:
        mask_tokens(torch.tensor([[101, 7, 42, 9, 102]]), mask_id=103, vocab_size=1000,
                    special_ids=(101, 102), generator=torch.Generator().manual_seed(0))
        returns (with the reference's order of draws, on the CPU) inputs [[101, 7, 756, 103, 102]]
        and labels [[-100, -100, 42, 9, -100]]: positions 2 and 3 were selected, 42 became the
        random token 756 and 9 became the mask. Another correct implementation may draw
        other positions from the same seed.
    """
    # BEGIN SOLUTION
    device = tokens.device
    special = torch.zeros(tokens.shape, dtype=torch.bool, device=device)
    for special_id in special_ids:
        special |= tokens == special_id
    selected = (torch.rand(tokens.shape, generator=generator, device=device) < mask_prob) & ~special
    labels = torch.where(selected, tokens, torch.full_like(tokens, -100))
    action = torch.rand(tokens.shape, generator=generator, device=device)
    random_tokens = torch.randint(
        0, vocab_size, tokens.shape, generator=generator, device=device, dtype=tokens.dtype
    )
    inputs = torch.where(selected & (action < 0.8), torch.full_like(tokens, mask_id), tokens)
    inputs = torch.where(selected & (action >= 0.8) & (action < 0.9), random_tokens, inputs)
    return inputs, labels
    # END SOLUTION

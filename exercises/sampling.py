"""Sampling the next token: temperature, top-k and top-p (nucleus) filtering.

A language model gives, for each prefix, a score (logit) for every token of the
vocabulary; `softmax` turns them into probabilities. The lecture's greedy decoding and
beam search always take the most likely continuations, so they give the same text
every time and tend to repeat themselves. **Sampling** draws the next token at random
from the model's distribution instead: after "your cat is" a model might give "a" 40%,
"very" 30%, "not" 20% and "asleep" 10%, and a sampler says "very" three times in ten.

Three knobs shape the distribution before the draw:

- **Temperature** `T` divides the logits *before* the softmax: `softmax(logits / T)`.
  `T < 1` sharpens the distribution (more likely tokens get even more likely), `T > 1`
  flattens it, and `T -> 0` becomes greedy (this course makes `T = 0` the argmax).
- **Top-k** keeps the `k` largest logits of each row and sets the others to `-inf`
  (probability 0 after the softmax). Logits equal to the `k`-th largest are all kept.
- **Top-p** (nucleus sampling, Holtzman et al. 2019) keeps the most likely tokens
  whose probabilities add up to `p`: sort from most to least likely and keep a token
  iff the total probability of the tokens *before* it is `< p`. The most likely token
  is always kept (nothing comes before it), and the token that crosses `p` is kept too.

## A worked example

The probabilities `(0.4, 0.3, 0.2, 0.1)` (logits `log` of them):

| setting                  | distribution sampled from                         |
|--------------------------|---------------------------------------------------|
| `T = 1`                  | `(0.4, 0.3, 0.2, 0.1)`                            |
| `T = 0.5`                | `(0.533, 0.3, 0.133, 0.033)` (squares, renormalised) |
| `T = 2`                  | `(0.325, 0.282, 0.230, 0.163)` (square roots)     |
| `top_k = 2`              | `(0.571, 0.429, 0, 0)`                            |
| `top_p = 0.75`           | totals before: `0, 0.4, 0.7, 0.9` -> keep 3: `(0.444, 0.333, 0.222, 0)` |
| `top_k = 2, top_p = 0.5` | top-k gives `(0.571, 0.429)`; totals before `0, 0.571` -> keep 1: `(1, 0, 0, 0)` |

The order matters: with top-p first, `p = 0.5` keeps `(0.4, 0.3)` and top-k changes
nothing, so the last row would be `(0.571, 0.429, 0, 0)`. Here (as in Hugging Face's
`generate`) the temperature comes first, then top-k, then top-p on what top-k left.

## Randomness

Every random number comes from the `torch.Generator` passed in (`torch.multinomial(...,
generator=generator)`, `torch.rand(..., generator=generator)`), never from the global
random state: the same generator seed then gives the same tokens, which makes
experiments reproducible and lets the grader check you. The grader judges your sampler
by its draws (which tokens it can return, and how often over many draws), never by
matching particular random numbers, so any correct way of drawing gets full marks.
"""

from __future__ import annotations

import torch

__all__ = ["top_k_filter", "top_p_filter", "sample_next_token"]


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row; set the others to ``-inf``.

    Args:
        logits: ``[..., V]``, any leading dims; each row (last dim) is one distribution.
        k: how many to keep, ``k >= 1``. With ``k >= V`` nothing changes.

    Returns:
        A new tensor like ``logits``: entries below the ``k``-th largest of their row are
        ``-inf``, the others are the input's values unchanged (same dtype).

    Raises:
        ValueError: if ``k < 1``.

    Intuition: the model's long tail of unlikely tokens is where nonsense comes from;
    top-k cuts it off, and the softmax renormalises what is left.

    Pitfalls: compare with the ``k``-th largest *value* (``logits.topk(k).values[..., -1:]``)
    and keep everything ``>=`` it, so that logits tied with the ``k``-th are all kept
    (scattering the ``k`` indices of ``topk`` keeps exactly ``k`` and picks among ties
    arbitrarily). ``topk`` fails for ``k > V``: clamp ``k`` first. Fill with ``-inf``, not 0
    (a logit of 0 is a perfectly likely token), and do not write into ``logits``.

    Example:
        top_k_filter(torch.tensor([[1.0, 3.0, 2.0, 3.0]]), 2)  ->  [[-inf, 3.0, -inf, 3.0]]
        top_k_filter(torch.tensor([[1.0, 3.0, 2.0, 2.0]]), 2)  ->  [[-inf, 3.0, 2.0, 2.0]]  (a tie: 3 kept)
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("sampling.top_k_filter is not implemented yet")


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the most likely tokens that make up probability ``p``.

    Args:
        logits: ``[..., V]``; each row (last dim) is one distribution.
        p: ``0 < p <= 1``.

    Returns:
        A new tensor like ``logits``. With the row's ``softmax`` probabilities sorted from
        most to least likely, a token is kept (its logit unchanged) iff the total probability
        of the tokens before it is ``< p``; the others become ``-inf``. ``p = 1`` keeps all.

    Raises:
        ValueError: if ``p`` is not in ``(0, 1]``.

    Intuition: when the model is sure, the nucleus is one or two tokens; when it hesitates,
    it holds many. Top-k keeps the same number of tokens either way, top-p adapts.

    Steps: ``probs = softmax(logits)``; ``sorted_probs, order = probs.sort(descending=True)``;
    the total before each sorted token is ``cumsum - sorted_probs``; keep where it is ``< p``;
    then put the decisions back in the original order (``scatter`` with ``order``) before
    filling ``-inf``.

    Pitfalls: testing the cumulative sum *including* the token (``cumsum < p``) drops the
    token that crosses ``p``, one too few (and with a very likely first token, all of them).
    Forgetting to undo the sort filters the wrong tokens. Sort the probabilities from most
    to least likely, and compute them over the last dim.

    Example:
        probabilities (0.1, 0.4, 0.2, 0.3) as logits, p = 0.75:
        sorted 0.4, 0.3, 0.2, 0.1 with totals before 0, 0.4, 0.7, 0.9 -> keep 0.4, 0.3, 0.2;
        the result is the logits with -inf at index 0 (the 0.1).
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("sampling.top_p_filter is not implemented yet")


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one next token per row from the (filtered) distribution of the logits.

    Args:
        logits: ``[B, V]``, one row of next-token logits per sequence.
        temperature: ``>= 0``; ``0`` means greedy (the argmax of each row).
        top_k: if given, keep only the ``top_k`` largest (see :func:`top_k_filter`).
        top_p: if given, keep only the nucleus of probability ``top_p`` (see :func:`top_p_filter`).
        generator: the ``torch.Generator`` (on the logits' device) that every random number
            comes from; ``None`` uses torch's global random state.

    Returns:
        An integer tensor ``[B]`` (int64, on the logits' device): with ``temperature == 0``
        the argmax of each row; otherwise one draw per row from
        ``softmax(filtered)``, where ``filtered`` is ``logits / temperature``, then
        ``top_k_filter`` if ``top_k`` is given, then ``top_p_filter`` if ``top_p`` is given.

    Raises:
        ValueError: if ``temperature < 0``.

    Pitfalls: divide the *logits* by the temperature; dividing the probabilities after the
    softmax changes nothing once they are renormalised. Filter after the temperature, top-k
    before top-p. ``torch.multinomial(probs, 1, generator=generator)`` returns ``[B, 1]``:
    squeeze it to ``[B]``. Draw with the generator (and only with it), and draw the rows
    independently of each other.

    Example:
        logits = torch.log(torch.tensor([[0.4, 0.3, 0.2, 0.1]]))
        sample_next_token(logits, temperature=0)                   ->  tensor([0])
        sample_next_token(logits, top_k=2, top_p=0.5, generator=g) ->  tensor([0]) (the only token kept)
        sample_next_token(logits, generator=g)   ->  tensor([1]) about 3 times in 10
    """
    # TODO: implement (see the docstring above).
    raise NotImplementedError("sampling.sample_next_token is not implemented yet")

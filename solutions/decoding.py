"""Decoding: turning next-token probabilities into a whole output sequence.

A decoder only predicts the next token of a prefix that starts with ``<bos>``; generation
appends tokens one at a time until ``<eos>``. Greedy decoding always takes the most likely
token; beam search keeps the ``k`` best partial sentences, so a less likely first word
can still win when it leads to a better sentence overall.

``step_fn(prefixes)`` maps a ``LongTensor [n, t]`` of ``n`` equal-length prefixes to
``[n, V]`` next-token log-probabilities (possibly on another device). A hypothesis is a
list of token ids starting with ``bos_id``; its score is the sum of the log-probabilities
of its tokens after ``bos_id``.

## A toy model

Three tokens besides `<bos>`: `A`, `B` and `<eos>`. The model's next-token
probabilities (the step function returns their logarithms):

| prefix        | P(A) | P(B) | P(`<eos>`) |
|---------------|------|------|----------|
| `<bos>`       | 0.5  | 0.4  | 0.1      |
| `<bos> A`     | 0.3  | 0.3  | 0.4      |
| `<bos> B`     | 0.05 | 0.05 | 0.9      |

**Greedy** takes `A` (0.5), then `<eos>` (0.4): `<bos> A <eos>` with probability 0.2,
score `log 0.5 + log 0.4 = -1.61`.

**Beam search** with `k = 2`, scores being sums of log-probabilities:

| step | extends       | candidate         | score  | kept (best 2 of all candidates)  |
|------|---------------|-------------------|--------|----------------------------------|
| 1    | `<bos>`       | `<bos> A`         | -0.69  | ✓ alive                          |
| 1    | `<bos>`       | `<bos> B`         | -0.92  | ✓ alive                          |
| 1    | `<bos>`       | `<bos> <eos>`     | -2.30  | ·                                |
| 2    | `<bos> A`     | `<bos> A A`       | -1.90  | ·                                |
| 2    | `<bos> A`     | `<bos> A B`       | -1.90  | ·                                |
| 2    | `<bos> A`     | `<bos> A <eos>`   | -1.61  | ✓ finished                       |
| 2    | `<bos> B`     | `<bos> B A`       | -3.91  | ·                                |
| 2    | `<bos> B`     | `<bos> B B`       | -3.91  | ·                                |
| 2    | `<bos> B`     | `<bos> B <eos>`   | -1.02  | ✓ finished                       |

No hypothesis is alive after step 2, so the search stops and returns
`[(<bos> B <eos>, -1.02), (<bos> A <eos>, -1.61)]`: the less likely first word `B`
wins, which greedy decoding could never find. Step 1 starts from ONE hypothesis, and
step 2 picks the best 2 of all 6 candidates, not the best per hypothesis.

## Ranking with a length penalty

Summed log-probabilities favour short outputs (every token adds a negative number).
The final ranking therefore divides by a power of the length:
`score / generated_len ** length_penalty`, where `generated_len` counts the tokens
after `<bos>` (the `<eos>` included); `length_penalty = 0` ranks by the raw score.
The returned scores stay the raw sums.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["greedy_decode", "beam_search"]

StepFn = Callable[[torch.Tensor], torch.Tensor]


def greedy_decode(
    step_fn: StepFn, bos_id: int, eos_id: int, max_new_tokens: int
) -> tuple[list[int], float]:
    """Greedy decoding: always append the most likely next token.

    Args:
        step_fn: maps a ``LongTensor [n, t]`` of prefixes to ``[n, V]`` log-probs.
        bos_id: the start token; every hypothesis begins with it.
        eos_id: the end token; decoding stops right after it is appended.
        max_new_tokens: the most tokens to add after ``bos_id``.

    Returns:
        ``(tokens, score)``: ``tokens`` is a Python ``list[int]`` starting with
        ``bos_id`` (and ending with ``eos_id`` if it was produced), and ``score`` is a
        Python float, the sum of the log-probs of the appended tokens.

    Algorithm: ``tokens = [bos_id]``; repeat at most ``max_new_tokens`` times: call
    ``step_fn`` on ``torch.tensor([tokens])``, append the argmax of the returned row,
    add its log-prob to the score, and stop if it was ``eos_id``.

    Intuition: the cheapest decoder. It is locally best at each step but can miss the
    best sentence overall: a likely first word can lead into a dead end.

    Pitfall: sum log-probabilities instead of multiplying probabilities (the product
    underflows to 0 for long sequences). Use ``.item()`` or ``.tolist()`` to read a
    score, because the model may return CUDA tensors. On ties, take the lowest token
    id (what ``torch.argmax`` does).
    """
    # BEGIN SOLUTION
    tokens = [bos_id]
    score = 0.0
    for _ in range(max_new_tokens):
        prefix = torch.tensor([tokens], dtype=torch.long)
        row = step_fn(prefix)[0].to("cpu", torch.float64)
        next_token = int(torch.argmax(row))
        score += row[next_token].item()
        tokens.append(next_token)
        if next_token == eos_id:
            break
    return tokens, score
    # END SOLUTION


def beam_search(
    step_fn: StepFn,
    bos_id: int,
    eos_id: int,
    beam_width: int,
    max_new_tokens: int,
    length_penalty: float = 0.0,
) -> list[tuple[list[int], float]]:
    """Beam search: keep the ``beam_width`` best partial hypotheses at every step.

    Args:
        step_fn, bos_id, eos_id, max_new_tokens: as in ``greedy_decode``.
        beam_width: ``k``, the number of hypotheses kept per step.
        length_penalty: ``alpha`` in the final ranking (0 means raw scores).

    Returns:
        At most ``k`` pairs ``(tokens, score)``, best first. ``score`` is the RAW sum of
        log-probs, and the ranking uses ``score / generated_len ** alpha``, where
        ``generated_len`` is the number of tokens after ``bos_id``.

    Algorithm: start from the single hypothesis ``[bos_id]``. At each of at most
    ``max_new_tokens`` steps, extend every alive hypothesis by every token (one batched
    ``step_fn`` call), keep the ``k`` best of all candidates by raw score, move the
    kept ones ending in ``eos_id`` to the finished list, and stop early if none is alive.
    Alive hypotheses left at the end count as finished. Rank the finished ones as above
    and return the best ``k``.

    Intuition: like greedy, but with ``k`` candidates kept open. With ``k = 1`` it is
    exactly greedy decoding.

    Pitfall: at step 0 there is ONE hypothesis, not ``k`` copies of ``[bos_id]``
    (copies would fill the beam with duplicates). Pick the best of all
    ``alive x V`` candidates, not the ``k`` best tokens per hypothesis. Do not drop
    finished hypotheses.
    """
    # BEGIN SOLUTION
    alive: list[tuple[list[int], float]] = [([bos_id], 0.0)]
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_new_tokens):
        if not alive:
            break
        prefixes = torch.tensor([tokens for tokens, _ in alive], dtype=torch.long)
        log_probs = step_fn(prefixes).to("cpu", torch.float64)
        vocab_size = log_probs.shape[-1]
        scores = torch.tensor([score for _, score in alive], dtype=torch.float64)
        candidates = (scores.unsqueeze(-1) + log_probs).reshape(-1)
        # A stable sort breaks ties by (hypothesis, token) order, so beam_width=1 picks
        # the same token as torch.argmax in greedy_decode.
        order = torch.sort(candidates, descending=True, stable=True).indices[:beam_width]
        next_alive = []
        for flat_index in order.tolist():
            parent, token = divmod(flat_index, vocab_size)
            hypothesis = (alive[parent][0] + [token], candidates[flat_index].item())
            (finished if token == eos_id else next_alive).append(hypothesis)
        alive = next_alive
    finished.extend(alive)

    def normalised(item: tuple[list[int], float]) -> float:
        tokens, score = item
        generated = len(tokens) - 1
        return score / generated**length_penalty if generated > 0 else score

    return sorted(finished, key=normalised, reverse=True)[:beam_width]
    # END SOLUTION

"""Checks for decoding.greedy_decode and decoding.beam_search.

Every check decodes from :class:`ToyLM`, a small deterministic "language model": the
log-probs of the next token are drawn from a generator seeded by a hash of the whole
prefix, so they depend on every earlier token, and are the same on every call. Cases are
drawn so that no two competing candidates are within ``MARGIN`` of each other (no ties,
even after float32 rounding), so the reference answer is the only right one.

The model (``toy_lm.py``) is handed to the student's function as ``step_fn``; the
worker rebuilds it from its source and runs it locally, so a call costs no round trip to
the grading process, which keeps its own copy to compute the expected answers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from hypothesis import strategies as st

from grader.author import CheckFailed, exercise, strategies as gs
from solutions import decoding as ref

from .toy_lm import NO_EOS, ToyLM, type_name

POSITION = 7

# A student may write greedy_decode as `beam_search(..., beam_width=1)[0]`: greedy is then
# graded with the reference beam_search, so a beam bug is charged to beam_search only.
greedy_decode = exercise("decoding.greedy_decode", reference=ref.greedy_decode, uses=["decoding.beam_search"])
beam_search = exercise("decoding.beam_search", reference=ref.beam_search)

MARGIN = 1e-4  # the smallest gap between competing candidates in a drawn case

RESULT_TYPES = (
    "tokens: a list of ints (a tuple or a 1-D integer tensor is accepted and converted); "
    "score: a Python float (a one-element tensor is accepted)"
)


# ----------------------------------------------------------------------------- the model


# ----------------------------------------------------------------------------- reference facts


def _normalised(tokens: list[int] | tuple[int, ...], score: float, length_penalty: float) -> float:
    generated = len(tokens) - 1
    return score / (generated ** length_penalty) if generated > 0 else score  # the contract's ranking


def reference_pool(lm: ToyLM, beam_width: int, max_new_tokens: int) -> tuple[list, float]:
    """The reference search's finished hypotheses ``(tokens, raw score)`` and its pruning margin.

    The margin is the smallest gap between the last kept and the first dropped candidate
    of any step (for greedy, width 1: between the best and the second-best token).
    """
    margin = math.inf
    alive: list[tuple[tuple[int, ...], float]] = [((lm.bos_id,), 0.0)]
    finished: list[tuple[tuple[int, ...], float]] = []
    for _ in range(max_new_tokens):
        if not alive:
            break
        candidates = []
        for tokens, score in alive:
            row = lm.row(tokens).tolist()
            candidates.extend((score + row[v], tokens + (v,)) for v in range(lm.vocab_size))
        candidates.sort(key=lambda c: -c[0])
        if len(candidates) > beam_width:
            margin = min(margin, candidates[beam_width - 1][0] - candidates[beam_width][0])
        alive = []
        for score, tokens in candidates[:beam_width]:
            (finished if tokens[-1] == lm.eos_id else alive).append((tokens, score))
    return finished + alive, margin


def ranking_margin(pool: list, beam_width: int, length_penalty: float) -> float:
    """The smallest gap between neighbours among the best ``beam_width + 1`` by normalised score."""
    ranked = sorted((_normalised(t, s, length_penalty) for t, s in pool), reverse=True)
    return min((ranked[i] - ranked[i + 1] for i in range(min(len(ranked) - 1, beam_width))), default=math.inf)


def search_margin(lm: ToyLM, beam_width: int, max_new_tokens: int, length_penalty: float) -> float:
    """The smallest gap at any decision the reference beam search makes (greedy: width 1)."""
    pool, margin = reference_pool(lm, beam_width, max_new_tokens)
    return min(margin, ranking_margin(pool, beam_width, length_penalty))


def _tie_free_lm(draw: st.DrawFn, vocab_size: int, bos: int, eos: int, max_new_tokens: int, eos_bias: float,
                 beam_width: int, length_penalty: float, accept: Callable[[ToyLM], bool] | None = None) -> ToyLM:
    """A model from a drawn seed, moved on to the next seed while some decision is a near tie
    (or while ``accept`` rejects it)."""
    seed = draw(gs.seeds())
    for attempt in range(200):
        lm = ToyLM(vocab_size, bos, eos, seed + attempt, max_new_tokens, eos_bias)
        if search_margin(lm, beam_width, max_new_tokens, length_penalty) > MARGIN and (accept is None or accept(lm)):
            return lm
    return lm  # pragma: no cover - 200 unsuitable seeds in a row do not happen


def _bos_eos(draw: st.DrawFn, vocab_size: int) -> tuple[int, int]:
    eos = draw(st.integers(0, vocab_size - 1))
    bos = (eos + 1 + draw(st.integers(0, vocab_size - 2))) % vocab_size
    return bos, eos


@dataclass
class GreedyCase:
    step_fn: ToyLM
    bos_id: int
    eos_id: int
    max_new_tokens: int

    def args(self, lm: ToyLM | None = None) -> tuple:
        return (lm or self.step_fn, self.bos_id, self.eos_id, self.max_new_tokens)


@dataclass
class BeamCase:
    step_fn: ToyLM
    bos_id: int
    eos_id: int
    beam_width: int
    max_new_tokens: int
    length_penalty: float

    def args(self, lm: ToyLM | None = None) -> tuple:
        return (lm or self.step_fn, self.bos_id, self.eos_id, self.beam_width, self.max_new_tokens)


@st.composite
def greedy_cases(draw: st.DrawFn, max_new: tuple[int, int] = (1, 6),
                 eos_biases: tuple[float, ...] = (0.0, 0.5, 1.0)) -> GreedyCase:
    vocab_size = draw(st.integers(3, 6))
    bos, eos = _bos_eos(draw, vocab_size)
    max_new_tokens = draw(st.integers(*max_new))
    eos_bias = draw(st.sampled_from(eos_biases))
    lm = _tie_free_lm(draw, vocab_size, bos, eos, max_new_tokens, eos_bias, 1, 0.0)
    return GreedyCase(lm, bos, eos, max_new_tokens)


@st.composite
def beam_cases(draw: st.DrawFn, widths: tuple[int, int] = (2, 4), max_new: tuple[int, int] = (2, 5),
               penalties: tuple[float, ...] = (0.0, 0.6, 1.0),
               eos_biases: tuple[float, ...] = (0.0, 0.5, 1.0)) -> BeamCase:
    vocab_size = draw(st.integers(3, 6))
    bos, eos = _bos_eos(draw, vocab_size)
    beam_width = draw(st.integers(*widths))
    max_new_tokens = draw(st.integers(*max_new))
    length_penalty = draw(st.sampled_from(penalties))
    eos_bias = draw(st.sampled_from(eos_biases))
    lm = _tie_free_lm(draw, vocab_size, bos, eos, max_new_tokens, eos_bias, beam_width, length_penalty)
    return BeamCase(lm, bos, eos, beam_width, max_new_tokens, length_penalty)


@st.composite
def exhaustive_cases(draw: st.DrawFn) -> BeamCase:
    """A beam at least ``V ** (T - 1)`` wide: nothing that can win is ever pruned."""
    vocab_size = draw(st.integers(3, 4))
    bos, eos = _bos_eos(draw, vocab_size)
    max_new_tokens = draw(st.integers(2, 3))
    beam_width = vocab_size ** (max_new_tokens - 1) + draw(st.integers(0, 1))
    eos_bias, length_penalty = draw(st.sampled_from([(NO_EOS, 0.0), (NO_EOS, 0.0), (0.0, 0.0), (0.5, 1.0)]))
    lm = _tie_free_lm(draw, vocab_size, bos, eos, max_new_tokens, eos_bias, beam_width, length_penalty)
    return BeamCase(lm, bos, eos, beam_width, max_new_tokens, length_penalty)


def _top_tokens(pool: list, beam_width: int, key: Callable[[tuple, float], float]) -> list[tuple[int, ...]]:
    return [tokens for tokens, _ in sorted(pool, key=lambda item: key(*item), reverse=True)[:beam_width]]


@st.composite
def ranking_cases(draw: st.DrawFn) -> BeamCase:
    """Cases where the length normalisation decides the answer: ranking by raw score, or
    dividing by the length with bos_id counted, returns a different list."""
    vocab_size = draw(st.integers(3, 5))
    bos, eos = _bos_eos(draw, vocab_size)
    beam_width = draw(st.integers(2, 3))
    max_new_tokens = draw(st.integers(3, 4))
    length_penalty = draw(st.sampled_from([0.5, 1.0, 1.5]))
    eos_bias = draw(st.sampled_from([0.5, 1.0]))

    def sensitive(lm: ToyLM) -> bool:
        pool, _ = reference_pool(lm, beam_width, max_new_tokens)
        right = _top_tokens(pool, beam_width, lambda t, s: _normalised(t, s, length_penalty))
        raw = _top_tokens(pool, beam_width, lambda t, s: s)
        with_bos = _top_tokens(pool, beam_width, lambda t, s: s / len(t) ** length_penalty)
        return right != raw and right != with_bos

    lm = _tie_free_lm(draw, vocab_size, bos, eos, max_new_tokens, eos_bias, beam_width, length_penalty, sensitive)
    return BeamCase(lm, bos, eos, beam_width, max_new_tokens, length_penalty)


def brute_force(lm: ToyLM, max_new_tokens: int, length_penalty: float, count: int) -> list[tuple[list[int], float]]:
    """The ``count`` best hypotheses among all sequences that stop at eos or after max_new_tokens."""
    every = []
    for length in range(1, max_new_tokens + 1):
        for body in itertools.product(range(lm.vocab_size), repeat=length):
            if lm.eos_id in body[:-1] or (length < max_new_tokens and body[-1] != lm.eos_id):
                continue
            tokens = [lm.bos_id, *body]
            every.append((tokens, lm.log_prob(tokens)))
    every.sort(key=lambda item: _normalised(item[0], item[1], length_penalty), reverse=True)
    return every[:count]


# ----------------------------------------------------------------------------- reading results


def as_tokens(value: Any, what: str, lm: ToyLM) -> list[int]:
    """The student's token list as Python ints, validated against the model."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 1 or value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise CheckFailed(
                f"{what} should be a list of token ids, got a {str(value.dtype).replace('torch.', '')} tensor "
                f"of shape {list(value.shape)}",
                hint=RESULT_TYPES,
            )
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise CheckFailed(f"{what} should be a list of token ids, got {type_name(value)}", hint=RESULT_TYPES)
    tokens = []
    for i, token in enumerate(value):
        if isinstance(token, bool) or not isinstance(token, int):
            extra = " (convert with int(...) or .item())" if isinstance(token, torch.Tensor) else ""
            raise CheckFailed(
                f"{what}: position {i} holds a {type_name(token)}, not a Python int{extra}", hint=RESULT_TYPES
            )
        tokens.append(token)
    if not tokens or tokens[0] != lm.bos_id:
        raise CheckFailed(
            f"{what} {tokens} should start with bos_id={lm.bos_id}",
            hint="a hypothesis is the whole sequence: bos_id first, then the generated tokens",
        )
    bad = [t for t in tokens if not 0 <= t < lm.vocab_size]
    if bad:
        raise CheckFailed(f"{what} {tokens} holds token ids outside [0, {lm.vocab_size}): {bad}")
    return tokens


def as_score(value: Any, what: str) -> float:
    """The student's score as a float: a Python number, or a one-element floating tensor."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        value = float(value.reshape(()))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"{what} should be a Python float, got {type_name(value)}", hint=RESULT_TYPES)
    if not math.isfinite(value):
        raise CheckFailed(f"{what} is {value}, expected a finite sum of log-probabilities",
                          hint="add log-probs (negative numbers), never multiply probabilities")
    return float(value)


def read_greedy(got: Any, lm: ToyLM) -> tuple[list[int], float]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise CheckFailed(f"greedy_decode should return a pair (tokens, score), got a {type_name(got)}{size}",
                          hint=RESULT_TYPES)
    return as_tokens(got[0], "the tokens", lm), as_score(got[1], "the score")


def read_beam(got: Any, lm: ToyLM) -> list[tuple[list[int], float]]:
    if not isinstance(got, (list, tuple)):
        raise CheckFailed(
            f"beam_search should return a list of (tokens, score) pairs, got {type_name(got)}", hint=RESULT_TYPES
        )
    items = []
    for i, item in enumerate(got):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise CheckFailed(f"item {i} of the result should be a pair (tokens, score), got {type_name(item)}",
                              hint=RESULT_TYPES)
        items.append((as_tokens(item[0], f"the tokens of item {i}", lm), as_score(item[1], f"the score of item {i}")))
    return items


def score_tolerance(tokens: list[int], expected: float) -> float:
    return 1e-5 * max(1, len(tokens) - 1) + 1e-6 * abs(expected)


def expect_score(got: float, expected: float, tokens: list[int], what: str, hint: str = "") -> None:
    if abs(got - expected) > score_tolerance(tokens, expected):
        raise CheckFailed(f"{what} is {got:.6g}, expected {expected:.6g} (off by {abs(got - expected):.3g})",
                          hint=hint)


def _show(items: list[tuple[list[int], float]], length_penalty: float | None = None) -> str:
    def one(tokens: list[int], score: float) -> str:
        text = f"({tokens}, {score:.4f}"
        if length_penalty:
            text += f", normalised {_normalised(tokens, score, length_penalty):.4f}"
        return text + ")"

    return "[" + ", ".join(one(t, s) for t, s in items) + "]"


# ----------------------------------------------------------------------------- greedy_decode

GREEDY_HINT = (
    "start from [bos_id]; each step call step_fn(torch.tensor([tokens])), take the argmax of the "
    "returned row (dim=-1), add its log-prob to the score, append it, and stop right after eos_id. "
    + RESULT_TYPES
)


@greedy_decode.check("matches the reference tokens and score", points=2, examples=15, hint=GREEDY_HINT,
                     case=greedy_cases())
def greedy_matches_reference(student, case: GreedyCase):
    tokens, score = read_greedy(student(*case.args()), case.step_fn)
    want_tokens, want_score = ref.greedy_decode(*case.args(case.step_fn.fresh()))
    if tokens != want_tokens:
        shorter = min(len(tokens), len(want_tokens))
        first = next((i for i, (a, b) in enumerate(zip(tokens, want_tokens)) if a != b), shorter)
        raise CheckFailed(
            f"returned the tokens {tokens}, expected {want_tokens} (they first differ at position {first})",
            hint=GREEDY_HINT,
        )
    expect_score(score, want_score, tokens, "the score", hint="the score is the sum of the log-probs of the tokens "
                 "after bos_id (log-probs, not probabilities; bos_id itself contributes nothing)")


@greedy_decode.check(
    "stops right after eos_id, and never adds more than max_new_tokens tokens",
    points=1.5, examples=12,
    hint="loop at most max_new_tokens times; append the chosen token first, then break if it is eos_id "
    "(the returned tokens end with eos_id when it was produced)",
    case=greedy_cases(max_new=(1, 5), eos_biases=(NO_EOS, 0.0, 1.0, 3.0)),
    edges={
        "max_new_tokens = 1": lambda case: case.max_new_tokens == 1,
        "eos_id ends the sequence before max_new_tokens":
            lambda case: len(ref.greedy_decode(*case.args(case.step_fn.fresh()))[0]) <= case.max_new_tokens,
    },
)
def greedy_stopping(student, case: GreedyCase):
    tokens, _ = read_greedy(student(*case.args()), case.step_fn)
    generated = len(tokens) - 1
    if generated > case.max_new_tokens:
        raise CheckFailed(f"added {generated} tokens after bos_id, but max_new_tokens={case.max_new_tokens}")
    if case.eos_id in tokens[1:-1]:
        raise CheckFailed(f"returned {tokens}: it goes on after eos_id={case.eos_id}; stop right after eos_id")
    if tokens[-1] != case.eos_id and generated < case.max_new_tokens:
        want, _ = ref.greedy_decode(*case.args(case.step_fn.fresh()))
        why = (f" (the greedy sequence {want} ends with eos_id there: append eos_id before stopping)"
               if want[-1] == case.eos_id and len(want) == len(tokens) + 1 else "")
        raise CheckFailed(
            f"returned {tokens}: it stopped after {generated} of max_new_tokens={case.max_new_tokens} tokens "
            f"without eos_id={case.eos_id} at the end{why}"
        )


@greedy_decode.check(
    "the score is the sum of the log-probs of the returned tokens",
    points=1.5, examples=12,
    hint="add step_fn(prefix)[0, token] (a log-prob, read with .item()) for every token appended after bos_id, "
    "eos_id included; never multiply probabilities",
    case=greedy_cases(),
)
def greedy_score_consistent(student, case: GreedyCase):
    tokens, score = read_greedy(student(*case.args()), case.step_fn)
    expected = case.step_fn.log_prob(tokens)
    if abs(score - expected) > score_tolerance(tokens, expected):
        rows = [case.step_fn.row(tuple(tokens[:i])) for i in range(1, len(tokens))]
        steps = " + ".join(f"{float(row[token]):.4f}" for row, token in zip(rows, tokens[1:]))
        raise CheckFailed(
            f"returned {tokens} with score {score:.6g}, but the log-probs of its tokens after bos_id sum to "
            f"{expected:.6g} ({steps or 'no tokens'})"
        )


@greedy_decode.check(
    "every token is the most likely next token of the prefix before it",
    points=1, examples=12,
    hint="step_fn returns [1, V]: take argmax over the vocabulary (dim=-1) of the row for the whole prefix "
    "(bos_id and every token so far), not of the last token alone",
    case=greedy_cases(),
)
def greedy_argmax(student, case: GreedyCase):
    tokens, _ = read_greedy(student(*case.args()), case.step_fn)
    for i in range(1, len(tokens)):
        row = case.step_fn.row(tuple(tokens[:i]))
        best = int(row.argmax())
        if tokens[i] != best:
            raise CheckFailed(
                f"returned {tokens}: after the prefix {tokens[:i]} it took token {tokens[i]} "
                f"(log-prob {float(row[tokens[i]]):.4f}), but the most likely is {best} "
                f"(log-prob {float(row[best]):.4f})"
            )


@greedy_decode.check(
    "edge cases: eos_id first, max_new_tokens=1, eos_id never likely",
    points=1, examples=1, seed=gs.seeds(),
    hint="with eos_id most likely at once the answer is [bos_id, eos_id]; with max_new_tokens=1 exactly one "
    "token is added; without eos_id the loop runs exactly max_new_tokens times",
)
def greedy_edges(student, seed):
    scenarios = [
        ("eos_id is the most likely first token", ToyLM(5, 3, 1, seed, 4, eos_bias=20.0), 4),
        ("max_new_tokens=1", ToyLM(4, 0, 2, seed + 1, 1, eos_bias=NO_EOS), 1),
        ("eos_id is never likely", ToyLM(4, 2, 0, seed + 2, 4, eos_bias=NO_EOS), 4),
    ]
    for label, lm, max_new_tokens in scenarios:
        got = read_greedy(student(lm, lm.bos_id, lm.eos_id, max_new_tokens), lm)
        want = ref.greedy_decode(lm.fresh(), lm.bos_id, lm.eos_id, max_new_tokens)
        if got[0] != want[0] or abs(got[1] - want[1]) > score_tolerance(want[0], want[1]):
            raise CheckFailed(
                f"when {label} ({lm!r}, bos_id={lm.bos_id}, eos_id={lm.eos_id}, max_new_tokens={max_new_tokens}): "
                f"returned ({got[0]}, {got[1]:.6g}), expected ({want[0]}, {want[1]:.6g})"
            )


# ----------------------------------------------------------------------------- beam_search

BEAM_HINT = (
    "start from the single hypothesis [bos_id]; each step score every alive hypothesis x every token, keep "
    "the beam_width best of ALL candidates by raw score, move those ending in eos_id to the finished list; at "
    "the end add the alive ones, rank by score / generated_len ** length_penalty and return the best "
    "beam_width. " + RESULT_TYPES
)


def _run_beam(student, case: BeamCase, lm: ToyLM | None = None) -> list[tuple[list[int], float]]:
    lm = lm or case.step_fn
    got = student(*case.args(lm), length_penalty=case.length_penalty)
    return read_beam(got, lm)


def _reference_beam(case: BeamCase) -> list[tuple[list[int], float]]:
    return ref.beam_search(*case.args(case.step_fn.fresh()), length_penalty=case.length_penalty)


@beam_search.check(
    "beam_width=1 is exactly greedy decoding",
    points=1.5, examples=12,
    hint="with one hypothesis kept, each step keeps its single best extension: the result is "
    "[(greedy tokens, greedy score)]",
    case=greedy_cases(max_new=(1, 5)),
    length_penalty=st.sampled_from([0.0, 1.0]),
    edges={"max_new_tokens = 1": lambda case: case.max_new_tokens == 1},
)
def beam_width_one(student, case: GreedyCase, length_penalty: float):
    lm = case.step_fn
    got = read_beam(student(lm, case.bos_id, case.eos_id, 1, case.max_new_tokens, length_penalty=length_penalty), lm)
    want_tokens, want_score = ref.greedy_decode(*case.args(lm.fresh()))
    if len(got) != 1:
        raise CheckFailed(f"with beam_width=1 returned {len(got)} hypotheses, expected exactly 1: "
                          f"[({want_tokens}, {want_score:.4f})]")
    tokens, score = got[0]
    if tokens != want_tokens:
        raise CheckFailed(f"with beam_width=1 returned the tokens {tokens}, but greedy decoding gives {want_tokens}")
    expect_score(score, want_score, tokens, "with beam_width=1 the score",
                 hint="return the raw sum of log-probs, not the length-normalised score")


@beam_search.check(
    "returns at most beam_width distinct hypotheses, best first, each ending at its first eos_id",
    points=1, examples=12,
    hint="sort the finished hypotheses by score / generated_len ** length_penalty, descending (generated_len "
    "excludes bos_id); a finished hypothesis leaves the beam and is never extended, and at step 0 there is "
    "one hypothesis [bos_id], not beam_width copies. " + RESULT_TYPES,
    case=beam_cases(penalties=(0.0, 0.6, 1.0, 1.0)),
)
def beam_well_formed(student, case: BeamCase):
    lm = case.step_fn
    got = _run_beam(student, case)
    if not 1 <= len(got) <= case.beam_width:
        raise CheckFailed(f"returned {len(got)} hypotheses; expected between 1 and beam_width={case.beam_width}")
    seen: set[tuple[int, ...]] = set()
    for i, (tokens, _) in enumerate(got):
        if tuple(tokens) in seen:
            raise CheckFailed(f"returned {tokens} more than once: {_show(got)}")
        seen.add(tuple(tokens))
        generated = len(tokens) - 1
        if generated > case.max_new_tokens or generated == 0:
            raise CheckFailed(f"item {i}, {tokens}, has {generated} tokens after bos_id; expected 1 to "
                              f"max_new_tokens={case.max_new_tokens}")
        if case.eos_id in tokens[1:-1]:
            raise CheckFailed(f"item {i}, {tokens}, goes on after eos_id={case.eos_id}")
        if tokens[-1] != case.eos_id and generated != case.max_new_tokens:
            raise CheckFailed(f"item {i}, {tokens}, stops after {generated} tokens without eos_id={case.eos_id}, "
                              f"but only eos_id or max_new_tokens={case.max_new_tokens} ends a hypothesis")
    keys = [_normalised(tokens, lm.log_prob(tokens), case.length_penalty) for tokens, _ in got]
    for i in range(len(keys) - 1):
        if keys[i] < keys[i + 1]:
            raise CheckFailed(
                f"the result is not sorted best first by score / generated_len ** {case.length_penalty:g}: item {i} "
                f"has {keys[i]:.4f} < item {i + 1}'s {keys[i + 1]:.4f}; got {_show(got, case.length_penalty or None)}"
            )


@beam_search.check(
    "a beam at least V ** (max_new_tokens - 1) wide finds the best sequences (brute force)",
    points=1.5, hidden=True, examples=10,
    hint="with such a beam nothing that can win is pruned, so the result is the best beam_width of all "
    "sequences: if one is missing, candidates are chosen per hypothesis instead of among all alive x V "
    "candidates, or finished hypotheses are lost",
    case=exhaustive_cases(),
)
def beam_exhaustive(student, case: BeamCase):
    lm = case.step_fn
    got = _run_beam(student, case)
    want = brute_force(lm, case.max_new_tokens, case.length_penalty, case.beam_width)
    if [t for t, _ in got] != [t for t, _ in want]:
        scored = [(tokens, lm.log_prob(tokens)) for tokens, _ in got]
        raise CheckFailed(
            f"returned {_show(scored, case.length_penalty or None)}, but the best {case.beam_width} of all "
            f"sequences are {_show(want, case.length_penalty or None)} (scores recomputed from step_fn)"
        )


@beam_search.check(
    "matches the reference n-best list (length_penalty 0, 0.6 and 1.0)",
    points=2, examples=15, hint=BEAM_HINT,
    case=beam_cases(),
    edges={
        "a hypothesis finishes (eos_id) before max_new_tokens": lambda case: any(
            tokens[-1] == case.eos_id and len(tokens) <= case.max_new_tokens
            for tokens, _ in ref.beam_search(*case.args(case.step_fn.fresh()), length_penalty=case.length_penalty)
        ),
    },
)
def beam_matches_reference(student, case: BeamCase):
    got = _run_beam(student, case)
    want = _reference_beam(case)
    lp = case.length_penalty or None
    if [t for t, _ in got] != [t for t, _ in want]:
        raise CheckFailed(f"returned {_show(got, lp)}, expected {_show(want, lp)}", hint=BEAM_HINT)
    for (tokens, score), (_, want_score) in zip(got, want):
        if abs(score - want_score) > score_tolerance(tokens, want_score):
            raise CheckFailed(
                f"the tokens are right but the score of {tokens} is {score:.6g}, expected {want_score:.6g}",
                hint="return the raw sum of log-probs; length_penalty only changes the ranking",
            )


@beam_search.check(
    "returned scores are the raw sums of the log-probs of the tokens",
    points=1, examples=12,
    hint="length_penalty only ranks the hypotheses: return (tokens, raw sum of log-probs), not the normalised "
    "score, and do not count bos_id",
    case=beam_cases(penalties=(0.6, 1.0)),
)
def beam_raw_scores(student, case: BeamCase):
    lm = case.step_fn
    for tokens, score in _run_beam(student, case):
        expected = lm.log_prob(tokens)
        if abs(score - expected) > score_tolerance(tokens, expected):
            normalised = _normalised(tokens, expected, case.length_penalty)
            also = (f" (that is the normalised score, {expected:.6g} / {len(tokens) - 1} ** {case.length_penalty:g})"
                    if abs(score - normalised) <= score_tolerance(tokens, normalised) else "")
            raise CheckFailed(
                f"returned {tokens} with score {score:.6g}, but the log-probs of its tokens after bos_id sum to "
                f"{expected:.6g}{also}"
            )


@beam_search.check(
    "ranks the finished hypotheses by score / generated_len ** length_penalty",
    points=1, examples=10,
    hint="divide each raw score by (number of tokens after bos_id) ** length_penalty, only to sort the finished "
    "hypotheses at the end (bos_id is not counted; the search itself prunes by raw score)",
    case=ranking_cases(),
)
def beam_ranking(student, case: BeamCase):
    got = _run_beam(student, case)
    want = _reference_beam(case)
    if [t for t, _ in got] != [t for t, _ in want]:
        scored = [(tokens, case.step_fn.log_prob(tokens)) for tokens, _ in got]
        raise CheckFailed(
            f"with length_penalty={case.length_penalty:g} returned {_show(scored, case.length_penalty)}, expected "
            f"{_show(want, case.length_penalty)} (scores recomputed from step_fn)"
        )

"""Checks for mlm.mask_tokens (BERT's 80/10/10 masking).

``mask_tokens`` is random. It is judged three ways, never by matching the reference's
random numbers (a correct function that draws differently gets full marks):

- on every draw: labels are the original token where selected and -100 elsewhere; inputs
  equal the tokens where not selected, and a selected input is ``mask_id``, the original or
  a token in ``[0, vocab_size)``; special tokens are never selected (and the engine checks
  that ``tokens`` is left unchanged, worth a whole point here);
- by the distribution of many draws: the selection rate, the number selected per row (a
  binomial), every column's rate and independent rows; the mask / random / unchanged split;
  random replacements uniform over ``[0, vocab_size)``;
- by its consistency: the same generator seed gives the same draws, another seed others,
  and torch's global random state changes nothing.

Cases follow two layouts: BERT's (``[PAD] = 0, [CLS] = 1, [SEP] = 2, [MASK] = 3``, ordinary
tokens ``4 .. V - 1``) and one with the special tokens after the vocabulary (ordinary tokens
``0 .. V - 1``, specials and ``mask_id`` from ``V`` on), where a random token drawn from a
wider range than ``[0, vocab_size)`` shows. Each row is ``[CLS] content [SEP] [PAD]...``.

False failures. A statistical check fails only when a p-value bound of grader.stats (valid
at any sample size) is below ``BUDGET`` (1e-6) divided by the number of tests the check
makes over all its examples (Bonferroni): a correct function loses it with probability at
most 1e-6, whatever the seeds. The other checks never fail a correct function.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from grader.author import CheckFailed, exercise, expect_tensor, expect_tuple, stats, strategies as gs
from solutions import mlm as ref

POSITION = 17

# Writing into `tokens` is a classic mistake here: the engine's check is worth a whole point.
mask_tokens = exercise("mlm.mask_tokens", reference=ref.mask_tokens, inputs_unchanged_points=1.0)

BUDGET = 1e-6  # the false-failure rate allowed to one statistical check
IGNORE = -100
HINT = (
    "special = tokens equal to any of special_ids; selected = (torch.rand(shape, generator=g) < mask_prob) & ~special; "
    "labels = torch.where(selected, tokens, -100); a second uniform u per position: u < 0.8 -> mask_id, "
    "0.8 <= u < 0.9 -> torch.randint(vocab_size, ...), else the token itself; torch.where, never writing into tokens"
)


@dataclass
class MaskCase:
    """A batch of rows ``[CLS] content [SEP] [PAD]...`` and the arguments of ``mask_tokens``."""

    tokens: torch.Tensor
    mask_id: int
    vocab_size: int
    mask_prob: float
    special_ids: tuple[int, ...] | list[int]

    def arguments(self, mask_prob: float | None = None) -> dict:
        return {"mask_id": self.mask_id, "vocab_size": self.vocab_size, "special_ids": self.special_ids,
                "mask_prob": self.mask_prob if mask_prob is None else mask_prob}

    @property
    def special(self) -> torch.Tensor:
        return torch.isin(self.tokens, torch.tensor(list(self.special_ids), dtype=self.tokens.dtype))

    def describe(self) -> str:
        return (f"tokens {list(self.tokens.shape)}, vocab_size={self.vocab_size}, mask_id={self.mask_id}, "
                f"mask_prob={self.mask_prob}, special_ids={self.special_ids}")


@st.composite
def mask_cases(draw: st.DrawFn, shapes=((6, 24),), mask_probs=(0.15, 0.3, 0.5), padded: bool = True,
               ordinary: int | None = None) -> MaskCase:
    """``ordinary``: how many distinct ordinary tokens the content uses (None: most of the vocabulary,
    with skewed frequencies); ``padded``: rows of different lengths (else every row has L - 2 content tokens)."""
    layout = draw(st.sampled_from(["bert", "after the vocabulary"]))
    vocab = draw(st.integers(10, 16))
    shape = draw(st.sampled_from(shapes))
    mask_prob = draw(st.sampled_from(mask_probs))
    seed = draw(gs.seeds())
    container = draw(st.sampled_from([tuple, list]))
    generator = torch.Generator().manual_seed(seed)
    if layout == "bert":
        pad, cls, sep, mask_id, first = 0, 1, 2, 3, 4
    else:
        pad, cls, sep, mask_id, first = vocab, vocab + 1, vocab + 2, vocab + 3, 0
    choices = torch.arange(first, vocab)
    if ordinary is not None:
        choices = choices[torch.randperm(len(choices), generator=generator)[:ordinary]]
    weights = 1.0 / torch.arange(1, len(choices) + 1, dtype=torch.float64)  # Zipf-like: some tokens frequent
    rows = 1
    for size in shape[:-1]:
        rows *= size
    length = shape[-1]
    tokens = torch.full((rows, length), pad, dtype=torch.int64)
    for row in range(rows):
        content = length - 2 - (int(torch.randint(0, length // 3, (1,), generator=generator)) if padded else 0)
        picked = choices[torch.multinomial(weights, content, replacement=True, generator=generator)]
        tokens[row, : content + 2] = torch.cat([torch.tensor([cls]), picked, torch.tensor([sep])])
    return MaskCase(tokens.reshape(shape), mask_id, vocab, mask_prob, container((pad, cls, sep)))


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _draw(student, case: MaskCase, seed: int, draws: int, global_seed: int = 0,
          mask_prob: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``draws`` calls in one worker call: ``(inputs, labels)``, each ``[draws, *tokens.shape]``, shape and
    dtype checked."""
    got = student.draws(draws, case.tokens, generator=_gen(seed), global_seed=global_seed,
                        **case.arguments(mask_prob))
    if not isinstance(got, (tuple, list)):
        expect_tensor(got, "the result (inputs, labels)")  # says why draws did not stack, if they did not
    inputs, labels = expect_tuple(got, 2, "the result (inputs, labels)")
    shape = list(case.tokens.shape)
    for value, name in ((inputs, "inputs"), (labels, "labels")):
        expect_tensor(value, name)
        if list(value.shape[1:]) != shape:
            raise CheckFailed(f"{name} has shape {list(value.shape[1:])}, expected {shape} (the shape of tokens)",
                              hint=HINT)
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise CheckFailed(f"{name} has dtype {str(value.dtype).replace('torch.', '')}; token ids and labels are "
                              f"integers (like tokens, {str(case.tokens.dtype).replace('torch.', '')})", hint=HINT)
    return inputs.long(), labels.long()


def _where(index: torch.Tensor) -> str:
    """``draw 3, position [1, 7]`` from an index into ``[draws, *shape]``."""
    draw, *position = index.tolist()
    return f"draw {draw}, position {position}"


def _check_every_draw(inputs: torch.Tensor, labels: torch.Tensor, case: MaskCase) -> None:
    """What must hold on every draw, with the classic mistakes named."""
    tokens = case.tokens.expand_as(inputs)
    selected = labels != IGNORE
    wrong_label = selected & (labels != tokens)
    if bool(wrong_label.any()):
        first = wrong_label.nonzero()[0]
        got, token, given = (int(t[tuple(first)]) for t in (labels, tokens, inputs))
        named = (" (the masked input): the label is the ORIGINAL token, so that the loss asks the model for it"
                 if got == given else "")
        raise CheckFailed(f"at {_where(first)} the label is {got}{named}; a label is the original token ({token}) "
                          "where the position was selected and -100 elsewhere", hint=HINT)
    changed = ~selected & (inputs != tokens)
    if bool(changed.any()):
        first = changed.nonzero()[0]
        raise CheckFailed(
            f"at {_where(first)} the input is {int(inputs[tuple(first)])} instead of the token "
            f"{int(tokens[tuple(first)])}, but its label is -100 (not selected): inputs change only at selected "
            "positions, and every selected position gets its original token as label", hint=HINT)
    value = inputs[selected]
    allowed = (value == case.mask_id) | (value == tokens[selected]) | ((value >= 0) & (value < case.vocab_size))
    if not bool(allowed.all()):
        first = selected.nonzero()[(~allowed).nonzero()[0, 0]]
        raise CheckFailed(
            f"at {_where(first)} (selected) the input is {int(inputs[tuple(first)])}, which is neither mask_id "
            f"({case.mask_id}) nor the original token nor a random token in [0, vocab_size) = [0, {case.vocab_size}): "
            "draw random tokens with torch.randint(vocab_size, ...) (its upper bound is excluded)", hint=HINT)


# ------------------------------------------------------------------------------ every draw


@mask_tokens.check(
    "on every draw: labels are the original token where selected and -100 elsewhere; inputs equal tokens "
    "where not selected, and a selected input is mask_id, the original or a token in [0, vocab_size)",
    points=1.5,
    examples=6,
    hint=HINT,
    case=mask_cases(shapes=((6, 24), (40,), (2, 3, 12))),
    seed=gs.seeds(),
    edges={"a single sequence (1-D tokens)": lambda case: case.tokens.dim() == 1,
           "three dims": lambda case: case.tokens.dim() == 3,
           "special tokens after the vocabulary": lambda case: case.mask_id >= case.vocab_size,
           "special tokens inside the vocabulary": lambda case: case.mask_id < case.vocab_size},
)
def every_draw(student, case, seed):
    """Never fails a correct function: these hold on every draw."""
    inputs, labels = _draw(student, case, seed, draws=50)
    _check_every_draw(inputs, labels, case)


@mask_tokens.check(
    "never selects a special token (its label is -100 and its input unchanged)",
    points=1,
    examples=4,
    hint="build a boolean mask of the special positions (torch.isin(tokens, torch.tensor(special_ids)), or |= "
    "tokens == s for each id) and remove them from the selection: selected = random < mask_prob & ~special",
    case=mask_cases(mask_probs=(0.5, 0.3)),
    seed=gs.seeds(),
)
def specials_never_selected(student, case, seed):
    """Never fails a correct function."""
    inputs, labels = _draw(student, case, seed, draws=50)
    special = case.special.expand_as(labels)
    hit = special & ((labels != IGNORE) | (inputs != case.tokens))
    if bool(hit.any()):
        first = hit.nonzero()[0]
        token = int(case.tokens.expand_as(labels)[tuple(first)])
        raise CheckFailed(
            f"at {_where(first)} the special token {token} (special_ids={case.special_ids}) was selected: its label "
            f"is {int(labels[tuple(first)])} and its input {int(inputs[tuple(first)])}. Special tokens ([CLS], "
            "[SEP], padding) are never selected: label -100, input unchanged",
            hint="selected = (torch.rand(...) < mask_prob) & ~special, with special = torch.isin(tokens, ids)")


@mask_tokens.check(
    "mask_prob = 0 selects nothing and mask_prob = 1 selects every position that is not special",
    points=0.5,
    examples=2,
    hint="select with torch.rand(...) < mask_prob (rand is in [0, 1), so 0 selects nothing and 1 everything)",
    case=mask_cases(),
    seed=gs.seeds(),
)
def extreme_rates(student, case, seed):
    """Never fails a correct function."""
    for mask_prob in (0.0, 1.0):
        inputs, labels = _draw(student, case, seed, draws=5, mask_prob=mask_prob)
        _check_every_draw(inputs, labels, case)
        wanted = ~case.special.expand_as(labels) if mask_prob == 1.0 else torch.zeros_like(labels, dtype=torch.bool)
        if not torch.equal(labels != IGNORE, wanted):
            got = int((labels != IGNORE).sum()) / labels.shape[0]
            raise CheckFailed(f"with mask_prob = {mask_prob:g}, {got:g} positions per draw were selected where "
                              f"{int(wanted.sum()) // labels.shape[0]} should be (with {case.describe()})", hint=HINT)


# ------------------------------------------------------------------------------ distributions


def _failure(case: MaskCase, what: str, value: float, hint: str = HINT) -> CheckFailed:
    below = f"below {value:.1e}" if value > 1e-300 else "below 1e-300"
    return CheckFailed(f"with {case.describe()}: {what} (a deviation this large has a probability {below} for a "
                       "correct function)", hint=hint)


def _binned(counts: torch.Tensor, probabilities: torch.Tensor, least: float = 1e-3):
    """The cells of ``probabilities`` below ``least`` merged into their neighbours (counts alike)."""
    keep = (probabilities >= least).nonzero().reshape(-1)
    lo, hi = int(keep[0]), int(keep[-1])
    merged_p = torch.cat([probabilities[: lo + 1].sum(0, keepdim=True), probabilities[lo + 1 : hi],
                          probabilities[hi:].sum(0, keepdim=True)])
    merged_c = torch.cat([counts[: lo + 1].sum(0, keepdim=True), counts[lo + 1 : hi], counts[hi:].sum(0, keepdim=True)])
    return merged_c, merged_p


SELECTION_EXAMPLES = 3


def _selection_tests(case: MaskCase) -> int:
    return 3 + (case.tokens.shape[-1] - 2)


@mask_tokens.check(
    "selects each non-special position independently with probability mask_prob (rate, count per row, "
    "every column, rows independent)",
    points=1.5,
    examples=SELECTION_EXAMPLES,
    hint="one uniform number per position: selected = (torch.rand(tokens.shape, generator=g) < mask_prob) & ~special "
    "(not a fixed number per row, not the same numbers for every row, and mask_prob as given)",
    case=mask_cases(shapes=((8, 24),), padded=False),
    seed=gs.seeds(),
    edges={"mask_prob 0.15": lambda case: case.mask_prob == 0.15, "mask_prob 0.5": lambda case: case.mask_prob == 0.5},
)
def selection(student, case, seed):
    """Every row is [CLS] + 22 ordinary tokens + [SEP]. Tests per example: the overall rate (binomial), the
    count per row against Binomial(22, mask_prob) (method of types), the rate of each of the 22 columns
    (binomial) and the agreement of vertically adjacent pairs (binomial, mask_prob^2): 25 tests, 3 examples,
    each at 1e-6 / 75: at most 1e-6 in all."""
    draws = 100
    alpha = BUDGET / (SELECTION_EXAMPLES * _selection_tests(case))
    inputs, labels = _draw(student, case, seed, draws=draws)
    _check_every_draw(inputs, labels, case)
    p = case.mask_prob
    selected = (labels != IGNORE)[..., 1:-1]  # the ordinary columns: [draws, B, L - 2]
    eligible = selected.shape[-1]
    tests: list[tuple[float, str]] = []  # (p-value bound, what it says); the least likely deviation is reported

    trials, hits = selected.numel(), int(selected.sum())
    everywhere = " (labels must be -100 at every position that was not selected)" if hits / trials > 0.97 else ""
    tests.append((stats.binomial_p_value(hits, trials, p), f"{hits / trials:.3f} of the ordinary positions were "
                  f"selected over {draws} draws, not mask_prob = {p}{everywhere}"))

    per_row = selected.sum(-1).reshape(-1)
    counts = torch.bincount(per_row, minlength=eligible + 1)
    binomial = stats.binomial_probabilities(eligible, p)
    top = int(counts.argmax())
    tests.append((stats.multinomial_p_value(*_binned(counts, binomial)),
                  f"{float(counts[top]) / len(per_row):.0%} of the rows had exactly {top} of their {eligible} ordinary "
                  f"tokens selected, where the count is Binomial({eligible}, {p}) (at most "
                  f"{float(binomial.max()):.0%} for any one count): select each position on its own, not a fixed "
                  "number of positions per row"))

    for column, count in enumerate(selected.sum((0, 1)).tolist()):
        rate = count / (draws * selected.shape[1])
        tests.append((stats.binomial_p_value(count, draws * selected.shape[1], p),
                      f"column {column + 1} was selected in {rate:.3f} of the rows, not mask_prob = {p}: every "
                      "ordinary position has the same chance"))

    pairs = selected[:, : selected.shape[1] // 2 * 2].reshape(draws, -1, 2, eligible)
    both, total = int((pairs[:, :, 0] & pairs[:, :, 1]).sum()), pairs[:, :, 0].numel()
    tests.append((stats.binomial_p_value(both, total, p * p),
                  f"rows 2i and 2i + 1 were both selected at the same column {both / total:.3f} of the time, not "
                  f"mask_prob^2 = {p * p:.4f}: draw the selection of every row on its own (torch.rand(tokens.shape), "
                  "not one row of numbers for the batch)"))

    value, what = min(tests, key=lambda test: test[0])
    if value < alpha:
        raise _failure(case, what, value)


SPLIT_EXAMPLES = 3


def _split_probabilities(case: MaskCase) -> torch.Tensor:
    """(mask_id, the original, another token) for a selected ordinary token: a random draw can be either of the first two."""
    vocab = case.vocab_size
    mask_in_vocab = 0 <= case.mask_id < vocab
    mask = 0.8 + 0.1 * mask_in_vocab / vocab
    same = 0.1 + 0.1 / vocab
    return torch.tensor([mask, same, 1 - mask - same], dtype=torch.float64)


@mask_tokens.check(
    "replaces a selected token by mask_id 80% of the time, by a random token 10%, and leaves it 10%",
    points=1.5,
    examples=SPLIT_EXAMPLES,
    hint="draw a second uniform u per position: u < 0.8 -> mask_id; 0.8 <= u < 0.9 -> a random token; "
    "u >= 0.9 -> unchanged (the 10% random are of the selected, not of the 20% left after masking)",
    case=mask_cases(mask_probs=(0.3, 0.5)),
    seed=gs.seeds(),
)
def split(student, case, seed):
    """The outcome of every selected position (mask_id / original / other) against (0.8 + 0.1 [mask_id < V] / V,
    0.1 + 0.1 / V, the rest): one multinomial test per example (method of types), 3 examples, each at 1e-6 / 3."""
    alpha = BUDGET / SPLIT_EXAMPLES
    inputs, labels = _draw(student, case, seed, draws=100)
    _check_every_draw(inputs, labels, case)
    selected = labels != IGNORE
    value, original = inputs[selected], case.tokens.expand_as(inputs)[selected]
    masked = value == case.mask_id
    same = ~masked & (value == original)
    counts = torch.stack([masked.sum(), same.sum(), (~masked & ~same).sum()])
    expected = _split_probabilities(case)
    bound = stats.multinomial_p_value(counts, expected)
    if bound < alpha:
        shares = (counts.double() / max(int(counts.sum()), 1)).tolist()
        named = ""
        if shares[0] < 0.3 and shares[1] > 0.5:
            named = " This looks like 10/10/80: mask with probability 0.8 and keep with 0.1, not the other way round."
        elif shares[2] < 0.05 and shares[0] > 0.95:
            named = " Every selected token became mask_id: 10% must become a random token and 10% stay unchanged."
        elif shares[2] < 0.06 and shares[1] > 0.14:
            named = " Too few random tokens: the 10% random are of all selected positions (HF's 0.5 of the rest)."
        raise _failure(case, f"of {int(counts.sum())} selected positions, {shares[0]:.3f} became mask_id, "
                       f"{shares[1]:.3f} kept their token and {shares[2]:.3f} became another token, where "
                       f"{expected[0]:.3f}, {expected[1]:.3f} and {expected[2]:.3f} are expected.{named}", bound)


UNIFORM_EXAMPLES = 2
UNIFORM_GROUPS = 2  # distinct ordinary tokens in these cases: each is tested on its own


@mask_tokens.check(
    "draws the random replacements uniformly from [0, vocab_size)",
    points=1,
    examples=UNIFORM_EXAMPLES,
    hint="random tokens: torch.randint(0, vocab_size, tokens.shape, generator=g, device=tokens.device) (every id "
    "from 0 to vocab_size - 1, special ones included, equally likely)",
    case=mask_cases(mask_probs=(0.5,), ordinary=UNIFORM_GROUPS),
    seed=gs.seeds(),
)
def uniform_replacements(student, case, seed):
    """The content uses two ordinary tokens. For each, the inputs of its selected positions that are neither
    mask_id nor itself are uniform over the other ids of [0, vocab_size): a multinomial and a cellwise test
    (grader.stats) per token, 2 examples: 8 tests, each at 1e-6 / 8."""
    alpha = BUDGET / (UNIFORM_EXAMPLES * UNIFORM_GROUPS * 2)
    inputs, labels = _draw(student, case, seed, draws=200)
    _check_every_draw(inputs, labels, case)
    selected = labels != IGNORE
    value, original = inputs[selected], case.tokens.expand_as(inputs)[selected]
    vocab = case.vocab_size
    for token in original.unique().tolist():
        other = value[(original == token) & (value != token) & (value != case.mask_id)]
        possible = torch.ones(vocab, dtype=torch.float64)
        for excluded in (token, case.mask_id):
            if 0 <= excluded < vocab:
                possible[excluded] = 0
        expected = possible / possible.sum()
        counts = torch.bincount(other, minlength=vocab)[:vocab]
        bound = min(stats.multinomial_p_value(counts, expected), stats.cellwise_p_value(counts, expected)[0])
        if bound < alpha / 2:
            _, cell = stats.cellwise_p_value(counts, expected)
            seen = (counts > 0).nonzero().reshape(-1).tolist()
            raise _failure(case, f"the random tokens replacing {token} took the values {seen} with counts "
                           f"{counts[seen].tolist()}; each id of [0, {vocab}) other than {token}"
                           f"{' and mask_id' if 0 <= case.mask_id < vocab else ''} should come up about "
                           f"{len(other) / int(possible.sum()):.0f} times (id {cell} came up {int(counts[cell])} times)",
                           bound, hint="draw them with torch.randint(0, vocab_size, ...): every id equally likely, "
                           "0 and the special ids included, not only ids from the batch")


# ------------------------------------------------------------------------------ consistency


@mask_tokens.check(
    "takes every random number from its generator: the same seed gives the same draws, another seed others, "
    "and torch's global random state changes nothing",
    points=1,
    examples=1,
    hint="pass generator=generator (and device=tokens.device) to every torch.rand, torch.randint and "
    "torch.bernoulli; never torch.manual_seed, NumPy or Python's random",
    case=mask_cases(mask_probs=(0.5,)),
    seed=gs.seeds(),
)
def generator_only(student, case, seed):
    """A correct function never fails the first and last comparisons; two seeds give the same 20 draws with
    a probability below 0.5^(20 x 100) (each of the >= 100 ordinary positions agrees with probability <= 0.5)."""
    first = _draw(student, case, seed, draws=20)
    again = _draw(student, case, seed, draws=20)
    if not (torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])):
        raise CheckFailed("the same generator seed gave different draws on two calls: some randomness does not come "
                          "from the generator (NumPy, Python's random, the time?)", hint=HINT)
    if torch.equal(first[1][0], first[1][1]) and torch.equal(first[1][0], first[1][-1]):
        raise CheckFailed("the 20 draws made with one generator all selected the same positions: the generator must "
                          "advance from call to call (do not re-seed it or make a new one inside the function)")
    other = _draw(student, case, seed + 1, draws=20)
    if torch.equal(other[0], first[0]) and torch.equal(other[1], first[1]):
        raise CheckFailed("two different generator seeds gave the same draws: the function ignores its generator "
                          "and draws from torch's global random state; pass generator=generator to torch.rand and "
                          "torch.randint", hint=HINT)
    shifted = _draw(student, case, seed, draws=20, global_seed=1)
    if not (torch.equal(shifted[0], first[0]) and torch.equal(shifted[1], first[1])):
        part = "the selection" if not torch.equal(shifted[1], first[1]) else "the replacements"
        raise CheckFailed(f"the same generator seed gave other draws ({part} changed) when torch's global random "
                          "state was different: some random numbers come from the global state (a torch.rand, "
                          "torch.randint or torch.bernoulli without generator=generator)", hint=HINT)

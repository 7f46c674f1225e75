"""Checks for sampling.top_k_filter, sampling.top_p_filter and sampling.sample_next_token.

The filters are deterministic and compared exactly: kept logits bit for bit, ``-inf``
elsewhere. Drawn cases keep every top-p decision at least ``MARGIN`` away from ``p`` and
have no tied logits (except where ties are the point), so the right support is the only
one, in float32 too.

``sample_next_token`` is random. It is judged three ways, never by matching the
reference's random numbers (a correct sampler that draws differently gets full marks):

- on every draw: one integer token per row, never a token the filters remove, the argmax
  at ``temperature = 0``;
- by the distribution of many draws: the frequencies of each row against the filtered
  softmax (stats: the method-of-types and cellwise binomial bounds), and rows drawn
  independently (pairs of identical rows agree as often as independent draws would);
- by its consistency: the same generator seed gives the same draws, another seed others,
  and torch's global random state changes nothing.

Sizes. An example makes one worker call, ``student.draws(DRAWS, ...)``, on logits in which
each of ``DISTINCT`` distributions is repeated ``COPIES`` times (row ``i`` is distribution
``i % DISTINCT``), so every distribution gets ``DRAWS * COPIES = 4000`` samples.

False failures. A statistical check fails only when a p-value bound (valid at any sample
size) is below ``ALPHA``, the check's budget of 1e-6 divided by the number of tests it makes
over all its examples (Bonferroni): a correct sampler loses it with probability at most
1e-6, whatever the seeds. The other checks never fail a correct sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from hypothesis import strategies as st

from grader.author import (
    CheckFailed,
    StudentRaised,
    exercise,
    expect_diagnosed,
    expect_dtype,
    expect_raises,
    expect_shape,
    expect_tensor,
    stats,
    strategies as gs,
)
from solutions import sampling as ref

POSITION = 16

top_k_filter = exercise("sampling.top_k_filter", reference=ref.top_k_filter)
# A student may compute the softmax with their own attention.softmax.
top_p_filter = exercise("sampling.top_p_filter", reference=ref.top_p_filter, uses=["attention.softmax"])
sample_next_token = exercise(
    "sampling.sample_next_token",
    reference=ref.sample_next_token,
    uses=["sampling.top_k_filter", "sampling.top_p_filter", "attention.softmax"],
)

MARGIN = 0.005  # the least distance between p and the total probability before any token
BUDGET = 1e-6  # the false-failure rate allowed to one statistical check
DISTINCT, COPIES, DRAWS = 3, 40, 100
NEG_INF = float("-inf")

TOP_K_HINT = (
    "kth = logits.topk(min(k, V), dim=-1).values[..., -1:]; return logits.masked_fill(logits < kth, "
    "float('-inf')): everything >= the k-th largest stays as it is (ties too), the rest becomes -inf"
)
TOP_P_HINT = (
    "probs = softmax(logits, dim=-1); sort them descending; before = cumsum - sorted (the total BEFORE each "
    "token); keep where before < p; scatter the decisions back to the original order; fill the rest with -inf"
)
SAMPLE_HINT = (
    "filtered = logits / temperature, then top_k_filter, then top_p_filter (where given); "
    "torch.multinomial(torch.softmax(filtered, -1), 1, generator=generator).squeeze(-1)"
)


# ====================================================================== the filters


@dataclass
class FilterCase:
    """Logits ``[..., V]`` and the filter's parameter (``k`` or ``p``)."""

    logits: torch.Tensor
    k: int | None = None
    p: float | None = None


def _leading(draw: st.DrawFn) -> tuple[int, ...]:
    return draw(st.sampled_from([(2,), (), (3, 2)]))


@st.composite
def top_k_cases(draw: st.DrawFn, ties: bool = False) -> FilterCase:
    """Distinct logits, 1 <= k < V; with ``ties``, small integers with a tie across the k-th largest."""
    lead, vocab = _leading(draw), draw(st.integers(4, 9))
    dtype, seed = draw(gs.float_dtypes()), draw(gs.seeds())
    if not ties:
        return FilterCase(gs.random_tensor(lead + (vocab,), seed, dtype, scale=2.0), k=draw(st.integers(1, vocab - 1)))
    pick = draw(st.integers(0, 10**6))
    for attempt in range(100):
        logits = gs.random_ints(lead + (vocab,), seed + attempt, -2, 3).to(dtype)
        ordered = logits.reshape(-1, vocab)[0].sort(descending=True).values
        straddling = [k for k in range(1, vocab) if ordered[k - 1] == ordered[k]]
        if straddling:
            return FilterCase(logits, k=straddling[pick % len(straddling)])
    raise AssertionError("no tie found")  # pragma: no cover - 5 levels, >= 4 values: a tie every time


def _totals_before(logits: torch.Tensor) -> torch.Tensor:
    """Every row's total probability before each of its sorted tokens, ``[rows, V]`` (float64)."""
    probs = torch.softmax(logits.reshape(-1, logits.shape[-1]).to(torch.float64), dim=-1)
    ordered = probs.sort(dim=-1, descending=True).values
    return ordered.cumsum(-1) - ordered


def _gaps(logits: torch.Tensor, margin: float = MARGIN) -> list[tuple[float, float]]:
    """The intervals of ``p`` in (0, 1) on which no row's top-p decision changes, each shrunk by ``margin``."""
    cuts = sorted({0.0, 1.0, *[float(c) for c in _totals_before(logits)[:, 1:].reshape(-1)]})
    return [(lo + margin, hi - margin) for lo, hi in zip(cuts, cuts[1:]) if hi - lo > 2 * margin]


@st.composite
def top_p_cases(draw: st.DrawFn) -> FilterCase:
    """Distinct logits and a ``p`` at least ``MARGIN`` from every row's totals (no ambiguous decision)."""
    lead, vocab = _leading(draw), draw(st.integers(4, 9))
    dtype, seed, scale = draw(gs.float_dtypes()), draw(gs.seeds()), draw(st.sampled_from([1.5, 1.0, 2.5]))
    logits = gs.random_tensor(lead + (vocab,), seed, dtype, scale=scale)
    gaps = _gaps(logits)
    lo, hi = gaps[draw(st.integers(0, 10**6)) % len(gaps)]
    return FilterCase(logits, p=round((lo + hi) / 2, 6))


def _kept_per_row(kept: torch.Tensor) -> list[int]:
    return kept.reshape(-1, kept.shape[-1]).sum(-1).tolist()


def _check_filtered(got, case: FilterCase, expected: torch.Tensor, *, hint: str,
                    diagnose: Callable[[torch.Tensor], str] = lambda kept: "") -> None:
    """``got`` is ``expected`` exactly: the kept logits unchanged, ``-inf`` elsewhere (shape and dtype too)."""
    logits = case.logits
    expect_shape(got, logits.shape, "the filtered logits")
    expect_dtype(got, logits.dtype, "the filtered logits")
    if torch.equal(got, expected):
        return
    if bool(torch.isnan(got).any()):
        raise CheckFailed("the filtered logits contain NaN: the filtered entries must be -inf", hint=hint)
    kept_expected = expected != NEG_INF
    got_kept = got != NEG_INF
    filled = got[~kept_expected & got_kept]  # where -inf belongs but something else is
    if len(filled) and bool((filled == filled[0]).all()) and bool((filled != logits[~kept_expected & got_kept]).all()):
        raise CheckFailed(
            f"a filtered-out entry holds {float(filled[0]):g}, not -inf: fill with float('-inf') (a logit of "
            f"{float(filled[0]):g} is still a possible token after the softmax)",
            hint=hint,
        )
    changed = got_kept & kept_expected & (got != logits)
    if bool(changed.any()):
        where = changed.nonzero()[0].tolist()
        raise CheckFailed(
            f"a kept logit was changed: at {where} the input is {float(logits[tuple(where)]):.6g} and the result "
            f"{float(got[tuple(where)]):.6g}; the kept entries must be the input's values, unchanged (no softmax, "
            "no rescaling)",
            hint=hint,
        )
    named = diagnose(got_kept)
    extra = (got_kept & ~kept_expected).nonzero()
    missing = (~got_kept & kept_expected).nonzero()
    if len(extra):
        where = extra[0].tolist()
        first = f"keeps the logit {float(logits[tuple(where)]):.6g} at {where}, which must become -inf"
    else:
        where = missing[0].tolist()
        first = f"sets the logit {float(logits[tuple(where)]):.6g} at {where} to -inf, but it must be kept"
    counts = f"it keeps {_kept_per_row(got_kept)} tokens per row where {_kept_per_row(kept_expected)} are kept"
    raise CheckFailed(f"{first} ({counts}). {named}".strip(), hint=hint)


# ------------------------------------------------------------------------------ top_k_filter


def _top_k_mistakes(case: FilterCase) -> Callable[[torch.Tensor], str]:
    def diagnose(kept: torch.Tensor) -> str:
        counts, k = _kept_per_row(kept), case.k
        ordered = case.logits.sort(dim=-1, descending=True).values
        for wrong, message in ((k - 1, "it keeps k - 1 per row: keep every logit >= the k-th largest "
                                       "(values[..., k - 1], counting from 0), not > it"),
                               (k + 1, "it keeps k + 1 per row: the k-th largest is values[..., k - 1] "
                                       "(counting from 0), not values[..., k]")):
            if 0 < wrong <= case.logits.shape[-1]:
                threshold = ordered[..., wrong - 1 : wrong]
                if torch.equal(kept, case.logits >= threshold):
                    return message
        if all(c == k for c in counts) and not torch.equal(kept, case.logits >= ordered[..., k - 1 : k]):
            return ("it keeps exactly k per row: logits tied with the k-th largest must all be kept (compare with "
                    "the k-th largest VALUE instead of scattering the k indices of topk)")
        return ""

    return diagnose


@top_k_filter.check(
    "keeps the k largest logits of each row unchanged and sets the others to -inf",
    points=2,
    examples=15,
    hint=TOP_K_HINT,
    case=top_k_cases(),
    edges={"k = 1 (greedy)": lambda case: case.k == 1, "two leading dims": lambda case: case.logits.dim() == 3,
           "a single row (no leading dims)": lambda case: case.logits.dim() == 1},
)
def top_k_matches_reference(student, case):
    _check_filtered(student(case.logits, case.k), case, ref.top_k_filter(case.logits, case.k), hint=TOP_K_HINT,
                    diagnose=_top_k_mistakes(case))


@top_k_filter.check(
    "keeps every logit tied with the k-th largest (it may keep more than k)",
    points=1,
    examples=8,
    hint="the contract filters the entries BELOW the k-th largest value, so ties with it stay: compare with "
    "the value (logits < kth), do not scatter the k indices that topk returns",
    case=top_k_cases(ties=True),
)
def top_k_ties(student, case):
    _check_filtered(student(case.logits, case.k), case, ref.top_k_filter(case.logits, case.k), hint=TOP_K_HINT,
                    diagnose=_top_k_mistakes(case))


@top_k_filter.check(
    "changes nothing when k >= V (k = V and k > V)",
    points=0.5,
    examples=4,
    hint="topk raises for k > V: clamp k to V first (k = min(k, logits.shape[-1])); with k >= V every logit stays",
    case=top_k_cases(),
)
def top_k_large(student, case):
    vocab = case.logits.shape[-1]
    for k in (vocab, vocab + 3):
        try:
            got = student(case.logits, k)
        except StudentRaised as raised:
            if raised.is_a(NotImplementedError):
                raise
            raise CheckFailed(f"raised {raised.summary()} for k = {k} and V = {vocab}: with k >= V nothing is "
                              "filtered") from None
        _check_filtered(got, FilterCase(case.logits, k=k), case.logits, hint=TOP_K_HINT)


@top_k_filter.check("raises ValueError for k < 1", points=0.5, examples=1, hint="test k < 1 first and raise ValueError")
def top_k_errors(student):
    logits = gs.random_tensor((2, 5), 0)
    with expect_raises(ValueError, "for k = 0"):
        student(logits, 0)
    with expect_raises(ValueError, "for k = -1"):
        student(logits, -1)


def _check_kept_gradients(student, case: FilterCase, argument, expected: torch.Tensor) -> None:
    outputs, grads, cotangents = student.gradients(case.logits, argument)
    expect_shape(outputs, case.logits.shape, "the filtered logits")
    grad = grads[0] if grads else None
    kept = expected != NEG_INF
    if grad is None:
        raise CheckFailed("no gradient reaches the logits: build the result from them with torch operations "
                          "(masked_fill, torch.where), without .detach() or NumPy",
                          hint="the kept entries are the logits themselves, so their gradient is the upstream one")
    wanted = cotangents[0].to(grad.dtype)
    if not torch.allclose(grad[kept], wanted[kept]):
        raise CheckFailed("the gradient with respect to a kept logit is not the upstream gradient: a kept entry "
                          "is the logit itself (d out / d logit = 1)",
                          hint="return logits.masked_fill(~keep, float('-inf')) or torch.where(keep, logits, -inf)")


@top_k_filter.check(
    "passes gradients through to the kept logits",
    points=0.5,
    examples=3,
    hint="use torch operations on the logits (masked_fill, torch.where); no .detach(), no NumPy",
    case=top_k_cases(),
)
def top_k_gradients(student, case):
    logits = case.logits.to(torch.float64)
    _check_kept_gradients(student, FilterCase(logits, k=case.k), case.k, ref.top_k_filter(logits, case.k))


# ------------------------------------------------------------------------------ top_p_filter


def _top_p_mistakes(case: FilterCase) -> Callable[[torch.Tensor], str]:
    def diagnose(kept: torch.Tensor) -> str:
        probs = torch.softmax(case.logits.to(torch.float64), dim=-1)
        ordered, order = probs.sort(dim=-1, descending=True)
        before = ordered.cumsum(-1) - ordered
        ascending, up_order = probs.sort(dim=-1)

        def unsorted(keep_sorted: torch.Tensor, indices: torch.Tensor = order) -> torch.Tensor:
            return torch.zeros_like(keep_sorted).scatter(-1, indices, keep_sorted)

        candidates = [
            (unsorted(before + ordered < case.p), "it keeps one token too few: a token is kept when the total "
             "probability BEFORE it is < p (cumsum - probs), so the token that crosses p is kept too"),
            (unsorted(before - ordered.roll(1, -1) * (torch.arange(before.shape[-1]) > 0) < case.p),
             "it keeps one token too many: keep a token iff the total before it (cumsum - probs) is < p"),
            (before < case.p, "the kept/removed decisions are in sorted order but applied to the unsorted "
             "logits: scatter them back with the sort's indices before filling -inf"),
            (unsorted(ascending.cumsum(-1) - ascending < case.p, up_order),
             "it keeps the LEAST likely tokens: sort the probabilities in descending order"),
        ]
        for candidate, message in candidates:
            if torch.equal(kept, candidate):
                return message
        return ""

    return diagnose


@top_p_filter.check(
    "keeps exactly the tokens whose total probability before them is < p, unchanged; the others become -inf",
    points=2,
    examples=15,
    hint=TOP_P_HINT,
    case=top_p_cases(),
    edges={"only the most likely token kept": lambda case: min(_kept_per_row(ref.top_p_filter(case.logits, case.p)
                                                                              != NEG_INF)) == 1,
           "two leading dims": lambda case: case.logits.dim() == 3,
           "a single row (no leading dims)": lambda case: case.logits.dim() == 1},
)
def top_p_matches_reference(student, case):
    _check_filtered(student(case.logits, case.p), case, ref.top_p_filter(case.logits, case.p), hint=TOP_P_HINT,
                    diagnose=_top_p_mistakes(case))


@top_p_filter.check(
    "always keeps the most likely token, even for a tiny p",
    points=0.5,
    examples=3,
    hint="nothing comes before the most likely token (total 0 < p), so it is always kept; "
    "testing the cumulative sum including the token (cumsum < p) removes it",
    case=top_p_cases(),
)
def top_p_tiny(student, case):
    small = FilterCase(case.logits, p=1e-4)
    _check_filtered(student(small.logits, small.p), small, ref.top_p_filter(small.logits, small.p),
                    hint=TOP_P_HINT, diagnose=_top_p_mistakes(small))


@top_p_filter.check(
    "keeps every token when p = 1",
    points=0.5,
    examples=3,
    hint="with p = 1 nothing is removed: the total before any token is < 1",
    case=top_p_cases(),
)
def top_p_one(student, case):
    _check_filtered(student(case.logits, 1.0), FilterCase(case.logits, p=1.0), case.logits, hint=TOP_P_HINT)


@top_p_filter.check("raises ValueError for p outside (0, 1]", points=0.5, examples=1,
                    hint="test 0 < p <= 1 first and raise ValueError otherwise")
def top_p_errors(student):
    logits = gs.random_tensor((2, 5), 0)
    for p in (0.0, -0.5, 1.5):
        with expect_raises(ValueError, f"for p = {p}"):
            student(logits, p)


@top_p_filter.check(
    "passes gradients through to the kept logits",
    points=0.5,
    examples=3,
    hint="compute the decisions from the probabilities, then apply them to the logits with masked_fill or "
    "torch.where; no .detach(), no NumPy",
    case=top_p_cases(),
)
def top_p_gradients(student, case):
    logits = case.logits.to(torch.float64)
    _check_kept_gradients(student, FilterCase(logits, p=case.p), case.p, ref.top_p_filter(logits, case.p))


# ====================================================================== sample_next_token


@dataclass
class SamplingCase:
    """``rows`` are the distinct distributions; the logits repeat each ``copies`` times (row i is rows[i % D])."""

    rows: torch.Tensor
    temperature: float
    top_k: int | None
    top_p: float | None
    copies: int = COPIES

    def logits(self) -> torch.Tensor:
        return self.rows.repeat(self.copies, 1)

    def settings(self) -> dict:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}

    def describe(self) -> str:
        given = ", ".join(f"{name}={value}" for name, value in self.settings().items() if value is not None)
        return f"{given}, logits [{self.rows.shape[0] * self.copies}, {self.rows.shape[1]}]"


def _filtered(rows: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
              order: str = "kp") -> torch.Tensor:
    """The reference's filtered logits of ``rows / temperature`` (float64); ``order="pk"``: top-p first."""
    filtered = rows.to(torch.float64) / temperature
    for name in order:
        if name == "k" and top_k is not None:
            filtered = ref.top_k_filter(filtered, top_k)
        if name == "p" and top_p is not None:
            filtered = ref.top_p_filter(filtered, top_p)
    return filtered


@st.composite
def sampling_cases(draw: st.DrawFn, mode: str | None = None, temperatures=(1.0, 0.6, 1.8)) -> SamplingCase:
    """A temperature, filters (``mode``: "plain", "top_k", "top_p" or "both") and ``DISTINCT`` rows of
    5 to 8 logits, chosen from one seed so that every classic mistake changes the first row's draws a lot:

    - plain, temperature != 1: ignoring the temperature moves the distribution by KL >= 0.06;
    - top_k: the (k+1)-th token has probability >= 0.03 after the temperature (ignoring top_k draws it);
    - top_p: ``p`` is ``MARGIN`` from every row's totals; the last kept token has probability >= 0.04 and
      the first removed one >= 0.03 (one token too few or too many shows); with a temperature != 1, top-p
      on the raw logits keeps another number of tokens; with both filters, top-p before top-k keeps more.
    """
    mode = mode or draw(st.sampled_from(["both", "top_k", "top_p"]))
    temperature = draw(st.sampled_from(temperatures))
    return _sampling_case(mode, temperature, draw(gs.seeds()))


def _sampling_case(mode: str, temperature: float, seed: int) -> SamplingCase:
    generator = torch.Generator().manual_seed(seed)
    vocab = int(torch.randint(5, 9, (1,), generator=generator))
    for _ in range(1000):
        scale = 1.2 + 0.8 * float(torch.rand(1, generator=generator))
        rows = (torch.randn(DISTINCT, vocab, generator=generator, dtype=torch.float64) * scale).float()
        top_k = int(torch.randint(2, vocab, (1,), generator=generator)) if mode in ("top_k", "both") else None
        found, top_p = _settle(rows, temperature, top_k, mode, generator)
        if found:
            return SamplingCase(rows, temperature, top_k, top_p)
    raise AssertionError("no case found")  # pragma: no cover - a few tries at most


def _after_top_k(rows: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """softmax(top_k(rows / temperature)) in float64 (for choosing cases)."""
    scaled = rows.to(torch.float64) / temperature
    if top_k is not None:
        scaled = scaled.masked_fill(scaled < scaled.topk(top_k, dim=-1).values[..., -1:], NEG_INF)
    return torch.softmax(scaled, -1)


def _settle(rows: torch.Tensor, temperature: float, top_k: int | None, mode: str,
            generator: torch.Generator) -> tuple[bool, float | None]:
    """Whether ``rows`` meet :func:`sampling_cases`'s conditions, and the ``p`` that makes them (or None)."""
    if mode == "plain":
        if temperature == 1.0:
            return True, None
        wrong, right = _after_top_k(rows, 1.0, None)[0], _after_top_k(rows, temperature, None)[0]
        return float((wrong * (wrong / right).log()).sum()) >= 0.06, None
    full = _after_top_k(rows, temperature, None).sort(dim=-1, descending=True).values
    if top_k is not None:
        if float(full[0, top_k]) < 0.03:
            return False, None
        logits = rows.sort(dim=-1, descending=True).values
        if float((logits[:, top_k - 1] - logits[:, top_k]).min()) < 1e-3:
            return False, None
    if mode == "top_k":
        return True, None
    after_k = _after_top_k(rows, temperature, top_k)
    ordered = after_k.sort(dim=-1, descending=True).values
    cuts = sorted({0.0, *[float(c) for c in (ordered.cumsum(-1) - ordered)[:, 1:].reshape(-1)]})
    gaps = [(lo + hi) / 2 for lo, hi in zip(cuts, cuts[1:]) if hi - lo > 2 * MARGIN and hi < 0.97]
    raw = _after_top_k(rows, 1.0, top_k)[0].sort(descending=True).values
    for index in torch.randperm(len(gaps), generator=generator).tolist():
        p = round(gaps[index], 6)
        kept = int(((ordered[0].cumsum(-1) - ordered[0]) < p).sum())
        if not 2 <= kept < int((ordered[0] > 0).sum()):
            continue  # top-p must keep two tokens or more of row 0, and remove one
        if float(ordered[0, kept - 1]) < 0.04 or float(ordered[0, kept]) < 0.03:
            continue
        if temperature != 1.0 and int(((raw.cumsum(-1) - raw) < p).sum()) == kept:
            continue  # top-p on the raw logits must keep another number of tokens
        if mode == "both" and min(top_k, int(((full[0].cumsum(-1) - full[0]) < p).sum())) <= kept:
            continue  # top-p before top-k must keep more
        return True, p
    return False, None


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _draw(student, case: SamplingCase, seed: int, draws: int = DRAWS, global_seed: int = 0) -> torch.Tensor:
    """``draws`` calls in one worker call: ``[draws, B]`` int64 token ids, shape and values checked."""
    batch, vocab = case.rows.shape[0] * case.copies, case.rows.shape[1]
    got = student.draws(draws, case.logits(), generator=_gen(seed), global_seed=global_seed, **case.settings())
    got = expect_tensor(got, "the sampled tokens")
    if tuple(got.shape) == (draws, batch, 1):
        raise CheckFailed(f"returned shape [{batch}, 1] for logits [{batch}, {vocab}]; return [B] = [{batch}], one "
                          "token id per row (torch.multinomial(probs, 1) gives [B, 1]: .squeeze(-1) it)",
                          hint=SAMPLE_HINT)
    if tuple(got.shape) != (draws, batch):
        raise CheckFailed(f"returned shape {list(got.shape[1:])} for logits [B, V] = [{batch}, {vocab}]; expected "
                          f"[B] = [{batch}], one token id per row", hint=SAMPLE_HINT)
    if got.is_floating_point() or got.is_complex() or got.dtype == torch.bool:
        raise CheckFailed(f"returned {str(got.dtype).replace('torch.', '')} values; token ids are integers (int64)",
                          hint=SAMPLE_HINT)
    outside = (got < 0) | (got >= vocab)
    if bool(outside.any()):
        raise CheckFailed(f"returned the token id {int(got[outside][0])}, outside [0, V) = [0, {vocab})",
                          hint=SAMPLE_HINT)
    return got.long()


def _by_row(tokens: torch.Tensor, case: SamplingCase) -> torch.Tensor:
    """Counts ``[DISTINCT, V]``: how often each distinct row's copies drew each token."""
    distinct, vocab = case.rows.shape
    rows = torch.arange(tokens.shape[1]) % distinct
    flat = (rows.expand_as(tokens) * vocab + tokens).reshape(-1)
    return torch.bincount(flat, minlength=distinct * vocab).reshape(distinct, vocab)


def _frequencies(counts: torch.Tensor) -> str:
    """``[0.412, 0.288, ...]``: counts (or probabilities) as fractions of their total."""
    shares = counts.to(torch.float64) / max(float(counts.sum()), 1e-300)
    return "[" + ", ".join(f"{float(share):.3f}" for share in shares) + "]"


def _wrong_distributions(case: SamplingCase) -> list[tuple[str, str, torch.Tensor]]:
    """What the classic mistakes draw from, ``[DISTINCT, V]`` each: ``(what it is, what to do, probabilities)``."""
    rows, t, k, p = case.rows, case.temperature, case.top_k, case.top_p
    right = _filtered(rows, t, k, p)
    kept = torch.isfinite(right)
    order = "filter logits / temperature: top_k first, then top_p on what top_k left"
    candidates = [
        ("the temperature has no effect", "divide the LOGITS by it before the softmax (dividing the probabilities "
         "after the softmax changes nothing once they are renormalised)", _filtered(rows, 1.0, k, p)),
        ("the logits are multiplied by the temperature", "divide them by it", _filtered(rows, 1 / t, k, p)),
        ("the filters are applied before the temperature", "divide the logits by the temperature first, then "
         "filter", _filtered(rows, 1.0, k, p) / t),
        ("top_p is applied before top_k", order, _filtered(rows, t, k, p, "pk")),
        ("top_k is ignored", order, _filtered(rows, t, None, p)),
        ("top_p is ignored", order, _filtered(rows, t, k, None)),
    ]
    if p is not None:
        scaled = _filtered(rows, t, k, None)
        last = scaled.masked_fill(~kept, math.inf).argmin(-1, keepdim=True)  # the least likely kept token
        fewer = right.scatter(-1, last, NEG_INF)
        nucleus = "keep a token iff the total probability BEFORE it is < p (cumsum - probs), the one crossing p too"
        if bool((torch.isfinite(fewer).sum(-1) > 0).all()):
            candidates.append(("top-p keeps one token too few", nucleus, fewer))
        outside = scaled.masked_fill(kept, NEG_INF)
        first_out = outside.argmax(-1, keepdim=True)  # the most likely removed token
        more = torch.where(torch.isfinite(outside.gather(-1, first_out)),
                           right.scatter(-1, first_out, scaled.gather(-1, first_out)), right)
        candidates.append(("top-p keeps one token too many", nucleus, more))
    greedy = torch.full_like(right, NEG_INF).scatter(-1, rows.argmax(-1, keepdim=True), 0.0)
    candidates.append(("it always returns the most likely token", "sample from the distribution", greedy))
    return [(what, advice, torch.softmax(logits, -1)) for what, advice, logits in candidates]


def _name_the_mistake(counts: torch.Tensor, candidates: list[tuple[str, str, torch.Tensor]]) -> str:
    """The first classic mistake whose distribution the counts fit (every row), if any."""
    for what, advice, probs in candidates:
        if all(stats.multinomial_p_value(c, q) > 1e-3 for c, q in zip(counts, probs)):
            return f"the draws follow what you get when {what}: {advice}"
    return ""


def _below(value: float) -> str:
    return f"below {value:.1e}" if value > 1e-300 else "below 1e-300"


# ------------------------------------------------------------------------------ the checks


@sample_next_token.check(
    "returns the argmax of each row for temperature = 0 (whatever top_k and top_p)",
    points=1,
    examples=6,
    hint="temperature = 0 means greedy: return logits.argmax(dim=-1) before dividing by the temperature",
    case=sampling_cases(temperatures=(1.0,)),
    filters=st.booleans(),
)
def sample_greedy(student, case, filters):
    logits = case.logits()[: 2 * case.rows.shape[0]]  # [2 D, V]: two copies are enough here
    settings = {"top_k": case.top_k, "top_p": case.top_p} if filters else {}
    try:
        got = student(logits, 0.0, generator=_gen(0), **settings)
    except StudentRaised as raised:
        if raised.is_a(NotImplementedError):
            raise
        raise CheckFailed(f"raised {raised.summary()} for temperature = 0: return the argmax before dividing by "
                          "the temperature (logits / 0 is inf or NaN)", hint=SAMPLE_HINT) from None
    got = expect_tensor(got, "the tokens")
    if tuple(got.shape) == (logits.shape[0], 1):
        raise CheckFailed(f"returned shape {list(got.shape)}; return [B] = [{logits.shape[0]}]: .squeeze(-1)")
    expect_shape(got, (logits.shape[0],), "the tokens ([B])")
    expected = ref.sample_next_token(logits, 0.0)
    if got.is_floating_point() or got.dtype == torch.bool or not torch.equal(got.long(), expected):
        raise CheckFailed(f"returned {got.tolist()} for temperature = 0; the argmax of each row is {expected.tolist()}",
                          hint="temperature = 0 means greedy: logits.argmax(dim=-1)")


@sample_next_token.check(
    "never draws a token that top_k or top_p removes (on every one of 100 draws of each row)",
    points=1.5,
    examples=6,
    hint="apply the filters to logits / temperature (top_k first, then top_p) and sample from the softmax of "
    "the filtered logits: a -inf logit has probability 0",
    case=sampling_cases(),
    seed=gs.seeds(),
    edges={"both filters": lambda case: case.top_k is not None and case.top_p is not None,
           "top_k only": lambda case: case.top_p is None, "top_p only": lambda case: case.top_k is None},
)
def sample_support(student, case, seed):
    """A draw outside the support never happens for a correct sampler: no false failures."""
    tokens = _draw(student, case, seed)
    allowed = torch.isfinite(_filtered(case.rows, **case.settings()))
    candidates = [(what, advice, probs > 0) for what, advice, probs in _wrong_distributions(case)]
    distinct = case.rows.shape[0]
    row_of = torch.arange(tokens.shape[1]) % distinct
    bad = ~allowed[row_of.expand_as(tokens), tokens]
    if not bool(bad.any()):
        return
    drawn = torch.zeros_like(allowed)
    drawn[row_of.expand_as(tokens), tokens] = True
    # The mistakes whose support holds every drawn token, those that leave the fewest of their tokens undrawn first.
    fitting = sorted(((int((support & ~drawn).sum()), index, what, advice)
                      for index, (what, advice, support) in enumerate(candidates) if bool((support | ~drawn).all())))
    fitting = [(what, advice) for undrawn, _, what, advice in fitting if undrawn == fitting[0][0]]
    named = ""
    if fitting:
        named = f" These draws are possible when {' or when '.join(what for what, _ in fitting[:3])}: {fitting[0][1]}."
    draw_index, row = (int(i) for i in bad.nonzero()[0])
    token = int(tokens[draw_index, row])
    kept = allowed[row % distinct].nonzero().reshape(-1).tolist()
    raise CheckFailed(
        f"with {case.describe()}, draw {draw_index} gave token {token} in row {row}, which the filters remove "
        f"(the tokens allowed there are {kept}).{named}",
        hint=SAMPLE_HINT,
    )


def _fits(counts: torch.Tensor, expected: torch.Tensor, alpha: float) -> tuple[bool, float]:
    """Both tests of one row at ``alpha / 2`` each: ``(passes, the smaller bound)``."""
    value = min(stats.multinomial_p_value(counts, expected), stats.cellwise_p_value(counts, expected)[0])
    return value >= alpha / 2, value


def _check_distribution(student, case: SamplingCase, seed: int, alpha: float) -> None:
    """Each distinct row's frequencies against the filtered softmax (2 tests per row), and one test that
    identical rows are drawn independently: ``2 * DISTINCT + 1`` tests, each at ``alpha``."""
    tokens = _draw(student, case, seed)
    expected = torch.softmax(_filtered(case.rows, **case.settings()), -1)
    wrong = _wrong_distributions(case)  # computed every time, so that a hand-out records what it needs
    counts = _by_row(tokens, case)

    def check() -> None:
        for row, (observed, wanted) in enumerate(zip(counts, expected)):
            passes, value = _fits(observed, wanted, alpha)
            if not passes:
                raise CheckFailed(
                    f"with {case.describe()}, row {row} drew its tokens with the frequencies {_frequencies(observed)} "
                    f"over {int(observed.sum())} draws, where the filtered softmax gives "
                    f"{_frequencies(wanted)} (frequencies this far off have a probability "
                    f"{_below(value)} for a correct sampler)",
                    hint=SAMPLE_HINT,
                )

    def diagnose() -> None:
        if all(_fits(observed, wanted, alpha)[0] for observed, wanted in zip(counts, expected)):
            return  # the right distribution: nothing to name (while recording for a hand-out, too)
        if bool((tokens == tokens[0]).all()):
            raise CheckFailed(f"with {case.describe()}, all {tokens.shape[0]} draws were the same: the generator "
                              "must advance from call to call (do not re-seed it or make a new one inside the "
                              "function)", hint=SAMPLE_HINT)
        observed = counts[0].to(torch.float64) / counts[0].sum()
        same, total = _agreements(tokens, case)
        if same / total > float((observed**2).sum()) and stats.binomial_p_value(same, total, float((observed**2).sum())) < 1e-6:
            raise CheckFailed(f"with {case.describe()}, identical rows drew the same token in {same} of {total} "
                              "pairs, far more often than independent draws would: draw every row with its own "
                              "random numbers (torch.rand(B, 1, generator=...), not one number for the batch)",
                              hint=SAMPLE_HINT)
        named = _name_the_mistake(counts, wrong)
        if named:
            raise CheckFailed(f"with {case.describe()}, {named}", hint=SAMPLE_HINT)

    expect_diagnosed(check, diagnose)
    _check_independent(tokens, case, expected, alpha)


def _agreements(tokens: torch.Tensor, case: SamplingCase) -> tuple[int, int]:
    """How many of the pairs (copy 2j, copy 2j + 1) of row 0 drew the same token, and how many pairs."""
    first = tokens[:, 0 :: case.rows.shape[0]]  # every copy of row 0: [draws, copies]
    pairs = first[:, : first.shape[1] // 2 * 2].reshape(tokens.shape[0], -1, 2)
    return int((pairs[..., 0] == pairs[..., 1]).sum()), pairs.shape[0] * pairs.shape[1]


def _check_independent(tokens: torch.Tensor, case: SamplingCase, expected: torch.Tensor, alpha: float) -> None:
    """Copies 2j and 2j + 1 of the first row: they agree with probability sum(p^2) if drawn independently."""
    same, total = _agreements(tokens, case)
    agree = float((expected[0] ** 2).sum())
    value = stats.binomial_p_value(same, total, min(agree, 1.0))
    if value < alpha:
        raise CheckFailed(
            f"with {case.describe()}, identical rows drew the same token {same} times in {total} pairs, where "
            f"independent draws agree {agree * total:.0f} times on average (a probability {_below(value)}): draw "
            "every row with its own random numbers (torch.rand(B, 1, generator=...), not one number for the batch)",
            hint=SAMPLE_HINT,
        )


DISTRIBUTION_EXAMPLES = 4
DISTRIBUTION_ALPHA = BUDGET / (DISTRIBUTION_EXAMPLES * (2 * DISTINCT + 1))


@sample_next_token.check(
    "draws from softmax(logits / temperature): the frequencies of 4000 draws per row, and rows independent",
    points=1.5,
    examples=DISTRIBUTION_EXAMPLES,
    hint=SAMPLE_HINT,
    case=sampling_cases(mode="plain", temperatures=(0.6, 1.8, 1.0)),
    seed=gs.seeds(),
    edges={"temperature < 1": lambda case: case.temperature < 1, "temperature > 1": lambda case: case.temperature > 1},
)
def sample_distribution(student, case, seed):
    """False failures: 4 examples x (2 tests per distinct row x 3 rows + 1 independence test) = 28 tests at
    1e-6 / 28 each (multinomial and cellwise bounds of stats, Chernoff for the pairs): at most 1e-6."""
    _check_distribution(student, case, seed, DISTRIBUTION_ALPHA)


@sample_next_token.check(
    "draws from the softmax of the filtered logits (top_k, then top_p, after the temperature)",
    points=1.5,
    examples=DISTRIBUTION_EXAMPLES,
    hint=SAMPLE_HINT,
    case=sampling_cases(mode="both", temperatures=(0.6, 1.8)),
    seed=gs.seeds(),
    edges={"temperature < 1": lambda case: case.temperature < 1, "temperature > 1": lambda case: case.temperature > 1},
)
def sample_filtered_distribution(student, case, seed):
    """Every example has both filters and a temperature != 1, chosen so that each classic mistake (the
    temperature ignored or after the filters, top-p before top-k, a filter ignored, top-p keeping one
    token too few or too many) changes the first row's support or distribution by a lot.
    False failures: 28 tests at 1e-6 / 28 each, as for the unfiltered distribution: at most 1e-6."""
    _check_distribution(student, case, seed, DISTRIBUTION_ALPHA)


@sample_next_token.check(
    "takes every random number from its generator: the same seed gives the same draws, another seed others, "
    "and torch's global random state changes nothing",
    points=1,
    examples=2,
    hint="pass generator=generator to every random call (torch.multinomial, torch.rand, torch.rand_like does not "
    "take one); never torch.manual_seed, NumPy or Python's random",
    case=sampling_cases(),
    seed=gs.seeds(),
)
def sample_generator(student, case, seed):
    """A correct sampler never fails the first and last comparisons; two seeds give the same 20 draws of
    120 rows with probability at most (max_i p_i)^(20 x 120) for each distribution: below 1e-300 here."""
    first = _draw(student, case, seed, draws=20)
    if not torch.equal(_draw(student, case, seed, draws=20), first):
        raise CheckFailed("the same generator seed gave different draws on two calls: some randomness does not "
                          "come from the generator (NumPy, Python's random, the time?)")
    if bool((first == first[0]).all()) and bool((torch.softmax(case.rows, -1).max(-1).values < 0.99).all()):
        raise CheckFailed("all 20 draws made with one generator were the same: the generator must advance from "
                          "call to call (do not re-seed it or make a new one inside the function)")
    if torch.equal(_draw(student, case, seed + 1, draws=20), first):
        raise CheckFailed("two different generator seeds gave the same draws: the function ignores its generator "
                          "and draws from torch's global random state; pass generator=generator to "
                          "torch.multinomial (or torch.rand)")
    if not torch.equal(_draw(student, case, seed, draws=20, global_seed=1), first):
        raise CheckFailed("the same generator seed gave other draws when torch's global random state was different: "
                          "some random numbers come from the global state (a torch.rand, torch.multinomial or "
                          "torch.randint without generator=generator)")


@sample_next_token.check("raises ValueError for a negative temperature", points=0.5, examples=1,
                         hint="test temperature < 0 first and raise ValueError")
def sample_errors(student):
    logits = gs.random_tensor((2, 5), 0)
    with expect_raises(ValueError, "for temperature = -1"):
        student(logits, -1.0, generator=_gen(0))

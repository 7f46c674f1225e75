"""The toy language model the decoding checks hand to ``step_fn``.

Self-contained on purpose (standard library and torch only): the same source runs in the
grading process, which computes what the student should get, and inside the student's
sandboxed worker, where ``step_fn`` is called a few hundred times per submission and a
call must not cost a round trip to the grading process (see ``ToyLM.sandbox_portable``).
Nothing in it is secret: it is the model, not a solution.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

NO_EOS = -60.0  # an eos_bias that makes eos unreachable (log-prob about -60)

_SOURCE: list[str] = []  # this module's source, read once


def type_name(value: Any) -> str:
    """The type of a value as the student would name it (a wire stand-in knows its own)."""
    return getattr(value, "type_name", type(value).__name__)


class ToyLM:
    """``step_fn(prefixes: LongTensor [n, t]) -> [n, V]`` float32 next-token log-probs.

    The logits of a prefix are ``scale * randn(V)`` from a generator seeded by a hash of
    ``(seed, prefix)``, plus ``eos_bias`` on ``eos_id``; the log-probs are their
    ``log_softmax``. Calls are validated (a 2-D integer tensor of prefixes that start with
    ``bos_id``, hold token ids in ``[0, V)``, contain no ``eos_id`` after ``bos_id``, and are
    no longer than ``max_new_tokens``) and counted.
    """

    def __init__(
        self,
        vocab_size: int,
        bos_id: int,
        eos_id: int,
        seed: int,
        max_new_tokens: int,
        eos_bias: float = 0.0,
        scale: float = 1.5,
    ) -> None:
        self.vocab_size = vocab_size
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.seed = seed
        self.max_new_tokens = max_new_tokens
        self.eos_bias = eos_bias
        self.scale = scale
        self.calls = 0
        self.rows = 0
        self._cache: dict[tuple[int, ...], torch.Tensor] = {}

    def __repr__(self) -> str:
        eos = "unreachable" if self.eos_bias <= NO_EOS else f"{self.eos_bias:+g}"
        return f"ToyLM(V={self.vocab_size}, seed={self.seed}, eos_bias={eos}): log-probs hashed from the whole prefix"

    def recording_key(self) -> tuple:
        """What identifies the model (its distribution), for recorded reference results."""
        return (self.vocab_size, self.bos_id, self.eos_id, self.seed, self.max_new_tokens, self.eos_bias, self.scale)

    def __deepcopy__(self, memo: dict) -> "ToyLM":
        """A copy for a replayed example: the same model, counters at zero, the cache shared
        (its rows are never changed in place: a call returns them stacked into a new tensor, and
        the worker has a copy of its own)."""
        return self.fresh()

    def fresh(self) -> "ToyLM":
        """The same model with its call counters at zero (and the cache shared)."""
        twin = ToyLM(*self.recording_key())
        twin._cache = self._cache
        return twin

    def sandbox_portable(self) -> Any:
        """How a worker rebuilds this model to run it itself (``grader.author.Portable``)."""
        from grader.author import Portable

        if not _SOURCE:
            _SOURCE.append(Path(__file__).read_text(encoding="utf-8"))
        return Portable(_SOURCE[0], "ToyLM", list(self.recording_key()))

    # --------------------------------------------------------------- the distribution

    def row(self, prefix: tuple[int, ...]) -> torch.Tensor:
        """float32 ``[V]`` log-probs of the token after ``prefix`` (no validation)."""
        prefix = tuple(int(t) for t in prefix)
        cached = self._cache.get(prefix)
        if cached is None:
            digest = hashlib.blake2b(repr((self.seed, prefix)).encode(), digest_size=8).digest()
            generator = torch.Generator().manual_seed(int.from_bytes(digest, "little") % 2**63)
            logits = torch.randn(self.vocab_size, generator=generator, dtype=torch.float64) * self.scale
            logits[self.eos_id] += self.eos_bias
            cached = torch.log_softmax(logits, dim=0).to(torch.float32)
            self._cache[prefix] = cached
        return cached

    def log_prob(self, tokens: list[int]) -> float:
        """The score of a hypothesis: the float64 sum of its tokens' log-probs after bos."""
        return sum(float(self.row(tuple(tokens[:i]))[tokens[i]]) for i in range(1, len(tokens)))

    # --------------------------------------------------------------- the callback

    def __call__(self, prefixes: Any = None, *extra: Any, **kwargs: Any) -> torch.Tensor:
        self.calls += 1
        if extra or kwargs:
            raise TypeError("step_fn takes exactly one argument: a LongTensor [n, t] of prefixes")
        if not isinstance(prefixes, torch.Tensor):
            raise TypeError(
                f"step_fn expects a torch.LongTensor [n, t] of prefixes, got {type_name(prefixes)}; "
                "build it with torch.tensor([tokens]) (one prefix) or torch.tensor(list_of_prefixes)"
            )
        if prefixes.is_floating_point() or prefixes.is_complex() or prefixes.dtype == torch.bool:
            raise TypeError(f"step_fn expects integer token ids (torch.long), got dtype {prefixes.dtype}")
        if prefixes.dim() != 2:
            raise ValueError(
                f"step_fn expects a 2-D tensor [n, t] (n prefixes of length t), got shape {list(prefixes.shape)}; "
                "wrap a single prefix as torch.tensor([tokens])"
            )
        n, t = prefixes.shape
        if t == 0:
            raise ValueError("step_fn got empty prefixes: every prefix starts with bos_id")
        rows = [tuple(int(v) for v in row) for row in prefixes.tolist()]
        for row in rows:
            if any(v < 0 or v >= self.vocab_size for v in row):
                raise ValueError(f"step_fn got the prefix {list(row)} with a token id outside [0, {self.vocab_size})")
            if row[0] != self.bos_id:
                raise ValueError(
                    f"step_fn got the prefix {list(row)}: every prefix must be a whole hypothesis starting with "
                    f"bos_id={self.bos_id} (the model conditions on the whole prefix, not only the last token)"
                )
            if self.eos_id in row[1:]:
                raise ValueError(
                    f"step_fn got the prefix {list(row)}, which already contains eos_id={self.eos_id}: "
                    "a hypothesis that produced eos is finished and must not be extended"
                )
        if t > self.max_new_tokens:
            raise ValueError(
                f"step_fn got prefixes of length {t} (bos + {t - 1} tokens), asking for token number {t}, but "
                f"max_new_tokens={self.max_new_tokens}: decoding must stop once {self.max_new_tokens} tokens follow bos"
            )
        self.rows += n
        if n == 0:
            return torch.empty(0, self.vocab_size, dtype=torch.float32)
        return torch.stack([self.row(row) for row in rows])

"""The inputs a check runs on: drawn by hypothesis once, then replayed for every submission.

Hypothesis runs with a fixed seed, so as long as every example passes it draws the same
inputs, in the same order, whatever the function under test does. Drawing them costs
more than most checks (about a millisecond per example), so the engine records them
once per grading process and replays them; only when a replayed example fails does it
run hypothesis itself, with the same seed, which meets the same failure and shrinks it.
A submission gets exactly the score that running hypothesis on it would give.

There are two draws. The **public** one (derandomized, the same everywhere) is what a
student hand-out records and checks locally (:meth:`ExampleBook.save`). The **official**
one is seeded from the course's secret (:func:`grader.engine.fingerprint.course_secret`), which the
hand-out never contains: a submission that only looks up the hand-out's recorded inputs
earns nothing officially, and the official grade is still the same on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings

from grader.engine import strategies
from grader.engine.course import Check, Exercise
from grader.engine.fingerprint import course_secret
from grader.engine.values import dumps, fresh_copy

HYPOTHESIS_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    verbosity=hypothesis.Verbosity.quiet,
)

Key = tuple[str, str, int]


def _without_local_constants() -> None:
    """Keep hypothesis from drawing constants found in whatever modules happen to be loaded.

    Hypothesis (6.13x and later) sometimes draws integers and floats from the constants
    of the project's own loaded modules, so the examples of a check would depend on which
    of the grader's modules a process imported (the command line, a batch, a Dask
    worker, pytest): scores must not.
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - an older hypothesis never did this
        return
    if hasattr(providers, "_get_local_constants") and hasattr(providers, "Constants"):
        empty = providers.Constants()
        providers._get_local_constants = lambda: empty
        cache = getattr(providers, "CONSTANTS_CACHE", None)
        if cache is not None and hasattr(cache, "cache"):
            cache.cache.clear()


_without_local_constants()


def hypothesis_test(
    check: Check, max_examples: int, on_example: Callable[[dict], None], seed: int | None = None
) -> Callable[[], None]:
    """The check as a hypothesis test: ``on_example(values)`` for every drawn example.

    ``seed`` None is the public draw: derandomized, seeded by the source of the ``body``
    function that wraps every check (so recording and grading must both come through
    here). An integer seeds a draw of its own (still the same on every run).
    """

    def body(**values: Any) -> None:
        on_example(values)

    test = given(**check.strategies)(body)
    if seed is None:
        return settings(HYPOTHESIS_SETTINGS, max_examples=max_examples)(test)
    return hypothesis.seed(seed)(settings(HYPOTHESIS_SETTINGS, derandomize=False, max_examples=max_examples)(test))


PUBLIC = None  # the secret of the public draw (none)


class ExampleBook:
    """Recorded examples of one draw, by ``(exercise, check, max_examples)``.

    ``secret``: None for the public draw (a hand-out's); bytes, or a function that returns
    them (or None) when first needed, for a draw seeded per check from that secret.
    """

    def __init__(self, secret: bytes | Callable[[], bytes | None] | None = PUBLIC) -> None:
        self._examples: dict[Key, list[dict]] = {}
        self._secret = secret

    @property
    def secret(self) -> bytes | None:
        if callable(self._secret):
            self._secret = self._secret()
        return self._secret

    def seed(self, exercise: Exercise, check: Check) -> int | None:
        """The hypothesis seed of one check in this draw (None: the public, derandomized draw)."""
        if self.secret is None:
            return None
        digest = hashlib.sha256(self.secret + f"\0{exercise.name}\0{check.name}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def test(self, exercise: Exercise, check: Check, max_examples: int, on_example: Callable[[dict], None]):
        """:func:`hypothesis_test` in this draw (its seeds salted with the secret: see
        :func:`grader.engine.strategies.salted`)."""
        run = hypothesis_test(check, max_examples, on_example, self.seed(exercise, check))
        secret = self.secret

        def salted_run() -> None:
            with strategies.salted(secret):
                run()

        return salted_run

    @staticmethod
    def key(exercise: Exercise, check: Check, max_examples: int | None = None) -> Key:
        return (exercise.name, check.name, check.examples if max_examples is None else max_examples)

    def has(self, exercise: Exercise, check: Check, max_examples: int | None = None) -> bool:
        return self.key(exercise, check, max_examples) in self._examples

    def record(self, exercise: Exercise, check: Check, max_examples: int | None = None) -> list[dict]:
        """Draw the examples hypothesis would run ``check`` on (all passing), once."""
        key = self.key(exercise, check, max_examples)
        if key not in self._examples:
            drawn: list[dict] = []
            self.test(exercise, check, key[2], drawn.append)()
            self._examples[key] = drawn
        return self._examples[key]

    def record_all(self, exercises: Iterable[Exercise]) -> None:
        for exercise in exercises:
            for check in exercise.checks:
                if check.strategies:
                    self.record(exercise, check)

    @contextlib.contextmanager
    def kept_in(self, saved: Path | None) -> Iterator[None]:
        """Start from the examples kept in ``saved`` and keep any drawn meanwhile there.

        The file's name must change with everything the examples depend on (the checks,
        the grader, hypothesis, torch): see :func:`examples_file`. A damaged file is only
        a missed cache; None keeps nothing.
        """
        if saved is not None and saved.is_file():
            try:
                self.load(saved)
            except Exception:  # noqa: BLE001 - unpickling a damaged file can raise anything
                pass
        known = len(self._examples)
        yield
        if saved is not None and len(self._examples) != known:
            temporary = saved.with_name(f".{saved.name}.{os.getpid()}.tmp")
            try:
                self.save(temporary)
                os.replace(temporary, saved)  # atomically: a run in parallel may be reading it
            except OSError:
                temporary.unlink(missing_ok=True)

    def replay(self, exercise: Exercise, check: Check, max_examples: int | None = None) -> Iterable[dict]:
        """Fresh copies of the recorded examples (a check may change what it is given)."""
        for values in self.record(exercise, check, max_examples):
            yield fresh_copy(values)

    def __len__(self) -> int:
        return sum(len(v) for v in self._examples.values())

    def keys(self) -> list[Key]:
        return list(self._examples)

    def dumps(self, keep: Callable[[Key], bool] = lambda key: True) -> bytes:
        """The recordings, pickled (they hold the checks' own case classes).

        Only ever read back by the grader from its own files or its own grading
        processes: never from anything a submission could have written.
        """
        chosen = {k: v for k, v in self._examples.items() if keep(k)}
        return dumps(chosen)

    def loads(self, data: bytes) -> None:
        self._examples.update(pickle.loads(data))

    def save(self, path: Path, keep: Callable[[Key], bool] = lambda key: True) -> None:
        Path(path).write_bytes(self.dumps(keep))

    def load(self, path: Path) -> None:
        self.loads(Path(path).read_bytes())


def examples_folder() -> Path:
    """``$XDG_CACHE_HOME/transformer-grader`` (``~/.cache/...`` by default), created by :func:`examples_file`."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transformer-grader"


def examples_file(fingerprint: str) -> Path | None:
    """Where this machine keeps the examples of one version of the course (None: nowhere).

    ``$XDG_CACHE_HOME/transformer-grader`` (``~/.cache/...`` by default): every batch and
    every ``grader grade`` after the first on this machine skips drawing them.
    """
    root = examples_folder()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return root / f"examples-{fingerprint}.pkl" if os.access(root, os.W_OK) else None


BOOK = ExampleBook(course_secret)
"""The recordings of this process (inherited by forked grading processes): the official draw
where the reference is installed, the public one in a hand-out."""

"""One check, run on its examples: a verdict from whatever happened.

A check passes when its function returns on every example. Anything else that happens
is a verdict with a message for the student: the exception's class says which, through
the table :data:`VERDICTS` (the first class that matches wins).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from hypothesis.errors import HypothesisException

from grader.engine.compare import CheckFailed
from grader.engine.course import Check, Exercise
from grader.engine.describe import describe
from grader.engine.examples import ExampleBook
from grader.engine.recording import NotRecorded
from grader.engine.results import CheckResult
from grader.engine.session import Lookahead, Session, StubNotImplemented
from grader.engine.student import Student
from grader.sandbox.client import FunctionMissing, StudentRaised, WorkerFailure

MAX_CRASHES_PER_EXERCISE = 3


class ExamplesNotRecorded(Exception):
    """The hand-out has no recorded examples for a check."""


@dataclass
class Verdict:
    """What a failure tells the student: the message, and what goes with it."""

    message: str
    hint: str | None = None  # None: the check's own hint
    details: dict | None = None
    show_input: bool = True  # the (smallest) failing input
    stub: bool = False  # the function is still the stub


def _not_recorded(missing: NotRecorded, name: str) -> Verdict:
    return Verdict(
        f"could not be checked here: it needs the reference's result for {missing.name} on an input that "
        "was not recorded (usually because your result already differs from the reference's); the official "
        "grader checks it in full"
    )


def _unexpected(error: BaseException, name: str) -> Verdict:
    _debug(error)
    detail = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
    return Verdict(f"the result could not be checked (wrong type or structure?): {detail[:300]}")


def _unstable(error: BaseException, name: str) -> Verdict:
    _debug(error)
    return Verdict(
        f"gave different results when called twice with the same input; is it random or stateful? "
        f"({type(error).__name__})"
    )


# What each way a check can end means, as ``(error, exercise name) -> Verdict``; first match
# wins (subclasses before their bases).
VERDICTS: list[tuple[type[BaseException], Callable[[Any, str], Verdict]]] = [
    (CheckFailed, lambda e, _: Verdict(e.message, hint=e.hint or None, details=e.details)),
    (NotRecorded, _not_recorded),
    (ExamplesNotRecorded, lambda e, _: Verdict("not run: this hand-out has no recorded inputs for this check",
                                               show_input=False)),
    (StudentRaised, lambda e, _: Verdict(f"raised {e.summary()}")),
    (StubNotImplemented, lambda e, _: Verdict(f"not implemented yet: {e}", hint="", show_input=False, stub=True)),
    (FunctionMissing, lambda e, name: Verdict(f"the submission does not define {name}", show_input=False)),
    (WorkerFailure, lambda e, _: Verdict(e.message)),
    (HypothesisException, _unstable),
    (Exception, _unexpected),  # the check could not digest the student's result
]


def verdict_of(error: BaseException, name: str) -> Verdict | None:
    """The verdict for a check of exercise ``name`` that ended with ``error``; None for what
    is not a verdict (a grader fault, an interrupt), which goes on up."""
    for kind, verdict in VERDICTS:
        if isinstance(error, kind):
            return verdict(error, name)
    return None


class CheckRunner:
    """Runs checks on recorded examples (hypothesis only to shrink a failure)."""

    def __init__(self, examples: ExampleBook, replay: bool = True, handout: bool = False) -> None:
        self.examples = examples
        self.replay = replay
        self.handout = handout

    def run_check(
        self, exercise: Exercise, check: Check, student: Student, session: Session,
        max_examples: int | None = None, quick: bool = False,
    ) -> tuple[CheckResult, bool]:
        """Run one check; returns its result and whether it met an unimplemented stub.

        ``quick``: the recorded examples only, no hypothesis search on a failure (its
        input is the first recorded one that failed).
        """
        if session.timed_out:
            return self._failed(check, Verdict(f"not run: an earlier check timed out ({session.timed_out})")), False
        if session.crashes >= MAX_CRASHES_PER_EXERCISE:
            return self._failed(check, Verdict("not run: the function crashed the worker in earlier checks")), False
        drawn: dict[str, Any] = {}

        def show(values: dict[str, Any]) -> None:
            drawn.clear()
            drawn.update(values)

        def body(values: dict[str, Any]) -> None:
            show(values)
            check.function(student, **values)

        try:
            with _quiet_warnings():
                self.run_examples(exercise, check, Lookahead(session, body, show), max_examples, quick)
        except BaseException as error:  # noqa: BLE001 - mapped by the table; the rest goes on up
            verdict = verdict_of(error, student.name)
            if verdict is None:
                raise
            return self._failed(check, verdict, _render(drawn) if verdict.show_input else ""), verdict.stub
        return CheckResult(check.name, check.points, check.points, True, hidden=check.hidden), False

    def _failed(self, check: Check, verdict: Verdict, shown: str = "") -> CheckResult:
        label = {"input_label": "failing input (recorded; shrunk only by the official grader)"} if self.handout else {}
        return CheckResult(
            check.name, check.points, 0.0, False, verdict.message,
            hint=check.hint if verdict.hint is None else verdict.hint,
            input=shown, details={**(verdict.details or {}), **label}, hidden=check.hidden,
        )

    def run_examples(
        self, exercise: Exercise, check: Check, lookahead: Lookahead, max_examples: int | None = None,
        quick: bool = False,
    ) -> None:
        """``lookahead.body(values)`` on each example: replayed recordings first (their calls
        streamed), hypothesis on a failure.

        A failing recorded example is the first failure hypothesis itself would meet, so
        running hypothesis then finds it again and shrinks it: same verdict, same report.
        """
        body = lookahead.body
        if not check.strategies:
            body({})
            return
        if self.handout and not self.examples.has(exercise, check, max_examples):
            raise ExamplesNotRecorded(check.name)
        if self.replay or self.handout or quick:
            try:
                lookahead.run(list(self.examples.replay(exercise, check, max_examples)))
                return
            except FunctionMissing:
                raise
            except Exception:  # noqa: BLE001 - any failure is hypothesis's to shrink
                if self.handout or quick:
                    raise  # no search here: the recorded failing input is the report
        self.examples.test(exercise, check, max_examples or check.examples, body)()


def _render(drawn: dict[str, Any]) -> str:
    return "\n".join(f"{key} = {describe(value)}" for key, value in drawn.items())


def _debug(error: BaseException) -> None:
    """With GRADER_DEBUG=1, show the grader's own view of an unexpected error on stderr."""
    if os.environ.get("GRADER_DEBUG"):
        for inner in [error, *getattr(error, "exceptions", [])]:
            traceback.print_exception(inner, file=sys.stderr)


@contextlib.contextmanager
def _quiet_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield

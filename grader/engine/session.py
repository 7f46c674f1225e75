"""The calls of one exercise's checks to the student's function: which worker, restarts, streaming.

A :class:`Session` sends the calls of one exercise to a worker (the one that imported every
module, or the module's own), restarts it after a crash, and keeps what the calls showed:
inputs changed in place, crashes, a timeout, an unimplemented stub. A :class:`Lookahead`
runs a check's examples so that their first calls stream to the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import greenlet
import torch

from grader.engine.compare import device_of
from grader.engine.course import Exercise
from grader.engine.student import Mutation, argument_names
from grader.engine.workers import Workers
from grader.sandbox.client import (
    CallLost,
    InfrastructureError,
    Pending,
    StudentRaised,
    WorkerClient,
    WorkerFailure,
    tensors_in,
)

LOOKAHEAD = 8  # examples whose first call is sent before the current one is checked


class StubNotImplemented(BaseException):
    """The student's function still raises NotImplementedError (ends the exercise)."""


class Session:
    """The worker(s) behind one exercise, restarted after a crash.

    ``together``: calls go to the worker that imported every module, while it runs
    (see :meth:`Workers.start_together`); otherwise, and after it died, to the module's own.
    ``substitute``: the prerequisites the worker replaces with the reference's.
    """

    def __init__(self, workers: Workers, exercise: Exercise, substitute: list[str], together: bool = False) -> None:
        self.workers = workers
        self.exercise = exercise
        self.substitute = substitute
        self.together = together
        self.worker: WorkerClient | None = None
        self.mutations: list[Mutation] = []
        self.completed_calls = 0
        self.calls = 0
        self.crashes = 0
        self.timed_out = ""
        self.stub_message = ""
        self.lookahead: Lookahead | None = None

    def call(self, name: str, args: tuple, kwargs: dict, grad: bool = False, draws: tuple[int, int] | None = None):
        """The student's ``name(*args, **kwargs)`` (``draws``: see :meth:`Student.draws`); an
        example looked at ahead of its turn sends its call and waits for its turn (see
        :class:`Lookahead`)."""
        lookahead = self.lookahead
        if lookahead is not None and lookahead.ahead():
            sent = self._submit(name, args, kwargs, grad, ahead=True, draws=draws)
            lookahead.wait_for_turn()
            if sent is not None:
                return self._collect(sent)
        return self._collect(self._submit(name, args, kwargs, grad, draws=draws))

    def _worker(self) -> WorkerClient:
        if self.worker is None or not self.worker.alive:
            together = self.workers.together_worker() if self.together else None
            if together is not None:
                self.worker = together
                return together
            try:
                self.worker = self.workers.shared_worker(self.exercise.module)
            except OSError as error:
                raise InfrastructureError(f"could not start a worker: {error}") from error
        return self.worker

    def _submit(
        self, name: str, args: tuple, kwargs: dict, grad: bool, ahead: bool = False, draws: tuple[int, int] | None = None
    ) -> Sent | None:
        worker = self._worker()
        pending = worker.submit(name, args, kwargs, grad=grad, substitute=self.substitute, ahead=ahead, draws=draws)
        return None if pending is None else Sent(worker, pending, name, args, kwargs, grad, draws)

    def _collect(self, sent: Sent):
        self.calls += 1
        name, args, kwargs = sent.name, sent.args, sent.kwargs
        try:
            while True:
                try:
                    result = sent.worker.result(sent.pending)
                    break
                except CallLost:  # an earlier call sent ahead crashed the worker: this one never ran
                    sent = self._submit(name, args, kwargs, sent.grad, draws=sent.draws)
        except StudentRaised as raised:
            self._record_mutations(name, args, kwargs, getattr(raised, "mutated", []))
            if raised.is_a(NotImplementedError) and raised.raised_in_submission:
                raise StubNotImplemented(self._stub_message(raised)) from None
            raise
        except WorkerFailure as failure:
            self.crashes += 1
            if failure.kind == "timeout":
                self.timed_out = failure.message
            raise
        self.completed_calls += 1
        self._record_mutations(name, args, kwargs, result.mutated)
        return result

    def _stub_message(self, raised: StudentRaised) -> str:
        """Whose stub it is: this function's, or one it calls (a hand-out uses the student's own)."""
        for used in self.exercise.uses:
            if f"{used} is not implemented yet" in raised.summary():
                self.stub_message = f"it calls your {used}, which still raises NotImplementedError: implement {used} first"
                return self.stub_message
        return raised.summary()

    def _record_mutations(self, name: str, args: tuple, kwargs: dict, indices: list[int]) -> None:
        """Inputs the call changed in place (whether it returned or raised)."""
        if indices:
            names = argument_names(self.exercise.reference, args, kwargs)
            self.mutations.extend(Mutation(name, names[i] if i < len(names) else "?") for i in indices)

    def expected_device(self, args: tuple, kwargs: dict) -> str:
        if tensors_in((args, kwargs)) or _has_callable((args, kwargs)):
            return self.workers.device_name  # tensors, and what callbacks return, live there
        device = kwargs.get("device")
        return device_of(device) if device is not None else "cpu"

    def close(self) -> None:
        self.worker = None  # the pool closes shared workers when the submission is done


@dataclass
class Sent:
    """A call sent to a worker, and what it takes to send it again."""

    worker: WorkerClient
    pending: Pending
    name: str
    args: tuple
    kwargs: dict
    grad: bool
    draws: tuple[int, int] | None = None


class Lookahead:
    """Runs a check's recorded examples in order, sending each one's first call ahead.

    Each example's body runs in a greenlet (a paused call stack). Before example ``i``
    takes its turn, the next :data:`LOOKAHEAD` examples run up to their first call to
    the student's function, which is sent to the worker without waiting, and pause.
    The worker then answers a stream of calls instead of one round trip per call.

    Nothing else changes: examples take their turns in order, the first one that fails
    ends the check (its input is the one reported), and the calls sent for the examples
    after it are simply never looked at (a crash among them costs nothing: a call it
    stopped is sent again to a fresh worker). Only the order of calls in the worker
    differs from one example at a time, which matters only to a function that keeps
    state between calls.
    """

    def __init__(self, session: Session, body: Callable[[dict], None], show: Callable[[dict], None]) -> None:
        self.session = session
        self.body = body
        self.show = show
        self.runner = greenlet.getcurrent()
        self.turn: greenlet.greenlet | None = None

    def ahead(self) -> bool:
        """Is the running example looking ahead (not yet its turn)?"""
        current = greenlet.getcurrent()
        return current is not self.runner and current is not self.turn

    def wait_for_turn(self) -> None:
        self.runner.switch()

    def run(self, examples: list[dict]) -> None:
        started: dict[int, tuple[greenlet.greenlet, list]] = {}
        self.session.lookahead = self
        try:
            for index, values in enumerate(examples):
                for later in range(index, min(len(examples), index + LOOKAHEAD + 1)):
                    if later not in started:
                        started[later] = self._start(examples[later])
                task, outcome = started.pop(index)
                self.turn = task
                self.show(values)
                if not task.dead:
                    task.switch()
                if outcome:
                    raise outcome[0]
        finally:
            self.session.lookahead = None
            self.turn = None
            for task, _ in started.values():
                if not task.dead:
                    task.throw()  # unwinds the examples left waiting (GreenletExit)

    def _start(self, values: dict) -> tuple[greenlet.greenlet, list]:
        outcome: list = []

        def example() -> None:
            try:
                self.body(values)
            except (greenlet.GreenletExit, KeyboardInterrupt):
                raise
            except BaseException as error:  # noqa: BLE001 - raised in turn, by run()
                outcome.append(error)

        task = greenlet.greenlet(example, parent=self.runner)
        task.switch()
        return task, outcome


def _has_callable(tree: Any) -> bool:
    if isinstance(tree, (list, tuple)):
        return any(_has_callable(item) for item in tree)
    if isinstance(tree, dict):
        return any(_has_callable(item) for item in tree.values())
    return callable(tree) and not isinstance(tree, (type, torch.dtype))

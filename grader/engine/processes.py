"""Grading a submission's exercises in two grading processes at once (one forked for the other half).

Exercises are independent (an exercise's checks count as run in its module's own worker)
and each half holds its exercises' prerequisites (:func:`~grader.engine.ordering.split_by_cost`),
so where one is graded changes nothing in its result. The forked process never runs
student code itself: it asks the zygote for workers, like its parent.
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import time
from typing import Callable

import torch

from grader.engine.course import Exercise
from grader.engine.examples import ExampleBook
from grader.engine.ordering import split_by_cost
from grader.engine.results import ExerciseResult
from grader.engine.workers import Workers
from grader.sandbox.client import InfrastructureError

CHILD_GRACE_SECONDS = 600.0

Grade = Callable[[list[Exercise]], dict[str, ExerciseResult]]


def cuda_initialised() -> bool:
    """Has this process initialised CUDA? Then it must not fork a grading process: CUDA does
    not survive a fork, and the child's device work would fail (costing points)."""
    return bool(torch.cuda.is_initialized())  # asks torch only: never touches the driver itself


def grade_in_two(exercises: list[Exercise], grade: Grade, workers: Workers, examples: ExampleBook) -> dict[str, ExerciseResult]:
    """``grade(exercises)``, half of them in a forked grading process (which uses the zygote's
    second channel); the examples the child drew are kept here too. If the child fails (a
    bug of ours), its half is graded here."""
    mine, theirs = split_by_cost(exercises)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        _grade_in_child(theirs, grade, workers, examples, write_fd)
    os.close(write_fd)
    try:
        results = grade(mine)
    finally:
        data = _read_all(read_fd, CHILD_GRACE_SECONDS)
        if data is None:  # the child is stuck: stop it and do its share here
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    try:
        payload = json.loads(data)
        if "infrastructure" in payload:
            raise InfrastructureError(str(payload["infrastructure"]))
        results.update((r["name"], ExerciseResult.from_json(r)) for r in payload["results"])
        workers.output.extend(t for t in payload["output"] if t not in workers.output)
        examples.loads(base64.b64decode(payload["examples"]))  # what the child drew, kept for next time
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        results.update(grade(theirs))  # the child failed
    return {e.name: results[e.name] for e in exercises}


def _grade_in_child(group: list[Exercise], grade: Grade, workers: Workers, examples: ExampleBook, write_fd: int):
    status = 1
    try:
        torch.set_num_threads(1)
        workers.zygote.use_channel(1)
        workers.forget_all()  # the parent's workers, if any, are not ours to use or close
        known = set(examples.keys())
        try:
            graded = [r.to_json() for r in grade(group).values()]
            workers.close_all()
            recorded = examples.dumps(lambda key: key not in known)
            payload = {
                "results": graded, "output": workers.output, "sandbox": workers.sandbox_facts,
                "examples": base64.b64encode(recorded).decode(),
            }
        except InfrastructureError as fault:
            payload = {"infrastructure": str(fault)}
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(json.dumps(payload).encode())
        status = 0
    finally:
        os._exit(status)


def _read_all(fd: int, seconds: float) -> bytes | None:
    """Everything from ``fd`` until EOF, or None if that takes longer than ``seconds``."""
    deadline = time.monotonic() + seconds
    chunks = []
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)

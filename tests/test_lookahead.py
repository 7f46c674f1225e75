"""Calls sent ahead: a check's examples stream their calls to the worker, and nothing
about a grade changes but its speed (the first failing example is still the one
reported; a crash or hang among the calls sent after it costs nothing)."""

from __future__ import annotations

import pytest
import torch

from grader.engine.compare import expect_equal
from grader.engine.course import Check, Course, Exercise
from grader.engine.examples import ExampleBook
from grader.engine.runner import Grader, Handout
from grader.sandbox.client import CallLost, Limits, WorkerFailure
from grader.engine.submission import load_submission
from hypothesis import strategies as st
from solutions import attention as attention_ref
from solutions import masks as masks_ref

LIMITS = Limits(call_seconds=1.5, load_seconds=6.0)

# causal_mask is right except: wrong for WRONG_AT, and FAILURE for q_len == 3.
STUDENT = """
import os
import torch

def causal_mask(q_len, k_len=None, device=None):
    if q_len == {wrong_at}:
        return torch.zeros(q_len, q_len, dtype=torch.bool)
    if q_len == 3:
        {failure}
    return torch.ones(q_len, q_len, dtype=torch.bool, device=device).tril()

def padding_mask(lengths, max_len=None):
    raise NotImplementedError
"""
CRASH = "os._exit(3)"
HANG = "while True: pass"


def _matches_reference(student, n):
    expect_equal(student(n), masks_ref.causal_mask(n))


def _course(examples: int) -> tuple[Course, ExampleBook]:
    """One exercise, two checks: the first on n = 1..examples in order, the second on n = 2."""
    exercise = Exercise("masks.causal_mask", masks_ref.causal_mask, inputs_unchanged_points=0.5)
    exercise.checks = [
        Check("matches on n = 1, 2, ...", 1.0, _matches_reference, {"n": st.integers(1, 9)}, examples),
        Check("matches on n = 2", 1.0, _matches_reference, {"n": st.integers(1, 9)}, 1),
    ]
    book = ExampleBook()
    book._examples[book.key(exercise, exercise.checks[0])] = [{"n": n} for n in range(1, examples + 1)]
    book._examples[book.key(exercise, exercise.checks[1])] = [{"n": 2}]
    return Course([exercise], {"masks": 0.0}), book


def _grade(tmp_path, wrong_at: int, failure: str, examples: int = 6):
    (tmp_path / "masks.py").write_text(STUDENT.format(wrong_at=wrong_at, failure=failure))
    course, book = _course(examples)
    # As in a hand-out: the recorded examples only, no hypothesis search after a failure.
    with Grader(course, limits=LIMITS, examples=book, handout=Handout()) as grader:
        return grader.grade(tmp_path).exercises[0]


@pytest.mark.parametrize("failure", [CRASH, HANG], ids=["crash", "hang"])
def test_a_crash_or_hang_after_the_first_failure_costs_nothing(tmp_path, failure):
    graded = _grade(tmp_path, wrong_at=1, failure=failure)
    first, second = graded.checks[0], graded.checks[1]
    assert not first.passed and "n = 1" in first.input and "crash" not in first.message
    assert "timed out" not in first.message
    assert second.passed, second.message  # a fresh worker ran it: the calls sent ahead cost nothing
    assert graded.status == "graded", graded.note


def test_the_failing_example_reported_is_the_first_one_not_the_last_one_looked_at(tmp_path):
    graded = _grade(tmp_path, wrong_at=5, failure="pass", examples=9)
    first = graded.checks[0]
    assert not first.passed and first.input.strip().endswith("n = 5"), first.input


def test_a_crash_in_its_turn_is_reported_as_before(tmp_path):
    graded = _grade(tmp_path, wrong_at=99, failure=CRASH)
    first, second = graded.checks[0], graded.checks[1]
    assert not first.passed and "crashed" in first.message and "n = 3" in first.input
    assert second.passed and graded.status == "crashed"


# ------------------------------------------------------------------------------ the client


@pytest.fixture
def attention_worker(course, tmp_path):
    from tests.conftest import SOLUTIONS

    with Grader(course, limits=LIMITS) as grader:
        grader.workers.submission = load_submission(SOLUTIONS, course.modules, grader.workdir)
        worker = grader.workers.start_worker("attention", [])
        yield worker
        worker.close()


def test_calls_sent_ahead_are_answered_in_order_while_the_worker_calls_back(attention_worker):
    """Each call needs the grading process's softmax (a callback) while later calls wait in line."""
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randn(2, n, 4, generator=generator) for n in (1, 2, 3, 4)]
    sent = [
        attention_worker.submit("attention.scaled_dot_product_attention", (x, x, x), {},
                                substitute=["attention.softmax"], ahead=True)
        for x in inputs
    ]
    assert all(s is not None for s in sent) and len(attention_worker._in_flight) == 4
    for x, pending in reversed(list(zip(inputs, sent))):  # read the last first: the others are kept
        output, weights = attention_worker.result(pending).value
        expected, expected_weights = attention_ref.scaled_dot_product_attention(x, x, x)
        torch.testing.assert_close(output, expected)
        torch.testing.assert_close(weights, expected_weights)
    assert not attention_worker._in_flight


def test_a_call_sent_ahead_waits_if_too_much_is_in_flight(attention_worker):
    big = torch.zeros(40_000)  # 160 kB: more than may be in flight
    first = attention_worker.submit("attention.softmax", (torch.zeros(3),), {}, ahead=True)
    assert attention_worker.submit("attention.softmax", (big,), {}, ahead=True) is None
    later = attention_worker.submit("attention.softmax", (big,), {})  # reads the first reply, then sends
    assert first.outcome is not None and attention_worker.result(later).value.shape == big.shape


def test_a_crash_in_flight_fails_its_call_and_loses_the_later_ones(course, submission_factory):
    crashing = (
        "import os, torch\n"
        "def causal_mask(q_len, k_len=None, device=None):\n"
        "    if q_len == 2:\n"
        "        os._exit(3)\n"
        "    return torch.ones(q_len, q_len, dtype=torch.bool).tril()\n"
    )
    with Grader(course, limits=LIMITS) as grader:
        grader.workers.submission = load_submission(submission_factory({"masks": crashing}), course.modules, grader.workdir)
        worker = grader.workers.start_worker("masks", [])
        sent = [worker.submit("masks.causal_mask", (n,), {}, ahead=True) for n in (1, 2, 3)]
        assert worker.result(sent[0]).value.shape == (1, 1)
        with pytest.raises(WorkerFailure, match="exited with status 3"):
            worker.result(sent[1])
        with pytest.raises(CallLost):
            worker.result(sent[2])
        assert not worker.alive


def test_huge_results_streamed_back_never_block_the_calls_sent_ahead(tmp_path):
    """Every call returns 16 MB: replies far larger than a socket's buffer, while calls are in flight."""
    (tmp_path / "masks.py").write_text(
        "import torch\n"
        "def causal_mask(q_len, k_len=None, device=None):\n"
        "    return torch.ones(4000, 4000, dtype=torch.bool)\n"
    )
    course, book = _course(6)
    with Grader(course, limits=LIMITS, examples=book, handout=Handout()) as grader:
        graded = grader.grade(tmp_path).exercises[0]
    first, second = graded.checks[0], graded.checks[1]
    assert not first.passed and "n = 1" in first.input and "shape" in first.message, first.message
    assert not second.passed and "shape" in second.message and graded.status == "graded"

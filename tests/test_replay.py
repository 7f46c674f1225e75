"""Replaying recorded examples changes nothing: same verdicts, messages and shrunk inputs.

The engine draws each check's examples once and replays them for every submission;
only a failure makes it run hypothesis itself. These tests grade the same submissions
with and without replaying and compare the reports line by line.
"""

from __future__ import annotations

import pytest

from grader.engine.fingerprint import course_secret
from grader.engine.examples import ExampleBook
from grader.engine.values import fresh_copy
from grader.engine.runner import Grader
from tests.conftest import all_mutants
from tests.conftest import SOLUTIONS

# One mistake per concept, among those whose failures shrink (the interesting case).
CHOSEN = [
    "attention.softmax: no max subtraction (overflows for large inputs)",
    "masks.causal_mask: inverted polarity (True = blocked, as nn.MultiheadAttention)",
]


def _picked() -> list:
    mutants = {m.id: m for m in all_mutants()}
    found = [mutants[i] for i in CHOSEN if i in mutants]
    by_module: dict[str, object] = {}
    for mutant in all_mutants():
        by_module.setdefault(mutant.module, mutant)
    for mutant in by_module.values():
        if mutant not in found:
            found.append(mutant)
    return found[:6]


def _summary(report) -> list[tuple]:
    return [
        (e.name, e.status, c.name, c.passed, c.score, c.message, c.input)
        for e in report.exercises
        for c in e.checks
    ]


@pytest.fixture(scope="module")
def graders(course):
    official = ExampleBook(course_secret)  # the draw the drawing grader's hypothesis runs make
    with Grader(course, replay=False) as drawing, Grader(course, replay=True, examples=official) as replaying:
        yield drawing, replaying


@pytest.mark.parametrize("mutant", _picked(), ids=lambda m: m.id)
def test_replaying_gives_the_same_report_as_hypothesis(mutant, graders, course, submission_factory):
    drawing, replaying = graders
    source = mutant.apply((SOLUTIONS / f"{mutant.module}.py").read_text())
    submission = submission_factory({mutant.module: source})
    exercises = [e for e in course.exercises if e.module == mutant.module]
    drawn = drawing.grade(submission, exercises)
    replayed = replaying.grade(submission, exercises)
    assert _summary(replayed) == _summary(drawn)
    assert any(not c.passed for e in replayed.exercises for c in e.checks)


@pytest.mark.parametrize("secret", [None, course_secret], ids=["public", "official"])
def test_recorded_examples_are_what_hypothesis_draws(course, secret):
    """The recording of a check is exactly the sequence of inputs the check sees."""
    book = ExampleBook(secret)
    exercise = course["attention.softmax"]
    check = exercise.checks[0]
    recorded = book.record(exercise, check)
    assert len(recorded) == check.examples
    again = ExampleBook(secret).record(exercise, check)
    assert [repr(v) for v in again] == [repr(v) for v in recorded]
    seen: list[dict] = []
    book.test(exercise, check, check.examples, seen.append)()
    assert [repr(v) for v in seen] == [repr(v) for v in recorded]


def test_the_official_draw_shares_no_input_with_the_handouts(course):
    """What a hand-out records (the public draw) tells nothing of the official inputs: not
    even hypothesis's first, simplest example, whose tensors come from a salted seed."""
    public, official = ExampleBook(), ExampleBook(course_secret)
    shared = total = 0
    for exercise in course.exercises:
        for check in exercise.checks:
            if check.strategies and any(name in ("case", "seed") for name in check.strategies):
                mine = {repr(v) for v in public.record(exercise, check)}
                theirs = [repr(v) for v in official.record(exercise, check)]
                total += len(theirs)
                shared += sum(v in mine for v in theirs)
    assert total > 300 and shared <= total // 50, (shared, total)


def test_recorded_examples_are_kept_in_a_file_and_read_back_without_drawing(course, tmp_path, monkeypatch):
    """A batch keeps its examples in its cache: the next run reads them instead of drawing."""
    from grader.engine import examples

    exercises = [course["attention.softmax"], course["masks.causal_mask"]]
    saved = tmp_path / "examples.pkl"
    first = ExampleBook()
    with first.kept_in(saved):
        first.record_all(exercises)
    assert saved.is_file() and len(first) > 0

    def no_drawing(*args, **kwargs):
        raise AssertionError("hypothesis ran although the examples were saved")

    monkeypatch.setattr(examples, "hypothesis_test", no_drawing)
    second = ExampleBook()
    with second.kept_in(saved):
        second.record_all(exercises)
    assert second.keys() == first.keys()
    for key in first.keys():
        assert [repr(v) for v in second._examples[key]] == [repr(v) for v in first._examples[key]]
    saved.write_bytes(b"not a pickle")  # a damaged cache is redrawn, not an error
    monkeypatch.undo()
    third = ExampleBook()
    with third.kept_in(saved):
        third.record_all(exercises)
    assert len(third) == len(first) and saved.read_bytes() != b"not a pickle"


def test_kept_examples_round_trip_every_kind_of_tensor():
    """Examples are pickled with tensors as raw bytes: dtype, shape, values, requires_grad kept."""
    import pickle

    import torch

    from grader.engine.values import dumps

    tensors = [
        torch.randn(3, 4), torch.arange(5), torch.ones(2, dtype=torch.bfloat16), torch.zeros(0, 3),
        torch.randn(2, 2).requires_grad_(), torch.tensor(True), torch.randn(6)[::2], torch.randn(2, 3).t(),
        torch.randn(2, dtype=torch.complex64).conj(), torch.tensor([float("nan"), float("inf")], dtype=torch.float16),
    ]
    back = pickle.loads(dumps({"case": [tuple(tensors[:4]), tensors[4:]]}))["case"]
    for original, copy in zip(tensors, [*back[0], *back[1]]):
        assert copy.dtype == original.dtype and copy.shape == original.shape
        assert copy.requires_grad == original.requires_grad
        torch.testing.assert_close(copy.detach(), original.detach(), rtol=0, atol=0, equal_nan=True)


def test_replayed_examples_are_fresh_copies(course):
    """A check that changes its input in place cannot change what the next submission gets."""
    book = ExampleBook()
    exercise = course["attention.softmax"]
    check = exercise.checks[0]
    first = next(iter(book.replay(exercise, check)))
    tensor = next(v for v in vars(first["case"]).values() if hasattr(v, "add_"))
    before = tensor.clone()
    tensor.add_(1.0)
    second = next(iter(book.replay(exercise, check)))
    tensor_again = next(v for v in vars(second["case"]).values() if hasattr(v, "add_"))
    assert (tensor_again == before).all()
    assert fresh_copy({"a": [1, (2.0, "x")]}) == {"a": [1, (2.0, "x")]}


def test_examples_do_not_depend_on_which_modules_are_loaded():
    """Hypothesis may draw constants from loaded project modules; the grader stops that, so
    `grader check`, a batch, a Dask worker and pytest all draw the same examples."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = (
        "import hashlib, sys\n"
        "if sys.argv[1] == 'more':\n"
        "    import grader.cli, grader.commands.batch, grader.reports.html, grader.commands.release, grader.commands.selftest  # noqa\n"
        "from grader.engine.course import load_course\n"
        "from grader.engine.examples import ExampleBook\n"
        "from grader.engine.fingerprint import course_secret\n"
        "course, digest = load_course(), hashlib.sha256()\n"
        "for book in (ExampleBook(), ExampleBook(course_secret)):\n"
        "    for exercise in course.exercises:\n"
        "        for check in exercise.checks:\n"
        "            if check.strategies:\n"
        "                digest.update(repr(book.record(exercise, check)).encode())\n"
        "print(digest.hexdigest())\n"
    )
    digests = {
        subprocess.run([sys.executable, "-c", script, mode], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, check=True).stdout
        for mode in ("few", "more")
    }
    assert len(digests) == 1

"""A mistake is charged once: functions that build on a broken one are graded with a correct one."""

from __future__ import annotations

from tests.conftest import SOLUTIONS

WRONG_SOFTMAX = """

def softmax(x, dim=-1):
    return x.exp()  # not normalised
"""


def _by_name(report):
    return {e.name: e for e in report.exercises}


def test_broken_softmax_costs_only_softmax_and_is_pointed_out(grader, submission_factory):
    source = (SOLUTIONS / "attention.py").read_text() + WRONG_SOFTMAX
    exercises = _by_name(grader.grade(submission_factory({"attention": source})))
    assert exercises["attention.softmax"].score < exercises["attention.softmax"].max_score
    for name in ("attention.scaled_dot_product_attention", "multihead.multi_head_attention"):
        exercise = exercises[name]
        assert exercise.score == exercise.max_score, [c.message for c in exercise.checks if not c.passed]
    notes = [c for c in exercises["attention.scaled_dot_product_attention"].checks if c.informational]
    assert notes and not notes[0].passed
    assert "attention.softmax" in notes[0].message and "first" in notes[0].message


def test_missing_prerequisite_module_is_stood_in_for(grader, submission_factory):
    exercises = _by_name(grader.grade(submission_factory(drop=("attention",))))
    assert exercises["attention.softmax"].status == "missing"
    for name in ("multihead.split_heads", "multihead.merge_heads", "multihead.multi_head_attention"):
        assert exercises[name].score == exercises[name].max_score, name


def test_prerequisite_that_fails_to_import_is_stood_in_for(grader, submission_factory):
    source = (SOLUTIONS / "attention.py").read_text().replace(
        "from __future__ import annotations\n", "from __future__ import annotations\nraise ImportError('half-finished')\n", 1
    )
    exercises = _by_name(grader.grade(submission_factory({"attention": source})))
    assert exercises["attention.softmax"].status == "import error"
    assert "half-finished" in exercises["attention.softmax"].note
    assert exercises["multihead.multi_head_attention"].score == exercises["multihead.multi_head_attention"].max_score


def test_all_import_styles_see_the_submissions_own_module(grader, submission_factory):
    styles = {
        "relative": "from .attention import scaled_dot_product_attention as _sdpa",
        "absolute": "from exercises.attention import scaled_dot_product_attention as _sdpa",
        "bare": "from attention import scaled_dot_product_attention as _sdpa",
    }
    for style, line in styles.items():
        source = (SOLUTIONS / "multihead.py").read_text() + f"\n{line}\n"
        exercises = _by_name(grader.grade(submission_factory({"multihead": source})))
        mha = exercises["multihead.multi_head_attention"]
        assert mha.score == mha.max_score, (style, [c.message for c in mha.checks if not c.passed])


def test_a_correct_package_needs_one_worker_and_a_failing_import_gets_the_probe(course, submission_factory):
    """A package whose modules all import together is graded in that one worker (every
    check passes there); when one fails to import, that worker is dropped, each module's
    own worker says what it defines, and the probe settles whose fault it is, once."""
    from grader.engine.runner import Grader

    with Grader(course, processes=1) as grader:
        started: list[tuple[str | None, bool]] = []
        start_worker = grader.workers.start_worker

        def counted(module, substitute, import_all=False):
            started.append((module, import_all))
            return start_worker(module, substitute, import_all=import_all)

        grader.workers.start_worker = counted
        assert grader.grade(SOLUTIONS).score == course.max_score
        assert started == [(None, True)]  # every module in one worker, none of their own

        started.clear()
        broken = (SOLUTIONS / "attention.py").read_text() + "\nraise ImportError('half-finished')\n"
        exercises = _by_name(grader.grade(submission_factory({"attention": broken})))
        assert [m for m, everything in started if everything] == [None, None]  # tried together; the probe, once
        assert sorted(m for m, everything in started if not everything) == sorted(course.modules)  # each alone
        assert exercises["attention.softmax"].status == "import error"
        assert exercises["multihead.multi_head_attention"].score == exercises["multihead.multi_head_attention"].max_score


# A softmax that passes every softmax check but misbehaves when attention calls it: the
# stand-in for a prerequisite whose flaw only its caller's inputs reveal.
SOFTMAX_WRONG_ONLY_FOR_ATTENTION = """

import sys as _sys

_correct_softmax = softmax


def softmax(x, dim=-1):
    if _sys._getframe(1).f_code.co_name == "scaled_dot_product_attention":
        return _correct_softmax(x, dim=dim) * 2
    return _correct_softmax(x, dim=dim)
"""

WRONG_SCALE = """

def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]  # divided by d, not sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)
    return weights @ v, weights
"""


def test_passing_prerequisites_are_the_students_own_and_need_no_reference(course, submission_factory):
    """A correct submission runs entirely in its workers: no prerequisite calls back for
    the reference. Take the change away and this fails."""
    from grader.engine.runner import Grader
    from grader.sandbox import client

    served: list[str] = []
    run_reference = client.WorkerClient._run_reference

    def counted(self, *args, **kwargs):
        served.append(str(args[:1]))
        return run_reference(self, *args, **kwargs)

    with Grader(course, processes=1) as grader:
        client.WorkerClient._run_reference = counted
        try:
            assert grader.grade(SOLUTIONS).score == course.max_score
            assert served == []
            source = (SOLUTIONS / "attention.py").read_text() + WRONG_SOFTMAX
            exercises = _by_name(grader.grade(submission_factory({"attention": source})))
        finally:
            client.WorkerClient._run_reference = run_reference
    assert served  # a failing softmax is replaced by the reference where attention calls it
    sdpa = exercises["attention.scaled_dot_product_attention"]
    assert sdpa.score == sdpa.max_score


def test_a_check_failing_with_a_passing_prerequisite_is_retried_with_the_reference(grader, submission_factory):
    """Charged once: the softmax passes its own checks, so attention tries it first; its
    failures there are run again with a correct softmax, which passes, and the student
    is told where to look."""
    source = (SOLUTIONS / "attention.py").read_text() + SOFTMAX_WRONG_ONLY_FOR_ATTENTION
    exercises = _by_name(grader.grade(submission_factory({"attention": source})))
    softmax, sdpa = exercises["attention.softmax"], exercises["attention.scaled_dot_product_attention"]
    assert softmax.score == softmax.max_score
    assert sdpa.score == sdpa.max_score, [c.message for c in sdpa.checks if not c.passed]
    notes = [c for c in sdpa.checks if c.informational]
    assert len(notes) == 1 and "with your own attention.softmax" in notes[0].name
    assert "pass their own checks" in notes[0].message and notes[0].input


def test_a_mistake_with_passing_prerequisites_is_reported_as_hypothesis_shrinks_it(course, submission_factory):
    """The retry with the reference is the full check: the same failures, messages and
    shrunk inputs as when prerequisites are always replaced."""
    from grader.engine.runner import Grader

    path = submission_factory({"attention": (SOLUTIONS / "attention.py").read_text() + WRONG_SCALE})
    reports = []
    for own_prerequisites in (True, False):
        with Grader(course, processes=1, own_prerequisites=own_prerequisites) as grader:
            sdpa = _by_name(grader.grade(path))["attention.scaled_dot_product_attention"]
        assert sdpa.score < sdpa.max_score
        reports.append([(c.name, c.passed, c.message, c.input) for c in sdpa.checks])
    assert reports[0] == reports[1]


def test_exercises_are_graded_after_their_prerequisites_and_split_with_them(course):
    from grader.engine.ordering import prerequisites_first, split_by_cost

    ordered = [e.name for e in prerequisites_first(list(course.exercises))]
    for exercise in course.exercises:
        for used in exercise.uses:
            assert ordered.index(used) < ordered.index(exercise.name), (used, exercise.name)
    assert ordered.index("decoding.beam_search") < ordered.index("decoding.greedy_decode")
    mine, theirs = split_by_cost(list(course.exercises))
    assert sorted(e.name for e in mine + theirs) == sorted(e.name for e in course.exercises)
    for group, other in ((mine, theirs), (theirs, mine)):
        names = {e.name for e in other}
        assert not [(e.name, u) for e in group for u in e.uses if u in names]
    examples = [sum(c.examples for e in g for c in e.checks) for g in (mine, theirs)]
    assert max(examples) < 0.6 * sum(examples)


def test_one_and_two_grading_processes_agree_on_a_prerequisite_that_misleads(course, submission_factory):
    from grader.engine.runner import Grader

    source = (SOLUTIONS / "attention.py").read_text() + SOFTMAX_WRONG_ONLY_FOR_ATTENTION
    path = submission_factory({"attention": source})
    reports = []
    for processes in (1, 2):
        with Grader(course, processes=processes) as grader:
            reports.append([(e.name, e.score, [c.name for c in e.checks]) for e in grader.grade(path).exercises])
    assert reports[0] == reports[1]

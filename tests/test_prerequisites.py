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


def test_modules_that_import_alone_need_no_probe_and_a_failing_one_gets_it(course, submission_factory):
    """Each module's own worker says what it defines; the all-modules probe runs only when
    an import fails, and then settles whose fault it is."""
    from grader.runner import Grader

    with Grader(course, processes=1) as grader:
        started: list[tuple[str | None, bool]] = []
        start_worker = grader.start_worker

        def counted(module, substitute, import_all=False):
            started.append((module, import_all))
            return start_worker(module, substitute, import_all=import_all)

        grader.start_worker = counted
        assert grader.grade(SOLUTIONS).score == course.max_score
        assert sorted(m for m, _ in started) == sorted(course.modules)  # one worker per module, no probe

        started.clear()
        broken = (SOLUTIONS / "attention.py").read_text() + "\nraise ImportError('half-finished')\n"
        exercises = _by_name(grader.grade(submission_factory({"attention": broken})))
        assert [m for m, everything in started if everything] == [None]  # the probe, once
        assert exercises["attention.softmax"].status == "import error"
        assert exercises["multihead.multi_head_attention"].score == exercises["multihead.multi_head_attention"].max_score

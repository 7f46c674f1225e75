"""``grader selftest``: declared edges, the catalogue of known mistakes, the command line."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import strategies as st

from grader.engine.course import Exercise
from grader.engine.mistakes import MistakeError, Mutant, load_mistakes
from grader.commands.selftest import check_edges, run_selftest
from tests.conftest import EXERCISES, ROOT, SOLUTIONS


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


# ------------------------------------------------------------------------------ edges


def toy_exercise() -> Exercise:
    """An exercise built directly (not declared), so the course never sees it."""
    return Exercise("toy.double", reference=lambda x: 2 * x)


def test_edges_are_stored_on_the_check():
    toy = toy_exercise()
    edges = {"x = 2": lambda x: x == 2}

    @toy.check("doubles", x=st.integers(2, 5), edges=edges)
    def doubles(student, x):
        pass

    assert toy.checks[0].edges == edges
    assert "edges" not in toy.checks[0].strategies


def test_an_edge_the_strategy_cannot_reach_is_reported():
    toy = toy_exercise()

    @toy.check("doubles", examples=10, x=st.integers(2, 5), y=st.sampled_from(["a", "b"]),
               edges={"x = 1": lambda x: x == 1, "x = 2": lambda x: x == 2, "y is 'b'": lambda y: y == "b",
                      "both": lambda **values: values["x"] == 5 and values["y"] == "a"})
    def doubles(student, x, y):
        pass

    @toy.check("no edges", x=st.integers(0, 1))
    def plain(student, x):
        pass

    verdicts = {v.edge: v for v in check_edges([toy])}
    assert set(verdicts) == {"x = 1", "x = 2", "y is 'b'", "both"}
    unreached = verdicts["x = 1"]
    assert not unreached.ok and unreached.reached == 0 and unreached.examples > 0
    assert str(unreached) == f"toy.double / doubles: x = 1: never reached in {unreached.examples} examples"
    assert all(verdicts[name].ok and verdicts[name].reached > 0 for name in ("x = 2", "y is 'b'", "both"))


def test_a_predicate_that_raises_is_reported():
    toy = toy_exercise()

    @toy.check("doubles", x=st.integers(2, 5), edges={"broken": lambda x: x.shape[0] == 1})
    def doubles(student, x):
        pass

    (verdict,) = check_edges([toy])
    assert not verdict.ok and "AttributeError" in verdict.error and "example 1" in str(verdict)


@pytest.mark.parametrize(
    "strategies,edges,words",
    [
        ({"x": st.integers()}, {"bad": lambda z: z == 1}, "takes z, but the check draws only x"),
        ({}, {"bad": lambda: True}, "draws nothing"),
        ({"x": st.integers()}, {"bad": True}, "not a predicate"),
    ],
)
def test_edge_declarations_are_checked_when_declared(strategies, edges, words):
    with pytest.raises(ValueError, match=words):
        toy_exercise().check("doubles", edges=edges, **strategies)


# ------------------------------------------------------------------------------ the catalogue


def write_catalogue(folder: Path) -> Path:
    """Two mutants of masks.causal_mask: a real bug, and the reference itself (no bug at all)."""
    from solutions import masks

    folder.mkdir()
    reference = textwrap.dedent(inspect.getsource(masks.causal_mask))
    (folder / "masks.py").write_text(
        "from grader.author import Mutant\n\n"
        "MUTANTS = [\n"
        "    Mutant('masks.causal_mask', 'diagonal excluded', '''\n"
        "        def causal_mask(q_len, k_len=None, device=None):\n"
        "            k_len = q_len if k_len is None else k_len\n"
        "            return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len - 1)\n"
        "        '''),\n"
        f"    Mutant('masks.causal_mask', 'not a bug', {reference!r}),\n"
        "]\n"
    )
    return folder


def test_load_mistakes_imports_by_path_and_accepts_mutant_like_objects(tmp_path):
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "class Wrong:\n"
        "    def __init__(self, exercise, name, source):\n"
        "        self.exercise, self.name, self.source = exercise, name, source\n"
        "    def apply(self, reference_source):\n"
        "        return reference_source + self.source\n"
    )
    (folder / "masks.py").write_text("from . import Wrong\nMUTANTS = [Wrong('masks.causal_mask', 'x', 'pass')]\n")
    (folder / "notes.py").write_text("TEXT = 'no MUTANTS here'\n")
    (mutant,) = load_mistakes(folder)
    assert (mutant.exercise, mutant.name, mutant.apply("a")) == ("masks.causal_mask", "x", "apass")

    (folder / "broken.py").write_text("MUTANTS = [42]\n")
    with pytest.raises(MistakeError, match=r"broken.py: MUTANTS\[0\] is a int, not a mutant"):
        load_mistakes(folder)
    with pytest.raises(MistakeError, match="no such folder"):
        load_mistakes(tmp_path / "missing")


def test_selftest_reports_a_mistake_that_is_not_a_bug_and_an_unreached_edge(grader, course, tmp_path, monkeypatch):
    mutants = load_mistakes(write_catalogue(tmp_path / "catalogue"))
    assert [type(m) for m in mutants] == [Mutant, Mutant]
    check = course["masks.causal_mask"].checks[0]
    monkeypatch.setitem(check.edges, "q_len above 100", lambda q_len: q_len > 100)
    lines: list[str] = []
    result = run_selftest(course, grader, SOLUTIONS, EXERCISES, mutants, course.select(("masks",)), echo=lines.append)
    output = "\n".join(lines)

    assert not result.ok
    assert not result.reference and not result.stubs
    caught, not_a_bug = result.mistakes
    assert caught.ok and caught.caught_by and not caught.collateral
    assert not not_a_bug.caught and not not_a_bug.collateral and not_a_bug.score == not_a_bug.max_score
    assert "masks.causal_mask: not a bug: NOT caught (masks.causal_mask kept 4 / 4)" in output
    official, handout = [e for e in result.edges if not e.ok]  # in both draws
    assert official.edge == handout.edge == "q_len above 100"
    assert (official.draw, handout.draw) == ("", "hand-out")
    assert f"{check.name}: q_len above 100: never reached in" in output
    assert f"{check.name}: q_len above 100 [hand-out]: never reached in" in output
    assert len(result.problems) == 3 and "Self-test FAILED: 3 problems" in output
    assert "no known mistake for masks.padding_mask" in output


def test_selftest_names_the_failing_reference_check_and_the_stub_that_scores(grader, course, submission_factory):
    """A wrong 'reference' (the diagonal left out) and 'stubs' that are implemented."""
    (mutant,) = [m for m in load_mistakes(ROOT / "grader" / "concepts") if m.name == "diagonal excluded"]
    wrong = submission_factory({"masks": mutant.apply((SOLUTIONS / "masks.py").read_text())})
    lines: list[str] = []
    result = run_selftest(course, grader, wrong, SOLUTIONS, [], course.select(("masks.causal_mask",)),
                          echo=lines.append)
    assert result.reference and all(line.startswith("masks.causal_mask: ") for line in result.reference)
    assert any("is a bool [q_len, q_len] lower triangle, diagonal included (0 / 1): the mask" in line
               for line in result.reference)
    assert result.stubs == ["masks.causal_mask: scored 4 / 4 (passed: " + "; ".join(
        c.name for c in course["masks.causal_mask"].checks) + "; leaves its inputs unchanged)",
        "masks.causal_mask: status 'graded', expected 'not implemented'"]
    assert result.catalogue == ["the catalogue holds no mutants (no module defines MUTANTS)"]
    assert not result.ok


# ------------------------------------------------------------------------------ the command


def test_selftest_command_exits_1_when_a_mistake_is_not_caught(tmp_path):
    folder = write_catalogue(tmp_path / "catalogue")
    result = run("selftest", "--mistakes", str(folder), "-e", "masks.causal_mask")
    assert result.returncode == 1, result.stderr
    assert "[1/2] masks.causal_mask: diagonal excluded  (caught by" in result.stdout
    assert "[2/2] masks.causal_mask: not a bug: NOT caught" in result.stdout
    assert "Self-test FAILED: 1 problem" in result.stdout


def test_selftest_command_passes_on_the_masks_of_the_real_course():
    result = run("selftest", "-e", "masks")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    for words in ("1. The reference", "2. The stubs", "3. Every known mistake", "4. The drawn inputs",
                  "q_len > k_len", "Self-test passed"):
        assert words in result.stdout


@pytest.mark.parametrize(
    "args,words",
    [
        (("selftest", "--mistakes", "no/such/folder"), "no such folder"),
        (("selftest", "-e", "nonexistent_exercise"), "unknown exercise"),
    ],
)
def test_selftest_errors_are_one_line(args, words):
    result = run(*args)
    assert result.returncode == 2  # 1 is kept for "the course has a problem"
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0]

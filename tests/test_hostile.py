"""Hostile and broken submissions are contained: each costs only what it breaks."""

from __future__ import annotations

import os
import subprocess

import pytest

from grader.sandbox.client import Limits
from tests.conftest import SOLUTIONS

LIMITS = Limits(call_seconds=3.0, load_seconds=6.0)
# A module of the course with no prerequisites among other modules, used as the victim.
VICTIM = "masks"


@pytest.fixture(scope="module")
def strict_grader(course, device):
    from grader.engine.runner import Grader

    with Grader(course, device=device, limits=LIMITS) as instance:
        yield instance


def _with(module: str, extra: str) -> dict[str, str]:
    return {module: (SOLUTIONS / f"{module}.py").read_text() + "\n\n" + extra}


def _grade(strict_grader, submission_factory, replacements):
    report = strict_grader.grade(submission_factory(replacements))
    return report, {e.name: e for e in report.exercises}


def _assert_only(exercises, broken_prefix: str) -> None:
    for name, exercise in exercises.items():
        if name.startswith(broken_prefix):
            assert exercise.score < exercise.max_score, name
        else:
            assert exercise.score == exercise.max_score, (name, [c.message for c in exercise.checks if not c.passed])


HANG = """
def causal_mask(q_len, k_len=None, device=None):
    while True:
        pass
"""

SEGFAULT = """
def causal_mask(q_len, k_len=None, device=None):
    import ctypes
    ctypes.string_at(0)
"""

HARD_EXIT = """
def causal_mask(q_len, k_len=None, device=None):
    os._exit(0)
"""

SYS_EXIT = """
def causal_mask(q_len, k_len=None, device=None):
    raise SystemExit(0)
"""


def test_infinite_loop_times_out_and_only_costs_its_exercise(strict_grader, submission_factory):
    report, exercises = _grade(strict_grader, submission_factory, _with(VICTIM, HANG))
    victim = exercises["masks.causal_mask"]
    assert victim.score == 0 and victim.status == "timed out"
    assert "timed out" in victim.checks[0].message
    assert any(c.message.startswith("not run: an earlier check timed out") for c in victim.checks[1:])
    _assert_only(exercises, "masks.causal_mask")


@pytest.mark.parametrize("source,words", [(SEGFAULT, "segmentation fault"), (HARD_EXIT, "exited with status 0")])
def test_crash_is_reported_and_contained(strict_grader, submission_factory, source, words):
    replacements = _with(VICTIM, "import os\n" + source)
    report, exercises = _grade(strict_grader, submission_factory, replacements)
    victim = exercises["masks.causal_mask"]
    assert victim.score == 0
    assert words in victim.checks[0].message
    assert len(victim.checks[0].message.splitlines()) == 1
    _assert_only(exercises, "masks.causal_mask")


def test_sys_exit_in_a_function_is_just_an_exception(strict_grader, submission_factory):
    report, exercises = _grade(strict_grader, submission_factory, _with(VICTIM, SYS_EXIT))
    assert "SystemExit" in exercises["masks.causal_mask"].checks[0].message
    _assert_only(exercises, "masks.causal_mask")


@pytest.mark.parametrize(
    "prefix,words",
    [
        ("import time\ntime.sleep(1000)\n", "timed out"),
        ("import sys\nsys.exit(3)\n", "SystemExit"),
        ("import os\nos._exit(4)\n", "exited with status 4"),
        ("def broken(:\n", "SyntaxError"),
    ],
    ids=["sleep", "sys.exit", "os._exit", "syntax error"],
)
def test_a_module_that_cannot_be_imported_scores_zero_alone(strict_grader, submission_factory, prefix, words):
    source = (SOLUTIONS / f"{VICTIM}.py").read_text().replace(
        "from __future__ import annotations\n", "from __future__ import annotations\n" + prefix, 1
    )
    report, exercises = _grade(strict_grader, submission_factory, {VICTIM: source})
    for name, exercise in exercises.items():
        if name.startswith(VICTIM + "."):
            assert exercise.score == 0 and exercise.status == "import error", name
            assert words in exercise.note, exercise.note
        else:
            assert exercise.score == exercise.max_score, name


TAMPERER = """
import builtins, torch, torch.testing

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
builtins.AssertionError = Exception
print("SCORE: 100/100 -- all checks passed")

def causal_mask(q_len, k_len=None, device=None):
    k_len = q_len if k_len is None else k_len
    return torch.zeros(q_len, k_len, dtype=torch.bool, device=device)
"""


def test_tampering_in_the_worker_changes_nothing(strict_grader, submission_factory):
    report, exercises = _grade(strict_grader, submission_factory, _with(VICTIM, TAMPERER))
    assert exercises["masks.causal_mask"].score < exercises["masks.causal_mask"].max_score
    _assert_only(exercises, "masks.causal_mask")
    assert "SCORE: 100/100" in report.output  # shown as what the code printed, nothing more


SNOOPER = """
def causal_mask(q_len, k_len=None, device=None):
    import importlib, pathlib
    found = []
    try:
        importlib.import_module("solutions.masks")
        found.append("import")
    except ImportError:
        pass
    concept = pathlib.Path(GRADER_DIR) / "concepts" / "masks"
    for path in [pathlib.Path(SOLUTIONS_DIR) / "masks.py", concept / "checks.py", concept / "mistakes.py"]:
        try:
            path.read_text()
            found.append(str(path))
        except OSError:
            pass
    if found:
        raise RuntimeError("LEAKED " + ", ".join(found))
    k_len = q_len if k_len is None else k_len
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)
"""


def test_worker_cannot_import_or_read_the_reference(strict_grader, submission_factory):
    import grader as grader_package

    source = SNOOPER.replace("SOLUTIONS_DIR", repr(str(SOLUTIONS))).replace(
        "GRADER_DIR", repr(os.path.dirname(grader_package.__file__))
    )
    report, exercises = _grade(strict_grader, submission_factory, _with(VICTIM, source))
    messages = [c.message for c in exercises["masks.causal_mask"].checks]
    assert not any("LEAKED" in m for m in messages), messages
    landlock = str(report.facts["sandbox"].get("landlock", ""))
    if not landlock.startswith("abi"):
        pytest.skip(f"Landlock unavailable here ({landlock}); only the import was blocked")
    _assert_only(exercises, "no exercise")


FLOOD = """
def causal_mask(q_len, k_len=None, device=None):
    import sys
    sys.stdout.write("x" * 100_000_000)
    k_len = q_len if k_len is None else k_len
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)
"""


def test_output_flood_is_capped(strict_grader, submission_factory):
    report, exercises = _grade(strict_grader, submission_factory, _with(VICTIM, FLOOD))
    _assert_only(exercises, "no exercise")
    assert len(report.output) <= LIMITS.output_bytes


HOG = """
def causal_mask(q_len, k_len=None, device=None):
    block = torch.ones(6 * 1024**3, dtype=torch.uint8)
    return block
"""


def test_a_huge_allocation_fails_only_its_exercise(strict_grader, submission_factory, device):
    if device != "cpu":
        pytest.skip("the address-space limit applies on the CPU")
    report, exercises = _grade(strict_grader, submission_factory, _with(VICTIM, HOG))
    assert exercises["masks.causal_mask"].score == 0
    _assert_only(exercises, "masks.causal_mask")


CHILD = """
def causal_mask(q_len, k_len=None, device=None):
    import subprocess
    subprocess.Popen(["sleep", "4242"])
    while True:
        pass
"""


ESCAPEE = """
def causal_mask(q_len, k_len=None, device=None):
    import subprocess
    subprocess.Popen(["sleep", "4343"], start_new_session=True)  # leaves the worker's process group
    k_len = q_len if k_len is None else k_len
    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)
"""


def test_child_processes_die_with_the_worker(strict_grader, submission_factory):
    _grade(strict_grader, submission_factory, _with(VICTIM, CHILD))
    survivors = subprocess.run(["pgrep", "-f", "sleep 4242"], capture_output=True, text=True).stdout.split()
    assert survivors == []


def test_processes_that_leave_the_process_group_are_killed_too(strict_grader, submission_factory):
    report, exercises = _grade(strict_grader, submission_factory, _with(VICTIM, ESCAPEE))
    _assert_only(exercises, "no exercise")
    survivors = subprocess.run(["pgrep", "-f", "sleep 4343"], capture_output=True, text=True).stdout.split()
    assert survivors == []


def test_a_submissions_workers_are_reaped_together_and_none_survives(course, submission_factory):
    """One request to the zygote reaps every worker of a submission (one look for orphans,
    not one per worker), and what one of them left behind is still killed."""
    from grader.engine.runner import Grader

    wrong_softmax = "\n\ndef softmax(x, dim=-1):\n    return x.exp()\n"  # rerun in attention's own worker
    replacements = {**_with(VICTIM, ESCAPEE), "attention": (SOLUTIONS / "attention.py").read_text() + wrong_softmax}
    with Grader(course, processes=1, limits=LIMITS) as grader:
        requests: list[list[int]] = []
        started: list[int] = []
        reap_all, start_worker = grader.zygote.reap_all, grader.workers.start_worker

        def counted(pids):
            requests.append(list(pids))
            return reap_all(pids)

        def recorded(*args, **kwargs):
            worker = start_worker(*args, **kwargs)
            started.append(worker.pid)
            return worker

        grader.zygote.reap_all, grader.workers.start_worker = counted, recorded
        exercises = {e.name: e for e in grader.grade(submission_factory(replacements)).exercises}
        assert len(started) >= 2 and [sorted(r) for r in requests] == [sorted(started)], (requests, started)
        assert all(not os.path.exists(f"/proc/{pid}") for pid in started)  # not even a zombie
    assert exercises["masks.causal_mask"].score == exercises["masks.causal_mask"].max_score
    survivors = subprocess.run(["pgrep", "-f", "sleep 4343"], capture_output=True, text=True).stdout.split()
    assert survivors == []

"""A submission earns only what its own code does.

Each class of attack a student might try is played here: symbolic links out of the
submission (absolute, relative, a linked folder, inside a zip, to a classmate's work),
reading another submission or the batch's output while being graded, snooping on
/proc for the grader's folders, and answering from a lookup table built from a real
hand-out. Where the attack succeeds, the attacker's functions return correct answers,
so a test fails as soon as the attack works.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.commands.batch import run_batch
from grader.engine.runner import Grader
from grader.sandbox.client import Limits
from tests.conftest import EXERCISES, ROOT, SOLUTIONS

LIMITS = Limits(call_seconds=5.0, load_seconds=10.0)
ATTENTION = [("attention.softmax", "attention"), ("attention.scaled_dot_product_attention", "attention")]


@pytest.fixture(scope="module")
def strict_grader(course):
    with Grader(course, limits=LIMITS) as instance:
        yield instance


def _without(module: str, target: Path) -> Path:
    """A copy of the reference without ``module``.py (the attacker supplies that one)."""
    shutil.copytree(SOLUTIONS, target, ignore=shutil.ignore_patterns("__pycache__", f"{module}.py"))
    return target


def _score(report, module: str) -> float:
    return sum(e.score for e in report.exercises if e.name.startswith(module + "."))


def _max(course, module: str) -> float:
    return sum(e.max_score for e in course.exercises if e.module == module)


# A module that takes attention from wherever it can read it, else raises.
THIEF = '''
import os, glob, torch

def _steal():
    for path in {paths!r}:
        for found in sorted(glob.glob(path)):
            try:
                with open(found) as handle:
                    source = handle.read()
            except OSError:
                continue
            if "def scaled_dot_product_attention" in source and "NotImplementedError" not in source.split("def softmax")[1][:2000]:
                namespace = {{}}
                exec(compile(source, found, "exec"), namespace)
                return namespace
    return None

_STOLEN = _steal()

def softmax(x, dim=-1):
    if _STOLEN is None:
        raise NotImplementedError("attention.softmax is not implemented yet")
    return _STOLEN["softmax"](x, dim)

def scaled_dot_product_attention(q, k, v, mask=None):
    if _STOLEN is None:
        raise NotImplementedError("attention.scaled_dot_product_attention is not implemented yet")
    return _STOLEN["scaled_dot_product_attention"](q, k, v, mask)
'''

# Finds the batch's folders on the grading processes' command lines, then steals from them.
PROC_SNOOP = '''
import glob

def _folders():
    found = []
    for cmdline in glob.glob("/proc/*/cmdline"):
        try:
            words = open(cmdline, "rb").read().split(b"\\0")
        except OSError:
            continue
        found += [w.decode() for w in words if w.startswith(b"/") and b"room" in w]
    return found

_PATHS = [f + "/*/attention.py" for f in _folders()] + [f + "/attention.py" for f in _folders()]
'''


# ------------------------------------------------------------------ links


def test_an_absolute_link_to_the_reference_is_refused(strict_grader, course, tmp_path):
    folder = _without("attention", tmp_path / "alice")
    (folder / "leak.py").symlink_to(SOLUTIONS / "attention.py")
    (folder / "attention.py").write_text("from .leak import softmax, scaled_dot_product_attention\n")
    report = strict_grader.grade(folder)
    assert _score(report, "attention") == 0
    assert any("leak.py is a symbolic link" in note and "not followed" in note for note in report.notes)
    assert _score(report, "masks") == _max(course, "masks")  # the rest is graded as usual


def test_a_relative_link_is_refused(strict_grader, course, tmp_path):
    folder = _without("attention", tmp_path / "bob")
    (folder / "attention.py").symlink_to(os.path.relpath(SOLUTIONS / "attention.py", folder))
    report = strict_grader.grade(folder)
    assert _score(report, "attention") == 0
    assert any("attention.py is a symbolic link" in note for note in report.notes)


def test_a_linked_folder_is_not_followed(strict_grader, tmp_path):
    folder = tmp_path / "carol"
    folder.mkdir()
    (folder / "exercises").symlink_to(SOLUTIONS, target_is_directory=True)
    report = strict_grader.grade(folder)
    assert report.score == 0


def test_a_link_in_a_zip_is_refused(strict_grader, tmp_path):
    archive_path = tmp_path / "dave.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for file in SOLUTIONS.glob("*.py"):
            if file.name != "attention.py":
                archive.write(file, f"exercises/{file.name}")
        link = zipfile.ZipInfo("exercises/attention.py")
        link.create_system, link.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, str(SOLUTIONS / "attention.py"))
    report = strict_grader.grade(archive_path)
    assert _score(report, "attention") == 0
    assert any("attention.py is a symbolic link" in note for note in report.notes)


def test_a_link_to_a_classmates_work_is_refused_in_a_batch(course, tmp_path):
    room, out = tmp_path / "room", tmp_path / "out"
    shutil.copytree(SOLUTIONS, room / "bob", ignore=shutil.ignore_patterns("__pycache__"))
    folder = _without("attention", room / "eve")
    (folder / "attention.py").symlink_to("../bob/attention.py")
    run_batch(course, room, out, workers=1, limits=LIMITS)
    eve = json.loads((out / "eve.json").read_text())
    assert sum(e["score"] for e in eve["exercises"] if e["name"].startswith("attention.")) == 0
    assert any("symbolic link" in note for note in eve["notes"])


# ------------------------------------------------------------------ what a worker can read


def test_a_worker_cannot_read_a_classmates_folder(strict_grader, course, tmp_path):
    """Even knowing exactly where a classmate's work lies (next to the submission)."""
    shutil.copytree(SOLUTIONS, tmp_path / "classmate", ignore=shutil.ignore_patterns("__pycache__"))
    folder = _without("attention", tmp_path / "mallory")
    (folder / "attention.py").write_text(THIEF.format(paths=[str(tmp_path / "classmate" / "attention.py")]))
    report = strict_grader.grade(folder)
    assert _score(report, "attention") == 0


def test_a_worker_cannot_read_the_reference_or_the_grader(strict_grader, tmp_path):
    import grader

    folder = _without("attention", tmp_path / "oscar")
    concepts = Path(grader.__file__).parent / "concepts"
    paths = [str(SOLUTIONS / "attention.py"), str(concepts / "*" / "checks.py"), str(concepts / "*" / "mistakes.py")]
    assert (concepts / "attention" / "mistakes.py").is_file()  # what the thief would find, were it readable
    (folder / "attention.py").write_text(THIEF.format(paths=paths))
    assert _score(strict_grader.grade(folder), "attention") == 0


def test_a_worker_cannot_snoop_on_the_batch_or_read_its_output(course, tmp_path):
    """A batch (run as an instructor would) of a victim and two thieves: one reads /proc for
    the batch's folder and steals from it, one prints the reports already written to the
    output folder and the examples the grader keeps. Neither gets anything."""
    room, out, cache = tmp_path / "room", tmp_path / "out", tmp_path / "cache"
    shutil.copytree(SOLUTIONS, room / "a-victim", ignore=shutil.ignore_patterns("__pycache__"))
    snoop = _without("attention", room / "x-snoop")
    (snoop / "attention.py").write_text(PROC_SNOOP + THIEF.format(paths=[]).replace("for path in []:", "for path in _PATHS:"))
    reader = _without("masks", room / "y-reader")
    targets = [str(out / "a-victim.json"), str(out / "gradebook.csv"), str(cache / "transformer-grader")]
    (reader / "masks.py").write_text((SOLUTIONS / "masks.py").read_text() + (
        "\nimport os as _os\n"
        f"for _path in {targets!r}:\n"
        "    try:\n"
        "        print('READ', _path, open(_path).read()[:60] if _os.path.isfile(_path) else _os.listdir(_path))\n"
        "    except OSError as _error:\n"
        "        print('DENIED', _path, _error.errno)\n"
    ))
    command = [sys.executable, "-m", "grader", "batch", str(room), "-o", str(out), "--workers", "1"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "XDG_CACHE_HOME": str(cache)})
    assert done.returncode == 0, done.stderr[-2000:]
    snooped = json.loads((out / "x-snoop.json").read_text())
    assert sum(e["score"] for e in snooped["exercises"] if e["name"].startswith("attention.")) == 0
    read = json.loads((out / "y-reader.json").read_text())["output"]
    assert "READ" not in read and read.count("DENIED") == 3, read
    victim = json.loads((out / "a-victim.json").read_text())
    assert victim["score"] == victim["max_score"]


def test_a_worker_sees_only_its_own_proc_entry_and_no_secrets(strict_grader, tmp_path, monkeypatch):
    """What a printing module learns: no other process, no environment of the instructor's."""
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "s3cret-token")
    folder = _without("masks", tmp_path / "peeker")
    probe = (SOLUTIONS / "masks.py").read_text() + (
        "\nimport os as _os\n"
        "_seen = []\n"
        "try:\n"
        "    _entries = _os.listdir('/proc')\n"
        "except OSError:\n"
        "    _entries = [str(_os.getppid()), '1']\n"
        "for _entry in _entries:\n"
        "    if _entry.isdigit() and int(_entry) != _os.getpid():\n"
        "        try:\n"
        "            _seen.append(open(f'/proc/{_entry}/cmdline', 'rb').read()[:80])\n"
        "        except OSError:\n"
        "            pass\n"
        "print('PROC', len(_seen), _seen[:3])\n"
        "print('ENV', sorted(_os.environ))\n"
        "print('TOKEN', _os.environ.get('INSTRUCTOR_TOKEN'))\n"
    )
    (folder / "masks.py").write_text(probe)
    with Grader(strict_grader.course, limits=LIMITS) as fresh:  # a zygote started with the token set
        report = fresh.grade(folder, strict_grader.course.select(("masks",)))
    assert "PROC 0 []" in report.output
    assert "TOKEN None" in report.output and "s3cret-token" not in report.output


# ------------------------------------------------------------------ the hand-out's answers


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    from grader.commands.release import build_handout

    out = tmp_path_factory.mktemp("handout") / "handout"
    build_handout(out, SOLUTIONS)
    return out


def test_a_lookup_table_from_the_handout_earns_nothing_officially(course, handout, tmp_path):
    from tests import lookup_attack

    submission = tmp_path / "lookup"
    answers = lookup_attack.build(handout, EXERCISES, submission, lookup_attack.key_function())
    assert answers > 100
    with Grader(course, limits=LIMITS) as official:
        report = official.grade(submission)
    assert report.score <= 0.05 * report.max_score, report.score
    # The same table does score in the hand-out's own check (so the attack is real).
    local = subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "--format", "json"],
                           cwd=handout, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(handout)})
    assert local.returncode == 0, local.stderr[-2000:]
    scored = json.loads(local.stdout)
    assert scored["score"] >= 0.3 * scored["max_score"], scored["score"]

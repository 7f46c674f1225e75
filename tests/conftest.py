"""Shared fixtures: one grader (one sandbox zygote) per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"


_CACHE: list[str] = []


def pytest_configure(config):
    """Examples the grader keeps between runs go to a folder of this test session."""
    import os
    import tempfile

    _CACHE.append(tempfile.mkdtemp(prefix="grader-test-cache-"))
    os.environ["XDG_CACHE_HOME"] = _CACHE[-1]


def pytest_unconfigure(config):
    import shutil

    for folder in _CACHE:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", choices=["cpu", "cuda"], help="grade on this device")


@pytest.fixture(scope="session")
def device(request) -> str:
    chosen = request.config.getoption("--device")
    if chosen == "cuda" and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return chosen


@pytest.fixture(scope="session")
def course():
    from grader.engine.course import load_course

    return load_course()


@pytest.fixture(scope="session")
def grader(course, device):
    from grader.engine.runner import Grader

    with Grader(course, device=device, processes=2) as instance:
        yield instance


@pytest.fixture(scope="session")
def reference_report(grader):
    return grader.grade(SOLUTIONS)


def all_mutants() -> list:
    """The course's catalogue of known mistakes (``grader/concepts/<concept>/mistakes.py``)."""
    from grader.engine.mistakes import course_catalogue, load_mistakes

    return load_mistakes(course_catalogue())


def make_submission(tmp_path: Path, replacements: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> Path:
    """A copy of the reference solutions with some modules' sources replaced or removed."""
    index = 1
    while (tmp_path / f"submission{index}").exists():
        index += 1
    folder = tmp_path / f"submission{index}"
    folder.mkdir()
    for file in SOLUTIONS.glob("*.py"):
        if file.stem in drop:
            continue
        text = (replacements or {}).get(file.stem, file.read_text())
        (folder / file.name).write_text(text)
    return folder


@pytest.fixture
def submission_factory(tmp_path):
    return lambda replacements=None, drop=(): make_submission(tmp_path, replacements, drop)


"""The same grading on CUDA: inputs live there and outputs must stay there (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import SOLUTIONS

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")]

CPU_RESULT = """

def causal_mask(q_len, k_len=None, device=None):
    k_len = q_len if k_len is None else k_len
    return torch.ones(q_len, k_len, dtype=torch.bool).tril(k_len - q_len)  # ignores device
"""


@pytest.fixture(scope="module")
def cuda_grader(course):
    from grader.engine.runner import Grader

    with Grader(course, device="cuda") as instance:
        yield instance


def test_reference_gets_full_marks_on_cuda(cuda_grader):
    report = cuda_grader.grade(SOLUTIONS)
    failed = {e.name: [c.message for c in e.checks if not c.passed] for e in report.exercises if e.score < e.max_score}
    assert failed == {}
    assert report.device == "cuda"


def test_results_left_on_the_cpu_are_caught(cuda_grader, submission_factory):
    source = (SOLUTIONS / "masks.py").read_text() + CPU_RESULT
    report = cuda_grader.grade(submission_factory({"masks": source}))
    mask = next(e for e in report.exercises if e.name == "masks.causal_mask")
    assert mask.score < mask.max_score
    assert any("on cpu for inputs on cuda" in c.message for c in mask.checks)

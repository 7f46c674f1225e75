"""The author API: everything a concept's checks and its catalogue of mistakes may import.

A concept (``grader/checks/<concept>.py`` and its mistakes) imports only this module,
``solutions``, torch and hypothesis::

    from grader.author import exercise, expect_close, in_float64, strategies as gs

Random functions are judged by their draws (``student.draws``) with the tests of ``stats``,
whose p-values are bounds that hold at every sample size.

Nothing here knows about transformers; the engine behind it may change shape freely as
long as these names keep their meaning.
"""

from __future__ import annotations

from . import stats, strategies
from .compare import (
    CheckFailed,
    expect_close,
    expect_diagnosed,
    expect_dtype,
    expect_equal,
    expect_gradients,
    expect_raises,
    expect_shape,
    expect_tensor,
    expect_true,
    expect_tuple,
    in_float64,
    tolerance,
)
from .course import call_on_requested_device, exercise, requested_device, run_device
from .mistakes import Mutant
from .sandbox.client import StudentRaised
from .sandbox.protocol import Portable, Unsupported

__all__ = [
    "CheckFailed",
    "Mutant",
    "Portable",
    "StudentRaised",
    "Unsupported",
    "call_on_requested_device",
    "exercise",
    "expect_close",
    "expect_diagnosed",
    "expect_dtype",
    "expect_equal",
    "expect_gradients",
    "expect_raises",
    "expect_shape",
    "expect_tensor",
    "expect_true",
    "expect_tuple",
    "in_float64",
    "requested_device",
    "run_device",
    "stats",
    "strategies",
    "tolerance",
]

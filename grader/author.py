"""The author API: everything a concept's checks and its catalogue of mistakes may import.

A concept (``grader/concepts/<concept>/``: its checks, known mistakes and helpers) imports
only this module, ``solutions``, torch and hypothesis::

    from grader.author import exercise, expect_close, in_float64, strategies as gs

Random functions are judged by their draws (``student.draws``) with the tests of ``stats``,
whose p-values are bounds that hold at every sample size.

Nothing here knows about transformers; the engine behind it may change shape freely as
long as these names keep their meaning.
"""

from __future__ import annotations

from grader.engine import stats, strategies
from grader.engine.compare import (
    CheckFailed,
    expect_close,
    expect_dtype,
    expect_equal,
    expect_raises,
    expect_shape,
    expect_tensor,
    expect_true,
    expect_tuple,
    in_float64,
    tolerance,
)
from grader.engine.course import exercise
from grader.engine.devices import call_on_requested_device, requested_device, run_device
from grader.engine.diagnose import (
    expect_close_or_named,
    expect_diagnosed,
    exact_mistake,
    expect_equal_or_named,
    matches,
    named_mistake,
)
from grader.engine.gradients import expect_gradients
from grader.engine.mistakes import Mutant
from grader.sandbox.client import StudentRaised
from grader.sandbox.protocol import Portable, Unsupported

__all__ = [
    "CheckFailed",
    "Mutant",
    "Portable",
    "StudentRaised",
    "Unsupported",
    "call_on_requested_device",
    "exact_mistake",
    "exercise",
    "expect_close",
    "expect_close_or_named",
    "expect_diagnosed",
    "expect_dtype",
    "expect_equal",
    "expect_equal_or_named",
    "expect_gradients",
    "expect_raises",
    "expect_shape",
    "expect_tensor",
    "expect_true",
    "expect_tuple",
    "in_float64",
    "matches",
    "named_mistake",
    "requested_device",
    "run_device",
    "stats",
    "strategies",
    "tolerance",
]

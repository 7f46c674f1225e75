"""Run a concept's checks in this process on a module's source, for statistics over many draws.

The grader runs a student's function in a sandboxed worker; here :class:`LocalStudent` calls it
directly, with the worker's conventions (a generator rebuilt from its seed for every call, the
global RNG seeded with 0, or with ``global_seed`` once before ``draws``). Fast enough to run the
statistical checks of a correct function on many official draws (hypothesis seeds), which the
sandboxed grader would take minutes for.
"""

from __future__ import annotations

import types
from typing import Any

import torch

from grader.engine.compare import CheckFailed
from grader.engine.course import load_course
from grader.engine.examples import hypothesis_test
from grader.sandbox.client import StudentRaised
from grader.engine.strategies import salted


def _raised(error: Exception) -> StudentRaised:
    bases = [f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__]
    return StudentRaised({"type": type(error).__name__, "message": str(error), "bases": bases})


def _fresh(value: Any) -> Any:
    return torch.Generator().manual_seed(value.initial_seed()) if isinstance(value, torch.Generator) else value


class LocalStudent:
    """A function called in this process as the sandbox would call it."""

    def __init__(self, function, name: str, reference) -> None:
        self.function, self.name, self.reference = function, name, reference

    def _run(self, n: int | None, args: tuple, kwargs: dict, global_seed: int = 0) -> Any:
        args, kwargs = [_fresh(a) for a in args], {k: _fresh(v) for k, v in kwargs.items()}
        torch.manual_seed(global_seed)
        try:
            if n is None:
                return self.function(*args, **kwargs)
            results = [self.function(*args, **kwargs) for _ in range(n)]
        except Exception as error:  # noqa: BLE001 - what the worker reports as the student's
            raise _raised(error) from None
        if isinstance(results[0], (tuple, list)):
            return type(results[0])(torch.stack([r[i] for r in results]) for i in range(len(results[0])))
        return torch.stack(results)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._run(None, args, kwargs)
        except StudentRaised:
            raise
        except Exception as error:  # noqa: BLE001
            raise _raised(error) from None

    def draws(self, n: int, *args: Any, global_seed: int = 0, **kwargs: Any) -> Any:
        return self._run(n, args, kwargs, global_seed)

    def gradients(self, *args: Any, **kwargs: Any):
        leaves = [a.detach().clone().requires_grad_(True) if isinstance(a, torch.Tensor) and a.is_floating_point()
                  else a for a in args]
        out = self.function(*leaves, **kwargs)
        cotangent = torch.randn(out.shape, generator=torch.Generator().manual_seed(1234), dtype=torch.float64).to(out)
        wanted = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor) and leaf.requires_grad]
        grads = torch.autograd.grad([out], wanted, [cotangent], allow_unused=True)
        return out, list(grads), [cotangent]


def load_module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(f"local_{name}")
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - the project's own sources
    return module


def run_checks(concept: str, source: str, functions: list[str] | None = None, secret: int | None = None) -> dict:
    """``{(exercise, check): message}`` for every check of ``concept`` that ``source`` fails, on the
    public draw (``secret`` None) or on another draw: hypothesis seeded with ``secret`` and the drawn
    seeds salted with it, as the official draw is with the course's secret."""
    module = load_module(concept, source)
    failed: dict = {}
    for exercise in load_course().exercises:
        if exercise.module != concept or (functions and exercise.function not in functions):
            continue
        student = LocalStudent(getattr(module, exercise.function), exercise.name, exercise.reference)
        for check in exercise.checks:
            messages: list[str] = []

            def body(values: dict, check=check, messages=messages) -> None:
                try:
                    check.function(student, **values)
                except (CheckFailed, StudentRaised) as error:
                    messages.append(str(error))
                    raise

            try:
                with salted(None if secret is None else f"local draw {secret}".encode()):
                    if check.strategies:
                        hypothesis_test(check, check.examples, body, seed=secret)()
                    else:
                        body({})
            except Exception as error:  # noqa: BLE001 - any failure is the function's
                failed[(exercise.name, check.name)] = messages[-1] if messages else repr(error)
    return failed


def draws_differ(variant, kwargs: dict, seed: int = 0) -> bool:
    """Whether ``variant`` draws other values than the reference from the same generator seed."""
    from tests.conftest import SOLUTIONS

    reference = load_module(variant.module, (SOLUTIONS / f"{variant.module}.py").read_text())
    mine = load_module(variant.module, variant.apply((SOLUTIONS / f"{variant.module}.py").read_text()))
    name = variant.exercise.split(".")[1]
    outputs = [getattr(m, name)(**kwargs, generator=torch.Generator().manual_seed(seed)) for m in (reference, mine)]
    flat = [torch.cat([t.reshape(-1) for t in (o if isinstance(o, tuple) else (o,))]) for o in outputs]
    return not torch.equal(*flat)

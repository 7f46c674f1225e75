"""How a course is written down: exercises, their checks, and the student's function.

A checks module (one per concept, in ``grader/checks/``) declares each exercise with
:func:`exercise` and attaches named checks to it::

    softmax = exercise("attention.softmax", reference=ref.softmax)

    @softmax.check("rows sum to one", points=1, x=gs.tensors(gs.shapes(1, 3)))
    def rows_sum_to_one(student, x):
        expect_close(student(x).sum(-1), torch.ones(x.shape[:-1]))

Keyword arguments after the check's settings are hypothesis strategies; the engine
draws the inputs, calls the check with ``student`` (a :class:`Student`) and the drawn
values, and reports the smallest failing input. A check fails by raising
:class:`~grader.compare.CheckFailed` (the ``expect_*`` helpers do this). Nothing here
knows about transformers: that is the checks modules' business.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hypothesis.strategies import SearchStrategy

from . import __version__
from .compare import CheckFailed, device_of
from .sandbox.client import tensors_in


@dataclass
class Check:
    """One named, scored property of an exercise."""

    name: str
    points: float
    function: Callable[..., None]
    strategies: dict[str, SearchStrategy]
    examples: int
    hint: str = ""
    hidden: bool = False
    # edge cases the drawn inputs must reach: description -> predicate over drawn values
    edges: dict[str, Callable[..., bool]] = field(default_factory=dict)


@dataclass
class Exercise:
    """One student function (``module.function``) with its reference and checks."""

    name: str
    reference: Callable
    uses: tuple[str, ...] = ()
    inputs_unchanged_points: float = 0.5
    checks: list[Check] = field(default_factory=list)

    @property
    def module(self) -> str:
        return self.name.split(".")[0]

    @property
    def function(self) -> str:
        return self.name.split(".")[1]

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks) + self.inputs_unchanged_points

    def check(
        self,
        name: str,
        *,
        points: float = 1.0,
        examples: int = 20,
        hint: str = "",
        hidden: bool = False,
        edges: dict[str, Callable[..., bool]] | None = None,
        **strategies: SearchStrategy,
    ) -> Callable[[Callable[..., None]], Callable[..., None]]:
        """Register ``function(student, **drawn)`` as a check worth ``points``.

        ``examples`` bounds the hypothesis examples (a check with no strategies runs
        once); ``hint`` tells the student what to look at when it fails; ``hidden``
        keeps the check out of the students' hand-out. ``edges`` names the edge cases
        the drawn inputs must reach, each a predicate over some of the drawn values
        (by parameter name), e.g. ``{"a length-1 sequence": lambda case: case.x.shape[0] == 1}``;
        ``grader selftest`` reports every edge that none of the examples reaches.
        """
        edges = dict(edges or {})
        for description, predicate in edges.items():
            _validate_edge(self.name, name, description, predicate, strategies)

        def register(function: Callable[..., None]) -> Callable[..., None]:
            if any(c.name == name for c in self.checks):
                raise ValueError(f"{self.name} already has a check named {name!r}")
            self.checks.append(Check(name, float(points), function, strategies, examples, hint, hidden, edges))
            return function

        return register


def _edge_parameters(predicate: Callable[..., bool]) -> list[str] | None:
    """The drawn values an edge predicate takes by name; None if it takes them all (``**values``)."""
    parameters = inspect.signature(predicate).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [p.name for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL]


def _validate_edge(exercise: str, check: str, description: str, predicate: Any, strategies: dict) -> None:
    where = f"{exercise}: check {check!r}: edge {description!r}"
    if not callable(predicate):
        raise ValueError(f"{where} is a {type(predicate).__name__}, not a predicate over the drawn values")
    if not strategies:
        raise ValueError(f"{where}: the check draws nothing, so there is no example to reach an edge")
    try:
        names = _edge_parameters(predicate)
    except (TypeError, ValueError):
        return  # a builtin without a signature: it is called with every drawn value
    unknown = [n for n in names or [] if n not in strategies]
    if unknown:
        raise ValueError(f"{where} takes {', '.join(unknown)}, but the check draws only {', '.join(strategies)}")


def edge_reached(predicate: Callable[..., bool], values: dict[str, Any]) -> bool:
    """Whether one example (the drawn ``values``) reaches an edge: ``predicate`` on the values it names."""
    try:
        names = _edge_parameters(predicate)
    except (TypeError, ValueError):
        names = None
    chosen = values if names is None else {n: values[n] for n in names}
    return bool(predicate(**chosen))


class Course:
    """Every exercise of the course, ordered so that prerequisites come first."""

    def __init__(self, exercises: list[Exercise], module_positions: dict[str, float]) -> None:
        by_name = {e.name: e for e in exercises}
        for exercise in exercises:
            for used in exercise.uses:
                if used not in by_name:
                    raise ValueError(f"{exercise.name} uses unknown exercise {used}")
        needs: dict[str, set[str]] = {m: set() for m in module_positions}
        for exercise in exercises:
            needs.setdefault(exercise.module, set())
            needs[exercise.module] |= {by_name[u].module for u in exercise.uses} - {exercise.module}
        ordered: list[str] = []
        while len(ordered) < len(needs):
            ready = [m for m in needs if m not in ordered and needs[m] <= set(ordered)]
            if not ready:
                raise ValueError(f"modules depend on each other in a cycle: {sorted(set(needs) - set(ordered))}")
            ordered.append(min(ready, key=lambda m: (module_positions.get(m, 100), m)))
        self.modules = ordered
        position = {m: i for i, m in enumerate(ordered)}
        self.exercises = sorted(exercises, key=lambda e: position[e.module])
        self._by_name = by_name

    def __getitem__(self, name: str) -> Exercise:
        return self._by_name[name]

    def functions_of(self, module: str) -> list[str]:
        return [e.function for e in self.exercises if e.module == module]

    def reference(self, name: str) -> Callable:
        if name not in self._by_name:
            raise KeyError(f"no exercise named {name}")
        return self._by_name[name].reference

    def select(self, patterns: tuple[str, ...]) -> list[Exercise]:
        """Exercises matching any pattern: ``module``, ``module.function`` or ``function``."""
        if not patterns:
            return list(self.exercises)
        chosen = [
            e for e in self.exercises if any(p in (e.name, e.module, e.function) for p in patterns)
        ]
        unknown = [p for p in patterns if not any(p in (e.name, e.module, e.function) for e in self.exercises)]
        if unknown:
            raise KeyError(", ".join(unknown))
        return chosen

    def affected_by(self, module: str) -> list[Exercise]:
        """The exercises a change to ``module`` can touch: its own and those building on it."""
        modules = {module}
        changed = True
        while changed:
            changed = False
            for exercise in self.exercises:
                if exercise.module not in modules and any(u.split(".")[0] in modules for u in exercise.uses):
                    modules.add(exercise.module)
                    changed = True
        return [e for e in self.exercises if e.module in modules]

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises)


_declared: list[Exercise] = []
_run = {"device": "cpu"}


def run_device() -> str:
    """The device this grading run places inputs on (``cpu`` or ``cuda:0``).

    Inputs built by strategies live on the CPU and are moved there by the sandbox;
    pass ``device=run_device()`` where a function takes a device argument.
    """
    return _run["device"]


def requested_device() -> str:
    """The device to pass where a function takes a ``device`` argument.

    On a GPU run, the run device. On the CPU, ``meta`` (tensors with a shape and a dtype
    but no values): a function that ignores its ``device`` argument and builds its result
    on the CPU is then caught without a GPU (the engine fails any result that is not on
    the requested device).
    """
    return "meta" if _run["device"] == "cpu" else _run["device"]


def call_on_requested_device(student: "Student", *args: Any, **kwargs: Any) -> Any:
    """``student(*args, device=requested_device(), **kwargs)``; None when the call failed only
    because meta tensors hold no values (``.item()``, a copy to the CPU): a function that
    ignored ``device`` would have computed on the CPU and not met a meta tensor at all."""
    from .sandbox.client import StudentRaised

    device = requested_device()
    try:
        return student(*args, device=device, **kwargs)
    except StudentRaised as raised:
        if device == "meta" and "meta" in raised.message.lower():
            return None
        raise


def reference_folders() -> list[Path]:
    """Where the reference solutions (the ``solutions`` package) live; none in a student hand-out."""
    try:
        import solutions
    except ImportError:
        return []
    return [Path(p).resolve() for p in solutions.__path__]


def set_run_device(device: str) -> None:
    _run["device"] = device


def exercise(
    name: str,
    *,
    reference: Callable,
    uses: tuple[str, ...] | list[str] = (),
    inputs_unchanged_points: float = 0.5,
) -> Exercise:
    """Declare an exercise; ``uses`` lists the exercises its reference builds on."""
    if name.count(".") != 1:
        raise ValueError(f"an exercise is named module.function, not {name!r}")
    declared = Exercise(name, reference, tuple(uses), inputs_unchanged_points)
    _declared.append(declared)
    return declared


def load_course(package: str = "grader.checks") -> Course:
    """Import every checks module of ``package`` and collect their exercises."""
    root = importlib.import_module(package)
    exercises: list[Exercise] = []
    positions: dict[str, float] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        before = len(_declared)
        module = importlib.import_module(f"{package}.{info.name}")
        new = _declared[before:] or [e for e in _declared if e.module == info.name]
        exercises.extend(e for e in new if e not in exercises)
        positions[info.name] = float(getattr(module, "POSITION", 100))
    unique = list({id(e): e for e in exercises}.values())
    return Course(unique, positions)


# ------------------------------------------------------------------------------ calls


@dataclass
class Mutation:
    """A call that changed one of its inputs in place."""

    function: str
    argument: str


class Student:
    """The student's function as the checks see it: called in the sandbox.

    Calling it returns the decoded result (tensors on the CPU). The engine verifies on
    every call that returned tensors live on the inputs' device and records inputs
    changed in place. :meth:`gradients` also returns the gradient of a random
    projection of the outputs with respect to every floating input.
    """

    def __init__(self, session: Any, name: str, reference: Callable) -> None:
        self._session = session
        self.name = name
        self.reference = reference

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, grad=False)

    def gradients(self, *args: Any, **kwargs: Any) -> tuple[Any, list, list]:
        """``(outputs, input_grads, cotangents)``; grads align with :func:`tensor_arguments`."""
        value, (grads, info), cotangents = self._call(args, kwargs, grad=True)
        if info.get("differentiable_outputs", 0) == 0 and info.get("outputs", 0) > 0:
            raise CheckFailed(
                "the output is not differentiable (it has no grad_fn): avoid .detach(), .item(), "
                "NumPy round trips and building new tensors from Python numbers",
                hint="autograd must flow from the output back to every floating input",
            )
        return value, grads, cotangents

    def draws(self, n: int, *args: Any, global_seed: int = 0, **kwargs: Any) -> Any:
        """``n`` results of ``student(*args, **kwargs)``, made in ONE call to the worker and
        stacked along a new first dimension: a tensor ``[n, ...]``, or a tuple (list) of them
        for a tuple (list) of tensors; draws that do not stack (shapes that change from draw
        to draw, other values) arrive as an ``Unsupported`` saying why.

        For random functions. A ``torch.Generator`` among the arguments is rebuilt in the
        worker from its seed (on the run device) once, so it advances from draw to draw and
        the same seed gives the same ``n`` draws. Every call seeds torch's and Python's global
        RNGs first, a plain call with 0 and this one with ``global_seed``: a function that uses
        them draws differently within the ``n`` draws, identically from one call to the next
        (whatever its generator), and differently for another ``global_seed``.
        """
        if not isinstance(n, int) or not 1 <= n <= 1_000_000:
            raise ValueError(f"draws: n must be an int in [1, 1e6], not {n!r}")
        if not isinstance(global_seed, int) or not 0 <= global_seed < 2**63:
            raise ValueError(f"draws: global_seed must be an int in [0, 2**63), not {global_seed!r}")
        return self._call(args, kwargs, grad=False, draws=(n, global_seed))

    def _call(self, args: tuple, kwargs: dict, grad: bool, draws: tuple[int, int] | None = None) -> Any:
        result = self._session.call(self.name, args, kwargs, grad=grad, draws=draws)
        expected = self._session.expected_device(args, kwargs)
        asked = kwargs.get("device") if not tensors_in((args, kwargs)) else None
        for tensor in tensors_in(result.value):
            info = result.infos.get(id(tensor))
            if info is not None and device_of(info.device) != expected:
                if asked is not None:
                    raise CheckFailed(
                        f"returned a tensor on {info.device} when asked for device={str(asked)!r}",
                        hint="pass device=device to every tensor you create (torch.arange(..., device=device), "
                        "torch.ones(..., device=device)); never move the result with .cpu() or .to()",
                    )
                raise CheckFailed(
                    f"returned a tensor on {info.device} for inputs on {expected}",
                    hint="create new tensors with device=x.device (or x.new_zeros, torch.zeros_like); "
                    "never call .cpu() or .cuda() on results",
                )
        return result.value


def argument_names(function: Callable, args: tuple, kwargs: dict) -> list[str]:
    """Names of the tensors among ``args``/``kwargs`` in wire order, e.g. ``state[0]``."""
    import torch

    try:
        bound = inspect.signature(function).bind_partial(*args, **kwargs).arguments
        named = list(bound.items())
    except (TypeError, ValueError):
        named = [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    order = [(f"arg{i}", a) for i, a in enumerate(args)] + list(kwargs.items())
    # The wire order is positional arguments, then keywords; map each to its parameter name.
    position_names = [name for name, _ in named][: len(args)]
    names: list[str] = []

    def walk(label: str, node: Any) -> None:
        if isinstance(node, torch.Tensor):
            names.append(label)
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(f"{label}[{i}]", item)
        elif isinstance(node, dict):
            for key, item in node.items():
                walk(f"{label}[{key!r}]", item)

    for i, (label, value) in enumerate(order):
        walk(position_names[i] if i < len(position_names) else label, value)
    return names


def course_secret() -> bytes | None:
    """What the official examples are drawn from: kept with the course, never in a hand-out.

    A digest of the reference solutions' sources (which no hand-out ships), and of
    ``$GRADER_SECRET`` where the instructor sets one (to draw anew without touching the
    reference, e.g. for a new term). None where the reference is absent (a hand-out),
    which then uses the public draw it recorded.
    """
    import os

    folders = reference_folders()
    if not folders:
        return None
    digest = hashlib.sha256(b"transformer-grader official examples\0")
    digest.update(os.environ.get("GRADER_SECRET", "").encode() + b"\0")
    for root in folders:
        for file in sorted(root.rglob("*.py")):
            digest.update(file.read_bytes())
    return digest.digest()


def course_fingerprint() -> str:
    """Changes whenever the grader, a check or a reference changes, or what draws and
    keeps the examples (hypothesis, torch, Python, the course's secret)."""
    import platform

    import hypothesis
    import torch

    import grader

    versions = f"{__version__}|{hypothesis.__version__}|{torch.__version__}|{platform.python_version()}"
    digest = hashlib.sha256(versions.encode())
    digest.update(hashlib.sha256(course_secret() or b"").digest())
    # In a student hand-out there is no reference: its recorded results are inside grader/.
    for root in [Path(grader.__file__).parent, *reference_folders()]:
        for file in sorted(root.rglob("*.py")):
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]

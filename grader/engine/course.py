"""How a course is written down: exercises and their checks.

A concept's checks module (``grader/concepts/<concept>/checks.py``) declares each exercise with
:func:`exercise` and attaches named checks to it::

    softmax = exercise("attention.softmax", reference=ref.softmax)

    @softmax.check("rows sum to one", points=1, x=gs.tensors(gs.shapes(1, 3)))
    def rows_sum_to_one(student, x):
        expect_close(student(x).sum(-1), torch.ones(x.shape[:-1]))

Keyword arguments after the check's settings are hypothesis strategies; the engine
draws the inputs, calls the check with ``student`` (a :class:`~grader.engine.student.Student`) and the drawn
values, and reports the smallest failing input. A check fails by raising
:class:`~grader.engine.compare.CheckFailed` (the ``expect_*`` helpers do this). Nothing here
knows about transformers: that is the checks modules' business.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

from hypothesis.strategies import SearchStrategy


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


def load_course(package: str = "grader.concepts") -> Course:
    """Import the checks of every concept of ``package`` and collect their exercises.

    A concept is a subpackage ``<package>.<concept>`` whose ``checks`` module declares the
    exercises of ``exercises/<concept>.py``; its other modules (helpers, known mistakes) are
    not imported here.
    """
    root = importlib.import_module(package)
    exercises: list[Exercise] = []
    positions: dict[str, float] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or not info.ispkg:
            continue
        before = len(_declared)
        module = importlib.import_module(f"{package}.{info.name}.checks")
        new = _declared[before:] or [e for e in _declared if e.module == info.name]
        exercises.extend(e for e in new if e not in exercises)
        positions[info.name] = float(getattr(module, "POSITION", 100))
    unique = list({id(e): e for e in exercises}.values())
    return Course(unique, positions)

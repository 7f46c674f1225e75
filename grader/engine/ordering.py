"""In which order, and in which of two grading processes, a submission's exercises are graded."""

from __future__ import annotations

from grader.engine.course import Exercise


def split_by_cost(exercises: list[Exercise]) -> tuple[list[Exercise], list[Exercise]]:
    """Two groups of about equal work (estimated by hypothesis examples), deterministically.

    An exercise stays with its prerequisites, so that each is graded knowing whether
    they passed, as it would be in one process.
    """
    linked = families(exercises)
    cost = lambda family: sum(c.examples for e in family for c in e.checks)  # noqa: E731
    groups: tuple[list[Exercise], list[Exercise]] = ([], [])
    loads = [0, 0]
    for family in sorted(linked, key=lambda f: (-cost(f), f[0].name)):
        lighter = 0 if loads[0] <= loads[1] else 1
        groups[lighter].extend(family)
        loads[lighter] += cost(family)
    order = {e.name: i for i, e in enumerate(exercises)}
    return tuple(sorted(group, key=lambda e: order[e.name]) for group in groups)  # type: ignore[return-value]


def families(exercises: list[Exercise]) -> list[list[Exercise]]:
    """The exercises linked by ``uses`` (either way), each family in course order."""
    family = {e.name: e.name for e in exercises}

    def root(name: str) -> str:
        while family[name] != name:
            name = family[name]
        return name

    for exercise in exercises:
        for used in exercise.uses:
            if used in family:
                family[root(used)] = root(exercise.name)
    grouped: dict[str, list[Exercise]] = {}
    for exercise in exercises:
        grouped.setdefault(root(exercise.name), []).append(exercise)
    return list(grouped.values())


def prerequisites_first(exercises: list[Exercise]) -> list[Exercise]:
    """Course order, except that an exercise comes after those it uses."""
    by_name = {e.name: e for e in exercises}
    ordered: list[Exercise] = []
    placed: set[str] = set()

    def place(exercise: Exercise) -> None:
        if exercise.name in placed:
            return
        placed.add(exercise.name)
        for used in exercise.uses:
            if used in by_name:
                place(by_name[used])
        ordered.append(exercise)

    for exercise in exercises:
        place(exercise)
    return ordered

"""What grading produces: per check, per exercise, per submission (and their JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckResult:
    name: str
    max_score: float
    score: float
    passed: bool
    message: str = ""
    hint: str = ""
    input: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    hidden: bool = False
    not_run: bool = False  # a hidden check in a student's hand-out: counted, never run locally

    @property
    def informational(self) -> bool:
        return self.max_score == 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CheckResult":
        return cls(
            name=data["name"], max_score=data["max_score"], score=data["score"], passed=data["passed"],
            message=data.get("message", ""), hint=data.get("hint", ""), input=data.get("input", ""),
            details=data.get("details", {}), hidden=data.get("hidden", False),
            not_run=data.get("not_run", False),
        )

    def to_json(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "passed": self.passed,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
        }
        if self.hint:
            data["hint"] = self.hint
        if self.input:
            data["input"] = self.input
        if self.details:
            data["details"] = self.details
        if self.hidden:
            data["hidden"] = True
        if self.not_run:
            data["not_run"] = True
        return data


@dataclass
class ExerciseResult:
    name: str
    checks: list[CheckResult]
    status: str = "graded"  # graded | not implemented | missing | import error | crashed | timed out
    note: str = ""
    seconds: float = 0.0
    calls: int = 0

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 6)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 6)

    @property
    def complete_where_run(self) -> bool:
        """Every point that could be earned was: hidden checks a hand-out did not run aside."""
        not_run = sum(c.max_score for c in self.checks if c.not_run)
        return self.score >= self.max_score - not_run

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExerciseResult":
        return cls(
            name=data["name"], checks=[CheckResult.from_json(c) for c in data["checks"]],
            status=data.get("status", "graded"), note=data.get("note", ""),
            seconds=data.get("seconds", 0.0), calls=data.get("calls", 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "note": self.note,
            "seconds": round(self.seconds, 3),
            "calls": self.calls,
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass
class Report:
    submission: str
    device: str
    exercises: list[ExerciseResult]
    notes: list[str] = field(default_factory=list)
    output: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 6)

    @property
    def max_score(self) -> float:
        return round(sum(e.max_score for e in self.exercises), 6)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Report":
        """The report back from its JSON (exercises that have no checks are left out)."""
        return cls(
            submission=data["submission"], device=data.get("device", "cpu"),
            exercises=[ExerciseResult.from_json(e) for e in data["exercises"] if e.get("checks")],
            notes=data.get("notes", []), output=data.get("output", ""), facts=data.get("facts", {}),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "device": self.device,
            "exercises": [e.to_json() for e in self.exercises],
            "notes": self.notes,
            "output": self.output,
            "facts": self.facts,
        }


def without_timings(data: dict[str, Any]) -> dict[str, Any]:
    """The report minus what legitimately changes between runs (for determinism tests)."""
    clean = {k: v for k, v in data.items() if k not in ("facts",)}
    clean["exercises"] = [{k: v for k, v in e.items() if k != "seconds"} for e in data["exercises"]]
    return clean


__all__ = ["CheckResult", "ExerciseResult", "Report", "without_timings"]

"""How long grading the reference solutions takes, cold, as a student would run it.

Runs `python -m grader grade solutions --format json` in a fresh interpreter several
times (interpreter start, imports and the sandbox included), then prints the wall
time, the time per exercise and the number of calls into the student's functions. The
first run starts with an empty examples cache (it draws them); later runs reuse them.

    python benchmarks/grade_reference.py [--runs 3] [--submission solutions]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], cache: str | None = None) -> float:
    started = time.perf_counter()
    env = {**os.environ, "XDG_CACHE_HOME": cache} if cache else None
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--submission", default="solutions")
    args = parser.parse_args()

    baseline = min(timed([sys.executable, "-c", "import torch"]) for _ in range(2))
    walls, reports = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        for _ in range(args.runs):
            command = [sys.executable, "-m", "grader", "grade", args.submission, "--format", "json", "-o", str(out)]
            walls.append(timed(command, cache=tmp))
            reports.append(json.loads(out.read_text()))
    report = reports[-1]
    print(f"grading {args.submission!r}: {report['score']:g} / {report['max_score']:g}")
    print(f"cold wall time, first run (drawing the examples): {walls[0]:.2f} s")
    if len(walls) > 1:
        later = walls[1:]
        print(f"cold wall time over {len(later)} later runs (examples kept): median {statistics.median(later):.2f} s, "
              f"min {min(later):.2f} s, max {max(later):.2f} s")
    print(f"  of which `import torch` alone: {baseline:.2f} s; grading inside the process: "
          f"{report['facts']['seconds']:.2f} s")
    print(f"\n{'exercise':<45} {'seconds':>8} {'calls':>6} {'checks':>6}")
    total_calls = 0
    for exercise in sorted(report["exercises"], key=lambda e: -e["seconds"]):
        total_calls += exercise["calls"]
        print(f"{exercise['name']:<45} {exercise['seconds']:>8.3f} {exercise['calls']:>6} {len(exercise['checks']):>6}")
    print(f"{'total':<45} {sum(e['seconds'] for e in report['exercises']):>8.3f} {total_calls:>6}")


if __name__ == "__main__":
    main()

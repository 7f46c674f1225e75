"""Throughput of `grader batch`: N reference and N buggy submissions, 1 and 2 workers.

Prints submissions per minute (for the whole command, start-up included, and in the
steady state: between the first and the last result written), the overhead per
submission over the time its checks take, and the time to re-run a finished batch
(everything from the cache). CPU seconds per submission (the grader, its sandbox and
every worker) bound what any number of workers can reach: 60 * cores / CPU-s per submission
submissions per minute.

The grader keeps the examples it draws per machine (``$XDG_CACHE_HOME``); the benchmark
starts from an empty one, so its first run draws them ("cold") and later runs reuse them
("warm"), as an instructor's second batch would. ``--cold`` empties it before every run.

``--cpu-per-worker`` runs each batch on as many CPUs as it has workers (the first ones
this process may use), which shows how the rate scales with workers when each has a
CPU: without it, one worker already keeps more than one CPU busy (the grading process
and its sandbox overlap).

    python benchmarks/batch.py [--copies 10] [--workers 1 2] [--cold] [--cpu-per-worker]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUG = (
    "\n\ndef softmax(x, dim=-1):\n"
    "    e = torch.exp(x)\n"
    "    return e / e.sum(dim=dim, keepdim=True)\n"
)


def make_class(folder: Path, copies: int) -> None:
    for i in range(copies):
        for kind in ("ok", "bug"):
            target = folder / f"{kind}{i:03d}"
            shutil.copytree(ROOT / "solutions", target, ignore=shutil.ignore_patterns("__pycache__"))
            (target / "id.txt").write_text(f"{kind}{i}")  # distinct content: no cache sharing
            if kind == "bug":
                with open(target / "attention.py", "a") as handle:
                    handle.write(BUG)


def run(submissions: Path, out: Path, workers: int, cache: Path, cpus: list[int] | None = None) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the command and every process under it (on ``cpus`` only, if given)."""
    started, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "grader", "batch", str(submissions), "-o", str(out), "--workers", str(workers)],
        cwd=ROOT, check=True, stderr=subprocess.DEVNULL, env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return time.perf_counter() - started, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="reference copies (and as many buggy ones)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cold", action="store_true", help="draw the examples afresh in every run")
    parser.add_argument("--cpu-per-worker", action="store_true", help="run each batch on as many CPUs as workers")
    args = parser.parse_args()
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    with tempfile.TemporaryDirectory() as tmp:
        room = Path(tmp) / "class"
        room.mkdir()
        make_class(room, args.copies)
        count = 2 * args.copies
        print(f"{count} submissions ({args.copies} reference, {args.copies} with a softmax bug)")
        cache = Path(tmp) / "cache"
        for index, workers in enumerate(args.workers):
            if args.cold:
                shutil.rmtree(cache, ignore_errors=True)
            examples = "warm" if list(cache.glob("*/examples-*.pkl")) else "cold"
            out = Path(tmp) / f"out{index}"
            cpus = allowed[:workers] if args.cpu_per_worker and len(allowed) >= workers else None
            wall, cpu = run(room, out, workers, cache, cpus)
            reports = [json.loads(p.read_text()) for p in out.glob("*.json") if not p.name.endswith(".results.json")]
            check_seconds = sum(e["seconds"] for r in reports for e in r["exercises"])
            per_submission = wall * workers / count
            written = sorted(p.stat().st_mtime for p in (out / ".cache").glob("*.json"))
            steady = 60 * (len(written) - 1) / (written[-1] - written[0]) if len(written) > 1 else float("nan")
            where = f" on {len(cpus)} CPU" if cpus else ""
            print(
                f"workers={workers}{where} ({examples}): {wall:6.1f} s wall, {60 * count / wall:6.1f} submissions/min "
                f"(start-up included); steady state {steady:6.1f} submissions/min; "
                f"per submission {per_submission:.2f} worker-s of which checks {check_seconds / count:.2f} s "
                f"(overhead {per_submission - check_seconds / count:+.2f} s); "
                f"{cpu / count:.2f} CPU-s per submission, all processes"
            )
            resume, _ = run(room, out, workers, cache, cpus)
            print(f"           re-run of the finished batch (all cached): {resume:.1f} s")


if __name__ == "__main__":
    main()

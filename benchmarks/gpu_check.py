"""The prepared GPU check: everything that can only be seen on a GPU, one summary line per part.

Run it whenever a machine with CUDA is available (about 5 minutes on one H200 with 16 cores):

    python benchmarks/gpu_check.py                    # on CUDA
    python benchmarks/gpu_check.py --device cpu       # the same parts on the CPU (a dry run)

Parts:
1. ``reference`` and ``stubs``: `grader grade` on the reference (full marks) and the stubs (0),
   cold (no examples kept), with their wall times;
2. ``mistakes``: the catalogue of known mistakes and the correct styles, graded with the
   inputs on the device (`pytest --device ...`);
3. ``hostile``: one `grader batch` of controls (copies of the reference), hostile submissions
   and GPU-memory hogs: each may cost only its own module, and the controls keep full marks;
4. ``tests``: the project's grading tests with the inputs on the device, in one pytest run in
   which a CUDA grader runs before the session's forking grader (test_gpu, then test_grading);
5. ``speed``: the same batch of reference copies on the CPU and on the device, and a single
   cold grading on each: the device's time over the CPU's.

Every part's output is kept in ``--logs`` (default: ``$OUT`` where set, else a temporary
folder). Exit status 0 when every part passed. Packages missing on a GPU image travel as
wheels: see ``benchmarks/gpu_wheels.sh``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"


@dataclass
class Hostile:
    """A submission built from the reference with one module changed; only ``may_lose`` may lose points."""

    name: str
    module: str
    code: str  # appended to the module (``prefix=True``: inserted after the __future__ import)
    may_lose: str  # an exercise or module name prefix
    prefix: bool = False


HOSTILE = [
    Hostile("hang", "masks", "def causal_mask(q_len, k_len=None, device=None):\n    while True:\n        pass\n",
            "masks.causal_mask"),
    Hostile("segfault", "masks", "def causal_mask(q_len, k_len=None, device=None):\n    import ctypes\n"
            "    ctypes.string_at(0)\n", "masks.causal_mask"),
    Hostile("exit-at-import", "masks", "import os\nos._exit(4)\n", "masks.", prefix=True),
    Hostile("cpu-result", "masks", "def causal_mask(q_len, k_len=None, device=None):\n    k_len = q_len if k_len is None "
            "else k_len\n    return torch.ones(q_len, k_len, dtype=torch.bool).tril(k_len - q_len)\n", "masks.causal_mask"),
    Hostile("tamper", "masks", "torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
            "def causal_mask(q_len, k_len=None, device=None):\n    k_len = q_len if k_len is None else k_len\n"
            "    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril()\n", "masks.causal_mask"),
    # Takes every byte the allocator will give it at import, and holds it while it is graded.
    Hostile("memory-hog-at-import", "attention", "import torch as _t\n_HELD = []\nif _t.cuda.is_available():\n"
            "    _size = 1 << 34\n    while _size >= 1 << 20:\n        try:\n"
            "            _HELD.append(_t.empty(_size, dtype=_t.uint8, device='cuda'))\n"
            "        except Exception:\n            _size //= 2\n", "attention.", prefix=False),
    # Asks for far more than its share on every call: its own fault, its own exercise.
    Hostile("memory-hog-in-a-call", "masks", "def causal_mask(q_len, k_len=None, device=None):\n"
            "    k_len = q_len if k_len is None else k_len\n"
            "    waste = torch.empty(1 << 40, dtype=torch.uint8, device=device)\n"
            "    return torch.ones(q_len, k_len, dtype=torch.bool, device=device).tril(k_len - q_len)\n",
            "masks.causal_mask"),
]


class Check:
    """Runs the parts and prints one line each."""

    def __init__(self, device: str, workers: int, copies: int, logs: Path) -> None:
        self.device, self.workers, self.copies, self.logs = device, workers, copies, logs
        self.failures = 0
        self.cache = Path(tempfile.mkdtemp(prefix="gpu-check-cache-"))

    def line(self, part: str, ok: bool, text: str, seconds: float) -> None:
        self.failures += not ok
        print(f"{part:<10} {'OK  ' if ok else 'FAIL'} {text}  ({seconds:.0f} s)", flush=True)

    def run(self, part: str, *args: str, timeout: float = 600, env: dict | None = None, cold: bool = False):
        """Run a command from the repository root; its output goes to ``logs/<part>.log``."""
        environment = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        if cold:  # no examples kept from earlier runs
            environment["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="cold-", dir=self.cache)
        started = time.perf_counter()
        try:
            done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=environment)
            code, out, err = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as expired:
            code, out, err = 124, str(expired.stdout or ""), f"timed out after {timeout} s"
        seconds = time.perf_counter() - started
        with open(self.logs / f"{part}.log", "a") as log:
            log.write(f"$ {' '.join(args)}\n[exit {code}, {seconds:.1f} s]\n{out}\n{err}\n")
        return code, out, err, seconds

    def grader(self, part: str, *args: str, **options):
        return self.run(part, sys.executable, "-m", "grader", *args, **options)

    # ------------------------------------------------------------------ parts

    def reference_and_stubs(self) -> None:
        code, out, err, seconds = self.grader("reference", "grade", "solutions", "--device", self.device,
                                              "--format", "json", cold=True)
        report = _json(out)
        ok = code == 0 and report is not None and report["score"] == report["max_score"]
        score = f"{report['score']:g}/{report['max_score']:g}" if report else f"no report: {_tail(err)}"
        self.line("reference", ok, f"{score} on {self.device}, cold", seconds)
        code, out, err, seconds = self.grader("stubs", "grade", "exercises", "--device", self.device, "--format", "json")
        report = _json(out)
        ok = code == 0 and report is not None and report["score"] == 0
        score = f"{report['score']:g}/{report['max_score']:g}" if report else f"no report: {_tail(err)}"
        self.line("stubs", ok, f"{score}, exit {code}", seconds)

    def mistakes(self) -> None:
        styles = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_styles*.py"))
        code, out, err, seconds = self.run("mistakes", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                           "--device", self.device, "tests/test_catalogue.py", *styles, timeout=900)
        self.line("mistakes", code == 0, f"catalogue and styles on {self.device}: {_pytest_summary(out)}", seconds)

    def hostile(self) -> None:
        room = Path(tempfile.mkdtemp(prefix="gpu-check-hostile-"))
        for index in range(2):
            _copy_reference(room / f"control-{index}")
        for case in HOSTILE:
            target = _copy_reference(room / case.name)
            path = target / f"{case.module}.py"
            text = path.read_text()
            if case.prefix:
                text = text.replace("from __future__ import annotations\n", "from __future__ import annotations\n" + case.code, 1)
            else:
                text = text.rstrip() + "\n\n\n" + case.code
            path.write_text(text)
        out = room.parent / (room.name + "-out")
        code, _, err, seconds = self.grader("hostile", "batch", str(room), "-o", str(out), "--device", self.device,
                                            "--workers", str(self.workers), timeout=900)
        problems = []
        for entry in ["control-0", "control-1", *[case.name for case in HOSTILE]]:
            report = _json((out / f"{entry}.json").read_text()) if (out / f"{entry}.json").is_file() else None
            if report is None or report.get("failed_to_grade"):
                problems.append(f"{entry}: {'failed to grade' if report else 'no report'}")
                continue
            allowed = next((case.may_lose for case in HOSTILE if case.name == entry), None)
            lost = [e["name"] for e in report["exercises"] if e["score"] < e["max_score"]]
            stray = [name for name in lost if allowed is None or not name.startswith(allowed)]
            if stray:
                problems.append(f"{entry} lost points on {', '.join(stray)}")
            if allowed is not None and not lost and entry not in ("memory-hog-at-import",):
                problems.append(f"{entry} lost nothing (not caught)")
        ok = code == 0 and not problems
        detail = "; ".join(problems) if problems else "every hostile submission cost only its own module, controls full"
        self.line("hostile", ok, f"{len(HOSTILE)} hostile + 2 controls in one batch on {self.device}: {detail}"
                  + ("" if code == 0 else f"; exit {code}: {_tail(err)}"), seconds)

    def tests(self) -> None:
        files = ["tests/test_gpu.py", "tests/test_grading.py", "tests/test_faults.py", "tests/test_hostile.py",
                 "tests/test_prerequisites.py"]
        code, out, _, seconds = self.run("tests", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                         "--device", self.device, *files, timeout=900)
        self.line("tests", code == 0, f"{' '.join(Path(f).stem for f in files)} on {self.device}: "
                  f"{_pytest_summary(out)}", seconds)

    def speed(self) -> None:
        room = Path(tempfile.mkdtemp(prefix="gpu-check-speed-"))
        for index in range(self.copies):
            target = _copy_reference(room / f"copy-{index:03d}")
            (target / "note.txt").write_text(str(index))  # distinct content, no cache hits
        rates, singles = {}, {}
        for device in dict.fromkeys(["cpu", self.device]):
            out = room.parent / f"{room.name}-{device}"
            code, _, err, seconds = self.grader(f"speed-{device}", "batch", str(room), "-o", str(out), "--device", device,
                                                "--workers", str(self.workers), timeout=1200, cold=True)
            rates[device] = (self.copies / seconds * 60, code, _tail(err))
            code, _, _, single = self.grader(f"speed-{device}", "grade", "solutions", "--device", device, cold=True)
            singles[device] = single
        cpu, dev = rates["cpu"][0], rates[self.device][0]
        ok = all(code == 0 for _, code, _ in rates.values())
        ratio = cpu / dev if dev else float("inf")
        self.line("speed", ok, f"{self.copies} reference copies, {self.workers} workers: cpu {cpu:.0f}/min, "
                  f"{self.device} {dev:.0f}/min (time ratio {ratio:.2f}x); cold single grading: cpu "
                  f"{singles['cpu']:.1f} s, {self.device} {singles[self.device]:.1f} s "
                  f"({singles[self.device] / singles['cpu']:.2f}x)", sum(singles.values()))


def _copy_reference(target: Path) -> Path:
    shutil.copytree(SOLUTIONS, target, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    return target


def _json(text: str):
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return None


def _tail(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _pytest_summary(out: str) -> str:
    found = re.findall(r"^=*\s*(\d+ (?:passed|failed).*?)\s*=*$", out, re.MULTILINE)
    return found[-1] if found else _tail(out) or "no summary"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="the device to check (default: cuda)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="batch workers")
    parser.add_argument("--copies", type=int, default=48, help="reference copies in the speed batch")
    parser.add_argument("--parts", default="reference,mistakes,hostile,tests,speed", help="comma-separated parts")
    parser.add_argument("--logs", type=Path, default=None, help="folder for each part's output")
    options = parser.parse_args()
    logs = options.logs or Path(os.environ.get("OUT") or tempfile.mkdtemp(prefix="gpu-check-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    if options.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: CUDA is not available here; use --device cpu for a dry run", file=sys.stderr)
            return 2
        print(f"device     {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {os.cpu_count()} CPUs", flush=True)
    check = Check(options.device, options.workers, options.copies, logs)
    parts = {"reference": check.reference_and_stubs, "mistakes": check.mistakes, "hostile": check.hostile,
             "tests": check.tests, "speed": check.speed}
    for name in options.parts.split(","):
        parts[name.strip()]()
    print(f"summary    {'all parts passed' if not check.failures else f'{check.failures} part(s) failed'}; logs in {logs}")
    return 0 if not check.failures else 1


if __name__ == "__main__":
    sys.exit(main())

"""The zygote: a clean interpreter with torch loaded that forks sandboxed workers.

Standard library only, so that the grading process can start it before importing
torch itself (both imports then run in parallel).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

WORKER_SCRIPT = Path(__file__).with_name("worker.py")


# What the zygote (and so every worker) inherits of the environment: what Python, torch and
# the CUDA driver need, never the rest (an instructor's tokens would reach the student's
# printed output).
WORKER_ENVIRONMENT = {"PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "GRADER_HUGE_PAGES"}
WORKER_ENVIRONMENT_PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "PYTORCH_", "TORCH")


class InfrastructureError(BaseException):
    """The grader itself failed: its sandbox, a worker's start-up, the device.

    Never the student's fault, so never scored: a BaseException, so that no check, no
    hypothesis run and no ``except Exception`` in the engine can turn it into a failed
    check. ``grader grade`` reports it and exits non-zero; ``grader batch`` marks the
    submission "failed to grade" and does not cache it.
    """


class Zygote:
    """A clean interpreter with torch loaded that forks workers on request.

    It listens on ``channels`` control sockets, so that grading processes forked from
    this one can each use their own (:meth:`use_channel`).
    """

    def __init__(self, workdir: Path, channels: int = 2) -> None:
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(channels)]
        child_fds = [child.fileno() for _, child in pairs]
        self.log = workdir / "zygote.log"
        env = {k: v for k, v in os.environ.items() if k in WORKER_ENVIRONMENT or k.startswith(WORKER_ENVIRONMENT_PREFIXES)}
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(WORKER_SCRIPT), *map(str, child_fds)],
                pass_fds=child_fds,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=workdir,
                env=env,
                start_new_session=True,
            )
        for _, child in pairs:
            child.close()
        self.controls = [parent for parent, _ in pairs]
        self._requests = 0
        self.control = self.controls[0]
        self.lock = threading.Lock()
        self.cpus: list[int] | None = None  # where the workers forked from now on run (None: anywhere)

    def use_channel(self, index: int) -> None:
        """Talk to the zygote over control socket ``index`` (one per grading process)."""
        self.control = self.controls[index]
        self.lock = threading.Lock()

    def fork(self) -> tuple[int, socket.socket, int]:
        """A new worker: (pid, socket to it, read end of its output pipe)."""
        ours, theirs = socket.socketpair()
        out_read, out_write = os.pipe()
        with self.lock:
            try:
                request = self._request_id()
                socket.send_fds(self.control, [json.dumps({"op": "fork", "id": request, "cpus": self.cpus}).encode()],
                                [theirs.fileno(), out_write])
                reply = self._reply(request)
            except OSError as error:
                raise InfrastructureError(f"the worker pool stopped: {error}") from None
        theirs.close()
        os.close(out_write)
        if reply is None:
            raise InfrastructureError("the worker pool did not start: " + self._log_tail())
        return reply["pid"], ours, out_read

    def reap(self, pid: int) -> dict:
        return self.reap_all([pid])[0]

    def reap_all(self, pids: list[int]) -> list[dict]:
        """How each of these (killed) workers ended; whatever they left behind is killed."""
        if not pids:
            return []
        unknown = [{"kind": "unknown"} for _ in pids]
        with self.lock:
            try:
                request = self._request_id()
                self.control.send(json.dumps({"op": "reap", "pids": pids, "id": request}).encode())
                reply = self._reply(request)
            except OSError:
                return unknown
        statuses = reply.get("statuses") if reply else None
        return statuses if isinstance(statuses, list) and len(statuses) == len(pids) else unknown

    def _request_id(self) -> str:
        """Unique per process and request: a grading process killed mid-request leaves its
        reply on the channel, and the process that takes the channel over must skip it."""
        self._requests += 1
        return f"{os.getpid()}-{self._requests}"

    def _reply(self, request: str) -> dict | None:
        while True:
            line = self.control.recv(65536)
            if not line:
                return None
            reply = json.loads(line)
            if reply.get("id") == request:
                return reply

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace").strip().splitlines()[-1]
        except (OSError, IndexError):
            return "no output"

    def close(self) -> None:
        """Stop the zygote; its workers are gone already, so nothing is lost by killing it."""
        for control in self.controls:
            control.close()
        self.process.kill()
        self.process.wait()


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="grader-"))

"""The grading process's side of the sandbox: start workers, call into them, survive them.

The grading process never imports student code. It starts one *zygote* (a fresh
interpreter that imports torch and nothing else of ours), and asks it to fork a
worker per exercise. A call sends the inputs as bytes, waits with a hard deadline,
serves the worker's callbacks (step functions, reference prerequisites) meanwhile,
and decodes the reply without unpickling anything. A worker that hangs is killed
with its whole process group; one that dies is reported by how it died.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from . import protocol
from .vjp import vjp
from .zygote import InfrastructureError, Zygote, make_workdir  # noqa: F401 - re-exported

SIGNAL_NAMES = {
    signal.SIGSEGV: "a segmentation fault (SIGSEGV)",
    signal.SIGABRT: "an abort (SIGABRT)",
    signal.SIGBUS: "a bus error (SIGBUS)",
    signal.SIGFPE: "a floating-point exception (SIGFPE)",
    signal.SIGILL: "an illegal instruction (SIGILL)",
    signal.SIGKILL: "SIGKILL (out of memory, or stopped by the grader)",
    signal.SIGXCPU: "SIGXCPU (CPU time limit)",
    signal.SIGXFSZ: "SIGXFSZ (file size limit)",
}


class WorkerFailure(BaseException):
    """The worker died, hung or lied while running student code.

    A BaseException so that it passes through hypothesis (which would otherwise try to
    shrink a crash, costing a worker restart per attempt).
    """

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # "timeout" | "crash" | "protocol"
        self.module: str | None = None  # the module being imported when it happened, if any


class StudentRaised(Exception):
    """The student's function raised; carries what the worker said about it."""

    def __init__(self, error: dict) -> None:
        self.type_name = str(error.get("type", "Exception"))
        self.bases = [str(b) for b in error.get("bases", [])]
        self.message = str(error.get("message", ""))
        self.where = str(error.get("where", ""))
        self.raised_in_submission = bool(error.get("raised_in_submission", False))
        super().__init__(self.summary())

    def is_a(self, exception_type: type[BaseException]) -> bool:
        return f"{exception_type.__module__}.{exception_type.__qualname__}" in self.bases

    def summary(self) -> str:
        text = f"{self.type_name}: {self.message}" if self.message else self.type_name
        return f"{text} ({self.where})" if self.where else text


class CannotAnswer(Exception):
    """The grading process cannot answer a worker's request for a reference result (a
    hand-out that did not record it): the call, and the check that made it, stop there."""


def direct_call(name: str, function: Callable, *args: Any, **kwargs: Any) -> Any:
    """How a reference result is computed by default: ``function(*args, **kwargs)``."""
    return function(*args, **kwargs)


class FunctionMissing(Exception):
    """The submission does not define the function."""


@dataclass
class Limits:
    call_seconds: float = 10.0
    load_seconds: float = 20.0
    memory_bytes: int = 3 * 1024**3
    output_bytes: int = 64 * 1024


@dataclass
class CallResult:
    value: Any
    mutated: list[int]
    infos: dict[int, protocol.TensorInfo]


# Bytes of requests a grading process may have sent ahead of the replies it has read:
# well below a Unix socket's buffer (and at most a quarter of it), so that sending ahead
# never blocks.
AHEAD_BYTES = 64 * 1024


class CallLost(Exception):
    """An earlier call in flight killed the worker before this one ran: send it again."""


LOST = object()  # the outcome of a call that never ran


@dataclass
class Pending:
    """A call sent to a worker, its reply not read yet (``outcome`` once it is)."""

    id: int
    function: str
    callbacks: dict[int, Callable] = field(default_factory=dict)
    size: int = 0
    sent: float = 0.0
    outcome: CallResult | BaseException | object | None = None

    def register_callback(self, function: Callable) -> int:
        token = len(self.callbacks)
        self.callbacks[token] = function
        return token


class _OutputSink(threading.Thread):
    """Drains a worker's stdout/stderr so it can never block, keeping only the head."""

    def __init__(self, fd: int, limit: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.limit = fd, limit
        self.head = bytearray()
        self.total = 0

    def run(self) -> None:
        try:
            while chunk := os.read(self.fd, 65536):
                self.total += len(chunk)
                if len(self.head) < self.limit:
                    self.head += chunk[: self.limit - len(self.head)]
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self) -> str:
        text = self.head.decode("utf-8", "replace")
        if self.total > len(self.head):
            text += f"\n... ({self.total - len(self.head)} more bytes of output not kept)"
        return text


@dataclass
class WorkerConfig:
    """What a worker loads and how it is confined."""

    submission_dir: str
    scratch_dir: str
    modules: list[str]
    device: str = "cpu"
    import_modules: list[str] = field(default_factory=list)
    stand_ins: dict[str, list[str]] = field(default_factory=dict)
    functions: dict[str, list[str]] = field(default_factory=dict)
    substitute: list[str] = field(default_factory=list)
    notebook_cells: list[dict] | None = None
    readable_paths: list[str] = field(default_factory=list)  # beyond its own submission and /proc entry
    writable_paths: list[str] = field(default_factory=list)  # beyond its scratch folder
    memory_bytes: int | None = None
    device_sharers: int = 1  # workers that may hold device memory at once (each gets a share)
    load_seconds: float = 20.0  # the hard limit on loading; notebook cells get a share of it
    notebook_definitions_only: bool = False  # a slow notebook: run only its imports and definitions

    def to_json(self) -> dict:
        return {
            "submission_dir": self.submission_dir,
            "scratch_dir": self.scratch_dir,
            "modules": self.modules,
            "device": self.device,
            "import": self.import_modules,
            "stand_ins": self.stand_ins,
            "functions": self.functions,
            "substitute": self.substitute,
            "notebook_cells": self.notebook_cells,
            "readable_paths": self.readable_paths,
            "writable_paths": self.writable_paths,
            "memory_bytes": self.memory_bytes,
            "device_sharers": self.device_sharers,
            # Notebook cells stop on their own well before the hard limit, so that a slow
            # cell costs that cell and the definitions of the others are still graded.
            "notebook_seconds": max(1.0, min(10.0, self.load_seconds / 2)),
            "cell_seconds": max(1.0, min(10.0, self.load_seconds / 2)),
            "definition_seconds": max(0.5, min(2.0, self.load_seconds / 10)),
            "notebook_definitions_only": self.notebook_definitions_only,
        }


class WorkerClient:
    """A running worker: call student functions in it, with hard deadlines."""

    def __init__(
        self,
        zygote: Zygote,
        config: WorkerConfig,
        limits: Limits,
        references: Callable[[str], Callable],
        call_reference: Callable[..., Any] = direct_call,
    ) -> None:
        """``references(name)`` is the reference function of exercise ``name``, for the
        prerequisites the worker calls back for; ``call_reference(label, function, *args,
        **kwargs)`` computes each of their results (the engine records or replays them
        there, and raises :class:`CannotAnswer` where it cannot)."""
        self.zygote = zygote
        self.limits = limits
        self.references = references
        self.call_reference = call_reference
        self.device = config.device
        self.pid, self.sock, out_fd = zygote.fork()
        self.channel = protocol.Channel(self.sock)
        self.output = _OutputSink(out_fd, limits.output_bytes)
        self.output.start()
        self.alive = True
        self.calls = 0
        self.next_id = 0
        self._handles: dict[int, tuple[list, list]] = {}
        self._in_flight: collections.deque[Pending] = collections.deque()
        self._last_reply = 0.0
        self._sources: dict[str, int] = {}  # the portable modules this worker has been sent
        self._ahead_bytes = min(AHEAD_BYTES, self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) // 4)
        self._start(config, limits)
        importing = None
        deadline = time.monotonic() + limits.load_seconds
        try:
            while True:
                what = f"importing {importing}.py" if importing else "loading the submission"
                header, _ = self._receive(deadline, what=what, limit=limits.load_seconds)
                if header.get("op") != "importing":
                    break
                importing = str(header.get("module"))
        except WorkerFailure as failure:
            failure.module = importing
            raise
        if header.get("op") != "loaded" or not isinstance(header.get("modules"), dict):
            self.kill()
            raise WorkerFailure("the submission's worker sent a malformed reply while loading", "protocol")
        self.modules: dict = header["modules"]
        self.sandbox_facts: dict = header.get("sandbox", {}) if isinstance(header.get("sandbox"), dict) else {}

    def _start(self, config: WorkerConfig, limits: Limits) -> None:
        """Send the configuration and wait for the worker to start up (the grader's part: no
        student code runs before ``started``). Any failure here is the grader's own."""
        deadline = time.monotonic() + limits.load_seconds
        try:
            self.channel.send({"op": "init", "config": config.to_json()})
            header, _ = self._receive(deadline, what="starting up", limit=limits.load_seconds)
        except (WorkerFailure, OSError) as failure:
            self.kill()
            raise InfrastructureError(f"a sandbox worker could not start: {_reason(failure)}{self._output_tail()}") from None
        if header.get("op") == "startup_failed":
            self.kill()
            raise InfrastructureError(f"a sandbox worker could not start: {str(header.get('error'))[:500]}")
        if header.get("op") != "started":
            self.kill()
            raise InfrastructureError("a sandbox worker sent a malformed reply while starting up")

    def _output_tail(self) -> str:
        """The last line the worker printed, if any (it prints why it could not start)."""
        self.output.join(timeout=0.5)
        lines = [line for line in self.output.text().splitlines() if line.strip()]
        return f" ({lines[-1].strip()[:300]})" if lines else ""

    # ------------------------------------------------------------------ calls

    def call(
        self, function: str, args: tuple, kwargs: dict, grad: bool = False, substitute: list[str] | None = None,
        draws: tuple[int, int] | None = None,
    ) -> CallResult:
        """Run ``function(*args, **kwargs)`` in the worker; raises StudentRaised, FunctionMissing.

        ``substitute`` names the prerequisites the grading process's reference replaces
        for this call (None: as the worker was configured). ``draws=(n, global_seed)``
        runs it ``n`` times in this one call, with the global RNGs seeded with
        ``global_seed`` once before the first, and returns the results stacked (see
        :meth:`grader.engine.student.Student.draws`).
        """
        return self.result(self.submit(function, args, kwargs, grad=grad, substitute=substitute, draws=draws))

    def submit(
        self,
        function: str,
        args: tuple,
        kwargs: dict,
        grad: bool = False,
        substitute: list[str] | None = None,
        ahead: bool = False,
        draws: tuple[int, int] | None = None,
    ) -> Pending | None:
        """Send a call without waiting for it; :meth:`result` reads its reply.

        The worker runs calls in the order they were sent, so several can be in flight:
        each then costs the two processes one wake-up less. With ``ahead``, the call is
        sent only if it fits in :data:`AHEAD_BYTES` with those already in flight (None
        otherwise), so that neither side can ever block the other on a full socket.
        """
        if not self.alive:
            raise WorkerFailure("the worker is no longer running", "crash")
        self.next_id += 1
        pending = Pending(self.next_id, function)
        sources = dict(self._sources)  # what the worker will have been sent, if this is sent
        value, blobs = protocol.encode_value(
            (list(args), kwargs), on_callable=pending.register_callback, portable=sources
        )
        header = {"op": "call", "id": pending.id, "function": function, "value": value, "grad": grad}
        if substitute is not None:
            header["substitute"] = list(substitute)
        if draws is not None:
            header["draws"], header["global_seed"] = draws
        frame = protocol.pack(header, blobs)
        pending.size = len(frame)
        if self._in_flight and self._in_flight_bytes + pending.size > self._ahead_bytes:
            if ahead:
                return None
            self.settle()
        if not self.alive:  # settling met a crash: this call never ran
            pending.outcome = LOST
            return pending
        self.calls += 1
        self._sources = sources
        try:
            self.sock.sendall(frame)
        except OSError:
            pass  # the worker is gone: reading the replies in order says how
        pending.sent = time.monotonic()
        self._in_flight.append(pending)
        return pending

    def result(self, pending: Pending) -> CallResult:
        """The reply to ``pending`` (raising what the call raised); replies to the calls
        sent before it are read and kept first. :class:`CallLost` if an earlier call
        killed the worker before this one ran."""
        while pending.outcome is None:
            self._read_reply()
        if pending.outcome is LOST:
            raise CallLost(pending.function)
        if isinstance(pending.outcome, BaseException):
            raise pending.outcome
        return pending.outcome

    def settle(self) -> None:
        """Read the replies of every call in flight (kept with their calls)."""
        while self._in_flight:
            self._read_reply()

    def _read_reply(self) -> None:
        """Read the reply of the oldest call in flight; on a failure, the later calls are lost."""
        pending = self._in_flight[0]
        started = max(pending.sent, self._last_reply)
        try:
            pending.outcome = self._reply_to(pending, started + self.limits.call_seconds)
        except (WorkerFailure, InfrastructureError, Exception) as failure:  # the call's own outcome (e.g. NotRecorded)
            self.kill()
            pending.outcome = failure
            for later in list(self._in_flight)[1:]:
                later.outcome = LOST
            self._in_flight.clear()
            return
        self._last_reply = time.monotonic()
        self._in_flight.popleft()

    def _reply_to(self, pending: Pending, deadline: float) -> CallResult | Exception:
        function = pending.function
        header, blobs = self._receive(deadline, what=f"running {function}")
        if header.get("id") != pending.id:
            self.kill()
            raise WorkerFailure("the worker answered a different request", "protocol")
        if header["op"] == "missing":
            return FunctionMissing(function)
        if header["op"] == "grader_fault":
            self.kill()
            raise InfrastructureError(f"while running {function}: {str(header.get('error'))[:500]}")
        mutated = [i for i in header.get("mutated", []) if isinstance(i, int)]
        if header["op"] == "raised":
            error = StudentRaised(header.get("error") if isinstance(header.get("error"), dict) else {})
            error.mutated = mutated
            return error
        if header["op"] != "result":
            self.kill()
            raise WorkerFailure("the worker sent a malformed reply", "protocol")
        decoder = protocol.Decoder(blobs, keep_info=True)
        try:
            result = decoder.decode(header.get("value"))
        except protocol.ProtocolError as error:
            self.kill()
            raise WorkerFailure(f"the worker sent a malformed result ({error})", "protocol") from None
        return CallResult(result, mutated, decoder.infos or {})

    @property
    def _in_flight_bytes(self) -> int:
        return sum(pending.size for pending in self._in_flight)

    @property
    def _callbacks(self) -> dict[int, Callable]:
        """The callables passed to the call the worker is running (the oldest in flight)."""
        return self._in_flight[0].callbacks if self._in_flight else {}

    def _receive(self, deadline: float, what: str, limit: float | None = None) -> tuple[dict, list[bytes]]:
        """Wait for the reply, serving callbacks and reference requests meanwhile."""
        while True:
            try:
                header, blobs = self.channel.recv(deadline)
            except TimeoutError:
                self.kill()
                raise WorkerFailure(
                    f"timed out: {what} took longer than {limit or self.limits.call_seconds:g} s "
                    "(an infinite loop, or far too slow) and was stopped",
                    "timeout",
                ) from None
            except (EOFError, ConnectionError):
                raise self._died(what) from None
            except protocol.ProtocolError as error:
                self.kill()
                raise WorkerFailure(f"the worker sent a malformed message ({error})", "protocol") from None
            op = header.get("op")
            if op == "callback":
                self._serve(header, blobs, self._run_callback)
            elif op == "reference":
                self._serve(header, blobs, self._run_reference)
            elif op == "reference_backward":
                self._serve(header, blobs, self._run_reference_backward)
            else:
                return header, blobs

    def _serve(self, header: dict, blobs: list[bytes], handler: Callable) -> None:
        try:
            reply, out_blobs = handler(header, blobs)
        except protocol.ProtocolError as error:
            self.kill()
            raise WorkerFailure(f"the worker sent a malformed request ({error})", "protocol") from None
        except CannotAnswer:  # the check cannot go on (nor the call)
            self.kill()
            raise
        except Exception as error:  # noqa: BLE001 - reported back into the student's code
            reply, out_blobs = {"op": f"{header['op']}_error", "error": {"type": type(error).__name__, "message": str(error)}}, []
        try:
            self.channel.send(reply, out_blobs)
        except OSError:
            raise self._died("answering a callback") from None

    def _decode_args(self, header: dict, blobs: list[bytes]) -> tuple[list, dict]:
        decoded = protocol.Decoder(blobs, on_callable=self._callback_for).decode(header.get("value"))
        if not (isinstance(decoded, tuple) and len(decoded) == 2 and isinstance(decoded[0], list) and isinstance(decoded[1], dict)):
            raise protocol.ProtocolError("malformed arguments")
        return decoded[0], decoded[1]

    def _callback_for(self, token: Any) -> Callable:
        """A callback the worker hands back (e.g. a step function passed on to a prerequisite)."""
        function = self._callbacks.get(token) if isinstance(token, int) else None
        if function is not None:
            return function

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise TypeError("only the grader's own callables can be passed to a replaced prerequisite")

        return unavailable

    def _run_callback(self, header: dict, blobs: list[bytes]):
        function = self._callbacks.get(header.get("token"))
        if function is None:
            raise protocol.ProtocolError("unknown callback")
        args, kwargs = self._decode_args(header, blobs)
        value, out_blobs = protocol.encode_value(function(*args, **kwargs))
        return {"op": "callback_result", "value": value}, out_blobs

    def _run_reference(self, header: dict, blobs: list[bytes]):
        name = header.get("function")
        if not isinstance(name, str):
            raise protocol.ProtocolError("malformed reference request")
        function = self.references(name)
        args, kwargs = self._decode_args(header, blobs)
        needs_grad = header.get("needs_grad") or []
        inputs = tensors_in((args, kwargs))
        tracked = []
        for tensor, wanted in zip(inputs, needs_grad):
            if wanted and tensor.is_floating_point():
                tensor.requires_grad_(True)
                tracked.append(tensor)
        with torch.enable_grad():
            result = self.call_reference(name, function, *args, **kwargs)
        handle = None
        if tracked:
            handle = len(self._handles)
            self._handles[handle] = (name, args, kwargs, inputs, tensors_in(result))
        value, out_blobs = protocol.encode_value(result)
        return {"op": "reference_result", "value": value, "handle": handle}, out_blobs

    def _run_reference_backward(self, header: dict, blobs: list[bytes]):
        handle = header.get("handle")
        if handle not in self._handles:
            raise protocol.ProtocolError("unknown reference handle")
        name, args, kwargs, inputs, outputs = self._handles[handle]
        grad_outputs = protocol.Decoder(blobs).decode(header.get("value"))

        def backward(args: list, kwargs: dict, grad_outputs: Any) -> list:
            """The input gradients, from the graph the forward call kept (args name the call)."""
            pairs = [
                (o, g)
                for o, g in zip(outputs, grad_outputs)
                if isinstance(g, torch.Tensor) and o.requires_grad and g.shape == o.shape
            ]
            wanted = [t for t in inputs if t.requires_grad]
            grads = iter(vjp([o for o, _ in pairs], wanted, [g for _, g in pairs]))
            return [next(grads) if t.requires_grad else None for t in inputs]

        aligned = self.call_reference(f"{name} (backward)", backward, args, kwargs, grad_outputs)
        value, out_blobs = protocol.encode_value(aligned)
        return {"op": "reference_backward_result", "value": value}, out_blobs

    # ------------------------------------------------------------------ lifetime

    def _died(self, what: str) -> WorkerFailure:
        self.alive = False
        status = self.zygote.reap(self.pid)
        if status.get("kind") == "signal":
            number = status.get("signal")
            try:
                name = SIGNAL_NAMES.get(signal.Signals(number), signal.Signals(number).name)
            except ValueError:
                name = f"signal {number}"
            message = f"crashed while {what}: the process was killed by {name}"
        elif status.get("kind") == "exit":
            message = (
                f"crashed while {what}: the process exited with status {status.get('code')} "
                "(os._exit() or a fatal error in native code)"
            )
        else:
            message = f"crashed while {what}: the process ended unexpectedly"
        return WorkerFailure(message, "crash")

    def kill(self, reap: bool = True) -> None:
        """Kill the worker's process group (with ``reap`` False, the caller then reaps it:
        see :func:`close_all`)."""
        if self.alive:
            self.alive = False
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if reap:
                self.zygote.reap(self.pid)
        self.sock.close()

    def close(self, reap: bool = True) -> None:
        if self.alive:
            try:
                self.channel.send({"op": "exit"})
            except OSError:
                pass
        self.kill(reap)
        self.output.join(timeout=2)


def _reason(failure: BaseException) -> str:
    return failure.message if isinstance(failure, WorkerFailure) else str(failure) or type(failure).__name__


def close_all(workers: list[WorkerClient]) -> None:
    """Close these workers and reap the running ones with one request to the zygote
    (those that died were reaped when they did)."""
    running = [worker for worker in workers if worker.alive]
    for worker in workers:
        worker.close(reap=False)
    if running:
        running[0].zygote.reap_all([worker.pid for worker in running])


def tensors_in(tree: Any) -> list[torch.Tensor]:
    """Every tensor in a tree of lists, tuples and dicts, in wire order."""
    found: list[torch.Tensor] = []

    def walk(node: Any) -> None:
        if isinstance(node, torch.Tensor):
            found.append(node)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)

    walk(tree)
    return found



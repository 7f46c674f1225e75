"""The sandboxed side: a zygote that forks workers which run student code.

Run as a script (``python -I worker.py ZYGOTE_FD``), never imported by the grading
process. The zygote imports torch once and then forks one worker per request; a
worker never sees the reference solutions or the grader: it loads the submission
into a synthetic ``exercises`` package, confines itself (resource limits, Landlock
where the kernel has it, no network, blocked imports), and then answers calls from
the grading process. Only plain values and tensor bytes cross the socket.
"""

from __future__ import annotations

import __future__
import ast
import builtins
import collections
import contextlib
import gc
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import random
import re
import resource
import select
import signal
import socket
import sys
import time
import traceback
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's folder out
import landlock  # noqa: E402
import protocol  # noqa: E402
from vjp import vjp  # noqa: E402

BLOCKED_PACKAGES = ("solutions", "grader")
PACKAGE = "exercises"
# Loaded in the zygote and dropped by every worker. Listed once, before forking: a worker
# that walked sys.modules itself would touch (and so copy) the page of every module.
_GRADER_MODULES: list[str] = []


# ============================================================================ zygote


def zygote_main(control_fds: list[int]) -> None:
    """Fork a worker for each request on the control sockets; reap them on demand.

    Each control socket is a SOCK_SEQPACKET pair (one per grading process): one request
    per message, a fork request carrying the worker's socket and output pipe as
    SCM_RIGHTS. The zygote ends when every grading process has closed its socket.
    """
    controls = [socket.socket(fileno=fd) for fd in control_fds]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    landlock.not_dumpable()
    torch.set_num_threads(1)
    _become_subreaper()
    _GRADER_MODULES.extend(name for name in sys.modules if name.split(".")[0] in BLOCKED_PACKAGES)
    # Workers are forks: keep the collector away from the objects they inherit, or its
    # first pass writes to (and copies) every page of the loaded torch.
    gc.collect()
    gc.freeze()
    _use_huge_pages()
    workers: set[int] = set()
    while controls:
        ready, _, _ = select.select(controls, [], [])
        for control in ready:
            message, fds, _, _ = socket.recv_fds(control, 65536, 2)
            if not message:
                controls.remove(control)
                control.close()
                continue
            request = json.loads(message)
            if request["op"] == "fork":
                pid = os.fork()
                if pid == 0:
                    try:
                        for other in controls:
                            other.close()
                        worker_main(fds[0], fds[1], request)
                    finally:
                        os._exit(0)
                for fd in fds:
                    os.close(fd)
                workers.add(pid)
                control.send(json.dumps({"pid": pid, "id": request.get("id")}).encode())
            elif request["op"] == "reap":  # several at once: one look for orphans, not one each
                workers.difference_update(request["pids"])
                statuses = [_reap(pid) for pid in request["pids"]]
                _kill_orphans(workers)
                control.send(json.dumps({"statuses": statuses, "id": request.get("id")}).encode())


def _use_huge_pages() -> None:
    """Back the loaded heap with 2 MiB pages where the kernel can (Linux 6.1+, THP not off).

    A fork copies one page-table entry per 2 MiB instead of 512, and an exit frees as
    few (measured: the zygote's kernel time per submission fell from ~0.055 to ~0.033 s).
    Best effort; ``GRADER_HUGE_PAGES=0`` turns it off.
    """
    if os.environ.get("GRADER_HUGE_PAGES", "1") == "0":
        return
    try:
        import ctypes

        madvise = ctypes.CDLL(None, use_errno=True).madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/maps") as maps:
            regions = maps.read().splitlines()
    except (OSError, AttributeError):
        return
    huge, madv_hugepage, madv_collapse = 2 << 20, 14, 25
    for region in regions:
        fields = region.split()
        if fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue  # only anonymous memory: the heap and the allocators' mappings
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        start, end = -(-start // huge) * huge, end // huge * huge
        if end > start:
            madvise(start, end - start, madv_hugepage)
            madvise(start, end - start, madv_collapse)


def _become_subreaper() -> None:
    """Processes that escape a worker's process group (setsid) are re-parented to us."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _kill_orphans(workers: set[int]) -> None:
    """Kill and reap our children that are not live workers (left behind by student code).

    Runs after every worker, so it reads each ``/proc/<pid>/stat`` with bare system calls.
    """
    me = str(os.getpid()).encode()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit() or int(entry) in workers:
            continue
        try:
            descriptor = os.open(f"/proc/{entry}/stat", os.O_RDONLY)
            try:
                parent = os.read(descriptor, 4096).rsplit(b")", 1)[1].split()[1]
            finally:
                os.close(descriptor)
        except (OSError, IndexError):
            continue
        if parent == me:
            try:
                os.kill(int(entry), signal.SIGKILL)
                os.waitpid(int(entry), 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _reap(pid: int) -> dict:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return {"kind": "unknown"}
    if os.WIFSIGNALED(status):
        return {"kind": "signal", "signal": os.WTERMSIG(status)}
    return {"kind": "exit", "code": os.WEXITSTATUS(status)}


# ============================================================================ worker


class Worker:
    """One worker process: the submission's modules plus a request loop."""

    def __init__(self, channel: protocol.Channel, config: dict) -> None:
        self.channel = channel
        self.config = config
        self.device = config.get("device", "cpu")
        self.modules: list[str] = config["modules"]
        self.submission_dir: str = config["submission_dir"]
        self.namespaces: list[types.ModuleType] = []
        self.substituted: set[str] = set()
        self._originals: dict[str, object] = {}
        self._proxies: dict[str, object] = {}
        self._portable_modules: dict[int, dict] = {}
        self.backlog: collections.deque[tuple[dict, list[bytes]]] = collections.deque()

    # ---------------------------------------------------------------- messaging

    def send(self, header: dict, blobs: list[bytes] = ()) -> None:
        self.channel.send(header, blobs)

    def rpc(self, header: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        """Ask the grading process something while a call is in progress.

        The grading process may have sent further calls already (it sends ahead): those
        that arrive before the answer wait in :attr:`backlog`.
        """
        self.send(header, blobs)
        while True:
            reply, reply_blobs = self.channel.recv()
            if reply.get("op") not in ("call", "exit"):
                return reply, reply_blobs
            self.backlog.append((reply, reply_blobs))

    def decode(self, node, blobs):
        decoder = protocol.Decoder(
            blobs, device=self.device, on_callable=self.make_callback, on_portable=self.build_portable
        )
        return decoder.decode(node)

    # ---------------------------------------------------------------- remote callables

    def make_callback(self, token):
        """A callable that runs a grading-process function (e.g. a step function)."""
        worker = self

        def callback(*args, **kwargs):
            value, blobs = protocol.encode_value((list(args), kwargs))
            reply, reply_blobs = worker.rpc({"op": "callback", "token": token, "value": value}, blobs)
            if reply["op"] == "callback_error":
                raise _rebuild_error(reply["error"])
            return worker.decode(reply["value"], reply_blobs)

        callback.__name__ = "step_fn"
        callback._grader_token = token
        return callback

    def build_portable(self, token, module: int, source: str | None, factory: str, arguments: list):
        """A grader callable rebuilt here from its module's source (see ``protocol.Portable``).

        A module's source comes with its first use only; it is executed once. Handed on
        to a replaced prerequisite, the rebuilt callable travels back as the original's token.
        """
        if source is not None and module not in self._portable_modules:
            namespace = types.ModuleType("_grader_portable")
            exec(compile(source, "<grader: portable callable>", "exec"), namespace.__dict__)  # noqa: S102 - the grader's code
            self._portable_modules[module] = namespace.__dict__
        built = self._portable_modules[module][factory](*arguments)
        built._grader_token = token
        return built

    @staticmethod
    def _callback_token(function):
        """Callbacks received from the grading process can be handed back to it."""
        return getattr(function, "_grader_token", None)

    def make_reference(self, name: str):
        """A stand-in for a prerequisite: computed by the grading process, differentiable."""
        worker = self

        def ask(args, kwargs, needs_grad: list[bool]):
            """The grading process's answer: (decoded value, handle for the backward pass)."""
            value, blobs = protocol.encode_value((list(args), kwargs), on_callable=worker._callback_token)
            reply, reply_blobs = worker.rpc(
                {"op": "reference", "function": name, "value": value, "needs_grad": needs_grad}, blobs
            )
            if reply["op"] == "reference_error":
                raise _rebuild_error(reply["error"])
            return worker.decode(reply["value"], reply_blobs), reply.get("handle")

        class RemoteReference(torch.autograd.Function):
            @staticmethod
            def forward(ctx, structure, meta, *tensors):
                out, ctx.handle = ask(*_unflatten(structure, tensors), meta["needs_grad"])
                ctx.inputs = len(tensors)
                meta["tuple"] = isinstance(out, tuple)
                return out if meta["tuple"] else (out,)

            @staticmethod
            def backward(ctx, *grad_outputs):
                if ctx.handle is None:
                    return (None,) * (ctx.inputs + 2)
                value, blobs = protocol.encode_value(list(grad_outputs))
                reply, reply_blobs = worker.rpc(
                    {"op": "reference_backward", "handle": ctx.handle, "value": value}, blobs
                )
                grads = worker.decode(reply["value"], reply_blobs)
                return (None, None, *grads)

        def reference(*args, **kwargs):
            structure, tensors = _flatten((list(args), kwargs))
            if not tensors:
                return ask(args, kwargs, [])[0]
            meta: dict = {"needs_grad": [t.requires_grad for t in tensors]}
            out = RemoteReference.apply(structure, meta, *tensors)
            return out if meta["tuple"] else out[0]

        reference.__name__ = name.rsplit(".", 1)[-1]
        reference.__qualname__ = reference.__name__
        return reference

    # ---------------------------------------------------------------- loading

    def load(self) -> dict:
        """Create the ``exercises`` package and import the requested modules."""
        package = types.ModuleType(PACKAGE)
        package.__path__ = [self.submission_dir]
        package.__package__ = PACKAGE
        spec = importlib.machinery.ModuleSpec(PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [self.submission_dir]
        package.__spec__ = spec
        sys.modules[PACKAGE] = package
        self.finder = _AliasFinder(set(self.modules))
        sys.meta_path.insert(0, self.finder)

        for module, functions in self.config.get("stand_ins", {}).items():
            self._install_stand_in(module, functions)

        report: dict = {}
        if self.config.get("notebook_cells") is not None:
            report = self._load_notebook(self.config["notebook_cells"])
        else:
            for module in self.config.get("import", []):
                self.send({"op": "importing", "module": module})
                report[module] = self._import_module(module)
                if not report[module]["ok"]:
                    # Later modules that import this one get the reference instead.
                    self._install_stand_in(module, self.config.get("functions", {}).get(module, []))
        self.use_substitutes(self.config.get("substitute", []))
        return report

    def _install_stand_in(self, module: str, functions: list[str]) -> None:
        stand_in = types.ModuleType(f"{PACKAGE}.{module}")
        stand_in.__package__ = PACKAGE
        for function in functions:
            setattr(stand_in, function, self.make_reference(f"{module}.{function}"))
        sys.modules[f"{PACKAGE}.{module}"] = stand_in
        setattr(sys.modules[PACKAGE], module, stand_in)

    def _import_module(self, module: str) -> dict:
        name = f"{PACKAGE}.{module}"
        try:
            loaded = importlib.import_module(name)
        except BaseException as error:  # noqa: BLE001 - student code may raise anything, SystemExit too
            sys.modules.pop(name, None)
            return {"ok": False, "error": _describe_error(error, self.submission_dir)}
        self.namespaces.append(loaded)
        return {"ok": True, "functions": _public_functions(loaded)}

    def _load_notebook(self, cells: list[dict]) -> dict:
        """Run the notebook's code cells in one namespace; every course module aliases it."""
        namespace = types.ModuleType(f"{PACKAGE}.__notebook__")
        namespace.__package__ = PACKAGE
        namespace.__file__ = os.path.join(self.submission_dir, "notebook.py")
        namespace.__dict__["__builtins__"] = _notebook_builtins()
        for module in self.modules:
            sys.modules[f"{PACKAGE}.{module}"] = namespace
            setattr(sys.modules[PACKAGE], module, namespace)
        run = _NotebookRun(
            namespace.__dict__,
            cell_seconds=float(self.config.get("cell_seconds", CELL_SECONDS)),
            notebook_seconds=float(self.config.get("notebook_seconds", NOTEBOOK_SECONDS)),
            definition_seconds=float(self.config.get("definition_seconds", DEFINITION_SECONDS)),
        )
        started = time.monotonic()
        cell_errors = run.run(cells, definitions_only=bool(self.config.get("notebook_definitions_only")))
        seconds = round(time.monotonic() - started, 3)
        self.namespaces.append(namespace)
        functions = _public_functions(namespace)
        return {
            module: {"ok": True, "functions": functions, "cell_errors": cell_errors, "seconds": seconds}
            for module in self.modules
        }

    def use_substitutes(self, names: list[str]) -> None:
        """Replace exactly these prerequisites by the grading process's reference.

        Exercises of one module share a worker but not their prerequisites (softmax is
        graded as the student wrote it, attention with a correct softmax), so every call
        names its set: what is no longer wanted gets the student's function back.
        """
        wanted = {name for name in names if isinstance(name, str) and name.count(".") == 1}
        for qualified in sorted(self.substituted - wanted):
            self._rebind(qualified, self._proxies[qualified], self._originals[qualified])
        for qualified in sorted(wanted - self.substituted):
            module, function = qualified.split(".")
            target = sys.modules.get(f"{PACKAGE}.{module}")
            if target is None:
                continue
            if qualified not in self._proxies:
                self._originals[qualified] = target.__dict__.get(function)
                self._proxies[qualified] = self.make_reference(qualified)
            self._rebind(qualified, self._originals[qualified], self._proxies[qualified])
        self.substituted = {q for q in wanted if q in self._proxies}

    def _rebind(self, qualified: str, old: object, new: object) -> None:
        """``new`` wherever ``old`` is bound: the module's attribute and every alias of it."""
        module, function = qualified.split(".")
        target = sys.modules.get(f"{PACKAGE}.{module}")
        if target is not None:
            if new is None:
                target.__dict__.pop(function, None)
            else:
                setattr(target, function, new)
        if old is None or new is None:
            return
        for namespace in {id(ns): ns for ns in [*self.namespaces, *self.finder.submodules()]}.values():
            for key, value in list(namespace.__dict__.items()):
                if value is old:
                    namespace.__dict__[key] = new

    def resolve(self, qualified: str):
        module, function = qualified.split(".")
        target = sys.modules.get(f"{PACKAGE}.{module}")
        value = getattr(target, function, None) if target is not None else None
        return value if callable(value) else None

    # ---------------------------------------------------------------- serving

    def seed(self, value: int = 0) -> None:
        """Same random state before every call (torch.manual_seed costs ~150 us; this ~2)."""
        torch.default_generator.manual_seed(value)
        random.seed(value)
        if self.device.startswith("cuda"):
            torch.cuda.manual_seed(value)

    def serve(self) -> None:
        while True:
            try:
                header, blobs = self.backlog.popleft() if self.backlog else self.channel.recv()
            except EOFError:
                return
            if header["op"] == "call":
                self.handle_call(header, blobs)
            elif header["op"] == "exit":
                return

    def handle_call(self, header: dict, blobs: list[bytes]) -> None:
        if isinstance(header.get("substitute"), list):
            self.use_substitutes(header["substitute"])
        function = self.resolve(header["function"])
        if function is None:
            self.send({"op": "missing", "id": header["id"]})
            return
        args, kwargs = self.decode(header["value"], blobs)
        snapshot = _snapshot((args, kwargs))
        draws = header.get("draws")
        self.seed(header.get("global_seed", 0) if draws else 0)
        grads = None
        cotangents = None
        try:
            if header.get("grad"):
                result, grads, cotangents = _call_with_gradients(function, args, kwargs)
            elif draws:  # n calls, one reply: a generator among the arguments advances from draw to draw
                result = _stacked([function(*args, **kwargs) for _ in range(draws)])
            else:
                result = function(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - SystemExit from student code is an answer too
            fault = _device_fault(error)
            if fault:  # the device ran out of memory that was not the student's to use
                self.send({"op": "grader_fault", "id": header["id"], "error": fault})
                return
            self.send(
                {
                    "op": "raised",
                    "id": header["id"],
                    "error": _describe_error(error, self.submission_dir),
                    "mutated": _mutated(snapshot, (args, kwargs)),
                }
            )
            return
        if header.get("grad"):
            result = (result, grads, cotangents)
        try:
            value, out_blobs = protocol.encode_value(result)
        except BaseException as error:  # noqa: BLE001 - a tensor subclass may break encoding
            value, out_blobs = {"$unsupported": f"unencodable result ({type(error).__name__})"}, []
        self.send(
            {"op": "result", "id": header["id"], "value": value, "mutated": _mutated(snapshot, (args, kwargs))},
            out_blobs,
        )


STARTUP_FAILED = 70  # a worker's exit status when its own start-up failed (EX_SOFTWARE)


def worker_main(sock_fd: int, output_fd: int, request: dict) -> None:
    """Start up (the grader's part), say so, then load the submission and serve calls.

    Everything before ``started`` is the grader's responsibility: if it fails, the
    worker sends the traceback as ``startup_failed`` and exits with
    :data:`STARTUP_FAILED`, and the grading process reports a fault of its own instead
    of charging the student. Student code runs only after ``started``.
    """
    channel = None
    try:
        if request.get("cpus"):  # the CPU of the grading process that asked for it (see batch._pin)
            with contextlib.suppress(OSError, ValueError, TypeError):
                os.sched_setaffinity(0, request["cpus"])
        os.setsid()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        channel = protocol.Channel(socket.socket(fileno=sock_fd))
        header, _ = channel.recv()
        config = header["config"]
        _start_up(config)
        worker = Worker(channel, config)
        worker.send({"op": "started", "sandbox": _SANDBOX_FACTS})
    except BaseException:  # noqa: BLE001 - no student code has run: this is the grader's fault
        _report_startup_failure(channel)
        os._exit(STARTUP_FAILED)
    report = worker.load()
    worker.send({"op": "loaded", "modules": report, "sandbox": _SANDBOX_FACTS})
    worker.serve()


def _report_startup_failure(channel: protocol.Channel | None) -> None:
    """Tell the grading process why this worker could not start (and print it for the log)."""
    text = traceback.format_exc(limit=8)
    with contextlib.suppress(BaseException):
        print(text, file=sys.__stderr__ or sys.stderr, flush=True)
    if channel is not None:
        last = text.strip().splitlines()[-1] if text.strip() else "unknown error"
        with contextlib.suppress(BaseException):
            channel.send({"op": "startup_failed", "error": last[:500], "traceback": text[-4000:]})


def _start_up(config: dict) -> None:
    """The grader's part of a worker's start, in this order: the device first (CUDA cannot
    start once Landlock confines the process), then the confinement itself."""
    _prepare_device(config)
    _confine(config)


# ============================================================================ devices


def _prepare_device(config: dict) -> None:
    """Everything a CUDA worker needs, done before confinement (CUDA cannot start under Landlock).

    The context, cuBLAS and cuDNN are initialised by running one small op of each; TF32 is
    off (it would cost ~1e-3 relative accuracy); the caching allocator is held to this
    worker's share of the device's memory (``device_memory_share``, a fraction of the total),
    so that one submission that grabs memory cannot starve the others graded beside it.
    """
    device = config.get("device", "cpu")
    if not device.startswith("cuda"):
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    index = torch.device(device).index or 0
    torch.cuda.set_device(index)
    total = torch.cuda.get_device_properties(index).total_memory
    share = device_memory_share(total, config.get("memory_bytes"), config.get("device_sharers", 1))
    torch.cuda.set_per_process_memory_fraction(share, index)
    _DEVICE_SHARE["bytes"] = int(share * total)
    _SANDBOX_FACTS["device_memory"] = f"{share * total / 2**30:.2f} GiB per worker ({share:.3g} of the device)"
    a = torch.ones(8, 8, device=device)
    (a @ a).sum().item()  # cuBLAS
    torch.nn.functional.conv2d(a[None, None], a[None, None, :2, :2]).sum().item()  # cuDNN
    _SANDBOX_FACTS["cuda_initialised_before_confinement"] = True


_DEVICE_SHARE: dict[str, int] = {}  # this worker's share of device memory, in bytes, once set


def device_memory_share(total: int, memory_bytes: int | None, sharers: int) -> float:
    """The fraction of the device's memory one worker may hold: the per-worker memory limit
    (as on the CPU), and never more than 90% of the device split among the workers that may
    be alive on it at once (so that their shares never add up to more than the device)."""
    fair = 0.9 / max(1, int(sharers or 1))
    if memory_bytes:
        fair = min(fair, memory_bytes / total)
    return max(fair, 1e-4)


_ALLOCATION = re.compile(r"Tried to allocate ([0-9.]+) (B|KiB|MiB|GiB|TiB)")
_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def _device_fault(error: BaseException) -> str:
    """Why a CUDA out-of-memory in student code is the grader's fault ("" when it is not).

    The student is charged only when their own memory in use, plus what they asked for,
    exceeds their share; otherwise the device was short for reasons outside this worker.
    """
    out_of_memory = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if out_of_memory is None or not isinstance(error, out_of_memory) or "bytes" not in _DEVICE_SHARE:
        return ""
    try:
        found = _ALLOCATION.search(str(error))
        requested = int(float(found.group(1)) * _UNITS[found.group(2)]) if found else 0
        in_use = torch.cuda.memory_reserved()
    except BaseException:  # noqa: BLE001 - a broken CUDA state: the student's call caused it
        return ""
    if device_oom_is_the_students(in_use, requested, _DEVICE_SHARE["bytes"]):
        return ""
    return (
        f"the GPU ran out of memory although this worker held {in_use / 2**20:.0f} MiB and asked for "
        f"{requested / 2**20:.0f} MiB, within its share of {_DEVICE_SHARE['bytes'] / 2**20:.0f} MiB "
        "(another process is using the device's memory)"
    )


def device_oom_is_the_students(in_use: int, requested: int, share_bytes: int) -> bool:
    """Is a CUDA out-of-memory the student's own? Yes if their memory in use plus what they
    asked for exceeds their share; otherwise the device ran out for reasons of its own (other
    processes), which is the grader's problem."""
    return in_use + requested > share_bytes


# ============================================================================ confinement

_SANDBOX_FACTS: dict = {}


def _confine(config: dict) -> None:
    """Limit what the student's code can reach. Each layer is best effort and reported."""
    sys.dont_write_bytecode = True
    os.environ["TMPDIR"] = os.environ["HOME"] = config["scratch_dir"]
    os.chdir(config["scratch_dir"])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    file_limit = config.get("file_bytes", 64 * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))
    on_cpu = not config.get("device", "cpu").startswith("cuda")
    memory = config.get("memory_bytes")
    if memory and on_cpu:
        baseline = _virtual_memory_bytes()
        limit = baseline + memory
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            _SANDBOX_FACTS["memory_limit"] = True
    elif not on_cpu:  # relaxed for CUDA, and said so
        _SANDBOX_FACTS["memory_limit"] = "no address-space limit on CUDA (the driver maps huge ranges)"
    _SANDBOX_FACTS["network"] = _unshare_network() if on_cpu else "kept (the CUDA driver may need it)"
    own = [f"/proc/{os.getpid()}", config["submission_dir"]]  # what only this worker knows
    try:
        _SANDBOX_FACTS["landlock"] = landlock.confine(
            readable=[*config.get("readable_paths", []), *own],
            writable=[*config.get("writable_paths", []), config["scratch_dir"]],
        )
        if not on_cpu:
            _SANDBOX_FACTS["landlock"] += "; relaxed for CUDA: " + ", ".join(landlock.CUDA_READABLE) + " readable, /dev writable"
    except Exception as error:  # noqa: BLE001 - an older kernel: fall back to the import blocker
        _SANDBOX_FACTS["landlock"] = f"unavailable ({error}): the worker can read what this user can"
    for name in _GRADER_MODULES:
        sys.modules.pop(name, None)
    sys.meta_path.insert(0, _Blocker())
    sys.path[:] = [p for p in sys.path if os.path.abspath(p) != os.path.dirname(os.path.abspath(__file__))]
    torch.set_num_threads(1)


def _unshare_network() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        clone_newuser, clone_newnet = 0x10000000, 0x40000000
        return libc.unshare(clone_newuser | clone_newnet) == 0
    except Exception:  # noqa: BLE001
        return False


def _virtual_memory_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuses to import the reference solutions or the grader inside a worker."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in BLOCKED_PACKAGES:
            raise ImportError(f"'{fullname}' is not available to submissions")
        return None


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Lets ``import attention`` mean the submission's ``exercises.attention``; notes the
    submission's modules as they are imported."""

    def __init__(self, modules: set[str]) -> None:
        self.modules = modules
        self.seen: dict[str, None] = {}

    def submodules(self) -> list[types.ModuleType]:
        """The submission's modules imported so far (``exercises.*``)."""
        found = (sys.modules.get(name) for name in self.seen)
        return [module for module in found if isinstance(module, types.ModuleType)]

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(PACKAGE + "."):
            self.seen[fullname] = None
        if fullname in self.modules:
            return importlib.util.spec_from_loader(fullname, _AliasLoader())
        return None


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return importlib.import_module(f"{PACKAGE}.{spec.name}")

    def exec_module(self, module):
        return None


@contextlib.contextmanager
def _alarm(seconds: float, message: str):
    """Interrupt a runaway notebook cell (a soft limit; the grading process has the hard one).

    Raises :class:`CellTimeout`, a BaseException that ``except Exception`` in the cell
    does not swallow, and again every half second until the cell gives up.
    """

    def interrupt(signum, frame):
        raise CellTimeout(message)

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001), 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ============================================================================ notebooks

NOTEBOOK_SECONDS = 10.0  # all cells of a notebook together (the grading process allows 20 s to load)
CELL_SECONDS = 10.0  # one cell
DEFINITION_SECONDS = 2.0  # definitions run outside their cell's ordinary flow, all together
ONE_DEFINITION_SECONDS = 1.0  # one such definition
MAX_NOTES_PER_CELL = 3


class CellTimeout(BaseException):
    """A notebook cell ran out of time (not an Exception, so `except Exception` cannot hide it)."""


class _Statement:
    """One top-level statement of a cell, compiled on its own."""

    def __init__(self, cell: int, position: int, node: ast.stmt, code: types.CodeType) -> None:
        self.cell = cell
        self.position = position
        self.code = code
        self.names = frozenset(_bound_names(node))
        self.is_definition = _is_definition(node)
        self.defines_callable = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))

    @property
    def order(self) -> tuple[int, int]:
        return (self.cell, self.position)


class _Failure:
    """A cell that did not compile, or one of its statements that raised or ran out of time."""

    def __init__(self, statement: _Statement | None, cell: int, exception: BaseException) -> None:
        self.statement = statement
        self.cell = cell
        self.error = _describe_cell_error(exception, cell)
        self.missing = _missing_name(exception)
        self.retryable = statement is not None and statement.is_definition and _is_order_problem(exception)
        self.resolved = False
        self.rest_skipped = False


class _NotebookRun:
    """Run a notebook's code cells in one namespace as "Run All" would, but robustly.

    - Cells run top to bottom, each statement on its own, so a later definition replaces
      an earlier one, exactly as in Jupyter.
    - When a statement fails, the rest of its cell is skipped (as in Jupyter) except the
      definitions in it (imports, functions, classes, assignments to names): a missing
      plotting library or a failing demo line must not cost the functions defined below.
    - Order does not matter for definitions: one that failed because it needs a name
      bound only further down (a ``NameError``, e.g. an annotation ``torch.Tensor`` with
      the imports cell last, or an ``ImportError`` from the notebook's own modules) runs
      again after all cells, until nothing changes. A name bound by a later cell keeps
      its later value, so the last definition still wins. The student is told, since
      "Restart & Run All" would fail there. Other statements are not run again: they
      are demos, training or plots, and running them twice could double their cost.
    - A cell may run ``cell_seconds``, all cells together ``notebook_seconds``; once that
      is spent, the remaining cells run only their definitions, which share a separate
      ``definition_seconds``. So a notebook full of training loops still loads well
      within the grading process's limit, and its functions are graded.
    Every failure is returned as ``{"cell": index, "error": {...}}``, explained.
    """

    def __init__(self, namespace: dict, cell_seconds: float, notebook_seconds: float, definition_seconds: float) -> None:
        self.namespace = namespace
        self.cell_seconds = cell_seconds
        self.notebook_seconds = notebook_seconds
        self.deadline = time.monotonic() + notebook_seconds
        self.definitions_left = definition_seconds
        self.future_flags = 0
        self.bound_at: dict[str, tuple[int, int]] = {}
        self.failures: list[_Failure] = []
        self.starved: list[int] = []  # cells that ran only their definitions, for lack of time
        self.unrun: list[int] = []  # cells of which not even every definition ran, for lack of time

    # ---------------------------------------------------------------- the passes

    def run(self, cells: list[dict], definitions_only: bool = False) -> list[dict]:
        """Run the cells; with ``definitions_only``, just their imports and definitions
        (the grader's choice for a slow notebook, once its first full run is reported)."""
        if definitions_only:
            self.definitions_left = max(self.definitions_left, self.notebook_seconds / 2)
        for cell in cells:
            statements = self._compile(cell)
            if statements is None:
                continue
            if definitions_only:
                self._run_definitions(statements)
            else:
                self._run_cell(cell["index"], statements)
        self._retry_order_problems()
        return self._explained()

    def _run_cell(self, index: int, statements: list[_Statement]) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            if self._run_definitions(statements) and index not in self.unrun:
                self.starved.append(index)
            return
        seconds = min(self.cell_seconds, remaining)
        if seconds < self.cell_seconds:
            message = (
                f"stopped after {seconds:.1f} s: the cells of a notebook may run {self.notebook_seconds:g} s "
                "in all, and the cells above used the rest"
            )
        else:
            message = f"this cell ran for more than {seconds:g} s and was stopped"
        failed = self._run_in_order(index, statements, seconds, message)
        if failed is not None and failed + 1 < len(statements):
            failure = self.failures[-1]
            failure.rest_skipped = self._run_definitions(statements[failed + 1 :]) > 0

    def _run_in_order(self, index: int, statements: list[_Statement], seconds: float, message: str) -> int | None:
        """Run the cell's statements under one alarm; the position of the failing one, if any."""
        current = 0
        try:
            with _alarm(seconds, message):
                for current, statement in enumerate(statements):
                    exec(statement.code, self.namespace)  # noqa: S102 - this is the point of the worker
                    self._bound(statement)
        except BaseException as error:  # noqa: BLE001 - student code may raise anything
            self.failures.append(_Failure(statements[current], index, error))
            return current
        return None

    def _run_definitions(self, statements: list[_Statement]) -> int:
        """Run only the definitions among ``statements``; how many other statements were skipped."""
        skipped = 0
        for statement in statements:
            if not statement.is_definition:
                skipped += 1
            elif self.definitions_left <= 0:
                if statement.cell not in self.unrun:
                    self.unrun.append(statement.cell)
            else:
                error = self._run_definition(statement)
                if error is not None:
                    self.failures.append(_Failure(statement, statement.cell, error))
        return skipped

    def _run_definition(self, statement: _Statement) -> BaseException | None:
        """Run one definition, charged to the definitions' budget; the error it raised, if any."""
        seconds = min(ONE_DEFINITION_SECONDS, self.definitions_left)
        started = time.monotonic()
        try:
            with _alarm(seconds, f"this definition took more than {seconds:.1f} s and was stopped"):
                exec(statement.code, self.namespace)  # noqa: S102
        except BaseException as error:  # noqa: BLE001
            return error
        finally:
            self.definitions_left -= time.monotonic() - started
        self._bound(statement)
        return None

    def _retry_order_problems(self) -> None:
        """Run again the definitions that needed a name bound further down, until nothing changes."""
        progress = True
        while progress:
            progress = False
            for failure in [f for f in self.failures if f.retryable and not f.resolved]:
                if self.definitions_left <= 0:
                    return
                statement = failure.statement
                later = {
                    name: self.namespace[name]
                    for name in statement.names
                    if self.bound_at.get(name, (0, 0)) > statement.order and name in self.namespace
                }
                error = self._run_definition(statement)
                self.namespace.update(later)  # the later definition wins
                if error is None:
                    failure.resolved = progress = True
                elif not _is_order_problem(error):
                    failure.retryable = False
                    failure.error = _describe_cell_error(error, failure.cell)

    # ---------------------------------------------------------------- compiling

    def _compile(self, cell: dict) -> list[_Statement] | None:
        """The cell's statements, each compiled alone; None (and a failure) if it does not compile."""
        index = cell["index"]
        filename = f"<cell {index}>"
        try:
            tree = self._parse(cell, filename)
            statements = []
            for position, node in enumerate(tree.body):
                if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                    for alias in node.names:  # like IPython, a future import holds for later cells too
                        self.future_flags |= getattr(getattr(__future__, alias.name, None), "compiler_flag", 0)
                module = ast.Module(body=[node], type_ignores=[])
                code = compile(module, filename, "exec", flags=self.future_flags, dont_inherit=True)
                statements.append(_Statement(index, position, node, code))
            return statements
        except BaseException as error:  # noqa: BLE001 - SyntaxError, or a parser out of memory
            self.failures.append(_Failure(None, index, error))
            return None

    def _parse(self, cell: dict, filename: str) -> ast.Module:
        """The cell's syntax tree, checked by compiling the cell whole (as Jupyter does).

        If rewriting IPython syntax broke valid Python (a rare continued line starting
        with ``%name``), the cell's original text is used instead.
        """
        try:
            return self._checked_tree(cell["source"], filename)
        except SyntaxError as rewritten_error:
            original = cell.get("original")
            if isinstance(original, str):
                with contextlib.suppress(SyntaxError):
                    return self._checked_tree(original, filename)
            raise rewritten_error from None

    def _checked_tree(self, source: str, filename: str) -> ast.Module:
        compile(source, filename, "exec", flags=self.future_flags, dont_inherit=True)
        return ast.parse(source, filename)

    def _bound(self, statement: _Statement) -> None:
        for name in statement.names:
            self.bound_at[name] = max(self.bound_at.get(name, (0, 0)), statement.order)

    # ---------------------------------------------------------------- explanations

    def _explained(self) -> list[dict]:
        """The failures worth telling: each cell's first, and any that cost a function or class."""
        entries = []
        told: dict[int, int] = {}
        for failure in self.failures:
            costly = failure.statement is not None and failure.statement.defines_callable and not failure.resolved
            if failure.cell in told and not (costly or failure.resolved):
                continue
            if told.get(failure.cell, 0) >= MAX_NOTES_PER_CELL:
                continue
            told[failure.cell] = told.get(failure.cell, 0) + 1
            entries.append({"cell": failure.cell, "error": self._explain(failure)})
        if self.starved or self.unrun:
            entries.append({"cell": min(self.starved + self.unrun), "error": self._explain_lack_of_time()})
        return sorted(entries, key=lambda entry: entry["cell"])

    def _explain(self, failure: _Failure) -> dict:
        error = dict(failure.error)
        message = error.get("message", "")
        bound = self.bound_at.get(failure.missing or "")
        below = bound is not None and bound[0] > failure.cell
        if failure.resolved:
            found = f"'{failure.missing}' is defined further down, in cell {bound[0]}" if below else "it is defined further down"
            message += f"; {found}"
            message += ", so this cell's definitions were run again after all the cells"
            if below:
                message += f"; 'Restart & Run All' would fail here: move cell {bound[0]} above cell {failure.cell}"
        elif below:
            message += f"; '{failure.missing}' is only defined further down, in cell {bound[0]}: run the cells in order"
        elif "is not available to submissions" in message:
            message += "; graded code cannot use the grader itself (keep check(...) in a cell of its own)"
        elif error.get("type") == "ModuleNotFoundError":
            message += (
                "; that package is not installed where notebooks are graded "
                "(keep plotting and other extras out of the cells that define your functions)"
            )
        if failure.rest_skipped:
            message += "; the rest of the cell was skipped, except its imports and definitions"
        error["message"] = message
        return error

    def _explain_lack_of_time(self) -> dict:
        parts = [f"the cells of a notebook may run {self.notebook_seconds:g} s in all, and the cells above used them up"]
        if self.starved:
            their = "its" if len(self.starved) == 1 else "their"
            parts.append(f"{_cells(self.starved)} ran only {their} imports and definitions")
        if self.unrun:
            their = "its" if len(self.unrun) == 1 else "their"
            parts.append(f"{_cells(self.unrun)} did not run (not even {their} definitions)")
        return {
            "type": "TimeoutError",
            "bases": ["builtins.TimeoutError"],
            "message": "; ".join(parts) + "; keep long training and plotting out of the notebook you hand in",
            "where": "",
            "raised_in_submission": True,
        }


def _cells(indices: list[int]) -> str:
    """``cell 4`` or ``cells 4, 5 and 9``."""
    if len(indices) == 1:
        return f"cell {indices[0]}"
    shown = [str(i) for i in indices[:8]] + (["more"] if len(indices) > 8 else [])
    return f"cells {', '.join(shown[:-1])} and {shown[-1]}"


def _describe_cell_error(error: BaseException, cell: int) -> dict:
    """``_describe_error`` for a cell; a cell's timeout reads as a TimeoutError."""
    described = _describe_error(error, f"<cell {cell}>")
    if isinstance(error, CellTimeout):
        described["type"] = "TimeoutError"
    return described


def _is_definition(node: ast.stmt) -> bool:
    """Imports, functions, classes, assignments to plain names, and blocks made only of those."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)  # a docstring
    if isinstance(node, ast.Assign):
        return all(_only_names(target) for target in node.targets)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name)
    if isinstance(node, (ast.If, ast.Try, *([ast.TryStar] if hasattr(ast, "TryStar") else []))):
        blocks = [node.body, node.orelse, getattr(node, "finalbody", [])]
        blocks += [handler.body for handler in getattr(node, "handlers", [])]
        return all(_is_definition(child) for block in blocks for child in block)
    return False


def _only_names(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, (ast.Tuple, ast.List)) and all(_only_names(item) for item in target.elts)


def _bound_names(node: ast.stmt) -> list[str]:
    """The top-level names a statement binds (what "the last definition wins" is about)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Import):
        return [alias.asname or alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        return [alias.asname or alias.name for alias in node.names if alias.name != "*"]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)]
    if isinstance(node, (ast.If, ast.Try, *([ast.TryStar] if hasattr(ast, "TryStar") else []))):
        blocks = [node.body, node.orelse, getattr(node, "finalbody", [])]
        blocks += [handler.body for handler in getattr(node, "handlers", [])]
        return [name for block in blocks for child in block for name in _bound_names(child)]
    return []


def _missing_name(error: BaseException) -> str | None:
    """The name a NameError or an ``ImportError: cannot import name`` is about."""
    if not isinstance(error, (NameError, ImportError)):
        return None
    try:  # a hostile exception may raise from its attributes or its __str__
        name = getattr(error, "name", None) if isinstance(error, NameError) else None
        if isinstance(name, str):
            return name
        found = re.search(r"name '(\w+)'", str(error))
        return found.group(1) if found else None
    except BaseException:  # noqa: BLE001
        return None


def _is_order_problem(error: BaseException) -> bool:
    """Errors that running the statement later (after the cells below it) may cure."""
    return isinstance(error, NameError) or (
        isinstance(error, ImportError) and not isinstance(error, ModuleNotFoundError)
    )


def _notebook_builtins() -> dict:
    """Python's builtins plus the two IPython names notebooks call without importing."""
    names = dict(builtins.__dict__)
    names["display"] = lambda *objects, **options: None
    names["get_ipython"] = lambda: _IPythonStandIn()
    return names


class _IPythonStandIn:
    """``get_ipython()`` outside IPython: every method does nothing (magics are not run)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


# ============================================================================ helpers


def _public_functions(module: types.ModuleType) -> list[str]:
    return sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))


def _flatten(tree):
    """Split a value tree into a structure with placeholders and its list of tensors."""
    tensors: list[torch.Tensor] = []

    def walk(node):
        if isinstance(node, torch.Tensor):
            tensors.append(node)
            return ("$t", len(tensors) - 1)
        if isinstance(node, tuple):
            return ("$tuple", [walk(v) for v in node])
        if isinstance(node, list):
            return ("$list", [walk(v) for v in node])
        if isinstance(node, dict):
            return ("$dict", {k: walk(v) for k, v in node.items()})
        return ("$v", node)

    return walk(tree), tensors


def _unflatten(structure, tensors):
    kind, payload = structure
    if kind == "$t":
        return tensors[payload]
    if kind == "$tuple":
        return tuple(_unflatten(v, tensors) for v in payload)
    if kind == "$list":
        return [_unflatten(v, tensors) for v in payload]
    if kind == "$dict":
        return {k: _unflatten(v, tensors) for k, v in payload.items()}
    return payload


def _call_with_gradients(function, args, kwargs):
    """Run with every floating input requiring grad; return outputs, input grads, cotangents."""
    structure, tensors = _flatten((list(args), kwargs))
    leaves = [
        t.detach().clone().requires_grad_(True) if t.is_floating_point() else t for t in tensors
    ]
    new_args, new_kwargs = _unflatten(structure, leaves)
    result = function(*new_args, **new_kwargs)
    _, outputs = _flatten(result)
    differentiable = [o for o in outputs if o.is_floating_point() and o.requires_grad]
    generator = torch.Generator().manual_seed(1234)
    cotangents = [torch.randn(o.shape, generator=generator, dtype=torch.float64).to(o) for o in outputs]
    pairs = [(o, c) for o, c in zip(outputs, cotangents) if o.is_floating_point() and o.requires_grad]
    wanted = [leaf for leaf in leaves if leaf.requires_grad]
    grads: list = [None] * len(leaves)
    if pairs and wanted:
        computed = vjp([o for o, _ in pairs], wanted, [c for _, c in pairs])
        it = iter(computed)
        grads = [next(it) if leaf.requires_grad else None for leaf in leaves]
    info = {"differentiable_outputs": len(differentiable), "outputs": len(outputs)}
    return result, (grads, info), cotangents


def _stacked(draws: list):
    """The draws stacked along a new first dimension: tensors, or tuples or lists of tensors,
    of one shape, dtype and device each time; anything else is unsupported, saying why."""
    first = draws[0]
    if isinstance(first, torch.Tensor):
        for index, draw in enumerate(draws):
            if not isinstance(draw, torch.Tensor):
                return protocol.Unsupported(f"draws that do not stack (draw {index} is a {type(draw).__name__})")
            for name in ("shape", "dtype", "device"):
                if getattr(draw, name) != getattr(first, name):
                    mine, theirs = (str(list(t.shape) if name == "shape" else getattr(t, name)) for t in (first, draw))
                    return protocol.Unsupported(
                        f"draws that do not stack (draw 0 has {name} {mine[:60]}, draw {index} {theirs[:60]})"
                    )
        return torch.stack([draw.detach() for draw in draws])
    if isinstance(first, (tuple, list)) and all(type(d) is type(first) and len(d) == len(first) for d in draws):
        parts = [_stacked([draw[i] for draw in draws]) for i in range(len(first))]
        unsupported = [part for part in parts if isinstance(part, protocol.Unsupported)]
        return unsupported[0] if unsupported else (tuple(parts) if isinstance(first, tuple) else parts)
    return protocol.Unsupported(f"draws that do not stack (a {type(first).__name__}, not tensors or tuples of them)")


def _snapshot(tree):
    _, tensors = _flatten(tree)
    return [(t, t.detach().clone(), t.shape) for t in tensors]


def _mutated(snapshot, tree) -> list[int]:
    changed = []
    for index, (tensor, copy, shape) in enumerate(snapshot):
        current = tensor.detach()
        if current.shape != shape or current.dtype != copy.dtype:
            changed.append(index)
            continue
        if torch.equal(current, copy):  # one op for the usual case; NaNs need the long way
            continue
        same = (current == copy) | (current != current) & (copy != copy)
        if not bool(same.all()):
            changed.append(index)
    return changed


def _describe_error(error: BaseException, where: str) -> dict:
    """What the student needs to know about an exception: type, message, their line."""
    cls = type(error)
    bases = [f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__]
    location = ""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        filename = frame.filename
        if filename.startswith(where) or filename.startswith("<cell"):
            location = f"{os.path.basename(filename)}, line {frame.lineno}, in {frame.name}"
            break
    raised_here = bool(frames) and (frames[-1].filename.startswith(where) or frames[-1].filename.startswith("<cell"))
    if isinstance(error, SyntaxError) and error.filename:
        location = f"{os.path.basename(error.filename)}, line {error.lineno}"
    try:
        message = error.msg if isinstance(error, SyntaxError) else str(error)
    except BaseException:  # noqa: BLE001 - a hostile __str__
        message = "<unprintable message>"
    return {
        "type": cls.__name__,
        "bases": bases,
        "message": message[:500],
        "where": location[:200],
        "raised_in_submission": raised_here,
    }


class RemoteError(Exception):
    """An error raised on the grading side of a callback, re-raised in the student's code."""


def _rebuild_error(error: dict) -> BaseException:
    kind = getattr(builtins, error.get("type", ""), None)
    message = error.get("message", "")
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except Exception:  # noqa: BLE001
            pass
    return RemoteError(message)


if __name__ == "__main__":
    zygote_main([int(fd) for fd in sys.argv[1:]])

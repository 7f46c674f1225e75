"""Wire format between the grading process and a sandboxed worker.

A message is a JSON header plus raw byte blobs (tensor storage). Nothing is ever
unpickled: the grading process rebuilds tensors from (dtype, shape, bytes) after
checking that the sizes agree, and every other value is plain JSON. This module is
imported by the grading process as ``grader.sandbox.protocol`` and by the worker
script as the top-level module ``protocol``; it depends only on the standard
library and torch.

Frame layout: ``!Q`` header length, the UTF-8 JSON header, then the blobs whose
lengths the header lists under ``"blobs"``.
"""

from __future__ import annotations

import json
import math
import select
import struct
import time
from typing import Any, Callable

import torch

MAX_HEADER_BYTES = 4 * 1024 * 1024
MAX_MESSAGE_BYTES = 512 * 1024 * 1024
MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_META_ELEMENTS = 2**40  # a meta tensor carries no values, but its shape must stay sane

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
    "uint8": torch.uint8,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
ITEMSIZES = {dtype: torch.empty((), dtype=dtype).element_size() for dtype in DTYPES.values()}


class ProtocolError(Exception):
    """A message that does not follow the wire format (truncated, oversized, malformed)."""


class Unsupported:
    """Stands for a value of a type the wire format does not carry (e.g. a NumPy array)."""

    def __init__(self, type_name: str, summary: str = "") -> None:
        self.type_name = type_name
        self.summary = summary

    def __repr__(self) -> str:
        return f"<{self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unsupported) and other.type_name == self.type_name


class TensorInfo:
    """Facts about a tensor as it was on the other side, beyond its values."""

    __slots__ = ("device", "requires_grad", "has_grad_fn")

    def __init__(self, device: str, requires_grad: bool, has_grad_fn: bool) -> None:
        self.device = device
        self.requires_grad = requires_grad
        self.has_grad_fn = has_grad_fn


class Portable:
    """How the worker can rebuild a grader callable and run it itself, without calling back.

    A callable argument whose class defines ``sandbox_portable() -> Portable`` is sent as
    the source of a self-contained module (standard library and torch only), the name of
    a factory in it and the factory's arguments. The worker executes that module in its
    own namespace and calls the result locally: a step function consulted a few hundred
    times per submission then costs no round trips. The grading process keeps its own
    object (for computing expectations), so nothing the worker does to its copy matters.
    Code only ever travels to a worker: the grading process refuses a portable node, and
    never executes anything it receives.
    """

    __slots__ = ("source", "factory", "arguments")

    def __init__(self, source: str, factory: str, arguments: list) -> None:
        self.source = source
        self.factory = factory
        self.arguments = arguments


# ---------------------------------------------------------------------------- encoding


class Encoder:
    """Turns a value tree into a JSON-able tree plus a list of blobs.

    ``on_callable`` maps a Python callable to a JSON-able token (used by the grading
    process to hand step functions to the worker as callbacks); without it,
    callables are encoded as unsupported values. With ``portable``, callables that
    can be rebuilt in the worker (:class:`Portable`) are sent as code (grading process
    to worker only).
    """

    def __init__(self, on_callable: Callable[[Any], Any] | None = None, portable: bool | dict[str, int] = False) -> None:
        self.blobs: list[bytes] = []
        self.on_callable = on_callable
        self.portable = portable is not False
        # Source -> module number, for the modules the receiver has already been sent.
        self.sources: dict[str, int] = portable if isinstance(portable, dict) else {}

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return {"$unsupported": "nested too deeply", "summary": ""}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value if abs(value) < 2**63 else {"$unsupported": "int (too large)", "summary": ""}
        if isinstance(value, float):
            return {"$float": repr(value)} if not math.isfinite(value) else value
        if isinstance(value, torch.Tensor):
            return self._tensor(value)
        if isinstance(value, torch.dtype):
            return {"$dtype": DTYPE_NAMES.get(value, str(value))}
        if isinstance(value, torch.device):
            return {"$device": str(value)}
        if isinstance(value, torch.Generator):
            return {"$generator": fresh_seed(value)}
        if isinstance(value, Unsupported):  # what the sender itself could not make sense of, saying why
            return {"$unsupported": value.type_name, "summary": value.summary}
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, depth + 1) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"$dict": [[k, self.encode(v, depth + 1)] for k, v in value.items()]}
        if callable(value) and self.on_callable is not None:
            token = self.on_callable(value)
            portable = getattr(type(value), "sandbox_portable", None) if self.portable else None
            if portable is None:
                return {"$callable": token}
            spec = portable(value)
            node = {
                "$portable": token,
                "module": self.sources.get(spec.source, len(self.sources)),
                "factory": spec.factory,
                "arguments": self.encode(list(spec.arguments), depth + 1),
            }
            if spec.source not in self.sources:
                node["source"] = spec.source
                self.sources[spec.source] = node["module"]
            return node
        return {"$unsupported": _type_name(value), "summary": _safe_summary(value)}

    def _tensor(self, tensor: torch.Tensor) -> Any:
        if tensor.dtype not in DTYPE_NAMES or tensor.layout != torch.strided:
            return {"$unsupported": f"torch.Tensor ({tensor.dtype}, {tensor.layout})", "summary": ""}
        # A meta tensor has a shape and a dtype but no values: it travels without them.
        self.blobs.append(b"" if tensor.device.type == "meta" else tensor_bytes(tensor))
        return {
            "$tensor": len(self.blobs) - 1,
            "dtype": DTYPE_NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "device": str(tensor.device),
            "requires_grad": bool(tensor.requires_grad),
            "grad_fn": tensor.grad_fn is not None,
        }


def fresh_seed(generator: torch.Generator) -> int:
    """The seed of a generator that has not drawn yet: what travels, so that the receiver
    seeds one of its own on its device (a generator's state cannot cross devices)."""
    seed = generator.initial_seed()
    if generator.device.type == "cpu" and not torch.equal(
        generator.get_state(), torch.Generator().manual_seed(seed).get_state()
    ):
        raise ValueError("only a freshly seeded torch.Generator can be passed to a student's function")
    return seed


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The values of a strided tensor of a known dtype, row-major, as raw bytes (on the CPU)."""
    data = tensor.detach()
    if data.is_conj():
        data = data.resolve_conj()
    if data.is_neg():
        data = data.resolve_neg()
    if data.device.type != "cpu":
        data = data.to("cpu")
    data = data.contiguous()
    return (data.view(torch.int16) if data.dtype == torch.bfloat16 else data).numpy().tobytes()


def tensor_from_bytes(raw: bytes, dtype: torch.dtype, shape: list[int] | tuple[int, ...]) -> torch.Tensor:
    """A new CPU tensor from :func:`tensor_bytes` (whose size the caller has checked)."""
    if not raw:
        return torch.empty(shape, dtype=dtype)
    storage = torch.int16 if dtype == torch.bfloat16 else dtype
    return torch.frombuffer(bytearray(raw), dtype=storage).view(dtype).reshape(shape)


def _type_name(value: Any) -> str:
    cls = type(value)
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", cls.__name__)
    return name if module in ("builtins", "") else f"{module}.{name}"


def _safe_summary(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(s, int) for s in shape):
        return f"shape {list(shape)}"
    return ""


# ---------------------------------------------------------------------------- decoding


class Decoder:
    """Rebuilds a value tree from JSON and blobs, validating every tensor.

    ``device`` places tensors (None keeps them on the CPU); ``on_callable`` turns a
    callable token back into a callable (the worker's side of callbacks), and
    ``on_portable(token, module, source, factory, arguments)`` rebuilds a :class:`Portable` one
    (``source`` is None when module number ``module`` was sent before)
    (the worker's side only: elsewhere a portable node is refused).
    ``keep_info`` records a :class:`TensorInfo` per decoded tensor, keyed by id().
    """

    def __init__(
        self,
        blobs: list[bytes],
        device: str | None = None,
        on_callable: Callable[[Any], Any] | None = None,
        keep_info: bool = False,
        on_portable: Callable[[Any, int, str | None, str, list], Any] | None = None,
    ) -> None:
        self.blobs = blobs
        self.device = device
        self.on_callable = on_callable
        self.on_portable = on_portable
        self.infos: dict[int, TensorInfo] | None = {} if keep_info else None
        self.items = 0

    def decode(self, node: Any, depth: int = 0) -> Any:
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise ProtocolError("value nested too deeply or too large")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v, depth + 1) for v in node]
        if not isinstance(node, dict) or len(node) == 0:
            raise ProtocolError(f"unexpected node {type(node).__name__}")
        if "$tensor" in node:
            return self._tensor(node)
        if "$tuple" in node:
            return tuple(self.decode(v, depth + 1) for v in _as_list(node["$tuple"]))
        if "$dict" in node:
            out = {}
            for pair in _as_list(node["$dict"]):
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise ProtocolError("malformed dict entry")
                out[pair[0]] = self.decode(pair[1], depth + 1)
            return out
        if "$float" in node:
            text = node["$float"]
            if text not in ("nan", "inf", "-inf"):
                raise ProtocolError("malformed float")
            return float(text)
        if "$dtype" in node:
            name = node["$dtype"]
            if name not in DTYPES:
                return Unsupported(f"torch.dtype {str(name)[:40]}")
            return DTYPES[name]
        if "$device" in node:
            return torch.device(_checked_device(node["$device"]))
        if "$generator" in node:
            seed = node["$generator"]
            if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
                raise ProtocolError("malformed generator")
            return torch.Generator(device=self.device or "cpu").manual_seed(seed)
        if "$callable" in node:
            if self.on_callable is None:
                return Unsupported("callable")
            return self.on_callable(node["$callable"])
        if "$portable" in node:
            if self.on_portable is None:
                raise ProtocolError("portable code is only ever sent to a worker")
            module, source, factory = node.get("module"), node.get("source"), node.get("factory")
            if not isinstance(module, int) or not isinstance(source, (str, type(None))) or not isinstance(factory, str):
                raise ProtocolError("malformed portable callable")
            arguments = self.decode(node.get("arguments"), depth + 1)
            if not isinstance(arguments, list):
                raise ProtocolError("malformed portable callable")
            return self.on_portable(node["$portable"], module, source, factory, arguments)
        if "$unsupported" in node:
            return Unsupported(str(node["$unsupported"])[:200], str(node.get("summary", ""))[:200])
        raise ProtocolError("unknown node")

    def _tensor(self, node: dict) -> torch.Tensor:
        index, dtype_name, shape = node.get("$tensor"), node.get("dtype"), node.get("shape")
        if not isinstance(index, int) or not 0 <= index < len(self.blobs):
            raise ProtocolError("tensor refers to a missing blob")
        if dtype_name not in DTYPES:
            raise ProtocolError("tensor of an unknown dtype")
        if not isinstance(shape, list) or len(shape) > 16 or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s for s in shape
        ):
            raise ProtocolError("malformed tensor shape")
        dtype = DTYPES[dtype_name]
        numel = math.prod(shape)
        itemsize = ITEMSIZES[dtype]
        raw = self.blobs[index]
        if node.get("device") == "meta":  # no values: a meta tensor here too
            if raw or numel > MAX_META_ELEMENTS:
                raise ProtocolError("malformed meta tensor")
            tensor = torch.empty(shape, dtype=dtype, device="meta")
        elif numel * itemsize != len(raw):
            raise ProtocolError("tensor size does not match its data")
        else:
            tensor = tensor_from_bytes(raw, dtype, shape)
            if self.device is not None and self.device != "cpu":
                tensor = tensor.to(self.device)
        if self.infos is not None:
            self.infos[id(tensor)] = TensorInfo(
                device=_checked_device(node.get("device", "cpu")),
                requires_grad=bool(node.get("requires_grad", False)),
                has_grad_fn=bool(node.get("grad_fn", False)),
            )
        return tensor


def _as_list(node: Any) -> list:
    if not isinstance(node, list):
        raise ProtocolError("expected a list")
    return node


def _checked_device(text: Any) -> str:
    if not isinstance(text, str) or len(text) > 32:
        raise ProtocolError("malformed device")
    kind = text.split(":", 1)[0]
    if kind not in ("cpu", "cuda", "mps", "meta", "xpu"):
        raise ProtocolError("unknown device")
    return text


# ---------------------------------------------------------------------------- framing


def pack(header: dict, blobs: list[bytes]) -> bytes:
    header = dict(header, blobs=[len(b) for b in blobs])
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return b"".join([struct.pack("!Q", len(head)), head, *blobs])


def send(sock, header: dict, blobs: list[bytes] = ()) -> None:
    sock.sendall(pack(header, list(blobs)))


def recv(sock) -> tuple[dict, list[bytes]]:
    """Read exactly one frame from ``sock`` (nothing beyond it); see :meth:`Channel.recv`."""
    return Channel(sock, chunk=0).recv()


class Channel:
    """One end of a connection, reading ahead: a frame usually arrives in a single ``recv``.

    A round trip costs a few system calls per side instead of one per part of the frame
    (length, header, every blob), which matters at a thousand calls per submission.
    ``chunk=0`` reads exactly what a frame needs and never past it.
    """

    def __init__(self, sock, chunk: int = 1 << 16) -> None:
        self.sock = sock
        self.chunk = chunk
        self._buffer = bytearray()
        self._scratch = memoryview(bytearray(max(chunk, 1)))
        self._poll = None

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, header: dict, blobs: list[bytes] = ()) -> None:
        send(self.sock, header, blobs)

    def recv(self, deadline: float | None = None) -> tuple[dict, list[bytes]]:
        """The next frame. EOFError when the peer is gone, ProtocolError when it lies,
        TimeoutError when ``deadline`` (``time.monotonic()``) passes first."""
        self._fill(8, deadline)
        (head_len,) = struct.unpack_from("!Q", self._buffer)
        if head_len > MAX_HEADER_BYTES:
            raise ProtocolError("header too large")
        self._fill(8 + head_len, deadline)
        try:
            header = json.loads(self._buffer[8 : 8 + head_len])
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise ProtocolError(f"header is not JSON: {error}") from None
        if not isinstance(header, dict):
            raise ProtocolError("header is not an object")
        sizes = header.get("blobs", [])
        if not isinstance(sizes, list) or not all(isinstance(s, int) and s >= 0 for s in sizes):
            raise ProtocolError("malformed blob list")
        if sum(sizes) > MAX_MESSAGE_BYTES:
            raise ProtocolError("message too large")
        end = 8 + head_len + sum(sizes)
        self._fill(end, deadline)
        blobs, start = [], 8 + head_len
        for size in sizes:
            blobs.append(bytes(self._buffer[start : start + size]))
            start += size
        del self._buffer[:end]
        return header, blobs

    def _fill(self, size: int, deadline: float | None) -> None:
        while len(self._buffer) < size:
            if deadline is not None:
                self._wait(deadline)
            wanted = size - len(self._buffer)
            if wanted <= len(self._scratch):
                received = self.sock.recv_into(self._scratch, max(wanted, self.chunk) if self.chunk else wanted)
                data = self._scratch[:received]
            else:
                data = self.sock.recv(wanted)
            if not data:
                raise EOFError("connection closed")
            self._buffer += data

    def _wait(self, deadline: float) -> None:
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(self.sock, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply before the deadline")
            if self._poll.poll(max(1, math.ceil(remaining * 1000))):
                return


def encode_value(
    value: Any, on_callable: Callable[[Any], Any] | None = None, portable: bool | dict[str, int] = False
) -> tuple[Any, list[bytes]]:
    encoder = Encoder(on_callable, portable)
    return encoder.encode(value), encoder.blobs

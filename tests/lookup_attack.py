"""A submission with no implementation: it looks its answers up in what a hand-out recorded.

A student hand-out ships the public checks' inputs and the reference's results on them
(``grader/recorded/reference.pkl``). This builds, from a real hand-out, the submission a
student trying to score without doing the work would write: every function binds its
arguments, hashes them (floating tensors in float64, so that a check that calls the
reference in float64 and the student in float32 still matches) and returns the recorded
result, cast back to the input's dtype; anything not recorded raises NotImplementedError.
"""

from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path

import torch

from grader.commands.release import RECORDED, REFERENCE_FILE

# The lookup every module of the submission carries (no grader import: workers refuse them).
LOOKUP = r'''
import hashlib, inspect, json, torch

_TABLE = json.loads(_TABLE_JSON)


def _key(name, value):
    digest = hashlib.sha256(name.encode())

    def feed(node):
        if isinstance(node, torch.Tensor):
            tensor = node.detach().cpu()
            if tensor.is_floating_point():
                tensor = tensor.double()
            digest.update(f"T{tuple(tensor.shape)}{tensor.is_floating_point()}".encode())
            digest.update(repr(tensor.reshape(-1).tolist()).encode())
        elif isinstance(node, (list, tuple)):
            digest.update(b"[")
            for item in node:
                feed(item)
            digest.update(b"]")
        elif isinstance(node, dict):
            for key in sorted(node):
                digest.update(str(key).encode())
                feed(node[key])
        elif isinstance(node, torch.dtype):
            digest.update(b"dtype")  # the student is called in float32, the reference in float64
        elif isinstance(node, float):
            digest.update(repr(round(node, 12)).encode())
        else:
            digest.update(repr(node).encode())

    feed(value)
    return digest.hexdigest()


def _decode(node, dtype):
    if isinstance(node, dict) and "tensor" in node:
        tensor = torch.tensor(node["tensor"], dtype=getattr(torch, node["dtype"])).reshape(node["shape"])
        return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor
    if isinstance(node, dict) and "tuple" in node:
        return tuple(_decode(item, dtype) for item in node["tuple"])
    if isinstance(node, list):
        return [_decode(item, dtype) for item in node]
    return node


def _answer(name, function, args, kwargs):
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    found = _TABLE.get(_key(name, arguments))
    if found is None:
        raise NotImplementedError(f"{name} is not implemented yet")
    floats = [v for v in arguments.values() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    return _decode(found, floats[0].dtype if floats else None)
'''

FUNCTION = '''

def {function}{signature}:
    return _answer("{name}", {function}, *_split(locals()))
'''

SPLIT = '''

def _split(arguments):
    return (), dict(arguments)
'''


def _encode(value):
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        dtype = str(tensor.dtype).replace("torch.", "")
        return {"tensor": tensor.reshape(-1).tolist(), "dtype": dtype, "shape": list(tensor.shape)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(item) for item in value]}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    raise TypeError(type(value).__name__)


def build(handout: Path, stubs: Path, target: Path, key) -> int:
    """Write the lookup submission into ``target``; returns how many answers it holds.

    ``key(name, arguments)`` must be the lookup's own ``_key`` (see :func:`key_function`).
    """
    table = pickle.loads((handout / "grader" / RECORDED / REFERENCE_FILE).read_bytes())
    by_module: dict[str, dict[str, object]] = {}
    for name, calls in table.items():
        if "(backward)" in name:
            continue
        for arguments, result in calls.values():
            try:
                by_module.setdefault(name.split(".")[0], {})[key(name, arguments)] = _encode(result)
            except TypeError:
                continue  # a callable among the arguments (decoding's step functions): nothing to look up
    target.mkdir(parents=True, exist_ok=True)
    answers = 0
    for stub in sorted(stubs.glob("*.py")):
        if stub.name.startswith("_"):
            continue
        module = stub.stem
        entries = by_module.get(module, {})
        answers += len(entries)
        source = stub.read_text()
        header = source.split("\ndef ", 1)[0]
        text = header + f"\n\n_TABLE_JSON = {json.dumps(json.dumps(entries))}\n" + LOOKUP + SPLIT
        for node in ast.parse(source).body:  # the stub's signatures
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                signature = f"({ast.unparse(node.args)})"
                text += FUNCTION.format(function=node.name, signature=signature, name=f"{module}.{node.name}")
        (target / stub.name).write_text(text)
    return answers


def key_function():
    """The lookup's ``_key``, as the submission computes it."""
    namespace: dict = {"_TABLE_JSON": "{}"}
    exec(LOOKUP, namespace)
    return namespace["_key"]

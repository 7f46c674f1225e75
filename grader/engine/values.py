"""Values the engine keeps: fast deep copies and pickles of what strategies draw (tensors as raw bytes)."""

from __future__ import annotations

import copy
import dataclasses
import io
import pickle
from typing import Any

import torch

from grader.sandbox.protocol import DTYPE_NAMES, DTYPES, tensor_bytes, tensor_from_bytes


def dumps(value: Any) -> bytes:
    """``pickle.dumps``, with CPU tensors as raw bytes: read back about 14x faster than torch's
    own reduction (which goes through ``torch.load`` once per tensor)."""
    buffer = io.BytesIO()
    _TensorPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


class _TensorPickler(pickle.Pickler):
    def reducer_override(self, value: Any) -> Any:
        if type(value) is not torch.Tensor or value.layout != torch.strided or value.device.type != "cpu":
            return NotImplemented
        if value.grad_fn is not None or value.dtype not in DTYPE_NAMES:
            return NotImplemented
        return _tensor_from_bytes, (tensor_bytes(value), DTYPE_NAMES[value.dtype], tuple(value.shape), value.requires_grad)


def _tensor_from_bytes(raw: bytes, dtype: str, shape: tuple[int, ...], requires_grad: bool) -> torch.Tensor:
    return tensor_from_bytes(raw, DTYPES[dtype], shape).requires_grad_(requires_grad)


def fresh_copy(value: Any) -> Any:
    """A deep copy, fast for what strategies draw (tensors, containers, dataclasses)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    if isinstance(value, (int, float, str, bool, type(None), torch.dtype)):
        return value
    if isinstance(value, dict):
        return {key: fresh_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [fresh_copy(item) for item in value]
    if type(value) is tuple:
        return tuple(fresh_copy(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        copied = copy.copy(value)
        for field in dataclasses.fields(value):
            object.__setattr__(copied, field.name, fresh_copy(getattr(value, field.name)))
        return copied
    return copy.deepcopy(value)

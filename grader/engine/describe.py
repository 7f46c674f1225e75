"""Short, readable renderings of check inputs for failure reports."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

MAX_SHOWN_ELEMENTS = 24


def describe(value: Any, width: int = 100) -> str:
    """One line (or a few) that lets a student rebuild ``value``."""
    if isinstance(value, torch.Tensor):
        return describe_tensor(value)
    if isinstance(value, torch.dtype):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = ", ".join(f"{f.name}={describe(getattr(value, f.name))}" for f in dataclasses.fields(value))
        return f"{type(value).__name__}({fields})"
    if isinstance(value, tuple):
        return "(" + ", ".join(describe(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, list) and len(value) <= MAX_SHOWN_ELEMENTS:
        return "[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def describe_tensor(tensor: torch.Tensor) -> str:
    dtype = str(tensor.dtype).replace("torch.", "")
    head = f"{dtype}{list(tensor.shape)}"
    data = tensor.detach().cpu()
    if data.numel() == 0:
        return head + " (empty)"
    if data.numel() <= MAX_SHOWN_ELEMENTS:
        return f"{head} {_nested(data)}"
    if data.dtype == torch.bool:
        return f"{head} ({int(data.sum())} of {data.numel()} True)"
    if data.is_floating_point():
        finite = data[torch.isfinite(data)].double()
        if finite.numel() == 0:
            return f"{head} (no finite values)"
        return f"{head} (values in [{finite.min():.4g}, {finite.max():.4g}], mean {finite.mean():.4g})"
    return f"{head} (values in [{int(data.min())}, {int(data.max())}])"


def _nested(data: torch.Tensor) -> str:
    if data.dim() == 0:
        return _scalar(data.item())
    return "[" + ", ".join(_nested(row) for row in data) + "]"


def _scalar(x: Any) -> str:
    if isinstance(x, bool):
        return "T" if x else "F"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)

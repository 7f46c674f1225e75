"""The device a grading run places inputs on, and the one to ask for where a function takes one."""

from __future__ import annotations

from typing import Any

from grader.sandbox.client import StudentRaised

_run = {"device": "cpu"}


def run_device() -> str:
    """The device this grading run places inputs on (``cpu`` or ``cuda:0``).

    Inputs built by strategies live on the CPU and are moved there by the sandbox;
    pass ``device=run_device()`` where a function takes a device argument.
    """
    return _run["device"]


def requested_device() -> str:
    """The device to pass where a function takes a ``device`` argument.

    On a GPU run, the run device. On the CPU, ``meta`` (tensors with a shape and a dtype
    but no values): a function that ignores its ``device`` argument and builds its result
    on the CPU is then caught without a GPU (the engine fails any result that is not on
    the requested device).
    """
    return "meta" if _run["device"] == "cpu" else _run["device"]


def set_run_device(device: str) -> None:
    _run["device"] = device


def call_on_requested_device(student: Any, *args: Any, **kwargs: Any) -> Any:
    """``student(*args, device=requested_device(), **kwargs)``; None when the call failed only
    because meta tensors hold no values (``.item()``, a copy to the CPU): a function that
    ignored ``device`` would have computed on the CPU and not met a meta tensor at all."""
    device = requested_device()
    try:
        return student(*args, device=device, **kwargs)
    except StudentRaised as raised:
        if device == "meta" and "meta" in raised.message.lower():
            return None
        raise

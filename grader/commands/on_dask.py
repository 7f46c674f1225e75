"""Run `grader batch` on a Dask cluster: ``--scheduler tcp://HOST:8786``.

Each submission travels to a Dask worker as bytes (no shared file system needed). A
Dask worker keeps one grader per process, created on first use, with its own clean
zygote, so the sandbox is exactly the one of a local run. Start the workers with
``--nthreads 1`` (one submission at a time per process) and as many processes as cores.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable

MAX_PAYLOAD_BYTES = 50 * 1024 * 1024
_state: dict[str, Any] = {}
_lock = threading.Lock()


def pack(path: Path) -> tuple[bytes, str]:
    """A submission as (bytes, suffix): a file as it is, a folder as a zip of its files."""
    if path.is_file():
        return path.read_bytes()[: MAX_PAYLOAD_BYTES + 1], path.suffix
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in path.rglob("*") if (p.is_file() or p.is_symlink()) and "__pycache__" not in p.parts):
            if not _reached_without_links(path, file.parent):
                continue
            name = file.relative_to(path).as_posix()
            if file.is_symlink():  # travels as a link, which the grader then refuses with a note, as locally
                link = zipfile.ZipInfo(name)
                link.create_system, link.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
                archive.writestr(link, os.readlink(file))
            else:
                archive.write(file, name)
    return buffer.getvalue(), ".zip"


def _reached_without_links(root: Path, file: Path) -> bool:
    """Is ``file`` reached from ``root`` without passing through a symbolic link?"""
    current = root
    for part in file.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            return False
    return True


def grade_remote(name: str, payload: bytes, suffix: str, device: str, limits: dict) -> dict:
    """Runs on a Dask worker: grade one submission, answer like a local pool process."""
    from grader.commands.batch import grade_one
    from grader.engine.runner import Grader
    from grader.sandbox.client import Limits

    with _lock:  # one submission at a time per worker process, whatever its thread count
        grader = _state.get((device, json.dumps(limits, sort_keys=True)))
        if grader is None:
            from grader.engine.course import load_course

            grader = Grader(load_course(), device=device, limits=Limits(**limits))
            _state[(device, json.dumps(limits, sort_keys=True))] = grader
        with tempfile.TemporaryDirectory(prefix="grader-dask-") as folder:
            target = Path(folder) / f"{name}{suffix}"
            target.write_bytes(payload)
            return grade_one(grader, target, name)


def run_on_dask(
    scheduler: str, tasks: list[dict], device: str, limits: dict, on_result: Callable[[dict, dict], None],
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Submit every task to the cluster and report results as they complete."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise RuntimeError("--scheduler needs Dask: pip install 'distributed'") from None
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as error:
        raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    try:
        futures = {}
        for task in tasks:
            payload, suffix = pack(Path(task["path"]))
            future = client.submit(grade_remote, task["name"], payload, suffix, device, limits, pure=False)
            futures[future] = task
        for future in as_completed(futures):
            if stop():  # the cluster cannot grade at all: leave the rest
                client.cancel([f for f in futures if not f.done()])
                break
            try:
                reply = future.result()
            except Exception as error:  # noqa: BLE001 - a lost worker, a cancelled task
                reply = {"error": f"the cluster failed to grade it: {type(error).__name__}: {error}"[:500]}
            on_result(futures[future], reply)
    finally:
        client.close()

"""What identifies a course: where its reference lives, its secret and its fingerprint.

The secret seeds the official examples (a hand-out, which has no reference, uses the public
draw); the fingerprint names everything a kept example or a cached grade depends on.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

import hypothesis
import torch

import grader
from grader import __version__


def reference_folders() -> list[Path]:
    """Where the reference solutions (the ``solutions`` package) live; none in a student hand-out."""
    try:
        import solutions
    except ImportError:
        return []
    return [Path(p).resolve() for p in solutions.__path__]


def course_secret() -> bytes | None:
    """What the official examples are drawn from: kept with the course, never in a hand-out.

    A digest of the reference solutions' sources (which no hand-out ships), and of
    ``$GRADER_SECRET`` where the instructor sets one (to draw anew without touching the
    reference, e.g. for a new term). None where the reference is absent (a hand-out),
    which then uses the public draw it recorded.
    """
    folders = reference_folders()
    if not folders:
        return None
    digest = hashlib.sha256(b"transformer-grader official examples\0")
    digest.update(os.environ.get("GRADER_SECRET", "").encode() + b"\0")
    for root in folders:
        for file in sorted(root.rglob("*.py")):
            digest.update(file.read_bytes())
    return digest.digest()


def course_fingerprint() -> str:
    """Changes whenever the grader, a check or a reference changes, or what draws and
    keeps the examples (hypothesis, torch, Python, the course's secret)."""
    versions = f"{__version__}|{hypothesis.__version__}|{torch.__version__}|{platform.python_version()}"
    digest = hashlib.sha256(versions.encode())
    digest.update(hashlib.sha256(course_secret() or b"").digest())
    # In a student hand-out there is no reference: its recorded results are inside grader/.
    for root in [Path(grader.__file__).parent, *reference_folders()]:
        for file in sorted(root.rglob("*.py")):
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]

"""Confine the current process with Linux Landlock (no privileges needed, kernel >= 5.13).

After :func:`confine`, the process (and anything it forks) can read everything but
the denied paths, write only below the writable paths and ``/dev``, open no TCP
connection (ABI >= 4) and send no signal outside its own sandbox (ABI >= 6).
Imported by the worker script as a top-level module; standard library only.
"""

from __future__ import annotations

import ctypes
import os
import platform

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def confine(deny: list[str], writable: list[str], readable: list[str] | None = None) -> str:
    """Apply the sandbox; returns a short description, raises OSError where unsupported.

    ``readable`` may give :func:`readable_roots` of ``deny``, computed once beforehand.
    """
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "aarch64"):
        raise OSError("Landlock needs Linux on x86-64 or arm64")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    if abi < 1:
        raise OSError(ctypes.get_errno(), "Landlock is not enabled in this kernel")
    handled = _fs_rights(abi)
    attr = RulesetAttr(handled, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                       (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        denied = [os.path.realpath(p) for p in deny]
        for path in readable if readable is not None else readable_roots(deny):
            _allow(libc, ruleset, path, READ_RIGHTS)
        for path in [*writable, "/dev"]:
            if os.path.exists(path) and not _is_denied(os.path.realpath(path), denied):
                _allow(libc, ruleset, path, handled)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS) failed")
        if libc.syscall(SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return f"abi {abi}"


def _is_denied(path: str, denied: list[str]) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in denied)


def readable_roots(deny: list[str]) -> list[str]:
    """The largest subtrees of ``/`` that contain none of the ``deny`` paths."""
    return _readable_roots("/", [os.path.realpath(p) for p in deny])


def _readable_roots(directory: str, denied: list[str]) -> list[str]:
    """The largest subtrees of ``directory`` that contain no denied path."""
    if not any(d.startswith(directory.rstrip(os.sep) + os.sep) for d in denied):
        return [directory]
    roots = []
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    for entry in entries:
        path = os.path.join(directory, entry)
        if path in denied:
            continue
        if any(d.startswith(path + os.sep) for d in denied) and os.path.isdir(path) and not os.path.islink(path):
            roots.extend(_readable_roots(path, denied))
        else:
            roots.append(path)
    return roots


def _allow(libc, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = PathBeneathAttr(rights, fd)
        libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)

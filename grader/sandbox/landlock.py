"""Confine the current process with Linux Landlock (no privileges needed, kernel >= 5.13).

After :func:`confine`, the process (and anything it forks) can read only below the
readable paths, write only below the writable paths, open no TCP connection (ABI >= 4)
and send no signal outside its own sandbox (ABI >= 6). :func:`worker_paths` says what a
worker may read and write: the system's libraries, Python's, its own submission and
scratch folder, its own ``/proc`` entry; never the grader, the reference, other
submissions, the batch's folders or other processes' ``/proc``. Imported by the worker
script as a top-level module; standard library only.
"""

from __future__ import annotations

import ctypes
import os
import platform
import site
import sys
import sysconfig

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4

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


# What every worker may read: the system's programs, libraries and configuration.
SYSTEM_ROOTS = ["/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc"]
# System-wide facts that libraries read (CPU count and features, memory); nothing of a process.
SYSTEM_FACTS = ["/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/version", "/proc/sys/vm/overcommit_memory",
                "/sys/devices/system/cpu", "/sys/devices/system/node"]
DEVICES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]
# Relaxed for CUDA, whose driver opens its device files and reads its own /proc and /sys entries.
CUDA_READABLE = ["/dev", "/sys", "/proc/driver", "/proc/devices"]


def python_roots() -> list[str]:
    """Where this Python's standard library and installed packages live (what a worker imports)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(sysconfig.get_paths().get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    try:
        paths.update(site.getsitepackages())
    except AttributeError:  # a virtualenv's old site module
        pass
    return sorted(p for p in paths if p and os.path.exists(p))


def worker_paths(deny: list[str], cuda: bool = False) -> tuple[list[str], list[str]]:
    """``(readable, writable)`` for a worker, before its own submission, scratch folder and
    ``/proc`` entry (which only the worker knows): an allow-list, minus ``deny`` wherever a
    denied path lies inside an allowed one (a package installed into site-packages)."""
    readable = [*SYSTEM_ROOTS, *python_roots(), *SYSTEM_FACTS, *DEVICES, *(CUDA_READABLE if cuda else [])]
    writable = ["/dev"] if cuda else ["/dev/null"]
    return allowed_roots([p for p in readable if os.path.exists(p)], deny), writable


def allowed_roots(roots: list[str], deny: list[str]) -> list[str]:
    """The parts of ``roots`` outside every ``deny`` path: a root that holds none whole, else
    its largest subtrees that hold none; a root inside a denied path is dropped."""
    denied = [os.path.realpath(p) for p in deny]
    allowed: list[str] = []
    for root in dict.fromkeys(roots):
        real = os.path.realpath(root)
        if _is_denied(real, denied):
            continue
        allowed.extend(_readable_roots(real, denied))
    return list(dict.fromkeys(allowed))


def confine(readable: list[str], writable: list[str]) -> str:
    """Apply the sandbox: read only below ``readable``, write only below ``writable`` (see
    :func:`worker_paths`). Returns a short description; raises OSError where unsupported."""
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
        for path in readable:
            _allow(libc, ruleset, path, READ_RIGHTS)
        for path in writable:
            _allow(libc, ruleset, path, handled)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS) failed")
        if libc.syscall(SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
    return f"abi {abi}"


def not_dumpable() -> None:
    """Keep other processes of this user (a sandboxed worker among them) from attaching to
    this one with ptrace or reading its memory and private ``/proc`` entries: only a process
    with CAP_SYS_PTRACE in our user namespace could, and a worker has none there. Best effort."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _is_denied(path: str, denied: list[str]) -> bool:
    return any(path == d or path.startswith(d + os.sep) for d in denied)


def _readable_roots(directory: str, denied: list[str]) -> list[str]:
    """The largest subtrees of ``directory`` that contain no denied path."""
    if not any(d.startswith(directory.rstrip(os.sep) + os.sep) for d in denied) or not os.path.isdir(directory):
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

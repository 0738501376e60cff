"""Keeping the host out of reach of the container while pyrt's processes are inside it.

The attacks and why each step answers them are in docs/security.md. In short:
- non_dumpable(): /proc/PID/{exe,fd,cwd,root,map_files,mem} of a non-dumpable process are
  refused to anyone without CAP_SYS_PTRACE in the host's user namespace (the kernel's
  ptrace access check), so a container's processes cannot reach the host's Python binary,
  libraries or fds through a pyrt process that joined its namespaces (CVE-2019-5736).
- close_from() / cloexec_from(): the caller's fds never reach the container (CVE-2024-21626),
  by close_range(2), not a walk of a /proc the container may have replaced.
- require_procfs(): anything read from or written to /proc is proven to be procfs first
  (CVE-2019-16884 class).
- exec_stub(): the container's program is exec'd by a stub running from a sealed memfd, so that
  `#!/proc/self/exe` never resolves to a host file.
"""
from __future__ import annotations

import os

from pyrt._cext import lib
from pyrt.linux.syscalls import check

PROC_SUPER_MAGIC = lib.PROC_SUPER_MAGIC
SYSFS_MAGIC = lib.SYSFS_MAGIC
_FS_NAMES = {PROC_SUPER_MAGIC: "procfs", SYSFS_MAGIC: "sysfs"}
_MAX_FD = 0xFFFFFFFF


def set_dumpable(on: bool) -> None:
    check(lib.pyrt_set_dumpable(1 if on else 0), "prctl(PR_SET_DUMPABLE)")


def dumpable() -> bool:
    return check(lib.pyrt_get_dumpable(), "prctl(PR_GET_DUMPABLE)") == 1


def close_from(first: int, keep=()) -> None:
    """Close every fd >= FIRST except those in KEEP (close_range over the gaps)."""
    lo = first
    for fd in sorted(k for k in keep if k >= first):
        if fd > lo:
            check(lib.pyrt_close_range(lo, fd - 1, 0), "close_range")
        lo = fd + 1
    check(lib.pyrt_close_range(lo, _MAX_FD, 0), "close_range")


def cloexec_from(first: int) -> None:
    """Mark every fd >= FIRST close-on-exec (CLOSE_RANGE_CLOEXEC: no fd is closed under
    Python objects that still hold it)."""
    check(lib.pyrt_close_range(first, _MAX_FD, lib.CLOSE_RANGE_CLOEXEC), "close_range(CLOSE_RANGE_CLOEXEC)")


def fs_type(fd: int, path: str) -> int:
    return check(lib.pyrt_fstatfs_type(fd), "fstatfs", path)


def require_fs(path: str, magic: int) -> None:
    """OSError(EXDEV) unless PATH (not followed if a symlink) is the root of, or inside, a
    filesystem of type MAGIC."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        found = fs_type(fd, path)
    finally:
        os.close(fd)
    if found != magic:
        raise OSError(18, f"not {_FS_NAMES.get(magic, hex(magic))} (statfs type {found:#x})", path)


def require_procfs(path: str = "/proc") -> None:
    require_fs(path, PROC_SUPER_MAGIC)


def exec_stub() -> int:
    """A sealed, close-on-exec memfd holding the exec stub (see cext/hardening.c)."""
    return check(lib.pyrt_exec_stub_memfd(), "memfd_create(pyrt-exec-stub)")

"""Syscalls the stdlib lacks, raising OSError(errno, message, path) on failure."""
from __future__ import annotations

import os

from pyrt import trace
from pyrt._cext import ffi, lib

CLONE_NEWNS = lib.CLONE_NEWNS
CLONE_NEWUTS = lib.CLONE_NEWUTS
CLONE_NEWIPC = lib.CLONE_NEWIPC
CLONE_NEWUSER = lib.CLONE_NEWUSER
CLONE_NEWPID = lib.CLONE_NEWPID
CLONE_NEWNET = lib.CLONE_NEWNET
CLONE_NEWCGROUP = lib.CLONE_NEWCGROUP
CLONE_NEWTIME = lib.CLONE_NEWTIME

MS = {name: getattr(lib, name) for name in dir(lib) if name.startswith("MS_")}
MNT_DETACH = lib.MNT_DETACH
UMOUNT_NOFOLLOW = lib.UMOUNT_NOFOLLOW


def check(rc: int, what: str, path: str | None = None) -> int:
    """RC from a C call that returns -1 and sets errno on failure -> RC, or OSError(errno, msg, path).
    The one errno-to-OSError step for every module of pyrt.linux."""
    if rc == -1:
        err = ffi.errno
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return rc


def _b(s: str | None):
    return ffi.NULL if s is None else os.fsencode(s)


def _clone_names() -> dict:
    return {name: getattr(lib, name) for name in dir(lib) if name.startswith("CLONE_NEW")}


def unshare(flags: int) -> None:
    if trace.on:
        trace.step(f"unshare({trace.flags(flags, _clone_names())})")
    check(lib.pyrt_unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0, path: str | None = None) -> None:
    if trace.on:
        trace.step(f"setns({path or fd}, {trace.flags(nstype, _clone_names())})")
    check(lib.pyrt_setns(fd, nstype), "setns", path)


def pivot_root(new_root: str, put_old: str) -> None:
    if trace.on:
        trace.step(f"pivot_root({new_root!r}, {put_old!r}) in {os.getcwd()}")
    check(lib.pyrt_pivot_root(_b(new_root), _b(put_old)), "pivot_root", new_root)


def mount(source: str | None, target: str, fstype: str | None = None,
          flags: int = 0, data: str | None = None) -> None:
    if trace.on:
        # a target pinned as /proc/self/fd/N (see pyrt.runtime.rootfs) is shown as the path it is
        shown = f"{target} = {os.readlink(target)}" if target.startswith("/proc/self/fd/") else target
        trace.step(f"mount({source!r}, {shown!r}, {fstype!r}, {trace.flags(flags, MS)}"
                   + (f", {data!r})" if data else ")"))
    check(lib.pyrt_mount(_b(source), _b(target), _b(fstype), flags, _b(data)), "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    if trace.on:
        trace.step(f"umount2({target!r}, {'MNT_DETACH' if flags & MNT_DETACH else flags})")
    check(lib.pyrt_umount2(_b(target), flags), "umount", target)


def sethostname(name: str) -> None:
    if trace.on:
        trace.step(f"sethostname({name!r})")
    b = name.encode()
    check(lib.pyrt_sethostname(b, len(b)), "sethostname")


def setdomainname(name: str) -> None:
    if trace.on:
        trace.step(f"setdomainname({name!r})")
    b = name.encode()
    check(lib.pyrt_setdomainname(b, len(b)), "setdomainname")


def personality(persona: int) -> int:
    if trace.on:
        trace.step(f"personality({persona:#x})")
    return check(lib.pyrt_personality(persona), "personality")


def set_child_subreaper(on: bool = True) -> None:
    check(lib.pyrt_set_child_subreaper(1 if on else 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def default_signals() -> None:
    """All signal dispositions to default and an empty mask: call right before execve."""
    check(lib.pyrt_default_signals(), "sigprocmask")


def fork_into_cgroup(cgroup_fd: int, path: str | None = None) -> int:
    """os.fork(), but the child starts in the cgroup v2 directory open as CGROUP_FD (clone3
    CLONE_INTO_CGROUP): no cgroup.procs write, so none of its ~12 ms kernel wait. OSError
    (ENOSYS, EOPNOTSUPP, EACCES...) when the kernel or the cgroup cannot: then fork and move."""
    if trace.on:
        trace.step(f"clone3(CLONE_INTO_CGROUP {path}): the container's init is born in its cgroup")
    return check(lib.pyrt_fork_into_cgroup(cgroup_fd), "clone3(CLONE_INTO_CGROUP)", path)

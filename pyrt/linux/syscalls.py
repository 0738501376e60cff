"""Syscalls the stdlib lacks, raising OSError(errno, message, path) on failure."""
from __future__ import annotations

import errno
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


# --- mounts through file descriptors (openat2 and the new mount API) ----------------------------
# openat2 resolve flags and mount_setattr bits, by name (as MS above)
RESOLVE = {name: getattr(lib, name) for name in dir(lib) if name.startswith("RESOLVE_")}
MOUNT_ATTR = {name: getattr(lib, name) for name in dir(lib) if name.startswith("MOUNT_ATTR_")}
PROC_SUPER_MAGIC, SYSFS_MAGIC = lib.PROC_SUPER_MAGIC, lib.SYSFS_MAGIC

def _fd_shown(fd: int) -> str:
    try:
        return f"fd {fd} = {os.readlink(f'/proc/self/fd/{fd}')}"
    except OSError:
        return f"fd {fd}"


_OPENAT2_TRIES = 64


def openat2(dirfd: int, path: str, flags: int, resolve: int, shown: str | None = None) -> int:
    """An fd for PATH under DIRFD, resolved by the kernel as RESOLVE says (e.g. RESOLVE_IN_ROOT:
    symlinks and ".." never leave DIRFD). OSError ENOSYS on kernels before 5.6."""
    for _ in range(_OPENAT2_TRIES):
        rc = lib.pyrt_openat2(dirfd, _b(path), flags | os.O_CLOEXEC, resolve)
        # EAGAIN: a rename or mount anywhere on the host while a ".." was resolved, so the kernel
        # could not vouch it stayed inside; openat2(2) says to try again (a busy host does this)
        if rc != -1 or ffi.errno != errno.EAGAIN:
            break
    fd = check(rc, "openat2", shown or path)
    if trace.on:
        trace.step(f"openat2({shown or path!r}, {trace.flags(resolve, RESOLVE)}) -> {_fd_shown(fd)}")
    return fd


def open_tree_clone(path: str, recursive: bool) -> int:
    """A detached copy of the mount (tree) at PATH, not yet attached anywhere: its flags can be
    set before anyone can see it (open_tree OPEN_TREE_CLONE)."""
    flags = lib.OPEN_TREE_CLONE | lib.OPEN_TREE_CLOEXEC | (lib.AT_RECURSIVE if recursive else 0)
    if trace.on:
        trace.step(f"open_tree({path!r}, OPEN_TREE_CLONE{'|AT_RECURSIVE' if recursive else ''})")
    return check(lib.pyrt_open_tree(-100, _b(path), flags), "open_tree", path)  # -100: AT_FDCWD


def mount_setattr(fd: int, attr_set: int, attr_clr: int = 0, propagation: int = 0,
                  recursive: bool = False, path: str | None = None) -> None:
    """Set/clear MOUNT_ATTR_* bits and propagation on the mount FD refers to (no path lookup)."""
    if trace.on:
        trace.step(f"mount_setattr({path or fd}, set {trace.flags(attr_set, MOUNT_ATTR)}"
                   f"{', clear ' + trace.flags(attr_clr, MOUNT_ATTR) if attr_clr else ''}"
                   f"{', ' + trace.flags(propagation, MS) if propagation else ''}"
                   f"{', AT_RECURSIVE' if recursive else ''})")
    flags = lib.AT_EMPTY_PATH | (lib.AT_RECURSIVE if recursive else 0)
    check(lib.pyrt_mount_setattr(fd, b"", flags, attr_set, attr_clr, propagation), "mount_setattr", path)


def move_mount(mnt_fd: int, target_fd: int, path: str | None = None) -> None:
    """Attach the detached mount MNT_FD onto the directory or file TARGET_FD holds open."""
    if trace.on:
        trace.step(f"move_mount(fd {mnt_fd}, {_fd_shown(target_fd)})")
    flags = lib.MOVE_MOUNT_F_EMPTY_PATH | lib.MOVE_MOUNT_T_EMPTY_PATH
    check(lib.pyrt_move_mount(mnt_fd, b"", target_fd, b"", flags), "move_mount", path)


def mount_id(fd: int, path: str | None = None) -> int:
    """The id (as in mountinfo) of the mount FD lives on (statx STATX_MNT_ID)."""
    return check(lib.pyrt_mount_id(fd, b"", lib.AT_EMPTY_PATH), "statx", path)


def fs_magic(fd: int, path: str | None = None) -> int:
    """statfs f_type of the filesystem FD lives on: PROC_SUPER_MAGIC proves a real procfs."""
    return check(lib.pyrt_fs_magic(fd), "statfs", path)

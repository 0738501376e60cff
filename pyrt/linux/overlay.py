"""Overlay mounts for container root filesystems (used by pyrt.engine.snapshot).

mount(2) takes its options in one page, so a long stack of lower directories would
not fit as plain paths. When it does not, each lower dir is opened O_PATH and named
as /proc/self/fd/N: short, and resolved by the kernel at mount time, with no chdir
(which would move every thread of the process).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re

from pyrt.linux import syscalls

# Leave room below the page for upper/work and the kernel's own additions.
_MAX_OPTIONS = 3800


def _escape(path: str) -> str:
    # overlayfs splits options on ',' and lowerdir on ':'; a backslash escapes both.
    return path.replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def options(lowers: list[str], upper: str, work: str) -> str:
    """The mount data for LOWERS (top first) with UPPER/WORK, as plain paths."""
    return (f"lowerdir={':'.join(_escape(p) for p in lowers)},"
            f"upperdir={_escape(upper)},workdir={_escape(work)}")


def mount_overlay(lowers: list[str], upper: str, work: str, target: str) -> None:
    """Mount an overlay of LOWERS (top layer first) with UPPER/WORK on TARGET.

    Raises OSError(errno, msg, target) as the kernel reports it (EINVAL when, for
    example, upper is itself on an overlay or on a filesystem without the xattrs
    overlayfs needs).
    """
    data = options(lowers, upper, work)
    if len(data) <= _MAX_OPTIONS:
        syscalls.mount("overlay", target, "overlay", 0, data)
        return
    with contextlib.ExitStack() as fds:
        short = []
        for p in lowers:
            fd = os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            fds.callback(os.close, fd)
            short.append(f"/proc/self/fd/{fd}")
        data = options(short, upper, work)
        if len(data) > _MAX_OPTIONS:
            raise OSError(errno.E2BIG, f"overlay: too many lower layers ({len(lowers)}) for one mount", target)
        syscalls.mount("overlay", target, "overlay", 0, data)


def unmount(target: str) -> None:
    """Unmount TARGET; a busy mount is detached lazily (it goes once its last user exits)."""
    try:
        syscalls.umount2(target, syscalls.UMOUNT_NOFOLLOW)
    except OSError as e:
        if e.errno != errno.EBUSY:
            raise
        syscalls.umount2(target, syscalls.MNT_DETACH | syscalls.UMOUNT_NOFOLLOW)


def is_mountpoint(path: str) -> bool:
    """Whether PATH (absolute) is the mount point of some mount in our namespace."""
    want = os.fsencode(os.path.realpath(path))
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            mp = line.split(b" ", 5)[4]
            if b"\\" in mp:  # the kernel writes space, tab, newline and backslash as \ooo
                mp = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), mp)
            if mp == want:
                return True
    return False

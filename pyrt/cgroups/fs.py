"""Reading and writing cgroup control files, with errors that name the file and the value.

Files are opened without O_CREAT: a missing control file means the controller is absent, and
must fail loudly, also when the "cgroup" is a temporary directory standing in for one in tests.
"""
from __future__ import annotations

import errno
import os

from pyrt import trace
from pyrt.errors import CgroupError


def debug(message: str) -> None:
    """Best-effort notes (what runc also ignores), shown with --debug. logging is imported only
    here: it costs start-up time that `pyrt-runc state` should not pay."""
    import logging
    logging.getLogger("pyrt.cgroups").debug(message)


def controller_of(name: str) -> str:
    """'memory.max' -> 'memory'; 'cgroup.freeze' -> 'cgroup'."""
    return name.split(".", 1)[0]


def write(cgdir: str, name: str, value) -> None:
    path = os.path.join(cgdir, name)
    data = str(value).encode()
    if trace.on:
        trace.step(f"cgroup: echo {str(value)!r} > {path}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except FileNotFoundError:
        ctrl = controller_of(name)
        try:
            has_ctrl = any(f.startswith(ctrl + ".") for f in os.listdir(cgdir))
        except OSError:
            has_ctrl = False
        what = (f"the {ctrl} controller here has no {name}" if has_ctrl
                else f"controller {ctrl} is not available in {cgdir}")
        raise CgroupError(f"{name}: {what}", f"cannot set {name} to {value}") from None
    except OSError as e:
        raise CgroupError(f"{name}: cannot open {path}: {e.strerror}") from None
    try:
        os.write(fd, data)
    except OSError as e:
        raise CgroupError(f"{name}: cannot write {str(value)!r}: {_why(e)}") from None
    finally:
        os.close(fd)


def _why(e: OSError) -> str:
    if e.errno == errno.EINVAL:
        return "invalid argument (value out of range or not supported by the kernel)"
    if e.errno == errno.EBUSY:
        return "device or resource busy"
    return e.strerror or str(e)


def read(cgdir: str, name: str) -> str:
    with open(os.path.join(cgdir, name)) as f:
        return f.read().strip()


def read_int(cgdir: str, name: str, default: int = 0) -> int:
    """An integer file; 'max' reads as 0 (runc reports unlimited that way); missing -> DEFAULT."""
    try:
        text = read(cgdir, name)
    except FileNotFoundError:
        return default
    if text == "max":
        return 0
    return int(text)


def read_keyed(cgdir: str, name: str) -> dict[str, int]:
    """A flat keyed file ('key value' lines: memory.stat, cpu.stat, memory.events...)."""
    out = {}
    try:
        text = read(cgdir, name)
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def exists(cgdir: str, name: str) -> bool:
    return os.path.exists(os.path.join(cgdir, name))


def read_procs(cgdir: str) -> list[int]:
    try:
        return [int(x) for x in read(cgdir, "cgroup.procs").split()]
    except FileNotFoundError:
        return []


def join_self(v1_dirs: list[str]) -> None:
    """Move the calling single-threaded process into V1_DIRS by writing 0 to `tasks`: a thread
    moving itself skips the kernel's global threadgroup lock, whose first use costs a ~12 ms RCU
    wait per cgroup.procs write. With CLONE_INTO_CGROUP for the v2 tree, a container's init is
    placed without that wait (runc pays it)."""
    for d in v1_dirs:
        write(d, "tasks", 0)

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
    if trace.on:
        trace.step(f"cgroup: echo {str(value)!r} > {os.path.join(cgdir, name)}")
    fd = open_control(cgdir, name, value)
    try:
        write_fd(fd, name, value)
    finally:
        os.close(fd)


def open_control(cgdir: str, name: str, value) -> int:
    """CGDIR/NAME opened for writing VALUE (named in the error), as an fd the caller closes."""
    path = os.path.join(cgdir, name)
    try:
        return os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
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


def write_fd(fd: int, name: str, value) -> None:
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise CgroupError(f"{name}: cannot write {str(value)!r}: {_why(e)}") from None


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

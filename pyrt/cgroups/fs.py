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


def open_tasks(v1_dirs: list[str]) -> list[int]:
    """The `tasks` file of each of V1_DIRS, open for writing: `pyrt-runc exec` opens them while
    the host's /sys/fs/cgroup is still reachable and joins after entering the container's
    namespaces. All or nothing: on error the ones already open are closed."""
    fds: list[int] = []
    try:
        for d in v1_dirs:
            if trace.on:
                trace.step(f"cgroup: open {d}/tasks, for the new process to join it (no cgroup.procs write)")
            fds.append(open_control(d, "tasks", 0))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def join_self(tasks_fds: list[int]) -> None:
    """Move the calling single-threaded process into the cgroups whose `tasks` files are open as
    TASKS_FDS (see open_tasks) by writing 0: a thread moving itself skips the kernel's global
    threadgroup lock, whose first use costs a ~12 ms RCU wait per cgroup.procs write. With
    CLONE_INTO_CGROUP for the v2 tree, a process is placed without that wait (runc pays it).
    The kernel checks the opener's credentials, so this works after joining a user namespace."""
    if trace.on and tasks_fds:
        trace.step(f"cgroup: echo 0 > tasks (the files opened above): join {len(tasks_fds)} v1 hierarchies")
    for fd in tasks_fds:
        write_fd(fd, "tasks", 0)

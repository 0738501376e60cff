"""Placing a new process in a container's cgroups: the one module that opens them, forks into them,
joins them, and falls back to moving the process when the kernel refuses.

Placing a process with a cgroup.procs write costs the kernel a ~12 ms RCU wait (the first use of
its global threadgroup lock), per container. So the process is born in place instead, where it
can be: in the v2 directory by clone3(CLONE_INTO_CGROUP), and, first thing, it joins the v1
hierarchies by writing 0 to their `tasks` files (a thread moving itself skips that lock). runc
pays the wait. Who calls what:

    parent (create, exec)   dirs = targets(manager)               -> Launch.cgroup or a message
    stage 1, before it      opened = open_dirs(dirs)               (the host's /sys/fs/cgroup is
      joins a namespace                                             still reachable; None: cannot)
    stage 1                 pid, placed = fork(opened, who)        the init is born placed
    parent, given the pid   settle(manager, pid, placed)           the fallback: cgroup.procs writes

`tasks` writes are checked against the opener's credentials, so they work after the child has
joined a user namespace; clone3 is checked against the caller's, and may then be refused (placed
is False and settle moves the process, as before).
"""
from __future__ import annotations

import os

from pyrt import trace
from pyrt.cgroups import fs
from pyrt.errors import CgroupError


def targets(manager) -> dict:
    """{"v1": [dirs], "v2": dir or None}: the directories a new process of MANAGER's cgroup is
    born into (what the parent sends stage 1, or records for exec)."""
    return {"v1": manager.v1_dirs(), "v2": manager.v2}


def open_dirs(dirs: dict) -> tuple[list[int], int, str | None] | None:
    """The `tasks` files of the v1 directories and the v2 directory of DIRS, open for fork():
    (tasks fds, v2 fd or -1, v2 path). None when one cannot be opened (the parent then moves the
    process with cgroup.procs writes: settle)."""
    try:
        tasks = _open_tasks(dirs["v1"])
    except CgroupError:
        return None
    if not dirs["v2"]:
        return tasks, -1, None
    try:
        return tasks, os.open(dirs["v2"], os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), dirs["v2"]
    except OSError:
        for fd in tasks:
            os.close(fd)
        return None


def fork(opened: tuple[list[int], int, str | None] | None, who: str) -> tuple[int, bool]:
    """Fork the process straight into the cgroups OPENED (open_dirs; None: a plain fork, not
    placed). The child joins the v1 hierarchies itself, not us: were we in a pids cgroup with room
    for one more process, forking it would fail. (pid, placed) in the parent, (0, False) in the
    child (named WHO in --debug); not placed when the kernel refuses: then the parent moves the
    process (settle). A joined user namespace may make it refuse: clone3 checks our credentials on
    the cgroup's files, now with capabilities only in the container's user namespace (it still
    passes where the files' owner, host uid 0, is ours, as with runc-style mappings)."""
    if opened is None:
        return os.fork(), False
    tasks, v2_fd, v2_path = opened
    placed = True
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = -1
    if v2_fd >= 0:
        from pyrt.linux import syscalls as sc
        try:
            pid = sc.fork_into_cgroup(v2_fd, v2_path)
        except OSError as e:
            if trace.on:
                trace.step(f"clone3 refused ({e.strerror}): fork, and pyrt-runc moves the process")
            placed = False
        os.close(v2_fd)
    if pid < 0:
        pid = os.fork()
    if pid == 0:
        trace.who = who
        os.close(r)
        try:
            _join_self(tasks)
            ok = b"1"
        except CgroupError:
            ok = b"0"
        for fd in tasks:
            os.close(fd)
        os.write(w, ok)
        os.close(w)
        return 0, False
    os.close(w)
    for fd in tasks:
        os.close(fd)
    try:
        placed = os.read(r, 1) == b"1" and placed  # b"": the process died; its error follows
    finally:
        os.close(r)
    return pid, placed


def settle(manager, pid: int, placed: bool) -> None:
    """The fallback, in the parent: a process fork() could not place is moved into MANAGER's
    cgroup with cgroup.procs writes (creating it if needed)."""
    if not placed:
        manager.apply(pid)


def _open_tasks(v1_dirs: list[str]) -> list[int]:
    """The `tasks` file of each of V1_DIRS, open for writing: opened while the host's
    /sys/fs/cgroup is still reachable, written after entering the container's namespaces. All or
    nothing: on error the ones already open are closed."""
    fds: list[int] = []
    try:
        for d in v1_dirs:
            if trace.on:
                trace.step(f"cgroup: open {d}/tasks, for the new process to join it (no cgroup.procs write)")
            fds.append(fs.open_control(d, "tasks", 0))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def _join_self(tasks_fds: list[int]) -> None:
    """Move the calling single-threaded process into the cgroups whose `tasks` files are open as
    TASKS_FDS by writing 0 (see the module's docstring for why)."""
    if trace.on and tasks_fds:
        trace.step(f"cgroup: echo 0 > tasks (the files opened above): join {len(tasks_fds)} v1 hierarchies")
    for fd in tasks_fds:
        fs.write_fd(fd, "tasks", 0)

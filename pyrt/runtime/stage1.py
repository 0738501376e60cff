"""Stage 1, the intermediate process (youki's container_intermediate_process): it makes or joins
the container's namespaces, then forks the init into them.

pyrt-runc (the parent) forks stage 1. Stage 1 is single-threaded Python right after fork(), so
it may join or create a user namespace and join a mount namespace, which a threaded process
cannot. It joins the namespaces given by path, makes the new ones, and forks again: the
grandchild is PID 1 of a new pid namespace (unshare(CLONE_NEWPID) only affects children).
Stage 1 reports the grandchild's pid and exits; the grandchild (pyrt.runtime.init) waits until
the parent has its cgroup ready (placed, limits set), then sets itself up.

Where it can, stage 1 forks the init straight into its cgroups (pyrt.cgroups.placement): for
create from directories the parent sends, for exec from the container's recorded cgroups, opened
before joining its mount namespace hides the host's /sys/fs/cgroup.

Before either child can be seen from the container, stage 1 hardens itself (see _harden and
docs/security.md): non-dumpable, the caller's fds closed, the host's /proc proven real.
"""
from __future__ import annotations

import os

from pyrt import trace
from pyrt.errors import RuntimeSetupError
from pyrt.runtime import channel
from pyrt.runtime.init import init_main
from pyrt.runtime.launch import (JOIN_ORDER, NAMESPACES, Launch, describe, must_preload_early, preload,
                                 report)


def stage1(sock, launch: Launch) -> None:
    """Runs in the first child; never returns."""
    import gc
    # _harden closes fds that Python objects of a long-lived caller (the engine's monitor) may
    # still hold: no collection may finalize one and close a number we have reused since.
    gc.disable()
    try:
        _stage1(sock, launch)
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent, then exit
        report(sock, e)
        os._exit(1)
    os._exit(0)


def _harden(sock, launch: Launch) -> None:
    """First thing in stage 1, before any namespace is joined or made (docs/security.md)."""
    from pyrt.linux import hardening
    # Non-dumpable: /proc/PID/{exe,fd,cwd,root,map_files,mem} of this process and of the init
    # and exec'd process forked from it (they inherit it) are refused to the container's
    # processes, which could otherwise reach the host's Python binary, libraries and our fds.
    # execve of the container's program makes it dumpable again, as any program.
    if trace.on:
        trace.step("prctl(PR_SET_DUMPABLE, 0): no /proc/PID/exe, fd, cwd, root or map_files of ours "
                   "for the container's processes to open")
    hardening.set_dumpable(False)
    if launch.console_back is not None:
        launch.console_back.close()
    # e.g. the container lock: an flock belongs to the open file, which fork() shares
    for fd in launch.close_fds:
        os.close(fd)
    # The caller's fds beyond 0-2 and --preserve-fds: closed, so that neither child ever holds
    # one (a directory fd of the caller's is a way out: CVE-2024-21626). Ours stay, close-on-exec.
    first = 3 + launch.preserve_fds
    keep = [sock.fileno(), launch.fifo_fd]
    if launch.console_conn is not None:
        keep.append(launch.console_conn.fileno())
    if trace.on:
        trace.step(f"close_range({first}, ~0) except our own fds {sorted(k for k in keep if k >= first)}: "
                   "none of the caller's fds reaches the container")
    hardening.close_from(first, keep)
    # The host's /proc, which stage 1 reads and writes before it changes namespaces.
    try:
        hardening.require_procfs("/proc")
    except OSError as e:
        raise RuntimeSetupError(f"the host's /proc: {describe(e)}") from e
    if launch.process.oom_score_adj is not None and not launch.exec_mode:
        # now, in the host's namespaces with every capability (as runc); the init inherits it
        if trace.on:
            trace.step(f"echo {launch.process.oom_score_adj} > /proc/self/oom_score_adj")
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(launch.process.oom_score_adj))
        except OSError as e:
            # runc's words (containerd's users know them): the file and the reason
            raise RuntimeSetupError(f"failed to update /proc/self/oom_score_adj: {os.strerror(e.errno)}") from e


def _setgroups_denied() -> bool:
    """/proc/self/setgroups of the user namespace we are in, read from the host's procfs
    (proven by _harden). Missing means we cannot know: fail rather than guess."""
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError as e:
        raise RuntimeSetupError(f"read /proc/self/setgroups: {os.strerror(e.errno).lower()}") from e


def _stage1(sock, launch: Launch) -> None:
    from pyrt.linux import syscalls as sc
    trace.who = "stage 1"
    _harden(sock, launch)
    if must_preload_early(launch):
        # before a joined namespace hides the host's files
        preload(launch.spec, launch.process, launch.exec_mode)
    # Open the cgroup files and every namespace file first: once we are in another mount or
    # user namespace the paths may resolve differently or not at all.
    from pyrt.cgroups import placement
    opened = placement.open_dirs(launch.cgroup) if launch.cgroup is not None else None
    fds = []
    for ns_type, path in sorted(launch.join, key=lambda j: JOIN_ORDER.index(j[0])):
        try:
            fds.append((ns_type, path, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
        except OSError as e:
            raise RuntimeSetupError(f"{ns_type} namespace {path}: {os.strerror(e.errno).lower()}") from e
    cgroupns_fd = -1
    for ns_type, path, fd in fds:
        if ns_type == "cgroup" and opened is not None:
            # The init joins it once born: from inside the container's cgroup namespace, a
            # nsdelegate cgroup2 mount refuses clone3 into a cgroup from outside it (ENOENT).
            cgroupns_fd = fd
            continue
        try:
            sc.setns(fd, getattr(sc, NAMESPACES[ns_type][0]), path)
        except OSError as e:
            raise RuntimeSetupError(f"join {ns_type} namespace {path}: {os.strerror(e.errno).lower()}") from e
        os.close(fd)
        if ns_type == "user":
            # still in the host's mount namespace (joined last): its /proc is the real one
            launch.setgroups_denied = _setgroups_denied()
    if "user" in launch.new:
        sc.unshare(sc.CLONE_NEWUSER)
        channel.send(sock, "userns")
        channel.expect(sock, "ok")
        # Become the namespace's root (as runc does) so files we create are owned by a mapped id.
        try:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        except OSError:
            pass
    # A new cgroup namespace is made later by the init, once it sits in its own cgroup.
    flags = 0
    for ns_type in launch.new:
        if ns_type not in ("user", "cgroup"):
            flags |= getattr(sc, NAMESPACES[ns_type][0])
    if flags:
        try:
            sc.unshare(flags)
        except OSError as e:
            raise RuntimeSetupError(f"unshare {', '.join(n for n in launch.new if n not in ('user', 'cgroup'))}"
                                    f" namespaces: {os.strerror(e.errno).lower()}") from e
    if "time" in launch.new and launch.spec.linux.time_offsets:
        _write_time_offsets(launch.spec.linux.time_offsets)
    placed = False
    if launch.placed_by_stage1:
        # the init inherits what we import now, while the parent prepares the cgroup
        preload(launch.spec, launch.process, launch.exec_mode)
        opened = placement.open_dirs(channel.expect(sock, "cgroup"))
    pid, placed = placement.fork(opened, who="exec" if launch.exec_mode else "init")
    if pid == 0:
        if cgroupns_fd >= 0:
            sc.setns(cgroupns_fd, sc.CLONE_NEWCGROUP, "cgroup namespace")
            os.close(cgroupns_fd)
        init_main(sock, launch)
    if cgroupns_fd >= 0:
        os.close(cgroupns_fd)
    if trace.on:
        trace.step(f"forked the init: pid {pid} here, pid 1 in its new pid namespace"
                   if "pid" in launch.new else f"forked the init: pid {pid}")
    channel.send(sock, "pid", pid=pid, placed=placed)


def _write_time_offsets(offsets) -> None:
    """Offsets can only be written before any process lives in the new time namespace. A
    non-dumpable process's /proc files belong to the host's root, which a new user namespace's
    root cannot write: dumpable for this one write. Stage 1 lives outside the container's pid
    namespace, so no process of the container can see it meanwhile."""
    from pyrt.linux import hardening
    hardening.set_dumpable(True)
    try:
        with open("/proc/self/timens_offsets", "w") as f:
            for clock, secs, nsecs in offsets:
                if trace.on:
                    trace.step(f"time namespace offset: {clock} {secs}s {nsecs}ns")
                f.write(f"{clock} {secs} {nsecs}\n")
    except OSError as e:
        raise RuntimeSetupError(f"write /proc/self/timens_offsets: {os.strerror(e.errno).lower()}") from e
    finally:
        hardening.set_dumpable(False)

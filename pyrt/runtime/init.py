"""What runs inside the forked children: namespace set-up (stage 1) and the container's init.

pyrt-runc (the parent) forks stage 1. Stage 1 is single-threaded Python right after fork(), so
it may join or create a user namespace and join a mount namespace, which a threaded process
cannot. It joins the namespaces given by path, makes the new ones, and forks again: the
grandchild is PID 1 of a new pid namespace (unshare(CLONE_NEWPID) only affects children).
Stage 1 reports the grandchild's pid and exits; the grandchild waits until the parent has its
cgroup ready (placed, limits set), then runs `container_init` (or `exec_init` for `pyrt-runc exec`).

Where it can, stage 1 places the init in its cgroups without a cgroup.procs write (see
_fork_placed): for create from directories the parent sends, for exec from the container's
recorded cgroups, opened before joining its mount namespace hides the host's /sys/fs/cgroup.

Before either child can be seen from the container, stage 1 hardens itself (see _harden and
docs/security.md): non-dumpable, the caller's fds closed, the host's /proc proven real. The init
never execs the container's program itself: a stub from a sealed memfd does (see _execve).

Any error in a child travels to the parent as its kind (the PyrtError class) and one line over
the socket; the parent raises the same class, so exit codes survive the trip.
"""
from __future__ import annotations

import os
import sys

from pyrt import trace
from pyrt.errors import PyrtError, RuntimeSetupError
from pyrt.runtime import channel
from pyrt.record import Record, field

# namespace type in config.json -> (clone flag name, /proc/<pid>/ns name)
NAMESPACES = {
    "user": ("CLONE_NEWUSER", "user"), "pid": ("CLONE_NEWPID", "pid"), "network": ("CLONE_NEWNET", "net"),
    "ipc": ("CLONE_NEWIPC", "ipc"), "uts": ("CLONE_NEWUTS", "uts"), "mount": ("CLONE_NEWNS", "mnt"),
    "cgroup": ("CLONE_NEWCGROUP", "cgroup"), "time": ("CLONE_NEWTIME", "time"),
}
# Join order: the user namespace first (it owns the others), the mount namespace last.
JOIN_ORDER = ("user", "pid", "network", "ipc", "uts", "cgroup", "time", "mount")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Launch(Record, frozen=False):
    """Everything the children need, fixed before fork()."""
    container_id: str
    spec: object                       # pyrt.spec.config.Spec
    process: object                    # pyrt.spec.config.Process (the spec's, or exec's)
    join: list = field(default_factory=list)   # [(ns type, path)] to setns into
    new: list = field(default_factory=list)    # ns types to create
    fifo_fd: int = -1                  # O_PATH fd of exec.fifo (create; none when `run` starts at once)
    console_socket: str | None = None
    console_conn: object = None        # connected to console_socket by the parent (host path)
    console_back: object = None        # foreground terminal: the parent's end of console_conn
    console_master: int = -1           # ... and the pty master it received there
    no_pivot: bool = False
    preserve_fds: int = 0
    exec_mode: bool = False            # pyrt-runc exec: join everything, no rootfs work
    # create, when stage 1 stays in the host's user and mount namespaces: stage 1 places the init
    # in its cgroup itself (see _fork_placed), from the directories the parent sends ("cgroup").
    placed_by_stage1: bool = False
    # exec: the container's cgroup directories {"v1": [...], "v2": dir or None} (from state.json),
    # for stage 1 to place the exec'd process in the same way; None: the parent moves it.
    cgroup: dict | None = None
    close_fds: list = field(default_factory=list)  # the parent's fds the children must not keep
    # Whether setgroups(2) is denied in the user namespace the process ends up in: read by stage
    # 1 from the host's procfs, never from the container's /proc, which may be a fake.
    setgroups_denied: bool = False


def describe(e: BaseException) -> str:
    """One line for the user from any error raised in a child."""
    if isinstance(e, PyrtError):
        return e.message
    if isinstance(e, OSError):
        msg = e.strerror or str(e)
        return f"{msg}: {e.filename}" if e.filename else msg
    return f"{type(e).__name__}: {e}"


def _report(sock, e: BaseException) -> None:
    """The error, its kind and its cause to the parent (channel.error_from rebuilds it)."""
    kind = type(e).__name__ if isinstance(e, PyrtError) else RuntimeSetupError.__name__
    cause = e.__cause__ or e.__context__
    try:
        channel.send(sock, "error", kind=kind, message=describe(e), hint=getattr(e, "hint", None),
                     cause=f"{type(cause).__name__}: {cause}" if cause is not None else None)
    except OSError:
        pass


# --- stage 1 ----------------------------------------------------------------------------------
def stage1(sock, launch: Launch) -> None:
    """Runs in the first child; never returns."""
    import gc
    # _harden closes fds that Python objects of a long-lived caller (the engine's monitor) may
    # still hold: no collection may finalize one and close a number we have reused since.
    gc.disable()
    try:
        _stage1(sock, launch)
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent, then exit
        _report(sock, e)
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
    if _must_preload_early(launch):
        # before a joined namespace hides the host's files
        _preload(launch.spec, launch.process, launch.exec_mode)
    # Open the cgroup files and every namespace file first: once we are in another mount or
    # user namespace the paths may resolve differently or not at all.
    opened = _open_cgroup(launch.cgroup) if launch.cgroup is not None else None
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
        _preload(launch.spec, launch.process, launch.exec_mode)
        opened = _open_cgroup(channel.expect(sock, "cgroup"))
    if opened is not None:
        pid, placed = _fork_placed(*opened, who="exec" if launch.exec_mode else "init")
    else:
        pid = os.fork()
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


def _open_cgroup(dirs: dict) -> tuple[list[int], int, str | None] | None:
    """The `tasks` files of the v1 directories and the v2 directory of DIRS, open for
    _fork_placed: (tasks fds, v2 fd or -1, v2 path). None when one cannot be opened (the
    parent then moves the init with cgroup.procs writes, as before)."""
    from pyrt.cgroups import fs
    from pyrt.errors import CgroupError
    try:
        tasks = fs.open_tasks(dirs["v1"])
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


def _fork_placed(tasks: list[int], v2_fd: int, v2_path: str | None, who: str) -> tuple[int, bool]:
    """Fork the init straight into its cgroups, without a cgroup.procs write - and without the
    ~12 ms kernel RCU wait the first one costs: it is born in the v2 directory (clone3
    CLONE_INTO_CGROUP) and, first thing, joins the v1 hierarchies by writing 0 to their `tasks`
    (a thread moving itself skips the kernel's threadgroup lock). The child does that, not us:
    were we in a pids cgroup with room for one more process, forking the init would fail.
    (pid, placed) in the parent, (0, _) in the child; not placed when the kernel refuses: then
    the parent moves the init as before. A joined user namespace may make it refuse: `tasks`
    writes are checked against the opener's (host root's) credentials, but clone3 checks ours
    on the cgroup's files, now with capabilities only in the container's user namespace (it
    still passes where the files' owner, host uid 0, is ours, as with runc-style mappings)."""
    from pyrt.cgroups import fs
    from pyrt.errors import CgroupError
    from pyrt.linux import syscalls as sc
    placed = True
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = -1
    if v2_fd >= 0:
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
            fs.join_self(tasks)
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
        placed = os.read(r, 1) == b"1" and placed  # b"": the init died; its error follows
    finally:
        os.close(r)
    return pid, placed


# --- the init (grandchild) ------------------------------------------------------------------------
def init_main(sock, launch: Launch) -> None:
    """Runs in the grandchild; never returns."""
    trace.who = "exec" if launch.exec_mode else "init"
    try:
        os.setsid()  # a session of its own, as runc's init (and no controlling tty of ours)
        if not _must_preload_early(launch) and not launch.placed_by_stage1:
            # while the parent does the cgroup work (the first cgroup.procs write alone takes
            # ~12 ms in the kernel), not before it
            _preload(launch.spec, launch.process, launch.exec_mode)
        go = channel.expect(sock, "go")
        if launch.exec_mode:
            exec_init(sock, launch, go)
        else:
            container_init(sock, launch, go)
    except BaseException as e:  # noqa: BLE001
        _report(sock, e)
        os._exit(1)
    os._exit(127)  # not reached: the init ends in execve


def container_init(sock, launch: Launch, go: dict) -> None:
    """The ordered in-container set-up (runc's standard_init order); ends in execve."""
    from pyrt.linux import syscalls as sc
    from pyrt.runtime import hooks, rootfs
    spec, process = launch.spec, launch.process
    rootdir = spec.root.path

    # 1. Where our cgroups are, read before a cgroup namespace hides the host paths; then the
    #    cgroup namespace, created now so its root is the container's own cgroup.
    own = rootfs.own_cgroups()
    if "cgroup" in launch.new:
        sc.unshare(sc.CLONE_NEWCGROUP)

    # 2. Network: a new network namespace gets its loopback up; anything else is the caller's.
    if "network" in launch.new:
        from pyrt.linux import netdev
        if trace.on:
            trace.step("network: bring up lo (ioctl SIOCSIFFLAGS IFF_UP)")
        netdev.link_up("lo")

    # 3. (oom_score_adj was written by stage 1, in the host's namespaces: see _harden.)

    # 4. The rootfs: propagation, mounts in order, devices, /dev links (in the runtime's mount
    #    namespace when the config lists none: the spec says it is then inherited).
    rootfs.prepare(spec, rootdir, cgroup_paths=own)

    # 5. Hooks around the rootfs: prestart and createRuntime run in the runtime's namespaces
    #    (the parent runs them), createContainer here, in the container's, before pivot_root.
    if any(spec.hooks.get(k) for k in ("prestart", "createRuntime")):
        channel.send(sock, "hooks")
        channel.expect(sock, "ok")
    hooks.run_hooks(spec.hooks, "createContainer", go["state"])

    # 6. Switch root, then make the working directory exist (runc creates it too). From here on
    #    /proc is the container's: proven to be procfs before the init trusts it (a bind volume
    #    over /proc would fake setgroups, fds and the exec fifo).
    rootfs.switch_root(rootdir, launch.no_pivot, propagation=spec.linux.rootfs_propagation,
                       inherited=spec.linux.namespace("mount") is None)
    _require_container_procfs()
    if process.cwd != "/":
        try:
            os.makedirs(process.cwd, 0o755, exist_ok=True)
        except OSError:
            pass  # a read-only rootfs: chdir below reports it

    # 7. The console: a pty from the container's devpts, its master to --console-socket.
    if process.terminal:
        _setup_console(launch, process, rootfs)

    # 8. root.readonly. (switch_root gave the new / its rootfsPropagation, as crun does.)
    if spec.root.readonly:
        rootfs.readonly_root()

    # 9. Hostname, domain name, sysctls.
    if spec.hostname:
        sc.sethostname(spec.hostname)
    if spec.domainname:
        sc.setdomainname(spec.domainname)
    for key, value in spec.linux.sysctl:
        path = "/proc/sys/" + key.replace(".", "/")
        if trace.on:
            trace.step(f"sysctl: echo {value!r} > {path}")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise RuntimeSetupError(f"sysctl {key}={value}: {path}: {os.strerror(e.errno).lower()}") from e

    # 10. Read-only paths, then masked paths (runc's order).
    for p in spec.linux.readonly_paths:
        rootfs.readonly_path(p)
    for p in spec.linux.masked_paths:
        rootfs.mask_path(p)

    # 11. Personality.
    if spec.linux.personality is not None:
        sc.personality(spec.linux.personality)

    # 12. The process itself: rlimits, user, capabilities, no_new_privs, seccomp; then the
    #     exec fifo (create/start split), startContainer hooks, execve.
    finalize_and_exec(launch, process, spec, sock, go, as_init=True)


def exec_init(sock, launch: Launch, go: dict) -> None:
    """`pyrt-runc exec`: already in every namespace of the container; only the process set-up."""
    if launch.process.terminal:
        from pyrt.runtime import rootfs  # preloaded for a terminal only (_preload)
        _setup_console(launch, launch.process, rootfs, mount_console=False)
    finalize_and_exec(launch, launch.process, launch.spec, sock, go, as_init=False)


def _require_container_procfs() -> None:
    from pyrt.linux import hardening
    if trace.on:
        trace.step("statfs('/proc'): the container's /proc must be procfs before the init uses it")
    try:
        hardening.require_procfs("/proc")
    except OSError as e:
        raise RuntimeSetupError(f"/proc in the container: {describe(e)} (config.json must mount "
                                "proc at /proc)") from e


def _must_preload_early(launch: Launch) -> bool:
    """Joining a mount or user namespace (always so for exec) may hide the host's Python
    library from stage 1 on; otherwise it stays reachable until pivot_root."""
    return launch.exec_mode or any(t in ("mount", "user") for t, _ in launch.join)


def _preload(spec, process, exec_mode: bool) -> None:
    """Import every module the init needs while the host's Python library is still reachable
    (a joined mount namespace or pivot_root takes it away)."""
    import fcntl  # noqa: F401
    from pyrt.linux import capabilities, hardening  # noqa: F401
    from pyrt.runtime import hooks  # noqa: F401
    # exec sets up no rootfs and no loopback: rootfs, paths and netdev (~3.4 M instructions on the
    # critical path of every ExecSync) only for the init, or for an exec's console
    if not exec_mode:
        from pyrt.cgroups import layout  # noqa: F401  (rootfs.own_cgroups; exec never calls it)
        from pyrt.runtime import rootfs  # noqa: F401
        if "network" in (ns.type for ns in spec.linux.namespaces):
            from pyrt.linux import netdev  # noqa: F401
    if process.rlimits:
        import resource  # noqa: F401
    if spec.hooks:
        import subprocess  # noqa: F401
    if process.terminal:
        from pyrt.runtime import console, rootfs  # noqa: F401,F811
    if process.apparmor_profile or process.selinux_label:
        from pyrt.linux import lsm  # noqa: F401
    if getattr(spec.linux, "seccomp", None) is not None:
        from pyrt.linux import seccomp  # noqa: F401


def _setup_console(launch: Launch, process, rootfs_mod, mount_console: bool = True) -> None:
    """A pty from the container's devpts; the master goes to --console-socket over the
    connection the parent made (the socket path is the host's), the slave becomes our tty."""
    from pyrt.runtime import console
    if launch.console_conn is None:
        raise RuntimeSetupError("process.terminal is true but there is no console to send the pty to")
    master, slave_path = console.new_pty()
    if process.console_size:
        console.set_size(master, *process.console_size)
    console.send_master(launch.console_conn, master)
    os.close(master)
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    if mount_console:
        from pyrt.linux.syscalls import mount
        if not os.path.lexists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        mount(slave_path, "/dev/console", None, rootfs_mod.MS_BIND)
    console.make_controlling(slave)


def finalize_and_exec(launch: Launch, process, spec, sock, go: dict, as_init: bool) -> None:
    """The last steps of the container's init (AS_INIT: wait for `start` on the exec fifo if
    there is one, then startContainer hooks) or of an exec'd process; ends in execve."""
    from pyrt.linux import hardening
    from pyrt.runtime import hooks
    env = process.env_dict()
    # Before seccomp, which may forbid memfd_create (see _execve).
    stub = hardening.exec_stub()

    if process.rlimits:
        import resource
    for r in process.rlimits:
        if trace.on:
            trace.step(f"setrlimit({r.type}, soft={r.soft}, hard={r.hard})")
        try:
            resource.setrlimit(getattr(resource, r.type), (r.soft, r.hard))
        except (OSError, ValueError) as e:
            raise RuntimeSetupError(f"setrlimit {r.type} {r.soft}/{r.hard}: {e}") from e

    seccomp = getattr(spec.linux, "seccomp", None) if spec is not None else None
    if seccomp is not None and not process.no_new_privileges:
        # Without no_new_privs loading a filter needs CAP_SYS_ADMIN: load it while we have it.
        _load_seccomp(seccomp)

    _set_lsm_labels(process, checked_procfs=not launch.exec_mode)
    _switch_user(process, launch.setgroups_denied)
    if "HOME" not in env:
        env["HOME"] = _home_of(process.user.uid)
    if "PATH" not in env:
        env["PATH"] = DEFAULT_PATH
    _chdir_inside_root(process.cwd)
    if process.no_new_privileges:
        from pyrt.linux import capabilities
        if trace.on:
            trace.step("prctl(PR_SET_NO_NEW_PRIVS, 1): execve can never grant more privileges")
        capabilities.set_no_new_privs()
    # No args: config.json has no `process` (allowed at create); `start` refuses such a container,
    # so this init only holds the namespaces until `delete`, blocked on the exec fifo below.
    path = lookup(process.args[0], env["PATH"]) if process.args else ""

    # Only fds 0-2 and the preserved ones reach the container's process.
    _preserve_fds(launch.preserve_fds)

    channel.send(sock, "created")
    fifo = -1  # our write end of the exec fifo, left open until the program is executed
    if as_init and launch.fifo_fd >= 0:
        # As PID 1 of its namespace the waiting init would ignore every signal it has no
        # handler for; `kill` of a created container must still end it (runc's does too).
        import _signal as signal  # without signal.py's enums (start-up time)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                    signal.SIGUSR2):
            signal.signal(sig, lambda signum, _frame: os._exit(128 + signum))
        if trace.on:
            trace.step("set up; waiting on the exec fifo until `pyrt-runc start`")
        # Left open: the program's execve closes it (the exec stub marks it close-on-exec), and
        # that end-of-file tells a `start` with poststart hooks that the process has been executed.
        fifo = os.open(f"/proc/self/fd/{launch.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        a, b = os.fstat(fifo), os.fstat(launch.fifo_fd)
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino):  # a mount over /proc/<pid>/fd?
            print(f"pyrt-runc: /proc/self/fd/{launch.fifo_fd} is not the exec fifo", file=sys.stderr, flush=True)
            os._exit(1)
        os.write(fifo, b"0")
        if not process.args:
            os._exit(1)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                    signal.SIGUSR2):
            signal.signal(sig, signal.SIG_DFL)
    if as_init:
        state = dict(go["state"], status="running")
        try:
            hooks.run_hooks(spec.hooks, "startContainer", state)
        except PyrtError as e:
            print(f"pyrt-runc: {e}", file=sys.stderr, flush=True)
            os._exit(1)
    sock.close()
    # Python ignores SIGPIPE and SIGXFSZ, and our caller may have ignored or blocked others; both
    # survive execve, so restore the defaults the container's program expects (as runc's init).
    from pyrt.linux.syscalls import default_signals
    default_signals()
    if seccomp is not None and process.no_new_privileges:
        _load_seccomp(seccomp)  # last: nothing but execve after it
    _execve(stub, path, list(process.args), env, fifo)


def _execve(stub: int, path: str, args: list, env: dict, fifo: int = -1) -> None:
    """Exec the container's program through the stub in the sealed memfd STUB (cext/hardening.c):
    when the kernel resolves `#!/proc/self/exe` or an ELF interpreter of that program, our
    /proc/self/exe is the stub's anonymous copy, not the host's Python (CVE-2019-5736). FIFO (the
    exec fifo's write end, or -1) crosses the stub's execve and closes at the program's."""
    if trace.on:
        trace.step(f"execve({path!r}, {args!r}) by the exec stub, itself exec'd from a sealed memfd: the "
                   "container's process replaces the init, and /proc/self/exe is never the host's Python")
    if fifo >= 0:
        os.set_inheritable(fifo, True)
    argv = [str(fifo), path, *args]
    try:
        os.execve(stub, argv, env)
        return  # never, for real: only a recording fake of the syscall layer returns from execve
    except OSError as e:
        first = e
    # A seccomp profile may refuse execveat while allowing execve: the same memfd by its path
    # (only in a real procfs; the container's /proc is checked for the init, not for exec).
    try:
        from pyrt.linux import hardening
        hardening.require_procfs("/proc")
        os.execve(f"/proc/self/fd/{stub}", argv, env)
    except OSError as e:
        print(f"pyrt-runc: exec {path}: {os.strerror(first.errno).lower()} (then {describe(e)})",
              file=sys.stderr, flush=True)
    os._exit(127)


def _chdir_inside_root(cwd: str) -> None:
    """chdir, then make sure the working directory is inside the container's root: a path
    through a magic link (/proc/self/fd/N, /proc/PID/cwd) may lead outside (CVE-2024-21626)."""
    if trace.on:
        trace.step(f"chdir({cwd!r}), then getcwd() must name a path inside the container's root")
    try:
        os.chdir(cwd)
    except OSError as e:
        raise RuntimeSetupError(f"chdir to cwd {cwd!r}: {os.strerror(e.errno).lower()}") from e
    try:
        where = os.getcwd()  # ENOENT when the kernel says "(unreachable)": outside our root
    except OSError as e:
        raise RuntimeSetupError(f"cwd {cwd!r} is outside the container's root") from e
    if not where.startswith("/"):
        raise RuntimeSetupError(f"cwd {cwd!r} is outside the container's root ({where})")


def _preserve_fds(n: int) -> None:
    """Fds 3..3+N-1 pass to the container's program; every other fd from 3 on is marked
    close-on-exec by close_range(2), whatever /proc looks like."""
    from pyrt.linux import hardening
    for fd in range(3, 3 + n):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass  # not open: nothing to pass
    if trace.on:
        trace.step(f"close_range({3 + n}, ~0, CLOSE_RANGE_CLOEXEC): only fds 0-{2 + n} reach the program")
    hardening.cloexec_from(3 + n)


def _set_lsm_labels(process, checked_procfs: bool) -> None:
    """AppArmor profile / SELinux label for the coming execve, written to our own
    /proc/self/attr (create refused them already where the host has no such module)."""
    if not (process.apparmor_profile or process.selinux_label):
        return
    from pyrt.linux import hardening, lsm
    if not checked_procfs:
        try:
            hardening.require_procfs("/proc")
        except OSError as e:
            raise RuntimeSetupError(f"/proc in the container: {describe(e)}") from e
    for module, label in (("apparmor", process.apparmor_profile), ("selinux", process.selinux_label)):
        if not label:
            continue
        if trace.on:
            trace.step(f"{module}: {label!r} for the next execve -> {lsm.exec_attr(module)}")
        try:
            lsm.set_exec_label(module, label)
        except OSError as e:
            raise RuntimeSetupError(f"apply {module} label {label!r}: {describe(e)}") from e


def _load_seccomp(seccomp) -> None:
    from pyrt.linux import seccomp as sec
    if trace.on:
        trace.step(f"seccomp: load a filter, default action {seccomp.default_action}, "
                   f"{len(seccomp.syscalls)} syscall rules")
    sec.load(seccomp)


def _switch_user(process, setgroups_denied: bool) -> None:
    """setgroups/setgid/setuid, then the capability sets (keep-caps across the uid switch).
    SETGROUPS_DENIED: the user namespace forbids setgroups(2) (known from the host's procfs)."""
    from pyrt.linux import capabilities
    caps = process.capabilities
    u = process.user
    mask = u.umask if u.umask is not None else 0o022
    if trace.on:
        trace.step(f"umask({mask:04o}); setgroups({list(u.additional_gids)}); setresgid({u.gid}); "
                   f"setresuid({u.uid})")
    os.umask(mask)
    if caps is not None:
        capabilities.keep_caps(True)
    step = f"setgroups({list(u.additional_gids)})"
    try:
        if not setgroups_denied:
            os.setgroups(list(u.additional_gids))
        elif sorted(os.getgroups()) != sorted(u.additional_gids):
            # runc skips setgroups here and so keeps whatever groups its caller had: refuse instead
            raise RuntimeSetupError("process.user.additionalGids: cannot set supplementary groups, setgroups "
                                    "is denied in the container's user namespace")
        step = f"setresgid({u.gid})"
        os.setresgid(u.gid, u.gid, u.gid)
        step = f"setresuid({u.uid})"
        os.setresuid(u.uid, u.uid, u.uid)
    except OSError as e:
        raise RuntimeSetupError(f"{step}: {os.strerror(e.errno).lower()}") from e
    if caps is not None:
        if trace.on:
            trace.step("capabilities: " + "; ".join(
                f"{name} {' '.join(sorted(capabilities.CAP_NAMES[n] for n in getattr(caps, name))) or '-'}"
                for name in ("bounding", "effective", "permitted", "inheritable", "ambient")))
        capabilities.apply(caps)


def _home_of(uid: int) -> str:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def lookup(name: str, path_env: str) -> str:
    """The executable to run, resolved like runc (exec.LookPath) inside the container."""
    if "/" in name:
        # runc's (Go's) words: podman maps "no such file or directory" / "permission denied" in
        # them to exit codes 127 / 126.
        try:
            st = os.stat(name)
        except OSError as e:
            reason = os.strerror(e.errno)
            raise RuntimeSetupError(f'exec: "{name}": stat {name}: {reason[:1].lower()}{reason[1:]}') from e
        if st.st_mode & 0o170000 != 0o040000 and st.st_mode & 0o111:  # not a directory, some x bit
            return name
        raise RuntimeSetupError(f'exec: "{name}": permission denied')
    for d in path_env.split(":"):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise RuntimeSetupError(f'exec: "{name}": executable file not found in $PATH')

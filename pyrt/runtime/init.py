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

Any error in a child travels to the parent as one line over the socket; the parent cleans up.
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


def describe(e: BaseException) -> str:
    """One line for the user from any error raised in a child."""
    if isinstance(e, PyrtError):
        return str(e)
    if isinstance(e, OSError):
        msg = e.strerror or str(e)
        return f"{msg}: {e.filename}" if e.filename else msg
    return f"{type(e).__name__}: {e}"


def _report(sock, e: BaseException) -> None:
    try:
        channel.send(sock, "error", message=describe(e))
    except OSError:
        pass


# --- stage 1 ----------------------------------------------------------------------------------
def stage1(sock, launch: Launch) -> None:
    """Runs in the first child; never returns."""
    try:
        _stage1(sock, launch)
    except BaseException as e:  # noqa: BLE001 - everything must reach the parent, then exit
        _report(sock, e)
        os._exit(1)
    os._exit(0)


def _stage1(sock, launch: Launch) -> None:
    from pyrt.linux import syscalls as sc
    trace.who = "stage 1"
    if launch.console_back is not None:
        launch.console_back.close()
    # e.g. the container lock: an flock belongs to the open file, which fork() shares
    for fd in launch.close_fds:
        os.close(fd)
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
            raise RuntimeSetupError(f"{ns_type} namespace {path}: {os.strerror(e.errno).lower()}") from None
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
            raise RuntimeSetupError(f"join {ns_type} namespace {path}: {os.strerror(e.errno).lower()}") from None
        os.close(fd)
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
                                    f" namespaces: {os.strerror(e.errno).lower()}") from None
    if "time" in launch.new and launch.spec.linux.time_offsets:
        # Offsets can only be written before any process lives in the new time namespace.
        with open("/proc/self/timens_offsets", "w") as f:
            for clock, secs, nsecs in launch.spec.linux.time_offsets:
                if trace.on:
                    trace.step(f"time namespace offset: {clock} {secs}s {nsecs}ns")
                f.write(f"{clock} {secs} {nsecs}\n")
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

    # 3. oom_score_adj, while /proc is still the host's and we have every capability.
    if process.oom_score_adj is not None:
        if trace.on:
            trace.step(f"echo {process.oom_score_adj} > /proc/self/oom_score_adj")
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process.oom_score_adj))

    # 4. The rootfs: propagation, mounts in order, devices, /dev links.
    if spec.has_new("mount") or spec.linux.namespace("mount"):
        rootfs.prepare(spec, rootdir, cgroup_paths=own)
    else:
        raise RuntimeSetupError("linux.namespaces: a mount namespace is required")

    # 5. Hooks around the rootfs: prestart and createRuntime run in the runtime's namespaces
    #    (the parent runs them), createContainer here, in the container's, before pivot_root.
    if any(spec.hooks.get(k) for k in ("prestart", "createRuntime")):
        channel.send(sock, "hooks")
        channel.expect(sock, "ok")
    hooks.run_hooks(spec.hooks, "createContainer", go["state"])

    # 6. Switch root, then make the working directory exist (runc creates it too).
    rootfs.switch_root(rootdir, launch.no_pivot)
    if process.cwd != "/":
        try:
            os.makedirs(process.cwd, 0o755, exist_ok=True)
        except OSError:
            pass  # a read-only rootfs: chdir below reports it

    # 7. The console: a pty from the container's devpts, its master to --console-socket.
    if process.terminal:
        _setup_console(launch, process, rootfs)

    # 8. root.readonly. (rootfsPropagation was applied to the host's / copy before the rootfs
    #    bind; like the reference runc 1.1 it is not re-applied to the new /.)
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
            raise RuntimeSetupError(f"sysctl {key}={value}: {os.strerror(e.errno).lower()}") from None

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
    from pyrt.runtime import rootfs
    if launch.process.terminal:
        _setup_console(launch, launch.process, rootfs, mount_console=False)
    finalize_and_exec(launch, launch.process, launch.spec, sock, go, as_init=False)


def _must_preload_early(launch: Launch) -> bool:
    """Joining a mount or user namespace (always so for exec) may hide the host's Python
    library from stage 1 on; otherwise it stays reachable until pivot_root."""
    return launch.exec_mode or any(t in ("mount", "user") for t, _ in launch.join)


def _preload(spec, process, exec_mode: bool) -> None:
    """Import every module the init needs while the host's Python library is still reachable
    (a joined mount namespace or pivot_root takes it away)."""
    import fcntl  # noqa: F401
    from pyrt.linux import capabilities  # noqa: F401
    from pyrt.runtime import hooks, rootfs  # noqa: F401
    if not exec_mode:
        from pyrt.cgroups import layout  # noqa: F401  (rootfs.own_cgroups; exec never calls it)
    if process.rlimits:
        import resource  # noqa: F401
    if spec.hooks:
        import subprocess  # noqa: F401
    if "network" in (ns.type for ns in spec.linux.namespaces):
        from pyrt.linux import netdev  # noqa: F401
    if process.terminal:
        from pyrt.runtime import console  # noqa: F401
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
    from pyrt.runtime import hooks
    env = process.env_dict()

    if process.rlimits:
        import resource
    for r in process.rlimits:
        if trace.on:
            trace.step(f"setrlimit({r.type}, soft={r.soft}, hard={r.hard})")
        try:
            resource.setrlimit(getattr(resource, r.type), (r.soft, r.hard))
        except (OSError, ValueError) as e:
            raise RuntimeSetupError(f"setrlimit {r.type} {r.soft}/{r.hard}: {e}") from None

    seccomp = getattr(spec.linux, "seccomp", None) if spec is not None else None
    if seccomp is not None and not process.no_new_privileges:
        # Without no_new_privs loading a filter needs CAP_SYS_ADMIN: load it while we have it.
        _load_seccomp(seccomp)

    _switch_user(process, spec)
    if "HOME" not in env:
        env["HOME"] = _home_of(process.user.uid)
    if "PATH" not in env:
        env["PATH"] = DEFAULT_PATH
    if trace.on:
        trace.step(f"chdir({process.cwd!r})")
    try:
        os.chdir(process.cwd)
    except OSError as e:
        raise RuntimeSetupError(f"chdir to cwd {process.cwd!r}: {os.strerror(e.errno).lower()}") from None
    if process.no_new_privileges:
        from pyrt.linux import capabilities
        if trace.on:
            trace.step("prctl(PR_SET_NO_NEW_PRIVS, 1): execve can never grant more privileges")
        capabilities.set_no_new_privs()
    path = lookup(process.args[0], env["PATH"])

    # Only fds 0-2 and the preserved ones reach the container's process.
    _close_fds_on_exec(3 + launch.preserve_fds)

    channel.send(sock, "created")
    if as_init and launch.fifo_fd >= 0:
        # As PID 1 of its namespace the waiting init would ignore every signal it has no
        # handler for; `kill` of a created container must still end it (runc's does too).
        import _signal as signal  # without signal.py's enums (start-up time)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                    signal.SIGUSR2):
            signal.signal(sig, lambda signum, _frame: os._exit(128 + signum))
        if trace.on:
            trace.step("set up; waiting on the exec fifo until `pyrt-runc start`")
        fd = os.open(f"/proc/self/fd/{launch.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(fd, b"0")
        os.close(fd)
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
    if trace.on:
        trace.step(f"execve({path!r}, {list(process.args)!r}): the container's process replaces the init")
    try:
        os.execve(path, list(process.args), env)
    except OSError as e:
        print(f"pyrt-runc: exec {path}: {os.strerror(e.errno).lower()}", file=sys.stderr, flush=True)
        os._exit(127)


def _load_seccomp(seccomp) -> None:
    from pyrt.linux import seccomp as sec
    if trace.on:
        trace.step(f"seccomp: load a filter, default action {seccomp.default_action}, "
                   f"{len(seccomp.syscalls)} syscall rules")
    sec.load(seccomp)


def _switch_user(process, spec) -> None:
    """setgroups/setgid/setuid, then the capability sets (keep-caps across the uid switch)."""
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
    if _setgroups_allowed():
        os.setgroups(list(u.additional_gids))
    os.setresgid(u.gid, u.gid, u.gid)
    os.setresuid(u.uid, u.uid, u.uid)
    if caps is not None:
        if trace.on:
            trace.step("capabilities: " + "; ".join(
                f"{name} {' '.join(sorted(capabilities.CAP_NAMES[n] for n in getattr(caps, name))) or '-'}"
                for name in ("bounding", "effective", "permitted", "inheritable", "ambient")))
        capabilities.apply(caps)


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


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
            raise RuntimeSetupError(f'exec: "{name}": stat {name}: {reason[:1].lower()}{reason[1:]}') from None
        if st.st_mode & 0o170000 != 0o040000 and st.st_mode & 0o111:  # not a directory, some x bit
            return name
        raise RuntimeSetupError(f'exec: "{name}": permission denied')
    for d in path_env.split(":"):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise RuntimeSetupError(f'exec: "{name}": executable file not found in $PATH')


def _close_fds_on_exec(first: int) -> None:
    import fcntl
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:  # no /proc in the container: walk the usual range instead
        fds = range(3, min(os.sysconf("SC_OPEN_MAX"), 65536))
    for fd in fds:
        if fd < 3:
            continue
        if fd < first:
            os.set_inheritable(fd, True)
            continue
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFD)
            fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
        except OSError:
            pass

"""The container's init (youki's container_init_process), or a process `pyrt-runc exec` starts:
the grandchild stage 1 (pyrt.runtime.stage1) forked into the container's namespaces.

It waits until the parent has its cgroup ready, then runs `container_init`, one function of
numbered steps in runc's order (or `exec_init`: only the process set-up). It never execs the
container's program itself: a stub from a sealed memfd does (see _execve). Errors go to the parent
with their kind (pyrt.runtime.launch.report).
"""
from __future__ import annotations

import os
import sys

from pyrt import trace
from pyrt.errors import PyrtError, RuntimeSetupError
from pyrt.runtime import channel
from pyrt.runtime.launch import Launch, describe, must_preload_early, preload, report

# a failing startContainer hook's message, written to the exec fifo: below PIPE_BUF, one write
_HOOK_ERROR_MAX = 2048
_PASSWD_MAX = 4 << 20  # a passwd file larger than this is not one we will read whole
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def init_main(sock, launch: Launch) -> None:
    """Runs in the grandchild; never returns."""
    trace.who = "exec" if launch.exec_mode else "init"
    try:
        os.setsid()  # a session of its own, as runc's init (and no controlling tty of ours)
        if not must_preload_early(launch) and not launch.placed_by_stage1:
            # while the parent does the cgroup work (the first cgroup.procs write alone takes
            # ~12 ms in the kernel), not before it
            preload(launch.spec, launch.process, launch.exec_mode)
        go = channel.expect(sock, "go")
        if launch.exec_mode:
            exec_init(sock, launch, go)
        else:
            container_init(sock, launch, go)
    except BaseException as e:  # noqa: BLE001
        report(sock, e)
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
            if fifo >= 0:
                # `start` reads on to end-of-file when startContainer hooks are set: the failure
                # becomes its error (exit 13), after the byte that released us
                try:
                    os.write(fifo, str(e).encode()[:_HOOK_ERROR_MAX])
                except OSError:
                    pass  # `start` is gone: nobody to tell
            else:
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
    """HOME of UID from the container's /etc/passwd; "/" without one. A FIFO, device or socket
    there (a hostile image: open(2) of a FIFO would wait for a writer for ever) is refused."""
    from pyrt.linux import paths
    try:
        data = paths.read_regular("/etc/passwd", _PASSWD_MAX)
    except paths.NotRegularFileError as e:
        raise RuntimeSetupError("/etc/passwd in the container is not a regular file") from e
    except OSError:
        return "/"
    for line in data.decode("utf-8", "replace").splitlines():
        parts = line.split(":")
        if len(parts) >= 6 and parts[2] == str(uid):
            return parts[5] or "/"
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

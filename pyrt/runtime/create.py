"""The parent side of `create`, `run` and `exec`: fork the children, answer their messages, place
the init in its cgroup, record state; on any failure undo everything taken so far.
"""
from __future__ import annotations

import os
import sys

# the C module behind `signal`: the same calls and numbers without signal.py's enum wrappers,
# which cost ~3 ms of start-up
import _signal as signal

from pyrt import trace
from pyrt.errors import ConfigError, PyrtError, RuntimeSetupError, StateError, UsageError
from pyrt.runtime import channel, hooks
from pyrt.runtime import state as st
from pyrt.runtime.container import Container, remove_container_dir, wait_gone
from pyrt.runtime.launch import NAMESPACES, Launch
from pyrt.runtime.stage1 import stage1


def _namespaces(spec) -> tuple[list, list]:
    join, new = [], []
    for ns in spec.linux.namespaces:
        (join.append((ns.type, ns.path)) if ns.path else new.append(ns.type))
    return join, new


def _write_id_maps(pid: int, spec) -> None:
    for name, maps in (("uid_map", spec.linux.uid_mappings), ("gid_map", spec.linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise RuntimeSetupError(f"write /proc/{pid}/{name}: {os.strerror(e.errno).lower()}") from e


def _check_lsm(process, mount_label: str = "") -> None:
    """A profile or label the host cannot apply is an error before anything is set up
    (runtime-spec: unsupported values MUST error)."""
    if not (process.apparmor_profile or process.selinux_label or mount_label):
        return
    from pyrt.linux import lsm
    refused = lsm.refusal(process.apparmor_profile, process.selinux_label, mount_label)
    if refused:
        raise ConfigError(f"{refused[0]}: {refused[1]}")


def _start_children(launch: Launch, on_pid, on_hooks=None, on_forked=None, on_go=None) -> tuple[int, object]:
    """Fork stage 1 and drive the conversation until the init says `created`.
    ON_PID(pid) runs when the init's pid is known (cgroup placement) and returns the state dict
    handed to in-container hooks. Returns (init pid, socket). Raises on any child error; the
    caller owns cleanup of the init pid ON_PID was told about. ON_FORKED() runs in the parent
    while stage 1 works (so its cost overlaps the children's); with launch.placed_by_stage1 it
    returns the cgroup directories stage 1 places the init in. ON_PID(pid, placed) learns
    whether that worked. ON_GO() runs once the init is released into its set-up, overlapping it."""
    if launch.console_socket:
        from pyrt.runtime import console
        launch.console_conn = console.connect(launch.console_socket)
    elif launch.process.terminal:
        # A foreground terminal: the init sends the pty master back to us (see pyrt.runtime.tty).
        import socket
        launch.console_conn, launch.console_back = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    parent_sock, child_sock = channel.pair()
    sys.stdout.flush()
    sys.stderr.flush()
    pid1 = os.fork()
    if pid1 == 0:
        parent_sock.close()
        stage1(child_sock, launch)
    if trace.on:
        trace.step(f"forked stage 1 (pid {pid1}): it joins/creates the namespaces, then forks the init")
    child_sock.close()
    if launch.console_conn is not None:
        launch.console_conn.close()  # the init holds its own copy
    init_pid = 0
    try:
        if on_forked is not None:
            dirs = on_forked()
            if launch.placed_by_stage1:
                try:
                    channel.send(parent_sock, "cgroup", **dirs)
                except OSError:
                    pass  # stage 1 failed already: its error is waiting below
        while True:
            msg = channel.recv(parent_sock)
            t = msg["type"]
            if t == "userns":
                if trace.on:
                    trace.step(f"write /proc/{pid1}/uid_map and gid_map of the new user namespace")
                _write_id_maps(pid1, launch.spec)
                channel.send(parent_sock, "ok")
            elif t == "pid":
                init_pid = msg["pid"]
                os.waitpid(pid1, 0)
                pid1 = 0
                state = on_pid(init_pid, msg.get("placed", False))
                channel.send(parent_sock, "go", state=state)
                if on_go is not None:
                    on_go()
            elif t == "hooks":
                on_hooks()
                channel.send(parent_sock, "ok")
            elif t == "created":
                if launch.console_back is not None:
                    from pyrt.runtime import console
                    launch.console_master, _ = console.recv_master(launch.console_back)
                    launch.console_back.close()
                return init_pid, parent_sock
            elif t == "error":
                raise channel.error_from(msg)
            else:
                raise RuntimeSetupError("container init exited before it was set up")
    except BaseException:
        parent_sock.close()
        if pid1:
            try:
                os.kill(pid1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid1, 0)
        raise


def _kill_init(pid: int) -> None:
    if pid <= 0:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)  # ours if we are its subreaper (run)
    except ChildProcessError:
        wait_gone(pid, 0)


def create(root: str, container_id: str, bundle: str, *, pid_file: str | None = None,
           console_socket: str | None = None, no_pivot: bool = False, preserve_fds: int = 0,
           foreground: bool = False, start: bool = False) -> Container:
    """Set the container up and leave its init blocked on the exec fifo until `start`. With START
    (`run`) the init goes on to exec at once, without a fifo, unless there are poststart hooks:
    `start` runs them once the process has been executed (it sees that on the fifo), so the
    caller still has to `start` it (ctr.started says which)."""
    from pyrt.spec.config import Process, load_bundle
    st.validate_id(container_id)
    if not bundle:
        raise UsageError("missing --bundle")
    spec = load_bundle(bundle)
    # `process` may be left out until start (runtime-spec config.md): the init then only holds
    # the namespaces, and `start` refuses (state.no_process). runc 1.1 refuses at create.
    no_process = spec.process is None
    process = spec.process if not no_process else Process(args=())
    _check_lsm(process, spec.linux.mount_label)
    if process.terminal and not console_socket and not foreground:
        raise UsageError("process.terminal is true: pass --console-socket (or run in the foreground)")
    join, new = _namespaces(spec)
    # stage 1 can reach the host's cgroup files only in the host's user and mount namespaces
    placed_by_stage1 = "user" not in new and not any(t in ("user", "mount") for t, _ in join)
    # No mount namespace: the init mounts in ours (spec: inherited), to be undone on failure.
    inherited_top = _rootfs().top_mount(spec.root.path) if spec.linux.namespace("mount") is None else False
    d = st.make_container_dir(root, container_id)
    if trace.on:
        trace.step(f"state: mkdir {d}")
    st.crash_point("dir-made")
    fifo_fd = -1
    # poststart and startContainer hooks: `start` waits on the fifo until the process runs
    at_once = start and not (spec.hooks.get("poststart") or spec.hooks.get("startContainer"))
    mgr = None
    init_pid = 0
    try:
        with st.Lock(d) as lock:
            # Each record is on disk before what it names exists (see pyrt.runtime.state): a
            # create killed at any step leaves `delete --force` all it needs.
            state = st.State(
                id=container_id, bundle=spec.bundle, rootfs=spec.root.path,
                created=_rfc3339_now(),
                annotations=dict(spec.annotations), hooks=dict(spec.hooks),
                namespaces={ns.type: ns.path for ns in spec.linux.namespaces},
                owner="", no_process=no_process,
            )
            st.write_state(d, state)
            st.crash_point("state-written")
            if not at_once:
                fifo = os.path.join(d, st.EXEC_FIFO)
                old = os.umask(0)
                try:
                    os.mkfifo(fifo, 0o622)
                finally:
                    os.umask(old)
                fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
            ctr = Container(root, state)

            def on_forked() -> dict:
                nonlocal mgr
                from pyrt.cgroups import open_manager
                m = open_manager(spec.linux.cgroups_path, container_id)
                st.write_cgroup_record(d, m.planned())
                st.crash_point("cgroup-planned")
                mgr = m  # destroyed on failure from here on
                m.create()
                state.cgroup = m.to_state()
                st.crash_point("cgroup-made")
                from pyrt.cgroups import placement
                return placement.targets(m)

            def on_pid(pid: int, placed: bool) -> dict:
                nonlocal init_pid
                init_pid = pid
                from pyrt.linux import proc
                state.pid = pid
                state.start_time = proc.start_time(pid)
                from pyrt.cgroups import placement
                placement.settle(mgr, pid, placed)
                # limits once stage 1 is gone (a pids.limit of 1 must not count it)
                if spec.linux.resources is not None:
                    # runc allows the config's own device nodes past the device rules
                    nodes = [(dev.type, dev.major, dev.minor) for dev in spec.linux.devices]
                    mgr.set(spec.linux.resources.allowing_device_nodes(nodes))
                st.crash_point("pid-known")
                return ctr.hook_state(st.Status.CREATING)

            def on_go() -> None:
                # while the init sets itself up: the pid must be on disk before create returns
                st.write_state(d, state)
                st.crash_point("init-released")

            def on_hooks() -> None:
                st.crash_point("hooks")
                s = ctr.hook_state(st.Status.CREATING)
                hooks.run_hooks(spec.hooks, "prestart", s)
                hooks.run_hooks(spec.hooks, "createRuntime", s)

            launch = Launch(container_id=container_id, spec=spec, process=process, join=join, new=new,
                            fifo_fd=fifo_fd, console_socket=console_socket, no_pivot=no_pivot,
                            preserve_fds=preserve_fds, close_fds=[lock.fd], placed_by_stage1=placed_by_stage1)
            _, sock = _start_children(launch, on_pid, on_hooks, on_forked, on_go)
            st.crash_point("created")
            sock.close()
            if fifo_fd >= 0:
                os.close(fifo_fd)
                fifo_fd = -1
            if pid_file:
                _write_pid_file(pid_file, state.pid)
            ctr.console_master = launch.console_master
            ctr.started = at_once
            return ctr
    except BaseException:
        if fifo_fd >= 0:
            os.close(fifo_fd)
        _kill_init(init_pid)
        if inherited_top is not False:
            _rootfs().release_inherited(spec.root.path, unless_top=inherited_top)
        if mgr is not None:
            try:
                mgr.destroy()
            except (OSError, PyrtError):
                pass
        remove_container_dir(d)
        raise


def _rootfs():
    from pyrt.runtime import rootfs  # only for configs without a mount namespace (start-up time)
    return rootfs


def _rfc3339_now() -> str:
    """UTC with nanoseconds, as runc's `created` (datetime costs an import for one string)."""
    import time
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)   # no half-made pid file left behind
        except OSError:
            pass
        raise PyrtError(f"--pid-file {path}: {e.strerror}") from None


_FORWARD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
            signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT)


def wait_foreground(pid: int, master: int = -1) -> int:
    """Wait for PID (our child, as subreaper), forwarding signals; exit code or 128+signal.
    With a pty MASTER, first relay the terminal until the process is done with it."""
    import gc
    gc.enable()  # main() turned it off for the short set-up; this wait may last for days
    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    for s in _FORWARD:
        signal.signal(s, forward)
    if master >= 0:
        from pyrt.runtime import tty
        try:
            tty.proxy(master, pid)
        finally:
            os.close(master)
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        except InterruptedError:
            continue
        if wpid == pid:
            break
    for s in _FORWARD:
        signal.signal(s, signal.SIG_DFL)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def run(root: str, container_id: str, bundle: str, *, detach: bool = False, keep: bool = False,
        **create_args) -> int:
    """create + start (+ wait + delete unless DETACH). Returns the exit status to use."""
    from pyrt.linux import syscalls
    if not detach:
        syscalls.set_child_subreaper(True)  # the init reparents to us when stage 1 exits
    ctr = create(root, container_id, bundle, foreground=not detach, start=True, **create_args)
    if not ctr.started:
        try:
            ctr.start()
        except BaseException:
            ctr.delete(force=True)
            raise
    if detach:
        return 0
    code = wait_foreground(ctr.state.pid, ctr.console_master)
    if not keep:
        ctr.delete(force=True)
    return code


def exec_process(root: str, container_id: str, process, *, detach: bool = False, pid_file: str | None = None,
                 console_socket: str | None = None, preserve_fds: int = 0, spec=None) -> int:
    """Run PROCESS in the running container: join its init's namespaces and cgroup. SPEC: the
    bundle's config if the caller has parsed it already (loaded here otherwise)."""
    from pyrt.linux import syscalls
    ctr = Container.load(root, container_id)
    status = ctr.status()
    if not status.can_exec():
        raise StateError(f"cannot exec in a container that is {status.value}")
    if process.terminal and not console_socket and detach:
        raise UsageError("a terminal needs --console-socket when detached")
    _check_lsm(process)
    if spec is None:
        from pyrt.spec.config import load_bundle
        spec = load_bundle(ctr.state.bundle)
    pid = ctr.state.pid
    join = []
    for ns_type in ctr.state.namespaces:
        path = f"/proc/{pid}/ns/{NAMESPACES[ns_type][1]}"
        join.append((ns_type, path))
    if not detach:
        syscalls.set_child_subreaper(True)
    mgr = ctr.cgroup_manager()
    started = []

    def on_pid(p: int, placed: bool) -> dict:
        started.append(p)
        if mgr is not None:
            placement.settle(mgr, p, placed)
        return ctr.hook_state()

    # stage 1 places the process itself when the kernel lets it (pyrt.cgroups.placement)
    from pyrt.cgroups import placement
    dirs = placement.targets(mgr) if mgr is not None else None
    launch = Launch(container_id=container_id, spec=spec, process=process, join=join, new=[],
                    console_socket=console_socket, preserve_fds=preserve_fds, exec_mode=True,
                    cgroup=dirs)
    try:
        init_pid, sock = _start_children(launch, on_pid)
    except BaseException:
        _kill_init(started[0] if started else 0)
        raise
    sock.close()
    if pid_file:
        _write_pid_file(pid_file, init_pid)
    if detach:
        return 0
    return wait_foreground(init_pid, launch.console_master)

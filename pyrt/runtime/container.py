"""A container that exists under the runtime root: load it, ask its live status, start, kill, delete.

Creating one is pyrt.runtime.create (it needs the fork/init machinery); everything a later
`pyrt-runc` invocation does to an existing container lives here.
"""
from __future__ import annotations

import os
import time

from pyrt.errors import ConfigError, NotFoundError, PyrtError, StateError
from pyrt.linux import proc
from pyrt.runtime import state as st
from pyrt.runtime.state import Status


class Container:
    def __init__(self, root: str, state: st.State):
        self.root = root
        self.id = state.id
        self.dir = os.path.join(root, state.id)
        self.state = state
        self.started = False        # create(start=True) released the init already
        self.console_master = -1    # create(): the pty master of a foreground terminal

    # --- loading and status -------------------------------------------------------------
    @classmethod
    def load(cls, root: str, container_id: str) -> "Container":
        d = st.container_dir(root, container_id)
        return cls(root, st.read_state(d, container_id))

    def lock(self) -> st.Lock:
        return st.Lock(self.dir)

    def transition(self, verb: str | None = None, hint: str = "") -> "_Transition":
        """`with ctr.transition("start") as status:` - the container's lock held, its live status
        read under it, and VERB refused unless status.can_VERB() (Status.require; no VERB: no
        check). Every verb that changes a container goes through here."""
        return _Transition(self, verb, hint)

    def fifo_path(self) -> str:
        return os.path.join(self.dir, st.EXEC_FIFO)

    def init_alive(self) -> bool:
        """The recorded init runs: pid > 0, a start time recorded, and the process with that pid
        started then (not a recycled pid). Without a start time nothing is ours to trust."""
        return self.state.pid > 0 and self.state.start_time > 0 and proc.alive(self.state.pid, self.state.start_time)

    def status(self) -> Status:
        """Live status: creating until create recorded the init; stopped unless the init pid runs
        with its recorded start time; paused when its cgroup is frozen (also before `start`, as
        runc); created while the exec fifo exists (init blocked on it); else running."""
        if self.state.pid <= 0:
            return Status.CREATING
        if not self.init_alive():
            return Status.STOPPED
        if self.frozen():
            return Status.PAUSED
        if os.path.exists(self.fifo_path()):
            return Status.CREATED
        return Status.RUNNING

    def frozen(self) -> bool:
        """Whether the container's cgroup is frozen; a cgroup we cannot read counts as thawed.
        Asked of the recorded directories directly: every state/start/kill asks, few need the manager."""
        cg = self.state.cgroup
        if not cg:
            return False
        from pyrt.cgroups import freezer
        try:
            return freezer.is_frozen(cg.get("v2"), cg.get("v1") or {})
        except (OSError, PyrtError):
            return False

    def cgroup_manager(self):
        """The cgroup Manager recorded at create time, or None when the container has none.
        A container still `creating` (its creator died before recording the init) may have
        cgroups only cgroup.json knows of."""
        record = self.state.cgroup
        if not record and self.state.pid <= 0:
            try:
                record = st.read_cgroup_record(self.dir)
            except (OSError, ValueError) as e:
                raise st.UnreadableStateError(f"container {self.id!r}: {st.CGROUP_FILE}: {e}") from None
        if not record:
            return None
        from pyrt.cgroups import manager_from_state
        return manager_from_state(record)

    def oci_state(self) -> dict:
        """The runtime-spec state object (what `state ID` prints)."""
        status = self.status()
        out = {
            "ociVersion": st.OCI_VERSION,
            "id": self.id,
            "pid": self.state.pid if status not in (Status.STOPPED, Status.CREATING) else 0,
            "status": status.value,
            "bundle": self.state.bundle,
            "rootfs": self.state.rootfs,
            "created": self.state.created,
            "owner": self.state.owner,
        }
        if self.state.annotations:
            out["annotations"] = self.state.annotations
        return out

    def hook_state(self, status: Status | None = None) -> dict:
        """State JSON as hooks get it on stdin (runtime-spec shape only). With STATUS given (the
        runtime knows where it is) the live status is not asked: every create would pay for it."""
        if status is None:
            status = self.status()
        d = {"ociVersion": st.OCI_VERSION, "id": self.id, "status": status.value,
             "pid": 0 if status is Status.STOPPED else max(self.state.pid, 0),
             "bundle": self.state.bundle}
        if self.state.annotations:
            d["annotations"] = self.state.annotations
        return d

    # --- operations ----------------------------------------------------------------------
    def start(self) -> None:
        """Release the init into its process. poststart hooks run once that process has been
        executed, before start returns, with status `running` (runtime-spec lifecycle step 11;
        runc 1.1 runs them at the end of create with `created`); their failures only warn."""
        with self.transition("start"):
            if self.state.no_process:
                raise ConfigError("process: config.json has none, so there is nothing to start "
                                  "(it may be left out at create only)")
            # Nothing to record: the exec fifo is gone from now on, and that is what says "started"
            # (as with runc), so state.json stays as create wrote it.
            from pyrt import trace
            if trace.on:
                trace.step(f"start: open {self.fifo_path()} for reading: the init reads on and execs")
            poststart = self.state.hooks.get("poststart")
            # With startContainer hooks, read on until the process is executed: a failing hook
            # ends the init, and its message arrives on the fifo (runc 1.1.5 exits 0 here and
            # only the init's stderr tells; the runtime-spec says the runtime MUST error).
            failed = _release_init(self.fifo_path(), self.state.pid, self.state.start_time,
                                   until_exec=bool(poststart or self.state.hooks.get("startContainer")))
            if failed:
                from pyrt.errors import HookError
                raise HookError(failed.decode("utf-8", "replace"))
            if poststart:
                from pyrt.runtime import hooks
                hooks.run_hooks(self.state.hooks, "poststart", self.hook_state(Status.RUNNING), fatal=False)

    def kill(self, sig: int, all_processes: bool = False) -> None:
        """runc's answers, which containerd's shim matches (pkg/process/utils.go, checkKillError):
        `kill --all` signals whatever is left in the container's cgroup, also once the init has
        exited (exit 0; the shim reaps leftovers that way); plain `kill` of a container that is
        not running fails with `container not running` (exit 1)."""
        with self.transition() as status:  # kill's refusals are runc's own words (below)
            mgr = self.cgroup_manager()
            if all_processes and mgr is not None and mgr.exists():
                mgr.kill_all(sig)
            elif all_processes and not status.can_kill():
                return  # nothing left to signal (runc: stopped and no cgroup is success)
            elif not status.can_kill():
                raise st.NotRunningError(f"container not running ({self.id} is {status.value})")
            elif not signal_process(self.state.pid, self.state.start_time, sig):
                raise st.NotRunningError(f"container not running ({self.id}: its init has exited)")
            if status is Status.PAUSED and sig == 9 and mgr is not None:
                # as runc: a frozen process cannot die (v1 freezer), so SIGKILL thaws the group
                try:
                    mgr.thaw()
                except (OSError, PyrtError):
                    pass

    def delete(self, force: bool = False) -> None:
        from pyrt.runtime import hooks
        with self.transition(None if force else "delete", " (use --force)") as status:
            mgr = self.cgroup_manager()
            # Without a pid namespace of its own, processes may outlive the init: the cgroup
            # still holds them, and it cannot be removed until they are gone (runc kills them).
            if status is not Status.STOPPED or (mgr is not None and _cgroup_busy(mgr)):
                end_processes(mgr, self.state.pid, self.state.start_time, self.frozen())
            if mgr is not None:
                mgr.destroy()
            if "mount" not in self.state.namespaces:
                # the init mounted in the runtime's own mount namespace (inherited, per the spec)
                from pyrt.runtime import rootfs
                rootfs.release_inherited(self.state.rootfs)
            # poststop failures are logged, not fatal (runtime-spec)
            if self.state.hooks.get("poststop"):
                hooks.run_hooks(self.state.hooks, "poststop", self.hook_state(Status.STOPPED), fatal=False)
            remove_container_dir(self.dir)


class _Transition:
    """See Container.transition."""

    def __init__(self, ctr: Container, verb: str | None, hint: str):
        self.ctr, self.verb, self.hint = ctr, verb, hint
        self.lock = ctr.lock()

    def __enter__(self) -> Status:
        self.lock.__enter__()
        try:
            status = self.ctr.status()
            if self.verb is not None:
                status.require(self.verb, self.hint)
            return status
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise

    def __exit__(self, *exc) -> None:
        self.lock.__exit__(*exc)


def signal_process(pid: int, started: int, sig: int) -> bool:
    """Signal PID only if it is still the process that started at STARTED; False when it is
    gone (or the pid was reused). Never a pid <= 0 (0 and -1 reach a whole process group or every
    process), never without a recorded start time. The pidfd is opened before the start time
    is checked, so the check and the signal concern the same process."""
    if pid <= 0 or started <= 0:
        return False
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except OSError:
        fd = -1  # a kernel without pidfd_open: check, then kill (a small window remains)
    try:
        if not proc.alive(pid, started):
            return False
        import _signal
        if fd >= 0:
            _signal.pidfd_send_signal(fd, sig)
        else:
            os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        if fd >= 0:
            os.close(fd)


def end_processes(mgr, pid: int, started: int, frozen: bool = False) -> None:
    """SIGKILL every process of a container and wait until they are gone: through its cgroup when
    it has one (cgroup.kill, or freeze + kill of every pid on v1); its init alone otherwise,
    only when the pid still is the recorded process."""
    import _signal  # plain signal numbers, without signal.py's enums (start-up time)
    if mgr is not None and mgr.exists():
        if frozen:
            try:
                mgr.thaw()  # a frozen process cannot die
            except (OSError, PyrtError):
                pass
        try:
            mgr.kill_all(_signal.SIGKILL)
        except (OSError, PyrtError):
            signal_process(pid, started, _signal.SIGKILL)
        deadline = time.monotonic() + 10
        again = time.monotonic() + 0.1
        while time.monotonic() < deadline:
            try:
                if not mgr.pids():
                    break
                if time.monotonic() > again:
                    # a child forked while the pids were read and signalled (no freezer on v1)
                    mgr.kill_all(_signal.SIGKILL)
                    again = time.monotonic() + 0.1
            except (OSError, PyrtError):
                break
            time.sleep(0.01)
    elif signal_process(pid, started, _signal.SIGKILL):
        wait_gone(pid, started)


def _cgroup_busy(mgr) -> bool:
    try:
        return bool(mgr.pids())
    except (OSError, PyrtError):
        return False


def wait_gone(pid: int, started: int, timeout: float = 10.0) -> None:
    """Wait for a process we cannot waitpid (not our child) to disappear or turn zombie."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while proc.alive(pid, started):
        if time.monotonic() > deadline:
            raise PyrtError(f"process {pid} did not exit after SIGKILL")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _release_init(fifo: str, pid: int, started: int, until_exec: bool = False) -> bytes:
    """Open the exec fifo for reading: the init, blocked opening its write end, reads on and execs.
    O_NONBLOCK so a dead init cannot hang us; then wait for its byte. UNTIL_EXEC: also wait for
    end-of-file: the init keeps its write end (close-on-exec) until execve has replaced it.
    Returns what the init wrote after its byte: a failing startContainer hook's message, or b""."""
    import select
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    after = b""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        released = False
        while True:
            if poller.poll(50):
                try:
                    data = os.read(fd, 4096 if released else 1)
                except BlockingIOError:
                    data = None
                if data:
                    if released:
                        after = (after + data)[:4096]
                    released = True
                    if not until_exec:
                        break
                elif data == b"" and released:
                    break  # every writer closed: executed (or failed to, and exited)
            if not proc.alive(pid, started):
                if released:
                    break
                raise StateError("container init exited before start")
    finally:
        os.close(fd)
        try:
            os.unlink(fifo)
        except FileNotFoundError:
            pass
    return after


def remove_container_dir(d: str) -> None:
    for name in os.listdir(d):
        try:
            os.unlink(os.path.join(d, name))
        except IsADirectoryError:  # only a damaged state dir has one (state.json as a directory)
            import shutil
            shutil.rmtree(os.path.join(d, name))
    os.rmdir(d)


def delete_container(root: str, container_id: str, force: bool = False) -> None:
    """`delete [--force] ID`, whatever state the container's directory is in: a directory without
    state.json (a create killed right after mkdir) is removed, as runc does, and is then a
    missing container (fine with FORCE); an unreadable state.json is an error, or with FORCE its
    processes are ended through cgroup.json (force_delete_unreadable)."""
    try:
        ctr = Container.load(root, container_id)
    except NotFoundError:
        remove_debris(root, container_id)
        if force:
            return  # runc: delete --force of a missing container succeeds
        raise
    except st.UnreadableStateError as e:
        if not force:
            raise
        force_delete_unreadable(root, container_id, e)
        return
    ctr.delete(force=force)


def force_delete_unreadable(root: str, container_id: str, error: PyrtError) -> None:
    """`delete --force` of a container whose state.json cannot be read (ERROR): end what runs in
    the cgroups cgroup.json names, free them, remove the directory. Without a cgroup record
    nothing tells which processes are the container's: say so, and keep the directory."""
    d = st.container_dir(root, container_id)
    with st.Lock(d):
        try:
            record = st.read_cgroup_record(d)
        except (OSError, ValueError) as e:
            raise PyrtError(f"{error}; and {st.CGROUP_FILE}: {e}: cannot tell which processes are "
                            f"the container's, so nothing was killed; remove {d} by hand") from None
        if record is None:
            raise PyrtError(f"{error}; and no {st.CGROUP_FILE}: cannot tell which processes are the "
                            f"container's, so nothing was killed; remove {d} by hand")
        from pyrt.cgroups import manager_from_state
        try:
            mgr = manager_from_state(record)
        except (KeyError, TypeError, AttributeError) as e:
            raise PyrtError(f"{error}; and {st.CGROUP_FILE} is damaged ({e}): nothing was killed; "
                            f"remove {d} by hand") from None
        end_processes(mgr, 0, 0, mgr.exists() and _frozen(mgr))
        mgr.destroy()
        remove_container_dir(d)


def _frozen(mgr) -> bool:
    try:
        return mgr.frozen()
    except (OSError, PyrtError):
        return False


def remove_debris(root: str, container_id: str) -> bool:
    """Remove <root>/<id> when it holds no state.json once its lock is ours (a create killed
    right after mkdir; a live creator holds the lock until state.json is written). True if a
    directory was removed."""
    d = st.container_dir(root, container_id)
    try:
        with st.Lock(d):
            if not st.is_debris(d):
                return False
            remove_container_dir(d)
            return True
    except PyrtError:  # NotFoundError: nothing there
        return False


def list_containers(root: str, errors: list | None = None) -> list[Container]:
    """Every readable container; each unreadable one's error goes to ERRORS (a broken state.json
    must not hide the others). Directories without state.json (debris of a killed create) are
    skipped, as runc does."""
    out = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return out
    for name in names:
        try:
            out.append(Container.load(root, name))
        except st.UnreadableStateError as e:
            if errors is not None:
                errors.append(e)
        except PyrtError:
            continue
    return out

"""A container that exists under the runtime root: load it, ask its live status, start, kill, delete.

Creating one is pyrt.runtime.create (it needs the fork/init machinery); everything a later
`pyrt-runc` invocation does to an existing container lives here.
"""
from __future__ import annotations

import os
import time

from pyrt.errors import PyrtError, StateError
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

    def fifo_path(self) -> str:
        return os.path.join(self.dir, st.EXEC_FIFO)

    def init_alive(self) -> bool:
        return proc.alive(self.state.pid, self.state.start_time)

    def status(self) -> Status:
        """Live status: stopped unless the init pid runs with its recorded start time; paused when
        its cgroup is frozen (also before `start`, as runc); created while the exec fifo exists
        (init blocked on it); else running."""
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
        """The cgroup Manager recorded at create time, or None when the container has none."""
        if not self.state.cgroup:
            return None
        from pyrt.cgroups import manager_from_state
        return manager_from_state(self.state.cgroup)

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
        with self.lock():
            status = self.status()
            if not status.can_start():
                raise StateError(f"cannot start a container that is {status.value}")
            # Nothing to record: the exec fifo is gone from now on, and that is what says "started"
            # (as with runc), so state.json stays as create wrote it.
            from pyrt import trace
            if trace.on:
                trace.step(f"start: open {self.fifo_path()} for reading: the init reads on and execs")
            _release_init(self.fifo_path(), self.state.pid, self.state.start_time)

    def kill(self, sig: int, all_processes: bool = False) -> None:
        with self.lock():
            status = self.status()
            if not status.can_kill():
                raise StateError(f"cannot kill a container that is {status.value}")
            if all_processes:
                mgr = self.cgroup_manager()
                if mgr is not None:
                    mgr.kill_all(sig)
                    return
            os.kill(self.state.pid, sig)

    def delete(self, force: bool = False) -> None:
        from pyrt.runtime import hooks
        with self.lock():
            status = self.status()
            if not force and not status.can_delete():
                raise StateError(f"cannot delete a container that is {status.value} (use --force)")
            mgr = self.cgroup_manager()
            # Without a pid namespace of its own, processes may outlive the init: the cgroup
            # still holds them, and it cannot be removed until they are gone (runc kills them).
            if status is not Status.STOPPED or (mgr is not None and _cgroup_busy(mgr)):
                self._kill_and_wait()
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

    def _kill_and_wait(self) -> None:
        import _signal  # plain signal numbers, without signal.py's enums (start-up time)
        mgr = self.cgroup_manager()
        if mgr is not None and self.frozen():
            try:
                mgr.thaw()  # a frozen process cannot die
            except (OSError, PyrtError):
                pass
        try:
            if mgr is not None:
                mgr.kill_all(_signal.SIGKILL)
            else:
                os.kill(self.state.pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PyrtError:
            try:
                os.kill(self.state.pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_gone(self.state.pid, self.state.start_time)
        if mgr is not None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                try:
                    if not mgr.pids():
                        break
                except (OSError, PyrtError):
                    break
                time.sleep(0.01)


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


def _release_init(fifo: str, pid: int, started: int) -> None:
    """Open the exec fifo for reading: the init, blocked opening its write end, reads on and execs.
    O_NONBLOCK so a dead init cannot hang us; then wait for its byte."""
    import select
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            if poller.poll(50):
                data = os.read(fd, 1)
                if data:
                    break
            if not proc.alive(pid, started):
                raise StateError("container init exited before start")
    finally:
        os.close(fd)
        try:
            os.unlink(fifo)
        except FileNotFoundError:
            pass


def remove_container_dir(d: str) -> None:
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    os.rmdir(d)


def list_containers(root: str) -> list[Container]:
    out = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return out
    for name in names:
        try:
            out.append(Container.load(root, name))
        except PyrtError:
            continue
    return out

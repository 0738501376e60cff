"""The runtime a container runs under, behind one interface: pyrt's own runtime layer called
in-process (the default: no pyrt-runc subprocess), or any runc-compatible binary (`--runtime
runc`, `--runtime crun`) driven through its CLI and its JSON answers. The engine picks one per
container from its record (for_host) and calls only that: no verb branches on which it is.

Every method takes the container id; the runtime's state lives under ROOT (the engine's
run_root/runtime or run_root/runtime-NAME). Errors come back as the engine's: NotRunning when the
runtime says the container is not running, EngineError with the runtime's last line otherwise.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal

from pyrt.engine.errors import EngineError, InvalidArgument, NotRunning
from pyrt.errors import NotFoundError, PyrtError, StateError


class Runtime:
    """What the engine asks of a runtime (a runc-shaped set of verbs)."""
    name = ""

    def __init__(self, root: str):
        self.root = root

    def run(self, cid: str, bundle: str, tty: bool, before_start=None) -> tuple[int, int]:
        """create + start BUNDLE with this process's stdio (0-2); (init pid, pty master or -1).
        BEFORE_START(): called between the two (the container's process not started yet); if it
        raises, the created container is deleted."""
        raise NotImplementedError

    def kill(self, cid: str, sig: int) -> None:
        raise NotImplementedError

    def pause(self, cid: str) -> None:
        raise NotImplementedError

    def resume(self, cid: str) -> None:
        raise NotImplementedError

    def paused(self, cid: str) -> bool:
        raise NotImplementedError

    def delete(self, cid: str) -> bool:
        """Delete whatever the runtime holds of CID (force); whether its cgroup saw an OOM kill."""
        raise NotImplementedError

    def pids(self, cid: str) -> list[int]:
        raise NotImplementedError

    def stats(self, cid: str) -> dict:
        """runc's `events --stats` data: {"cpu": {"usage": {"total"}}, "memory": {"usage": {"usage",
        "limit"}}, "pids": {"current"}, ...}."""
        raise NotImplementedError

    def exec(self, cid: str, process: dict, detach: bool) -> int:
        """Run PROCESS (config.json's process object) in CID with this process's stdio; its exit
        code (0 when DETACH)."""
        raise NotImplementedError


class InProcess(Runtime):
    """pyrt's runtime layer, in this process."""
    name = "pyrt"

    def _load(self, cid: str):
        from pyrt.runtime.container import Container
        try:
            return Container.load(self.root, cid)
        except (NotFoundError, StateError):
            raise NotRunning(f"container {cid[:12]} is not running") from None

    def run(self, cid: str, bundle: str, tty: bool, before_start=None) -> tuple[int, int]:
        from pyrt.runtime.container import delete_container
        from pyrt.runtime.create import create
        with contextlib.suppress(PyrtError, OSError):
            delete_container(self.root, cid, force=True)    # what a crash left of an earlier run
        ctr = create(self.root, cid, bundle, foreground=tty, start=before_start is None)
        if before_start is not None:
            try:
                before_start()
            except BaseException:
                with contextlib.suppress(PyrtError, OSError):
                    delete_container(self.root, cid, force=True)
                raise
        if not ctr.started:
            ctr.start()
        return ctr.state.pid, ctr.console_master

    def kill(self, cid: str, sig: int) -> None:
        try:
            self._load(cid).kill(sig, all_processes=sig == signal.SIGKILL)
        except (NotFoundError, StateError):
            raise NotRunning(f"container {cid[:12]} is not running") from None

    def pause(self, cid: str) -> None:
        from pyrt.runtime import cgroup_ops
        cgroup_ops.pause(self.root, cid)

    def resume(self, cid: str) -> None:
        from pyrt.runtime import cgroup_ops
        cgroup_ops.resume(self.root, cid)

    def paused(self, cid: str) -> bool:
        try:
            return self._load(cid).frozen()
        except (PyrtError, OSError):
            return False

    def delete(self, cid: str) -> bool:
        from pyrt.runtime.container import delete_container
        oom = False
        with contextlib.suppress(PyrtError, OSError):
            mgr = self._load(cid).cgroup_manager()
            oom = bool(mgr and mgr.oom_killed())
        # whatever state the runtime's directory is in, a create killed half-way included
        delete_container(self.root, cid, force=True)
        return oom

    def pids(self, cid: str) -> list[int]:
        from pyrt.runtime import ops
        return ops.container_pids(self._load(cid))

    def stats(self, cid: str) -> dict:
        mgr = self._load(cid).cgroup_manager()
        return mgr.stats() if mgr is not None else {}

    def exec(self, cid: str, process: dict, detach: bool) -> int:
        from pyrt.runtime.create import exec_process
        from pyrt.spec.config import Process
        try:
            return exec_process(self.root, cid, Process.from_dict(process), detach=detach)
        except StateError:
            raise NotRunning(f"container {cid[:12]} is not running") from None


class External(Runtime):
    """A runc-compatible binary: `BINARY --root ROOT VERB ...`, answers read from its JSON."""

    def __init__(self, root: str, binary: str):
        super().__init__(root)
        self.binary = binary
        self.name = os.path.basename(binary)

    def _call(self, *args: str, check: bool = True):
        import subprocess
        try:
            p = subprocess.run([self.binary, "--root", self.root, *args], capture_output=True, text=True,
                               stdin=subprocess.DEVNULL)
        except OSError as e:
            raise InvalidArgument(f"--runtime {self.binary}: {e.strerror}") from None
        if check and p.returncode != 0:
            lines = (p.stderr or p.stdout).strip().splitlines()
            last = lines[-1] if lines else f"exit {p.returncode}"
            if "not running" in last or "does not exist" in last or "not exist" in last:
                raise NotRunning(f"{self.name} {args[0]}: {last}")
            raise EngineError(f"{self.name} {args[0]}: {last}")
        return p

    def _json(self, *args: str):
        out = self._call(*args).stdout
        try:
            return json.loads(out.strip().splitlines()[0] if args[0] == "events" else out)
        except (ValueError, IndexError):
            raise EngineError(f"{self.name} {args[0]}: not JSON: {out[:200]!r}") from None

    def run(self, cid: str, bundle: str, tty: bool, before_start=None) -> tuple[int, int]:
        """create + start. The init inherits our stdio (0-2), so the runtime's errors are read
        from --log (a pipe on its stderr would be held open by the container: create would never
        return); with TTY the pty master comes back over --console-socket."""
        import shutil
        import socket
        import subprocess
        import tempfile
        import threading
        self._call("delete", "--force", cid, check=False)
        log = os.path.join(bundle, "runtime.log")
        pid_file = os.path.join(bundle, "runtime.pid")   # the init's pid, known before it can exit
        args = [self.binary, "--log", log, "--log-format", "json", "--root", self.root, "create",
                "--bundle", bundle, "--pid-file", pid_file]
        master, listener, th = [-1], None, None
        if tty:
            # a short private directory: the bundle's path can be longer than a socket address
            sock_dir = tempfile.mkdtemp(prefix="pyrt-console-")
            path = os.path.join(sock_dir, "console.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen(1)

            def receive():
                conn, _ = listener.accept()
                _msg, fds, _f, _a = socket.recv_fds(conn, 4096, 1)
                master[0] = fds[0] if fds else -1
                conn.close()
            th = threading.Thread(target=receive, daemon=True)
            th.start()
            args += ["--console-socket", path]
        try:
            p = subprocess.run(args + [cid], stdin=0, stdout=1, stderr=2)
        except OSError as e:
            raise InvalidArgument(f"--runtime {self.binary}: {e.strerror}") from None
        finally:
            if listener is not None:
                listener.close()
                shutil.rmtree(sock_dir, ignore_errors=True)
        if p.returncode != 0:
            raise EngineError(f"{self.name} create: {last_log_error(log)}")
        if th is not None:
            th.join(10)
        with open(pid_file) as f:
            pid = int(f.read().strip())
        self._remember_cgroup(cid, pid)
        if before_start is not None:
            try:
                before_start()
            except BaseException:
                self._call("delete", "--force", cid, check=False)
                raise
        self._call("start", cid)
        return pid, master[0]

    def _cgroup_record(self, cid: str) -> str:
        # beside the runtime's root, not in it: the runtime lists every entry of its root as a container
        return os.path.join(self.root + ".cgroups", cid + ".json")

    def _remember_cgroup(self, cid: str, pid: int) -> None:
        """Where the runtime put the init (it waits in create, alive): its cgroup outlives it until
        delete, and its OOM counter is read there then (the runtime's CLI does not report one)."""
        path = self._cgroup_record(cid)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with contextlib.suppress(NotRunning):
            with open(path, "w") as f:
                json.dump(manager_of(pid).to_state(), f)

    def kill(self, cid: str, sig: int) -> None:
        self._call("kill", *(["--all"] if sig == signal.SIGKILL else []), cid, str(sig))

    def pause(self, cid: str) -> None:
        self._call("pause", cid)

    def resume(self, cid: str) -> None:
        self._call("resume", cid)

    def paused(self, cid: str) -> bool:
        """The freezer of the cgroup remembered at run (no runtime process per container for
        `ps`); the runtime's own `state` only where that record is missing or unreadable."""
        from pyrt.cgroups import freezer
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError, PyrtError):
            with open(self._cgroup_record(cid)) as f:
                record = json.load(f)
            # either freezer: on a hybrid host the runtime picks one (runc: v1), pyrt's choose() the other
            v2, v1 = record.get("v2"), record.get("v1", {}).get("freezer")
            return bool(v2 and freezer.frozen_v2(v2)) or bool(v1 and freezer.frozen_v1(v1))
        try:
            return self._json("state", cid).get("status") == "paused"
        except PyrtError:
            return False

    def delete(self, cid: str) -> bool:
        from pyrt.cgroups import manager_from_state
        path, oom = self._cgroup_record(cid), False
        with contextlib.suppress(OSError, ValueError, KeyError):
            with open(path) as f:
                oom = manager_from_state(json.load(f)).oom_killed()   # before delete removes the cgroup
        with contextlib.suppress(InvalidArgument):     # a runtime binary gone since: nothing it holds
            self._call("delete", "--force", cid, check=False)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return oom

    def pids(self, cid: str) -> list[int]:
        return [int(p) for p in self._json("ps", "--format", "json", cid) or []]

    def stats(self, cid: str) -> dict:
        if self._call("events", "--help", check=False).returncode != 0:
            # crun has no `events`: the counters of the cgroups its init is in, read by pyrt
            return cgroup_stats_of(int(self._json("state", cid).get("pid", 0)))
        return self._json("events", "--stats", cid).get("data", {})

    def exec(self, cid: str, process: dict, detach: bool) -> int:
        """`exec --process FILE`: the whole process object, as config.json spells it. Its errors
        come from --log (its stderr is the process's)."""
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory(prefix="pyrt-exec-") as d:
            path, log = os.path.join(d, "process.json"), os.path.join(d, "runtime.log")
            with open(path, "w") as f:
                json.dump(process, f)
            args = [self.binary, "--log", log, "--log-format", "json", "--root", self.root, "exec",
                    "--process", path, *(["--detach"] if detach else []), cid]
            try:
                p = subprocess.run(args)
            except OSError as e:
                raise InvalidArgument(f"--runtime {self.binary}: {e.strerror}") from None
            if p.returncode != 0:
                err = last_log_error(log, "")
                if err:
                    raise EngineError(_exec_words(err))
            return p.returncode


def cgroup_stats_of(pid: int) -> dict:
    """runc's stats data from the cgroups PID is in."""
    return manager_of(pid).stats()


def manager_of(pid: int):
    """A Manager over the cgroups PID is in (as /proc/PID/cgroup names them)."""
    from pyrt.cgroups import layout, v2
    from pyrt.cgroups.manager import Manager
    try:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
        with open(f"/proc/{pid}/cgroup") as f:
            lay = layout.parse(mountinfo, f.read())
    except (OSError, ValueError):
        raise NotRunning(f"process {pid} is gone") from None
    v1_dirs = {c.removeprefix("name="): h.dir_for(h.own) for c, h in lay.v1.items() if h.own != "/"}
    v1_roots = {c.removeprefix("name="): h.mountpoint for c, h in lay.v1.items()}
    v2_dir = lay.v2.dir_for(lay.v2.own) if lay.v2 and lay.v2.own != "/" else None
    mgr = Manager(path="", mode=lay.mode, v2_dir=v2_dir, v2_root=lay.v2.mountpoint if lay.v2 else None,
                  v2_controllers=v2.enabled_controllers(v2_dir) if v2_dir else (), v1_dirs=v1_dirs,
                  v1_roots=v1_roots)
    return mgr


def _exec_words(err: str) -> str:
    """runc's and crun's words for a command they could not run, as pyrt's own ("exec: ...",
    which the CLI turns into docker's 126 / 127)."""
    low = err.lower()
    for key in ("executable file not found", "no such file or directory", "permission denied", "not a directory"):
        if key in low:
            return "exec: " + err.split("exec: ", 1)[-1] if "exec: " in err else f"exec: {err}"
    return err


def last_log_error(path: str, default: str = "failed") -> str:
    """The last error line of a runtime's --log-format json log."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return default
    for line in reversed(lines):
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("level") in ("error", "fatal"):
            return d.get("msg", default)
    return default


def check(runtime: str) -> None:
    """--runtime names an executable (docker refuses an unknown runtime at create)."""
    if runtime and not (os.path.isfile(runtime) and os.access(runtime, os.X_OK)):
        raise InvalidArgument(f"unknown or invalid runtime name: {runtime}",
                              "give a runc-compatible binary's path or a name found in $PATH")


def for_host(run_root: str, runtime: str) -> Runtime:
    """The runtime a container's HostConfig.runtime names ("" is pyrt's own), with its state root."""
    name = "runtime" if not runtime else "runtime-" + os.path.basename(runtime)
    root = os.path.join(run_root, name)
    os.makedirs(root, mode=0o700, exist_ok=True)
    return External(root, runtime) if runtime else InProcess(root)

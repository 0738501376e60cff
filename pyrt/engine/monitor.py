"""pyrt-monitor: one process per run root that owns the running containers' stdio, logs and exits.

conmon's role, shared: docker-like engines need someone who outlives the CLI to hold a container's
output pipes, write its log, learn its exit status and honour --rm. conmon does it with one small C
process per container (~0.5 MB PSS here). A Python process per container would cost several MB, so
pyrt runs ONE monitor per run root, a child subreaper: every container's init is its descendant
(the monitor forks a short-lived worker that runs the runtime; when the worker exits, the init is
reparented to the monitor), so waitpid() gives the monitor every exit status. A container adds a
few fds and buffers to it; docs/engine.md has the measured per-container cost.

The monitor is started on demand by the first `start` (pyrt.engine.client_monitor.connect), which
hands it its first connection, and exits when it has nothing left to watch. If it is killed, the containers keep running; the engine then
reports them from the runtime's state, and `rm -f` still cleans everything (nothing lives only
in the monitor's memory: records are on disk).

Single-threaded (selectors + SIGCHLD through a wakeup fd), since it forks workers.
"""
from __future__ import annotations

import errno
import fcntl
import importlib
import json
import os
import re
import selectors
import signal
import socket
import sys
import time

from pyrt.engine import protocol as P
from pyrt.engine.logs import LogWriter, now_rfc3339

IDLE_EXIT = 1.0          # seconds with nothing to watch before the monitor exits
CLIENT_BUFFER = 8 << 20  # an attached client that falls this far behind is dropped, not waited for


class Conn:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = P.Reader()
        self.out = bytearray()
        self.tracked: Tracked | None = None   # attached to
        self.stdin = False
        self.closed = False


class Tracked:
    """A container the monitor watches, from its start request to the end of its cleanup."""

    def __init__(self, cid: str):
        self.id = cid
        self.pid = 0
        self.worker = 0
        self.report: socket.socket | None = None
        self.starter: Conn | None = None
        self.outputs: dict[int, str] = {}     # fd -> "stdout" | "stderr"
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.master = -1                      # pty master for -t
        self.log: LogWriter | None = None
        self.clients: list[Conn] = []
        self.waiters: list[Conn] = []
        self.exit_code: int | None = None
        self.finished_at = ""
        self.cleaner = 0
        self.cleaner_out = -1                 # the cleanup child's word on what it imported


class Monitor:
    def __init__(self, root: str, run_root: str, cgroup_parent: str):
        self.root = root
        self.run_root = run_root
        self.cgroup_parent = cgroup_parent
        self.sel = selectors.DefaultSelector()
        self.tracked: dict[str, Tracked] = {}
        self.by_pid: dict[int, tuple[str, Tracked]] = {}   # pid -> ("worker"|"plugger"|"init"|"cleaner", t)
        self.early: dict[int, int] = {}                    # reaped before we knew whose: pid -> status
        self.conns: set[Conn] = set()
        self.idle_since = time.monotonic()
        self.preloaded: set[str] = set()     # sys.modules once the preload is done
        self.late: set[str] = set()     # modules a child imported that the preload does not load


    # -- set-up ----------------------------------------------------------------------------
    def serve(self, first: socket.socket | None = None) -> None:
        """Serve until idle. FIRST: the connection of the client that started us, already open
        (its request needs no listening socket, and no polling for one)."""
        import prctl
        prctl.set_child_subreaper(True)
        prctl.set_name("pyrt-monitor")
        lock = os.open(os.path.join(self.run_root, P.LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # one monitor per run root. Started for a client: if another one won the race, leave at
            # once (the client sees its connection close and asks that one); by hand: wait for it.
            fcntl.flock(lock, fcntl.LOCK_EX | (fcntl.LOCK_NB if first is not None else 0))
        except BlockingIOError:
            first.close()
            return
        path = P.socket_path(self.run_root)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o077)
        try:
            self.listener.bind(path)
        finally:
            os.umask(old)
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.sel.register(self.listener, selectors.EVENT_READ, ("listen", None))
        self.wake_r, self.wake_w = socket.socketpair()
        for s in (self.wake_r, self.wake_w):
            s.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a stray TERM must not orphan every log
        self.sel.register(self.wake_r, selectors.EVENT_READ, ("wake", None))
        if first is not None:
            self.add_conn(first)
        # Before the first worker, not beside it: that worker would import the same modules for
        # itself, which on a busy machine (two cores here) doubles the cold start's CPU for no
        # gain in latency; with the preload done it starts with everything loaded.
        _preload()
        self.preloaded = set(sys.modules)
        try:
            self.loop()
        finally:
            # leave: unlink first, so a new client spawns a new monitor rather than talk to us
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            self.listener.close()

    def loop(self) -> None:
        while True:
            for key, mask in self.sel.select(timeout=IDLE_EXIT / 2):
                what, obj = key.data
                try:
                    getattr(self, "on_" + what)(key.fileobj, obj, mask)
                except Exception as e:      # one container's trouble never stops the others
                    log(f"{what}: {type(e).__name__}: {e}")
            self.reap()
            if self.tracked or self.conns:
                self.idle_since = time.monotonic()
            elif time.monotonic() - self.idle_since >= IDLE_EXIT:
                return

    # -- clients -----------------------------------------------------------------------------
    def on_listen(self, sock, _obj, _mask) -> None:
        while True:
            try:
                s, _ = self.listener.accept()
            except BlockingIOError:
                return
            self.add_conn(s)

    def add_conn(self, s: socket.socket) -> None:
        s.setblocking(False)
        c = Conn(s)
        self.conns.add(c)
        self.sel.register(s, selectors.EVENT_READ, ("conn", c))

    def on_conn(self, _sock, c: Conn, mask) -> None:
        if mask & selectors.EVENT_WRITE:
            self.flush(c)
        if not mask & selectors.EVENT_READ or c.closed:
            return
        try:
            data = c.sock.recv(65536)
        except (ConnectionResetError, BlockingIOError):
            data = b"" if not isinstance(sys.exc_info()[1], BlockingIOError) else None
        if data is None:
            return
        if not data:
            self.drop(c)
            return
        for kind, payload in c.reader.feed(data):
            if kind == P.REQ:
                self.request(c, json.loads(payload))
            elif kind == P.STDIN and c.tracked is not None and c.stdin:
                self.to_stdin(c.tracked, payload)
            elif kind == P.STDIN_CLOSE and c.tracked is not None and c.stdin:
                self.to_stdin(c.tracked, None)
            elif kind == P.RESIZE and c.tracked is not None and c.tracked.master >= 0:
                d = json.loads(payload)
                from pyrt.runtime import console
                console.set_size(c.tracked.master, d["height"], d["width"])

    def send(self, c: Conn, frame: bytes) -> None:
        if c.closed:
            return
        c.out += frame
        if len(c.out) > CLIENT_BUFFER:
            self.drop(c)
            return
        self.flush(c)

    def flush(self, c: Conn) -> None:
        try:
            while c.out:
                n = c.sock.send(c.out)
                del c.out[:n]
        except BlockingIOError:
            pass
        except OSError:
            self.drop(c)
            return
        self.sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.out else 0), ("conn", c))

    def drop(self, c: Conn) -> None:
        if c.closed:
            return
        c.closed = True
        self.conns.discard(c)
        if c.tracked is not None:
            if c in c.tracked.clients:
                c.tracked.clients.remove(c)
            if c in c.tracked.waiters:
                c.tracked.waiters.remove(c)
        self.sel.unregister(c.sock)
        c.sock.close()

    def reply(self, c: Conn, **obj) -> None:
        self.send(c, P.pack_json(P.REPLY, obj))

    def request(self, c: Conn, req: dict) -> None:
        op, cid = req.get("op"), req.get("id", "")
        t = self.tracked.get(cid)
        if op in ("start", "run"):
            if t is not None:
                self.reply(c, error="container is already running", kind="Conflict")
                return
            self.start(c, cid, req)
        elif op == "attach":
            if t is None or t.exit_code is not None or t.cleaner:
                self.reply(c, error="container is not running", kind="NotRunning")
                return
            c.tracked, c.stdin = t, bool(req.get("stdin"))
            t.clients.append(c)
            self.reply(c, ok=True)
        elif op == "wait":
            if t is None:
                self.reply(c, tracked=False)
                return
            c.tracked = t
            t.waiters.append(c)
        elif op == "ping":
            self.reply(c, ok=True, pid=os.getpid(), late_imports=sorted(self.late))
        else:
            self.reply(c, error=f"unknown request {op!r}", kind="InvalidArgument")

    # -- starting a container ---------------------------------------------------------------------
    def start(self, c: Conn, cid: str, req: dict) -> None:
        from pyrt.engine import runner
        t = Tracked(cid)
        tty = bool(req.get("tty"))
        child_fds = {}
        try:
            if not tty:
                out_r, out_w = os.pipe2(os.O_CLOEXEC)
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
                t.outputs = {out_r: "stdout", err_r: "stderr"}
                child_fds = {1: out_w, 2: err_w}
                if req.get("open_stdin"):
                    in_r, in_w = os.pipe2(os.O_CLOEXEC)
                    t.stdin_fd = in_w
                    os.set_blocking(in_w, False)
                    child_fds[0] = in_r
            log_opts = req.get("log", {})
            t.log = LogWriter(req["log_path"], log_opts.get("max_size", 0), log_opts.get("max_file", 1))
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError as e:
            for fd in list(t.outputs) + list(child_fds.values()) + ([t.stdin_fd] if t.stdin_fd >= 0 else []):
                os.close(fd)
            self.reply(c, error=f"cannot set up the container's stdio: {e}", kind="EngineError")
            return
        # The first container on a network: the worker goes at once, without the netlink library
        # (pyroute2: ~100 ms of imports), and creates the container while we load it on the
        # other core; then our plugger child, which has it, connects the container's endpoints
        # and the worker starts it. Later ones find it loaded: their worker does it all.
        plug = req.get("network") and not _network_loaded()
        plug_ours, plug_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) if plug else (None, None)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                runner.worker(self.root, self.run_root, self.cgroup_parent, cid, theirs, child_fds, tty,
                              req if req.get("op") == "run" else None, plug_theirs)
                code = 0
            finally:
                os._exit(code)
        theirs.close()
        if plug:
            plug_theirs.close()
        for fd in child_fds.values():
            os.close(fd)
        t.worker, t.report, t.starter = pid, mine, c
        self.by_pid[pid] = ("worker", t)
        self.tracked[cid] = t
        if req.get("attach"):
            c.tracked, c.stdin = t, bool(req.get("open_stdin"))
            t.clients.append(c)
        for fd in t.outputs:
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, ("output", t))
        self.sel.register(mine, selectors.EVENT_READ, ("report", t))
        if plug:
            self.plugger(t, plug_ours)

    def plugger(self, t: Tracked, sock: socket.socket) -> None:
        """Load the netlink library (once per monitor: every later child inherits it), then fork
        the child that connects T's endpoints for its worker (pyrt.engine.runner.plugger)."""
        import gc
        from pyrt.network import pyroute
        try:
            gc.disable()    # module code leaves no garbage to look for: ~5% of the ~100 ms
            try:
                pyroute.preload()
            except Exception as e:    # noqa: BLE001 - the plugger meets it again, and says so
                log(f"network modules: {type(e).__name__}: {e}")
            finally:
                gc.enable()
            gc.freeze()     # as _preload does: forks keep sharing these pages
            from pyrt.engine import runner
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    runner.plugger(self.root, self.run_root, t.id, sock)
                    code = 0
                except BaseException:   # noqa: BLE001 - the worker hears of it (EOF), our log says why
                    import traceback
                    log(f"plugger of {t.id}: {traceback.format_exc()}")
                finally:
                    os._exit(code)
            self.by_pid[pid] = ("plugger", t)
        finally:
            sock.close()      # ours gone, the worker sees the plugger's end only (or none: EOF)

    def on_report(self, sock, t: Tracked, _mask) -> None:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 65536, 1)
        except OSError:
            msg, fds = b"", []
        self.sel.unregister(sock)
        sock.close()
        t.report = None
        d = json.loads(msg) if msg else {"error": "the container's start-up worker died", "kind": "EngineError"}
        starter, t.starter = t.starter, None
        imported = d.pop("imported", ())
        if "error" in d:
            if starter is not None:
                self.reply(starter, **d)
            self.forget(t)
            self.learn(imported)
            return
        t.pid = d["pid"]
        if fds:
            t.master = fds[0]
            os.set_blocking(t.master, False)
            t.outputs[t.master] = "stdout"
            self.sel.register(t.master, selectors.EVENT_READ, ("output", t))
        self.by_pid[t.pid] = ("init", t)
        if starter is not None:
            self.reply(starter, ok=True, pid=t.pid)
        if t.pid in self.early:
            self.exited(t, self.early.pop(t.pid))
        self.learn(imported)

    def learn(self, names) -> None:
        """Import what a child had to import for itself, so that the next one finds it loaded
        (PRELOAD may lag behind the code). What the preload does not load is a gap in it: `ping`
        lists those (for the tests)."""
        for name in names:
            if not isinstance(name, str) or not _MODULE_NAME.fullmatch(name):
                continue
            if name not in self.preloaded:
                self.late.add(name)
            if name not in sys.modules:
                try:
                    importlib.import_module(name)
                except Exception:   # noqa: BLE001 - a module that fails here is the child's business
                    pass

    # -- output -------------------------------------------------------------------------------------
    def on_output(self, fd, t: Tracked, _mask) -> None:
        if fd not in t.outputs:
            return      # closed by an earlier event of this same round
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            data = b"" if e.errno == errno.EIO else None   # EIO: the pty's last user is gone
            if data is None:
                raise
        if not data:
            self.close_output(t, fd)
            return
        self.output(t, t.outputs[fd], data)

    def output(self, t: Tracked, stream: str, data: bytes) -> None:
        if t.log is not None:
            t.log.write(stream, data)
        frame = P.pack(P.STDOUT if stream == "stdout" else P.STDERR, data)
        for c in list(t.clients):
            self.send(c, frame)

    def close_output(self, t: Tracked, fd: int) -> None:
        if fd in t.outputs:
            del t.outputs[fd]
            self.sel.unregister(fd)
            if fd == t.master:
                return   # the master is closed when the container is done (resizes still go to it)
            os.close(fd)

    def drain(self, t: Tracked) -> None:
        for fd in list(t.outputs):
            while True:
                try:
                    data = os.read(fd, 65536)
                except (BlockingIOError, OSError):
                    break
                if not data:
                    break
                self.output(t, t.outputs[fd], data)
            self.close_output(t, fd)

    def to_stdin(self, t: Tracked, data: bytes | None) -> None:
        if t.master >= 0:
            if data:
                try:
                    os.write(t.master, data)
                except OSError:
                    pass
            return
        if t.stdin_fd < 0:
            return
        if data is None:
            if not t.stdin_buf:
                os.close(t.stdin_fd)
                t.stdin_fd = -1
            else:
                t.stdin_buf += b"\0CLOSE"  # never written: a marker the writer stops at
            return
        t.stdin_buf += data
        self.push_stdin(t)

    def push_stdin(self, t: Tracked) -> None:
        close = t.stdin_buf.endswith(b"\0CLOSE")
        body = t.stdin_buf[:-6] if close else t.stdin_buf
        try:
            n = os.write(t.stdin_fd, body) if body else 0
        except BlockingIOError:
            n = 0
        except OSError:
            n, close, body = len(body), True, b""
        del t.stdin_buf[:n]
        if close and n == len(body):
            os.close(t.stdin_fd)
            t.stdin_fd = -1
            t.stdin_buf.clear()

    # -- exits --------------------------------------------------------------------------------------
    def on_wake(self, sock, _obj, _mask) -> None:
        try:
            while sock.recv(4096):
                pass
        except BlockingIOError:
            pass

    def reap(self) -> None:
        for t in self.tracked.values():
            if t.stdin_fd >= 0 and t.stdin_buf:
                self.push_stdin(t)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            role, t = self.by_pid.pop(pid, (None, None))
            if role is None:
                self.early[pid] = status    # an init whose worker has not reported yet
            elif role == "init":
                self.exited(t, status)
            elif role == "cleaner":
                self.cleaned(t)
            # a worker: its report (or its absence) says how the start went

    def exited(self, t: Tracked, status: int) -> None:
        t.exit_code = os.waitstatus_to_exitcode(status)
        if t.exit_code < 0:
            t.exit_code = 128 - t.exit_code
        t.finished_at = now_rfc3339()
        self.drain(t)
        if t.log is not None:
            t.log.close()
        from pyrt.engine import runner
        log_error = t.log.error if t.log is not None else ""
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            code = 1
            before = set(sys.modules)
            try:
                runner.cleanup(self.root, self.run_root, t.id, t.exit_code, t.finished_at, log_error)
                code = 0
            except BaseException:   # noqa: BLE001 - said in our log; `rm -f` still cleans up
                import traceback
                log(f"cleanup of {t.id}: {traceback.format_exc()}")
            finally:
                try:
                    os.write(w, json.dumps(runner.imported_since(before)).encode()[:4096])
                finally:
                    os._exit(code)
        os.close(w)
        t.cleaner, t.cleaner_out = pid, r
        self.by_pid[pid] = ("cleaner", t)

    def cleaned(self, t: Tracked) -> None:
        imported = []
        try:
            os.set_blocking(t.cleaner_out, False)
            imported = json.loads(os.read(t.cleaner_out, 4096) or b"[]")
        except (OSError, ValueError):
            pass
        os.close(t.cleaner_out)
        t.cleaner_out = -1
        frame = P.pack_json(P.EXIT, {"exit_code": t.exit_code})
        for c in t.clients + t.waiters:
            self.send(c, frame)
        self.forget(t)
        self.learn(imported)

    def forget(self, t: Tracked) -> None:
        for fd in list(t.outputs):
            self.close_output(t, fd)
        for fd in (t.master, t.stdin_fd):
            if fd >= 0:
                os.close(fd)
        t.master = t.stdin_fd = -1
        if t.log is not None:
            t.log.close()
        if t.report is not None:
            self.sel.unregister(t.report)
            t.report.close()
        for c in t.clients + t.waiters:
            c.tracked = None
        self.tracked.pop(t.id, None)


def log(line: str) -> None:
    sys.stderr.write(f"{now_rfc3339()} {line}\n")
    sys.stderr.flush()


_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

# What every worker, cleanup child and container init (pyrt.runtime.init._preload) of a
# `run --network none` imports. `ping`'s late_imports lists what a worker or cleanup child still
# had to import (tests/integration/test_engine_monitor.py keeps it empty); an init's imports are
# its own (it execs): `python -X importtime` on a warm `pyrt run` shows them on its stderr.
PRELOAD = (
    "pyrt.cgroups.common", "pyrt.cgroups.devfilter", "pyrt.cgroups.devices", "pyrt.cgroups.layout",
    "pyrt.cgroups.manager", "pyrt.cgroups.placement", "pyrt.cgroups.v1", "pyrt.cgroups.v2",
    "pyrt.engine.bundle", "pyrt.engine.engine", "pyrt.engine.networking", "pyrt.engine.rootfs",
    "pyrt.engine.runner", "pyrt.engine.runtimes",
    "pyrt.engine.seccomp_default", "pyrt.engine.snapshot", "pyrt.engine.users", "pyrt.engine.volumes",
    "pyrt.image.manifest", "pyrt.image.reference", "pyrt.image.store",
    "pyrt.linux.capabilities", "pyrt.linux.hardening", "pyrt.linux.netdev", "pyrt.linux.overlay",
    "pyrt.linux.paths", "pyrt.linux.proc", "pyrt.linux.seccomp", "pyrt.linux.signals",
    "pyrt.network.resolvconf",
    "pyrt.runtime.container", "pyrt.runtime.create", "pyrt.runtime.hooks", "pyrt.runtime.init",
    "pyrt.runtime.rootfs",
    "pyrt.spec.capabilities", "pyrt.spec.config", "pyrt.spec.resources", "pyrt.spec.seccomp",
)


def _network_loaded() -> bool:
    from pyrt.network import pyroute
    return pyroute.loaded()


def _preload() -> None:
    """Import here, once, what every worker and cleanup child runs: a fork then starts with it
    all loaded (tens of ms per container otherwise), and the pages stay shared with us."""
    for name in PRELOAD:
        importlib.import_module(name)
    import gc
    gc.freeze()    # what is loaded now is never collected: forks keep sharing its pages


def serve(root: str, run_root: str, cgroup_parent: str, first: socket.socket | None = None,
          title: bool = False) -> None:
    """Be RUN_ROOT's monitor until idle. TITLE: we are a fork of a CLI: show what we are in ps
    (our command line is the CLI's) rather than the command that started us."""
    if first is not None:
        os.set_inheritable(first.fileno(), False)
    if title:
        import prctl
        prctl.set_proctitle(f"pyrt-monitor {run_root}")
    Monitor(root, run_root, cgroup_parent).serve(first)


def main() -> None:
    """`python -m pyrt.engine.monitor ROOT RUN_ROOT CGROUP_PARENT [FD]`: FD, the first client's
    connection (pyrt.engine.client_monitor passes it)."""
    root, run_root, cgroup_parent = sys.argv[1:4]
    first = socket.socket(fileno=int(sys.argv[4])) if len(sys.argv) > 4 else None
    serve(root, run_root, cgroup_parent, first)


if __name__ == "__main__":
    main()

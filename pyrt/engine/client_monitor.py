"""Talking to the monitor (pyrt.engine.monitor) from the CLI or an embedding program: find it,
start it when none runs, send a request, and stream an attached container's output."""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time

from pyrt.engine import errors as E
from pyrt.engine import protocol as P

SPAWN_TIMEOUT = 10.0


def alive(run_root: str) -> bool:
    """Whether a monitor holds the run root's lock (it holds it for its whole life)."""
    try:
        fd = os.open(os.path.join(run_root, P.LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


# Set by the CLI (pyrt.cli.engine_run.client_for) to pyrt.engine.monitor's serve: start the monitor
# as a fork of this process, running that. Handed in, not imported here: the monitor imports the
# engine, which imports this module.
fork_spawn = None


def _spawn(root: str, run_root: str, cgroup_parent: str) -> socket.socket:
    """Start a monitor, in its own session and detached from our stdio (its stderr, its own
    trouble only, goes to RUN_ROOT/monitor.log); a connection to it, which it serves first.

    The CLI forks it from itself (fork_spawn): a short, single-threaded process that has loaded
    much of what the monitor needs, so the cold start pays no interpreter start-up and fewer
    imports. It is the CLI's child (no double fork to wait for): the CLI leaves long before it,
    or, attached to a container, keeps it busy. Anyone else (a program using pyrt.Client, with
    its own threads, heap and children) gets a fresh interpreter, `python -m pyrt.engine.monitor`,
    double-forked, with the connection as its fd 3."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log = os.path.join(run_root, "monitor.log")
    serve = fork_spawn if threading_idle() else None
    fork = serve is not None
    if fork:
        for f in (sys.stdout, sys.stderr):
            if f is not None:       # None: the fd was closed when we started
                f.flush()
    else:
        # the directory holding the pyrt package (this file is pyrt/engine/client_monitor.py)
        pkg_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = pkg_parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    pid = os.fork()
    if pid == 0:
        code = 127
        try:
            os.setsid()
            if not fork and os.fork():
                os._exit(0)
            # detached, so that no socket object of ours closes a reused fd number later; every
            # fd kept above 2 first (a caller with its stdin closed got 0 for one of them)
            conn = _above_stdio(theirs.detach())
            ours.detach()
            null = _above_stdio(os.open("/dev/null", os.O_RDWR))
            out = _above_stdio(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(out, 2)
            os.dup2(conn, 3)
            os.set_inheritable(3, True)     # survives the exec
            os.closerange(4, 1 << 20)       # nothing of our caller's (a pipe it waits on) stays open
            os.chdir("/")
            if fork:
                for n, name in enumerate(("stdin", "stdout", "stderr")):
                    if getattr(sys, name) is None:      # closed when the CLI started: open now
                        setattr(sys, name, open(n, "r" if n == 0 else "w", closefd=False))
                try:
                    serve(root, run_root, cgroup_parent, socket.socket(fileno=3), title=True)
                    code = 0
                except BaseException:
                    import traceback
                    traceback.print_exc()     # into monitor.log, as an exec'd monitor's would go
                    sys.stderr.flush()
            else:
                os.execve(sys.executable, [sys.executable, "-m", "pyrt.engine.monitor", root, run_root,
                                           cgroup_parent, "3"], env)
        finally:
            os._exit(code)
    theirs.close()
    if not fork:
        os.waitpid(pid, 0)
    return ours


def _above_stdio(fd: int) -> int:
    return fd if fd > 2 else fcntl.fcntl(fd, fcntl.F_DUPFD, 3)


def threading_idle() -> bool:
    """No thread but this one (forking a process with other threads can copy a held lock)."""
    th = sys.modules.get("threading")
    return th is None or th.active_count() == 1


def connect(root: str, run_root: str, cgroup_parent: str, spawn: bool = True) -> socket.socket | None:
    """A connection to RUN_ROOT's monitor; with SPAWN, one is started when none runs."""
    path = P.socket_path(run_root)
    deadline = time.monotonic() + SPAWN_TIMEOUT
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
        if not spawn:
            return None
        if not alive(run_root):
            return _spawn(root, run_root, cgroup_parent)
        # a monitor holds the lock but does not listen: it is starting, or leaving
        if time.monotonic() > deadline:
            raise E.EngineError(f"the monitor did not start (see {os.path.join(run_root, 'monitor.log')})")
        time.sleep(0.005)


class Attached:
    """A connection to the monitor after an attach-ing request: frames of output, then the exit."""

    def __init__(self, sock: socket.socket, reader: P.Reader, pending: list):
        self.sock = sock
        self.reader = reader
        self.pending = pending

    def frames(self):
        """Yield ("stdout"|"stderr", bytes) and finally ("exit", code); ("exit", None) if the
        monitor went away."""
        while True:
            f = P.recv_frame(self.sock, self.reader, self.pending)
            if f is None:
                yield "exit", None
                return
            kind, payload = f
            if kind == P.STDOUT:
                yield "stdout", payload
            elif kind == P.STDERR:
                yield "stderr", payload
            elif kind == P.EXIT:
                yield "exit", json.loads(payload)["exit_code"]
                return

    def send_stdin(self, data: bytes) -> None:
        self.sock.sendall(P.pack(P.STDIN, data))

    def close_stdin(self) -> None:
        self.sock.sendall(P.pack(P.STDIN_CLOSE))

    def resize(self, height: int, width: int) -> None:
        self.sock.sendall(P.pack_json(P.RESIZE, {"height": height, "width": width}))

    def close(self) -> None:
        self.sock.close()


_ERRORS = {"Conflict": E.Conflict, "NotRunning": E.NotRunning, "NotFound": E.NotFound,
           "InvalidArgument": E.InvalidArgument}


def _raise(reply: dict):
    kind = reply.get("kind", "")
    msg = reply["error"]
    if msg.startswith("exec: "):
        # the runtime's words (runc's) for an args[0] it could not run: docker's 127 / 126
        if "not found" in msg or "no such file or directory" in msg:
            raise E.CommandNotFound(msg, reply.get("hint"))
        if "permission denied" in msg or "not a directory" in msg:
            raise E.CommandNotRunnable(msg, reply.get("hint"))
    cls = _ERRORS.get(kind)
    if cls is None:
        import pyrt.errors as base
        cls = getattr(base, kind, None)
        if not (isinstance(cls, type) and issubclass(cls, base.PyrtError)):
            cls = E.EngineError
    raise cls(reply["error"], reply.get("hint"))


def request(root: str, run_root: str, cgroup_parent: str, req: dict, keep: bool = False):
    """Send REQ, raise its error or return: an Attached when KEEP, else the reply dict."""
    for attempt in range(3):
        sock = connect(root, run_root, cgroup_parent)
        reader, pending = P.Reader(), []
        early = []      # an attached container's output can come before the reply to its start
        try:
            sock.sendall(P.pack_json(P.REQ, req))
            while True:
                f = P.recv_frame(sock, reader, pending)
                if f is None or f[0] == P.REPLY:
                    break
                early.append(f)
        except (ConnectionResetError, BrokenPipeError):
            f = None
        pending[:0] = early
        if f is None:
            # a monitor on its way out took our connection, or the one started for us lost the
            # race to another: ask again
            sock.close()
            continue
        reply = json.loads(f[1])
        if "error" in reply:
            sock.close()
            _raise(reply)
        if keep:
            return Attached(sock, reader, pending)
        sock.close()
        return reply
    raise E.EngineError("the monitor closed the connection three times "
                        f"(see {os.path.join(run_root, 'monitor.log')})")


def wait(run_root: str, cid: str, timeout: float | None) -> int | None:
    """The exit code once the monitor has recorded the exit; None if no monitor watches CID or
    TIMEOUT passes."""
    sock = connect("", run_root, "", spawn=False)
    if sock is None:
        return None
    try:
        sock.settimeout(timeout)
        reader, pending = P.Reader(), []
        sock.sendall(P.pack_json(P.REQ, {"op": "wait", "id": cid}))
        while True:
            f = P.recv_frame(sock, reader, pending)
            if f is None:
                return None
            kind, payload = f
            if kind == P.REPLY:
                return None      # {"tracked": false}
            if kind == P.EXIT:
                return json.loads(payload)["exit_code"]
    except (socket.timeout, OSError):
        return None
    finally:
        sock.close()

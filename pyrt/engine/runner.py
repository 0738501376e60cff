"""What the monitor's short-lived children do: start a container (worker) and clean up after it
exits (cleanup). Each runs in a fork of the monitor, so a failure or a slow unmount never stalls
the monitor's loop, and the container's init ends up the monitor's child (it is a subreaper).

With the default runtime the OCI bundle is run by pyrt.runtime in this process (no pyrt-runc
exec); `--runtime PATH` runs it with any runc-compatible binary instead.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys

from pyrt.errors import PyrtError


def _isolate(report: socket.socket, child_fds: dict[int, int],
             plug: socket.socket | None = None) -> tuple[socket.socket, socket.socket | None]:
    """Leave only the container's stdio (0-2), the report socket (3) and PLUG's (4) open: the
    container must not inherit any other container's pipes (their EOF would never come) or the
    monitor's socket."""
    for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    fds = {n: child_fds.get(n, devnull) for n in (0, 1, 2)}
    keep = [os.dup(s.fileno()) for s in (report, plug) if s is not None]
    for n, fd in fds.items():
        os.dup2(fd, n)            # dup2 leaves the new fd inheritable: the init's stdio
    for n, fd in enumerate(keep, 3):
        os.dup2(fd, n, inheritable=False)
    os.closerange(3 + len(keep), 1 << 20)
    return socket.socket(fileno=3), socket.socket(fileno=4) if plug is not None else None


def worker(root: str, run_root: str, cgroup_parent: str, cid: str, report: socket.socket,
           child_fds: dict[int, int], tty: bool, run_req: dict | None = None,
           plug: socket.socket | None = None) -> None:
    """Start container CID (RUN_REQ: make it first, as `pyrt run` asks) and report its init's pid,
    or the error, to the monitor, with the modules it had to import (the monitor loads them for
    the next one). PLUG: a socket to the monitor's plugger (below), which connects the endpoints
    while this process creates the container."""
    before = set(sys.modules)
    sock, plug = _isolate(report, child_fds, plug)
    helped: list[str] = []      # what the plugger imported
    from pyrt.engine.engine import Engine
    eng = Engine(root, run_root, cgroup_parent)
    try:
        if run_req is not None:
            eng.create_from_request(cid, run_req)
        pid, master = eng.launch(cid, tty, None if plug is None else lambda: _ask_plugger(plug, helped))
    except (PyrtError, OSError) as e:
        sock.send(json.dumps({**_error(e), "imported": imported_since(before, helped)}).encode())
        return
    msg = json.dumps({"pid": pid, "imported": imported_since(before, helped)}).encode()
    socket.send_fds(sock, [msg], [master] if master >= 0 else [])


def _error(e: Exception) -> dict:
    """E as the monitor's reply carries an error (the client raises its kind again)."""
    if isinstance(e, PyrtError):
        return {"error": e.message, "kind": getattr(e, "kind", type(e).__name__), "exit_code": e.exit_code,
                "hint": e.hint}
    where = f": {e.filename}" if getattr(e, "filename", None) else ""
    return {"error": f"{getattr(e, 'strerror', None) or e}{where}", "kind": "EngineError"}


class Relayed(PyrtError):
    """An error the plugger met, raised again in the worker as it was."""

    def __init__(self, d: dict):
        super().__init__(d["error"], d.get("hint"))
        self.kind = d.get("kind", "EngineError")
        self.exit_code = d.get("exit_code", PyrtError.exit_code)


def _ask_plugger(plug: socket.socket, helped: list[str]) -> None:
    """The container is created in its bare namespace: have the plugger connect it, and wait."""
    try:
        plug.send(b"plug", socket.MSG_NOSIGNAL)     # SIGPIPE is the default again here
        reply = plug.recv(65536)
    except OSError:
        reply = b""
    d = json.loads(reply) if reply else {"error": "the network set-up helper died", "kind": "EngineError"}
    helped += d.pop("imported", ())
    if "error" in d:
        raise Relayed(d)


def plugger(root: str, run_root: str, cid: str, plug: socket.socket) -> None:
    """In a fork of the monitor made once it has the netlink library loaded (the worker, forked
    before, did without it): connect CID's endpoints when its worker asks (it holds the
    container's lock meanwhile), and answer with the error, if any, and what this had to import."""
    before = set(sys.modules)
    plug, _ = _isolate(plug, {0: 0, 1: 1, 2: 2})
    if plug.recv(16) != b"plug":
        return          # the worker stopped before it needed us
    from pyrt.engine import networking
    from pyrt.engine.engine import Engine
    d = {}
    try:
        eng = Engine(root, run_root, "")
        networking.plug(eng, eng.store.read(cid))
    except (PyrtError, OSError) as e:
        d = _error(e)
    with contextlib.suppress(OSError):      # the worker is gone: nobody to tell
        plug.send(json.dumps({**d, "imported": imported_since(before)}).encode(), socket.MSG_NOSIGNAL)


def imported_since(before: set[str], also=()) -> list[str]:
    """The modules loaded since BEFORE (and ALSO), for the monitor to load too (a few, at most 100)."""
    return sorted((set(sys.modules) - before) | set(also))[:100]


def cleanup(root: str, run_root: str, cid: str, exit_code: int, finished_at: str, log_error: str) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    from pyrt.engine.engine import Engine
    Engine(root, run_root, "").after_exit(cid, exit_code, finished_at, log_error)

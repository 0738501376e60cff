"""What the monitor's short-lived children do: start a container (worker) and clean up after it
exits (cleanup). Each runs in a fork of the monitor, so a failure or a slow unmount never stalls
the monitor's loop, and the container's init ends up the monitor's child (it is a subreaper).

With the default runtime the OCI bundle is run by pyrt.runtime in this process (no pyrt-runc
exec); `--runtime PATH` runs it with any runc-compatible binary instead.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys

from pyrt.errors import PyrtError


def _isolate(report: socket.socket, child_fds: dict[int, int]) -> socket.socket:
    """Leave only the container's stdio (0-2) and the report socket (3) open: the container must
    not inherit any other container's pipes (their EOF would never come) or the monitor's socket."""
    for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    fds = {n: child_fds.get(n, devnull) for n in (0, 1, 2)}
    rep = os.dup(report.fileno())
    for n, fd in fds.items():
        os.dup2(fd, n)            # dup2 leaves the new fd inheritable: the init's stdio
    os.dup2(rep, 3, inheritable=False)
    os.closerange(4, 1 << 20)
    return socket.socket(fileno=3)


def worker(root: str, run_root: str, cgroup_parent: str, cid: str, report: socket.socket,
           child_fds: dict[int, int], tty: bool, run_req: dict | None = None) -> None:
    """Start container CID (RUN_REQ: make it first, as `pyrt run` asks) and report its init's pid,
    or the error, to the monitor, with the modules it had to import (the monitor loads them for
    the next one)."""
    before = set(sys.modules)
    sock = _isolate(report, child_fds)
    from pyrt.engine.engine import Engine
    eng = Engine(root, run_root, cgroup_parent)
    try:
        if run_req is not None:
            eng.create_from_request(cid, run_req)
        pid, master = eng.launch(cid, tty)
    except PyrtError as e:
        sock.send(json.dumps({"error": e.message, "kind": type(e).__name__, "exit_code": e.exit_code,
                              "hint": e.hint, "imported": imported_since(before)}).encode())
        return
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        sock.send(json.dumps({"error": f"{e.strerror or e}{where}", "kind": "EngineError",
                              "imported": imported_since(before)}).encode())
        return
    msg = json.dumps({"pid": pid, "imported": imported_since(before)}).encode()
    socket.send_fds(sock, [msg], [master] if master >= 0 else [])


def imported_since(before: set[str]) -> list[str]:
    """The modules loaded since BEFORE, for the monitor to load too (a few, at most 100)."""
    return sorted(set(sys.modules) - before)[:100]


def cleanup(root: str, run_root: str, cid: str, exit_code: int, finished_at: str, log_error: str) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    from pyrt.engine.engine import Engine
    Engine(root, run_root, "").after_exit(cid, exit_code, finished_at, log_error)

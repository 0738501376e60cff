"""pyrt-runc's resident helper: the short verbs at the cost of a fork instead of an interpreter.

    pyrt-runc-helper [--socket PATH] [--verbose]    (default /run/pyrt-runc-helper.sock; root only)

--verbose: one line on stderr per call: `served VERB (N ms CPU)` once it has run (the fork's CPU
time: what the client's own lacks), or `declined VERB: why` (the first namespace, id or
capability set that differs, or the hook that must run).

Why: containerd's shim runs its runtime once per verb, and a pod's stop is five of them (kill x3,
delete x2). runc does one in ~8 ms; Python's start alone takes ~11 ms here, so no pyrt-runc call
can come close, whatever it does after. This process has pyrt-runc loaded; for each connection it
forks, and the fork runs the verb with the client's argv, environment, working directory, umask
and stdio (passed as fds), exactly as `pyrt-runc` would, then sends back the exit code.

The client is cext/runc-front.c (installed as pyrt-runc-fast, the binary to give containerd):
for `state`, `kill`, `delete` and `start` it asks here first, and runs pyrt-runc itself when no
helper answers or the helper declines. Everything else (create, run, exec: their processes must be
the caller's children) never comes here.

What keeps it from doing more than its client could (pyrt.linux.peer): the helper declines unless
the client shares all its namespaces and its root, has its ids, at least its capabilities, its
seccomp/no_new_privs state and LSM label, all read while a pidfd says the process that connected
still lives (its pid alone may name another process by then); the socket is root's (0600). It
also declines verbs that would run a hook (start: poststart; delete: poststop): a hook must run
as the client's child, in its cgroup, with its limits. Declining costs the client ~1 ms, then it
runs the verb itself.

Protocol (SOCK_SEQPACKET, one message each way). Request: NUL-terminated strings: "1" (version),
the argument count N, N arguments, the environment count M, M entries, the working directory, the
umask in octal; with fds 0, 1, 2 attached. Replies: b"F" (declined: nothing ran), or b"R" (the
verb runs) then b"X" + one byte, its exit code. A helper gone before "R": the client runs the verb
itself; after it: the client fails (exit 1), since the verb may have done part of its work.
"""
from __future__ import annotations

import fcntl
import os
import signal
import socket
import sys
import time

DEFAULT_SOCKET = "/run/pyrt-runc-helper.sock"
VERBS = {"state", "kill", "delete", "start"}
HOOKS_OF = {"start": "poststart", "delete": "poststop"}
MAX_REQUEST = 1 << 20


class Request:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, umask: int):
        self.argv, self.env, self.cwd, self.umask = argv, env, cwd, umask
        # argv read as pyrt-runc reads it, once: (global flags, [verb, its arguments...]), or
        # None when pyrt-runc would refuse the global flags (it then says why itself)
        from pyrt.cli import pyrt_runc
        try:
            self.split = pyrt_runc._split_globals(argv)
        except Exception:
            self.split = None

    @property
    def verb(self) -> str:
        return self.split[1][0] if self.split and self.split[1] else "?"

    @classmethod
    def parse(cls, data: bytes) -> "Request":
        parts = data.split(b"\0")
        if parts[0] != b"1" or parts[-1] != b"":
            raise ValueError("unknown request version")
        words = [p.decode("utf-8", "surrogateescape") for p in parts[1:-1]]
        n = int(words[0])
        argv = words[1:1 + n]
        m = int(words[1 + n])
        env_items = words[2 + n:2 + n + m]
        cwd, umask = words[2 + n + m], int(words[3 + n + m], 8)
        if len(words) != 4 + n + m or len(argv) != n:
            raise ValueError("malformed request")
        env = dict(e.split("=", 1) for e in env_items if "=" in e)
        return cls(argv, env, cwd, umask)


def decline_reason(req: Request) -> str | None:
    """Why this call must run in the client instead (None: it may run here)."""
    from pyrt.cli import pyrt_runc
    from pyrt.cli.argtable import bind
    if req.split is None:
        return "arguments"              # pyrt-runc itself says what is wrong with them
    gvals, rest = req.split
    if not rest or rest[0] not in VERBS or "-h" in req.argv or "--help" in req.argv:
        return "verb"
    hook = HOOKS_OF.get(rest[0])
    if hook:
        from pyrt.runtime.container import Container
        try:
            values = bind(pyrt_runc.COMMANDS[rest[0]], rest[1:])
            root = os.path.join(req.cwd, gvals.get("root") or pyrt_runc.DEFAULT_ROOT)
            hooks = Container.load(root, values["container_id"]).state.hooks
        except Exception:
            return None     # no readable state, so no hooks: the verb says what is wrong, as ever
        if hooks.get(hook):
            return f"{hook} hooks"
    return None


def _check(conn: socket.socket, msg: bytes, fds: list[int], accepted: float) -> tuple[Request | None, str]:
    """The request and '' when this helper may run it; else None or it, and why not."""
    from pyrt.linux import peer
    if not msg:
        return None, "no request (the client gave up: one too big for the socket?)"
    try:
        pid, uid, _gid = peer.credentials(conn)
        req = Request.parse(msg)
    except (OSError, ValueError, IndexError, UnicodeError) as e:
        return None, f"unreadable request ({e})"
    if len(fds) != 3:
        return req, "stdio not passed"
    if uid != os.geteuid():
        return req, f"uid {uid}"
    # The checks read /proc/PID: PID must still be the process that connected. A hang-up of the
    # connection would not tell: the client may have handed it on (or to a child) and exited,
    # and its PID be another process's by now. A pidfd of the connector does.
    try:
        pidfd = peer.pidfd(conn, pid, accepted)
    except OSError as e:
        return req, f"client gone ({e.strerror})"
    try:
        why = peer.differs(pid) or ("client gone" if not peer.alive(pidfd) else None) or decline_reason(req)
    finally:
        os.close(pidfd)
    if why:
        return req, why
    try:
        os.chdir(req.cwd)
    except OSError as e:
        return req, f"working directory: {e.strerror}"
    return req, ""


def serve_one(conn: socket.socket, verbose: bool, accepted: float) -> None:
    """In a fork: read the request, check the client, run the verb with its stdio, reply."""
    msg, fds, flags, _addr = socket.recv_fds(conn, MAX_REQUEST, 3)
    req, why = _check(conn, msg, fds, accepted)
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        why = "request too long"
    if why:
        if verbose:
            _say(f"declined {req.verb if req else '?'}: {why}")
        _reply(conn, b"F")
        return
    log = os.dup(2) if verbose else -1     # ours, before the client's stderr takes fd 2
    for target, fd in enumerate(fds):
        os.dup2(fd, target)     # dup2 leaves 0-2 inheritable, as they are in a process of its own
        os.close(fd)
    _client_stdio()
    os.umask(req.umask)
    os.environ.clear()
    os.environ.update(req.env)
    if not _reply(conn, b"R"):
        return      # nobody would learn the outcome: nothing runs
    from pyrt.cli import pyrt_runc
    code = pyrt_runc.exit_code(req.argv)
    if log >= 0:        # before the reply: once the client has its answer, the line is there
        import resource     # this fork's own CPU time (µs resolution; os.times counts 10 ms ticks)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        os.write(log, f"pyrt-runc-helper: served {req.verb} ({(ru.ru_utime + ru.ru_stime) * 1e3:.1f} ms CPU)\n".encode())
    _reply(conn, b"X" + bytes([code & 0xFF]))


def _reply(conn: socket.socket, data: bytes) -> bool:
    """False when the client is gone (killed while it waited: its caller's timeout)."""
    try:
        conn.send(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def _client_stdio() -> None:
    """sys.stdin/stdout/stderr over fds 0-2, now the client's, opened as pyrt-runc's own interpreter
    would open them: the helper's may be None (it was started with one closed) or buffered for
    another kind of file (on a terminal, stdout is line-buffered)."""
    import io
    for name, fd in (("stdin", 0), ("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        errors = old.errors if old else ("backslashreplace" if fd == 2 else "surrogateescape")
        line = fd == 2 or (fd == 1 and os.isatty(fd))
        f = io.open(fd, "r" if fd == 0 else "w", buffering=1 if line else -1, closefd=False, newline="\n",
                    encoding=old.encoding if old else sys.getfilesystemencoding(), errors=errors)
        setattr(sys, name, f)
        setattr(sys, f"__{name}__", f)


def _say(line: str) -> None:
    """One line on stderr: fd 2 (sys.stderr is None when the helper was started without one)."""
    os.write(2, f"pyrt-runc-helper: {line}\n".encode())


def _hold_stdio() -> None:
    """fds 0-2 open, on /dev/null where closed, before anything else is opened: else the lock, the
    listener or a client's connection would take their numbers (and be dup2'd over in a fork), and
    the --verbose lines written to fd 2 would go there."""
    while True:
        fd = os.open(os.devnull, os.O_RDWR)
        if fd > 2:
            os.close(fd)
            return


class _Stop(Exception):
    pass


def _stop(*_) -> None:
    raise _Stop()


def _child(listener: socket.socket, conn: socket.socket, verbose: bool, accepted: float) -> None:
    code = 1
    try:
        listener.close()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        serve_one(conn, verbose, accepted)
        code = 0
    except BaseException:
        import traceback
        traceback.print_exc()       # a bug: on the client's stderr once the verb runs, as pyrt-runc's own
    finally:
        os._exit(code)


def _preload() -> None:
    """What the four verbs import, loaded once: each fork starts with it."""
    import gc
    from pyrt.cli import argtable, pyrt_runc  # noqa: F401
    from pyrt.linux import peer, signals  # noqa: F401
    from pyrt.runtime import container, hooks  # noqa: F401
    from pyrt.spec import jsonio  # noqa: F401
    import pyrt.cgroups  # noqa: F401
    import resource  # noqa: F401
    import select  # noqa: F401
    gc.freeze()
    gc.disable()     # as in pyrt-runc: a call lives for milliseconds


def serve(path: str, verbose: bool = False) -> int:
    if os.geteuid() != 0:
        _say("must run as root")
        return 1
    lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _say(f"another helper serves {path}")
        return 1
    _preload()
    try:
        os.unlink(path)         # a dead helper's socket (we hold the lock: no live one)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(128)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)      # the kernel reaps the forks
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while True:
            conn, _ = listener.accept()
            accepted = time.clock_gettime(time.CLOCK_BOOTTIME)     # its client connected before
            try:
                if os.fork() == 0:
                    _child(listener, conn, verbose, accepted)
            except OSError as e:
                # no fork (pids limit, memory): closing CONN unanswered makes that client run
                # the verb itself; the next one may find a fork again
                _say(f"cannot fork: {e.strerror}")
            finally:
                conn.close()
    except _Stop:
        pass
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return 0


def main(argv: list[str] | None = None) -> None:
    _hold_stdio()
    argv = sys.argv[1:] if argv is None else argv
    path = os.environ.get("PYRT_RUNC_HELPER") or DEFAULT_SOCKET
    verbose = "--verbose" in argv
    rest = [a for a in argv if a != "--verbose"]
    if rest[:1] == ["--socket"] and len(rest) == 2:
        path = rest[1]
    elif rest:
        os.write(2, b"usage: pyrt-runc-helper [--socket PATH] [--verbose]\n")
        sys.exit(2)
    sys.exit(serve(os.path.abspath(path), verbose))


if __name__ == "__main__":
    main()

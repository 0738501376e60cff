"""The test session's child subreaper: every orphan of the run is ours, seen and reaped.

Without one, a container process whose parent exits (pyrt-runc create's stage 1, conmon's double
fork, a `sh -c 'sleep 1000 &'`) is reparented to the host's init, and nothing can tell it came
from the test run. install() forks: the parent marks itself a child subreaper (python-prctl) and
only waits; the child carries on as the pytest session. Orphans of the session's descendants then
reparent to the parent, whose `waitpid(-1)` reaps them at once, as init would; the leak check
(tests/support/leaks.py) finds every live process of the run below it.

Why not make the pytest process itself the subreaper: it would collect zombies of orphans that
only a `waitpid(-1)` could reap, and that call would also steal the exit status of the
subprocess.run() children the tests wait for. The separate reaper has no children of its own but
the session and the orphans.

When the session ends, whatever is still below the reaper was left by the run: it is killed
(SIGKILL; all of it is provably ours) and named on stderr.
"""
from __future__ import annotations

import os
import signal
import sys
import time

ENV = "PYRT_TEST_REAPER"


def reaper_pid() -> int | None:
    """The pid of this session's reaper, or None when the session runs without one."""
    v = os.environ.get(ENV, "")
    return int(v) if v.isdigit() and int(v) == os.getppid() else None


def install() -> None:
    """Split into reaper (parent, never returns) and session (child, returns)."""
    if reaper_pid() is not None:
        return
    import prctl
    prctl.set_child_subreaper(True)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        # The flag is not inherited over fork; the session itself is no subreaper.
        os.environ[ENV] = str(os.getppid())
        return
    _serve(child)


NAME = "pyrt-reaper"   # its comm: how other runs' leak checks tell a concurrent session


def _serve(child: int) -> None:
    try:
        import prctl
        prctl.set_name(NAME)
        # Ctrl-C reaches the whole process group; pytest handles it, the reaper waits for its end.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda s, _f: os.kill(child, s))
        status = None
        while status is None:
            try:
                pid, st = os.waitpid(-1, 0)
            except ChildProcessError:
                status = 1 << 8
                break
            if pid == child:
                status = st
        left = _kill_leftovers()
        if left:
            print(f"pyrt test reaper: killed {len(left)} process(es) the test run left behind: "
                  + "; ".join(left), file=sys.stderr)
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
    except BaseException:  # the reaper must never fall back into pytest
        os._exit(70)


def _children(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(p))
    return out


def _describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return str(pid)
    return f"{pid} {argv[:80]}"


def _kill_leftovers(deadline_s: float = 10.0) -> list[str]:
    """SIGKILL every child (orphans reparented here), again as their own orphans arrive, reaping
    all, until none is left or the deadline passes."""
    me, named = os.getpid(), {}
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for pid in _children(me):
            if pid not in named:
                named[pid] = _describe(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return list(named.values())
            if pid == 0:
                break
        time.sleep(0.02)
    return list(named.values())

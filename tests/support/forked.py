"""Run a function in a forked child and get its (JSON-able) result back: for tests that
change process-wide state (capabilities, seccomp filters, session) that must not touch
the test process itself."""
from __future__ import annotations

import json
import os
import traceback


def in_child(fn, *args, **kwargs):
    """fn(*args, **kwargs) in a child; its return value, or RuntimeError with its traceback."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = {"ok": fn(*args, **kwargs)}
        except BaseException as e:  # the child must never return into pytest
            out = {"error": f"{type(e).__name__}: {e}", "errno": getattr(e, "errno", None),
                   "tb": traceback.format_exc()}
        with os.fdopen(w, "w") as f:
            json.dump(out, f)
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise RuntimeError(f"child died without a result (wait status {status:#x})")
    out = json.loads(data)
    if "error" in out:
        raise ChildError(out["error"], out["errno"], out["tb"])
    return out["ok"]


class ChildError(RuntimeError):
    def __init__(self, message, errno, tb):
        super().__init__(f"{message}\n{tb}")
        self.errno = errno
        self.message = message


def proc_status() -> dict[str, str]:
    with open("/proc/self/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)

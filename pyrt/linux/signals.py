"""Signal names and numbers as `kill` accepts them: KILL, SIGKILL, 9, and real-time RTMIN+N.

Read from _signal, the C module the interpreter has loaded at start-up anyway: `signal` builds its
Signals enum on import, and `enum` alone costs `pyrt-runc kill` (containerd's shim calls it up to
three times per stop) as much as the rest of the verb. The names are the same: every SIG* constant
except the SIG_* handler and mask values, which is how `signal` picks the Signals members.
"""
from __future__ import annotations

import _signal as signal

from pyrt.errors import UsageError


def parse_signal(text: str) -> int:
    t = text.strip().upper()
    if t.isdigit():
        n = int(t)
        if 0 < n <= signal.SIGRTMAX:
            return n
        raise UsageError(f"unknown signal {text!r}")
    if not t.startswith("SIG"):
        t = "SIG" + t
    for base in ("SIGRTMIN", "SIGRTMAX"):
        if t.startswith(base) and t != base:
            rest = t[len(base):]
            try:
                n = getattr(signal, base) + int(rest)
            except ValueError:
                break
            if signal.SIGRTMIN <= n <= signal.SIGRTMAX:
                return n
            break
    n = getattr(signal, t, None) if not t.startswith("SIG_") else None
    if not isinstance(n, int):
        raise UsageError(f"unknown signal {text!r}")
    return n

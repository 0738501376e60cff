"""Signal names and numbers as `kill` accepts them: KILL, SIGKILL, 9, and real-time RTMIN+N."""
from __future__ import annotations

import signal

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
    try:
        return int(signal.Signals[t])
    except KeyError:
        raise UsageError(f"unknown signal {text!r}") from None

"""Waiting in tests: for a condition, with a deadline, never for a fixed time.

A fixed sleep is a guess about how fast a busy machine is; a condition polled until a deadline
holds as soon as the machine gets there and fails (with what it last saw) only when it never does.
"""
from __future__ import annotations

import time


def until(cond, timeout: float = 10.0, what: str = "condition", interval: float = 0.01):
    """Poll COND() until it returns something truthy (returned), or fail after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {got!r})")
        time.sleep(interval)


"""Timestamps as docker writes them: RFC 3339, UTC, nanoseconds."""
from __future__ import annotations

import time


def now_rfc3339() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"

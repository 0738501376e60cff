"""Reading /proc: process start times and liveness (file I/O only, no C)."""
from __future__ import annotations

import os


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from field 3 (state) on; None if the process is gone.
    The command name (field 2) may contain spaces and ')' so split after its last ')'."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(b")") + 2:].decode().split()


def start_time(pid: int) -> int:
    """Field 22 (starttime, clock ticks since boot); 0 if the process is gone."""
    f = stat_fields(pid)
    return int(f[19]) if f else 0


def alive(pid: int, started: int) -> bool:
    """PID runs, is not a zombie, and is the same process that started at STARTED (not a reused pid)."""
    if pid <= 0:
        return False
    f = stat_fields(pid)
    if not f or f[0] in ("Z", "X"):
        return False
    return started == 0 or int(f[19]) == started


def children_of(ppid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            f = stat_fields(int(p))
            if f and int(f[1]) == ppid:
                out.append(int(p))
    return out

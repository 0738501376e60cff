"""Seeing that someone waits on a file lock, instead of sleeping and assuming it.

The kernel lists every blocked flock/POSIX lock request in /proc/locks as a `->` line naming the
file by device and inode; a test can wait (with a deadline) until a thread or process is there.
"""
from __future__ import annotations

import os


def waiters(path) -> int:
    """How many lock requests are blocked on the file PATH right now."""
    st = os.stat(path)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    with open("/proc/locks") as f:
        return sum(1 for line in f if " -> " in line and line.split()[6] == dev)

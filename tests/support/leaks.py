"""What a test may leave behind on the host, snapshotted before and compared after."""
from __future__ import annotations

import os
import subprocess


def mountpoints() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def netns_names() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


def child_pids() -> set[int]:
    """Processes whose parent is this test process (containers reparent to us as subreaper)."""
    me = str(os.getpid())
    pids = set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[1] == me and fields[0] != "Z":
                pids.add(int(p))
    return pids


def snapshot() -> dict:
    return {"mounts": mountpoints(), "netns": netns_names(), "links": links()}


def diff(before: dict, after: dict) -> dict:
    """Only what appeared: things a test created and did not release."""
    return {k: sorted(after[k] - before[k]) for k in before if after[k] - before[k]}

"""The guest itself: a pure cgroup v2 hierarchy with the five controllers, a throwaway root."""
from __future__ import annotations

import os

CG = "/sys/fs/cgroup"


def test_pure_cgroup_v2_with_five_controllers():
    with open("/proc/self/mountinfo") as f:
        types = [line.split(" - ")[1].split()[0] for line in f]
    assert "cgroup" not in types, "a cgroup v1 hierarchy is mounted"
    assert types.count("cgroup2") == 1
    with open(f"{CG}/cgroup.subtree_control") as f:
        enabled = set(f.read().split())
    assert {"cpuset", "cpu", "io", "memory", "pids"} <= enabled
    with open("/proc/self/cgroup") as f:
        assert f.read() == "0::/\n"


def test_root_is_a_throwaway_overlay():
    with open("/proc/self/mountinfo") as f:
        root = next(line for line in f if line.split()[4] == "/")
    assert root.split(" - ")[1].split()[0] == "overlay"
    # Writable here, and the write cannot reach the host: the upper layer is tmpfs.
    path = os.path.join(os.path.dirname(__file__), ".written-in-guest")
    with open(path, "w") as f:
        f.write("x")
    os.unlink(path)

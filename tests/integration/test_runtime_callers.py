"""Bundle-level tests for what driving pyrt-runc from podman and containerd brought up
(tests/integration/test_podman.py, test_containerd.py): each difference found there is pinned
here on a plain bundle, runc vs pyrt-runc."""
from __future__ import annotations

from tests.support.bundle import base_config
from tests.support.differential import assert_same, differential


def test_readonly_paths_keep_the_source_mount_flags(tmp_path, runtime_root, cgroup_parent):
    """podman mounts /proc nosuid,nodev,noexec: runc's read-only /proc/sys, /proc/bus... keep
    those flags (a bind remount would clear them)."""
    cfg = base_config()
    for m in cfg["mounts"]:
        if m["destination"] == "/proc":
            m["options"] = ["nosuid", "noexec", "nodev"]
    ref, cand = differential(tmp_path, runtime_root, cgroup_parent, cfg)
    report = assert_same(ref, cand)
    sysctl = [m for m in report["mounts"] if m["mnt"] == "/proc/sys"]
    assert sysctl and sysctl[0]["opts"].split(",")[:4] == ["ro", "nosuid", "nodev", "noexec"], sysctl

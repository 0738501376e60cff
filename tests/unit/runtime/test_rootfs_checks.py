"""pyrt.runtime.rootfs checks that need no mounts: runc's rules for targets in /proc and /sys,
and which mount release_inherited() takes for the rootfs bind (from a mountinfo given here)."""
from __future__ import annotations

import pytest

from pyrt.errors import RuntimeSetupError
from pyrt.runtime import rootfs
from pyrt.spec.config import Mount


def mount(dest, typ, *options, source=None):
    return Mount.from_dict({"destination": dest, "type": typ, "source": source or typ, "options": list(options)}, "m")


@pytest.mark.parametrize("inside, m, src, message", [
    ("/proc", mount("/vol", "bind", "bind", source="/srv/data"), "/srv/data", "is not of type proc"),
    ("/proc/sys", mount("/proc/sys", "tmpfs"), None, "is inside /proc"),
    ("/sys", mount("/sys", "tmpfs"), None, "is not of type sysfs"),
    ("/etc", mount("/proc", "proc"), None, 'filesystem "proc" must be mounted on ordinary directory'),
    ("/fake", mount("/sys", "sysfs"), None, 'filesystem "sysfs" must be mounted on ordinary directory'),
])
def test_targets_in_proc_and_sys_are_refused(inside, m, src, message):
    with pytest.raises(RuntimeSetupError, match=message):
        rootfs.check_proc_sys(inside, m, src, "mount")


@pytest.mark.parametrize("inside, m, src", [
    ("/proc", mount("/proc", "proc"), None),
    ("/proc", mount("/proc", "bind", "rbind", source="/proc"), "/proc"),  # the host's real procfs
    ("/proc/meminfo", mount("/proc/meminfo", "bind", "bind", source="/dev/null"), "/dev/null"),  # lxcfs
    ("/sys", mount("/sys", "sysfs"), None),
    ("/sys/fs/cgroup", mount("/sys/fs/cgroup", "cgroup"), None),
    ("/data", mount("/data", "tmpfs"), None),
])
def test_ordinary_targets_pass(inside, m, src):
    rootfs.check_proc_sys(inside, m, src, "mount")


MOUNTS = {  # id -> (id, parent, dev, root, mount point)
    "1": ("1", "0", "8:1", "/", "/"),
    "2": ("2", "1", "0:50", "/", "/b/rootfs"),          # the caller's overlay on the rootfs
    "3": ("3", "2", "0:50", "/", "/b/rootfs"),          # our self-bind of it
    "4": ("4", "1", "8:1", "/c/rootfs", "/c/rootfs"),   # our self-bind of a plain directory
}


@pytest.mark.parametrize("mounts, path, detached", [
    (MOUNTS, "/b/rootfs", True),
    ({k: v for k, v in MOUNTS.items() if k != "3"}, "/b/rootfs", False),  # only the caller's overlay
    (MOUNTS, "/c/rootfs", True),
    (MOUNTS, "/d/rootfs", False),                                        # nothing mounted there
])
def test_release_inherited_detaches_only_a_self_bind(monkeypatch, mounts, path, detached):
    calls = []
    monkeypatch.setattr(rootfs, "_mounts", lambda: mounts)
    monkeypatch.setattr(rootfs.os.path, "realpath", lambda p: p)
    monkeypatch.setattr(rootfs, "umount2", lambda *a: calls.append(a))
    rootfs.release_inherited(path)
    assert bool(calls) == detached


def test_release_inherited_leaves_the_mount_that_was_there_before_create(monkeypatch):
    calls = []
    monkeypatch.setattr(rootfs, "_mounts", lambda: MOUNTS)
    monkeypatch.setattr(rootfs.os.path, "realpath", lambda p: p)
    monkeypatch.setattr(rootfs, "umount2", lambda *a: calls.append(a))
    rootfs.release_inherited("/c/rootfs", unless_top="4")
    assert calls == []

"""cgroup helpers for tests. On this machine the hierarchy roots hold the workplace's own
cgroups: tests only ever create cgroups beneath the test process's own cgroup.

The suite runs on hybrid hosts (this VM: v1 controllers beside a controller-less cgroup2 tree) and
on pure cgroup v2 hosts (most hosts; the qemu guest of tests/guest). Tests that read a driver's
files pick the host's variant with for_layout() (a selection made at import, never a skip) or
read through controller_dir(), which names the hierarchy holding a controller's files here.
"""
from __future__ import annotations

import functools
import os

CGROUP_ROOT = "/sys/fs/cgroup"


def own_cgroups() -> dict[str, str]:
    """Map each mounted hierarchy's directory name to this process's cgroup in it."""
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls == "":
                out["unified"] = path
            for c in ctrls.split(","):
                if c:
                    out[c.removeprefix("name=")] = path
    return out


def _mounts() -> list[tuple[str, str]]:
    """(directory, fstype) of each mounted cgroup hierarchy."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                out.append((fields[4], fstype))
    return out


def hierarchy_dirs() -> list[str]:
    """Directories of the mounted cgroup hierarchies (v1 controllers and the v2 tree)."""
    return [d for d, _ in _mounts()]


def dirs_named(relative: str) -> list[str]:
    """Where a relative cgroupsPath RELATIVE lands in every hierarchy (runc's semantics:
    relative to the runtime's own cgroup), whether or not it exists."""
    own = own_cgroups()
    out = []
    for h, fstype in _mounts():
        # the v2 tree is /sys/fs/cgroup/unified on a hybrid host, /sys/fs/cgroup itself on a v2 one
        base = own.get("unified", "/") if fstype == "cgroup2" else own.get(os.path.basename(h), "/")
        out.append(os.path.join(h, base.lstrip("/"), relative))
    return out


@functools.cache
def host_mode() -> str:
    """'unified' (pure v2), 'hybrid' or 'legacy': the host's layout as pyrt's driver sees it."""
    from pyrt.cgroups import layout
    return layout.detect().mode


def is_v2() -> bool:
    return host_mode() == "unified"


def for_layout(*modes: str):
    """Decorate a test that reads one driver's files: it is collected only where the host's layout
    is one of MODES, and its counterpart for the other layouts sits beside it. On every host
    exactly one of the two runs: a selection made by the host, never a skip."""
    def pick(fn):
        return fn if host_mode() in modes else None
    return pick


def controller_dir(relative: str, controller: str) -> str:
    """The directory with CONTROLLER's files for cgroupsPath RELATIVE: its v1 hierarchy where it
    has one (hybrid/legacy hosts; a v1 mount directory is named after its controllers), else the
    v2 tree ('unified' asks for the v2 tree itself)."""
    v2 = None
    for (mount, fstype), d in zip(_mounts(), dirs_named(relative)):
        if fstype == "cgroup2":
            v2 = d
        elif controller in os.path.basename(mount).split(","):
            return d
    if v2 is None:
        raise AssertionError(f"no hierarchy holds {controller} here")
    return v2


def existing(relative: str) -> list[str]:
    return [d for d in dirs_named(relative) if os.path.isdir(d)]


def remove_tree(path: str) -> None:
    """rmdir a cgroup tree bottom-up (cgroup dirs cannot be removed with rm -r)."""
    for root, dirs, _ in os.walk(path, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass

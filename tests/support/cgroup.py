"""cgroup helpers for tests. On this machine the hierarchy roots hold the workplace's own
cgroups: tests only ever create cgroups beneath the test process's own cgroup."""
from __future__ import annotations

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


def hierarchy_dirs() -> list[str]:
    """Directories of the mounted cgroup hierarchies (v1 controllers and the v2 tree)."""
    dirs = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                dirs.append(fields[4])
    return dirs


def dirs_named(relative: str) -> list[str]:
    """Where a relative cgroupsPath RELATIVE lands in every hierarchy (runc's semantics:
    relative to the runtime's own cgroup), whether or not it exists."""
    own = own_cgroups()
    out = []
    for h in hierarchy_dirs():
        name = os.path.basename(h)
        base = own.get(name, own.get("unified" if name == "unified" else name, "/"))
        out.append(os.path.join(h, base.lstrip("/"), relative))
    return out


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

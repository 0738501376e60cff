"""Where the cgroup hierarchies are mounted and where this process sits in each of them.

Three layouts, as runc tells them apart: "unified" (only cgroup2 on /sys/fs/cgroup), "legacy"
(only v1 hierarchies) and "hybrid" (v1 controllers plus a cgroup2 tree, usually at
/sys/fs/cgroup/unified, holding few or no controllers). A cgroupsPath is resolved per hierarchy:
absolute paths from the hierarchy's root, relative ones from this process's own cgroup there.
"""
from __future__ import annotations

import os

# Records, not dataclasses: `import dataclasses` alone costs ~5 ms of every `pyrt-runc create`.
from pyrt.record import Record, field

# v1 controllers we drive or join; "name=systemd" only groups processes (runc joins it too).
V1_CONTROLLERS = ("cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids",
                  "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd")


class Hierarchy(Record):
    mountpoint: str
    root: str          # the mount's root inside the hierarchy (not "/" inside a cgroup namespace)
    own: str           # this process's cgroup in the hierarchy, from /proc/self/cgroup

    def dir_for(self, cgroups_path: str) -> str:
        """The directory a cgroupsPath names in this hierarchy (runc's semantics)."""
        if os.path.isabs(cgroups_path):
            inner = os.path.normpath(cgroups_path)
        else:
            inner = os.path.normpath(os.path.join(self.own, cgroups_path))
        # Paths in /proc/self/cgroup are from the hierarchy root; the mount may show a subtree.
        if self.root != "/" and (inner == self.root or inner.startswith(self.root + "/")):
            inner = inner[len(self.root):] or "/"
        return os.path.normpath(os.path.join(self.mountpoint, inner.lstrip("/")))


class Layout(Record):
    mode: str                                  # "unified", "legacy" or "hybrid"
    v2: Hierarchy | None = None
    v1: dict[str, Hierarchy] = field(default_factory=dict)   # controller -> hierarchy


def own_cgroups(text: str) -> tuple[str | None, dict[str, str]]:
    """The text of /proc/<pid>/cgroup -> (cgroup2 path or None, {v1 controller: path}); named
    hierarchies keep their "name=" prefix."""
    v2, v1 = None, {}
    for line in text.splitlines():
        try:
            hid, ctrls, path = line.split(":", 2)
        except ValueError:
            continue
        if hid == "0" and ctrls == "":
            v2 = path
        else:
            for c in ctrls.split(","):
                if c:
                    v1[c] = path
    return v2, v1


def parse(mountinfo: str, proc_cgroup: str) -> Layout:
    """Build the Layout from the text of /proc/self/mountinfo and /proc/self/cgroup."""
    own_v2, own_v1 = own_cgroups(proc_cgroup)
    v2 = None
    v1: dict[str, Hierarchy] = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        fstype, super_opts = fields[sep + 1], fields[sep + 3]
        root, mnt = _unescape(fields[3]), _unescape(fields[4])
        if fstype == "cgroup2" and own_v2 is not None:
            v2 = Hierarchy(mnt, root, own_v2)
        elif fstype == "cgroup":
            for opt in super_opts.split(","):
                if opt in V1_CONTROLLERS and opt in own_v1 and opt not in v1:
                    v1[opt] = Hierarchy(mnt, root, own_v1[opt])
    if v2 and not v1:
        mode = "unified"
    elif v2:
        mode = "hybrid"
    else:
        mode = "legacy"
    return Layout(mode, v2, v1)


def _unescape(s: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    return s.encode().decode("unicode_escape") if "\\" in s else s


def detect() -> Layout:
    with open("/proc/self/mountinfo") as f:
        mi = f.read()
    with open("/proc/self/cgroup") as f:
        pc = f.read()
    return parse(mi, pc)

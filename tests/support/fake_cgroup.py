"""A temporary directory laid out like a cgroup v2 tree, for the controller files this VM's real
v2 tree lacks (memory.max, cpu.max, pids.max, io.*, cpuset.*...).

FakeV2.mkdir imitates the kernel: a new directory comes with its control files, so the Manager's
own mkdir can be pointed at it (monkeypatch) and everything else runs unchanged.
"""
from __future__ import annotations

import os

CONTROLLERS = "cpuset cpu io memory hugetlb pids"

CORE_FILES = {
    "cgroup.procs": "", "cgroup.controllers": CONTROLLERS, "cgroup.subtree_control": "",
    "cgroup.freeze": "0", "cgroup.kill": "", "cgroup.events": "populated 0\nfrozen 0",
}
CONTROLLER_FILES = {
    "memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "memory.high": "max",
    "memory.current": "0", "memory.peak": "0", "memory.swap.current": "0",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0", "memory.stat": "anon 0\nfile 0",
    "cpu.max": "max 100000", "cpu.weight": "100", "cpu.idle": "0", "cpu.max.burst": "0",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0",
    "cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1", "cpuset.mems.effective": "0",
    "pids.max": "max", "pids.current": "0",
    "io.weight": "default 100", "io.max": "", "io.stat": "",
    "hugetlb.2MB.max": "max",
}


def populate(d: str, files: dict | None = None, omit=()) -> None:
    for name, text in {**CORE_FILES, **CONTROLLER_FILES, **(files or {})}.items():
        if name not in omit:
            with open(os.path.join(d, name), "w") as f:
                f.write(text)


class FakeV2:
    """ROOT laid out like a cgroup2 mount, with a delegated, pre-existing PARENT beneath it."""

    def __init__(self, root: str, parent: str = "delegated", omit=()):
        self.root = root
        self.omit = tuple(omit)
        os.makedirs(root, exist_ok=True)
        populate(root, omit=self.omit)
        self.parent = os.path.join(root, parent)
        os.mkdir(self.parent)
        populate(self.parent, omit=self.omit)

    def mkdir(self, path, mode=0o777):
        os.mkdir(path, mode)
        populate(path, omit=self.omit)

    def layout(self):
        from pyrt.cgroups.layout import Hierarchy, Layout
        own = "/" + os.path.relpath(self.parent, self.root)
        return Layout("unified", Hierarchy(self.root, "/", own), {})


def read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as f:
        return f.read()

"""Controllers whose files are the same in cgroup v1 and v2 (cpuset.cpus/mems, pids.max)."""
from __future__ import annotations

from pyrt.cgroups import fs
from pyrt.spec.resources import CPU, Pids


def set_cpuset(cgdir: str, c: CPU) -> None:
    if c.cpus:
        fs.write(cgdir, "cpuset.cpus", c.cpus)
    if c.mems:
        fs.write(cgdir, "cpuset.mems", c.mems)


def set_pids(cgdir: str, p: Pids) -> None:
    if p.limit:
        fs.write(cgdir, "pids.max", "max" if p.limit < 0 else p.limit)

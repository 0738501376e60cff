"""crun as an engine runtime on this hybrid host: what the VM cannot give crun, faked as little as
possible, and undone.

Two things stop crun 1.8.1 here, both host layout, not pyrt:
- it refuses a hybrid host whose cgroup2 tree has any controller ("cgroups in hybrid mode not
  supported, drop all controllers from cgroupv2"; here hugetlb is bound to
  /sys/fs/cgroup/unified). The wrapper runs crun in a private mount namespace where
  /sys/fs/cgroup/unified/cgroup.controllers reads empty (bench/runtime.py does the same);
- it reads a relative cgroupsPath from each hierarchy's root ("/" + path), not from the caller's
  own cgroup as runc and pyrt do: the workplace's memory cgroup would be escaped. So crun's
  containers get an absolute cgroup parent: this process's memory cgroup + a test name. In the
  other v1 hierarchies (where our cgroup is "/") that creates the same chain under the root,
  which CrunCgroups.cleanup removes again: every directory of the chain that is empty, except our
  own cgroup and its ancestors (other runs of these tests, another worktree's included, may
  share the chain: rmdir of a directory still in use fails and leaves it to them).
"""
from __future__ import annotations

import os

from tests.support.bundle import CRUN

HIDDEN = "/sys/fs/cgroup/unified/cgroup.controllers"


def make_wrapper(tmp: str) -> str:
    """An executable that runs `crun ARGS...` with HIDDEN reading empty."""
    empty = os.path.join(tmp, "empty-controllers")
    open(empty, "w").close()
    path = os.path.join(tmp, "crun-hybrid")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                "exec unshare -m --propagation private /bin/sh -c "
                f"'mount --bind {empty} {HIDDEN} && exec {CRUN} \"$@\"' crun \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def _own_memory_cgroup() -> str:
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if "memory" in ctrls.split(","):
                return path
    return "/"


def _hierarchies() -> list[str]:
    from tests.support.cgroup import hierarchy_dirs
    return hierarchy_dirs()


class CrunCgroups:
    """The absolute cgroup parent for crun's containers and the cleanup of what it makes."""

    def __init__(self, name: str):
        self.parent = os.path.join(_own_memory_cgroup(), name)
        comps = self.parent.strip("/").split("/")
        self.chains = [[os.path.join(h, *comps[:i]) for i in range(1, len(comps) + 1)] for h in _hierarchies()]
        self.ours = _own_and_ancestors()

    def cleanup(self) -> list[str]:
        """Remove the parent's subtree in every hierarchy and the chain's empty directories above
        it (never our own cgroup or its ancestors); what of the parent's subtree is left."""
        from tests.support.cgroup import remove_tree
        left = []
        for chain in self.chains:
            remove_tree(chain[-1])
            if os.path.isdir(chain[-1]):
                left.append(chain[-1])
            for d in reversed(chain[:-1]):
                if os.path.realpath(d) in self.ours:
                    break
                try:
                    os.rmdir(d)
                except OSError:
                    break       # gone already, or another run's cgroups are inside
        return left


def _own_and_ancestors() -> set[str]:
    """Real paths of this process's cgroup directory in every hierarchy and of their ancestors."""
    from pyrt.cgroups import layout
    lay = layout.detect()
    out = set()
    for h in [*lay.v1.values(), *([lay.v2] if lay.v2 else [])]:
        d = os.path.realpath(h.dir_for(h.own))
        while d.startswith(os.path.realpath(h.mountpoint)):
            out.add(d)
            if d == os.path.realpath(h.mountpoint):
                break
            d = os.path.dirname(d)
    return out

"""pyrt's v2 driver under a delegated, non-root parent cgroup, without systemd.

The test plays the delegating manager: it creates D (a cgroup below the guest's root), makes
the controllers available to it and may set a budget on it. The runtime then only creates and
configures cgroups beneath D. cgroup v2's "no internal processes" rule says a non-root cgroup
with processes cannot hand domain controllers (memory, io) to children: the runtime must keep
processes in leaves only, and say so clearly when it is asked for the impossible.
"""
from __future__ import annotations

import os
import subprocess

from tests.guest.ctr import CG, Container, config, keyed, read, run_to_exit

MiB = 1 << 20


def _delegate(v2_parent: str) -> str:
    """D = <parent>/deleg with memory, pids and cpu available to it, as a delegating manager
    would leave it: its own subtree_control is the delegatee's business."""
    parent = os.path.join(CG, v2_parent)
    with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
        f.write("+memory +pids +cpu")
    d = os.path.join(parent, "deleg")
    os.mkdir(d)
    return d


def _undelegate(d: str) -> None:
    children = [e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))]
    for e in children:
        os.rmdir(os.path.join(d, e))
    os.rmdir(d)
    assert not children, f"cgroups left behind in the delegated parent: {children}"


def test_container_below_a_delegated_parent(runtime, tmp_path, v2_parent):
    d = _delegate(v2_parent)
    try:
        cfg = config(["sleep", "600"], {"memory": {"limit": 24 * MiB}, "pids": {"limit": 7}},
                     "/" + os.path.relpath(os.path.join(d, "ctr"), CG))
        with Container(runtime, tmp_path, cfg) as c:
            assert c.cgroup == os.path.join(d, "ctr")
            assert read(c.cgroup, "memory.max") == str(24 * MiB)
            assert read(c.cgroup, "pids.max") == "7"
            # D hands the controllers down and holds no process itself.
            assert {"memory", "pids"} <= set(read(d, "cgroup.subtree_control").split())
            c.start()
            assert read(d, "cgroup.procs") == ""
            assert read(c.cgroup, "cgroup.procs").split() == [str(c.pid)]
        assert not os.path.exists(os.path.join(d, "ctr"))
    finally:
        _undelegate(d)


def test_delegated_budget_applies_to_the_container(runtime, tmp_path, v2_parent):
    """A budget set on D by the delegating manager binds a container that sets no limit."""
    d = _delegate(v2_parent)
    try:
        with open(os.path.join(d, "memory.max"), "w") as f:
            f.write(str(32 * MiB))
        with open(os.path.join(d, "memory.swap.max"), "w") as f:
            f.write("0")
        cfg = config(["sh", "-c", "exec dd if=/dev/zero of=/dev/shm/hog bs=1M count=60"], None,
                     "/" + os.path.relpath(os.path.join(d, "ctr"), CG))
        rc, err = run_to_exit(runtime, tmp_path, cfg)
        assert rc == 137, f"exit {rc}: {err}"
        assert int(keyed(d, "memory.events")["oom_kill"]) >= 1
    finally:
        _undelegate(d)


def test_runtime_inside_the_delegated_cgroup_is_refused_cleanly(tmp_path, v2_parent):
    """pyrt-runc running IN D cannot give D's children the memory controller (D has a process:
    pyrt-runc itself). It must fail with one clear line and leave nothing behind, not put the
    container beside its own process or half-configured."""
    d = _delegate(v2_parent)
    try:
        c = Container("pyrt-runc", tmp_path, config(["true"], {"memory": {"limit": 24 * MiB}}, "ctr"))

        def into_d():
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write("0")

        p = subprocess.run([c.bin, "--root", c.root, "run", "--bundle", c.bundle, c.id],
                           capture_output=True, text=True, timeout=120, preexec_fn=into_d)
        assert p.returncode != 0
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
        assert "cgroup.subtree_control" in lines[0] or "internal process" in lines[0], lines[0]
        assert not os.path.exists(os.path.join(d, "ctr"))
        assert "memory" not in read(d, "cgroup.subtree_control").split()
        assert not os.path.exists(os.path.join(c.root, c.id))
    finally:
        _undelegate(d)

"""The cgroup Manager on this VM's real kernel, with real processes (no container runtime).

On a hybrid host (this VM) limits go through the v1 controllers, grouping/freeze/kill through the
real cgroup2 tree, and each freeze/kill test also runs with the v2 tree hidden from the Manager
("v1"), which exercises the legacy driver (freezer.state, signalling cgroup.procs) on the same
kernel. On a pure v2 host (the qemu guest runs this file too) everything goes through the v2 tree.
Tests that read one driver's files come in pairs chosen by the host's layout (for_layout).
Every cgroup is created beneath this process's own cgroups via the cgroup_parent fixture.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from pyrt.cgroups import layout as layout_mod
from pyrt.cgroups import open_manager
from pyrt.errors import CgroupError
from pyrt.record import replace
from pyrt.spec.resources import Resources
from tests.support import cgroup as cgroup_support
from tests.support.cgroup import for_layout
from tests.support.wait import until

MiB = 1 << 20
HOST = cgroup_support.host_mode()
# the host's own layout, plus the legacy driver where v1 hierarchies exist to drive it
KINDS = [HOST] + (["v1"] if HOST == "hybrid" else [])


def _layout(kind: str):
    lay = layout_mod.detect()
    if kind == "v1":
        return replace(lay, v2=None, mode="legacy")
    return lay


class Gated:
    """A process that waits for a line on stdin before running WORK, so it can be placed in its
    cgroup first (as a container's init is)."""

    def __init__(self, work: list[str], **kw):
        self.proc = subprocess.Popen(["/bin/sh", "-c", 'read _ && exec "$@"', "gate", *work],
                                     stdin=subprocess.PIPE, **kw)
        self.pid = self.proc.pid

    def go(self):
        self.proc.stdin.write(b"\n")
        self.proc.stdin.close()

    def wait(self, timeout=30):
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def cg(cgroup_parent):
    """Make Managers under the test's cgroup parent; kills and destroys them at teardown."""
    made = []

    def make(name="ctr", kind=HOST):
        m = open_manager(f"{cgroup_parent}/{name}", name, layout=_layout(kind))
        made.append(m)
        return m

    yield make
    for m in reversed(made):
        try:
            m.kill_all(signal.SIGKILL)
        except CgroupError:
            pass
        m.destroy()


@pytest.fixture
def sleeper(cg):
    """(Manager, Gated `sleep 100` already placed in its cgroup and running); killed at the end."""
    m = cg()
    p = Gated(["sleep", "100"])
    try:
        m.apply(p.pid)
        p.go()
        yield m, p
    finally:
        p.kill()


def _py(code: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", code]


def test_memory_hog_is_oom_killed_and_reported(cg):
    m = cg()
    p = Gated(_py("b = bytearray(96 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1"))
    try:
        m.apply(p.pid)
        m.set(Resources.from_dict({"memory": {"limit": 32 * MiB, "swap": 32 * MiB}}))
        assert not m.oom_killed()
        p.go()
        assert p.wait() == -signal.SIGKILL
    finally:
        p.kill()
    assert m.oom_killed()
    mem = m.stats()["memory"]
    assert mem["usage"]["limit"] == 32 * MiB
    # the high-water mark reached the limit (this kernel leaves v1 failcnt at 0; oom_kill counts)
    assert mem["usage"]["max"] == 32 * MiB


def test_pids_limit_makes_fork_fail_inside(cg):
    m = cg()
    code = ("import os, time\nok = fails = 0\nfor _ in range(20):\n"
            "    try:\n        pid = os.fork()\n    except BlockingIOError:\n        fails += 1\n"
            "        continue\n    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    ok += 1\n"
            "print(ok, fails, flush=True)\ntime.sleep(60)\n")
    p = Gated(_py(code), stdout=subprocess.PIPE)
    try:
        m.apply(p.pid)
        m.set(Resources.from_dict({"pids": {"limit": 10}}))
        p.go()
        ok, fails = map(int, p.proc.stdout.readline().split())
        assert ok == 9 and fails == 11       # the parent plus nine children make ten
        assert m.stats()["pids"] == {"current": 10, "limit": 10}
        m.kill_all(signal.SIGKILL)
        assert p.wait() == -signal.SIGKILL
        assert m.pids() == []
    finally:
        p.kill()
        p.proc.stdout.close()


def test_cpu_quota_caps_a_busy_loop(cg):
    """A loop that needs 0.3 s of CPU, under a 0.2-CPU quota, gets at most ~0.2 CPU per second of
    wall time. Measured as a ratio of its own CPU to its own wall time, not against a fixed
    window: other load on the machine only lowers the ratio, never raises it."""
    m = cg()
    code = ("import time\nw = time.monotonic()\nwhile time.process_time() < 0.3: pass\n"
            "print(time.monotonic() - w, time.process_time(), flush=True)")
    p = Gated(_py(code), stdout=subprocess.PIPE)
    try:
        m.apply(p.pid)
        m.set(Resources.from_dict({"cpu": {"quota": 20000, "period": 100000}}))
        p.go()
        assert p.wait(timeout=60) == 0
        wall, used = map(float, p.proc.stdout.read().split())
    finally:
        p.kill()
    # Unthrottled the loop would take 0.3 s (ratio ~1); one period's burst lets it slightly above 0.2.
    assert used / wall < 0.3, (used, wall)
    cpu = m.stats()["cpu"]
    assert cpu["throttling"]["throttled_periods"] > 0
    assert cpu["usage"]["total"] / 1e9 >= 0.3


@pytest.mark.parametrize("kind", KINDS)
def test_freeze_stops_a_counter_and_thaw_restarts_it(cg, kind, tmp_path):
    m = cg(kind=kind)
    counter = tmp_path / "n"
    counter.write_text("0")
    # Each value goes to a temp file renamed over n: `echo $i > n` truncates first, and a reader on
    # a loaded machine saw the empty file between truncate and write (a flaky `assert 0 > 0`).
    script = (f'i=0; while :; do i=$((i+1)); echo $i > {counter}.new; mv {counter}.new {counter}; '
              'sleep 0.01; done')

    def count() -> int:
        return int(counter.read_text())

    p = Gated(["/bin/sh", "-c", script])
    try:
        m.apply(p.pid)
        p.go()
        until(lambda: count() >= 3, what="the counter to run")
        m.freeze()
        assert m.frozen()
        if kind != "v1":
            assert open(os.path.join(m.v2, "cgroup.freeze")).read().strip() == "1"
        else:
            assert open(os.path.join(m.v1["freezer"], "freezer.state")).read().strip() == "FROZEN"
        before = count()
        # "Does not move" needs a window; 0.3 s is ~30 turns of the loop when it runs. No false
        # failure on a slow machine: a frozen counter stays put however long we look.
        time.sleep(0.3)
        assert count() == before
        m.thaw()
        assert not m.frozen()
        until(lambda: count() > before, what="the thawed counter to move")
    finally:
        m.kill_all(signal.SIGKILL)
        p.kill()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_kill_all_kills_a_process_tree(cg, kind, sig):
    m = cg(kind=kind)
    p = Gated(["/bin/sh", "-c", "sleep 100 & sleep 100 & /bin/sh -c 'sleep 100 & wait' & wait"])
    try:
        m.apply(p.pid)
        p.go()
        until(lambda: len(m.pids()) == 5, what="five processes in the cgroup")
        m.kill_all(sig)
        assert p.wait() == -sig
        until(lambda: m.pids() == [], what="an empty cgroup")
        assert not m.frozen()
    finally:
        p.kill()


def _read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read().strip()


@for_layout("hybrid", "legacy")
def test_update_changes_live_limits_in_either_direction(sleeper):
    m, p = sleeper
    m.set(Resources.from_dict({"memory": {"limit": 32 * MiB, "swap": 32 * MiB},
                               "pids": {"limit": 10}, "cpu": {"quota": 20000, "period": 100000}}))
    mem = m.v1["memory"]
    # growing needs memory+swap raised first, shrinking needs memory lowered first
    for size in (128 * MiB, 16 * MiB):
        m.set(Resources.from_dict({"memory": {"limit": size, "swap": size}}))
        assert _read(mem, "memory.limit_in_bytes") == str(size)
        assert _read(mem, "memory.memsw.limit_in_bytes") == str(size)
    m.set(Resources.from_dict({"pids": {"limit": 20}, "cpu": {"quota": 50000}}))
    assert _read(m.v1["pids"], "pids.max") == "20"
    assert _read(m.v1["cpu"], "cpu.cfs_quota_us") == "50000"
    assert _read(m.v1["cpu"], "cpu.cfs_period_us") == "100000"
    m.set(Resources.from_dict({"pids": {"limit": -1}, "memory": {"limit": -1}}))
    assert _read(m.v1["pids"], "pids.max") == "max"
    assert int(_read(mem, "memory.limit_in_bytes")) > 1 << 60
    assert int(_read(mem, "memory.memsw.limit_in_bytes")) > 1 << 60


@for_layout("unified")
def test_update_changes_live_limits_in_either_direction_v2(sleeper):
    m, p = sleeper
    m.set(Resources.from_dict({"memory": {"limit": 32 * MiB, "swap": 32 * MiB},
                               "pids": {"limit": 10}, "cpu": {"quota": 20000, "period": 100000}}))
    for size in (128 * MiB, 16 * MiB):
        m.set(Resources.from_dict({"memory": {"limit": size, "swap": 2 * size}}))
        assert _read(m.v2, "memory.max") == str(size)
        assert _read(m.v2, "memory.swap.max") == str(size)     # v2 counts swap alone
    m.set(Resources.from_dict({"pids": {"limit": 20}, "cpu": {"quota": 50000}}))
    assert _read(m.v2, "pids.max") == "20"
    assert _read(m.v2, "cpu.max") == "50000 100000"
    m.set(Resources.from_dict({"pids": {"limit": -1}, "memory": {"limit": -1}}))
    assert _read(m.v2, "pids.max") == "max"
    assert _read(m.v2, "memory.max") == "max"
    assert _read(m.v2, "memory.swap.max") == "max"


@for_layout("hybrid", "legacy")
def test_values_the_host_cannot_apply_fail_with_one_line(sleeper):
    m, p = sleeper
    with pytest.raises(CgroupError) as e:
        m.set(Resources.from_dict({"cpu": {"cpus": "7"}}))
    host = _read(os.path.dirname(m.v1["cpuset"]), "cpuset.effective_cpus")
    assert str(e.value) == f"cpuset.cpus: 7 is outside the host's CPUs {host}"
    with pytest.raises(CgroupError, match=r"cpu.shares: 1 is out of range \(the minimum is 2\)"):
        m.set(Resources.from_dict({"cpu": {"shares": 1}}))
    with pytest.raises(CgroupError, match="memory.max: controller memory runs on cgroup v1 here"):
        m.set(Resources.from_dict({"unified": {"memory.max": "1000000"}}))
    m.set(Resources.from_dict({"memory": {"limit": 64 * MiB, "swap": 64 * MiB}}))
    with pytest.raises(CgroupError, match=r"memory.memsw.limit_in_bytes: cannot write '33554432': "
                                          r"invalid argument"):
        # the kernel refuses memory+swap below the memory limit
        m.set(Resources.from_dict({"memory": {"swap": 32 * MiB}}))


@for_layout("unified")
def test_values_the_host_cannot_apply_fail_with_one_line_v2(sleeper):
    m, p = sleeper
    with pytest.raises(CgroupError) as e:
        m.set(Resources.from_dict({"cpu": {"cpus": "7"}}))
    host = _read(os.path.dirname(m.v2), "cpuset.cpus.effective")
    assert str(e.value) == f"cpuset.cpus: 7 is outside the host's CPUs {host}"
    with pytest.raises(CgroupError, match=r"memory.swap.max: cannot set swap \(33554432\) without a memory "
                                          r"limit"):
        m.set(Resources.from_dict({"memory": {"swap": 32 * MiB}}))
    with pytest.raises(CgroupError, match=r"memory.max: cannot write 'lots': invalid argument"):
        m.set(Resources.from_dict({"unified": {"memory.max": "lots"}}))
    with pytest.raises(CgroupError, match="cpu.rt_runtime_us: realtime cpu limits are not supported"):
        m.set(Resources.from_dict({"cpu": {"realtimeRuntime": 1000}}))


@for_layout("hybrid")
def test_the_v2_tree_groups_the_processes_for_real(sleeper):
    m, p = sleeper
    assert m.mode == "hybrid" and m.v2.startswith("/sys/fs/cgroup/unified/")
    assert _read(m.v2, "cgroup.procs") == str(p.pid)
    assert "populated 1" in _read(m.v2, "cgroup.events")
    for ctrl, d in m.v1.items():
        assert str(p.pid) in _read(d, "cgroup.procs").split(), ctrl
    assert m.pids() == [p.pid]


@for_layout("unified")
def test_the_v2_tree_groups_the_processes_for_real_v2(sleeper):
    m, p = sleeper
    assert m.mode == "unified" and m.v1 == {}
    assert _read(m.v2, "cgroup.procs") == str(p.pid)
    assert "populated 1" in _read(m.v2, "cgroup.events")
    with open(f"/proc/{p.pid}/cgroup") as f:
        line = f.read().strip()
    assert line.startswith("0::") and m.v2.endswith(line[3:]) and "\n" not in line, line
    assert m.pids() == [p.pid]


def test_destroy_waits_for_exiting_processes_and_removes_every_level(cg, cgroup_parent):
    m = cg()
    p = Gated(["sleep", "100"])
    m.apply(p.pid)
    assert len(cgroup_support.existing(cgroup_parent)) == len(m._dirs())
    os.kill(p.pid, signal.SIGKILL)      # no wait: destroy retries while the kernel lets go
    m.destroy()
    p.kill()
    assert cgroup_support.existing(cgroup_parent) == []
    assert m.created == []


def test_destroy_removes_only_what_it_created(cg, cgroup_parent):
    a, b = cg("a"), cg("b")
    pa, pb = Gated(["sleep", "100"]), Gated(["sleep", "100"])
    try:
        a.apply(pa.pid)
        b.apply(pb.pid)
        assert any(d.endswith(cgroup_parent) for d in a.created)
        assert not any(d.endswith(cgroup_parent) for d in b.created)
        pa.kill()
        a.destroy()           # the shared parent stays: b still lives in it
        assert len(cgroup_support.existing(cgroup_parent)) == len(a._dirs())
        assert not any(os.path.isdir(d) for d, _ in a._dirs())
        pb.kill()
        b.destroy()           # b did not create the parent, so it leaves it
        left = cgroup_support.existing(cgroup_parent)
        assert len(left) == len(a._dirs())
    finally:
        pa.kill()
        pb.kill()
    for d in cgroup_support.existing(cgroup_parent):
        os.rmdir(d)


def test_failed_set_then_destroy_leaves_nothing(cg, cgroup_parent):
    m = cg()
    p = Gated(["sleep", "100"])
    try:
        m.apply(p.pid)
        with pytest.raises(CgroupError):
            m.set(Resources.from_dict({"cpu": {"cpus": "0-63"}}))
    finally:
        p.kill()
    m.destroy()
    assert cgroup_support.existing(cgroup_parent) == []


@for_layout("hybrid", "legacy")    # on v2: test_device_rules_through_the_ebpf_filter_of_the_v2_tree
def test_device_rules_are_enforced_by_the_v1_controller(sleeper):
    m, p = sleeper
    m.set(Resources.from_dict({"devices": [{"allow": False, "access": "rwm"},
                                           {"allow": True, "type": "c", "major": 1, "minor": 3,
                                            "access": "r"}]}))
    rules = _read(m.v1["devices"], "devices.list").splitlines()
    assert "c 1:3 rwm" in rules and "c 1:5 rwm" in rules    # runc's always-allowed list
    assert "a *:* rwm" not in rules and "b 8:0 rwm" not in rules


def _throttle_loop0(m) -> tuple[int, int]:
    """Read bps and write iops limits on /dev/loop0 (a block device every host of ours has)."""
    dev = os.stat("/dev/loop0").st_rdev
    major, minor = os.major(dev), os.minor(dev)
    m.set(Resources.from_dict({"blockIO": {
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": MiB}],
        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}}))
    return major, minor


@for_layout("hybrid", "legacy")
def test_blkio_throttle_is_applied_and_a_missing_weight_knob_is_an_error(sleeper):
    m, _ = sleeper
    major, minor = _throttle_loop0(m)
    assert _read(m.v1["blkio"], "blkio.throttle.read_bps_device") == f"{major}:{minor} {MiB}"
    assert _read(m.v1["blkio"], "blkio.throttle.write_iops_device") == f"{major}:{minor} 100"
    blkio_files = os.listdir(m.v1["blkio"])
    if "blkio.weight" not in blkio_files and "blkio.bfq.weight" not in blkio_files:
        # this VM's kernel has no CFQ/BFQ weight file: refused by name, never ignored
        with pytest.raises(CgroupError, match="blkio.bfq.weight: the blkio controller here has no"):
            m.set(Resources.from_dict({"blockIO": {"weight": 500}}))
    else:
        m.set(Resources.from_dict({"blockIO": {"weight": 500}}))
    assert "blkio" in m.stats()


@for_layout("unified")
def test_io_throttle_and_weight_are_applied_v2(sleeper):
    m, _ = sleeper
    major, minor = _throttle_loop0(m)
    assert _read(m.v2, "io.max") == f"{major}:{minor} rbps={MiB} wbps=max riops=max wiops=100"
    m.set(Resources.from_dict({"blockIO": {"weight": 500}}))
    if os.path.exists(os.path.join(m.v2, "io.bfq.weight")):      # BFQ takes the v1 scale as is
        assert _read(m.v2, "io.bfq.weight").splitlines()[0] == "default 500"
    else:                                                         # io.weight: runc's conversion
        assert _read(m.v2, "io.weight").splitlines()[0] == "default 4949"
    assert "blkio" in m.stats()


def test_device_rules_through_the_ebpf_filter_of_the_v2_tree(cgroup_parent):
    """The v2 path: the Manager sees no v1 devices hierarchy, so it attaches an eBPF device
    program to the container's cgroup in this host's real cgroup2 tree."""
    lay = layout_mod.detect()
    lay = replace(lay, v1={k: h for k, h in lay.v1.items() if k != "devices"})
    m = open_manager(f"{cgroup_parent}/ctr", "ctr", layout=lay)
    script = ("head -c 1 /dev/null && echo null-ok; head -c 1 /dev/zero >/dev/null && echo zero-ok; "
              "head -c 1 /dev/loop0 >/dev/null 2>&1 || echo loop0-denied")
    p = Gated(["/bin/sh", "-c", script], stdout=subprocess.PIPE)
    try:
        m.apply(p.pid)
        m.set(Resources.from_dict({"devices": [{"allow": False, "access": "rwm"}]}))
        p.go()
        out = p.proc.stdout.read().decode()
        assert p.wait() == 0
        assert out.split() == ["null-ok", "zero-ok", "loop0-denied"]
    finally:
        p.kill()
        p.proc.stdout.close()
        m.destroy()
    # the same read works outside the filtered cgroup
    with open("/dev/loop0", "rb") as f:
        f.read(1)


def test_a_cpuset_parent_still_empty_is_filled_before_the_child(cg, cgroup_parent):
    """Parallel runs share a cgroup parent: one makes it, another finds it made but not yet
    given cpus/mems (a new v1 cpuset starts empty) and creates its child beneath. Staged here: the
    parent exists and is empty; the child still gets the cpus and takes a process."""
    m = cg("ctr", "v1")
    parent = os.path.dirname(m.v1["cpuset"])
    os.makedirs(parent)       # what the other run's mkdir left, before it copied cpus and mems
    assert _read(parent, "cpuset.cpus") == ""
    p = Gated(["true"])
    try:
        m.apply(p.pid)
        assert _read(m.v1["cpuset"], "cpuset.cpus") == _read(os.path.dirname(parent), "cpuset.cpus") != ""
        p.go()
        assert p.wait() == 0
    finally:
        p.kill()
        m.destroy()
        os.rmdir(parent)      # ours, made above: the manager removes only what it made

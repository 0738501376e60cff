"""Resource limits on a real pure cgroup v2 kernel, through the OCI runtime CLI.

Each test runs under runc and under pyrt-runc (the `runtime` fixture): the runc run shows the
test is right on this kernel, the pyrt-runc run checks pyrt. Containers are children of a fresh
cgroup (`v2_parent`) that must be empty again when the test ends.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.guest.ctr import Container, config, keyed, read, run_to_exit

MiB = 1 << 20
# The container's init fills tmpfs (charged to its cgroup; runc's default /dev/shm holds 64M)
# until the memory limit stops it: being the only process, it is the one the OOM killer picks.
HOG = "exec dd if=/dev/zero of=/dev/shm/hog bs=1M count=60"


def _wait(cond, timeout=60.0, what="condition"):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def _watches(pid: int, path: str) -> bool:
    """PID holds an inotify watch on PATH (its fdinfo lists watched inodes, in hex)."""
    ino = f" ino:{os.stat(path).st_ino:x} "
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                if any(line.startswith("inotify ") and ino in line for line in f):
                    return True
        except OSError:
            pass
    return False


def test_oom_kill_exit_137(runtime, tmp_path, v2_parent):
    cfg = config(["sh", "-c", HOG], {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}},
                 f"{v2_parent}/oom")
    rc, err = run_to_exit(runtime, tmp_path, cfg)
    assert rc == 137, f"exit {rc}, stderr: {err}"


def test_oom_kill_counted_in_memory_events(runtime, tmp_path, v2_parent):
    cfg = config(["sh", "-c", HOG], {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}},
                 f"{v2_parent}/oomev")
    with Container(runtime, tmp_path, cfg) as c:
        assert read(c.cgroup, "memory.max") == str(32 * MiB)
        assert read(c.cgroup, "memory.swap.max") == "0"
        c.start()
        c.wait_stopped()
        assert int(keyed(c.cgroup, "memory.events")["oom_kill"]) >= 1
        assert "records out" not in c.output()
        if runtime == "pyrt-runc":
            # What the engine asks before delete to report OOMKilled.
            from pyrt.runtime import cgroup_ops
            assert cgroup_ops.oom_killed(c.root, c.id) is True


def test_memory_swap_is_memory_plus_swap(runtime, tmp_path, v2_parent):
    """linux.resources.memory.swap is memory+swap (v1 semantics); v2's memory.swap.max is the
    swap alone: set at create, then changed by update on the live container."""
    cfg = config(["sleep", "600"], {"memory": {"limit": 32 * MiB, "swap": 96 * MiB}},
                 f"{v2_parent}/swap")
    with Container(runtime, tmp_path, cfg) as c:
        if runtime == "pyrt-runc":
            from pyrt.runtime import cgroup_ops
            assert cgroup_ops.oom_killed(c.root, c.id) is False
        assert read(c.cgroup, "memory.swap.max") == str(64 * MiB)
        c.start()
        c.cmd("update", "--memory", str(48 * MiB), "--memory-swap", str(48 * MiB), c.id, check=True)
        assert read(c.cgroup, "memory.max") == str(48 * MiB)
        assert read(c.cgroup, "memory.swap.max") == "0"
        c.cmd("update", "--memory-swap", "-1", c.id, check=True)
        assert read(c.cgroup, "memory.swap.max") == "max"


@pytest.mark.parametrize("swap,survives", [(96 * MiB, True), (32 * MiB, False)],
                         ids=["swap-allowed", "no-swap"])
def test_swap_limit_decides_oom(runtime, tmp_path, v2_parent, zram_swap, swap, survives):
    """48 MiB of tmpfs pages under memory.max 32M: with swap allowed they go to swap (zram here),
    with memory.swap.max 0 the writer is OOM-killed."""
    script = "dd if=/dev/zero of=/dev/shm/f bs=1M count=48 2>/dev/null; echo dd=$?; sleep 600"
    cfg = config(["sh", "-c", script], {"memory": {"limit": 32 * MiB, "swap": swap}},
                 f"{v2_parent}/swapoom")
    with Container(runtime, tmp_path, cfg) as c:
        c.start()
        _wait(lambda: "dd=" in c.output(), what="dd to finish")
        events = keyed(c.cgroup, "memory.events")
        if survives:
            assert "dd=0" in c.output()
            assert int(events["oom_kill"]) == 0
            assert int(read(c.cgroup, "memory.swap.current")) >= 8 * MiB
        else:
            assert "dd=137" in c.output()
            assert int(events["oom_kill"]) == 1


def test_pids_limit_blocks_fork(runtime, tmp_path, v2_parent):
    # The inner shell gives up at its first failed fork; the outer one reports and stays.
    script = "sh -c 'for i in $(seq 20); do sleep 600 & done'; echo forked=$?; sleep 600"
    cfg = config(["sh", "-c", script], {"pids": {"limit": 10}}, f"{v2_parent}/pids")
    with Container(runtime, tmp_path, cfg) as c:
        assert read(c.cgroup, "pids.max") == "10"
        c.start()
        _wait(lambda: "forked=" in c.output(), what="the fork loop")
        assert "can't fork" in c.output()
        assert "forked=0" not in c.output()
        assert int(read(c.cgroup, "pids.current")) <= 10
        assert int(keyed(c.cgroup, "pids.events")["max"]) >= 1


def test_cpu_max_throttles(runtime, tmp_path, v2_parent):
    cfg = config(["sh", "-c", "while :; do :; done"],
                 {"cpu": {"quota": 20000, "period": 100000}}, f"{v2_parent}/cpumax")
    with Container(runtime, tmp_path, cfg) as c:
        assert read(c.cgroup, "cpu.max") == "20000 100000"
        c.start()
        before, t0 = keyed(c.cgroup, "cpu.stat"), time.monotonic()
        # A window of at least ten throttled periods (one second of them when the guest keeps
        # up), however slow the emulated guest runs: not a fixed number of seconds.
        _wait(lambda: int(keyed(c.cgroup, "cpu.stat")["nr_throttled"]) >= int(before["nr_throttled"]) + 10,
              what="ten throttled periods")
        after, t1 = keyed(c.cgroup, "cpu.stat"), time.monotonic()
    used = (int(after["usage_usec"]) - int(before["usage_usec"])) / 1e6
    assert int(after["nr_throttled"]) > int(before["nr_throttled"])
    # 20% of one CPU, with slack for period edges.
    assert used / (t1 - t0) < 0.3, f"{used:.2f} s of CPU in {t1 - t0:.2f} s"


def test_cpu_weight_from_shares(runtime, tmp_path, v2_parent):
    """cpu.shares [2, 262144] maps linearly onto cpu.weight [1, 10000] (runc 1.1's formula):
    both ends, at create and by update."""
    cfg = config(["sleep", "600"], {"cpu": {"shares": 2}}, f"{v2_parent}/weight")
    with Container(runtime, tmp_path, cfg) as c:
        assert read(c.cgroup, "cpu.weight") == "1"
        c.start()
        c.cmd("update", "-r", "-", c.id, check=True, input=json.dumps({"cpu": {"shares": 262144}}))
        assert read(c.cgroup, "cpu.weight") == "10000"


def test_cpuset(runtime, tmp_path, v2_parent):
    cfg = config(["sh", "-c", "grep Cpus_allowed_list /proc/self/status"],
                 {"cpu": {"cpus": "1", "mems": "0"}}, f"{v2_parent}/cpuset")
    with Container(runtime, tmp_path, cfg) as c:
        assert read(c.cgroup, "cpuset.cpus") == "1"
        assert read(c.cgroup, "cpuset.mems") == "0"
        assert read(c.cgroup, "cpuset.cpus.effective") == "1"
        c.start()
        c.wait_stopped()
        assert "Cpus_allowed_list:\t1" in c.output()


def test_io_weight_and_throttle(runtime, tmp_path, v2_parent, loop_device):
    """BFQ is loaded in the guest, so blkio weights go to io.bfq.weight on the v1 scale; the
    throttles go to io.max for a real block device (a loop device on tmpfs, with BFQ as its
    scheduler so a per-device weight applies)."""
    major, minor = loop_device
    io = {"weight": 500,
          "weightDevice": [{"major": major, "minor": minor, "weight": 300}],
          "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
          "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 100}]}
    cfg = config(["true"], {"blockIO": io}, f"{v2_parent}/io")
    with Container(runtime, tmp_path, cfg) as c:
        weights = read(c.cgroup, "io.bfq.weight").splitlines()
        assert "default 500" in weights
        assert f"{major}:{minor} 300" in weights
        assert read(c.cgroup, "io.max") == f"{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100"


def test_pause_resume_freezes_the_cgroup(runtime, tmp_path, v2_parent):
    cfg = config(["sh", "-c", "while :; do :; done"], None, f"{v2_parent}/freeze")
    with Container(runtime, tmp_path, cfg) as c:
        c.start()
        c.cmd("pause", c.id, check=True)
        assert read(c.cgroup, "cgroup.freeze") == "1"
        assert keyed(c.cgroup, "cgroup.events")["frozen"] == "1"
        assert c.state()["status"] == "paused"
        before = int(keyed(c.cgroup, "cpu.stat")["usage_usec"])
        # "Uses no CPU" needs a window; a frozen loop stays put however long we look.
        time.sleep(1)
        assert int(keyed(c.cgroup, "cpu.stat")["usage_usec"]) == before
        c.cmd("resume", c.id, check=True)
        assert keyed(c.cgroup, "cgroup.events")["frozen"] == "0"
        assert c.state()["status"] == "running"
        _wait(lambda: int(keyed(c.cgroup, "cpu.stat")["usage_usec"]) > before, what="the loop to run again")


def test_kill_all_empties_the_cgroup(runtime, tmp_path, v2_parent):
    """No pid namespace here, so killing the init takes nobody else with it: only a
    cgroup-wide kill (cgroup.kill, or freeze + kill each) reaches the detached children, one of
    which keeps forking while the kill happens."""
    script = ("setsid sh -c 'while :; do sleep 60 & sleep 0.05; done' & "
              "setsid sleep 600 & sleep 600 & echo up; wait")
    cfg = config(["sh", "-c", script], {"pids": {"limit": 1000}}, f"{v2_parent}/killall")
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "pid"]
    with Container(runtime, tmp_path, cfg) as c:
        c.start()
        _wait(lambda: len(read(c.cgroup, "cgroup.procs").split()) >= 8, what="eight processes")
        c.cmd("kill", "--all", c.id, "KILL", check=True)
        _wait(lambda: read(c.cgroup, "cgroup.procs") == "", what="an empty cgroup")
        assert keyed(c.cgroup, "cgroup.events")["populated"] == "0"
        c.wait_stopped()


def test_update_live_container(runtime, tmp_path, v2_parent):
    cfg = config(["sleep", "600"], {"memory": {"limit": 64 * MiB}, "pids": {"limit": 20}},
                 f"{v2_parent}/update")
    with Container(runtime, tmp_path, cfg) as c:
        c.start()
        c.cmd("update", "--memory", str(32 * MiB), "--pids-limit", "5", "--cpu-quota", "30000",
              "--cpu-period", "100000", c.id, check=True)
        assert read(c.cgroup, "memory.max") == str(32 * MiB)
        assert read(c.cgroup, "pids.max") == "5"
        assert read(c.cgroup, "cpu.max") == "30000 100000"
        res = {"cpu": {"shares": 1024}, "memory": {"limit": 48 * MiB}}
        c.cmd("update", "-r", "-", c.id, check=True, input=json.dumps(res))
        assert read(c.cgroup, "cpu.weight") == "39"
        assert read(c.cgroup, "memory.max") == str(48 * MiB)
        assert c.state()["status"] == "running"
        # runc's own spelling of the shares flag (singular).
        c.cmd("update", "--cpu-share", "2", c.id, check=True)
        assert read(c.cgroup, "cpu.weight") == "1"


def test_events_stats(runtime, tmp_path, v2_parent):
    cfg = config(["sh", "-c", "sleep 600 & sleep 600"], {"memory": {"limit": 64 * MiB},
                                                         "pids": {"limit": 50}},
                 f"{v2_parent}/stats")
    with Container(runtime, tmp_path, cfg) as c:
        c.start()
        _wait(lambda: len(read(c.cgroup, "cgroup.procs").split()) == 2, what="two processes")
        p = c.cmd("events", "--stats", c.id, check=True)
        ev = json.loads(p.stdout.strip().splitlines()[0])
        assert ev["type"] == "stats" and ev["id"] == c.id
        data = ev["data"]
        assert data["pids"]["current"] == 2
        assert data["pids"]["limit"] == 50
        assert data["memory"]["usage"]["limit"] == 64 * MiB
        assert data["memory"]["usage"]["usage"] > 0
        assert data["cpu"]["usage"]["total"] > 0


def test_events_reports_oom(runtime, tmp_path, v2_parent):
    """`events` (streaming) prints an oom event when the kernel OOM-kills in the container."""
    # The hog waits for /go, which the test makes once `events` watches: pyrt-runc has printed its
    # first stats line (it reads the OOM count it compares against before that), runc holds an
    # inotify watch on memory.events (its first stats line only comes after --interval). Was: a
    # 3 s head start, and hope.
    script = ("while [ ! -e /go ]; do sleep 0.05; done; "
              "dd if=/dev/zero of=/dev/shm/hog bs=1M count=60; sleep 600")
    cfg = config(["sh", "-c", script], {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}},
                 f"{v2_parent}/evoom")
    with Container(runtime, tmp_path, cfg) as c:
        c.start()
        out = os.path.join(str(tmp_path), "events.out")
        with open(out, "w") as f:
            ev = subprocess.Popen([c.bin, "--root", c.root, "events", "--interval", "60s", c.id],
                                  stdout=f, stderr=subprocess.STDOUT)
        try:
            events_file = os.path.join(c.cgroup, "memory.events")
            _wait(lambda: '"stats"' in open(out).read() or _watches(ev.pid, events_file),
                  timeout=60, what="events to watch")
            open(os.path.join(c.bundle, "rootfs", "go"), "w").close()
            _wait(lambda: '"oom"' in open(out).read(), timeout=60, what="an oom event")
        finally:
            ev.kill()
            ev.wait()
        events = [json.loads(line) for line in open(out) if line.startswith("{")]
        assert {"type": "oom", "id": c.id} in [{k: e[k] for k in ("type", "id")} for e in events]


def test_cgroup_namespace_view(runtime, tmp_path, v2_parent):
    """With a cgroup namespace the container sees its own cgroup as the root, both in
    /proc/self/cgroup and in the cgroup2 mount at /sys/fs/cgroup."""
    cfg = config(["sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max; "
                              "cat /sys/fs/cgroup/pids.max"],
                 {"memory": {"limit": 40 * MiB}, "pids": {"limit": 33}}, f"{v2_parent}/cgns")
    assert {"type": "cgroup"} in cfg["linux"]["namespaces"]
    with Container(runtime, tmp_path, cfg) as c:
        c.start()
        c.wait_stopped()
        assert c.output().split() == ["0::/", str(40 * MiB), "33"]


def test_delete_removes_the_cgroup(runtime, tmp_path, v2_parent):
    cfg = config(["sleep", "600"], {"pids": {"limit": 10}}, f"{v2_parent}/delete")
    c = Container(runtime, tmp_path, cfg)
    c.create()
    try:
        assert os.path.isdir(c.cgroup)
        c.start()
    finally:
        c.delete()
    assert not os.path.exists(c.cgroup)
    # The runtime enabled the controller it needed on the way down (runc enables them all);
    # the parent itself stays, with no process in it.
    parent = os.path.dirname(c.cgroup)
    assert read(parent, "cgroup.procs") == ""
    assert "pids" in read(parent, "cgroup.subtree_control").split()


def test_exec_joins_the_container_cgroup(runtime, tmp_path, v2_parent):
    """An exec'd process lands in the container's leaf cgroup (never in a parent, where it
    would break "no internal processes") and sees the same cgroup namespace."""
    cfg = config(["sleep", "600"], {"pids": {"limit": 20}}, f"{v2_parent}/exec")
    with Container(runtime, tmp_path, cfg) as c:
        c.start()
        p = c.cmd("exec", c.id, "sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids.current",
                  check=True)
        lines = p.stdout.split()
        assert lines[0] == "0::/"
        assert int(lines[1]) >= 2          # the init and the exec'd shell (plus its cat)
        assert read(os.path.dirname(c.cgroup), "cgroup.procs") == ""


def test_default_cgroups_path(tmp_path):
    """No linux.cgroupsPath: pyrt-runc puts each container in pyrt/<id> beside its own cgroup;
    deleting one leaves the other's cgroup (and their shared parent) alone."""
    a = Container("pyrt-runc", tmp_path, config(["sleep", "600"]), name="dflt-a")
    b = Container("pyrt-runc", tmp_path, config(["sleep", "600"]), name="dflt-b")
    parent = os.path.join("/sys/fs/cgroup", "pyrt")
    try:
        a.create()
        b.create()
        assert a.cgroup == os.path.join(parent, a.id)
        assert b.cgroup == os.path.join(parent, b.id)
        a.delete()
        assert not os.path.exists(a.cgroup)
        assert read(b.cgroup, "cgroup.procs").split() == [str(b.pid)]
        b.delete()
        assert not os.path.exists(b.cgroup)
    finally:
        a.delete()
        b.delete()
        if os.path.isdir(parent) and not any(os.path.isdir(os.path.join(parent, e))
                                             for e in os.listdir(parent)):
            os.rmdir(parent)

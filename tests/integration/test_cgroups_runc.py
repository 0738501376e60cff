"""cgroups end to end through pyrt-runc, and side by side with runc.

Containers get a cgroupsPath beneath the test's own cgroup (cgroup_parent); the fixtures fail a
test that leaves a cgroup, state dir or mount behind. On a hybrid host (this VM) limits land in
the v1 hierarchies and pause uses the real cgroup2 tree's cgroup.freeze; on a pure v2 host (the
qemu guest runs this file too) all of it is in the v2 tree. What a test reads follows the host.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

import pytest

from tests.support import cgroup as cgroup_support
from tests.support.bundle import PYRT_RUNC, RUNC, base_config, make_bundle, run

MiB = 1 << 20


V2 = cgroup_support.is_v2()


def _dir(cgroup_parent: str, name: str, controller: str) -> str:
    """Where CGROUP_PARENT/NAME keeps CONTROLLER's files on this host ('unified': the v2 tree)."""
    return cgroup_support.controller_dir(f"{cgroup_parent}/{name}", controller)


def _limits(cgroup_parent: str, name: str) -> tuple[str, str, str]:
    """(memory limit, pids.max, cpu quota) of the container's cgroup, from this host's driver files."""
    if V2:
        d = _dir(cgroup_parent, name, "unified")
        return _read(d, "memory.max"), _read(d, "pids.max"), _read(d, "cpu.max").split()[0]
    return (_read(_dir(cgroup_parent, name, "memory"), "memory.limit_in_bytes"),
            _read(_dir(cgroup_parent, name, "pids"), "pids.max"),
            _read(_dir(cgroup_parent, name, "cpu"), "cpu.cfs_quota_us"))


def _read(d: str, name: str) -> str:
    with open(os.path.join(d, name)) as f:
        text = f.read().strip()
    # devices.list is a set; the kernel lists it in the order rules were added
    return "\n".join(sorted(text.splitlines())) if name == "devices.list" else text


class Runtime:
    def __init__(self, exe: str, root: str):
        self.exe, self.root = exe, root

    def __call__(self, *args, **kw):
        return run([self.exe, "--root", self.root, *args], **kw)

    def create(self, bundle: str, cid: str):
        # The container keeps our stdio: /dev/null and a file, so create returns at once.
        with tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([self.exe, "--root", self.root, "create", "-b", bundle, cid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                               timeout=60)
            err.seek(0)
            p.stderr = err.read()
        return p

    def status(self, cid: str) -> str:
        p = self("state", cid)
        return json.loads(p.stdout)["status"] if p.returncode == 0 else f"error: {p.stderr}"

    def cleanup(self, cid: str) -> None:
        self("delete", "--force", cid)


# Both depend on cgroup_parent so they delete their containers before it checks for leftovers.
@pytest.fixture
def pyrt(runtime_root, cgroup_parent):
    rt = Runtime(PYRT_RUNC, runtime_root)
    yield rt
    for cid in os.listdir(runtime_root):
        rt.cleanup(cid)


@pytest.fixture
def runc(tmp_path, cgroup_parent):
    root = str(tmp_path / "runc-state")
    rt = Runtime(RUNC, root)
    yield rt
    if os.path.isdir(root):
        for cid in os.listdir(root):
            rt.cleanup(cid)
    # runc removes only a container's own cgroup, never the parents it created on the way.
    for d in cgroup_support.existing(cgroup_parent):
        cgroup_support.remove_tree(d)


def _bundle(tmp_path, name, cgroup_parent, args, resources):
    cfg = base_config(args)
    cfg["linux"]["cgroupsPath"] = f"{cgroup_parent}/{name}"
    cfg["linux"]["resources"] = {**cfg["linux"].get("resources", {}), **resources}
    return make_bundle(tmp_path / name, cfg)


def test_limits_pause_update_events_kill_delete(pyrt, tmp_path, cgroup_parent):
    b = _bundle(tmp_path, "c1", cgroup_parent, ["sh", "-c", "sleep 100 & sleep 100"],
                {"memory": {"limit": 32 * MiB}, "pids": {"limit": 10},
                 "cpu": {"quota": 20000, "period": 100000}})
    p = pyrt.create(b, "c1")
    assert p.returncode == 0, p.stderr
    v2 = _dir(cgroup_parent, "c1", "unified")
    # limits are in place before any user code runs
    assert _limits(cgroup_parent, "c1") == (str(32 * MiB), "10", "20000")
    assert pyrt("start", "c1").returncode == 0
    assert pyrt.status("c1") == "running"

    assert pyrt("pause", "c1").returncode == 0
    assert pyrt.status("c1") == "paused"
    assert _read(v2, "cgroup.freeze") == "1"
    again = pyrt("pause", "c1")
    assert again.returncode == 6 and "cannot pause a container that is paused" in again.stderr
    assert pyrt("resume", "c1").returncode == 0
    assert pyrt.status("c1") == "running"
    assert pyrt("resume", "c1").returncode == 6

    p = pyrt("update", "--memory", "64m", "--pids-limit", "20", "--cpu-quota", "50000", "c1")
    assert p.returncode == 0, p.stderr
    assert _limits(cgroup_parent, "c1") == (str(64 * MiB), "20", "50000")
    rfile = tmp_path / "r.json"
    rfile.write_text(json.dumps({"pids": {"limit": 30}}))
    assert pyrt("update", "-r", str(rfile), "c1").returncode == 0
    assert _limits(cgroup_parent, "c1")[1] == "30"
    bad = pyrt("update", "--cpuset-cpus", "7", "c1")
    assert bad.returncode == 8 and bad.stderr.strip().startswith("pyrt-runc: cpuset.cpus: 7 is outside")

    p = pyrt("events", "--stats", "c1")
    assert p.returncode == 0, p.stderr
    ev = json.loads(p.stdout)
    assert ev["type"] == "stats" and ev["id"] == "c1"
    assert ev["data"]["memory"]["usage"]["limit"] == 64 * MiB
    assert ev["data"]["pids"] == {"current": 2, "limit": 30}   # sh exec'd its last sleep: sh + one background sleep
    assert ev["data"]["cpu"]["usage"]["total"] > 0

    from pyrt.runtime.cgroup_ops import oom_killed
    assert not oom_killed(pyrt.root, "c1")
    assert pyrt("kill", "--all", "c1", "KILL").returncode == 0
    deadline = time.monotonic() + 10
    while pyrt.status("c1") != "stopped" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pyrt.status("c1") == "stopped"
    assert _read(v2, "cgroup.procs") == ""
    assert pyrt("delete", "c1").returncode == 0
    assert cgroup_support.existing(cgroup_parent) == []


def test_oom_kill_is_reported_by_events(pyrt, tmp_path, cgroup_parent):
    # dd reads into a 64 MiB buffer: more than the 32 MiB the container may use
    b = _bundle(tmp_path, "c1", cgroup_parent,
                ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"],
                {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}})
    assert pyrt.create(b, "c1").returncode == 0
    events = subprocess.Popen([PYRT_RUNC, "--root", pyrt.root, "events", "--interval", "30s", "c1"],
                              stdout=subprocess.PIPE, text=True)
    try:
        # `events` prints its first stats line after reading the OOM count it compares against:
        # only then may the container run into its limit (was: a 0.5 s head start, and hope).
        first = events.stdout.readline()
        assert pyrt("start", "c1").returncode == 0
        out, _ = events.communicate(timeout=30)
    finally:
        events.kill()
        events.wait()
    lines = [json.loads(x) for x in [first, *out.splitlines()]]
    assert lines[0]["type"] == "stats"
    assert {"type": "oom", "id": "c1"} in lines
    assert events.returncode == 0
    from pyrt.runtime.cgroup_ops import oom_killed
    assert oom_killed(pyrt.root, "c1")
    assert pyrt("delete", "c1").returncode == 0


def test_a_limit_the_host_cannot_apply_fails_create_cleanly(pyrt, tmp_path, cgroup_parent):
    b = _bundle(tmp_path, "c1", cgroup_parent, ["true"], {"cpu": {"cpus": "0-63"}})
    p = pyrt.create(b, "c1")
    assert p.returncode == 8
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrt-runc: cpuset.cpus: ")
    assert "is outside the host's CPUs" in lines[0]
    assert os.listdir(pyrt.root) == []
    assert cgroup_support.existing(cgroup_parent) == []


# Files the same config.json must leave equal under runc and pyrt-runc, per driver.
_COMPARED = {
    "memory": ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes",
               "memory.swappiness", "memory.oom_control"],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
    "cpuset": ["cpuset.cpus", "cpuset.mems"],
    "pids": ["pids.max"],
    "devices": ["devices.list"],
} if not V2 else {
    # devices are an eBPF program on v2 (no file); swappiness and the OOM killer switch have no
    # v2 file and both runtimes leave them
    "unified": ["memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "cpuset.cpus",
                "cpuset.mems", "pids.max"],
}
_MEMORY_LIMIT = "memory.max" if V2 else "memory.limit_in_bytes"


def test_runc_and_pyrt_runc_leave_the_same_values(pyrt, runc, tmp_path, cgroup_parent):
    resources = {"memory": {"limit": 48 * MiB, "swap": 96 * MiB, "reservation": 16 * MiB,
                            "swappiness": 10, "disableOOMKiller": True},
                 "cpu": {"shares": 512, "quota": 30000, "period": 150000, "cpus": "1", "mems": "0"},
                 "pids": {"limit": 25}}
    for rt, name in ((runc, "runc-c"), (pyrt, "pyrt-c")):
        b = _bundle(tmp_path, name, cgroup_parent, ["sleep", "100"], resources)
        p = rt.create(b, name)
        assert p.returncode == 0, (rt.exe, p.stderr)
        assert rt("start", name).returncode == 0
    values = {}
    for name in ("runc-c", "pyrt-c"):
        values[name] = {f: _read(_dir(cgroup_parent, name, h), f)
                        for h, files in _COMPARED.items() for f in files}
    assert values["pyrt-c"] == values["runc-c"]
    assert values["pyrt-c"][_MEMORY_LIMIT] == str(48 * MiB)
    # the same live update through both
    for rt, name in ((runc, "runc-c"), (pyrt, "pyrt-c")):
        p = rt("update", "--memory", str(64 * MiB), "--memory-swap", str(128 * MiB), "--cpu-share", "256",
               "--pids-limit", "40", name)
        assert p.returncode == 0, (rt.exe, p.stderr)
    after = {name: {f: _read(_dir(cgroup_parent, name, h), f) for h, files in _COMPARED.items()
                    for f in files} for name in ("runc-c", "pyrt-c")}
    assert after["pyrt-c"] == after["runc-c"]
    assert after["pyrt-c"]["pids.max"] == "40"
    # both pause: each runtime reports it and the processes are frozen
    for rt, name in ((runc, "runc-c"), (pyrt, "pyrt-c")):
        assert rt("pause", name).returncode == 0
        assert rt.status(name) == "paused"
        assert rt("resume", name).returncode == 0
    for rt, name in ((runc, "runc-c"), (pyrt, "pyrt-c")):
        assert rt("delete", "--force", name).returncode == 0
        assert not any(os.path.isdir(d) for d in cgroup_support.dirs_named(f"{cgroup_parent}/{name}"))


def test_a_created_container_can_be_paused_and_resumed(pyrt, tmp_path, cgroup_parent):
    b = _bundle(tmp_path, "c1", cgroup_parent, ["true"], {})
    assert pyrt.create(b, "c1").returncode == 0
    v2 = _dir(cgroup_parent, "c1", "unified")
    assert pyrt("pause", "c1").returncode == 0
    assert _read(v2, "cgroup.freeze") == "1"
    again = pyrt("pause", "c1")
    assert again.returncode == 6 and "is paused" in again.stderr
    p = pyrt("resume", "c1")
    assert p.returncode == 0, p.stderr
    assert _read(v2, "cgroup.freeze") == "0"
    assert pyrt.status("c1") == "created"
    assert pyrt("delete", "c1").returncode == 0

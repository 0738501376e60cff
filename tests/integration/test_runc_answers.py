"""The answers containerd's shim parses, given by runc 1.1.5 and by pyrt-runc side by side.

containerd-shim-runc-v2 (containerd 1.6, pkg/process) runs the runtime through go-runc, which
turns any non-zero exit into an error carrying the runtime's output, and decides by substring:
checkKillError (utils.go) takes `container not running`, `no such process` and `os: process
already finished` as "already gone" and `does not exist` as "no such container"; Init.delete
(init.go) ignores a delete error containing `does not exist`; runtimeError reads the last
error-level `msg` of the --log file (JSON lines). After the container's init exits the shim
calls `kill --all ID 9` (KillAll, must succeed) and CRI's StopContainer calls `kill ID 9`.
Each case runs the same bundle under both runtimes and compares the exit status (and, where a
caller matches text, the substring in stderr and in the JSON log).
"""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.integration.test_runtime import run_files
from tests.support import cgroup
from tests.support.bundle import PYRT_RUNC, RUNC, base_config, make_bundle, write_config

RUNTIMES = {"runc": RUNC, "pyrt-runc": PYRT_RUNC}


class Side:
    """One runtime with its own --root, bundle and cgroup, JSON log in LOG."""

    def __init__(self, name, tmp, cgroup_parent):
        self.name, self.binary = name, RUNTIMES[name]
        self.root = str(tmp / f"root-{name}")
        self.log = str(tmp / f"{name}.log")
        self.bundle = make_bundle(tmp / f"bundle-{name}")
        # one level (runc leaves a parent it made, pyrt removes it): checked at teardown
        self.cgroups_path = f"{cgroup_parent}-{name}"

    def config(self, args):
        cfg = base_config(args)
        cfg["linux"]["cgroupsPath"] = self.cgroups_path
        write_config(self.bundle, cfg)

    def __call__(self, *args):
        open(self.log, "w").close()
        return run_files([self.binary, "--root", self.root, "--log", self.log, "--log-format", "json", *args])

    def last_logged_error(self) -> str:
        """What the shim's getLastRuntimeError reads: the last error-level msg."""
        msg = ""
        with open(self.log) as f:
            for line in f:
                entry = json.loads(line)
                if entry.get("level") == "error":
                    msg = entry["msg"]
        return msg

    def status(self, cid):
        p = self("state", cid)
        return json.loads(p.stdout)["status"] if p.returncode == 0 else None

    def wait_status(self, cid, want, timeout=20):
        deadline = time.monotonic() + timeout
        while self.status(cid) != want:
            assert time.monotonic() < deadline, f"{self.name}: {cid} never became {want}"
            time.sleep(0.02)


@pytest.fixture
def sides(tmp_path, cgroup_parent):
    out = {name: Side(name, tmp_path, cgroup_parent) for name in RUNTIMES}
    yield out
    for s in out.values():
        for cid in os.listdir(s.root) if os.path.isdir(s.root) else ():
            s("delete", "--force", cid)
        assert not os.path.isdir(s.root) or os.listdir(s.root) == [], f"{s.name} left state"
        assert cgroup.existing(s.cgroups_path) == [], f"{s.name} left cgroups"


def each(sides, *args) -> dict:
    return {name: s(*args) for name, s in sides.items()}


def test_missing_container(sides):
    for verb in (["state"], ["kill"], ["kill", "--all"], ["delete"], ["start"], ["pause"]):
        args = verb + ["nope"] + (["9"] if verb[0] == "kill" else [])
        res = each(sides, *args)
        for name, p in res.items():
            assert p.returncode != 0, (name, args)
            assert "does not exist" in p.stderr, (name, args, p.stderr)
            assert "does not exist" in sides[name].last_logged_error(), (name, args)
            assert "Traceback" not in p.stderr
    res = each(sides, "delete", "--force", "nope")
    assert {n: p.returncode for n, p in res.items()} == {"runc": 0, "pyrt-runc": 0}


def test_stopped_container_answers(sides):
    """The init has exited, the container is not deleted yet: what the shim sees between the
    exit event and RemoveContainer."""
    for s in sides.values():
        s.config(["true"])
        assert s("run", "-d", "-b", s.bundle, "c1").returncode == 0, s.name
        s.wait_status("c1", "stopped")

    res = each(sides, "state", "c1")
    states = {n: json.loads(p.stdout) for n, p in res.items()}
    assert {n: (st["status"], st["pid"]) for n, st in states.items()} == {
        "runc": ("stopped", 0), "pyrt-runc": ("stopped", 0)}

    # shim KillAll after the exit: must succeed (issue 15: pyrt exited 6, CRI kept the container)
    res = each(sides, "kill", "--all", "c1", "9")
    assert {n: p.returncode for n, p in res.items()} == {"runc": 0, "pyrt-runc": 0}, res

    # CRI StopContainer's `kill ID 9`: exit 1 and the text checkKillError maps to "already gone"
    for sig in ("9", "KILL", "0"):
        res = each(sides, "kill", "c1", sig)
        assert {n: p.returncode for n, p in res.items()} == {"runc": 1, "pyrt-runc": 1}, (sig, res)
        for name, p in res.items():
            assert "container not running" in p.stderr, (name, p.stderr)
            assert "container not running" in sides[name].last_logged_error(), name

    # the shim's Pids: the cgroup's (empty) list, not an error (runc prints Go's nil slice: null)
    res = each(sides, "ps", "--format", "json", "c1")
    assert {n: (p.returncode, json.loads(p.stdout) or []) for n, p in res.items()} == {
        "runc": (0, []), "pyrt-runc": (0, [])}, res

    # `delete` after exit (no --force), then the container is gone for both
    res = each(sides, "delete", "c1")
    assert {n: p.returncode for n, p in res.items()} == {"runc": 0, "pyrt-runc": 0}, res
    for name, p in each(sides, "state", "c1").items():
        assert p.returncode != 0 and "does not exist" in p.stderr, name


def test_signal_zero_asks_whether_it_runs(sides):
    for s in sides.values():
        s.config(["sleep", "60"])
        assert s("run", "-d", "-b", s.bundle, "c1").returncode == 0, s.name
    res = each(sides, "kill", "c1", "0")
    assert {n: p.returncode for n, p in res.items()} == {"runc": 0, "pyrt-runc": 0}, res
    for s in sides.values():
        assert s.status("c1") == "running"
        assert s("delete", "--force", "c1").returncode == 0


def test_delete_of_a_created_container_as_containerd_shim_does(sides):
    """Pinned runc behaviour, kept although the runtime-spec says delete of a container that is
    not stopped MUST error: containerd-shim-runc-v2 removes a never-started container with a
    plain `delete` (pkg/process/init_state.go createdState.Delete -> Init.delete ->
    runtime.Delete(ctx, id, nil), no --force). A running one is refused by both."""
    for s in sides.values():
        s.config(["sleep", "60"])
        assert s("create", "-b", s.bundle, "c1").returncode == 0, s.name
    pids = {n: json.loads(s("state", "c1").stdout)["pid"] for n, s in sides.items()}
    res = each(sides, "delete", "c1")
    assert {n: p.returncode for n, p in res.items()} == {"runc": 0, "pyrt-runc": 0}, res
    for name, pid in pids.items():
        try:
            with open(f"/proc/{pid}/stat") as f:
                assert f.read().rsplit(")", 1)[1].split()[0] == "Z", name
        except FileNotFoundError:
            pass

    for s in sides.values():
        assert s("run", "-d", "-b", s.bundle, "c2").returncode == 0, s.name
    res = each(sides, "delete", "c2")
    assert all(p.returncode != 0 for p in res.values()), res
    for s in sides.values():
        assert s.status("c2") == "running"
        assert s("delete", "--force", "c2").returncode == 0


def test_sigkill_ends_a_paused_container(sides):
    """CRI stops a paused container with SIGKILL: runc thaws it so the signal lands (a frozen
    process cannot die); `kill --all` too."""
    for all_ in ([], ["--all"]):
        for s in sides.values():
            s.config(["sleep", "60"])
            assert s("run", "-d", "-b", s.bundle, "c1").returncode == 0, s.name
            assert s("pause", "c1").returncode == 0, s.name
            assert s.status("c1") == "paused"
        res = each(sides, "kill", *all_, "c1", "KILL")
        assert {n: p.returncode for n, p in res.items()} == {"runc": 0, "pyrt-runc": 0}, (all_, res)
        for s in sides.values():
            s.wait_status("c1", "stopped")
            assert s("delete", "c1").returncode == 0

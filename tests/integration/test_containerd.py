"""containerd (ctr -> containerd -> containerd-shim-runc-v2) drives pyrt-runc as it drives runc
(`ctr run --runc-binary`): every case runs under both runtimes and the outcomes are compared.

containerd is private (tests/support/containerd.py): own config, root, state and sockets in a
temp dir, no CRI, inside a cgroup jail beneath our own cgroup. The module's fixture fails if a
task, container, process or cgroup is left.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time

import pytest

from tests.support.callers import RUNTIMES, assert_same, check_cleared, outcome, serve
from tests.support.containerd import Containerd

# Logs each call with its exit status; no exec, so the status is seen (the shim is a subreaper:
# the container's init still reparents to it).
CALL_LOG_WRAPPER = """#!/bin/sh
{runtime} "$@"
rc=$?
echo "rc=$rc $*" >> {log}
exit $rc
"""


@pytest.fixture(scope="module")
def ctd():
    yield from serve(Containerd("test_containerd"))


@pytest.fixture(autouse=True)
def nothing_left(ctd):
    yield from check_cleared(ctd)


def run_rm(ctd, runtime, cid, *args, **kw):
    return ctd("run", "--rm", "--runc-binary", runtime, *args[:-1], ctd.image, cid, *args[-1], **kw)


def both(ctd, cid, *args, **kw) -> dict:
    return {name: run_rm(ctd, rt, f"{cid}-{name}", *args, **kw) for name, rt in RUNTIMES.items()}


@pytest.mark.parametrize("cmd, rc", [("exit 0", 0), ("exit 3", 3), ("echo out; echo err >&2; exit 7", 7)])
def test_run_exit_code_and_output(ctd, cmd, rc):
    res = both(ctd, "exit", ["sh", "-c", cmd])
    assert_same(res)
    assert res["pyrt-runc"].returncode == rc
    if "echo" in cmd:
        assert (res["pyrt-runc"].stdout, res["pyrt-runc"].stderr) == ("out\n", "err\n")


def test_missing_executable(ctd):
    """The runtime's error (read by the shim from --log, JSON lines) reaches ctr's user, and
    nothing is left behind (the fixture checks)."""
    res = both(ctd, "missing", ["/no/such/binary"])
    for name, r in res.items():
        assert r.returncode == 1, f"{name}: {outcome(r)}"
        assert "OCI runtime create failed" in r.stderr and "/no/such/binary" in r.stderr, f"{name}: {r.stderr}"
        ctd("container", "delete", f"missing-{name}")  # ctr run --rm leaves it when create fails


def test_run_with_terminal(ctd):
    res = {name: ctd.tty_run("run", "--rm", "--tty", "--runc-binary", rt, ctd.image, f"tty-{name}",
                             "sh", "-c", "tty; test -t 1 && echo stdout-is-a-tty; exit 4")
           for name, rt in RUNTIMES.items()}
    assert_same(res)
    assert res["pyrt-runc"].returncode == 4
    assert res["pyrt-runc"].stdout.split() == ["/dev/pts/0", "stdout-is-a-tty"]


def test_run_with_settings(ctd):
    """--cwd, --env, --cap-drop, --read-only."""
    script = "pwd; echo $FOO; grep CapEff /proc/self/status; touch /x 2>/dev/null || echo rootfs-readonly"
    res = {name: ctd("run", "--rm", "--runc-binary", rt, "--cwd", "/etc", "--env", "FOO=bar",
                     "--cap-drop", "CAP_NET_RAW", "--read-only", ctd.image, f"settings-{name}",
                     "sh", "-c", script)
           for name, rt in RUNTIMES.items()}
    assert_same(res)
    out = res["pyrt-runc"].stdout.split()
    assert out[:3] + out[4:] == ["/etc", "bar", "CapEff:", "rootfs-readonly"], out
    assert not int(out[3], 16) & (1 << 13), out  # CAP_NET_RAW is 13


@pytest.mark.parametrize("name", RUNTIMES)
def test_limits_in_a_chosen_cgroup(ctd, name):
    """--cgroup (a path of our choosing: inside the jail), --memory-limit, --cpu-shares: read
    from the host side (ctr's spec mounts no /sys/fs/cgroup in the container)."""
    cid = f"limits-{name}"
    r = ctd("run", "-d", "--runc-binary", RUNTIMES[name], "--cgroup", f"/chosen/{name}",
            "--memory-limit", str(96 << 20), "--cpu-shares", "512", ctd.image, cid, "sleep", "300")
    assert r.returncode == 0, r.stderr
    try:
        assert _wait_status(ctd, cid, "RUNNING") == "RUNNING"
        r = ctd("task", "exec", "--exec-id", "c", cid, "cat", "/proc/self/cgroup")
        assert {line.split(":", 2)[2] for line in r.stdout.splitlines()} == {f"/chosen/{name}"}, r.stdout
        files = {}
        for d in ctd.jail.dirs:
            for f in ("memory.limit_in_bytes", "cpu.shares"):
                path = f"{d}/chosen/{name}/{f}"
                try:
                    with open(path) as fh:
                        files[f] = fh.read().strip()
                except FileNotFoundError:
                    pass
        assert files == {"memory.limit_in_bytes": str(96 << 20), "cpu.shares": "512"}
    finally:
        ctd("task", "kill", "--signal", "KILL", cid)
        _wait_status(ctd, cid, "STOPPED")
        ctd("task", "delete", cid)
        ctd("container", "delete", cid)
    left = [d for d in ctd.jail.dirs if os.path.isdir(f"{d}/chosen/{name}")]
    assert not left, f"container cgroup not removed: {left}"
    if name == "runc":
        # runc 1.1 leaves the parent it made (/chosen); pyrt-runc removes its own (the leak check
        # holds it to that in the next case, which starts without one).
        for d in ctd.jail.dirs:
            if os.path.isdir(f"{d}/chosen"):
                os.rmdir(f"{d}/chosen")


def test_no_pivot_and_with_ns(ctd, tmp_path):
    """--no-pivot reaches `create --no-pivot`; --with-ns joins a namespace by path (the jail
    holder's uts namespace, i.e. the host's: the container sees the host's name)."""
    uts = f"/proc/{ctd.jail.holder.pid}/ns/uts"
    res = both(ctd, "nopivot", "--no-pivot", "--with-ns", f"uts:{uts}",
               ["sh", "-c", "head -1 /proc/self/mountinfo | cut -d' ' -f4,5; hostname"])
    assert_same(res)
    assert res["pyrt-runc"].stdout.splitlines() == ["/ /", socket.gethostname()]


@pytest.mark.parametrize("opts", [
    [], ["--privileged"], ["--seccomp", "--read-only", "--cap-add", "CAP_SYS_ADMIN"],
    ["--no-pivot", "--allow-new-privs", "--net-host"],
], ids=["default", "privileged", "seccomp-readonly-cap", "nopivot-newprivs-nethost"])
def test_probe_view_matches(ctd, opts):
    """The probe's report under each runtime (same container id in turn, so the same paths;
    only the overlay snapshots' numbers differ)."""
    reports = {}
    for name, rt in RUNTIMES.items():
        r = run_rm(ctd, rt, "probe", *opts, ["/bin/probe"])
        assert r.returncode == 0, f"{name}: {r.stderr}"
        reports[name] = json.loads(re.sub(r"/snapshots/\d+/", "/snapshots/<n>/", r.stdout))
    a, b = reports["runc"], reports["pyrt-runc"]
    assert any(m["mnt"] == "/proc" for m in a["mounts"]), a
    diffs = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    assert not diffs, json.dumps(diffs, indent=1)


def _status(ctd, cid) -> str:
    for line in ctd("task", "ls").stdout.splitlines()[1:]:
        f = line.split()
        if f and f[0] == cid:
            return f[2]
    return "absent"


def _wait_status(ctd, cid, want, timeout=10.0) -> str:
    deadline = time.monotonic() + timeout
    while (st := _status(ctd, cid)) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return st


@pytest.mark.parametrize("name", RUNTIMES)
def test_task_lifecycle(ctd, name, tmp_path):
    """run -d, task exec (status, output, tty), ps, pause/resume, kill (one signal, --all), delete."""
    rt = RUNTIMES[name]
    cid = f"life-{name}"
    r = ctd("run", "-d", "--runc-binary", rt, ctd.image, cid, "sleep", "300")
    assert r.returncode == 0, r.stderr
    try:
        assert _wait_status(ctd, cid, "RUNNING") == "RUNNING"
        r = ctd("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo in-exec; echo exec-err >&2; exit 5")
        assert outcome(r) == (5, "in-exec\n", "exec-err\n")
        r = ctd.tty_run("task", "exec", "--tty", "--exec-id", "e2", cid, "sh", "-c", "tty; exit 6")
        # (ctr may then complain, under either runtime, that it cannot resize the ended exec's pty)
        assert (r.returncode, r.stdout.splitlines()[0]) == (6, "/dev/pts/0"), r.stdout

        bg = ctd.popen("task", "exec", "--exec-id", "e3", cid, "sleep", "200",
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pids = ctd("task", "ps", cid).stdout.split("\n")[1:]
            if len([p for p in pids if p.strip()]) == 2:
                break
            time.sleep(0.05)
        assert len([p for p in pids if p.strip()]) == 2, pids

        assert ctd("task", "pause", cid).returncode == 0
        assert _wait_status(ctd, cid, "PAUSED") == "PAUSED"
        assert ctd("task", "resume", cid).returncode == 0
        assert _wait_status(ctd, cid, "RUNNING") == "RUNNING"

        # kill --all reaches the exec'd sleep too; pid 1 of a pid namespace ignores TERM
        # without a handler, so KILL it.
        assert ctd("task", "kill", "--all", "--signal", "KILL", cid).returncode == 0
        assert bg.wait(timeout=20) != 0
        bg.stderr.close()
        assert _wait_status(ctd, cid, "STOPPED") == "STOPPED"
        r = ctd("task", "delete", cid)
        assert r.returncode == 0, r.stderr
    finally:
        ctd("task", "kill", "--signal", "KILL", cid)
        ctd("task", "delete", "--force", cid)
        r = ctd("container", "delete", cid)
    assert r.returncode == 0, r.stderr


def test_runtime_calls_are_runc_s(ctd, tmp_path):
    """The shim calls both runtimes the same way and each call ends the same (logged by a wrapper)."""
    calls = {}
    for name, rt in RUNTIMES.items():
        log = tmp_path / f"{name}.calls"
        wrapper = tmp_path / f"{name}-wrapper"
        wrapper.write_text(CALL_LOG_WRAPPER.format(log=log, runtime=rt))
        wrapper.chmod(0o755)
        cid = "calls"
        assert ctd("run", "-d", "--runc-binary", str(wrapper), ctd.image, cid, "sleep", "300").returncode == 0
        assert _wait_status(ctd, cid, "RUNNING") == "RUNNING"
        assert ctd("task", "exec", "--exec-id", "x", cid, "true").returncode == 0
        assert ctd("task", "ps", cid).returncode == 0
        assert ctd("task", "pause", cid).returncode == 0
        assert ctd("task", "resume", cid).returncode == 0
        assert ctd("task", "kill", "--signal", "KILL", cid).returncode == 0
        assert _wait_status(ctd, cid, "STOPPED") == "STOPPED"
        assert ctd("task", "delete", cid).returncode == 0
        assert ctd("container", "delete", cid).returncode == 0
        calls[name] = [re.sub(r"/tmp/\S+", "<x>", line) for line in log.read_text().splitlines()]
    assert calls["runc"] == calls["pyrt-runc"]
    assert any("--log-format json" in c and " ps --format json " in c for c in calls["pyrt-runc"]), calls

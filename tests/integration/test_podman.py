"""podman (through conmon) drives pyrt-runc as it drives runc: every case runs under both
runtimes and the outcomes are compared.

podman lives in a private world (tests/support/podman.py): its own storage, runroot, tmpdir and
configuration in a temp dir, cgroupfs paths inside a cgroup jail beneath our own cgroup
(tests/support/cgjail.py), --network none. The module's fixture fails if anything is left.
"""
from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from tests.support.bundle import PYRT_RUNC, busybox_rootfs_template
from tests.support.callers import RUNTIMES, assert_same, check_cleared, outcome, serve
from tests.support.podman import Podman

ARGV_LOG_WRAPPER = """#!/bin/sh
echo "$*" >> {log}
exec {runtime} "$@"
"""


@pytest.fixture(scope="module")
def pm():
    yield from serve(Podman("test_podman"))


@pytest.fixture(autouse=True)
def no_container_left(pm):
    yield from check_cleared(pm)


def host_cgroups(pid: int) -> dict[str, str]:
    """PID's cgroup per hierarchy as the host sees it (keyed like CgroupJail.relative())."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls or "unified"] = path
    return out


def both(pm, *args, **kw) -> dict:
    """`podman ARGS` under each runtime: {name: CompletedProcess}."""
    return {name: pm(*args, runtime=rt, **kw) for name, rt in RUNTIMES.items()}


@pytest.mark.parametrize("cmd, rc", [("exit 0", 0), ("exit 3", 3), ("kill -9 $$", 137), ("kill -TERM $$", 143)])
def test_run_rm_exit_code(pm, cmd, rc):
    # A pid namespace's init cannot signal itself to death: the signal cases share the jail's.
    pid = ["--pid", "host"] if "kill" in cmd else []
    res = both(pm, "run", "--rm", *pid, pm.image, "sh", "-c", cmd)
    assert_same(res)
    assert res["pyrt-runc"].returncode == rc, res["pyrt-runc"].stderr


def test_missing_executable(pm):
    """The runtime's error reaches podman's user, and nothing is left (the fixture checks)."""
    res = both(pm, "run", "--rm", pm.image, "/no/such/binary")
    for name, r in res.items():
        assert r.returncode == 127, f"{name}: {outcome(r)}"
        assert "/no/such/binary" in r.stderr, f"{name}: {r.stderr}"


def test_create_then_start_attached_and_restart(pm):
    """podman create / init / start -a / start again (a second `create` of the same id)."""
    for name, rt in RUNTIMES.items():
        cid = pm("create", pm.image, "sh", "-c", "echo started", runtime=rt).stdout.strip()
        try:
            r = pm("init", cid)
            assert r.returncode == 0, f"{name}: {r.stderr}"
            assert json.loads(pm("inspect", cid).stdout)[0]["State"]["Status"] == "initialized"
            r = pm("start", "-a", cid)
            assert (r.returncode, r.stdout) == (0, "started\n"), f"{name}: {outcome(r)}"
            r = pm("start", "-a", cid)
            assert (r.returncode, r.stdout) == (0, "started\n"), f"{name}: {outcome(r)}"
        finally:
            pm("rm", "-f", cid)


def test_stdout_and_stderr_through_conmon(pm):
    res = both(pm, "run", "--rm", pm.image, "sh", "-c", "echo to-out; echo to-err >&2; echo more-out")
    assert_same(res)
    assert res["pyrt-runc"].stdout == "to-out\nmore-out\n"
    assert res["pyrt-runc"].stderr == "to-err\n"


def test_stdin_interactive(pm):
    res = both(pm, "run", "--rm", "-i", pm.image, "sh", "-c", "tr a-z A-Z", input="hello pod\n")
    assert_same(res)
    assert res["pyrt-runc"].stdout == "HELLO POD\n"


def test_terminal_through_console_socket(pm):
    res = both(pm, "run", "--rm", "-t", pm.image, "sh", "-c", "tty; test -t 1 && echo stdout-is-a-tty")
    assert_same(res)
    assert res["pyrt-runc"].returncode == 0
    assert res["pyrt-runc"].stdout.replace("\r\n", "\n") == "/dev/pts/0\nstdout-is-a-tty\n"


def test_interactive_terminal_with_window_size(pm):
    """-it from a terminal: conmon passes the window size through the console socket's pty.
    (The container waits for a line typed once its output has arrived: podman may lose a tty's
    last output when the container ends at once, under runc as well. Was: a 0.3 s sleep.)"""
    res = {name: pm.in_terminal("run", "--rm", "-it", pm.image, "sh", "-c", "stty size; tty; read _; exit 5",
                                runtime=rt, answer=("/dev/pts/0", "\n"))
           for name, rt in RUNTIMES.items()}
    assert_same(res)
    assert res["pyrt-runc"].returncode == 5
    assert res["pyrt-runc"].stdout.split("\n")[:2] == ["30 100", "/dev/pts/0"]


def test_process_settings(pm):
    """--user, --workdir, --env, --cap-drop ALL, --read-only: what the process sees."""
    script = ("id; pwd; echo $FOO; grep -E '^Cap(Eff|Bnd|Prm)' /proc/self/status; "
              "touch /x 2>/dev/null && echo rootfs-writable || echo rootfs-readonly; "
              "touch /tmp/y && echo tmp-writable")
    res = both(pm, "run", "--rm", "--user", "1000:1000", "--workdir", "/tmp", "--env", "FOO=bar baz",
               "--cap-drop", "ALL", "--read-only", pm.image, "sh", "-c", script)
    assert_same(res)
    out = res["pyrt-runc"].stdout.splitlines()
    assert out[0].startswith("uid=1000(1000) gid=1000(1000)")
    assert out[1:3] == ["/tmp", "bar baz"]
    assert all(line.endswith("0000000000000000") for line in out[3:6]), out
    assert out[6:] == ["rootfs-readonly", "tmp-writable"]


def test_resources_in_the_jail(pm):
    """--memory and --pids-limit reach the container's cgroup (inside the jail)."""
    res = both(pm, "run", "--rm", "--memory", "64m", "--pids-limit", "77", pm.image, "sh", "-c",
               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max")
    assert_same(res)
    assert res["pyrt-runc"].stdout.split() == [str(64 << 20), "77"]


def _norm_probe(report: dict) -> dict:
    """What differs between two podman containers of one image: their ids (in paths, hostname,
    $HOSTNAME), the order of the environment and of podman's own bind mounts (/etc/hosts,
    /dev/shm... come from Go maps, so config.json's order changes from one container to the next)."""
    text = re.sub(r"[0-9a-f]{64}", "<id>", json.dumps(report, sort_keys=True))
    text = re.sub(r"\b[0-9a-f]{12}\b", "<short-id>", text)
    text = re.sub(r"container_uuid=[0-9a-f]{32}", "container_uuid=<uuid>", text)
    out = json.loads(text)
    out["env"] = sorted(out.get("env", []))
    out["mounts"] = sorted(out.get("mounts", []), key=lambda m: json.dumps(m, sort_keys=True))
    return out


@pytest.mark.parametrize("opts", [
    [], ["--privileged"], ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"],
    ["--read-only", "--user", "1000", "--cap-add", "NET_ADMIN"],
    ["--cgroupns", "private", "--security-opt", "seccomp=unconfined"],
    ["--security-opt", "no-new-privileges", "--cap-drop", "ALL", "--cap-add", "CHOWN"],
    ["--systemd", "always"],
], ids=["default", "privileged", "userns", "readonly-user-cap", "cgroupns-noseccomp", "nnp-caps", "systemd-mode"])
def test_probe_view_matches(pm, opts):
    """What the static probe sees (tests/support/differential.py's probe) under both runtimes."""
    res = both(pm, "run", "--rm", *opts, pm.image, "/bin/probe")
    reports = {}
    for name, r in res.items():
        assert r.returncode == 0, f"{name}: {r.stderr}"
        reports[name] = _norm_probe(json.loads(r.stdout))
    a, b = reports["runc"], reports["pyrt-runc"]
    assert any(m["mnt"] == "/proc" for m in a["mounts"]), a
    diffs = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    if "mounts" in diffs:
        ma, mb = diffs.pop("mounts")
        diffs["mounts"] = {"only-under-runc": [m for m in ma if m not in mb],
                           "only-under-pyrt-runc": [m for m in mb if m not in ma]}
    assert not diffs, json.dumps(diffs, indent=1)


def _detached(pm, rt, *args) -> str:
    r = pm("run", "-d", *args, pm.image, "sleep", "300", runtime=rt)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.mark.parametrize("name", RUNTIMES)
def test_detached_lifecycle(pm, name):
    """-d, inspect, exec (plain, -t, with a status), top, pause/unpause, stop: SIGTERM ignored by
    pid 1 (sleep in a pid namespace) so podman escalates to SIGKILL after the timeout."""
    rt = RUNTIMES[name]
    cid = _detached(pm, rt)
    try:
        st = json.loads(pm("inspect", cid).stdout)[0]["State"]
        assert st["Status"] == "running" and st["Pid"] > 0
        # Seen from the host, conmon and the container sit in the jail, beneath our own cgroup.
        for pid, leaf in ((st["ConmonPid"], "/libpod_parent/conmon"), (st["Pid"], f"/libpod_parent/libpod-{cid}")):
            seen, jail = host_cgroups(pid), pm.jail.relative()
            assert seen["memory"] == jail["memory"] + leaf, seen
            assert all(seen[h] == j or seen[h].startswith(j + "/") for h, j in jail.items()), seen
        # --sync asks the runtime: `state ID`
        r = pm("ps", "--sync", "--format", "{{.ID}} {{.Status}}")
        assert r.returncode == 0 and r.stdout.startswith(cid[:12] + " Up"), outcome(r)

        r = pm("exec", cid, "sh", "-c", "echo in-exec; echo exec-err >&2; exit 5")
        assert (r.returncode, r.stdout, r.stderr) == (5, "in-exec\n", "exec-err\n")
        r = pm("exec", "-t", cid, "tty")
        assert (r.returncode, r.stdout.strip()) == (0, "/dev/pts/0"), r.stderr
        r = pm.in_terminal("exec", "-it", cid, "sh", "-c", "stty size; read _; exit 4",
                           rows_cols=(20, 90), answer=("20 90", "\n"))
        assert (r.returncode, r.stdout.split("\n")[0]) == (4, "20 90"), r.stdout
        r = pm("exec", "--user", "1000", "--workdir", "/tmp", "--env", "E=1", cid, "sh", "-c", "id -u; pwd; echo $E")
        assert r.stdout.split() == ["1000", "/tmp", "1"], r.stderr

        # podman reads the runtime's words: not found -> 127, not executable -> 126
        assert pm("exec", cid, "/no/such/binary").returncode == 127
        assert pm("exec", cid, "/etc/passwd").returncode == 126

        r = pm("top", cid, "pid", "args")
        assert r.returncode == 0 and "sleep 300" in r.stdout, r.stderr

        assert pm("pause", cid).returncode == 0
        assert json.loads(pm("inspect", cid).stdout)[0]["State"]["Status"] == "paused"
        assert pm("unpause", cid).returncode == 0
        assert json.loads(pm("inspect", cid).stdout)[0]["State"]["Status"] == "running"

        t0 = time.monotonic()
        r = pm("stop", "-t", "1", cid)
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        assert 0.9 < took < 20, took
        st = json.loads(pm("inspect", cid).stdout)[0]["State"]
        assert st["Status"] == "exited" and st["ExitCode"] == 137, st
    finally:
        r = pm("rm", "-f", cid)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", RUNTIMES)
def test_kill_and_rm_force(pm, name):
    rt = RUNTIMES[name]
    cid = _detached(pm, rt)
    r = pm("kill", "--signal", "KILL", cid)
    assert r.returncode == 0, r.stderr
    r = pm("wait", cid)
    assert r.stdout.strip() == "137", r.stderr
    r = pm("rm", cid)
    assert r.returncode == 0, r.stderr

    cid = _detached(pm, rt)
    r = pm("rm", "-f", "-t", "0", cid)
    assert r.returncode == 0, r.stderr
    assert pm("ps", "-aq").stdout.split() == []


def test_runtime_calls_are_runc_s(pm, tmp_path):
    """What conmon/podman call: the same verbs and flags for both runtimes (logged by a wrapper)."""
    calls = {}
    for name, rt in RUNTIMES.items():
        log = tmp_path / f"{name}.argv"
        wrapper = tmp_path / f"{name}-wrapper"
        wrapper.write_text(ARGV_LOG_WRAPPER.format(log=log, runtime=rt))
        wrapper.chmod(0o755)
        cid = _detached(pm, str(wrapper))
        assert pm("exec", cid, "true").returncode == 0
        assert pm("exec", "-t", cid, "true").returncode == 0
        assert pm("update", "--memory", "100m", cid).returncode == 0
        assert pm("stop", "-t", "0", cid).returncode == 0
        assert pm("rm", cid).returncode == 0
        # Sharing the pid namespace, podman stops the container with `kill --all`.
        cid = _detached(pm, str(wrapper), "--pid", "host")
        assert pm("stop", "-t", "5", cid).returncode == 0
        st = json.loads(pm("inspect", cid).stdout)[0]["State"]
        assert st["ExitCode"] == 143, st
        assert pm("rm", cid).returncode == 0
        lines = log.read_text().splitlines()
        calls[name] = [re.sub(r"/tmp/\S+|[0-9a-f]{64}", "<x>", line) for line in lines]
    assert calls["runc"] == calls["pyrt-runc"]
    verbs = {line.split()[0] for line in calls["pyrt-runc"]}
    assert {"create", "start", "exec", "update", "kill", "delete"} <= verbs, calls
    assert any(line.startswith("kill --all ") for line in calls["pyrt-runc"]), calls


def test_devices_and_privileged(pm):
    """--device and --privileged (linux.devices with fileMode carrying the file type bits)."""
    res = both(pm, "run", "--rm", "--device", "/dev/null:/dev/foo", pm.image, "sh", "-c",
               "ls -l /dev/foo | cut -c1-10; echo x > /dev/foo && echo written")
    assert_same(res)
    assert res["pyrt-runc"].stdout == "crw-rw-rw-\nwritten\n"
    res = both(pm, "run", "--rm", "--privileged", pm.image, "sh", "-c",
               "grep CapEff /proc/self/status; ls /dev | wc -l")
    assert_same(res)
    assert res["pyrt-runc"].stdout.split()[:2] == ["CapEff:", "000001fffeffffff"]


@pytest.mark.parametrize("name", RUNTIMES)
def test_update_resources(pm, name):
    """podman update -> `<runtime> update --resources - ID`; read from the jail's memory hierarchy."""
    cid = _detached(pm, RUNTIMES[name], "--memory", "64m")
    try:
        r = pm("update", "--memory", "100m", cid)
        assert r.returncode == 0, r.stderr
        mem = next(d for d in pm.jail.dirs if "/memory/" in d)
        with open(f"{mem}/libpod_parent/libpod-{cid}/memory.limit_in_bytes") as f:
            assert f.read().strip() == str(100 << 20)
    finally:
        pm("rm", "-f", "-t", "0", cid)


def test_join_another_container_s_namespaces(pm):
    """--pid/--ipc/--uts container:X: config.json joins X's namespaces by /proc/PID/ns path."""
    helper = _detached(pm, PYRT_RUNC, "--hostname", "helper")
    try:
        res = both(pm, "run", "--rm", *(f"--{ns}=container:{helper}" for ns in ("pid", "ipc", "uts")),
                   pm.image, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '")
        assert_same(res)
        assert res["pyrt-runc"].stdout.split() == ["helper", "sleep", "300"]
    finally:
        pm("rm", "-f", "-t", "0", helper)


def test_mounts_volumes_and_rootfs(pm, tmp_path):
    """--mount tmpfs with a mode, --shm-size, a named volume, and --rootfs (a plain directory)."""
    res = both(pm, "run", "--rm", "--mount", "type=tmpfs,destination=/t,tmpfs-mode=1770", "--shm-size", "3m",
               "-v", "pyrt-vol:/data", pm.image, "sh", "-c",
               "stat -c %a /t; df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2; touch /data/x && ls /data")
    assert_same(res)
    assert res["pyrt-runc"].stdout.split() == ["1770", "3072", "x"]
    assert pm("volume", "rm", "pyrt-vol").returncode == 0

    rootfs = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs_template(), rootfs, symlinks=True)
    res = both(pm, "run", "--rm", "--rootfs", str(rootfs), "sh", "-c", "echo from-rootfs")
    assert_same(res)
    assert res["pyrt-runc"].stdout == "from-rootfs\n"

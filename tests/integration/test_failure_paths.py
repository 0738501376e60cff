"""Paths users hit when something goes wrong: failing and timed-out hooks, and create failing after
it has already made things (state dir, cgroups, namespaces, the init). Each case checks the answer
(one line, documented exit code, docs/exit-codes.md) and that nothing is left: no state in --root,
no cgroup (the cgroup_parent fixture), no process of the container or of its hooks.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest

from tests.support import cgroup
from tests.support.bundle import PYRT_RUNC, RUNC
# rt, bundle: pyrt-runc with this test's --root and a busybox bundle (shared with test_runtime)
from tests.integration.test_runtime import bundle, one_line_error, rt, run_files  # noqa: F401


def _sh(script: str, **more) -> dict:
    return {"path": "/bin/sh", "args": ["sh", "-c", script], **more}


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}"):
            return True
        time.sleep(0.02)
    return False


def _marked(marker: str) -> list[int]:
    """Pids of `sleep MARKER` processes (MARKER is unique to the test), in any pid namespace."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[:2] == [b"sleep", marker.encode()]:
                        out.append(int(p))
            except OSError:
                pass
    return out


def _no_marked_left(marker: str, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


# --- hooks that fail or hang ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["createContainer", "startContainer"])
def test_a_failing_in_container_hook_stops_the_container_before_its_process(rt, bundle, kind, tmp_path):
    """createContainer/startContainer failing: an error naming the hook and its last line, the
    user's process never runs, and nothing is left once the container is deleted."""
    bundle.config(["sh", "-c", "echo the-process-ran"],
                  mutate=lambda cfg: cfg.update(hooks={kind: [_sh("echo broken-hook >&2; exit 5")]}))
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode != 0 and "the-process-ran" not in p.stdout, p
    assert f"{kind} hook /bin/sh exited with status 5: broken-hook" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    rt("delete", "-f", "c1")
    assert os.listdir(rt.root) == []
    if kind == "createContainer":           # fails `create` itself: one line, exit 13, no state
        line = one_line_error(rt("create", "-b", bundle, "c2"), 13)
        assert line == f"pyrt-runc: {kind} hook /bin/sh exited with status 5: broken-hook"
        assert os.listdir(rt.root) == []


def test_a_failing_start_container_hook_fails_start_and_run_beside_runc(rt, bundle, tmp_path, cgroup_parent):
    """runtime-spec: a failing startContainer hook MUST generate an error and stop the container.
    runc 1.1.5, same bundle: `start` exits 0 (the hook's error reaches only the init's stderr) and
    `run` exits 1 (the init's status). pyrt-runc's `start` and `run` fail with the hook's line and
    exit 13 (docs/exit-codes.md), so a caller never takes the container for started; under both
    the process never runs and the container ends stopped."""
    ran = os.path.join(bundle, "rootfs", "ran")
    bundle.config(["touch", "/ran"],
                  mutate=lambda cfg: cfg.update(hooks={"startContainer": [_sh("echo broken-hook >&2; exit 1")]}))
    runc_root = str(tmp_path / "runc-root")

    def runc(*args):
        return run_files([RUNC, "--root", runc_root, *args])
    try:
        assert runc("create", "-b", bundle, "r1").returncode == 0
        p = runc("start", "r1")
        assert p.returncode == 0 and p.stderr == "", p            # runc: no error for the caller
        assert _runc_status_becomes(runc, "r1", "stopped")
        assert runc("delete", "-f", "r1").returncode == 0
        p = runc("run", "-b", bundle, "r2")
        assert p.returncode == 1 and "exit status 1" in p.stderr and "broken-hook" in p.stderr, p
    finally:
        runc("delete", "-f", "r2")
        # runc keeps its cgroupsPath's parent: only a container's own cgroup inside it is a leak
        for c in cgroup.existing(cgroup_parent):
            assert not [x for x in os.listdir(c) if os.path.isdir(os.path.join(c, x))], c
            cgroup.remove_tree(c)
    assert not os.path.exists(ran)

    assert rt("create", "-b", bundle, "c1").returncode == 0
    line = one_line_error(rt("start", "c1"), 13)
    assert line == "pyrt-runc: startContainer hook /bin/sh exited with status 1: broken-hook"
    assert json.loads(rt("state", "c1").stdout)["status"] == "stopped"
    assert rt("delete", "-f", "c1").returncode == 0
    line = one_line_error(rt("run", "-b", bundle, "c2"), 13)
    assert line == "pyrt-runc: startContainer hook /bin/sh exited with status 1: broken-hook"
    assert not os.path.exists(ran), "the process ran although its startContainer hook failed"
    assert os.listdir(rt.root) == []


def _runc_status_becomes(runc, cid, want, timeout=10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = runc("state", cid)
        if p.returncode == 0 and json.loads(p.stdout)["status"] == want:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_a_timed_out_hook_fails_create_and_its_children_die_with_it(rt, bundle, kind):
    """A hook that outlives its timeout fails create (exit 13), and a process it started does not
    survive it: neither in the runtime's namespaces (prestart/createRuntime: the hook's process
    group is killed) nor in the container's (createContainer)."""
    marker = str(900000 + os.getpid() % 10000 * 10 + ["prestart", "createRuntime", "createContainer"].index(kind))
    hook = _sh(f"sleep {marker} & sleep {marker}", timeout=1)
    bundle.config(["true"], mutate=lambda cfg: cfg.update(hooks={kind: [hook]}))
    assert one_line_error(rt("create", "-b", bundle, "c1"), 13) == f"pyrt-runc: {kind} hook /bin/sh: timed out after 1s"
    assert _no_marked_left(marker) == [], f"the timed-out {kind} hook's children outlived it"
    assert os.listdir(rt.root) == []


def test_a_failing_poststart_hook_is_a_warning(rt, bundle, tmp_path):
    """runtime-spec: a poststart failure MUST be logged as a warning, and the remaining hooks and
    the lifecycle go on (runc 1.1.5 fails `run` instead). Whether poststart runs at the end of
    create (runc 1.1) or once `start` has executed the process (the spec), `run` shows: the
    warning, the next poststart hook ran, the process ran and its status is run's."""
    marker = tmp_path / "second-poststart"

    def mutate(cfg):
        cfg["hooks"] = {"poststart": [_sh("echo poststart-broken >&2; exit 6"), _sh(f"cat > {marker}")]}
    bundle.config(["sh", "-c", "echo the-process-ran; exit 3"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 3 and p.stdout == "the-process-ran\n", p
    assert p.stderr == "pyrt-runc: warning: poststart hook /bin/sh exited with status 6: poststart-broken\n"
    assert json.loads(marker.read_text())["id"] == "c1"
    assert os.listdir(rt.root) == []


def test_a_failing_poststop_hook_is_a_warning(rt, bundle, tmp_path):
    """A poststop failure warns; the next poststop hook still runs and delete removes everything."""
    marker = tmp_path / "second-poststop"

    def mutate(cfg):
        cfg["hooks"] = {"poststop": [_sh("echo poststop-broken >&2; exit 7"), _sh(f"cat > {marker}")]}
    bundle.config(["true"], mutate=mutate)
    assert rt("create", "-b", bundle, "c1").returncode == 0
    p = rt("delete", "-f", "c1")
    assert p.returncode == 0, p
    assert p.stderr == "pyrt-runc: warning: poststop hook /bin/sh exited with status 7: poststop-broken\n"
    assert json.loads(marker.read_text())["status"] == "stopped"
    assert os.listdir(rt.root) == []


# --- create failing after it made things ----------------------------------------------------------
def test_an_id_map_the_kernel_refuses_fails_create_cleanly(rt, bundle):
    """The parent writes the new user namespace's maps while stage 1 waits: a map the kernel
    refuses (two ranges overlapping inside the container) fails create with one line; stage 1
    and its namespaces go."""
    def mutate(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536},
                                       {"containerID": 100, "hostID": 300000, "size": 10}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    bundle.config(["true"], mutate=mutate)
    line = one_line_error(rt("create", "-b", bundle, "c1"), 7)
    assert re.fullmatch(r"pyrt-runc: write /proc/\d+/uid_map: invalid argument", line), line
    assert os.listdir(rt.root) == []


def test_stage_1_dying_early_fails_create_cleanly(rt, bundle, tmp_path):
    """Stage 1 killed before it forked the init (held in open() of a namespace path that is a
    FIFO, then SIGKILLed): create says so in one line, exit 7, and removes state and cgroups."""
    fifo = tmp_path / "not-a-namespace"
    os.mkfifo(fifo)

    def mutate(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "ipc"]
        cfg["linux"]["namespaces"].append({"type": "ipc", "path": str(fifo)})
    bundle.config(["true"], mutate=mutate)
    p = subprocess.Popen([PYRT_RUNC, "--root", rt.root, "create", "-b", bundle, "c1"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        stage1 = []
        while not stage1 and time.monotonic() < deadline:
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                stage1 = [int(c) for c in f.read().split()
                          if open(f"/proc/{c}/wchan").read() == "wait_for_partner"]   # blocked in open()
            time.sleep(0.02)
        assert stage1, "stage 1 never blocked on the FIFO"
        os.kill(stage1[0], 9)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
        p.wait()
    p = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    assert one_line_error(p, 7) == "pyrt-runc: container init exited before it was set up"
    assert os.listdir(rt.root) == []


@pytest.mark.parametrize("what", ["missing", "not-a-socket"])
def test_a_console_socket_that_cannot_be_reached_fails_create_cleanly(rt, bundle, tmp_path, what):
    path = tmp_path / "console.sock"
    if what == "not-a-socket":
        path.write_text("")
    bundle.config(["true"], mutate=lambda cfg: cfg["process"].update(terminal=True))
    line = one_line_error(rt("create", "--console-socket", str(path), "-b", bundle, "c1"), 1)
    reason = "No such file or directory" if what == "missing" else "Connection refused"
    assert line == f"pyrt-runc: console socket: {reason}: {path}"
    assert os.listdir(rt.root) == []


@pytest.mark.parametrize("what", ["no-such-directory", "a-directory"])
def test_a_pid_file_that_cannot_be_written_fails_create_after_the_init_exists(rt, bundle, tmp_path, what):
    """The pid file is written once the init exists: failing there kills the init, removes its
    cgroups and state, and leaves no half-written pid file (its temporary name) behind."""
    where = tmp_path / "out"
    where.mkdir()
    pid_file = where / "nodir" / "pid" if what == "no-such-directory" else where
    (where / "keep").write_text("")        # a directory in use, not one pyrt may replace
    bundle.config(["true"])
    line = one_line_error(rt("create", "--pid-file", str(pid_file), "-b", bundle, "c1"), 1)
    reason = "No such file or directory" if what == "no-such-directory" else "Is a directory"
    assert line == f"pyrt-runc: --pid-file {pid_file}: {reason}"
    assert os.listdir(where) == ["keep"]
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == [], os.listdir(tmp_path)
    assert os.listdir(rt.root) == []


def test_poststart_runs_once_start_has_executed_the_process_and_its_failure_warns(rt, bundle, tmp_path):
    """runtime-spec: poststart hooks run after the user-specified process is executed, before
    `start` returns; a failure is a warning and the next hook still runs. So `create` runs none of
    them, `start` warns once and succeeds, and the hook sees the container `running`."""
    marker = tmp_path / "poststart-state"

    def mutate(cfg):
        cfg["hooks"] = {"poststart": [_sh("echo poststart-broken >&2; exit 6"), _sh(f"cat > {marker}")]}
    bundle.config(["sleep", "60"], mutate=mutate)
    p = rt("create", "-b", bundle, "c1")
    try:
        assert (p.returncode, p.stderr) == (0, ""), p
        assert not marker.exists()
        p = rt("start", "c1")
        assert p.returncode == 0, p
        assert p.stderr == "pyrt-runc: warning: poststart hook /bin/sh exited with status 6: poststart-broken\n"
        s = json.loads(marker.read_text())
        assert (s["id"], s["status"]) == ("c1", "running")
        assert json.loads(rt("state", "c1").stdout)["status"] == "running"
    finally:
        assert rt("delete", "-f", "c1").returncode == 0
    assert os.listdir(rt.root) == []


def test_a_fifo_passwd_fails_run_and_exec_at_once(rt, bundle):
    """A hostile image's /etc/passwd is a FIFO nobody writes. The init and an exec'd process read
    it for HOME (as runc, which blocks on it for ever, in `run` as in `exec`): pyrt-runc refuses a
    passwd that is not a regular file with one line, exit 7, and leaves nothing behind."""
    passwd = os.path.join(bundle, "rootfs", "etc", "passwd")
    bundle.config(["sleep", "60"])
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    os.unlink(passwd)
    os.mkfifo(passwd)
    try:
        line = one_line_error(rt("exec", "--user", "1000", "c1", "true", timeout=60), 7)
        assert line == "pyrt-runc: /etc/passwd in the container is not a regular file"
    finally:
        assert rt("delete", "-f", "c1").returncode == 0
    line = one_line_error(rt("run", "-b", bundle, "c2", timeout=60), 7)
    assert line == "pyrt-runc: /etc/passwd in the container is not a regular file"
    assert os.listdir(rt.root) == []

"""Crash safety and damaged state (issue 9, items 8 and 9): `pyrt-runc create` SIGKILLed at every
named step and at random moments, state.json with pid 0, -1 or a recycled pid, and state.json
truncated, mistyped or replaced by a directory.

`delete --force` must end only the container's own processes (through its cgroup, or its init
when the pid still is the recorded process), never the caller's process group or anything
else, and always free cgroups, mounts and the state directory. Each attack runs for real; the
"wrong" target is always a sacrificial process of the test's own.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import uuid

import pytest

from tests.integration.test_runtime import bundle, one_line_error, rt, run_files, state_of, wait_status  # noqa: F401
from tests.support import cgroup
from tests.support.bundle import PYRT_RUNC

# Every step create.py marks with st.crash_point(), in order.
CRASH_STEPS = ("dir-made", "state-written", "cgroup-planned", "cgroup-made", "pid-known",
               "init-released", "hooks", "created")


def tagged_processes(tag: str) -> list[int]:
    """Processes carrying TAG in their environment: pyrt-runc's children before execve and the
    container's process (its config sets the tag too)."""
    out = []
    needle = tag.encode()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f"/proc/{p}/environ", "rb") as f:
                if needle in f.read():
                    with open(f"/proc/{p}/stat") as s:
                        if s.read().rsplit(")", 1)[1].split()[0] != "Z":
                            out.append(int(p))
        except OSError:
            continue
    return out


def wait_no_processes(tag: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, f"processes of the container left running: {left}"


def caller(root: str, *pyrt_args: str, extra: str = "") -> subprocess.CompletedProcess:
    """pyrt-runc run by a shell in a process group and session of its own, with a sacrificial
    `sleep` in the same group: the shell reports `survived` and whether the sleep still runs."""
    script = (f'sleep 60 & victim=$!; {extra}root="$1"; shift; '
              '"$0" --root "$root" "$@"; echo "rc=$?"; '
              'kill -0 $victim 2>/dev/null && echo victim-alive; kill $victim; echo survived')
    return subprocess.run(["sh", "-c", script, PYRT_RUNC, root, *pyrt_args], capture_output=True,
                          text=True, timeout=120, start_new_session=True)


@pytest.fixture
def tag():
    return f"PYRT_SAFETY_TAG={uuid.uuid4().hex}"


@pytest.fixture
def crash_bundle(bundle, tag):  # noqa: F811
    """A container that keeps running, tagged, with a prestart hook so the `hooks` step exists."""
    def mutate(cfg):
        cfg["process"]["env"].append(tag)
        cfg["hooks"] = {"prestart": [{"path": "/bin/true", "args": ["true"]}]}
    bundle.config(["sleep", "60"], mutate=mutate)
    return bundle


def assert_all_freed(rt, cgroups_path: str, tag: str) -> None:  # noqa: F811
    assert os.listdir(rt.root) == [], "state left"
    assert cgroup.existing(cgroups_path) == [], "cgroups left"
    wait_no_processes(tag)


def create_killed(rt, bundle, tag, env_extra: dict) -> subprocess.Popen:  # noqa: F811
    env = dict(os.environ, **env_extra)
    k, _, v = tag.partition("=")
    env[k] = v
    return subprocess.Popen([PYRT_RUNC, "--root", rt.root, "create", "-b", bundle, "c1"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_create_killed_at_each_step_then_delete_force(rt, crash_bundle, cgroup_parent, tag, step):  # noqa: F811
    p = create_killed(rt, crash_bundle, tag, {"PYRT_TEST_CRASH_AT": step})
    assert p.wait(timeout=60) == -signal.SIGKILL, f"create did not reach step {step}"
    out = caller(rt.root, "delete", "--force", "c1")
    assert out.stdout.split() == ["rc=0", "victim-alive", "survived"], (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert_all_freed(rt, f"{cgroup_parent}/ctr", tag)
    # the id is usable again
    assert rt("create", "-b", crash_bundle, "c1").returncode == 0
    assert rt("delete", "c1").returncode == 0
    assert_all_freed(rt, f"{cgroup_parent}/ctr", tag)


def test_create_killed_at_random_moments(rt, crash_bundle, cgroup_parent, tag):  # noqa: F811
    """SIGKILL after a random delay, in a bounded number of tries (the named steps above cover
    each boundary deterministically; this catches the moments between them)."""
    rng = random.Random(1234)
    for _ in range(8):
        p = create_killed(rt, crash_bundle, tag, {})
        time.sleep(rng.uniform(0, 0.15))
        p.kill()
        p.wait(timeout=60)
        out = caller(rt.root, "delete", "--force", "c1")
        assert out.stdout.split() == ["rc=0", "victim-alive", "survived"], (out.stdout, out.stderr)
        assert_all_freed(rt, f"{cgroup_parent}/ctr", tag)


def _rewrite_state(rt, cid, **changes):  # noqa: F811
    path = os.path.join(rt.root, cid, "state.json")
    with open(path) as f:
        st = json.load(f)
    st.update(changes)
    with open(path, "w") as f:
        json.dump(st, f)


@pytest.mark.parametrize("pid", [0, -1])
def test_delete_force_with_pid_zero_or_minus_one(rt, crash_bundle, cgroup_parent, tag, pid):  # noqa: F811
    """kill(0) reaches the caller's process group, kill(-1) every process it may signal: the
    container is still ended (through its cgroup), nothing else is. The -1 case runs in a pid
    namespace of its own, so that a regression could only hit the test's own processes."""
    assert rt("run", "-d", "-b", crash_bundle, "c1").returncode == 0
    _rewrite_state(rt, "c1", pid=pid)
    assert state_of(rt, "c1")["status"] == "creating"
    assert "container not running" in one_line_error(rt("kill", "c1", "9"), 1)
    if pid == -1:
        out = subprocess.run(["unshare", "--pid", "--fork", "sh", "-c",
                              'sleep 60 & v=$!; "$0" --root "$1" delete --force c1; echo "rc=$?"; '
                              'kill -0 $v && echo victim-alive; kill $v; echo survived',
                              PYRT_RUNC, rt.root], capture_output=True, text=True, timeout=120)
    else:
        out = caller(rt.root, "delete", "--force", "c1")
    assert out.stdout.split() == ["rc=0", "victim-alive", "survived"], (out.stdout, out.stderr)
    assert_all_freed(rt, f"{cgroup_parent}/ctr", tag)


@pytest.mark.parametrize("start_time", ["container's", 0])
def test_recycled_pid_is_never_signalled(rt, crash_bundle, cgroup_parent, tag, start_time):  # noqa: F811
    """state.json names a pid that now belongs to another process (ours): neither kill nor
    delete --force may signal it; the container itself is still ended through its cgroup."""
    assert rt("run", "-d", "-b", crash_bundle, "c1").returncode == 0
    with open(os.path.join(rt.root, "c1", "state.json")) as f:
        recorded = json.load(f)["start_time"]
    victim = subprocess.Popen(["sleep", "60"])
    try:
        _rewrite_state(rt, "c1", pid=victim.pid, start_time=recorded if start_time else 0)
        assert state_of(rt, "c1")["status"] == "stopped"
        assert "container not running" in one_line_error(rt("kill", "c1", "KILL"), 1)
        assert rt("delete", "--force", "c1").returncode == 0
        assert victim.poll() is None, "the recycled pid was signalled"
        assert_all_freed(rt, f"{cgroup_parent}/ctr", tag)
    finally:
        victim.kill()
        victim.wait()


# --- damaged state.json (item 9) -------------------------------------------------------------------
def _truncate(path):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text[:len(text) // 2])


def _pid_as_string(path):
    with open(path) as f:
        st = json.load(f)
    st["pid"] = str(st["pid"])
    with open(path, "w") as f:
        json.dump(st, f)


def _directory(path):
    os.unlink(path)
    os.mkdir(path)
    with open(os.path.join(path, "x"), "w") as f:
        f.write("{}")


@pytest.mark.parametrize("damage, words", [(_truncate, "unexpected EOF"), (_pid_as_string, "pid: expected an integer"),
                                           (_directory, "is a directory")])
def test_damaged_state_json(rt, crash_bundle, cgroup_parent, tag, damage, words):  # noqa: F811
    assert rt("run", "-d", "-b", crash_bundle, "c1").returncode == 0
    # a cgroup of its own beside ours: deleting c1 must not leave c2's parent to it
    crash_bundle.config(["sleep", "60"], mutate=lambda c: c["linux"].update(cgroupsPath=f"{cgroup_parent}-other"))
    assert rt("run", "-d", "-b", crash_bundle, "c2").returncode == 0
    init = state_of(rt, "c1")["pid"]
    damage(os.path.join(rt.root, "c1", "state.json"))

    line = one_line_error(rt("state", "c1"), 1)
    assert words in line and "c1" in line, line
    p = rt("list", "--format", "json")
    assert p.returncode == 0 and "Traceback" not in p.stderr
    assert [c["id"] for c in json.loads(p.stdout)] == ["c2"]
    assert words in p.stderr and p.stderr.count("\n") == 1, p.stderr
    # plain delete refuses with the same line; --force ends the container through its cgroup
    assert words in one_line_error(rt("delete", "c1"), 1)
    out = caller(rt.root, "delete", "--force", "c1")
    assert out.stdout.split() == ["rc=0", "victim-alive", "survived"], (out.stdout, out.stderr)
    assert not os.path.exists(f"/proc/{init}/cmdline") or open(f"/proc/{init}/stat").read().split()[2] == "Z"
    assert cgroup.existing(f"{cgroup_parent}/ctr") == []
    assert [c["id"] for c in json.loads(rt("list", "--format", "json").stdout)] == ["c2"]
    assert rt("delete", "--force", "c2").returncode == 0
    assert cgroup.existing(f"{cgroup_parent}-other") == []
    assert_all_freed(rt, f"{cgroup_parent}/ctr", tag)


def test_damaged_state_without_cgroup_record_says_why(rt, crash_bundle, cgroup_parent, tag):  # noqa: F811
    """Nothing left tells which processes are the container's: delete --force kills nothing,
    says so in one line, and keeps the directory for a human to look at."""
    assert rt("run", "-d", "-b", crash_bundle, "c1").returncode == 0
    d = os.path.join(rt.root, "c1")
    good = open(os.path.join(d, "state.json")).read()
    _truncate(os.path.join(d, "state.json"))
    os.rename(os.path.join(d, "cgroup.json"), os.path.join(d, "cgroup.json.away"))
    line = one_line_error(rt("delete", "--force", "c1"), 1)
    assert "nothing was killed" in line and "unexpected EOF" in line, line
    assert os.path.isdir(d) and tagged_processes(tag)
    with open(os.path.join(d, "state.json"), "w") as f:
        f.write(good)
    os.rename(os.path.join(d, "cgroup.json.away"), os.path.join(d, "cgroup.json"))
    assert rt("delete", "--force", "c1").returncode == 0
    assert_all_freed(rt, f"{cgroup_parent}/ctr", tag)


def test_delete_force_ends_a_container_that_keeps_forking(rt, bundle, cgroup_parent, tag):  # noqa: F811
    """No pid namespace, so the init's death ends nothing else, and every process forks anew:
    delete --force still ends them all through the cgroup (pids.max keeps the host safe)."""
    def mutate(cfg):
        cfg["process"]["env"].append(tag)
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
        cfg["linux"]["resources"] = {"pids": {"limit": 64}}
    bundle.config(["sh", "-c", "while :; do (sleep 60 &) 2>/dev/null; done"], mutate=mutate)
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    deadline = time.monotonic() + 10
    while len(tagged_processes(tag)) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(tagged_processes(tag)) >= 10
    out = caller(rt.root, "delete", "--force", "c1")
    assert out.stdout.split() == ["rc=0", "victim-alive", "survived"], (out.stdout, out.stderr)
    assert_all_freed(rt, f"{cgroup_parent}/ctr", tag)

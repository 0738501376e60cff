"""`pyrt-runc exec` places its process in the container's cgroups without cgroup.procs writes.

Stage 1 opens the container's v1 `tasks` files and v2 directory before it joins the container's
namespaces; the exec'd process is born in the v2 cgroup (clone3 CLONE_INTO_CGROUP) and joins the
v1 ones itself (hybrid hosts) before it runs anything of the user's. Real kernel, real cgroups
beneath the test's own (cgroup_parent), a fresh --root per test; on a pure v2 host (the qemu
guest runs this file too) there are no v1 hierarchies to join.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from tests.support import cgroup as cgroup_support
from tests.support.bundle import base_config, make_bundle, write_config
from tests.support.cgroup import controller_dir, is_v2
# rt: pyrt-runc with this test's --root (a fixture, shared with test_runtime)
from tests.integration.test_runtime import one_line_error, rt, state_of  # noqa: F401


def start(rt, tmp_path, cgroup_parent, mutate=None, cid="c1") -> int:
    """A running `sleep 60` container; its init's host pid."""
    path = make_bundle(tmp_path / f"bundle-{cid}")
    cfg = base_config(["sleep", "60"])
    cfg["linux"]["cgroupsPath"] = f"{cgroup_parent}/{cid}"
    if mutate:
        mutate(cfg)
    write_config(path, cfg)
    p = rt("run", "-d", "-b", path, cid)
    assert p.returncode == 0, p.stderr
    return state_of(rt, cid)["pid"]


def cgroups_of(pid: int) -> dict[str, str]:
    """hierarchy -> cgroup path of PID, as the host sees it."""
    with open(f"/proc/{pid}/cgroup") as f:
        return {line.split(":", 2)[1]: line.split(":", 2)[2] for line in f.read().splitlines()}


def in_container(rt, *args, cid="c1") -> str:
    p = rt("exec", cid, *args)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_exec_placed_from_first_instruction_without_cgroup_procs(rt, tmp_path, cgroup_parent):
    """`cat /proc/self/cgroup` as the exec'd process itself reads the init's cgroups in every
    hierarchy (no cgroup namespace here, so these are host paths), and --debug shows the
    clone3 birth and `tasks` writes, with no cgroup.procs write at all."""
    def no_cgroupns(cfg):       # runc's default spec has one on a v2 host
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "cgroup"]
    init = start(rt, tmp_path, cgroup_parent, no_cgroupns)
    try:
        want = cgroups_of(init)
        assert all(cgroup_parent in path for path in want.values() if path != "/"), want
        if is_v2():
            assert list(want) == [""] and want[""].endswith(f"/{cgroup_parent}/c1"), want
        else:
            assert "memory" in want and cgroup_parent in want["memory"]
        seen = dict(line.split(":", 2)[1:] for line in in_container(rt, "cat", "/proc/self/cgroup").splitlines())
        assert seen == want
        p = rt("--debug", "exec", "c1", "true")
        assert p.returncode == 0, p.stderr
        assert "CLONE_INTO_CGROUP" in p.stderr
        writes = [line for line in p.stderr.splitlines() if "cgroup: echo" in line]
        assert not [line for line in writes if "cgroup.procs" in line], p.stderr
        if not is_v2():     # the v1 hierarchies are joined through their tasks files
            assert writes and "tasks" in p.stderr, p.stderr
    finally:
        assert rt("delete", "-f", "c1").returncode == 0


def test_exec_in_a_cgroup_namespace(rt, tmp_path, cgroup_parent):
    """With a cgroup namespace the exec'd process joins it after birth: it sees the container's
    cgroup as "/" in every hierarchy, exactly as the init does, and the host sees both in the
    same cgroups."""
    def mutate(cfg):
        # runc's default spec already has one on a v2 host
        if {"type": "cgroup"} not in cfg["linux"]["namespaces"]:
            cfg["linux"]["namespaces"].append({"type": "cgroup"})
    init = start(rt, tmp_path, cgroup_parent, mutate)
    try:
        own = in_container(rt, "cat", "/proc/self/cgroup")
        assert own == in_container(rt, "cat", "/proc/1/cgroup")
        assert all(line.endswith(":/") for line in own.splitlines()), own
        pid_file = tmp_path / "exec.pid"
        p = rt("exec", "-d", "--pid-file", str(pid_file), "c1", "sleep", "30")
        assert p.returncode == 0, p.stderr
        assert cgroups_of(int(pid_file.read_text())) == cgroups_of(init)
    finally:
        assert rt("delete", "-f", "c1").returncode == 0


def test_exec_detached_with_pid_file(rt, tmp_path, cgroup_parent):
    """exec -d --pid-file: the pid file names the exec'd process (a child of no one of ours),
    which sits in the init's cgroups and is listed in the container's cgroup."""
    init = start(rt, tmp_path, cgroup_parent)
    try:
        pid_file = tmp_path / "exec.pid"
        p = rt("exec", "-d", "--pid-file", str(pid_file), "c1", "sleep", "30")
        assert p.returncode == 0, p.stderr
        pid = int(pid_file.read_text())
        assert pid != init
        with open(f"/proc/{pid}/cmdline") as f:
            assert f.read().split("\0")[0] == "sleep"
        assert cgroups_of(pid) == cgroups_of(init)
        pids_dir = controller_dir(f"{cgroup_parent}/c1", "pids")
        with open(os.path.join(pids_dir, "cgroup.procs")) as f:
            assert {init, pid} <= {int(x) for x in f.read().split()}
    finally:
        assert rt("delete", "-f", "c1").returncode == 0


def test_exec_under_a_pids_limit_with_room_for_one(rt, tmp_path, cgroup_parent):
    """pids.max = 2 with the init counting 1: the exec'd process fits (neither stage 1 nor the
    runtime is ever charged to the container), and a fork inside it fails."""
    def mutate(cfg):
        cfg["linux"]["resources"]["pids"] = {"limit": 2}
    start(rt, tmp_path, cgroup_parent, mutate)
    try:
        assert in_container(rt, "cat", "/proc/self/cgroup")
        p = rt("exec", "c1", "sh", "-c", "(exit 7); echo subshell=$?")
        out = p.stdout + p.stderr
        assert "subshell=7" not in out
        assert "fork" in out.lower(), out
        pids_dir = controller_dir(f"{cgroup_parent}/c1", "pids")
        with open(os.path.join(pids_dir, "pids.events")) as f:
            assert int(f.read().split()[1]) >= 1  # the kernel counted the refused fork
    finally:
        assert rt("delete", "-f", "c1").returncode == 0


def test_exec_in_paused_container_refused(rt, tmp_path, cgroup_parent):
    start(rt, tmp_path, cgroup_parent)
    try:
        assert rt("pause", "c1").returncode == 0
        assert "paused" in one_line_error(rt("exec", "c1", "true"), 6)
        assert rt("resume", "c1").returncode == 0
        assert in_container(rt, "echo", "ok") == "ok\n"
    finally:
        assert rt("delete", "-f", "c1").returncode == 0


def test_exec_in_a_user_namespace(rt, runtime_root, cgroup_parent):
    """After joining the container's user namespace the exec'd process still lands in the
    init's cgroups (placed by stage 1, or by the parent where the kernel refuses)."""
    base = tempfile.mkdtemp(prefix="pyrt-userns-")  # others may traverse it: the mapped root
    try:
        os.chmod(base, 0o711)
        import pathlib

        def mutate(cfg):
            cfg["linux"]["namespaces"].append({"type": "user"})
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        init = start(rt, pathlib.Path(base), cgroup_parent, mutate)
        try:
            pid_file = pathlib.Path(base) / "exec.pid"
            p = rt("exec", "-d", "--pid-file", str(pid_file), "c1", "sleep", "30")
            assert p.returncode == 0, p.stderr
            assert cgroups_of(int(pid_file.read_text())) == cgroups_of(init)
            assert in_container(rt, "id", "-u") == "0\n"
        finally:
            assert rt("delete", "-f", "c1").returncode == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)

"""`pyrt-runc --debug` narrates every isolation step as it happens (pyrt.trace): the teaching view.
Each line is checked against what the container was asked for, in the order the kernel saw it."""
from __future__ import annotations

import os

from tests.integration.test_runtime import bundle, rt  # noqa: F401 (fixtures)


def _steps(stderr: str) -> list[tuple[str, str]]:
    out = []
    for line in stderr.splitlines():
        assert line.startswith("pyrt-runc: debug: ["), line
        who, _, what = line[len("pyrt-runc: debug: ["):].partition("] ")
        out.append((who, what))
    return out


def _index(steps, who, prefix) -> int:
    for i, (w, what) in enumerate(steps):
        if w == who and what.startswith(prefix):
            return i
    raise AssertionError(f"no [{who}] {prefix}... in:\n" + "\n".join(f"[{w}] {s}" for w, s in steps))


def test_debug_run_narrates_namespaces_mounts_cgroups_credentials_exec(rt, bundle, tmp_path):  # noqa: F811
    log = tmp_path / "log"
    cfg = bundle.config(["true"])
    p = rt("--debug", "--log", str(log), "run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    steps = _steps(p.stderr)
    flags = {"mount": "CLONE_NEWNS", "uts": "CLONE_NEWUTS", "ipc": "CLONE_NEWIPC", "pid": "CLONE_NEWPID",
             "network": "CLONE_NEWNET"}
    unshare = steps[_index(steps, "stage 1", "unshare(")][1]
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] in flags:
            assert flags[ns["type"]] in unshare, unshare
    cg = cfg["linux"]["cgroupsPath"]
    mkdir = _index(steps, "pyrt-runc", "state: mkdir " + os.path.join(rt.root, "c1"))
    # The parent logs "forked stage 1" once fork() returns, while the child may already be writing its
    # own lines: two processes on one stderr, so only the causal order is asserted across them.
    assert mkdir < _index(steps, "pyrt-runc", "forked stage 1")
    order = [
        mkdir,
        _index(steps, "stage 1", "unshare("),
        _index(steps, "stage 1", "forked the init"),
        _index(steps, "init", "mount('proc', "),
        _index(steps, "init", "mknod("),
        _index(steps, "init", "pivot_root("),
        _index(steps, "init", f"sethostname({cfg['hostname']!r})"),
        _index(steps, "init", "capabilities: bounding CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE;"),
        _index(steps, "init", "execve('/bin/true', ['true'])"),
    ]
    assert order == sorted(order), order
    assert any(w == "pyrt-runc" and s.startswith("cgroup: mkdir ") and s.endswith("/" + cg) for w, s in steps)
    assert any(w == "pyrt-runc" and s.startswith("cgroup: rmdir ") and s.endswith("/" + cg) for w, s in steps)
    # the proc mount names the pinned target's real path inside the rootfs
    proc = steps[_index(steps, "init", "mount('proc', ")][1]
    assert os.path.join(os.path.realpath(bundle), "rootfs", "proc") in proc
    # --log gets the runtime's own lines (the init's come after pivot_root, on stderr only)
    assert "state: mkdir" in log.read_text()


def test_without_debug_nothing_is_narrated(rt, bundle):  # noqa: F811
    bundle.config(["true"])
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0 and p.stderr == ""

"""The engine under test: a private root, run root and cgroup parent per test, a busybox image
imported offline once per session, and a teardown that proves nothing was left behind (no
container, no monitor, no rootfs mount, no cgroup: the cgroup_parent fixture checks those)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time

from tests.support.bundle import PYRT, REPO
from tests.support.pyrtcli import pyrt_env


def until(cond, timeout: float = 30.0, what: str = "condition"):
    """COND's first true value, polled until TIMEOUT (then AssertionError naming WHAT)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def build_busybox_tar(dest_dir: str, passwd: str | None = None, group: str | None = None) -> str:
    """A busybox rootfs tarball (rootfs-tools/busybox-rootfs.sh), plus a user and a group in
    /etc/passwd and /etc/group for -u lookups; PASSWD and GROUP: those files' whole text instead."""
    rootfs = os.path.join(dest_dir, "rootfs")
    subprocess.run([os.path.join(REPO, "rootfs-tools", "busybox-rootfs.sh"), rootfs], check=True)
    with open(os.path.join(rootfs, "etc", "passwd"), "a" if passwd is None else "w") as f:
        f.write("app:x:1234:2345:app user:/home/app:/bin/sh\n" if passwd is None else passwd)
    with open(os.path.join(rootfs, "etc", "group"), "a" if group is None else "w") as f:
        f.write("appgrp:x:2345:\nextra:x:3456:app\n" if group is None else group)
    os.makedirs(os.path.join(rootfs, "home", "app"), exist_ok=True)
    tar = os.path.join(dest_dir, "busybox.tar")
    subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
    return tar


def engine_env(cls, path: str, cgroup_parent: str, busybox_tar: str):
    """A fixture's body: an environment CLS (EngineEnv or a subclass) whose teardown finds nothing left."""
    e = cls(path, cgroup_parent, busybox_tar)
    yield e
    problems = e.teardown()
    assert not problems, problems


def monitor_pids(run_root: str) -> list[int]:
    """The monitors of RUN_ROOT: processes named pyrt-monitor holding its lock file open (the
    command line says nothing: a monitor the CLI started is a fork of it)."""
    lock = os.path.join(run_root, "monitor.lock")
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() != "pyrt-monitor":
                    continue
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{p}/fd/{fd}") == lock:
                    out.append(int(p))
                    break
            except OSError:
                pass
    return out


class EngineEnv:
    def __init__(self, tmp: str, cgroup_parent: str, image_tar: str):
        self.tmp = tmp
        os.makedirs(tmp, exist_ok=True)
        self.root = os.path.join(tmp, "root")
        self.run_root = os.path.join(tmp, "run")
        self.cgroup_parent = cgroup_parent
        # PYRT_NETWORK=none: the engine's built-in default (bridge) would make pyrt0 and NAT in the
        # VM's own network namespace (tests/support/network.py runs the engine in one of its own)
        self.env = pyrt_env(tmp, PYRT_ROOT=self.root, PYRT_RUN_ROOT=self.run_root,
                            PYRT_CGROUP_PARENT=cgroup_parent, PYRT_NETWORK="none")
        p = self.pyrt("import", image_tar, "busybox:latest")
        assert p.returncode == 0, p.stderr

    def pyrt(self, *args: str, timeout: float = 120, input: str | None = None, **kw):
        return subprocess.run([PYRT, *args], capture_output=True, text=True, timeout=timeout, env=self.env,
                              input=input, **kw)

    def ok(self, *args: str, **kw) -> str:
        p = self.pyrt(*args, **kw)
        assert p.returncode == 0, (args, p.returncode, p.stderr)
        return p.stdout

    def client(self):
        import pyrt
        return pyrt.Client(root=self.root, run_root=self.run_root, cgroup_parent=self.cgroup_parent,
                           default_network="none")

    def monitor_pids(self) -> list[int]:
        return monitor_pids(self.run_root)

    def wait_monitor_gone(self, timeout: float = 15) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.monitor_pids():
                return True
            time.sleep(0.05)
        return False

    def container_dirs(self) -> list[str]:
        d = os.path.join(self.root, "containers")
        return [x for x in os.listdir(d) if len(x) == 64] if os.path.isdir(d) else []

    def teardown_containers(self) -> list[str]:
        """Remove what is left (a failing test's containers) and say what had to be removed."""
        left = self.container_dirs()
        if left:
            self.pyrt("rm", "-f", *left)
        return [f"containers left: {left}"] if left else []

    def teardown(self) -> list[str]:
        """Remove what is left (a failing test's containers) and say what had to be removed."""
        problems = self.teardown_containers()
        if not self.wait_monitor_gone():
            for pid in self.monitor_pids():
                os.kill(pid, 9)
            problems.append("the monitor did not exit")
        # the parent cgroup is shared by the containers and, as docker's /docker, kept by the
        # engine: remove it here, and complain only about a container's cgroup still inside it
        from tests.support import cgroup
        for d in cgroup.existing(self.cgroup_parent):
            inner = [x for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))]
            if inner:
                problems.append(f"container cgroups left in {d}: {inner}")
            cgroup.remove_tree(d)
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError as e:
                problems.append(f"cannot remove {d}: {e}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

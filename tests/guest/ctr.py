"""Containers for the guest tests: one bundle, one OCI runtime (runc or pyrt-runc), one cgroup.

Used only inside the guest. --root is on tmpfs (/run), never on the 9p share: the runtimes keep
fifos and sockets there. Every container is force-deleted at the end of its `with` block.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from tests.support.bundle import PYRT_RUNC, RUNC, base_config, make_bundle, run

CG = "/sys/fs/cgroup"
RUNTIMES = {"runc": RUNC, "pyrt-runc": PYRT_RUNC}
# Python under software emulation starts in 1-1.5 s: generous timeouts for every runtime call.
TIMEOUT = 60


def config(args, resources: dict | None = None, cgroups_path: str | None = None, **process) -> dict:
    cfg = base_config(args, **process)
    if resources is not None:
        cfg["linux"]["resources"] = resources
    if cgroups_path is not None:
        cfg["linux"]["cgroupsPath"] = cgroups_path
    return cfg


def cgroup_dir_of(pid: int) -> str:
    """The v2 cgroup directory PID is in, as seen from the guest's root cgroup namespace."""
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return os.path.join(CG, line.strip()[3:].lstrip("/"))
    raise AssertionError(f"pid {pid} has no cgroup v2 line")


def read(cgdir: str, name: str) -> str:
    with open(os.path.join(cgdir, name)) as f:
        return f.read().strip()


def keyed(cgdir: str, name: str) -> dict[str, str]:
    return dict(line.split(None, 1) for line in read(cgdir, name).splitlines() if " " in line)


class Container:
    """`with Container(runtime, tmp_path, cfg) as c:` creates (not starts) the container."""

    def __init__(self, runtime: str, tmp_path, cfg: dict, name: str = "c1", root: str | None = None):
        self.runtime = runtime
        self.bin = RUNTIMES[runtime]
        self.id = f"{name}-{runtime}-{os.getpid()}"
        self.bundle = make_bundle(os.path.join(str(tmp_path), self.id), cfg)
        self.root = root or f"/run/guest-test-{runtime}"
        self.log = os.path.join(str(tmp_path), f"{self.id}.log")
        self.pid = 0
        self.cgroup = ""

    def output(self) -> str:
        """What the container (and create) wrote to stdout and stderr."""
        with open(self.log) as f:
            return f.read()

    def cmd(self, *args, timeout=TIMEOUT, check=False, input=None) -> subprocess.CompletedProcess:
        p = run([self.bin, "--root", self.root, *args], timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"{self.runtime} {' '.join(args)} exited {p.returncode}: "
                                 f"{p.stderr.strip()}")
        return p

    def create(self) -> None:
        # The container inherits create's stdio: a pipe would keep subprocess waiting for EOF
        # as long as the container lives, so its output goes to a file (read with .output()).
        with open(self.log, "w") as log:
            p = subprocess.run([self.bin, "--root", self.root, "create", "--bundle", self.bundle,
                                self.id], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                               timeout=TIMEOUT)
        if p.returncode != 0:
            raise AssertionError(f"{self.runtime} create exited {p.returncode}: {self.output()}")
        self.pid = self.state()["pid"]
        self.cgroup = cgroup_dir_of(self.pid)

    def state(self) -> dict:
        return json.loads(self.cmd("state", self.id, check=True).stdout)

    def start(self) -> None:
        self.cmd("start", self.id, check=True)

    def wait_stopped(self, timeout: float = 60) -> None:
        """Until the container's cgroup is empty (cheap to poll, unlike a Python runtime's
        `state` under emulation), then the runtime must agree that it stopped."""
        end = time.monotonic() + timeout
        while keyed(self.cgroup, "cgroup.events").get("populated") != "0":
            assert time.monotonic() < end, f"{self.id} still has processes after {timeout} s"
            time.sleep(0.1)
        assert self.state()["status"] == "stopped"

    def delete(self) -> None:
        self.cmd("delete", "--force", self.id)

    def __enter__(self):
        self.create()
        return self

    def __exit__(self, *exc):
        self.delete()
        return False


def run_to_exit(runtime: str, tmp_path, cfg: dict, name: str = "r1") -> tuple[int, str]:
    """`<runtime> run` in the foreground: (exit status, stderr)."""
    c = Container(runtime, tmp_path, cfg, name)
    try:
        p = c.cmd("run", "--bundle", c.bundle, c.id)
        return p.returncode, p.stderr
    finally:
        c.delete()


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

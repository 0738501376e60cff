"""The engine under test inside a network namespace of the test's own: every pyrt command (and
so the monitor it starts) runs there through `nsenter --net`, so bridges, veths and addresses
never touch the VM's interfaces. The namespace is pinned on a file in the test's tmp dir and
unpinned at teardown."""
from __future__ import annotations

import json
import os
import subprocess

from tests.support.bundle import PYRT
from tests.support.engine import EngineEnv


def make_netns(path: str) -> None:
    open(path, "w").close()
    subprocess.run(["unshare", f"--net={path}", "true"], check=True)
    # lo up: the containers' own loopback is theirs; this one is for `nc` from the test's side
    subprocess.run(["nsenter", f"--net={path}", "ip", "link", "set", "lo", "up"], check=True)


def remove_netns(path: str) -> None:
    subprocess.run(["umount", "-l", path], capture_output=True)
    os.unlink(path)


class NetEngineEnv(EngineEnv):
    def __init__(self, tmp: str, cgroup_parent: str, image_tar: str):
        os.makedirs(tmp, exist_ok=True)
        self.netns = os.path.join(tmp, "testns")
        make_netns(self.netns)
        super().__init__(tmp, cgroup_parent, image_tar)

    def in_ns(self, *cmd: str, **kw):
        return subprocess.run(["nsenter", f"--net={self.netns}", *cmd], capture_output=True, text=True, **kw)

    def pyrt(self, *args: str, timeout: float = 120, input: str | None = None, **kw):
        return subprocess.run(["nsenter", f"--net={self.netns}", PYRT, *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, input=input, **kw)

    def popen(self, *args: str, **kw):
        return subprocess.Popen(["nsenter", f"--net={self.netns}", PYRT, *args], env=self.env, text=True, **kw)

    def links(self) -> set[str]:
        out = self.in_ns("ip", "-o", "link").stdout
        return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}

    def leases(self) -> dict[str, dict]:
        """network name -> {address: owner} as the files say."""
        d = os.path.join(self.root, "networks")
        out = {}
        for n in sorted(os.listdir(d)) if os.path.isdir(d) else ():
            ld = os.path.join(d, n, "leases")
            if os.path.isdir(ld):
                out[n] = {a: open(os.path.join(ld, a)).read() for a in os.listdir(ld)}
        return {k: v for k, v in out.items() if v}

    def netns_files(self) -> list[str]:
        d = os.path.join(self.run_root, "netns")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def inspect_net(self, name: str) -> dict:
        return json.loads(self.ok("network", "inspect", name))[0]

    def teardown(self) -> list[str]:
        problems = super().teardown_containers()
        nets = [n for n in self.ok("network", "ls", "-q").split()]
        p = self.pyrt("network", "prune", "-f")
        if p.returncode != 0:
            problems.append(f"network prune: {p.stderr}")
        left = self.links() - {"lo", "pyrt0"}
        if left:
            problems.append(f"links left in the test's namespace: {sorted(left)} (networks {nets})")
        problems += super().teardown()
        remove_netns(self.netns)
        return problems

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


def peer_namespace(env: NetEngineEnv, path: str) -> None:
    """A namespace standing for the outside world: 192.0.2.2, linked to the fixture's namespace
    (192.0.2.1, its default route), with no route back to any container subnet, so an answer
    from it to a container can only come through NAT."""
    make_netns(path)
    for cmd in (["ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", path],
                ["ip", "addr", "add", "192.0.2.1/24", "dev", "up0"], ["ip", "link", "set", "up0", "up"],
                ["ip", "route", "add", "default", "via", "192.0.2.2"]):
        p = env.in_ns(*cmd)
        assert p.returncode == 0, (cmd, p.stderr)
    for cmd in (["ip", "addr", "add", "192.0.2.2/24", "dev", "up1"], ["ip", "link", "set", "up1", "up"]):
        p = subprocess.run(["nsenter", f"--net={path}", *cmd], capture_output=True, text=True)
        assert p.returncode == 0, (cmd, p.stderr)


def wait_listening(netns: str, port: int, timeout: float = 60) -> None:
    """Wait until a TCP socket listens on `port` inside the namespace at `netns` (read from that
    namespace's /proc/net/tcp), so a client started next cannot race the server's bind."""
    import time
    deadline = time.monotonic() + timeout
    want = f":{port:04X} "
    while True:
        table = subprocess.run(["nsenter", f"--net={netns}", "cat", "/proc/net/tcp", "/proc/net/tcp6"],
                               capture_output=True, text=True).stdout
        if any(want in line and line.split()[3] == "0A" for line in table.splitlines()[1:]):
            return
        assert time.monotonic() < deadline, f"nothing listens on port {port} in {netns}"
        time.sleep(0.05)


def nft_chains(env: NetEngineEnv) -> list[str]:
    """The chains of pyrt's nftables table in the fixture's namespace (read through netlink)."""
    code = ("from pyroute2.nftables.main import NFTables\n"
            "n = NFTables(nfgen_family=2)\n"
            "print(' '.join(sorted(c.get('NFTA_CHAIN_NAME') for c in n.get_chains()"
            " if c.get('NFTA_CHAIN_TABLE') == 'pyrt')))\n")
    import sys
    p = env.in_ns(sys.executable, "-c", code)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()

#!/usr/bin/env python3
"""pyrt's bridge network against podman's and against plain namespaces: set-up cost per container,
round trip and TCP throughput between two containers. Interleaved rounds, medians and ratios.

    .venv/bin/python bench/network.py [-n 10] [--rounds 3] [--pings 20] [--seconds 2] [--only setup,ports,traffic]

setup    `run --rm busybox true` with `--network bridge` and with `--network none`, pyrt against
         podman+crun (Debian's podman 4.3, CNI plugins from containernetworking-plugins: bridge
         cni-podman0, host-local IPAM, portmap and firewall through iptables). The difference of
         the two is the network's own cost. Target (issue 13): bridge <= 0.5x podman+crun's.
ports    the same with `-p 18080:80` and with ten ports (`-p 18100-18109:80-89`): what publishing
         adds, pyrt (DNAT chains in its nftables table) against podman (CNI portmap, iptables).
traffic  busybox `ping -c N` (average RTT) and an iperf3 TCP transfer (receiver's Gbit/s) between
         two containers on pyrt's bridge, beside the same between two plain namespaces joined by a
         veth pair, and by veths on a plain bridge (`ip`, no pyrt: the same topology as pyrt's), so
         what pyrt's set-up adds to the path shows. Target: nothing.

Nothing runs in the VM's own network namespace: pyrt (and the monitor it starts) runs under
`nsenter --net` in a namespace the bench makes (`ip netns add`); podman runs in the cgroup jail of
tests/support/podman.py with a network namespace of its own (net=True), where CNI makes its bridge
and iptables rules; the plain namespaces are `ip netns add` ones. All are deleted at the end.
busybox has no iperf3, so iperf3 (and ping, for every path alike) is the host's binary run inside
the container's network namespace with `nsenter --net=<its pinned netns>`: the packets take the
container's interfaces, routes and rules, which is all that is measured. pyrt and podman are set
up as in bench/engine.py (whose tools this reuses): private roots, the same busybox image.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.engine import PodmanTool, PyrtTool, timed  # noqa: E402
from tests.support.engine import build_busybox_tar  # noqa: E402

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
IPERF3 = shutil.which("iperf3") or "/usr/bin/iperf3"


def sh(*argv: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {p.stderr.strip()}")
    return p


class Namespaces:
    """Named network namespaces (`ip netns add`) of this bench, all deleted by close()."""

    def __init__(self):
        self.tag = f"pyrt-nb{os.getpid()}"
        self.names: list[str] = []

    def add(self, short: str) -> str:
        name = f"{self.tag}-{short}"
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    @staticmethod
    def path(name: str) -> str:
        return f"/run/netns/{name}"

    def close(self) -> None:
        for n in reversed(self.names):
            sh("ip", "netns", "delete", n, check=False)


class PyrtInNetns(PyrtTool):
    """bench/engine.py's pyrt, every command (so the monitor it starts) in network namespace NETNS."""

    def __init__(self, work: str, tar: str, netns: str):
        self.prefix = ["nsenter", f"--net={netns}"]
        super().__init__(work, tar)


# -- set-up cost ----------------------------------------------------------------------------------
def run_medians(work: str, tar: str, ns: Namespaces, short: str, n: int, variants: dict) -> tuple[list, dict]:
    """`run --rm [VARIANT's flags] busybox true` with pyrt and podman+crun, interleaved, N times
    after a warm-up (first-use costs: monitor, bridge, NAT table, CNI config): (tools, median ms
    by (tool name, variant))."""
    os.makedirs(work, exist_ok=True)
    tools = [PyrtInNetns(work, tar, ns.path(ns.add(short))), PodmanTool(work, "crun", net=True)]
    try:
        res = {(t.name, k): [] for t in tools for k in variants}
        for t in tools:
            for k in variants:
                t.call("run", "--rm", *variants[k], t.image, "true")
        first = next(iter(variants))
        for _ in range(n):
            for t in tools:
                # untimed: pyrt's monitor exits after 1 s idle, and the other tool's turn is longer,
                # so without it the first pyrt case of a round would pay the monitor's start alone
                t.call("run", "--rm", *variants[first], t.image, "true")
                for k in variants:
                    res[(t.name, k)].append(timed(lambda: t.call("run", "--rm", *variants[k], t.image, "true")))
        return tools, {key: statistics.median(v) * 1000 for key, v in res.items()}
    finally:
        for t in tools:
            t.close()


def bench_setup(work: str, tar: str, ns: Namespaces, n: int) -> None:
    tools, med = run_medians(work, tar, ns, "pyrt", n, {"bridge": ["--network", "bridge"], "none": ["--network", "none"]})
    ref = med[("podman-crun", "bridge")]
    print(f"\nset-up: `run --rm busybox true`, median of {n} (ms)")
    print(f"{'tool':<14}{'--network bridge':>18}{'x podman-crun':>15}{'--network none':>16}{'network costs':>15}")
    for t in tools:
        b, o = med[(t.name, "bridge")], med[(t.name, "none")]
        print(f"{t.name:<14}{b:>18.1f}{b / ref:>15.2f}{o:>16.1f}{b - o:>15.1f}")


def bench_ports(work: str, tar: str, ns: Namespaces, n: int) -> None:
    """What publishing adds to a bridge run: one port, and a range of ten (pyrt: DNAT chains in its
    nftables table; podman 4.3 with CNI: the portmap plugin's iptables chains)."""
    variants = {"bridge": ["--network", "bridge"], "-p": ["--network", "bridge", "-p", "18080:80"],
                "-p x10": ["--network", "bridge", "-p", "18100-18109:80-89"]}
    tools, med = run_medians(work, tar, ns, "pyrt-p", n, variants)
    ref = med[("podman-crun", "-p")]
    print(f"\npublished ports: `run --rm --network bridge [-p ...] busybox true`, median of {n} (ms)")
    print(f"{'tool':<14}{'bridge':>10}{'-p 18080:80':>13}{'x podman-crun':>15}{'-p cost':>10}{'10 ports':>10}"
          f"{'10 ports cost':>15}")
    for t in tools:
        b, one, ten = med[(t.name, "bridge")], med[(t.name, "-p")], med[(t.name, "-p x10")]
        print(f"{t.name:<14}{b:>10.1f}{one:>13.1f}{one / ref:>15.2f}{one - b:>10.1f}{ten:>10.1f}{ten - b:>15.1f}")


# -- traffic ----------------------------------------------------------------------------------------
def in_ns(path: str, *argv: str, **kw) -> subprocess.CompletedProcess:
    return sh("nsenter", f"--net={path}", *argv, **kw)


def ping_rtt_ms(src: str, dst_addr: str, count: int) -> float:
    out = in_ns(src, BUSYBOX, "ping", "-q", "-c", str(count), "-i", "0.2", dst_addr).stdout
    m = re.search(r"min/avg/max = [\d.]+/([\d.]+)/", out)
    if not m:
        raise RuntimeError(f"ping {dst_addr}: {out}")
    return float(m.group(1))


def iperf_gbits(src: str, dst: str, dst_addr: str, seconds: float) -> float:
    """A one-off iperf3 server in DST, a client in SRC: the receiver's Gbit/s."""
    server = subprocess.Popen(["nsenter", f"--net={dst}", IPERF3, "-s", "-1", "-B", dst_addr],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:           # until the server listens (connection refused before)
            p = in_ns(src, IPERF3, "-c", dst_addr, "-t", str(seconds), "-J", check=False)
            doc = json.loads(p.stdout or "{}")
            if p.returncode == 0:
                return doc["end"]["sum_received"]["bits_per_second"] / 1e9
            if time.monotonic() > deadline:
                raise RuntimeError(f"iperf3 to {dst_addr}: {doc.get('error', p.stderr)}")
            time.sleep(0.05)
    finally:
        server.wait(timeout=30)


def plain_pair(ns: Namespaces) -> tuple[str, str, str]:
    """Two namespaces joined by one veth pair: (src path, dst path, dst address)."""
    a, b = ns.add("va"), ns.add("vb")
    sh("ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b)
    for name, addr in ((a, "10.99.0.1/24"), (b, "10.99.0.2/24")):
        sh("ip", "-n", name, "addr", "add", addr, "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
    return ns.path(a), ns.path(b), "10.99.0.2"


def plain_bridge(ns: Namespaces) -> tuple[str, str, str]:
    """Two namespaces with a veth each to a bridge in a third: pyrt's topology, made with `ip`."""
    host = ns.add("br")
    sh("ip", "-n", host, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", host, "link", "set", "br0", "up")
    ends = []
    for i, short in ((1, "ba"), (2, "bb")):
        name = ns.add(short)
        sh("ip", "-n", host, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", name)
        sh("ip", "-n", host, "link", "set", f"v{i}", "master", "br0", "up")
        sh("ip", "-n", name, "addr", "add", f"10.98.0.{i + 1}/24", "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        ends.append(ns.path(name))
    return ends[0], ends[1], "10.98.0.3"


def pyrt_pair(pyrt: PyrtTool) -> tuple[str, str, str]:
    """Two busybox containers on pyrt's bridge network: their pinned namespaces and B's address."""
    docs = []
    for name in ("nb-a", "nb-b"):
        pyrt.call("run", "-d", "--name", name, "--network", "bridge", pyrt.image, "sleep", "3600")
        docs.append(json.loads(pyrt.call("inspect", name).stdout)[0]["NetworkSettings"])
    return docs[0]["SandboxKey"], docs[1]["SandboxKey"], docs[1]["IPAddress"]


def bench_traffic(work: str, tar: str, ns: Namespaces, rounds: int, pings: int, seconds: float) -> None:
    pyrt = PyrtInNetns(work, tar, ns.path(ns.add("pyrt-t")))
    try:
        paths = {"veth pair (plain)": plain_pair(ns), "bridge (plain)": plain_bridge(ns),
                 "pyrt bridge": pyrt_pair(pyrt)}
        rtt = {k: [] for k in paths}
        gbit = {k: [] for k in paths}
        for _ in range(rounds):
            for k, (src, dst, addr) in paths.items():
                rtt[k].append(ping_rtt_ms(src, addr, pings) * 1000)
                gbit[k].append(iperf_gbits(src, dst, addr, seconds))
        med_rtt = {k: statistics.median(v) for k, v in rtt.items()}
        med_gbit = {k: statistics.median(v) for k, v in gbit.items()}
        ref = "bridge (plain)"
        print(f"\ntraffic between two namespaces: median of {rounds} rounds "
              f"(ping -c {pings}: average RTT; iperf3 -t {seconds}: TCP, receiver's rate)")
        print(f"{'path':<20}{'ping RTT us':>13}{'x ' + ref:>18}{'iperf3 Gbit/s':>15}{'x ' + ref:>18}")
        for k in paths:
            print(f"{k:<20}{med_rtt[k]:>13.1f}{med_rtt[k] / med_rtt[ref]:>18.2f}"
                  f"{med_gbit[k]:>15.2f}{med_gbit[k] / med_gbit[ref]:>18.2f}")
    finally:
        pyrt.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10, help="runs of each set-up case")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the traffic cases")
    ap.add_argument("--pings", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=2, help="length of one iperf3 transfer")
    ap.add_argument("--only", default="setup,ports,traffic")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pyrt-bench-net-")
    ns = Namespaces()
    load = os.getloadavg()[0]
    try:
        tar = build_busybox_tar(work)
        if "setup" in a.only:
            bench_setup(work, tar, ns, a.n)
        if "ports" in a.only:
            bench_ports(os.path.join(work, "p"), tar, ns, a.n)
        if "traffic" in a.only:
            bench_traffic(os.path.join(work, "t"), tar, ns, a.rounds, a.pings, a.seconds)
        print(f"(load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; "
              f"{os.cpu_count()} CPUs)")
    finally:
        ns.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""pyrt's bridge network against podman's and against plain namespaces: set-up cost per container,
round trip and TCP throughput between two containers. Interleaved rounds, medians and ratios.

    .venv/bin/python bench/network.py [-n 10] [--rounds 3] [--pings 20] [--seconds 2] [--only setup,traffic|ports]
                                      [--against OTHER_CHECKOUT]

setup    `run --rm busybox true` with `--network bridge` and with `--network none`, pyrt against
         podman+crun. pyrt twice: as it comes (its monitor exits a second after its last
         container, so here, between podman's runs, every run starts one and loads pyroute2 in
         it), and "warm" (a container kept running, so its monitor stays, as a daemon would);
         podman (Debian's podman 4.3, CNI plugins from containernetworking-plugins: bridge
         cni-podman0, host-local IPAM, portmap and firewall through iptables). The difference of
         the two is the network's own cost. Target (issue 13): bridge <= 0.5x podman+crun's.
         --against DIR adds DIR's pyrt (another checkout with its .venv, e.g. main) as it comes,
         measured in the same interleaved rounds: a change's effect beside its reference.
ports    (only with --only ports) the same with `-p 18080:80` and with ten ports (`-p 18100-18109:80-89`): what publishing
         adds, pyrt (DNAT chains in its nftables table) against podman (CNI portmap, iptables).
traffic  busybox `ping -c N` (median RTT) and an iperf3 TCP transfer (receiver's Gbit/s) between
         two containers on pyrt's bridge, beside the same between two plain namespaces joined by a
         veth pair, and by veths on a plain bridge (`ip`, no pyrt: the same topology as pyrt's), so
         what pyrt's set-up adds to the path shows. Target: nothing.

Nothing runs in the VM's own network namespace: pyrt (and the monitor it starts) runs under
`nsenter --net` in a namespace the bench makes (`unshare --net`, held by a process of its own, not
`ip netns add`, which would leave /run/netns mounted on the host); podman runs in the cgroup jail of
tests/support/podman.py with a network namespace of its own (net=True), where CNI makes its bridge
and iptables rules; the plain namespaces are made the same way. All go at the end.
busybox has no iperf3, so iperf3 (and ping, for every path alike) is the host's binary run inside
the container's network namespace with `nsenter --net=<its pinned netns>`: the packets take the
container's interfaces, routes and rules, which is all that is measured. pyrt and podman are set
up as in bench/engine.py (whose tools this reuses): private roots, the same busybox image.
"""
from __future__ import annotations

import argparse
import json
import os
import random
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
    """Network namespaces of this bench, each held by a process of ours (`unshare --net sleep`):
    entered as /proc/PID/ns/net, named by that PID where `ip` wants a namespace, gone when close()
    kills the holders (and whatever else ran inside has left). Not `ip netns add`: that would make
    /run/netns and its shared bind mount on the host."""

    def __init__(self):
        self.holders: list[subprocess.Popen] = []

    def add(self) -> str:
        p = subprocess.Popen(["unshare", "--net", "sh", "-c", "ip link set lo up && echo ready && exec sleep infinity"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        self.holders.append(p)
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("cannot make a network namespace (unshare --net)")
        return f"/proc/{p.pid}/ns/net"

    @staticmethod
    def pid(path: str) -> str:
        return path.split("/")[2]

    def close(self) -> None:
        for p in self.holders:
            p.kill()
            p.wait()


class PyrtInNetns(PyrtTool):
    """bench/engine.py's pyrt, every command (so the monitor it starts) in network namespace NETNS."""

    def __init__(self, work: str, tar: str, netns: str, repo: str = REPO, name: str = "pyrt"):
        self.prefix = ["nsenter", f"--net={netns}"]
        super().__init__(work, tar, repo, name)


# -- set-up cost ----------------------------------------------------------------------------------
def setup_tools(tools: list, work: str, tar: str, ns: Namespaces, against: str = "") -> list:
    """Into TOOLS (closed by the caller, also when this fails half-way): pyrt as it comes, pyrt
    with its monitor kept (a container left running), AGAINST's pyrt as it comes, podman+crun."""
    tools.append(PyrtInNetns(work, tar, ns.add()))
    if against:
        tools.append(PyrtInNetns(work, tar, ns.add(), os.path.abspath(against),
                                 "pyrt-" + os.path.basename(os.path.abspath(against))))
    warm = PyrtInNetns(os.path.join(work, "warm"), tar, ns.add())
    warm.name = "pyrt, warm"
    tools.append(warm)
    warm.call("run", "-d", "--name", "keeper", "--network", "none", warm.image, "sleep", "3600")
    tools.append(PodmanTool(work, "crun", net=True))
    return tools


def run_medians(tools: list, variants: dict, n: int) -> dict:
    """Median ms of `run --rm FLAGS busybox true` per (tool name, variant), VARIANTS naming FLAGS."""
    cases = [(t, k) for t in tools for k in variants]
    res = {(t.name, k): [] for t, k in cases}
    for t, k in cases:       # warm-up: first-use costs (monitor, bridge, NAT table, CNI config)
        t.call("run", "--rm", *variants[k], t.image, "true")
    order = random.Random(0)
    for _ in range(n):
        # a new order each round: what one tool leaves running for a moment after it returns
        # (podman's conmon and cleanup process) must not always fall on the same neighbour
        order.shuffle(cases)
        for t, k in cases:
            res[(t.name, k)].append(timed(lambda: t.call("run", "--rm", *variants[k], t.image, "true")))
    return {k: statistics.median(v) * 1000 for k, v in res.items()}


def bench_setup(work: str, tar: str, ns: Namespaces, n: int, against: str = "") -> None:
    tools = []
    try:
        setup_tools(tools, work, tar, ns, against)
        med = run_medians(tools, {"bridge": ["--network", "bridge"], "none": ["--network", "none"]}, n)
        ref = med[("podman-crun", "bridge")]
        print(f"\nset-up: `run --rm busybox true`, median of {n} (ms)")
        ref_net = ref - med[("podman-crun", "none")]
        w = max(14, *(len(t.name) + 1 for t in tools))
        print(f"{'tool':<{w}}{'--network bridge':>18}{'x podman-crun':>15}{'--network none':>16}"
              f"{'network costs':>15}{'x podman-crun':>15}")
        for t in tools:
            b, o = med[(t.name, "bridge")], med[(t.name, "none")]
            print(f"{t.name:<{w}}{b:>18.1f}{b / ref:>15.2f}{o:>16.1f}{b - o:>15.1f}"
                  f"{(b - o) / ref_net if ref_net > 0 else float('nan'):>15.2f}")
    finally:
        for t in tools:
            t.close()


def bench_ports(work: str, tar: str, ns: Namespaces, n: int) -> None:
    """What publishing adds to a bridge run: one port, and a range of ten (pyrt: DNAT chains in its
    nftables table; podman 4.3 with CNI: the portmap plugin's iptables chains)."""
    tools = []
    try:
        setup_tools(tools, work, tar, ns)
        med = run_medians(tools, {"bridge": ["--network", "bridge"],
                                  "-p": ["--network", "bridge", "-p", "18080:80"],
                                  "-p x10": ["--network", "bridge", "-p", "18100-18109:80-89"]}, n)
        ref = med[("podman-crun", "-p")]
        print(f"\npublished ports: `run --rm --network bridge [-p ...] busybox true`, median of {n} (ms)")
        print(f"{'tool':<14}{'bridge':>10}{'-p 18080:80':>13}{'x podman-crun':>15}{'-p cost':>10}"
              f"{'10 ports':>10}{'10 ports cost':>15}")
        for t in tools:
            b, one, ten = med[(t.name, "bridge")], med[(t.name, "-p")], med[(t.name, "-p x10")]
            print(f"{t.name:<14}{b:>10.1f}{one:>13.1f}{one / ref:>15.2f}{one - b:>10.1f}{ten:>10.1f}{ten - b:>15.1f}")
    finally:
        for t in tools:
            t.close()


# -- traffic ----------------------------------------------------------------------------------------
def in_ns(path: str, *argv: str, **kw) -> subprocess.CompletedProcess:
    return sh("nsenter", f"--net={path}", *argv, **kw)


def ping_rtt_ms(src: str, dst_addr: str, count: int) -> float:
    """The median round trip of COUNT pings (a median: one packet delayed by the busy machine, or
    the first one's ARP, moves an average far more than the path does)."""
    out = in_ns(src, BUSYBOX, "ping", "-c", str(count), "-i", "0.2", dst_addr).stdout
    times = [float(t) for t in re.findall(r"time=([\d.]+) ms", out)]
    if len(times) < count // 2:
        raise RuntimeError(f"ping {dst_addr}: {out}")
    return statistics.median(times)


def iperf_gbits(src: str, dst_addr: str, seconds: float) -> float:
    """An iperf3 client in SRC to the server at DST_ADDR: the receiver's Gbit/s. Retried until
    the server answers (it may not listen yet)."""
    deadline = time.monotonic() + 20
    while True:
        p = in_ns(src, IPERF3, "-c", dst_addr, "-t", str(seconds), "-J", check=False)
        try:
            return json.loads(p.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
        except (ValueError, KeyError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"iperf3 to {dst_addr}: {p.stdout[-300:]} {p.stderr.strip()}") from None
            time.sleep(0.1)


def plain_pair(ns: Namespaces) -> tuple[str, str, str]:
    """Two namespaces joined by one veth pair: (src, dst, dst's address)."""
    a, b = ns.add(), ns.add()
    in_ns(a, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", ns.pid(b))
    for path, addr in ((a, "10.99.0.1/24"), (b, "10.99.0.2/24")):
        in_ns(path, "ip", "addr", "add", addr, "dev", "eth0")
        in_ns(path, "ip", "link", "set", "eth0", "up")
    return a, b, "10.99.0.2"


def plain_bridge(ns: Namespaces) -> tuple[str, str, str]:
    """Two namespaces with a veth each to a bridge in a third: pyrt's topology, made with `ip`."""
    host = ns.add()
    in_ns(host, "ip", "link", "add", "br0", "type", "bridge")
    in_ns(host, "ip", "link", "set", "br0", "up")
    ends = []
    for i in (1, 2):
        end = ns.add()
        in_ns(host, "ip", "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns.pid(end))
        in_ns(host, "ip", "link", "set", f"v{i}", "master", "br0", "up")
        in_ns(end, "ip", "addr", "add", f"10.98.0.{i + 1}/24", "dev", "eth0")
        in_ns(end, "ip", "link", "set", "eth0", "up")
        ends.append(end)
    return ends[0], ends[1], "10.98.0.3"


def pyrt_pair(pyrt: PyrtTool) -> tuple[str, str, str]:
    """Two busybox containers on pyrt's bridge network: their pinned namespaces and B's address."""
    docs = []
    for name in ("nb-a", "nb-b"):
        pyrt.call("run", "-d", "--name", name, "--network", "bridge", pyrt.image, "sleep", "3600")
        docs.append(json.loads(pyrt.call("inspect", name).stdout)[0]["NetworkSettings"])
    return docs[0]["SandboxKey"], docs[1]["SandboxKey"], docs[1]["IPAddress"]


def bench_traffic(work: str, tar: str, ns: Namespaces, rounds: int, pings: int, seconds: float) -> None:
    pyrt = PyrtInNetns(work, tar, ns.add())
    servers: list[subprocess.Popen] = []
    try:
        paths = {"veth pair (plain)": plain_pair(ns), "bridge (plain)": plain_bridge(ns),
                 "pyrt bridge": pyrt_pair(pyrt)}
        rtt = {k: [] for k in paths}
        gbit = {k: [] for k in paths}
        for _src, dst, addr in paths.values():      # one iperf3 server per path, for all rounds
            servers.append(subprocess.Popen(["nsenter", f"--net={dst}", IPERF3, "-s", "-B", addr],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(rounds):
            for k, (src, _dst, addr) in paths.items():
                rtt[k].append(ping_rtt_ms(src, addr, pings) * 1000)
                gbit[k].append(iperf_gbits(src, addr, seconds))
        med_rtt = {k: statistics.median(v) for k, v in rtt.items()}
        med_gbit = {k: statistics.median(v) for k, v in gbit.items()}
        ref = "bridge (plain)"
        print(f"\ntraffic between two namespaces: median of {rounds} rounds "
              f"(ping -c {pings}: median RTT; iperf3 -t {seconds}: TCP, receiver's rate)")
        print(f"{'path':<20}{'ping RTT us':>13}{'x ' + ref:>18}{'iperf3 Gbit/s':>15}{'x ' + ref:>18}")
        for k in paths:
            print(f"{k:<20}{med_rtt[k]:>13.1f}{med_rtt[k] / med_rtt[ref]:>18.2f}"
                  f"{med_gbit[k]:>15.2f}{med_gbit[k] / med_gbit[ref]:>18.2f}")
    finally:
        for srv in servers:
            srv.terminate()
            srv.wait()
        pyrt.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10, help="runs of each set-up case")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the traffic cases")
    ap.add_argument("--pings", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=2, help="length of one iperf3 transfer")
    ap.add_argument("--only", default="setup,traffic", help="setup, ports, traffic (ports: only when asked)")
    ap.add_argument("--against", default="", help="another checkout whose pyrt the set-up case measures too")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pyrt-bench-net-")
    ns = Namespaces()
    load = os.getloadavg()[0]
    try:
        tar = build_busybox_tar(work)
        if "setup" in a.only:
            bench_setup(work, tar, ns, a.n, a.against)
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

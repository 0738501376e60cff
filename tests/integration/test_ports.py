"""Published ports (`-p`, `-P`, `pyrt port`; pyrt.network.ports) end to end, inside a network
namespace the fixture makes (tests/support/network.py): answers from the fixture's 127.0.0.1 and
from a peer namespace, the nftables ruleset and route_localnet exactly as before after rm, a
taken port, bad specs, a crash between connect and start, and the 127.0.0.0/8 guard attacked."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.test_network import net  # noqa: F401  (the fixture's namespace and engine)
from tests.support.engine import until
from tests.support.network import make_netns, peer_namespace, remove_netns

pytest_plugins = ["tests.support.engine_fixtures"]     # busybox_tar

# an HTTP-less echo server: each connection gets one line naming the container port
SERVE = "for p in {ports}; do (while true; do echo hello-$p | nc -l -p $p; done) & done; wait"

RULESET = ("import json\n"
           "from pyroute2.nftables.main import NFTables\n"
           "n = NFTables(nfgen_family=0)\n"          # every family: the whole ruleset, not pyrt's table only
           "def dump(msgs):\n"
           "    return [[(k, repr(v)) for k, v in m['attrs']] for m in msgs]\n"
           "print(json.dumps([dump(n.get_tables()), dump(n.get_chains()), dump(n.get_rules())]))\n")


@pytest.fixture
def peer(net, tmp_path):
    path = str(tmp_path / "peerns")
    peer_namespace(net, path)
    yield path
    net.in_ns("ip", "link", "del", "up0")
    remove_netns(path)


def ruleset(net) -> str:
    """The namespace's whole nftables ruleset (tables, chains, rules of every family), as the
    kernel dumps it over netlink (`nft -j list ruleset`'s source; no nft binary on this VM)."""
    p = net.in_ns(sys.executable, "-c", RULESET)
    assert p.returncode == 0, p.stderr
    return p.stdout


def route_localnet(net, dev: str) -> str:
    return net.in_ns("cat", f"/proc/sys/net/ipv4/conf/{dev}/route_localnet").stdout.strip()


def reservations(net) -> list[str]:
    d = os.path.join(net.run_root, "ports")
    return sorted(n for n in os.listdir(d) if n != "lock") if os.path.isdir(d) else []


def fetch(ns: str, host: str, port: int, want: str, udp: bool = False) -> str:
    """What HOST:PORT answers from namespace NS, polled until it says WANT (the server starts)."""
    def once():
        cmd = ["nsenter", f"--net={ns}", "busybox", "nc"] + (["-u"] if udp else []) + ["-w", "2", host, str(port)]
        p = subprocess.run(cmd, input="ping\n" if udp else "", capture_output=True, text=True, timeout=30)
        return p.stdout if want in p.stdout else None
    return until(once, timeout=60, what=f"{host}:{port} answering {want!r}")


def one_error_line(p, *words):
    assert p.returncode == 125, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    for w in words:
        assert w in lines[0], lines[0]


def bridge_of(net, network: str) -> str:
    return net.inspect_net(network)["Options"]["com.docker.network.bridge.name"]


def test_a_published_port_answers_from_localhost_and_from_a_peer_namespace(net, peer):
    net.ok("network", "create", "--subnet", "10.131.0.0/24", "pub")
    br = bridge_of(net, "pub")
    before, localnet = ruleset(net), route_localnet(net, br)
    assert localnet == "0"
    net.ok("run", "-d", "--name", "web", "--network", "pub", "-p", "8080:80", "-p", "127.0.0.1:8090:90",
           "-p", "8100-8101:100-101", "busybox", "sh", "-c", SERVE.format(ports="80 90 100 101"))
    assert "hello-80" in fetch(net.netns, "127.0.0.1", 8080, "hello-80")         # OUTPUT DNAT + route_localnet
    assert "hello-90" in fetch(net.netns, "127.0.0.1", 8090, "hello-90")
    assert "hello-101" in fetch(net.netns, "127.0.0.1", 8101, "hello-101")       # a range, one to one
    assert "hello-80" in fetch(peer, "192.0.2.1", 8080, "hello-80")              # PREROUTING DNAT
    # a peer on the same network through the published port (hairpin: masqueraded, or the answer
    # would come straight from the container's address and be dropped). With br_netfilter's
    # bridge-nf-call-iptables (on here, per namespace) conntrack would fix that on the bridge
    # itself; hosts without br_netfilter have only the masquerade, so the test turns it off.
    assert net.in_ns("sh", "-c", "f=/proc/sys/net/bridge/bridge-nf-call-iptables; [ ! -e $f ] || echo 0 > $f").returncode == 0
    out = net.ok("run", "--rm", "--network", "pub", "busybox", "sh", "-c",
                 "for i in $(seq 50); do nc -w 2 10.131.0.1 8080 | grep hello && break; sleep 0.2; done")
    assert "hello-80" in out
    # 127.0.0.1:8090 is published on 127.0.0.1 only: the peer's 192.0.2.1:8090 is not it
    p = subprocess.run(["nsenter", f"--net={peer}", "busybox", "nc", "-w", "2", "192.0.2.1", "8090"],
                       capture_output=True, text=True, timeout=30)
    assert "hello" not in p.stdout
    assert route_localnet(net, br) == "1"
    # what pyrt says about it, as docker says it
    assert net.ok("port", "web").splitlines() == [
        "80/tcp -> 0.0.0.0:8080", "90/tcp -> 127.0.0.1:8090", "100/tcp -> 0.0.0.0:8100", "101/tcp -> 0.0.0.0:8101"]
    assert net.ok("port", "web", "90/tcp").split() == ["127.0.0.1:8090"]
    p = net.pyrt("port", "web", "81")
    assert p.returncode == 1 and "no public port '81/tcp'" in p.stderr
    doc = json.loads(net.ok("inspect", "web"))[0]
    assert doc["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    assert doc["HostConfig"]["PortBindings"]["90/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "8090"}]
    ps = net.ok("ps", "--format", "{{.Ports}}").strip()
    assert ps == "0.0.0.0:8080->80/tcp, 0.0.0.0:8100-8101->100-101/tcp, 127.0.0.1:8090->90/tcp"
    # disconnected from the network its ports lead to: they go with it
    net.ok("network", "disconnect", "pub", "web")
    assert net.ok("port", "web") == "" and ruleset(net) == before and route_localnet(net, br) == "0"
    net.ok("rm", "-f", "web")
    assert ruleset(net) == before and route_localnet(net, br) == "0" and reservations(net) == []
    net.ok("network", "rm", "pub")


def test_publish_all_and_random_ports_are_what_pyrt_port_reports_and_stop_unpublishes(net, busybox_tar):
    # an image exposing 80/tcp and 53/udp (docker import --change); Debian's busybox nc has no UDP:
    # datagrams to the UDP port are seen arriving in the container's namespace (its Udp NoPorts count)
    net.ok("import", "-c", "EXPOSE 80", "-c", "EXPOSE 53/udp", busybox_tar, "exposing:latest")
    net.ok("network", "create", "--subnet", "10.132.0.0/24", "pall")
    # create (click's parser) then start: ports are chosen and published at start
    cid = net.ok("create", "--name", "all", "--network", "pall", "-P", "-p", "7000", "--stop-timeout", "1",
                 "exposing", "sh", "-c", SERVE.format(ports="80 7000")).strip()
    assert net.ok("port", "all") == "" and reservations(net) == []
    net.ok("start", "all")
    lines = net.ok("port", "all").splitlines()
    got = dict(line.split(" -> ") for line in lines)
    assert sorted(got) == ["53/udp", "7000/tcp", "80/tcp"], lines
    host_ports = {k: int(v.split(":")[1]) for k, v in got.items()}
    assert len(set(host_ports.values())) == 3 and all(v > 0 for v in host_ports.values())
    assert "hello-80" in fetch(net.netns, "127.0.0.1", host_ports["80/tcp"], "hello-80")
    assert "hello-7000" in fetch(net.netns, "127.0.0.1", host_ports["7000/tcp"], "hello-7000")

    def udp_noports() -> int:
        lines = [line.split() for line in net.ok("exec", "all", "cat", "/proc/net/snmp").splitlines()
                 if line.startswith("Udp:")]
        return int(lines[1][lines[0].index("NoPorts")])
    before = udp_noports()
    send = ("import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.sendto(b'x', ('127.0.0.1', int(sys.argv[1])))\n")

    def arrived():
        net.in_ns(sys.executable, "-c", send, str(host_ports["53/udp"]))
        return udp_noports() > before
    until(arrived, timeout=30, what="a datagram to the published UDP port arriving in the container")
    doc = json.loads(net.ok("inspect", cid))[0]
    assert doc["HostConfig"]["PublishAllPorts"] is True
    assert doc["HostConfig"]["PortBindings"] == {"7000/tcp": [{"HostIp": "", "HostPort": ""}]}
    # stopped: nothing published (docker: no ports until it starts again), no rule, no reservation
    net.ok("stop", "all")
    assert net.ok("port", "all") == "" and reservations(net) == []
    assert json.loads(net.ok("inspect", cid))[0]["NetworkSettings"]["Ports"] == {}
    net.ok("rm", "all")
    net.ok("network", "rm", "pall")


def test_the_python_api_publishes_docker_py_style(net):
    net.ok("network", "create", "--subnet", "10.133.0.0/24", "api")
    code = (
        "import pyrt\n"
        f"c = pyrt.Client(root={net.root!r}, run_root={net.run_root!r}, cgroup_parent={net.cgroup_parent!r})\n"
        "ctr = c.containers.run('busybox', ['sh', '-c', 'while true; do echo api | nc -l -p 80; done'],\n"
        "                       detach=True, name='apiweb', network_mode='api',\n"
        "                       ports={'80/tcp': ('127.0.0.1', 8181), 81: None})\n"
        "p = ctr.ports\n"
        "print(p['80/tcp'], p['81/tcp'][0]['HostIp'], int(p['81/tcp'][0]['HostPort']) > 0)\n"
        "try:\n"
        "    c.containers.create('busybox', ports={'80/sctp': 1})\n"
        "except pyrt.InvalidArgument as e:\n"
        "    print('invalid', 'unknown protocol' in e.message)\n")
    p = net.in_ns(sys.executable, "-c", code, env=net.env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["[{'HostIp': '127.0.0.1', 'HostPort': '8181'}] 0.0.0.0 True",
                                     "invalid True"]
    assert "api" in fetch(net.netns, "127.0.0.1", 8181, "api")
    net.ok("rm", "-f", "apiweb")
    net.ok("network", "rm", "api")


def test_a_taken_port_and_bad_specs_are_one_line_125_with_nothing_made(net):
    net.ok("network", "create", "--subnet", "10.134.0.0/24", "bad")
    before, links, leases = ruleset(net), net.links(), net.leases()
    # a host process holds 8282 (tcp): create and run refuse it before anything is made
    holder = subprocess.Popen(["nsenter", f"--net={net.netns}", sys.executable, "-c",
                               "import socket, sys\ns = socket.socket()\ns.bind(('127.0.0.1', 8282))\ns.listen()\n"
                               "print('ready', flush=True)\nsys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        one_error_line(net.pyrt("run", "-d", "--network", "bad", "-p", "8282:80", "busybox", "true"),
                       "0.0.0.0:8282/tcp", "already in use")
        one_error_line(net.pyrt("create", "--network", "bad", "-p", "127.0.0.1:8282:80", "busybox", "true"),
                       "already in use")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    # another container's published port
    net.ok("run", "-d", "--name", "first", "--network", "bad", "-p", "8383:80", "busybox", "sleep", "300")
    one_error_line(net.pyrt("run", "-d", "--network", "bad", "-p", "8383:80", "busybox", "true"),
                   "8383/tcp", "published by container")
    net.ok("rm", "-f", "first")
    for spec, words in [("0", ["container port 0"]), ("70000:80", ["70000"]), ("8000-8001:80-82", ["differ in length"]),
                        ("80/sctp", ["unknown protocol"]), ("1.2.3:80:80", ["not an IPv4 address"]),
                        ("[::1]:80:80", ["IPv6"]), ("x:80", ["not a port"]), ("10.9.9.9:8484:80", ["not an address"])]:
        one_error_line(net.pyrt("run", "--rm", "--network", "bad", "-p", spec, "busybox", "true"), *words)
    one_error_line(net.pyrt("run", "--rm", "-p", "8080:80", "busybox", "true"), "need a bridge or user network")
    one_error_line(net.pyrt("run", "--rm", "--network", "bad", "-p", "8080:80", "-p", "8080:81", "busybox", "true"),
                   "published twice")
    assert net.container_dirs() == [] and net.links() == links and net.leases() == leases
    assert ruleset(net) == before and reservations(net) == []
    net.ok("network", "rm", "bad")


def test_a_cold_monitors_plugger_refusing_a_port_is_one_line_125_with_nothing_left(net):
    """A monitor's first network run is plugged by its helper child (pyrt.engine.runner.plugger)
    while the worker has created the container: a port taken by a container of an earlier
    monitor (killed; its container runs on) fails that run as a warm one would fail, and the
    created, never started container goes with everything else of it."""
    import signal
    net.ok("network", "create", "--subnet", "10.138.0.0/24", "coldp")
    first = net.ok("run", "-d", "--name", "first", "--network", "coldp", "-p", "8989:80", "busybox", "sleep",
                   "300").strip()
    from tests.support.network import nft_chains
    # chains, not ruleset(): the dump of first's rules prints a set, in an order of each process's own
    links, leases, chains, held = net.links(), net.leases(), nft_chains(net), reservations(net)
    for pid in net.monitor_pids():
        os.kill(pid, signal.SIGKILL)
    assert net.wait_monitor_gone()
    one_error_line(net.pyrt("run", "--rm", "--network", "coldp", "-p", "8989:80", "busybox", "true"),
                   "8989/tcp", "published by container")
    assert net.container_dirs() == [first] and net.netns_files() == [first]
    assert os.listdir(os.path.join(net.run_root, "runtime")) == [first]     # the runtime's state too
    assert net.links() == links and net.leases() == leases and nft_chains(net) == chains and reservations(net) == held
    net.ok("rm", "-f", "first")
    net.ok("network", "rm", "coldp")


def test_parallel_runs_get_distinct_free_ports_and_one_fixed_port_goes_to_one_of_two(net):
    net.ok("network", "create", "--subnet", "10.137.0.0/24", "par")
    before = ruleset(net)
    procs = [net.popen("run", "-d", "--name", f"p{i}", "--network", "par", "-p", "80", "busybox", "sleep", "300",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(6)]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    got = [net.ok("port", f"p{i}", "80").strip() for i in range(6)]
    assert len(set(got)) == 6 and all(g.startswith("0.0.0.0:") for g in got), got
    # two at once ask for one host port: both pass create (nothing is published yet), the
    # reservation at start lets one through; the other fails its start with one line
    both = [net.popen("run", "-d", "--name", f"q{i}", "--network", "par", "-p", "8787:80", "busybox", "sleep", "300",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    results = sorted((p.wait(timeout=300), p.stderr.read()) for p in both)
    for p in both:
        p.stdout.close()
        p.stderr.close()
    assert [r[0] for r in results] == [0, 125], results
    assert "8787/tcp" in results[1][1] and len(results[1][1].strip().splitlines()) == 1, results[1][1]
    assert len([n for n in reservations(net) if n.endswith("-8787")]) == 1
    net.ok("rm", "-f", *[f"p{i}" for i in range(6)], "q0", "q1")
    assert ruleset(net) == before and reservations(net) == []
    net.ok("network", "rm", "par")


@pytest.mark.parametrize("cleanup", [["rm", "-f", "victim"], ["network", "prune"]])
def test_killed_between_connect_and_start_then_rm_f_or_prune_leaves_no_rule(net, cleanup):
    from tests.support.bundle import PYRT
    net.ok("network", "create", "--subnet", "10.135.0.0/24", "crash")
    br = bridge_of(net, "crash")
    before = ruleset(net)
    assert net.wait_monitor_gone()          # the next command starts one with the crash setting
    p = subprocess.run(["nsenter", f"--net={net.netns}", PYRT, "run", "-d", "--name", "victim", "--network", "crash",
                        "-p", "8585:80", "busybox", "sleep", "300"],
                       env=dict(net.env, PYRT_TEST_CRASH_AT="engine-network-connected"),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    # what the crash left: the DNAT chains, the reservation, route_localnet on the bridge
    assert ruleset(net) != before and len(reservations(net)) == 1 and route_localnet(net, br) == "1"
    net.ok(*cleanup)
    assert ruleset(net) == before and reservations(net) == [] and route_localnet(net, br) == "0"
    until(lambda: net.pyrt("rm", "-f", "victim").returncode in (0, 1), what="rm -f of the victim")
    assert ruleset(net) == before
    net.ok("network", "rm", "crash")


UDP_SINK = ("import socket, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('127.0.0.1', 9999))\n"
            "print('ready', flush=True)\n"
            "while True:\n    print(s.recv(100).decode(), flush=True)\n")
UDP_SEND = ("import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for i in range(5):\n    s.sendto(sys.argv[1].encode(), ('127.0.0.1', 9999))\n")


def test_network_prune_sweeps_rules_a_clean_up_cut_short_left(net):
    net.ok("network", "create", "--subnet", "10.138.0.0/24", "sweep")
    br = bridge_of(net, "sweep")
    before = ruleset(net)
    net.ok("run", "-d", "--name", "s", "--network", "sweep", "-p", "8888:80", "busybox", "sleep", "300")
    # a clean-up cut short after the reservations went: the exit clean-up finds nothing to undo
    for n in reservations(net):
        os.unlink(os.path.join(net.run_root, "ports", n))
    net.ok("stop", "-t", "0", "s")
    assert ruleset(net) != before and route_localnet(net, br) == "1"
    net.ok("network", "prune")            # keeps `sweep` (s still exists), sweeps what no reservation holds
    assert ruleset(net) == before and route_localnet(net, br) == "0"
    net.ok("rm", "s")
    net.ok("network", "rm", "sweep")


def test_the_bridge_does_not_open_the_hosts_loopback_to_its_containers(net, tmp_path):
    """route_localnet=1 on a bridge makes the kernel accept packets for 127.0.0.0/8 arriving on
    it (CVE-2020-8558, kube-proxy's variant): a neighbour on the bridge that routes 127.0.0.1 to
    the gateway reaches the host's loopback-only services. The guard chain drops them. The attack
    is shown to work without the guard (a datagram reaches a UDP service bound to the fixture's
    127.0.0.1), so the test sees the guard fail if it does."""
    net.ok("network", "create", "--subnet", "10.136.0.0/24", "guarded")
    br = bridge_of(net, "guarded")
    net.ok("run", "-d", "--name", "pub", "--network", "guarded", "-p", "8686:80", "busybox", "sleep", "300")
    assert route_localnet(net, br) == "1"
    # the attacker: a namespace on the bridge (as a container with NET_ADMIN, or one crafting frames
    # with NET_RAW, would be), 127.0.0.1 routed to the gateway instead of its own loopback
    attacker = str(tmp_path / "attacker")
    make_netns(attacker)
    sink = subprocess.Popen(["nsenter", f"--net={net.netns}", sys.executable, "-c", UDP_SINK],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout.readline().strip() == "ready"
        for cmd in (["ip", "link", "add", "atk0", "type", "veth", "peer", "name", "eth0", "netns", attacker],
                    ["ip", "link", "set", "atk0", "master", br, "up"]):
            assert net.in_ns(*cmd).returncode == 0, cmd
        for cmd in (["ip", "addr", "add", "10.136.0.200/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                    ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/eth0/route_localnet"],
                    # its own loopback out of the way (the local table wins over any route), then the route
                    ["ip", "route", "del", "local", "127.0.0.0/8", "dev", "lo", "table", "local"],
                    ["ip", "route", "del", "local", "127.0.0.1", "dev", "lo", "table", "local"],
                    ["ip", "route", "add", "127.0.0.1/32", "via", "10.136.0.1", "dev", "eth0", "src", "10.136.0.200"]):
            p = subprocess.run(["nsenter", f"--net={attacker}", *cmd], capture_output=True, text=True)
            assert p.returncode == 0, (cmd, p.stderr)

        def attack(word: str) -> None:
            p = subprocess.run(["nsenter", f"--net={attacker}", sys.executable, "-c", UDP_SEND, word],
                               capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, p.stderr
        attack("guarded")
        # without the guard the same datagrams get through: the attack is real
        code = ("from pyroute2.nftables.main import NFTables\n"
                f"n = NFTables(nfgen_family=2)\nn.rule('del', table='pyrt', chain='guard-{br}')\n")
        assert net.in_ns(sys.executable, "-c", code).returncode == 0
        attack("open")
        # datagrams of one path arrive in order: the first one the sink got tells whether any guarded one did
        import select
        assert select.select([sink.stdout], [], [], 60)[0], "the unguarded attack did not get through"
        assert sink.stdout.readline().strip() == "open"
    finally:
        sink.kill()
        sink.wait()
        net.in_ns("ip", "link", "del", "atk0")
        remove_netns(attacker)
    net.ok("rm", "-f", "pub")
    net.ok("network", "rm", "guarded")

"""Bridge networking of `pyrt run` (pyrt.network) end to end, inside a network namespace the
fixture makes (tests/support/network.py): user networks and names, IPAM, teardown after rm and
after a crash, bad input. Traffic only between the test's own namespaces."""
from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests.support.engine import engine_env, until
from tests.support.network import NetEngineEnv

pytest_plugins = ["tests.support.engine_fixtures"]     # busybox_tar


@pytest.fixture
def net(tmp_path, cgroup_parent, busybox_tar):
    yield from engine_env(NetEngineEnv, str(tmp_path / "n"), cgroup_parent, busybox_tar)


def _one_error_line(p, *words):
    assert p.returncode == 125, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_two_containers_on_a_user_network_reach_each_other_by_name(net):
    net.ok("network", "create", "--subnet", "10.123.0.0/24", "appnet")
    net.ok("run", "-d", "--name", "srv", "--network", "appnet", "busybox", "sh", "-c",
           "while true; do echo hello-from-srv | nc -l -p 7000; done")
    # the peer by name: /etc/hosts, then ICMP and TCP over the bridge
    p = net.pyrt("run", "--rm", "--name", "cli", "--network", "appnet", "busybox", "sh", "-c",
                 "grep -w srv /etc/hosts; ping -c1 -W5 srv >/dev/null && echo ping-ok; "
                 "for i in $(seq 50); do nc -w 2 srv 7000 && break; sleep 0.1; done")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0].split()[:2] == ["10.123.0.2", "srv"]
    assert "ping-ok" in p.stdout and "hello-from-srv" in p.stdout
    doc = net.inspect_net("appnet")
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.123.0.0/24", "Gateway": "10.123.0.1"}]
    assert [c["Name"] for c in doc["Containers"].values()] == ["srv"]
    # /etc/hosts follows peers that come and go
    net.ok("run", "-d", "--name", "late", "--network", "appnet", "busybox", "sleep", "300")
    assert "late" in net.ok("exec", "srv", "cat", "/etc/hosts")
    net.ok("rm", "-f", "late")
    assert "late" not in net.ok("exec", "srv", "cat", "/etc/hosts")
    net.ok("rm", "-f", "srv")
    net.ok("network", "rm", "appnet")
    assert net.leases() == {} and net.netns_files() == []


def test_network_none_has_only_lo_and_bridge_has_eth0_with_default_route(net):
    out = net.ok("run", "--rm", "busybox", "sh", "-c", "ls /sys/class/net")
    assert out.split() == ["lo"]
    out = net.ok("run", "--rm", "--network", "bridge", "busybox", "sh", "-c",
                 "ls /sys/class/net; ip -4 -o addr show eth0; ip route; cat /sys/class/net/eth0/mtu")
    lines = out.splitlines()
    assert lines[:2] == ["eth0", "lo"]
    assert "inet 10.88.0.2/16" in lines[2]
    assert lines[3].startswith("default via 10.88.0.1 dev eth0")
    # the fixture's namespace has no default route: the MTU falls back to 1500
    assert lines[-1] == "1500"
    assert "pyrt0" in net.links() and net.leases() == {}


def test_the_mtu_is_that_of_the_default_routes_interface(net):
    # an uplink of the fixture's own: a veth pair inside its namespace (no dummy module here)
    for cmd in (["ip", "link", "add", "up0", "mtu", "1400", "type", "veth", "peer", "name", "up1", "mtu", "1400"],
                ["ip", "link", "set", "up1", "up"], ["ip", "link", "set", "up0", "up"],
                ["ip", "route", "add", "default", "dev", "up0"]):
        p = net.in_ns(*cmd)
        assert p.returncode == 0, p.stderr
    try:
        out = net.ok("run", "--rm", "--network", "bridge", "busybox", "cat", "/sys/class/net/eth0/mtu")
        assert out.strip() == "1400"
    finally:
        net.in_ns("ip", "link", "del", "up0")


def test_parallel_runs_get_distinct_addresses_and_rm_restores_links_and_leases(net):
    net.ok("network", "create", "par")
    before = net.links()
    procs = [net.popen("run", "-d", "--name", f"c{i}", "--network", "par", "busybox", "sleep", "300",
                       stdout=-1, stderr=-1) for i in range(10)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    members = net.inspect_net("par")["Containers"]
    addrs = {m["IPv4Address"] for m in members.values()}
    assert len(members) == 10 and len(addrs) == 10, members
    # each container has the address the lease says, and (refreshes serialised, each after its
    # own change) every peer started at the same moment in its /etc/hosts
    for cid, m in list(members.items())[:2]:
        got = net.ok("exec", cid, "ip", "-4", "-o", "addr", "show", "eth0")
        assert m["IPv4Address"] in got
        names = net.ok("exec", cid, "cat", "/etc/hosts").split()
        assert all(f"c{i}" in names for i in range(10)), names
    assert len(net.links() - before) == 10          # one host veth each
    net.ok("rm", "-f", *[f"c{i}" for i in range(10)])
    assert net.links() == before
    assert net.leases() == {} and net.netns_files() == []
    net.ok("network", "rm", "par")


def test_fixed_ip_and_an_exhausted_subnet(net):
    net.ok("network", "create", "--subnet", "10.124.0.0/29", "small")     # .2 - .6 for containers
    net.ok("run", "-d", "--name", "fixed", "--network", "small", "--ip", "10.124.0.6", "busybox", "sleep", "300")
    assert "10.124.0.6/29" in net.ok("exec", "fixed", "ip", "-4", "-o", "addr", "show", "eth0")
    _one_error_line(net.pyrt("run", "--rm", "--network", "small", "--ip", "10.124.0.6", "busybox", "true"),
                    "10.124.0.6", "in use")
    for i in range(4):
        net.ok("create", "--name", f"s{i}", "--network", "small", "busybox", "true")
    _one_error_line(net.pyrt("run", "--rm", "--network", "small", "busybox", "true"), "no free address")
    net.ok("rm", "-f", "fixed", "s0", "s1", "s2", "s3")
    assert net.leases() == {}
    net.ok("network", "rm", "small")


def test_bad_input_is_one_line_125_and_nothing_half_built(net):
    net.ok("network", "create", "--subnet", "10.125.0.0/16", "taken")
    links, dirs = net.links(), sorted(os.listdir(os.path.join(net.root, "networks")))
    _one_error_line(net.pyrt("network", "create", "--subnet", "10.125.7.0/24", "x"), "overlaps")
    _one_error_line(net.pyrt("network", "create", "--subnet", "10.88.1.0/24", "x"), "overlaps")
    _one_error_line(net.pyrt("network", "create", "--subnet", "10.300.0.0/24", "x"), "invalid subnet")
    _one_error_line(net.pyrt("network", "create", "--subnet", "10.126.0.1/24", "x"), "invalid subnet")
    _one_error_line(net.pyrt("network", "create", "--subnet", "10.126.0.0/24", "--gateway", "10.127.0.1", "x"),
                    "gateway")
    _one_error_line(net.pyrt("network", "create", "taken"), "already exists")
    _one_error_line(net.pyrt("network", "create", "bad/name"), "invalid network name")
    _one_error_line(net.pyrt("run", "--rm", "--network", "nosuchnet", "busybox", "true"), "nosuchnet", "not found")
    p = net.pyrt("network", "inspect", "bridge", "nosuchnet")      # docker's: the found ones, a line, 1
    assert p.returncode == 1 and p.stderr.strip().splitlines() == ["pyrt: network nosuchnet not found"], p.stderr
    assert [d["Name"] for d in json.loads(p.stdout)] == ["bridge"]
    _one_error_line(net.pyrt("run", "--rm", "--ip", "10.0.0.5", "busybox", "true"), "--ip")
    net.ok("create", "--name", "user", "--network", "taken", "busybox", "true")
    p = net.pyrt("network", "rm", "taken")
    assert p.returncode == 1 and "in use" in p.stderr and "user" in p.stderr   # docker's rm of many: 1
    _one_error_line(net.pyrt("network", "create", "none"), "reserved")
    p = net.pyrt("network", "rm", "bridge")
    assert p.returncode == 1 and "pre-defined" in p.stderr
    assert net.links() == links and sorted(os.listdir(os.path.join(net.root, "networks"))) == dirs
    assert net.container_dirs() != [] and len(net.container_dirs()) == 1
    net.ok("rm", "user")
    net.ok("network", "rm", "taken")
    assert net.links() == links - {n for n in links if n.startswith("pyrt-")}


def _pid_of(net, name):
    return json.loads(net.ok("inspect", name))[0]["State"]["Pid"]


def test_kill_9_of_the_cli_after_veth_creation_then_rm_f_leaves_nothing(net):
    net.ok("network", "create", "crash")
    before = net.links()
    cli = net.popen("run", "--name", "k", "--network", "crash", "busybox", "sleep", "300",
                    stdout=-1, stderr=-1)
    until(lambda: len(net.links() - before) == 1, what="the container's veth")
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    net.ok("rm", "-f", "k")
    assert net.links() == before and net.leases() == {} and net.netns_files() == []
    net.ok("network", "rm", "crash")


def test_a_crashed_monitor_is_cleaned_by_network_prune_and_rm_f(net):
    net.ok("network", "create", "crash2")
    before = net.links()
    net.ok("run", "-d", "--name", "m1", "--network", "crash2", "busybox", "sleep", "300")
    net.ok("run", "-d", "--name", "m2", "--network", "crash2", "busybox", "sleep", "300")
    # the monitor and the containers die at once: nobody runs the exit clean-up
    for pid in net.monitor_pids():
        os.kill(pid, signal.SIGKILL)
    m1, m2 = _pid_of(net, "m1"), _pid_of(net, "m2")
    os.kill(m1, signal.SIGKILL)
    os.kill(m2, signal.SIGKILL)
    until(lambda: not os.path.exists(f"/proc/{m1}") and not os.path.exists(f"/proc/{m2}"), what="the inits")
    assert len(net.links() - before) == 2 and len(net.netns_files()) == 2
    # prune: the namespaces and veths of containers that no longer run; their leases stay theirs
    assert net.ok("network", "prune").split() == []
    assert net.links() == before and net.netns_files() == []
    assert len(net.leases()["crash2"]) == 2
    # a lease whose container record was never written (the worker killed between the two;
    # made here through the API, as that kill cannot be timed): prune releases it
    net.client().engine.networks.allocate("crash2", "f" * 64)
    assert len(net.leases()["crash2"]) == 3
    net.ok("network", "prune")           # crash2 is still used by m1 and m2: kept
    assert len(net.leases()["crash2"]) == 2 and "f" * 64 not in net.leases()["crash2"].values()
    net.ok("rm", "-f", "m1", "m2")
    assert net.leases() == {}
    assert net.ok("network", "prune").split() == ["crash2"]
    assert net.links() == before - {n for n in before if n.startswith("pyrt-")}


def test_egress_to_a_peer_namespace_goes_through_nat_in_pyrts_own_table(net, tmp_path):
    from tests.support.network import nft_chains, peer_namespace, remove_netns, wait_listening
    peer = str(tmp_path / "peerns")
    peer_namespace(net, peer)
    try:
        assert nft_chains(net) == []
        net.ok("network", "create", "--subnet", "10.126.0.0/24", "out")
        bridge = net.inspect_net("out")["Options"]["com.docker.network.bridge.name"]
        assert nft_chains(net) == [f"masq-{bridge}"]
        srv = subprocess.Popen(["nsenter", f"--net={peer}", "busybox", "nc", "-l", "-p", "9001"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_listening(peer, 9001)
            p = net.pyrt("run", "--rm", "--network", "out", "busybox", "sh", "-c",
                         "ping -c1 -W5 192.0.2.2 >/dev/null && echo ping-ok; "
                         "echo through-nat | nc -w 10 192.0.2.2 9001 || echo nc-failed")
            assert p.returncode == 0 and p.stdout.split() == ["ping-ok"], (p.stdout, p.stderr)
            out, err = srv.communicate(timeout=60)
            assert (out, srv.returncode) == ("through-nat\n", 0), err
        finally:
            if srv.poll() is None:
                srv.kill()
                srv.wait()
        net.ok("run", "--rm", "--network", "bridge", "busybox", "ping", "-c1", "-W5", "192.0.2.2")
        assert sorted(nft_chains(net)) == sorted([f"masq-{bridge}", "masq-pyrt0"])
        net.ok("network", "rm", "out")
        assert nft_chains(net) == ["masq-pyrt0"]     # the predefined network's stays, as its bridge
    finally:
        net.in_ns("ip", "link", "del", "up0")
        remove_netns(peer)


def test_two_creates_of_one_name_at_once_one_wins(net):
    """Three `network create` processes of one name, started together: one wins, the others get
    one clear line each, and one bridge, one NAT chain and one record exist."""
    from tests.support.network import nft_chains
    procs = [net.popen("network", "create", "same", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]
    results = sorted(p.communicate(timeout=120)[::-1] + (p.returncode,) for p in procs)
    assert sorted(r[2] for r in results) == [0, 125, 125], results
    for err, _out, code in results:
        if code:
            assert err.strip().splitlines() == ["pyrt: network with name same already exists"], err
    bridge = net.inspect_net("same")["Options"]["com.docker.network.bridge.name"]
    assert nft_chains(net) == [f"masq-{bridge}"]
    assert len([n for n in net.links() if n.startswith("pyrt-")]) == 1
    net.ok("network", "rm", "same")


def test_networks_are_api_objects_and_inspect_shows_the_address(net):
    import sys
    code = (
        "import pyrt\n"
        f"c = pyrt.Client(root={net.root!r}, run_root={net.run_root!r}, cgroup_parent={net.cgroup_parent!r})\n"
        "n = c.networks.create('apinet', subnet='10.127.0.0/24')\n"
        "print(n.name, n.subnet, n.gateway, sorted(x.name for x in c.networks.list()))\n"
        "try:\n"
        "    c.networks.get('nope')\n"
        "except pyrt.NotFound as e:\n"
        "    print('notfound', e.message)\n"
        "ctr = c.containers.run('busybox', ['sleep', '300'], detach=True, name='api1', network_mode='apinet',\n"
        "                       ip='10.127.0.9')\n"
        "ns = ctr.attrs['NetworkSettings']\n"
        "print(ns['IPAddress'], ns['Gateway'], ns['Networks']['apinet']['IPPrefixLen'])\n"
        "c.networks.create('api2', subnet='10.132.0.0/24')\n"
        "c.networks.connect('api2', ctr, ipv4_address='10.132.0.7', aliases=['web'])\n"
        "nets = ctr.reload().attrs['NetworkSettings']['Networks']\n"
        "print(sorted(nets), nets['api2']['IPAddress'], nets['api2']['Aliases'])\n"
        "print(ctr.exec_run(['ip', '-4', '-o', 'addr', 'show', 'eth1']).output.decode().split()[3])\n"
        "c.networks.disconnect('api2', 'api1')\n"
        "print(sorted(ctr.reload().attrs['NetworkSettings']['Networks']))\n"
        "c.networks.remove('api2')\n"
        "try:\n"
        "    c.networks.remove('apinet')\n"
        "except pyrt.Conflict as e:\n"
        "    print('conflict', e.message)\n"
        "ctr.remove(force=True)\n"
        "c.networks.remove('apinet')\n"
        "print(sorted(x.name for x in c.networks.list()))\n")
    p = net.in_ns(sys.executable, "-c", code, env=net.env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "apinet 10.127.0.0/24 10.127.0.1 ['apinet', 'bridge']",
        "notfound network nope not found",
        "10.127.0.9 10.127.0.1 24",
        "['api2', 'apinet'] 10.132.0.7 ['web']",
        "10.132.0.7/24",
        "['apinet']",
        "conflict network apinet is in use by container(s) api1",
        "['bridge']",
    ]


def test_first_runs_on_bridge_at_once_make_one_bridge_and_one_nat_rule(net):
    import sys
    procs = [net.popen("run", "--rm", "--network", "bridge", "busybox", "true", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE) for _ in range(4)]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    from tests.support.network import nft_chains
    assert nft_chains(net) == ["masq-pyrt0"]
    code = ("from pyroute2.nftables.main import NFTables\n"
            "print(len([r for r in NFTables(nfgen_family=2).get_rules() if r.get('NFTA_RULE_TABLE') == 'pyrt']))\n")
    assert net.in_ns(sys.executable, "-c", code).stdout.strip() == "1"
    assert net.leases() == {} and net.netns_files() == [] and "pyrt0" in net.links()


@pytest.mark.parametrize("step", ["engine-created", "engine-mounted", "engine-network-connected",
                                  "engine-launched"])
def test_run_killed_around_the_network_steps_then_rm_f_leaves_no_veth_lease_or_netns(net, step):
    """SIGKILL the monitor's worker (which makes the netns and veth) at STEP, then rm -f."""
    from tests.support.bundle import PYRT
    net.ok("network", "create", "kill9")
    before = net.links()
    assert net.wait_monitor_gone()          # the next command starts one with the crash setting
    p = subprocess.run(["nsenter", f"--net={net.netns}", PYRT, "run", "-d", "--name", "victim", "--network",
                        "kill9", "busybox", "sleep", "300"], env=dict(net.env, PYRT_TEST_CRASH_AT=step),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    if step == "engine-network-connected":
        assert len(net.links() - before) == 1 and len(net.netns_files()) == 1   # what the crash left
    ids = until(lambda: (lambda ids: ids if set(net.container_dirs()) <= set(ids) else None)(
        net.ok("ps", "-a", "-q", "--no-trunc").split()), timeout=40, what="ps -a listing every container dir")
    if ids:
        net.ok("rm", "-f", *ids)
    assert net.links() == before and net.leases() == {} and net.netns_files() == []
    net.ok("network", "rm", "kill9")


def _ip4(net, ref, ifname="eth0"):
    out = net.ok("exec", ref, "ip", "-4", "-o", "addr", "show", ifname)
    return out.split()[3]


def test_resolv_conf_drops_loopback_resolvers_and_host_mode_keeps_the_hosts_file(net):
    with open("/etc/resolv.conf") as f:
        host = f.read()
    servers = [ln.split()[1] for ln in host.splitlines() if ln.split()[:1] == ["nameserver"]]
    reachable = [s for s in servers if not s.startswith("127.") and ":" not in s]
    out = net.ok("run", "--rm", "--network", "bridge", "busybox", "sh", "-c",
                 "cat /etc/resolv.conf; echo ---; grep ' /etc/resolv.conf ' /proc/self/mounts")
    conf, mounts = out.split("---\n")
    got = [ln.split()[1] for ln in conf.splitlines() if ln.split()[:1] == ["nameserver"]]
    assert got == (reachable or ["8.8.8.8", "8.8.4.4"]) and not any(g.startswith("127.") for g in got)
    assert mounts.strip(), "resolv.conf is a bind mount of the container's own file"
    assert net.ok("run", "--rm", "--network", "host", "busybox", "cat", "/etc/resolv.conf") == host
    out = net.ok("run", "--rm", "--dns", "192.0.2.53", "--dns-search", "corp.example", "--dns-option", "ndots:2",
                 "busybox", "cat", "/etc/resolv.conf")
    assert out == "search corp.example\nnameserver 192.0.2.53\noptions ndots:2\n"
    # the container writes its own copy, never the host's
    net.ok("run", "--rm", "busybox", "sh", "-c", "echo nameserver 192.0.2.99 >> /etc/resolv.conf")
    with open("/etc/resolv.conf") as f:
        assert f.read() == host
    _one_error_line(net.pyrt("run", "--rm", "--dns", "not-an-ip", "busybox", "true"), "--dns")


def test_network_container_shares_the_netns_and_the_etc_files(net):
    net.ok("network", "create", "--subnet", "10.128.0.0/24", "shared")
    net.ok("run", "-d", "--name", "srv", "--hostname", "srvhost", "--network", "shared", "busybox", "sh", "-c",
           "while true; do echo hello-over-lo | nc -l -p 7000; done")
    srv_id = json.loads(net.ok("inspect", "srv"))[0]["Id"]
    out = net.ok("run", "--rm", "--network", "container:srv", "busybox", "sh", "-c",
                 "ip -4 -o addr show eth0; hostname; cat /etc/hosts; echo ---; "
                 "for i in $(seq 50); do nc -w 2 127.0.0.1 7000 && break; sleep 0.1; done")
    head, tail = out.split("---\n")
    lines = head.splitlines()
    assert "10.128.0.2/24" in lines[0] and lines[1] == "srvhost"
    assert "\n".join(lines[2:]) + "\n" == net.ok("exec", "srv", "cat", "/etc/hosts")
    assert tail == "hello-over-lo\n"           # srv's loopback: one namespace
    # config.json names the pinned namespace by path: runc joins the same one
    from tests.support.bundle import RUNC
    out = net.ok("run", "--rm", "--runtime", RUNC, "--network", "container:srv", "busybox", "sh", "-c",
                 "ip -4 -o addr show eth0; hostname")
    assert "10.128.0.2/24" in out and out.splitlines()[-1] == "srvhost"
    # the joiner's record names its target by id; a joined container is no network's member
    net.ok("create", "--name", "joiner", "--network", "container:srv", "busybox", "true")
    doc = json.loads(net.ok("inspect", "joiner"))[0]
    assert doc["HostConfig"]["NetworkMode"] == f"container:{srv_id}" and doc["NetworkSettings"]["Networks"] == {}
    assert list(net.inspect_net("shared")["Containers"]) == [srv_id]
    # a target with no network of pyrt's (none): its namespace all the same, through /proc/<pid>
    net.ok("run", "-d", "--name", "lonely", "busybox", "sh", "-c",
           "while true; do echo lonely-lo | nc -l -p 7001; done")
    out = net.ok("run", "--rm", "--network", "container:lonely", "busybox", "sh", "-c",
                 "ls /sys/class/net; for i in $(seq 50); do nc -w 2 127.0.0.1 7001 && break; sleep 0.1; done")
    assert out.split() == ["lo", "lonely-lo"]
    assert net.netns_files() == [srv_id]       # the joiners' pins went with them
    net.ok("run", "-d", "--name", "outlive", "--network", "container:srv", "busybox", "sleep", "300")
    veths = {n for n in net.links() if n.startswith("pyv")}
    assert len(veths) == 1
    # the target stopped: its veth goes though a joiner still holds the namespace (lo only now);
    # a new joiner is refused, one line, nothing left
    net.ok("stop", "-t", "1", "srv")
    assert not any(n.startswith("pyv") for n in net.links())
    assert net.ok("exec", "outlive", "ls", "/sys/class/net").split() == ["lo"]
    net.ok("rm", "-f", "outlive")
    p = net.pyrt("start", "joiner")             # docker's start of many: 1, a line per failure
    assert p.returncode == 1 and "non running container: srv" in p.stderr, p.stderr
    _one_error_line(net.pyrt("run", "--rm", "--network", "container:srv", "busybox", "true"), "non running")
    _one_error_line(net.pyrt("run", "--rm", "--network", "container:nosuch", "busybox", "true"), "nosuch")
    _one_error_line(net.pyrt("run", "--rm", "--network", "container:srv", "--hostname", "h", "busybox", "true"),
                    "conflicting")
    assert net.netns_files() == []
    net.ok("rm", "-f", "joiner", "srv", "lonely")
    net.ok("network", "rm", "shared")


def test_a_crashed_target_is_not_joined_through_its_stale_pid(net):
    """The target's monitor and init SIGKILLed: its record still says running with a pid that the
    system may hand to any process; the joiner is refused rather than given that pid's netns."""
    net.ok("run", "-d", "--name", "gone", "busybox", "sleep", "300")
    pid = _pid_of(net, "gone")
    for mpid in net.monitor_pids():
        os.kill(mpid, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    until(lambda: not os.path.exists(f"/proc/{pid}"), what="the target's init")
    _one_error_line(net.pyrt("run", "--rm", "--network", "container:gone", "busybox", "true"), "non running")
    assert net.netns_files() == []
    net.ok("rm", "-f", "gone")


def test_connect_and_disconnect_running_and_stopped_containers(net):
    net.ok("network", "create", "--subnet", "10.129.0.0/24", "front")
    net.ok("network", "create", "--subnet", "10.130.0.0/24", "back")
    before = net.links()
    net.ok("run", "-d", "--name", "app", "--network", "front", "busybox", "sleep", "300")
    net.ok("run", "-d", "--name", "db", "--network", "back", "busybox", "sleep", "300")
    net.ok("network", "connect", "--alias", "api", "--ip", "10.130.0.50", "back", "app")
    assert _ip4(net, "app", "eth1") == "10.130.0.50/24" and _ip4(net, "app") == "10.129.0.2/24"
    assert "default via 10.129.0.1" in net.ok("exec", "app", "ip", "route")     # the first network's
    net.ok("exec", "db", "ping", "-c1", "-W5", "api")
    hosts = net.ok("exec", "db", "cat", "/etc/hosts")
    assert "10.130.0.50\tapp" in hosts and " api" in hosts
    nets = json.loads(net.ok("inspect", "app"))[0]["NetworkSettings"]["Networks"]
    assert sorted(nets) == ["back", "front"] and nets["back"]["IPAddress"] == "10.130.0.50"
    assert nets["back"]["Aliases"] == ["api"]
    assert sorted(m["Name"] for m in net.inspect_net("back")["Containers"].values()) == ["app", "db"]
    _one_error_line(net.pyrt("network", "connect", "back", "app"), "already connected")
    # disconnect: the interface, the lease and the peers' names go
    net.ok("network", "disconnect", "back", "app")
    assert net.ok("exec", "app", "ls", "/sys/class/net").split() == ["eth0", "lo"]
    assert "app" not in net.ok("exec", "db", "cat", "/etc/hosts")
    assert "10.130.0.50" not in net.leases()["back"]
    assert len(net.links() - before) == 2
    _one_error_line(net.pyrt("network", "disconnect", "back", "app"), "not connected")
    net.ok("network", "disconnect", "-f", "back", "app")
    # a stopped container: recorded now, the interface at its next start
    net.ok("create", "--name", "later", "--network", "front", "busybox", "sh", "-c", "ls /sys/class/net; sleep 300")
    net.ok("network", "connect", "back", "later")
    assert len(net.links() - before) == 2          # nothing made before it starts
    net.ok("start", "later")
    until(lambda: net.ok("logs", "later").split() == ["eth0", "eth1", "lo"], what="later's interfaces")
    net.ok("exec", "later", "ping", "-c1", "-W5", "db")
    p = net.pyrt("network", "rm", "back")
    assert p.returncode == 1 and "in use" in p.stderr
    # modes with no network of their own cannot be connected
    net.ok("run", "-d", "--name", "nonet", "busybox", "sleep", "300")
    _one_error_line(net.pyrt("network", "connect", "back", "nonet"), "cannot be connected")
    _one_error_line(net.pyrt("network", "connect", "nosuchnet", "app"), "not found")
    net.ok("rm", "-f", "app", "db", "later", "nonet")
    assert net.links() == before and net.leases() == {} and net.netns_files() == []
    net.ok("network", "rm", "front", "back")


def test_network_aliases_and_rename_keep_the_peers_hosts_current(net):
    net.ok("network", "create", "--subnet", "10.131.0.0/24", "names")
    net.ok("run", "-d", "--name", "srv", "--network", "names", "--network-alias", "database",
           "--network-alias", "pg", "busybox", "sleep", "300")
    net.ok("run", "-d", "--name", "cli", "--network", "names", "busybox", "sleep", "300")
    for name in ("srv", "database", "pg"):
        net.ok("exec", "cli", "ping", "-c1", "-W5", name)
    net.ok("rename", "srv", "srv2")
    hosts = net.ok("exec", "cli", "cat", "/etc/hosts")
    assert "srv2" in hosts.split() and "srv" not in hosts.split() and "database" in hosts.split()
    net.ok("exec", "cli", "ping", "-c1", "-W5", "srv2")
    # peers come and go: a stopped one leaves the others' hosts, and comes back when started
    net.ok("stop", "-t", "1", "srv2")
    until(lambda: "srv2" not in net.ok("exec", "cli", "cat", "/etc/hosts"), what="srv2 gone from cli's hosts")
    net.ok("start", "srv2")
    assert "srv2" in net.ok("exec", "cli", "cat", "/etc/hosts")
    # the API spells it network_aliases=; aliases need a user network
    _one_error_line(net.pyrt("run", "--rm", "--network", "bridge", "--network-alias", "x", "busybox", "true"),
                    "user-defined")
    _one_error_line(net.pyrt("run", "--rm", "--network-alias", "x", "busybox", "true"), "--network-alias")
    # an alias is a line's word in peers' hosts files: no blank, no newline to add lines of its own
    _one_error_line(net.pyrt("run", "--rm", "--network", "names", "--network-alias", "x\n10.0.0.1 evil",
                             "busybox", "true"), "invalid --network-alias")
    _one_error_line(net.pyrt("network", "connect", "--alias", "a b", "names", "cli"), "invalid --alias")
    _one_error_line(net.pyrt("run", "--rm", "--network", "names", "--hostname", "h\n10.0.0.1 evil", "busybox",
                             "true"), "invalid --hostname")
    net.ok("rm", "-f", "srv2", "cli")
    net.ok("network", "rm", "names")


def test_run_killed_after_the_veth_then_network_prune_removes_veth_and_netns(net):
    """The worker SIGKILLed between the veth and the start: `network prune` alone removes the veth
    and the namespace (the lease stays the container's, as docker keeps a stopped container's
    endpoint), rm -f the lease, network rm the NAT chain."""
    from tests.support.bundle import PYRT
    from tests.support.network import nft_chains
    net.ok("network", "create", "kill9p")
    bridge = net.inspect_net("kill9p")["Options"]["com.docker.network.bridge.name"]
    before = net.links()
    assert net.wait_monitor_gone()
    p = subprocess.run(["nsenter", f"--net={net.netns}", PYRT, "run", "-d", "--name", "victim", "--network",
                        "kill9p", "busybox", "sleep", "300"],
                       env=dict(net.env, PYRT_TEST_CRASH_AT="engine-network-connected"),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 125, p.stderr
    assert len(net.links() - before) == 1 and len(net.netns_files()) == 1
    assert net.ok("network", "prune").split() == []          # kill9p is still victim's
    assert net.links() == before and net.netns_files() == []
    assert len(net.leases()["kill9p"]) == 1
    net.ok("rm", "-f", "victim")
    assert net.leases() == {}
    assert nft_chains(net) == [f"masq-{bridge}"]
    assert net.ok("network", "prune").split() == ["kill9p"]
    assert nft_chains(net) == [] and bridge not in net.links()


def test_network_prune_never_deletes_another_roots_or_tools_interface(net):
    """An interface named like a pyrt veth that this root does not know (another pyrt root's in
    the same namespace, or another tool's) survives prune; one on a bridge of this root's own
    networks whose container is gone does not."""
    net.ok("network", "create", "--subnet", "10.133.0.0/24", "mine")
    bridge = net.inspect_net("mine")["Options"]["com.docker.network.bridge.name"]
    for cmd in (["ip", "link", "add", "pyv0123456789ab", "type", "veth", "peer", "name", "foreign1"],
                ["ip", "link", "add", "pyvfedcba987654", "type", "veth", "peer", "name", "stray1"],
                ["ip", "link", "set", "pyvfedcba987654", "master", bridge]):
        p = net.in_ns(*cmd)
        assert p.returncode == 0, p.stderr
    try:
        net.ok("create", "--name", "keepnet", "--network", "mine", "busybox", "true")   # mine stays in use
        net.ok("network", "prune")
        left = net.links()
        assert "pyv0123456789ab" in left and "pyvfedcba987654" not in left
    finally:
        net.in_ns("ip", "link", "del", "pyv0123456789ab")
        net.in_ns("ip", "link", "del", "pyvfedcba987654")
    net.ok("rm", "keepnet")
    net.ok("network", "rm", "mine")

"""The engine's default network (issue 13): bridge, as docker's and podman's, unless PYRT_NETWORK or
Client(default_network=) says otherwise. The built-in default is proved inside a network namespace
the fixture makes (tests/support/network.py); the suite's own engines, which run in the VM's
namespace, are proved to default to none, and the leak check's guard against pyrt's bridge, table
and ip_forward appearing in the VM's namespace is proved to fire (in a scratch namespace)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pyrt.network.links import host_ifname
from tests.integration.test_network import net  # noqa: F401 - the network fixture
from tests.support import leaks
from tests.support.bundle import REPO

pytest_plugins = ["tests.support.engine_fixtures"]     # busybox_tar, eng


@pytest.fixture
def default_net(net):
    net.env.pop("PYRT_NETWORK")          # the built-in default, in the fixture's namespace only
    return net


def test_a_plain_run_gets_eth0_on_pyrt0_with_an_address_of_10_88(default_net):
    net = default_net
    cid = net.ok("run", "-d", "busybox", "sh", "-c", "ip -4 -o addr show eth0; ip route; sleep 300").strip()
    doc = json.loads(net.ok("inspect", cid))[0]
    assert doc["HostConfig"]["NetworkMode"] == "bridge"
    addr = doc["NetworkSettings"]["IPAddress"]
    assert addr.startswith("10.88.") and addr != "10.88.0.1", addr
    # the host end of its veth is a port of pyrt0, in the fixture's namespace
    ports = net.in_ns("ip", "-o", "link", "show", "master", "pyrt0").stdout
    veth = host_ifname(cid, doc["NetworkSettings"]["Networks"]["bridge"]["NetworkID"])
    assert veth in ports, ports
    out = net.ok("logs", cid)
    assert f"inet {addr}/16" in out and "default via 10.88.0.1 dev eth0" in out, out
    # docker's spelling of "the default" is the same network
    out = net.ok("run", "--rm", "--network", "default", "busybox", "sh", "-c", "ls /sys/class/net")
    assert out.split() == ["eth0", "lo"]
    net.ok("rm", "-f", cid)
    assert net.leases() == {} and net.netns_files() == []


def test_pyrt_network_sets_the_default_and_a_flag_overrides_it(default_net):
    net = default_net
    net.env["PYRT_NETWORK"] = "none"
    assert net.ok("run", "--rm", "busybox", "ls", "/sys/class/net").split() == ["lo"]
    assert net.ok("run", "--rm", "--network", "bridge", "busybox", "ls", "/sys/class/net").split() == ["eth0", "lo"]
    # an unknown default is the unknown network it names: one line, exit 125, nothing made
    net.env["PYRT_NETWORK"] = "nosuch"
    p = net.pyrt("run", "--rm", "busybox", "true")
    assert p.returncode == 125 and p.stderr.strip().splitlines() == ["pyrt: network nosuch not found"], p
    assert net.container_dirs() == [] and net.leases() == {}


def test_the_suites_engines_default_to_none_in_the_vms_namespace(eng):
    """Every engine of the suite that runs in the VM's own namespace (CLI and in-process API) gets
    --network none unless a test names a network: so the suite never makes pyrt0 here."""
    before = leaks.pyrt_host_network()
    assert eng.ok("run", "--rm", "busybox", "ls", "/sys/class/net").split() == ["lo"]
    assert os.environ["PYRT_NETWORK"] == "none"          # conftest: every pyrt the run starts
    c = eng.client()
    assert c.default_network == "none"
    assert c.containers.run("busybox", ["ls", "/sys/class/net"], remove=True).split() == [b"lo"]
    assert leaks.pyrt_host_network() == before


def test_the_leak_checks_guard_sees_pyrts_network_appear(tmp_path):
    """In a scratch namespace (unshare --net, gone when the script exits): the bridge, the NAT
    table and ip_forward that pyrt's bridge network makes are what the per-test guard reports."""
    script = (
        "import json, sys\n"
        "from tests.support import leaks\n"
        "from pyrt.network import links, nat\n"
        "run = leaks.Run([sys.argv[1]])\n"
        "before = leaks.snapshot(run)\n"
        "links.ensure_bridge('pyrt0', '10.88.0.1', 16)\n"
        "nat.masquerade('pyrt0', '10.88.0.0/16')\n"
        "left, foreign, undo = leaks.check(run, before, settle_s=0)\n"
        "print(json.dumps([left, undo['links']]))\n")
    p = subprocess.run(["unshare", "--net", sys.executable, "-c", script, str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    left, undo_links = json.loads(p.stdout)
    [(kind, items)] = left.items()
    assert "VM's namespace" in kind and undo_links == []         # reported, never removed
    assert items == ["link pyrt0", "net.ipv4.ip_forward=1", "nftables table ip pyrt"]

"""pyrt.network.ports without namespaces: the -p grammar, docker-py's ports=, -P's expansion,
ps's PORTS text, and the bind() check of a host port."""
from __future__ import annotations

import socket

import pytest

from pyrt.errors import Conflict, InvalidArgument
from pyrt.network import ports
from pyrt.network.ports import PortBinding as B


@pytest.mark.parametrize("spec,want", [
    ("80", [B(80)]),
    ("8080:80", [B(80, host_port=8080)]),
    ("127.0.0.1:8080:80", [B(80, "tcp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [B(80, "tcp", "127.0.0.1", 0)]),
    ("0.0.0.0:8080:80/TCP", [B(80, host_port=8080)]),
    ("0:53/udp", [B(53, "udp")]),
    ("8000-8002:80-82", [B(80, host_port=8000), B(81, host_port=8001), B(82, host_port=8002)]),
    ("80-81/udp", [B(80, "udp"), B(81, "udp")]),
])
def test_docker_spellings(spec, want):
    assert ports.parse(spec) == want


@pytest.mark.parametrize("spec,words", [
    ("0", "container port 0 is out of range"), ("65536", "out of range"), ("8080:0", "container port 0"),
    ("8000-8001:80-82", "differ in length"), ("8000:80-81", "differ in length"), ("82-80", "reversed"),
    ("80/sctp", "unknown protocol"), ("80/", "unknown protocol"), ("x:80", "not a port"), ("", "not a port"),
    ("8080:", "not a port"), ("1.2.3:80:80", "not an IPv4 address"), ("[::1]:80:80", "IPv6"),
    ("::1:80:80", "IPv6"), ("1:2:3:4", "IPv6"), ("0-1:80-81", "out of range"), ("9" * 40, "not a port"),
])
def test_bad_specs_say_why_in_one_line(spec, words):
    with pytest.raises(InvalidArgument) as e:
        ports.parse(spec)
    assert words in e.value.message and "\n" not in str(e.value)


def test_docker_py_ports_argument():
    got = ports.from_api({"80/tcp": 8080, 81: None, "53/udp": ("127.0.0.1", 5353), "90": [1, "2"],
                          "91": ("127.0.0.1",)})
    assert got == [B(80, host_port=8080), B(81), B(53, "udp", "127.0.0.1", 5353), B(90, host_port=1),
                   B(90, host_port=2), B(91, "tcp", "127.0.0.1", 0)]
    assert ports.from_api(["8080:80", B(9)]) == [B(80, host_port=8080), B(9)]
    assert ports.from_api(None) == []


def test_publish_all_adds_the_exposed_ports_not_published_already():
    got = ports.effective([B(80, host_port=8080)], True, ["80/tcp", "443/tcp", "53/udp", "7000"])
    assert got == [B(80, host_port=8080), B(443), B(53, "udp"), B(7000)]
    assert ports.effective([B(80)], False, ["443/tcp"]) == [B(80)]
    for hostile in ("99999/tcp", "1:2/tcp", "80/sctp", "x"):
        with pytest.raises(InvalidArgument, match="the image exposes an invalid port"):
            ports.effective([], True, [hostile])
    with pytest.raises(InvalidArgument, match="at most 4096 per container"):
        ports.effective([], True, ["1-65535/tcp"])
    assert len(ports.effective([], True, ["1-4096/tcp"])) == 4096


def test_one_host_port_twice_is_refused():
    with pytest.raises(InvalidArgument, match="published twice"):
        ports.effective([B(80, host_port=8080), B(81, "tcp", "127.0.0.1", 8080)], False, [])
    # other protocol, other address, or free ports: no clash
    ports.effective([B(80, host_port=8080), B(80, "udp", "", 8080), B(81), B(82)], False, [])
    ports.effective([B(80, "tcp", "127.0.0.1", 8080), B(81, "tcp", "127.0.0.2", 8080)], False, [])


def test_ps_folds_consecutive_ports_as_docker_does():
    got = ports.display(ports.parse("8000-8002:80-82") + ports.parse("127.0.0.1:9000:90/udp")
                        + ports.parse("7000:70") + ports.parse("7002:71"))
    assert got == "0.0.0.0:7000->70/tcp, 0.0.0.0:7002->71/tcp, 0.0.0.0:8000-8002->80-82/tcp, 127.0.0.1:9000->90/udp"
    assert ports.display([]) == ""


def test_a_bound_port_is_in_use_and_a_free_one_is_not(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        with pytest.raises(Conflict, match=f"127.0.0.1:{port}/tcp: the host port is already in use"):
            ports.check(str(tmp_path), "bridge", [B(80, "tcp", "127.0.0.1", port)], False, [])
        with pytest.raises(Conflict):                 # 0.0.0.0 overlaps every address
            ports.check(str(tmp_path), "bridge", [B(80, "tcp", "", port)], False, [])
    finally:
        s.close()
    ports.check(str(tmp_path), "bridge", [B(80, "tcp", "127.0.0.1", port)], False, [])
    with pytest.raises(InvalidArgument, match="need a bridge or user network"):
        ports.check(str(tmp_path), "none", [B(80)], False, [])
    with pytest.raises(InvalidArgument, match="network mode is host"):
        ports.check(str(tmp_path), "host", [B(80)], False, [])
    with pytest.raises(InvalidArgument, match="need a bridge or user network"):
        ports.check(str(tmp_path), "container:x", [], True, [])

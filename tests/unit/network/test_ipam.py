"""Leases of pyrt.network.ipam: files under a network's directory, no namespaces needed."""
from __future__ import annotations

import threading

import pytest

from pyrt.engine.errors import Conflict, InvalidArgument
from pyrt.network import ipam
from pyrt.network.networks import parse_subnet


def test_allocation_skips_gateway_and_taken_and_is_stable_per_owner(tmp_path):
    d = str(tmp_path)
    assert ipam.allocate(d, "10.1.0.0/29", "10.1.0.1", "a" * 64) == "10.1.0.2"
    assert ipam.allocate(d, "10.1.0.0/29", "10.1.0.1", "b" * 64) == "10.1.0.3"
    assert ipam.allocate(d, "10.1.0.0/29", "10.1.0.1", "a" * 64) == "10.1.0.2"     # its own, again
    ipam.release(d, "a" * 64)
    assert ipam.leases(d) == {"10.1.0.3": "b" * 64}
    assert ipam.allocate(d, "10.1.0.0/29", "10.1.0.1", "c" * 64) == "10.1.0.2"     # freed, reused


def test_fixed_addresses_and_exhaustion(tmp_path):
    d = str(tmp_path)
    for bad in ("10.1.0.1", "10.1.0.0", "10.1.0.3", "10.2.0.2", "nonsense"):
        with pytest.raises(InvalidArgument):
            ipam.allocate(d, "10.1.0.0/30", "10.1.0.1", "x" * 64, want=bad)
    assert ipam.allocate(d, "10.1.0.0/30", "10.1.0.1", "x" * 64, want="10.1.0.2") == "10.1.0.2"
    with pytest.raises(Conflict, match="no free address left in subnet 10.1.0.0/30"):
        ipam.allocate(d, "10.1.0.0/30", "10.1.0.1", "y" * 64)
    with pytest.raises(Conflict, match="in use"):
        ipam.allocate(d, "10.1.0.0/30", "10.1.0.1", "y" * 64, want="10.1.0.2")


def test_concurrent_allocations_never_share_an_address(tmp_path):
    d, got = str(tmp_path), []
    threads = [threading.Thread(target=lambda i=i: got.append(ipam.allocate(d, "10.3.0.0/24", "10.3.0.1", f"{i:064d}")))
               for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 40 and len(set(got)) == 40
    assert sorted(ipam.leases(d).values()) == sorted(f"{i:064d}" for i in range(40))


@pytest.mark.parametrize("subnet", ["10.300.0.0/24", "10.0.0.1/24", "fd00::/64", "10.0.0.0/31", ""])
def test_bad_subnets(subnet):
    with pytest.raises(InvalidArgument):
        parse_subnet(subnet)

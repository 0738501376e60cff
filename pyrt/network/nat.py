"""Egress NAT: masquerade of a network's subnet in pyrt's own nftables table (`ip pyrt`), one base
chain per network (`masq-<bridge>`, hook postrouting), so removing a network is deleting its chain
and nothing else's rules are ever read or touched (pyrt.network.nft).

Through pyroute2's nftables netlink API rather than libnftables (python3-nftables): pyroute2 is
already pyrt's netlink library (no second dependency outside the venv, no JSON layer), and only
a handful of rule expressions are needed. A kernel without nf_tables gets one clear NetworkError.
"""
from __future__ import annotations

from pyrt.network import nft


def _chain(bridge: str) -> str:
    return "masq-" + bridge


def guard_chain(bridge: str) -> str:
    """The chain pyrt.network.ports adds with route_localnet on BRIDGE; it goes with the network."""
    return "guard-" + bridge


def enable_forwarding() -> None:
    """The namespace routes between its bridges and its uplink (docker does the same)."""
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")


def masquerade(bridge: str, subnet: str) -> None:
    """SUBNET's traffic to anywhere but SUBNET leaves with the address of the outgoing interface."""
    try:
        with nft.session(f"add the NAT rule of {bridge}") as s:
            if _chain(bridge) in nft.chains(s):
                return
            nft.add_chain(s, _chain(bridge), "postrouting", "nat", 100,
                          (nft.ip(src=subnet), nft.ip(dst=subnet, equal=False), nft.masquerade()))
        enable_forwarding()
    except BaseException:
        unmasquerade(bridge)
        raise


def unmasquerade(bridge: str) -> None:
    """Delete BRIDGE's chains, and pyrt's table once it has none left."""
    nft.delete_chains([_chain(bridge), guard_chain(bridge)])

"""Egress NAT: masquerade of a network's subnet in pyrt's own nftables table (`ip pyrt`), one base
chain per network (`masq-<bridge>`, hook postrouting), so removing a network is deleting its chain
and nothing else's rules are ever read or touched.

Through pyroute2's nftables netlink API rather than libnftables (python3-nftables): pyroute2 is
already pyrt's netlink library (no second dependency outside the venv, no JSON layer), and only
three rule expressions are needed. A kernel without nf_tables gets one clear NetworkError.
"""
from __future__ import annotations

import contextlib
import errno

from pyrt.errors import NetworkError

TABLE = "pyrt"
NFPROTO_IPV4 = 2


def _nft():
    from pyroute2.nftables.main import NFTables
    return NFTables(nfgen_family=NFPROTO_IPV4)


def _chain(bridge: str) -> str:
    return "masq-" + bridge


def _chains(nft) -> set[str]:
    return {c.get("NFTA_CHAIN_NAME") for c in nft.get_chains() if c.get("NFTA_CHAIN_TABLE") == TABLE}


def enable_forwarding() -> None:
    """The namespace routes between its bridges and its uplink (docker does the same)."""
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1")


def masquerade(bridge: str, subnet: str) -> None:
    """SUBNET's traffic to anywhere but SUBNET leaves with the address of the outgoing interface."""
    from pyroute2 import NetlinkError
    from pyroute2.netlink.nfnetlink.nftsocket import Cmp
    from pyroute2.nftables.expressions import ipv4addr, masq
    try:
        with contextlib.closing(_nft()) as nft:
            if _chain(bridge) in _chains(nft):
                return
            nft.table("add", name=TABLE)
            nft.chain("add", table=TABLE, name=_chain(bridge), hook="postrouting", type="nat", priority=100)
            nft.rule("add", table=TABLE, chain=_chain(bridge),
                     expressions=(ipv4addr(src=subnet), ipv4addr(dst=subnet, op=Cmp.NFT_CMP_NEQ), masq()))
        enable_forwarding()
    except NetlinkError as e:
        unmasquerade(bridge)
        if e.code in (errno.EOPNOTSUPP, errno.ENOENT, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT):
            raise NetworkError("this kernel has no nftables NAT support (nf_tables, nft_masq)",
                               "egress NAT of pyrt networks needs it") from None
        raise NetworkError(f"cannot add the NAT rule of {bridge}: {e}") from None


def unmasquerade(bridge: str) -> None:
    """Delete BRIDGE's chain, and pyrt's table once it has none left."""
    from pyroute2 import NetlinkError
    with contextlib.suppress(NetlinkError, OSError), contextlib.closing(_nft()) as nft:
        chains = _chains(nft)
        if _chain(bridge) in chains:
            nft.rule("del", table=TABLE, chain=_chain(bridge))
            nft.chain("del", table=TABLE, name=_chain(bridge))
            chains.discard(_chain(bridge))
        if not chains and any(t.get("NFTA_TABLE_NAME") == TABLE for t in nft.get_tables()):
            nft.table("del", name=TABLE)

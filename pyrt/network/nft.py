"""pyrt's own nftables table (`ip pyrt`) through pyroute2's netlink API, and the few rule
expressions pyrt needs (nat.py: masquerade; ports.py: published ports).

Every chain pyrt makes is a base chain of its own, named after what it serves (masq-<bridge>,
guard-<bridge>, ports-<hook>-<owner>), so removing a network or a container's ports is deleting
its chains by name; no rule handle is ever looked up, no other table read or written. The table
goes with its last chain.

pyroute2's nftables module builds raw netlink attributes: each helper below returns the
expression list one `nft` phrase compiles to (checked against `nft list ruleset`'s reading of
them while writing this; the tests check the behaviour).
"""
from __future__ import annotations

import contextlib
import errno
import socket
import struct

from pyrt.errors import NetworkError

TABLE = "pyrt"
NFPROTO_IPV4 = 2
_NO_NAT = (errno.EOPNOTSUPP, errno.ENOENT, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT)

_META_IIFNAME, _META_L4PROTO = 6, 16
_CT_STATUS, _IPS_DST_NAT = 2, 0x20
_RTN_LOCAL = 2
_PROTO = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}


@contextlib.contextmanager
def session(what: str):
    """An nftables netlink socket; a kernel refusal becomes one NetworkError naming WHAT."""
    from pyroute2 import NetlinkError
    from pyroute2.nftables.main import NFTables
    try:
        with contextlib.closing(NFTables(nfgen_family=NFPROTO_IPV4)) as nft:
            yield nft
    except NetlinkError as e:
        if e.code in _NO_NAT:
            raise NetworkError("this kernel has no nftables NAT support (nf_tables, nft_nat, nft_masq)",
                               "egress NAT and published ports of pyrt networks need it") from None
        raise NetworkError(f"cannot {what}: {e}") from None


def chains(nft) -> set[str]:
    return {c.get("NFTA_CHAIN_NAME") for c in nft.get_chains() if c.get("NFTA_CHAIN_TABLE") == TABLE}


def add_chain(nft, name: str, hook: str, kind: str, priority: int, *rules) -> None:
    """The base chain NAME (in pyrt's table, made if missing) holding RULES (expression lists)."""
    nft.table("add", name=TABLE)
    nft.chain("add", table=TABLE, name=name, hook=hook, type=kind, priority=priority)
    for exprs in rules:
        nft.rule("add", table=TABLE, chain=name, expressions=exprs)


def delete_chains(names) -> None:
    """Delete those of NAMES that exist, then the table if it has no chain left. Never fails:
    it runs on clean-up paths (an error there must not hide the first one)."""
    from pyroute2 import NetlinkError
    with contextlib.suppress(NetlinkError, OSError, NetworkError), session("delete pyrt's rules") as nft:
        have = chains(nft)
        for name in names:
            if name in have:
                nft.rule("del", table=TABLE, chain=name)        # a chain must be empty to go
                nft.chain("del", table=TABLE, name=name)
                have.discard(name)
        if not have and any(t.get("NFTA_TABLE_NAME") == TABLE for t in nft.get_tables()):
            nft.table("del", name=TABLE)


# -- expressions ---------------------------------------------------------------------------------
def _x(name: str, **kw):
    from pyroute2.nftables.expressions import genex
    return genex(name, kw)


def _data(value: bytes) -> dict:
    return {"attrs": [("NFTA_DATA_VALUE", value)]}


def _cmp(value: bytes, equal: bool = True) -> list:
    return [_x("cmp", sreg=1, op=0 if equal else 1, data=_data(value))]


def ip(src: str | None = None, dst: str | None = None, equal: bool = True) -> list:
    """ip saddr|daddr ADDRESS[/PREFIX] (== or !=)."""
    from pyroute2.netlink.nfnetlink.nftsocket import Cmp
    from pyroute2.nftables.expressions import ipv4addr
    return ipv4addr(src=src, dst=dst, op=Cmp.NFT_CMP_EQ if equal else Cmp.NFT_CMP_NEQ)


def iifname(name: str) -> list:
    return [_x("meta", dreg=1, key=_META_IIFNAME)] + _cmp(name.encode().ljust(16, b"\0"))


def dport(proto: str, port: int) -> list:
    """meta l4proto PROTO th dport PORT (nft prints it `tcp dport PORT`)."""
    return ([_x("meta", dreg=1, key=_META_L4PROTO)] + _cmp(bytes([_PROTO[proto]]))
            + [_x("payload", dreg=1, base=2, offset=2, len=2)] + _cmp(struct.pack(">H", port)))


def daddr_local() -> list:
    """fib daddr type local: the packet is for an address of this namespace (docker's
    `-m addrtype --dst-type LOCAL`), so traffic merely routed through is never redirected.
    pyroute2 encodes NFTA_FIB_RESULT as a bit set though the kernel reads an enum: the set
    {bit 0, bit 1} is the value 3, NFT_FIB_RESULT_ADDRTYPE."""
    result = {"NFT_FIB_RESULT_UNSPEC", "NFT_FIB_RESULT_OIF"}
    return [_x("fib", dreg=1, result=result, flags=2)] + _cmp(struct.pack("=I", _RTN_LOCAL))   # 2: F_DADDR


def ct_dnat() -> list:
    """ct status dnat: the connection was destination-NATed (by a published port's rule)."""
    return [_x("ct", dreg=1, key=_CT_STATUS),
            _x("bitwise", sreg=1, dreg=1, len=4, mask=_data(struct.pack("=I", _IPS_DST_NAT)), xor=_data(b"\0" * 4))
            ] + _cmp(b"\0" * 4, equal=False)


def dnat(address: str, port: int) -> list:
    """dnat to ADDRESS:PORT."""
    return [_x("immediate", dreg=1, data=_data(socket.inet_aton(address))),
            _x("immediate", dreg=2, data=_data(struct.pack(">H", port))),
            _x("nat", type=1, family=NFPROTO_IPV4, reg_addr_min=1, reg_proto_min=2)]


def masquerade() -> list:
    from pyroute2.nftables.expressions import masq
    return masq()


def drop() -> list:
    from pyroute2.nftables.expressions import verdict
    return verdict(code=0)

"""Published ports (`-p [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]`, `-P`): DNAT rules in pyrt's
nftables table, one set of base chains per container (pyrt.network.nft):

  ports-pre-<id>   nat prerouting   HOST:PORT -> CONTAINER:PORT for traffic from other namespaces
  ports-out-<id>   nat output       the same for the host's own connections (127.0.0.1 included)
  ports-post-<id>  nat postrouting  masquerade of DNATed connections from 127.0.0.0/8 (the container
                                    cannot answer 127.0.0.1) and from the network's subnet (hairpin)

A connection from 127.0.0.1 leaves through the bridge only with route_localnet=1 on that bridge
(and nowhere else); its `guard-<bridge>` chain drops anything arriving on the bridge for
127.0.0.0/8, so containers do not gain the host's loopback services (docs/security.md).

Host ports are reserved in <run_root>/ports/<proto>-<ip>-<port> (the owner and the binding),
written before the chains and removed after them, all under <run_root>/ports/lock: two
containers never get one host port, and `pyrt port`/`inspect`/`ps` read what was published there.
A free host port is one nothing else holds: no other container's reservation, and a bind() of it
(tcp or udp) succeeds. Nothing holds the socket afterwards (as with podman+netavark, unlike
docker-proxy): a host process binding the port later is shadowed by the DNAT rule.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from dataclasses import asdict, dataclass, replace

from pyrt.errors import Conflict, InvalidArgument, NetworkError, quote

PROTOCOLS = ("tcp", "udp")
LOOPBACK = "127.0.0.0/8"
USAGE = "use [HOSTIP:][HOSTPORT:]CONTAINERPORT[/tcp|udp], ports and ranges within 1-65535"
MAX_PORTS = 4096      # per container: each is two rules and a file (an image's -P range could ask 65535)


@dataclass(frozen=True)
class PortBinding:
    """CONTAINER_PORT/PROTOCOL published on HOST_IP:HOST_PORT. HOST_IP "": every address of the
    host (docker's 0.0.0.0); HOST_PORT 0: a free one, chosen when the container starts."""
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int = 0

    @property
    def key(self) -> str:
        """docker's name of the container side: "80/tcp"."""
        return f"{self.container_port}/{self.protocol}"

    @property
    def host(self) -> str:
        return f"{self.host_ip or '0.0.0.0'}:{self.host_port}"


# -- parsing ---------------------------------------------------------------------------------------
def _port_range(text: str, spec: str, what: str, zero: bool = False) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    if not lo.isdigit() or (sep and not hi.isdigit()) or len(text) > 11:
        raise InvalidArgument(f"invalid port spec {quote(spec)}: {what} {quote(text)} is not a port or range", USAGE)
    a, b = int(lo), int(hi) if sep else int(lo)
    for n in (a, b):
        if n > 65535 or (n == 0 and not (zero and not sep)):
            raise InvalidArgument(f"invalid port spec {quote(spec)}: {what} {n} is out of range", USAGE)
    if a > b:
        raise InvalidArgument(f"invalid port spec {quote(spec)}: the {what} range {text} is reversed", USAGE)
    return a, b


def _host_ip(text: str, spec: str) -> str:
    import ipaddress
    if text.startswith("[") or ":" in text:
        raise InvalidArgument(f"invalid port spec {quote(spec)}: IPv6 host addresses are not supported", USAGE)
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidArgument(f"invalid port spec {quote(spec)}: {quote(text)} is not an IPv4 address", USAGE) from None
    return "" if ip.is_unspecified else str(ip)


def parse(spec: str) -> list[PortBinding]:
    """docker's -p: `80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `80/udp`,
    `8000-8002:80-82`, `80-82` (ranges pair one to one; a missing or 0 host port: a free one)."""
    body, sep, proto = spec.rpartition("/")
    if not sep:
        body, proto = spec, "tcp"
    if proto.lower() not in PROTOCOLS:
        raise InvalidArgument(f"invalid port spec {quote(spec)}: unknown protocol {quote(proto)}", USAGE)
    proto = proto.lower()
    if body.count(":") > 2 or body.startswith("["):
        raise InvalidArgument(f"invalid port spec {quote(spec)}: IPv6 host addresses are not supported", USAGE)
    parts = body.split(":")
    cport = parts[-1]
    hport = parts[-2] if len(parts) >= 2 else ""
    hip = _host_ip(parts[0], spec) if len(parts) == 3 else ""
    c0, c1 = _port_range(cport, spec, "container port")
    if not hport:
        return [PortBinding(p, proto, hip, 0) for p in range(c0, c1 + 1)]
    h0, h1 = _port_range(hport, spec, "host port", zero=True)
    if h0 == 0:
        return [PortBinding(p, proto, hip, 0) for p in range(c0, c1 + 1)]
    if h1 - h0 != c1 - c0:
        raise InvalidArgument(f"invalid port spec {quote(spec)}: the host range {hport} and the container range "
                              f"{cport} differ in length", USAGE)
    return [PortBinding(c0 + i, proto, hip, h0 + i) for i in range(c1 - c0 + 1)]


def from_api(ports) -> list[PortBinding]:
    """docker-py's `ports=`: {"80/tcp": 8080 | None | "8080" | ("127.0.0.1", 8080) | [several]},
    or a list of PortBinding and -p strings."""
    if not ports:
        return []
    if not isinstance(ports, dict):
        out = []
        for p in ports:
            out += [p] if isinstance(p, PortBinding) else parse(str(p))
        return out
    out = []
    for cport, hosts in ports.items():
        for h in hosts if isinstance(hosts, list) else [hosts]:
            if h is None:
                hspec = ""
            elif isinstance(h, tuple):
                hspec = f"{h[0]}:{h[1] if len(h) > 1 and h[1] is not None else ''}:"
            else:
                hspec = f"{h}:"
            c, sep, proto = str(cport).partition("/")
            out += parse(f"{hspec}{c}/{proto if sep else 'tcp'}")
    return out


def effective(bindings: list[PortBinding], publish_all: bool, exposed) -> list[PortBinding]:
    """BINDINGS, and with PUBLISH_ALL (-P) each of the image's EXPOSED ports ("80/tcp") that
    BINDINGS do not publish, on a free host port. A malformed exposed port is an error."""
    out = list(bindings)
    if publish_all:
        have = {b.key for b in bindings}
        for e in exposed:
            text = e if "/" in e else e + "/tcp"
            if ":" in text:
                raise InvalidArgument(f"the image exposes an invalid port {quote(e)}")
            try:
                extra = parse(text)
            except InvalidArgument as err:
                raise InvalidArgument(f"the image exposes an invalid port {quote(e)}: {err.message}") from None
            out += [b for b in extra if b.key not in have]
    if len(out) > MAX_PORTS:
        raise InvalidArgument(f"{len(out)} ports to publish: at most {MAX_PORTS} per container")
    _no_twice(out)
    return out


def _overlap(a: PortBinding, b: PortBinding) -> bool:
    return (a.protocol == b.protocol and a.host_port == b.host_port != 0
            and (not a.host_ip or not b.host_ip or a.host_ip == b.host_ip))


def _no_twice(bindings: list[PortBinding]) -> None:
    seen: dict[tuple[str, int], list[PortBinding]] = {}
    for a in bindings:
        same = seen.setdefault((a.protocol, a.host_port), [])
        if a.host_port and any(_overlap(a, b) for b in same):
            raise InvalidArgument(f"host port {a.host}/{a.protocol} is published twice")
        same.append(a)


def check(run_root: str, mode: str, bindings: list[PortBinding], publish_all: bool, exposed) -> None:
    """At create: the request makes sense on network MODE (docker's: none, host, container:X
    have no ports of their own) and its fixed host ports are free now (they are checked again,
    and reserved, at start)."""
    if not bindings and not publish_all:
        return
    if mode in ("none", "host") or ":" in mode:
        raise InvalidArgument(f"published ports need a bridge or user network (the network mode is {mode})",
                              "use --network bridge or --network NAME")
    taken = [(o, b) for _n, o, b, _br in _reservations(run_root)]
    for b in effective(bindings, publish_all, exposed):
        if b.host_port:
            _not_taken(b, taken)
            _probe(b.protocol, b.host_ip, b.host_port)


def _probe(proto: str, ip: str, port: int) -> int:
    """bind() IP:PORT (0: any free one) as PROTO; the port bound. In use: Conflict."""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        if proto == "tcp":     # a connection in TIME_WAIT does not make the port unusable
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((ip or "0.0.0.0", port))
        return s.getsockname()[1]
    except OSError as e:
        where = f"{ip or '0.0.0.0'}:{port}/{proto}"
        if e.errno == errno.EADDRINUSE:
            raise Conflict(f"cannot publish {where}: the host port is already in use",
                           "choose another host port or stop what holds it") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise InvalidArgument(f"cannot publish {where}: {ip} is not an address of this host") from None
        raise NetworkError(f"cannot publish {where}: {e.strerror}") from None
    finally:
        s.close()


# -- reservations ----------------------------------------------------------------------------------
def _dir(run_root: str) -> str:
    return os.path.join(run_root, "ports")


@contextlib.contextmanager
def _locked(run_root: str):
    os.makedirs(_dir(run_root), mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(_dir(run_root), "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _reservations(run_root: str) -> list[tuple[str, str, PortBinding, str]]:
    """(file name, owner, binding, bridge) of every reservation."""
    out = []
    try:
        names = os.listdir(_dir(run_root))
    except FileNotFoundError:
        return out
    for n in names:
        if n == "lock" or n.startswith("."):
            continue
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            with open(os.path.join(_dir(run_root), n)) as f:
                d = json.load(f)
            out.append((n, d["owner"], PortBinding(**d["binding"]), d.get("bridge", "")))
    return out


def _reserve(run_root: str, owner: str, b: PortBinding, bridge: str) -> None:
    name = f"{b.protocol}-{b.host_ip or '0.0.0.0'}-{b.host_port}"
    tmp = os.path.join(_dir(run_root), f".{name}.{owner[:12]}")
    with open(tmp, "w") as f:
        json.dump({"owner": owner, "binding": asdict(b), "bridge": bridge}, f)
    os.replace(tmp, os.path.join(_dir(run_root), name))


def published(run_root: str) -> dict[str, list[PortBinding]]:
    """owner -> its published bindings (host ports resolved), by container port."""
    out: dict[str, list[PortBinding]] = {}
    for _n, owner, b, _br in _reservations(run_root):
        out.setdefault(owner, []).append(b)
    for v in out.values():
        v.sort(key=lambda b: (b.container_port, b.protocol, b.host_ip, b.host_port))
    return out


# -- rules -----------------------------------------------------------------------------------------
def _chains(owner: str) -> list[str]:
    return [f"ports-{hook}-{owner[:12]}" for hook in ("pre", "out", "post")]


def publish(run_root: str, owner: str, bridge: str, subnet: str, address: str,
            bindings: list[PortBinding]) -> list[PortBinding]:
    """Reserve BINDINGS' host ports for OWNER (free ones for port 0) and DNAT them to ADDRESS on
    BRIDGE; the bindings as published. On failure nothing of it is left."""
    if not bindings:
        return []
    from pyrt.network import nat, nft
    try:
        with _locked(run_root):
            with nft.session("publish ports") as s:
                live = nft.chains(s)
            # a reservation counts while its owner's chains exist (a crash may leave one without)
            taken = [(o, b) for _n, o, b, _br in _reservations(run_root) if o != owner and _chains(o)[0] in live]
            done: list[PortBinding] = []
            for b in bindings:
                p = _pick(b, taken + [(owner, d) for d in done])
                done.append(replace(b, host_port=p))
                _reserve(run_root, owner, done[-1], bridge)
            with nft.session("publish ports") as s:
                if nat.guard_chain(bridge) not in live:
                    nft.add_chain(s, nat.guard_chain(bridge), "prerouting", "filter", -300,
                                  (nft.iifname(bridge), nft.ip(dst=LOOPBACK), nft.drop()))
                _route_localnet(bridge, True)
                pre, out, post = _chains(owner)
                dnat = [(nft.ip(dst=b.host_ip) if b.host_ip else nft.daddr_local(), nft.dport(b.protocol, b.host_port),
                         nft.dnat(address, b.container_port)) for b in done]
                nft.add_chain(s, pre, "prerouting", "nat", -100, *dnat)
                nft.add_chain(s, out, "output", "nat", -100, *dnat)
                nft.add_chain(s, post, "postrouting", "nat", 100,
                              *[(nft.ip(dst=address), nft.ct_dnat(), nft.ip(src=src), nft.masquerade())
                                for src in (LOOPBACK, subnet)])
        return done
    except BaseException:
        unpublish(run_root, owner)
        raise


def _not_taken(b: PortBinding, taken: list[tuple[str, PortBinding]]) -> None:
    for owner, t in taken:
        if _overlap(b, t):
            raise Conflict(f"cannot publish {b.host}/{b.protocol}: the host port is already published by "
                           f"container {owner[:12]}", "choose another host port")


def _pick(b: PortBinding, taken: list[tuple[str, PortBinding]]) -> int:
    if b.host_port:
        _not_taken(b, taken)
        return _probe(b.protocol, b.host_ip, b.host_port)
    for _ in range(100):
        p = _probe(b.protocol, b.host_ip, 0)
        if not any(_overlap(replace(b, host_port=p), t) for _o, t in taken):
            return p
    raise Conflict(f"cannot publish {b.key}: no free host port found")


def _route_localnet(bridge: str, on: bool) -> None:
    """Let connections from 127.0.0.1, DNATed to a container, leave through BRIDGE (only it)."""
    try:
        with open(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet", "w") as f:
            f.write("1" if on else "0")
    except OSError as e:
        if on or e.errno != errno.ENOENT:      # off: a bridge already gone is fine
            raise NetworkError(f"cannot set route_localnet on {bridge}: {e.strerror}") from None


def unpublish(run_root: str, owner: str) -> None:
    """Delete OWNER's chains, then its reservations (nothing to do, and no netlink socket, when
    it has none: the chains are made after the reservations and deleted before them). The last
    container publishing on a bridge takes its guard and route_localnet with it."""
    if not any(o == owner for _n, o, _b, _br in _reservations(run_root)):
        return
    from pyrt.network import nat, nft
    with _locked(run_root):
        nft.delete_chains(_chains(owner))
        bridges = set()
        for n, o, _b, br in _reservations(run_root):
            if o == owner:
                bridges.add(br)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(_dir(run_root), n))
        left = {br for _n, _o, _b, br in _reservations(run_root)}
        for br in bridges - left - {""}:
            with contextlib.suppress(NetworkError):
                _route_localnet(br, False)
            nft.delete_chains([nat.guard_chain(br)])


def sweep(run_root: str) -> None:
    """`network prune`: chains no reservation accounts for (a clean-up cut short after deleting the
    reservations), and the guard and route_localnet of bridges nobody publishes on any more."""
    from pyrt.network import nat, nft
    with _locked(run_root):
        held = _reservations(run_root)
        owners = {o[:12] for _n, o, _b, _br in held}
        bridges = {br for _n, _o, _b, br in held}
        stale: list[str] = []
        with contextlib.suppress(NetworkError), nft.session("list pyrt's rules") as s:
            stale = [c for c in nft.chains(s) if (c.startswith("ports-") and c.rsplit("-", 1)[1] not in owners)
                     or (c.startswith("guard-") and c[len("guard-"):] not in bridges)]
        for c in stale:
            if c.startswith("guard-"):
                with contextlib.suppress(NetworkError):
                    _route_localnet(c[len("guard-"):], False)
        nft.delete_chains(stale)


def display(bindings: list[PortBinding]) -> str:
    """docker ps's PORTS: `0.0.0.0:8080->80/tcp`, consecutive ports folded into ranges
    (`0.0.0.0:8000-8002->80-82/tcp`)."""
    groups: list[list[PortBinding]] = []
    for b in sorted(bindings, key=lambda b: (b.protocol, b.host_ip, b.container_port, b.host_port)):
        g = groups[-1] if groups else None
        if (g and g[-1].protocol == b.protocol and g[-1].host_ip == b.host_ip
                and g[-1].container_port + 1 == b.container_port and g[-1].host_port + 1 == b.host_port):
            g.append(b)
        else:
            groups.append([b])

    def span(a: int, z: int) -> str:
        return str(a) if a == z else f"{a}-{z}"
    return ", ".join(f"{g[0].host_ip or '0.0.0.0'}:{span(g[0].host_port, g[-1].host_port)}->"
                     f"{span(g[0].container_port, g[-1].container_port)}/{g[0].protocol}" for g in groups)

"""Networks: a bridge, a subnet and its leases, under <root>/networks/<name>/ (network.json).

`bridge` is the predefined network (bridge pyrt0, 10.88.0.0/16, as podman's default), recorded on
first use and never removed; user networks get their own bridge (pyrt-<id>) made by `create` in
the caller's network namespace and deleted by `rm`; each network's egress is masqueraded (nat). A network knows its users only by owner id
and network-namespace path: the engine says which owners still exist (prune) and who uses it.
"""
from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field

from pyrt.errors import Conflict, InvalidArgument, NotFound
from pyrt.network import ipam, nat

DEFAULT_NAME = "bridge"
DEFAULT_BRIDGE = "pyrt0"
DEFAULT_SUBNET = "10.88.0.0/16"
_AUTO_POOL = ipaddress.ip_network("10.89.0.0/16")      # user networks: /24s from here (podman's)
_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
RESERVED = ("none", "host", "default")


@dataclass(frozen=True)
class Network:
    name: str
    id: str
    bridge: str
    subnet: str
    gateway: str
    created: str
    labels: dict = field(default_factory=dict)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen


def validate_name(name: str) -> None:
    if not name or not name[0].isascii() or not name[0].isalnum() or not set(name) <= _CHARS or len(name) > 128:
        raise InvalidArgument(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    if name in RESERVED:
        raise InvalidArgument(f"network name {name!r} is reserved")


def parse_subnet(subnet: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {subnet!r}: {e}") from None
    if net.version != 4:
        raise InvalidArgument(f"invalid subnet {subnet!r}: only IPv4 subnets are supported")
    if net.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {subnet!r}: a /30 at least is needed (gateway and one address)")
    return net


class NetworkStore:
    def __init__(self, root: str, users):
        self.root = os.path.join(root, "networks")
        self.users = users                # name -> names of the containers on it
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def _meta(self, name: str) -> str:
        return os.path.join(self.root, name, "network.json")

    def _write(self, net: Network) -> None:
        tmp = self._meta(net.name) + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"id": net.id, "bridge": net.bridge, "subnet": net.subnet, "gateway": net.gateway,
                       "created": net.created, "labels": net.labels}, f)
        os.replace(tmp, self._meta(net.name))

    def _read(self, name: str) -> Network | None:
        try:
            with open(self._meta(name)) as f:
                m = json.load(f)
        except FileNotFoundError:
            return None
        return Network(name=name, id=m["id"], bridge=m["bridge"], subnet=m["subnet"], gateway=m["gateway"],
                       created=m.get("created", ""), labels=m.get("labels", {}))

    def get(self, name: str) -> Network:
        if name == DEFAULT_NAME:
            return self._default()
        validate_name(name)
        net = self._read(name)
        if net is None:
            raise NotFound(f"network {name} not found")
        return net

    def _default(self) -> Network:
        net = self._read(DEFAULT_NAME)
        if net is not None:
            return net
        from pyrt.clock import now_rfc3339
        with ipam.locked(self.root):
            net = self._read(DEFAULT_NAME)
            if net is None:
                os.makedirs(self.dir(DEFAULT_NAME), mode=0o700, exist_ok=True)
                net = Network(name=DEFAULT_NAME, id=secrets.token_hex(32), bridge=DEFAULT_BRIDGE,
                              subnet=DEFAULT_SUBNET, gateway="10.88.0.1", created=now_rfc3339())
                self._write(net)
        return net

    def list(self) -> list[Network]:
        out = [self._default()]
        for name in sorted(os.listdir(self.root)):
            if name != DEFAULT_NAME and os.path.exists(self._meta(name)):
                out.append(self._read(name))
        return out

    def create(self, name: str, subnet: str = "", gateway: str = "", labels: dict | None = None) -> Network:
        """A user network with its bridge (in this network namespace). Two creates of one name at
        once: one wins, the other gets Conflict; nothing half-made is left on failure."""
        validate_name(name)
        want = parse_subnet(subnet) if subnet else None
        if gateway and not want:
            raise InvalidArgument("--gateway needs --subnet")
        from pyrt.clock import now_rfc3339
        from pyrt.network import links
        self._default()        # recorded before the lock: it takes the same lock when missing
        with ipam.locked(self.root):
            taken = [ipaddress.ip_network(n.subnet) for n in self.list()]
            if os.path.exists(self._meta(name)):
                raise Conflict(f"network with name {name} already exists")
            if want is not None:
                for t in taken:
                    if want.overlaps(t):
                        raise Conflict(f"subnet {want} overlaps with another network's subnet {t}")
                net_ip = want
            else:
                net_ip = next((s for s in _AUTO_POOL.subnets(new_prefix=24)
                               if not any(s.overlaps(t) for t in taken)), None)
                if net_ip is None:
                    raise Conflict("no free subnet left for a new network", "give one with --subnet")
            if gateway:
                try:
                    gw = ipaddress.ip_address(gateway)
                except ValueError:
                    raise InvalidArgument(f"invalid gateway {gateway!r}") from None
                if gw not in net_ip or gw in (net_ip.network_address, net_ip.broadcast_address):
                    raise InvalidArgument(f"gateway {gateway} is not a host address of subnet {net_ip}")
            else:
                gw = next(net_ip.hosts())
            used = {n.id[:4] for n in self.list()}
            nid = secrets.token_hex(32)
            while nid[:4] in used:       # the 4 characters in each veth's name tell networks apart
                nid = secrets.token_hex(32)
            net = Network(name=name, id=nid, bridge="pyrt-" + nid[:10], subnet=str(net_ip), gateway=str(gw),
                          created=now_rfc3339(), labels=dict(labels or {}))
            d = self.dir(name)
            os.mkdir(d, 0o700)
            try:
                links.ensure_bridge(net.bridge, net.gateway, net.prefixlen)
                nat.masquerade(net.bridge, net.subnet)
                self._write(net)
            except BaseException:
                nat.unmasquerade(net.bridge)
                with contextlib.suppress(Exception):
                    links.remove_bridge(net.bridge)
                shutil.rmtree(d, ignore_errors=True)
                raise
        return net

    def remove(self, name: str) -> None:
        if name == DEFAULT_NAME:
            raise Conflict(f"{name} is a pre-defined network and cannot be removed")
        net = self.get(name)
        users = self.users(name)
        if users:
            raise Conflict(f"network {name} is in use by container(s) {', '.join(sorted(users))}",
                           "remove those containers first")
        from pyrt.network import links
        with ipam.locked(self.root):
            nat.unmasquerade(net.bridge)
            links.remove_bridge(net.bridge)
            shutil.rmtree(self.dir(name))

    # -- endpoints ---------------------------------------------------------------------------------
    def leases(self, name: str) -> dict[str, str]:
        return ipam.leases(self.dir(self.get(name).name))

    def address_of(self, name: str, owner: str) -> str:
        with contextlib.suppress(NotFound, InvalidArgument):
            for a, o in self.leases(name).items():
                if o == owner:
                    return a
        return ""

    def allocate(self, name: str, owner: str, want: str = "") -> str:
        net = self.get(name)
        return ipam.allocate(self.dir(name), net.subnet, net.gateway, owner, want)

    def release(self, name: str, owner: str) -> None:
        with contextlib.suppress(NotFound, InvalidArgument):
            ipam.release(self.dir(self.get(name).name), owner)

    def networks_of(self, owner: str) -> list[Network]:
        """The networks on which OWNER holds a lease."""
        return [n for n in self.list() if owner in ipam.leases(self.dir(n.name)).values()]

    @staticmethod
    def make_netns(netns: str, lo_up: bool = True) -> None:
        """A namespace pinned at NETNS; LO_UP: its loopback up now (attach does it as well)."""
        from pyrt.network import links
        links.make_netns(netns)
        if lo_up:
            links.loopback_up(netns)

    def attach(self, name: str, owner: str, netns: str, want: str = "") -> tuple[str, str]:
        """OWNER's namespace at NETNS joined to network NAME with its leased address (taken now if
        it has none): (address, interface name in NETNS)."""
        from pyrt.network import links
        net = self.get(name)
        address = self.allocate(name, owner, want)
        with ipam.locked(self.dir(name)):      # the first containers of `bridge` may come at once
            links.ensure_bridge(net.bridge, net.gateway, net.prefixlen)
            nat.masquerade(net.bridge, net.subnet)
        ifname = links.attach(links.host_ifname(owner, net.id), netns, net.bridge, address, net.prefixlen,
                              net.gateway)
        return address, ifname

    def detach(self, name: str, owner: str) -> None:
        """OWNER's veth on network NAME deleted (the lease stays: release gives it back)."""
        from pyrt.network import links
        with contextlib.suppress(NotFound, InvalidArgument):
            links.detach(links.host_ifname(owner, self.get(name).id))

    def disconnect(self, owner: str, netns: str) -> None:
        """Undo every attach of OWNER and its namespace (its leases stay its own until release)."""
        from pyrt.network import links
        for net in self.networks_of(owner):
            links.detach(links.host_ifname(owner, net.id))
        links.remove_netns(netns)

    def prune(self, alive) -> list[str]:
        """Leases and veths of owners that no longer exist (ALIVE(id) says; a worker killed between
        the lease and the container's record leaves such a lease), then the unused user networks.
        The removed networks' names."""
        from pyrt.network import links
        ours = {n.bridge for n in self.list() if n.name != DEFAULT_NAME}
        for host, bridge in links.stray_endpoints().items():
            prefix = links.owner_prefix(host)
            owners = self._owners_like(prefix)
            # a veth is this root's if one of its leases names the owner, or it is on a bridge of
            # its user networks; another root's (or tool's) pyv... interface is never touched
            if (owners or bridge in ours) and not any(alive(o) for o in owners or [prefix]):
                links.detach(host)
        gone = []
        for net in self.list():
            for _a, o in ipam.leases(self.dir(net.name)).items():
                if not alive(o):
                    ipam.release(self.dir(net.name), o)
            if net.name != DEFAULT_NAME and not self.users(net.name):
                self.remove(net.name)
                gone.append(net.name)
        return gone

    def _owners_like(self, prefix: str) -> list[str]:
        """Owners whose id starts with PREFIX, on any network (a veth name holds 8 characters)."""
        out = []
        for net in self.list():
            out += [o for o in ipam.leases(self.dir(net.name)).values() if o.startswith(prefix)]
        return out

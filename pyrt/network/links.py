"""Bridges, veth pairs and network namespaces, through pyroute2 (netlink): never the `ip` tool.

An endpoint is a veth pair: the host end (pyv + 8 characters of the owner's id + 4 of the
network's) enslaved to the network's bridge, the other end created directly inside the owner's
network namespace as its first free ethN, so two containers set up at once never race for a name
in the host's namespace. The namespace is
a bind mount of nsfs on a file, as `ip netns add` makes; unmounting it (with no process left
inside) destroys it and the veth ends in it.
"""
from __future__ import annotations

import contextlib
import errno
import os

from pyrt.errors import NetworkError as NetworkSetupError, PyrtError
from pyrt.linux import syscalls

DEFAULT_MTU = 1500


def host_ifname(owner: str, network_id: str) -> str:
    """The host end of OWNER's veth on a network: 8 characters of each id (IFNAMSIZ: 15 at most)."""
    return "pyv" + owner[:8] + network_id[:4]


def owner_prefix(ifname: str) -> str:
    return ifname[3:11]


@contextlib.contextmanager
def _thread_netns(enter):
    """Run the body with this thread in the network namespace ENTER() moves it to, then back.
    A network namespace is per thread, so this costs two syscalls where a child process (what
    `ip netns add` and pyroute2's netns= use) costs a fork of this large process."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        enter()
        try:
            yield
        finally:
            syscalls.setns(own, syscalls.CLONE_NEWNET)
    finally:
        os.close(own)


def make_netns(path: str) -> None:
    """A new network namespace pinned at PATH (a bind mount of its nsfs file)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.close(fd)
    try:
        with _thread_netns(lambda: syscalls.unshare(syscalls.CLONE_NEWNET)):
            syscalls.mount("/proc/thread-self/ns/net", path, None, syscalls.MS["MS_BIND"])
    except (PyrtError, OSError) as e:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise NetworkSetupError(f"cannot create a network namespace at {path}: {e}") from None


def pin_netns(fd: int, path: str) -> None:
    """The network namespace open at FD (another container's) pinned at PATH as make_netns pins
    its own: the path names that namespace for as long as it is mounted, whatever its owner does."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    try:
        syscalls.mount(f"/proc/self/fd/{fd}", path, None, syscalls.MS["MS_BIND"])
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def remove_netns(path: str) -> None:
    """Unpin and remove the namespace file at PATH; no error when it is already gone."""
    try:
        syscalls.umount2(path, syscalls.MNT_DETACH)
    except PyrtError:
        pass
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _ipr(**kw):
    from pyroute2 import IPRoute
    return IPRoute(**kw)


def _ns_ipr(netns: str):
    """IPRoute on a netlink socket made inside NETNS, by this thread entering it for the socket()
    call (pyroute2's own netns= forks a helper process per socket: 20 to 300 ms under load)."""
    import socket
    target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _thread_netns(lambda: syscalls.setns(target, syscalls.CLONE_NEWNET, netns)):
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0)  # NETLINK_ROUTE
    finally:
        os.close(target)
    return _ipr(fileno=sock.detach())


def _index(ipr, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def default_mtu(ipr=None) -> int:
    """The MTU of the interface of this namespace's default route (docker and podman do so).
    IPR: an open IPRoute of this namespace to use (each new one costs a socket set-up)."""
    import socket
    if ipr is None:
        with _ipr() as ipr:
            return default_mtu(ipr)
    for r in ipr.get_default_routes(family=socket.AF_INET):
        oif = r.get("RTA_OIF") if hasattr(r, "get") else None
        if oif:
            links = ipr.get_links(oif)
            if links:
                return links[0].get("IFLA_MTU") or DEFAULT_MTU
    return DEFAULT_MTU


def ensure_bridge(name: str, gateway: str, prefixlen: int) -> None:
    """The bridge NAME, up, with GATEWAY/PREFIXLEN; made if missing (two callers at once: both win)."""
    from pyroute2 import NetlinkError
    with _ipr() as ipr:
        idx = _index(ipr, name)
        if idx is None:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except NetlinkError as e:
                if e.code != errno.EEXIST:
                    raise NetworkSetupError(f"cannot create bridge {name}: {e}") from None
            idx = _index(ipr, name)
        try:
            ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise NetworkSetupError(f"cannot address bridge {name}: {e}") from None
        ipr.link("set", index=idx, state="up")


def remove_bridge(name: str) -> None:
    from pyroute2 import NetlinkError
    with _ipr() as ipr:
        idx = _index(ipr, name)
        if idx is not None:
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=idx)


def attach(host: str, netns: str, bridge: str, address: str, prefixlen: int, gateway: str) -> str:
    """A veth pair from BRIDGE (host end HOST) into NETNS, where it is the first free ethN, with
    ADDRESS; lo up; a default route via GATEWAY unless the namespace has one (the first network's
    gateway stays, as docker's); the MTU of the host's default route. The interface's name in
    NETNS. One netlink socket on each side. On failure nothing of it is left."""
    from pyroute2 import NetlinkError
    try:
        with _ns_ipr(netns) as ns:          # one socket in NETNS, before and after the veth
            taken = {l.get("IFLA_IFNAME") for l in ns.get_links()}
            ifname = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
            with _ipr() as ipr:
                br = _index(ipr, bridge)
                if br is None:
                    raise NetworkSetupError(f"bridge {bridge} does not exist in this network namespace")
                mtu = default_mtu(ipr)
                nsfd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    ipr.link("add", ifname=host, kind="veth", mtu=mtu,
                             peer={"ifname": ifname, "net_ns_fd": nsfd, "mtu": mtu})
                finally:
                    os.close(nsfd)
                ipr.link("set", index=_index(ipr, host), master=br, state="up")
            ns.link("set", index=_index(ns, "lo"), state="up")
            eth = _index(ns, ifname)
            ns.addr("add", index=eth, address=address, prefixlen=prefixlen)
            ns.link("set", index=eth, state="up")
            try:
                ns.route("add", dst="0.0.0.0/0", gateway=gateway)
            except NetlinkError as e:
                if e.code != errno.EEXIST:
                    raise
        return ifname
    except NetlinkError as e:
        detach(host)
        raise NetworkSetupError(f"cannot connect {host} to {bridge}: {e}") from None
    except BaseException:
        detach(host)
        raise


def loopback_up(netns: str) -> None:
    with _ns_ipr(netns) as ns:
        ns.link("set", index=_index(ns, "lo"), state="up")


def detach(host: str) -> None:
    """Delete the host veth end HOST (its peer goes with it); nothing when it is gone."""
    import socket
    try:
        socket.if_nametoindex(host)
    except OSError:
        return      # gone (the usual case of a second clean-up): no netlink, no pyroute2 import
    from pyroute2 import NetlinkError
    with _ipr() as ipr:
        idx = _index(ipr, host)
        if idx is not None:
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=idx)


def stray_endpoints() -> dict[str, str]:
    """Host ends of what may be pyrt veths in this namespace -> the name of their bridge ("" for
    none), for prune after a crash."""
    with _ipr() as ipr:
        links = ipr.get_links()
        names = {l["index"]: l.get("IFLA_IFNAME") for l in links}
        return {n: names.get(l.get("IFLA_MASTER"), "") for l in links
                if (n := l.get("IFLA_IFNAME")) and n.startswith("pyv") and len(n) == 15}

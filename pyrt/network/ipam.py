"""Address leases of one network: a file per address under <root>/networks/<name>/leases/,
holding the owner's id, allocated and released under the network's flock (so two containers
made at once never get one address, and a crash leaves a lease that prune can find by owner)."""
from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os

from pyrt.errors import Conflict, InvalidArgument


@contextlib.contextmanager
def locked(netdir: str):
    fd = os.open(os.path.join(netdir, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _dir(netdir: str) -> str:
    return os.path.join(netdir, "leases")


def leases(netdir: str) -> dict[str, str]:
    """address -> owner id."""
    out = {}
    try:
        names = os.listdir(_dir(netdir))
    except FileNotFoundError:
        return out
    for a in names:
        with contextlib.suppress(OSError):
            with open(os.path.join(_dir(netdir), a)) as f:
                out[a] = f.read().strip()
    return out


def allocate(netdir: str, subnet: str, gateway: str, owner: str, want: str = "") -> str:
    """An address of SUBNET for OWNER (WANT if given); the same one if OWNER holds one already."""
    net = ipaddress.ip_network(subnet)
    gw = ipaddress.ip_address(gateway)
    d = _dir(netdir)
    os.makedirs(d, mode=0o700, exist_ok=True)
    with locked(netdir):
        held = leases(netdir)
        for a, o in held.items():
            if o == owner:
                return a
        if want:
            try:
                ip = ipaddress.ip_address(want)
            except ValueError:
                raise InvalidArgument(f"invalid IP address {want!r}") from None
            if ip not in net or ip in (net.network_address, net.broadcast_address, gw):
                raise InvalidArgument(f"--ip {want} is not a usable address of subnet {subnet}")
            if str(ip) in held:
                raise Conflict(f"address {want} is already in use on this network")
            choice = str(ip)
        else:
            choice = ""
            for ip in net.hosts():
                if ip != gw and str(ip) not in held:
                    choice = str(ip)
                    break
            if not choice:
                raise Conflict(f"no free address left in subnet {subnet}",
                               "remove containers from the network or use a larger subnet")
        tmp = os.path.join(netdir, f".lease-{owner}")
        with open(tmp, "w") as f:
            f.write(owner)
        os.replace(tmp, os.path.join(d, choice))
        return choice


def release(netdir: str, owner: str) -> None:
    with locked(netdir):
        for a, o in leases(netdir).items():
            if o == owner:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(_dir(netdir), a))

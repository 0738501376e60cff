"""Bringing up the loopback interface of a fresh network namespace (runc does this too), with
one ioctl: pyroute2 stays the network package's own tool."""
from __future__ import annotations

import fcntl
import struct

# _socket, not socket: socket.py's enum conversions cost ~5 ms in the container's init
import _socket

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def link_up(name: str = "lo") -> None:
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sh22x", name.encode(), 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh22x", name.encode(), flags | IFF_UP))
    finally:
        s.close()

"""A container's /etc/resolv.conf, made from the host's as docker makes it (no embedded DNS).

A container in its own network namespace cannot reach the host's loopback, so nameservers on it
(127.0.0.0/8, ::1: systemd-resolved's 127.0.0.53, a local dnsmasq) are dropped, and so are IPv6
ones (pyrt networks are IPv4 only, as docker's without --ipv6). When none is left, docker's
defaults are used: Google's public resolvers 8.8.8.8 and 8.8.4.4. A host whose only resolver is
systemd-resolved's stub has its upstream servers in /run/systemd/resolve/resolv.conf: that file is
read instead (docker does the same). `--network host` shares the host's stack: its file unchanged.
--dns, --dns-search, --dns-option replace the host's nameservers, search domains, options.
"""
from __future__ import annotations

import ipaddress

from pyrt.errors import InvalidArgument

HOST_FILE = "/etc/resolv.conf"
RESOLVED_FILE = "/run/systemd/resolve/resolv.conf"
RESOLVED_STUB = "127.0.0.53"
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _entries(text: str, key: str) -> list[str]:
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) >= 2 and words[0] == key:
            out += words[1:] if key != "nameserver" else words[1:2]
    return out


def _usable(ns: str) -> bool:
    try:
        ip = ipaddress.ip_address(ns.split("%", 1)[0])
    except ValueError:
        return False
    return ip.version == 4 and not ip.is_loopback


def host_text(host_network: bool = False) -> str:
    """The host's resolv.conf, or (not for the host's own network) systemd-resolved's upstream
    file when its stub is all the host's lists."""
    text = _read(HOST_FILE)
    if not host_network and _entries(text, "nameserver") == [RESOLVED_STUB]:
        upstream = _read(RESOLVED_FILE)
        if upstream:
            return upstream
    return text


def render(text: str, host_network: bool = False, dns=(), search=(), options=()) -> str:
    """The container's file from the host's TEXT."""
    if host_network and not (dns or search or options):
        return text
    if not (dns or search or options):
        kept = []
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["nameserver"] and not (len(words) > 1 and _usable(words[1])):
                continue
            kept.append(line)
        out = "\n".join(kept) + ("\n" if kept else "")
        if not any(_usable(n) for n in _entries(out, "nameserver")):
            out += "".join(f"nameserver {n}\n" for n in DEFAULT_NAMESERVERS)
        return out
    servers = list(dns) or [n for n in _entries(text, "nameserver") if _usable(n)] or list(DEFAULT_NAMESERVERS)
    domains = [] if list(search) == ["."] else (list(search) or _entries(text, "search"))
    opts = list(options) or _entries(text, "options")
    lines = ([f"search {' '.join(domains)}"] if domains else []) + [f"nameserver {n}" for n in servers] \
        + ([f"options {' '.join(opts)}"] if opts else [])
    return "\n".join(lines) + "\n"


def check(dns=(), search=(), options=()) -> None:
    """--dns must be IP addresses; search domains and options single words (docker's checks)."""
    for n in dns:
        try:
            ipaddress.ip_address(n)
        except ValueError:
            raise InvalidArgument(f"invalid --dns {n!r}: it must be an IP address") from None
    for s in search:
        if s != "." and (not s or len(s) > 255 or s.startswith(("-", ".")) or any(c.isspace() for c in s)):
            raise InvalidArgument(f"invalid --dns-search {s!r}: it must be a domain name")
    for o in options:
        if not o or any(c.isspace() for c in o):
            raise InvalidArgument(f"invalid --dns-option {o!r}: it must be one word such as ndots:2")

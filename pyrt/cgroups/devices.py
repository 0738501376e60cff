"""Device access rules for the devices cgroup.

runc appends a fixed list of always-allowed devices after the config's own rules (its
AllowedDevices); we do the same, so a config that denies everything still has /dev/null & co.
"""
from __future__ import annotations

from pyrt.spec.resources import DeviceRule

# (type, major, minor, access) - None is "*".  Facts from runc's default device list.
_ALWAYS_ALLOWED = (
    ("c", None, None, "m"),
    ("b", None, None, "m"),
    ("c", 1, 3, "rwm"),      # /dev/null
    ("c", 1, 8, "rwm"),      # /dev/random
    ("c", 1, 7, "rwm"),      # /dev/full
    ("c", 5, 0, "rwm"),      # /dev/tty
    ("c", 1, 5, "rwm"),      # /dev/zero
    ("c", 1, 9, "rwm"),      # /dev/urandom
    ("c", 136, None, "rwm"),  # /dev/pts/*
    ("c", 5, 2, "rwm"),      # /dev/ptmx
    ("c", 10, 200, "rwm"),   # /dev/net/tun
)


def default_rules() -> tuple[DeviceRule, ...]:
    return tuple(DeviceRule(True, t, ma, mi, acc) for t, ma, mi, acc in _ALWAYS_ALLOWED)


def effective_rules(rules: tuple[DeviceRule, ...]) -> tuple[DeviceRule, ...]:
    """The config's rules followed by the always-allowed ones (nothing if the config has none)."""
    return tuple(rules) + default_rules() if rules else ()


def v1_line(rule: DeviceRule) -> str:
    """A line for devices.allow / devices.deny: 'c 1:3 rwm', 'a' for all devices."""
    if rule.type == "a":
        return "a"
    num = lambda n: "*" if n is None else str(n)  # noqa: E731
    return f"{rule.type} {num(rule.major)}:{num(rule.minor)} {rule.access}"

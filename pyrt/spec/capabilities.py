"""process.capabilities of config.json as a typed, validated model.

The name<->number table is the kernel's (include/uapi/linux/capability.h); it
lives here, as pure data, so that validation needs no syscall. Names the table
does not know are a ConfigError. Known names the running kernel lacks (above
/proc/sys/kernel/cap_last_cap) are accepted here and skipped when applied, as
runc does.
"""
from __future__ import annotations

from pyrt.errors import ConfigError
from pyrt.spec import fields
from pyrt.record import Record

# Index = capability number.
CAP_NAMES: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(CAP_NAMES)}

SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def cap_number(name: str, at: str = "") -> int:
    """CAP_X -> its number; ConfigError (prefixed with the JSON path AT) for a name the kernel never
    had. Exact spelling, as runc; runc only warns about such a name, issue 2 asks for an error."""
    try:
        return CAP_NUMBERS[name]
    except KeyError:
        raise ConfigError(f"{at + ': ' if at else ''}unknown capability {name!r}",
                          hint="names are the kernel's, e.g. CAP_NET_ADMIN") from None


class Capabilities(Record):
    """The five capability sets as frozensets of numbers."""

    bounding: frozenset[int] = frozenset()
    effective: frozenset[int] = frozenset()
    inheritable: frozenset[int] = frozenset()
    permitted: frozenset[int] = frozenset()
    ambient: frozenset[int] = frozenset()

    @classmethod
    def from_dict(cls, d: dict | None, path: str = "process.capabilities") -> "Capabilities":
        """Unknown keys are ignored and null reads as empty, as runc decodes the object."""
        d = fields.obj(d, path)
        return cls(**{s: frozenset(cap_number(n, fields.where(path, s)) for n in fields.strings(d, s, path))
                      for s in SETS})

    def names(self, which: str) -> list[str]:
        """One set as sorted kernel names (for `features`, messages and tests)."""
        return [CAP_NAMES[n] for n in sorted(getattr(self, which))]

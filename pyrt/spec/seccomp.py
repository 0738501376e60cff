"""linux.seccomp of config.json as a typed, validated model.

Only the vocabulary is checked here (actions, operators, architectures, flags:
the runtime-spec's names); whether a syscall name exists is decided when the
filter is built, where unknown names are skipped the way runc skips them
(profiles list syscalls of newer kernels and other architectures).
"""
from __future__ import annotations


from pyrt.errors import ConfigError
from pyrt.spec.record import Record

ACTIONS = (
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
)
OPERATORS = (
    "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
    "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
)
ARCHES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
)
# The filter flags libseccomp 2.5 can set (WAIT_KILLABLE_RECV needs 2.6).
FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")

# Actions whose filter return value carries an errno (EPERM when errnoRet is absent, as runc).
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
_U64 = (1 << 64) - 1


def _check_in(value, allowed, what: str) -> str:
    if value not in allowed:
        raise ConfigError(f"linux.seccomp: unknown {what} {value!r}")
    return value


def _uint(value, what: str, limit: int = _U64) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ConfigError(f"linux.seccomp: {what} must be an integer in 0..{limit}, not {value!r}")
    return value


def _errno_ret(d: dict, key: str, where: str) -> int | None:
    v = d.get(key)
    return None if v is None else _uint(v, f"{where}.{key}", 0xFFFF)


class Arg(Record):
    index: int
    value: int
    value_two: int
    op: str

    @classmethod
    def from_dict(cls, d: dict) -> "Arg":
        if not isinstance(d, dict):
            raise ConfigError("linux.seccomp: each syscall arg must be an object")
        return cls(
            index=_uint(d.get("index"), "arg index", 5),
            value=_uint(d.get("value", 0), "arg value"),
            value_two=_uint(d.get("valueTwo", 0), "arg valueTwo"),
            op=_check_in(d.get("op"), OPERATORS, "operator"),
        )


class Syscall(Record):
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[Arg, ...] = ()

    @classmethod
    def from_dict(cls, d: dict) -> "Syscall":
        if not isinstance(d, dict):
            raise ConfigError("linux.seccomp.syscalls entries must be objects")
        names = d.get("names")
        if not names or not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError("linux.seccomp: a syscalls entry needs a non-empty list of names")
        return cls(
            names=tuple(names),
            action=_check_in(d.get("action"), ACTIONS, "action"),
            errno_ret=_errno_ret(d, "errnoRet", "syscalls"),
            args=tuple(Arg.from_dict(a) for a in d.get("args") or ()),
        )


class Seccomp(Record):
    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    syscalls: tuple[Syscall, ...] = ()
    listener_path: str | None = None
    listener_metadata: str | None = None

    @classmethod
    def from_dict(cls, d: dict | None) -> "Seccomp | None":
        if d is None:
            return None
        if not isinstance(d, dict):
            raise ConfigError("linux.seccomp must be an object")
        if "defaultAction" not in d:
            raise ConfigError("linux.seccomp: defaultAction is required")
        default = _check_in(d["defaultAction"], ACTIONS, "action")
        if default == "SCMP_ACT_NOTIFY":
            raise ConfigError("linux.seccomp: SCMP_ACT_NOTIFY cannot be the default action")
        syscalls = tuple(Syscall.from_dict(s) for s in d.get("syscalls") or ())
        listener = d.get("listenerPath") or None
        if any(s.action == "SCMP_ACT_NOTIFY" for s in syscalls):
            if listener is None:
                raise ConfigError("linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath")
            # Refused here, before anything is set up, rather than by the init.
            raise ConfigError("linux.seccomp: SCMP_ACT_NOTIFY is not supported by pyrt yet",
                              hint="`pyrt-runc features` lists the supported actions")
        return cls(
            default_action=default,
            default_errno_ret=_errno_ret(d, "defaultErrnoRet", "seccomp"),
            architectures=tuple(_check_in(a, ARCHES, "architecture") for a in d.get("architectures") or ()),
            flags=tuple(_check_in(f, FLAGS, "flag") for f in d.get("flags") or ()),
            syscalls=syscalls,
            listener_path=listener,
            listener_metadata=d.get("listenerMetadata") or None,
        )

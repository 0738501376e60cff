"""linux.seccomp of config.json as a typed, validated model.

Only the vocabulary is checked here (actions, operators, architectures, flags:
the runtime-spec's names); whether a syscall name exists is decided when the
filter is built, where unknown names are skipped the way runc skips them
(profiles list syscalls of newer kernels and other architectures).
"""
from __future__ import annotations

from pyrt.errors import ConfigError
from pyrt.spec import fields
from pyrt.record import Record

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
_ERRNO_MAX = 0xFFFF  # the 16-bit data of SECCOMP_RET_ERRNO


class Arg(Record):
    index: int
    value: int
    value_two: int
    op: str

    @classmethod
    def from_dict(cls, d: dict, path: str) -> "Arg":
        d = fields.obj(d, path)
        # An absent index or value is 0, as Go decodes them in runc; op has no default.
        return cls(
            index=fields.integer(d, "index", path, 0, 5, default=0),
            value=fields.integer(d, "value", path, 0, _U64, default=0),
            value_two=fields.integer(d, "valueTwo", path, 0, _U64, default=0),
            op=fields.choice(d, "op", path, OPERATORS, "operator"),
        )


class Syscall(Record):
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[Arg, ...] = ()

    @classmethod
    def from_dict(cls, d: dict, path: str) -> "Syscall":
        d = fields.obj(d, path)
        # No names at all is a rule for no syscall (runc accepts it); an empty name is refused.
        names = fields.strings(d, "names", path)
        if "" in names:
            raise ConfigError(f"{path}.names[{names.index('')}]: an empty string is not a syscall name")
        return cls(
            names=names,
            action=fields.choice(d, "action", path, ACTIONS, "action"),
            errno_ret=fields.integer(d, "errnoRet", path, 0, _ERRNO_MAX),
            args=tuple(Arg.from_dict(a, w) for w, a in fields.entries(d, "args", path)),
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
    def from_dict(cls, d: dict | None, path: str = "linux.seccomp") -> "Seccomp | None":
        """None when there is no seccomp to set up: no object, or (as runc) neither a default
        action nor rules, whatever else is there; JSON types are checked first all the same."""
        if d is None:
            return None
        d = fields.obj(d, path)
        default = fields.string(d, "defaultAction", path, "")
        rules = fields.array(d, "syscalls", path)
        for key in ("architectures", "flags"):
            fields.strings(d, key, path)
        listener = fields.string(d, "listenerPath", path) or None
        metadata = fields.string(d, "listenerMetadata", path) or None
        default_errno = fields.integer(d, "defaultErrnoRet", path, 0, _ERRNO_MAX)
        if not default and not rules:
            return None
        default = fields.choice(d, "defaultAction", path, ACTIONS, "action")
        if default == "SCMP_ACT_NOTIFY":
            raise ConfigError(f"{path}.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")
        syscalls = tuple(Syscall.from_dict(s, w) for w, s in fields.entries(d, "syscalls", path))
        if any(s.action == "SCMP_ACT_NOTIFY" for s in syscalls):
            if listener is None:
                raise ConfigError(f"{path}: SCMP_ACT_NOTIFY needs listenerPath")
            # Refused here, before anything is set up, rather than by the init.
            raise ConfigError(f"{path}: SCMP_ACT_NOTIFY is not supported by pyrt yet",
                              hint="`pyrt-runc features` lists the supported actions")
        return cls(
            default_action=default,
            default_errno_ret=default_errno,
            architectures=fields.choices(d, "architectures", path, ARCHES, "architecture"),
            flags=fields.choices(d, "flags", path, FLAGS, "flag"),
            syscalls=syscalls,
            listener_path=listener,
            listener_metadata=metadata,
        )

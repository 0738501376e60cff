"""Build and load a seccomp filter from the Seccomp model, through libseccomp.

Behaviour follows runc's (libcontainer/seccomp):
- SCMP_ACT_ERRNO and SCMP_ACT_TRACE return errnoRet, EPERM when absent;
- a rule whose action equals the default action is skipped (it could not change anything);
- syscall names libseccomp cannot resolve are skipped (profiles carry names of other
  kernels and architectures);
- args with distinct indexes form one rule (all must match); when an index repeats,
  each arg becomes a rule of its own (libseccomp cannot AND two tests of one argument);
- NO_NEW_PRIVS is NOT set by the filter: process.noNewPrivileges decides that.

Where the caller loads it: without noNewPrivileges, loading needs CAP_SYS_ADMIN, so
load() must come before capabilities are dropped (runc does it there); with
noNewPrivileges, set no_new_privs first and load() as the last step before execve.
SCMP_ACT_NOTIFY is refused (no listener support yet).
"""
from __future__ import annotations

import os

from pyrt._cext import ffi, lib
from pyrt.spec import seccomp as spec

_SIMPLE_ACTIONS = {
    "SCMP_ACT_KILL": lib.SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": lib.SCMP_ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": lib.SCMP_ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": lib.SCMP_ACT_TRAP,
    "SCMP_ACT_ALLOW": lib.SCMP_ACT_ALLOW,
    "SCMP_ACT_LOG": lib.SCMP_ACT_LOG,
    "SCMP_ACT_NOTIFY": lib.SCMP_ACT_NOTIFY,
}
_OPS = {name: getattr(lib, name) for name in spec.OPERATORS}
_FLAG_ATTRS = {
    "SECCOMP_FILTER_FLAG_TSYNC": lib.SCMP_FLTATR_CTL_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": lib.SCMP_FLTATR_CTL_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": lib.SCMP_FLTATR_CTL_SSB,
}
_EPERM = 1


def _check(rc: int, what: str) -> int:
    # libseccomp returns -errno rather than setting errno.
    if rc < 0:
        raise OSError(-rc, f"seccomp: {what}: {os.strerror(-rc)}")
    return rc


def action_value(action: str, errno_ret: int | None) -> int:
    if action == "SCMP_ACT_ERRNO":
        return lib.pyrt_scmp_act_errno(_EPERM if errno_ret is None else errno_ret)
    if action == "SCMP_ACT_TRACE":
        return lib.pyrt_scmp_act_trace(_EPERM if errno_ret is None else errno_ret)
    return _SIMPLE_ACTIONS[action]


def arch_token(name: str) -> int:
    """SCMP_ARCH_X86_64 -> libseccomp's token for it."""
    token = lib.seccomp_arch_resolve_name(name.removeprefix("SCMP_ARCH_").lower().encode())
    if token == 0:
        raise OSError(22, f"seccomp: architecture {name} unknown to libseccomp")
    return token


def syscall_number(name: str) -> int | None:
    """The native number of NAME, or None when libseccomp does not know it."""
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    return None if nr == lib.__NR_SCMP_ERROR else nr


def _conditions(args: tuple[spec.Arg, ...]) -> list[list[spec.Arg]]:
    if len({a.index for a in args}) == len(args):
        return [list(args)]
    return [[a] for a in args]


def _add_rule(ctx, action: int, nr: int, args: list[spec.Arg], name: str) -> None:
    cmp = ffi.new("struct scmp_arg_cmp[]", max(len(args), 1))
    for i, a in enumerate(args):
        cmp[i].arg = a.index
        cmp[i].op = _OPS[a.op]
        cmp[i].datum_a = a.value
        cmp[i].datum_b = a.value_two
    _check(lib.seccomp_rule_add_array(ctx, action, nr, len(args), cmp), f"rule for {name}")


def build(sc: spec.Seccomp):
    """A libseccomp filter context for SC (release it with lib.seccomp_release)."""
    if any(s.action == "SCMP_ACT_NOTIFY" for s in sc.syscalls):
        raise OSError(95, "seccomp: SCMP_ACT_NOTIFY is not supported")
    default = action_value(sc.default_action, sc.default_errno_ret)
    ctx = lib.seccomp_init(default)
    if ctx == ffi.NULL:
        raise OSError(22, f"seccomp: cannot initialise a filter with default {sc.default_action}")
    try:
        for arch in sc.architectures:
            rc = lib.seccomp_arch_add(ctx, arch_token(arch))
            if rc != -17:  # EEXIST: the native arch is always in
                _check(rc, f"add architecture {arch}")
        _check(lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_NNP, 0), "clear NO_NEW_PRIVS")
        for flag in sc.flags:
            _check(lib.seccomp_attr_set(ctx, _FLAG_ATTRS[flag], 1), flag)
        for call in sc.syscalls:
            action = action_value(call.action, call.errno_ret)
            if action == default:
                continue
            for name in call.names:
                nr = syscall_number(name)
                if nr is None:
                    continue
                for conds in _conditions(call.args):
                    _add_rule(ctx, action, nr, conds, name)
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return ctx


def load(sc: spec.Seccomp) -> None:
    """Install SC's filter on the calling process (see the module docstring for when)."""
    ctx = build(sc)
    try:
        _check(lib.seccomp_load(ctx), "load")
    finally:
        lib.seccomp_release(ctx)


def features() -> dict:
    """linux.seccomp of the runtime-spec features document."""
    return {
        "enabled": True,
        "actions": list(spec.ACTIONS[:-1]),  # NOTIFY: not supported yet
        "operators": list(spec.OPERATORS),
        "archs": list(spec.ARCHES),
        "knownFlags": list(spec.FLAGS),
        "supportedFlags": list(spec.FLAGS),
    }

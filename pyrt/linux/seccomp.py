"""Build and load a seccomp filter from the Seccomp model, through libseccomp.

Behaviour follows runc's (libcontainer/seccomp):
- SCMP_ACT_ERRNO and SCMP_ACT_TRACE return errnoRet, EPERM when absent;
- a rule whose action equals the default action is skipped (it could not change anything);
- syscall names libseccomp cannot resolve are skipped (profiles carry names of other
  kernels and architectures);
- args with distinct indexes form one rule (all must match); when an index repeats,
  each arg becomes a rule of its own (libseccomp cannot AND two tests of one argument);
- NO_NEW_PRIVS is NOT set by the filter: process.noNewPrivileges decides that;
- unless the default action lets calls through (ALLOW, LOG, TRACE) or defaultErrnoRet is
  ENOSYS already, syscalls numbered above the largest one the profile names (per
  architecture) get ENOSYS, so that programs fall back from syscalls newer than the profile
  (runc's "-ENOSYS stub"; cext/seccomp.c puts it in front of libseccomp's program).

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
_ENOSYS = 38
_PERMISSIVE = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")
_FLAG_BITS = {
    "SECCOMP_FILTER_FLAG_TSYNC": lib.SECCOMP_FILTER_FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": lib.SECCOMP_FILTER_FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": lib.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
}
_NO_LIMIT = 0xFFFFFFFF


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


def enosys_limits(sc: spec.Seccomp) -> list[tuple[int, int, int | None]] | None:
    """For the -ENOSYS stub: [(audit arch, last syscall, last x32 syscall or None)], or None
    when no stub is wanted. libseccomp's arch tokens are the kernel's AUDIT_ARCH values,
    except x32, which the kernel sees as x86_64 calls with bit 30 set."""
    if sc.default_action in _PERMISSIVE or sc.default_errno_ret == _ENOSYS:
        return None
    x86_64, x32 = arch_token("SCMP_ARCH_X86_64"), arch_token("SCMP_ARCH_X32")
    tokens = [lib.seccomp_arch_native()] + [arch_token(a) for a in sc.architectures]
    names = {n for call in sc.syscalls for n in call.names}
    last: dict[int, int] = {}
    last_x32: dict[int, int] = {}
    for token in dict.fromkeys(tokens):
        audit = x86_64 if token == x32 else token
        numbers = [nr for nr in (lib.seccomp_syscall_resolve_name_arch(token, n.encode()) for n in names) if nr >= 0]
        if numbers:
            target = last_x32 if token == x32 else last
            target[audit] = max(numbers)
    return [(audit, last.get(audit, _NO_LIMIT), last_x32.get(audit)) for audit in dict.fromkeys([*last, *last_x32])]


def load(sc: spec.Seccomp) -> None:
    """Install SC's filter on the calling process (see the module docstring for when)."""
    ctx = build(sc)
    try:
        limits = enosys_limits(sc)
        if not limits:
            _check(lib.seccomp_load(ctx), "load")
            return
        arches = ffi.new("struct pyrt_enosys[]", len(limits))
        for i, (audit, last, last_x32) in enumerate(limits):
            arches[i].audit_arch = audit
            arches[i].last = last
            arches[i].last_x32 = _NO_LIMIT if last_x32 is None else last_x32
            arches[i].has_x32 = last_x32 is not None
        flags = 0
        for f in sc.flags:
            flags |= _FLAG_BITS[f]
        _check(lib.pyrt_seccomp_load_enosys(ctx, arches, len(limits), flags), "load")
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

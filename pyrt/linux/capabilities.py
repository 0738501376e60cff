"""Capability sets of the calling thread: bounding, effective, permitted, inheritable, ambient.

python-prctl falls short for a runtime (it has no ambient set and no names
beyond its own table, e.g. CAP_CHECKPOINT_RESTORE), so the sets go through
capget/capset and prctl in cext/capability.c.

Where the container's init calls these, in order (runc's order):

    keep_caps(True)              # before setgroups/setgid/setuid: keep the permitted set
    setgroups / setgid / setuid  # (the caller's)
    apply(caps)                  # drops bounding, sets E/P/I, raises ambient, clears keep-caps

apply() needs CAP_SETPCAP in the permitted set on entry (true for root, and
for any uid when keep_caps(True) preceded the uid switch and the parent had
it); it raises the effective set to the permitted one first, because a uid
switch away from 0 empties the effective set even with keep-caps.
"""
from __future__ import annotations


from pyrt._cext import ffi, lib
from pyrt.linux.syscalls import check
from pyrt.spec.capabilities import CAP_NAMES, CAP_NUMBERS, Capabilities

__all__ = ["CAP_NAMES", "CAP_NUMBERS", "last_cap", "apply", "keep_caps", "get_sets",
           "bounding_set", "ambient_set", "set_no_new_privs", "no_new_privs", "prctl"]

_last_cap: int | None = None


def last_cap() -> int:
    """The highest capability number the running kernel knows. Asked of the kernel itself
    (PR_CAPBSET_READ fails past the last one), never of /proc/sys/kernel/cap_last_cap: inside
    the container /proc may be a fake whose small number would leave capabilities undropped."""
    global _last_cap
    if _last_cap is None:
        n = 0
        while _prctl_raw(lib.PR_CAPBSET_READ, n + 1) >= 0:
            n += 1
        _last_cap = n
    return _last_cap


def _prctl_raw(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return lib.pyrt_prctl(option, a2, a3, a4, a5)


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0, what: str = "prctl") -> int:
    return check(_prctl_raw(option, a2, a3, a4, a5), what)


def _mask(numbers) -> int:
    m = 0
    for n in numbers:
        m |= 1 << n
    return m


def _numbers(mask: int) -> frozenset[int]:
    return frozenset(n for n in range(64) if mask >> n & 1)


def get_sets() -> dict[str, frozenset[int]]:
    """The calling thread's five sets (what /proc/self/status shows as Cap*)."""
    buf = ffi.new("uint64_t[3]")
    check(lib.pyrt_capget(buf), "capget")
    return {"effective": _numbers(buf[0]), "permitted": _numbers(buf[1]),
            "inheritable": _numbers(buf[2]), "bounding": bounding_set(), "ambient": ambient_set()}


def bounding_set() -> frozenset[int]:
    return frozenset(n for n in range(last_cap() + 1) if _prctl_raw(lib.PR_CAPBSET_READ, n) == 1)


def ambient_set() -> frozenset[int]:
    return frozenset(n for n in range(last_cap() + 1)
                     if _prctl_raw(lib.PR_CAP_AMBIENT, lib.PR_CAP_AMBIENT_IS_SET, n) == 1)


def _capset(effective: int, permitted: int, inheritable: int) -> None:
    buf = ffi.new("uint64_t[3]", [effective, permitted, inheritable])
    check(lib.pyrt_capset(buf), "capset")


def keep_caps(on: bool) -> None:
    """PR_SET_KEEPCAPS: keep the permitted set across the setuid away from 0."""
    prctl(lib.PR_SET_KEEPCAPS, 1 if on else 0, what="prctl(PR_SET_KEEPCAPS)")


def set_no_new_privs() -> None:
    prctl(lib.PR_SET_NO_NEW_PRIVS, 1, what="prctl(PR_SET_NO_NEW_PRIVS)")


def no_new_privs() -> bool:
    return prctl(lib.PR_GET_NO_NEW_PRIVS, what="prctl(PR_GET_NO_NEW_PRIVS)") == 1


def apply(caps: Capabilities) -> None:
    """Make the calling thread's sets exactly CAPS (see the module docstring for the
    caller's duties). Capabilities above last_cap() are skipped, as runc does."""
    known = _mask(range(last_cap() + 1))
    cur = ffi.new("uint64_t[3]")
    check(lib.pyrt_capget(cur), "capget")
    # Effective := permitted, so CAP_SETPCAP is usable for the bounding drop and
    # for growing the inheritable set, whatever setuid did to the effective set.
    _capset(cur[1], cur[1], cur[2])
    keep = _mask(caps.bounding) & known
    for n in range(last_cap() + 1):
        if not keep >> n & 1 and _prctl_raw(lib.PR_CAPBSET_READ, n) == 1:
            prctl(lib.PR_CAPBSET_DROP, n, what=f"prctl(PR_CAPBSET_DROP, {CAP_NAMES[n]})")
    # Inheritable first with the wide effective set (raising it needs CAP_SETPCAP),
    # then the final effective/permitted.
    _capset(cur[1], cur[1], _mask(caps.inheritable) & known)
    _capset(_mask(caps.effective) & known, _mask(caps.permitted) & known, _mask(caps.inheritable) & known)
    # Ambient last: a cap may be raised only while it is in both permitted and
    # inheritable; runc only warns about the others, so they are skipped here too.
    prctl(lib.PR_CAP_AMBIENT, lib.PR_CAP_AMBIENT_CLEAR_ALL, what="prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    for n in sorted(caps.ambient & caps.permitted & caps.inheritable):
        if n <= last_cap():
            prctl(lib.PR_CAP_AMBIENT, lib.PR_CAP_AMBIENT_RAISE, n,
                  what=f"prctl(PR_CAP_AMBIENT_RAISE, {CAP_NAMES[n]})")
    keep_caps(False)

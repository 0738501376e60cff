"""mount(2) flags by name, and what each config.json mount option does with them.

Plain numbers from <linux/mount.h> (the same on every architecture), so parsing a config.json
never loads the C extension; runc keeps such a table in its configs package, crun generates one.
tests/unit/spec/test_mountflags.py checks every value against the one the compiler gives
pyrt.linux.syscalls.MS, which the syscalls themselves use.
"""
from __future__ import annotations

MS = {
    "MS_RDONLY": 0x1, "MS_NOSUID": 0x2, "MS_NODEV": 0x4, "MS_NOEXEC": 0x8,
    "MS_SYNCHRONOUS": 0x10, "MS_REMOUNT": 0x20, "MS_MANDLOCK": 0x40, "MS_DIRSYNC": 0x80,
    "MS_NOATIME": 0x400, "MS_NODIRATIME": 0x800, "MS_BIND": 0x1000, "MS_MOVE": 0x2000,
    "MS_REC": 0x4000, "MS_SILENT": 0x8000, "MS_POSIXACL": 0x10000, "MS_UNBINDABLE": 0x20000,
    "MS_PRIVATE": 0x40000, "MS_SLAVE": 0x80000, "MS_SHARED": 0x100000, "MS_RELATIME": 0x200000,
    "MS_STRICTATIME": 0x1000000, "MS_LAZYTIME": 0x2000000,
}
MS_BIND, MS_REC = MS["MS_BIND"], MS["MS_REC"]


def _bits(*names: str) -> int:
    b = 0
    for n in names:
        b |= MS[n]
    return b


# Options that set or clear flags: option -> (clear?, bits). Facts from mount(8) and runc.
FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    "async": (True, _bits("MS_SYNCHRONOUS")), "atime": (True, _bits("MS_NOATIME")),
    "bind": (False, MS_BIND), "defaults": (False, 0), "dev": (True, _bits("MS_NODEV")),
    "diratime": (True, _bits("MS_NODIRATIME")), "dirsync": (False, _bits("MS_DIRSYNC")),
    "exec": (True, _bits("MS_NOEXEC")), "lazytime": (False, _bits("MS_LAZYTIME")),
    "loud": (True, _bits("MS_SILENT")), "mand": (False, _bits("MS_MANDLOCK")),
    "noatime": (False, _bits("MS_NOATIME")), "nodev": (False, _bits("MS_NODEV")),
    "nodiratime": (False, _bits("MS_NODIRATIME")), "noexec": (False, _bits("MS_NOEXEC")),
    "nolazytime": (True, _bits("MS_LAZYTIME")), "nomand": (True, _bits("MS_MANDLOCK")),
    "norelatime": (True, _bits("MS_RELATIME")), "nostrictatime": (True, _bits("MS_STRICTATIME")),
    "nosuid": (False, _bits("MS_NOSUID")), "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, _bits("MS_RELATIME")), "remount": (False, _bits("MS_REMOUNT")),
    "ro": (False, _bits("MS_RDONLY")), "rw": (True, _bits("MS_RDONLY")),
    "silent": (False, _bits("MS_SILENT")), "strictatime": (False, _bits("MS_STRICTATIME")),
    "suid": (True, _bits("MS_NOSUID")), "sync": (False, _bits("MS_SYNCHRONOUS")),
}
# Propagation options: option -> bits for one mount(2) call of their own.
PROPAGATION_OPTIONS: dict[str, int] = {
    "private": _bits("MS_PRIVATE"), "rprivate": _bits("MS_PRIVATE") | MS_REC,
    "shared": _bits("MS_SHARED"), "rshared": _bits("MS_SHARED") | MS_REC,
    "slave": _bits("MS_SLAVE"), "rslave": _bits("MS_SLAVE") | MS_REC,
    "unbindable": _bits("MS_UNBINDABLE"), "runbindable": _bits("MS_UNBINDABLE") | MS_REC,
}
# runc-specific extensions that change how a mount is made rather than mount(2) flags.
EXTENSION_OPTIONS = ("tmpcopyup",)
# Every option config.json may name that is not filesystem data (the features document lists them).
OPTIONS = (*FLAG_OPTIONS, *PROPAGATION_OPTIONS, *EXTENSION_OPTIONS)

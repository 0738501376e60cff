"""Does a process stand exactly where we stand? For pyrt-runc's resident helper, which runs a verb
for the client on the other end of a unix socket: the verb must do nothing the client could not
have done itself, so the client must share every namespace, the root directory, the credentials
and (at least) the privileges of the helper. Anything short of that: the client runs the verb
itself (differs() names the first difference, for --debug). /proc/PID is the client's only while
the client lives: pidfd() and alive() tell."""
from __future__ import annotations

import errno
import os
import socket
import struct

NAMESPACES = ("mnt", "pid", "net", "user", "ipc", "uts", "cgroup", "time")
# /proc/PID/status lines that must read the same: ids (real, effective, saved, filesystem) and
# what confines a process beyond its capabilities. Seccomp_filters (Linux 5.9), the number of
# filters: a helper under a filter of its own (a hardened service) sees a client that stacked one
# more on it; the same number need not be the same filters, which /proc does not show.
SAME_STATUS = ("Uid", "Gid", "Groups", "NoNewPrivs", "Seccomp", "Seccomp_filters")
# capability sets the client must hold at least the helper's bits of
CAP_SETS = ("CapPrm", "CapEff", "CapBnd")


def credentials(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process that connected CONN, as the kernel recorded them."""
    return struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))


SO_PEERPIDFD = getattr(socket, "SO_PEERPIDFD", 77)     # Linux 6.5


def pidfd(conn: socket.socket, pid: int, accepted: float) -> int:
    """A pidfd of the process that connected CONN, PID: what /proc/PID says is that process's
    only while this pidfd's process lives (a pid is reused once its process is gone: a client
    could connect, hand its connection on, exit, and let a privileged process take its pid before
    the request is sent). The kernel's own (SO_PEERPIDFD); before Linux 6.5, pidfd_open(PID) when
    the process at PID started before the connection was accepted (ACCEPTED: CLOCK_BOOTTIME
    seconds), as the client had. OSError (ESRCH): the client is gone."""
    try:
        return struct.unpack("i", conn.getsockopt(socket.SOL_SOCKET, SO_PEERPIDFD, 4))[0]
    except OSError as e:
        if e.errno not in (errno.ENOPROTOOPT, errno.EINVAL):
            raise
    fd = os.pidfd_open(pid)
    try:
        with open(f"/proc/{pid}/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19])     # clock ticks since boot
        if started > accepted * os.sysconf("SC_CLK_TCK"):
            raise ProcessLookupError(errno.ESRCH, f"pid {pid} is another process's since")
    except BaseException:
        os.close(fd)
        raise
    return fd


def alive(fd: int) -> bool:
    """The pidfd's process has not exited (a pidfd turns readable when it does)."""
    import select
    return not select.select([fd], [], [], 0)[0]


def _ident(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _status(pid: int | str) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _label(pid: int | str) -> str:
    """The LSM label (AppArmor, SELinux); '' where no LSM exposes one."""
    try:
        with open(f"/proc/{pid}/attr/current") as f:
            return f.read().strip("\0\n ")
    except OSError:
        return ""


def differs(pid: int) -> str | None:
    """None when PID shares our namespaces, root, ids, confinement and label and holds every
    capability we hold; else what differs. Any error reading PID (gone, hidden): a difference."""
    try:
        for ns in NAMESPACES:
            if os.path.exists(f"/proc/self/ns/{ns}") and \
                    _ident(f"/proc/{pid}/ns/{ns}") != _ident(f"/proc/self/ns/{ns}"):
                return f"{ns} namespace"
        if _ident(f"/proc/{pid}/root/") != _ident("/proc/self/root/"):
            return "root directory"
        theirs, ours = _status(pid), _status("self")
        for key in SAME_STATUS:
            if theirs.get(key) != ours.get(key):
                return key
        for key in CAP_SETS:
            need = int(ours[key], 16)
            if int(theirs[key], 16) & need != need:
                return key
        if _label(pid) != _label("self"):
            return "security label"
    except (OSError, KeyError, ValueError) as e:
        return f"unreadable ({e})"
    return None

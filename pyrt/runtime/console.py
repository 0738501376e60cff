"""process.terminal: a pty made inside the container, its master handed to the caller.

The console socket's path lives in the host's filesystem, so it must be connected
BEFORE pivot_root (runc connects in the runtime and hands the connection to its
init); the pty is made AFTER pivot_root, so it belongs to the container's devpts:

    conn = connect(console_socket)        # before pivot_root (or in the parent)
    ... pivot_root ...
    master, slave_path = new_pty()
    send_master(conn, master)             # --console-socket, as runc: SCM_RIGHTS; closes conn
    os.close(master)
    slave = os.open(slave_path, os.O_RDWR)  # (bind it onto /dev/console if wanted)
    make_controlling(slave)               # new session, controlling tty, stdio

The caller of `create --console-socket` then owns the only master.
"""
from __future__ import annotations

import array
import fcntl
import os
import socket
import struct
import termios

# <asm-generic/ioctls.h>: _IOW('T', 0x31, int) and _IOR('T', 0x30, unsigned int).
TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430


def new_pty(ptmx: str = "/dev/ptmx") -> tuple[int, str]:
    """Open a new pty pair's master from PTMX, unlock it; (master_fd, slave path)."""
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    except OSError as e:
        os.close(master)
        raise OSError(e.errno, f"pty from {ptmx}: {e.strerror}", ptmx) from None
    # The slave lives in the devpts instance next to this ptmx (/dev/pts, or PTMX's own dir).
    base = os.path.dirname(ptmx)
    pts = base if os.path.basename(base) == "pts" else os.path.join(base, "pts")
    return master, os.path.join(pts, str(n))


def connect(console_socket_path: str) -> socket.socket:
    """A connection to the caller's console socket, to use later with send_master."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(console_socket_path)
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"console socket: {e.strerror}", console_socket_path) from None
    return s


def send_master(console_socket: "socket.socket | str", master_fd: int) -> None:
    """Pass MASTER_FD with SCM_RIGHTS over CONSOLE_SOCKET (a connection from connect(), which
    is closed afterwards, or a path to connect to now); the message text is the pty's name,
    as runc sends it."""
    conn = connect(console_socket) if isinstance(console_socket, str) else console_socket
    with conn:
        try:
            conn.sendmsg([b"/dev/ptmx"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [master_fd]))])
        except OSError as e:
            raise OSError(e.errno, f"console socket: {e.strerror}", str(console_socket)) from None


def make_controlling(slave_fd: int) -> None:
    """New session with SLAVE_FD as its controlling terminal and as fds 0, 1 and 2."""
    try:
        os.setsid()
    except PermissionError:
        pass  # already a session leader (e.g. pid 1 after setsid by the caller)
    fcntl.ioctl(slave_fd, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave_fd, fd)
    if slave_fd > 2:
        os.close(slave_fd)


def set_size(fd: int, rows: int, cols: int) -> None:
    """Window size of the terminal at FD (consoleSize)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def recv_master(sock: socket.socket) -> tuple[int, str]:
    """The receiving end of send_master (for `exec -t`, tests, and the engine's monitor):
    read one message from an accepted connection; (fd, name)."""
    fds = array.array("i")
    msg, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    if not fds:
        raise OSError(71, "console socket: no file descriptor received")  # EPROTO
    return fds[0], msg.decode(errors="replace")

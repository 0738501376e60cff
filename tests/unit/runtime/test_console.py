"""Console plumbing with a real pty and a real --console-socket receiver."""
import os
import select
import socket

import pytest

from pyrt.runtime import console


def _read_until(fd, needle: bytes, timeout=10.0) -> bytes:
    buf = b""
    while needle not in buf:
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            raise AssertionError(f"timed out waiting for {needle!r}; got {buf!r}")
        try:
            chunk = os.read(fd, 1024)
        except OSError:  # EIO: the slave side is gone
            break
        if not chunk:
            break
        buf += chunk
    return buf


def test_master_over_console_socket_drives_the_child_tty(tmp_path):
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    pid = os.fork()
    if pid == 0:  # the "container init"
        try:
            listener.close()
            conn = console.connect(path)  # before "pivot_root": the path may vanish after it
            os.unlink(path)
            master, slave_path = console.new_pty()
            console.send_master(conn, master)
            os.close(master)
            slave = os.open(slave_path, os.O_RDWR)
            console.make_controlling(slave)
            ok = os.ttyname(0) == slave_path and os.tcgetpgrp(0) == os.getpgrp() == os.getsid(0)
            line = os.read(0, 100)  # a cooked tty returns one line
            os.write(1, b"got " + line.strip() + (b" ctty-ok" if ok else b" ctty-bad") + b"\n")
        except BaseException as e:
            os.write(2, f"ctty-error {e!r}\n".encode())
        finally:
            os._exit(0)
    conn, _ = listener.accept()
    with conn:
        master, name = console.recv_master(conn)
    listener.close()
    try:
        assert name == "/dev/ptmx"
        console.set_size(master, 24, 80)
        os.write(master, b"hello\n")
        out = _read_until(master, b"ctty-")
        out += _read_until(master, b"\n")
    finally:
        os.close(master)
        os.waitpid(pid, 0)
    assert b"hello\r\n" in out  # the tty echoed our input (cooked mode)
    assert b"got hello ctty-ok" in out


def test_send_master_by_path(tmp_path):
    path = str(tmp_path / "c.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        r, w = os.pipe()
        console.send_master(path, w)
        conn, _ = listener.accept()
        with conn:
            fd, name = console.recv_master(conn)
        os.write(fd, b"through the passed fd")
        assert os.read(r, 100) == b"through the passed fd" and name == "/dev/ptmx"
        for x in (r, w, fd):
            os.close(x)


def test_send_master_to_missing_socket_names_it(tmp_path):
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as ei:
            console.send_master(str(tmp_path / "nope.sock"), r)
        assert ei.value.filename == str(tmp_path / "nope.sock")
    finally:
        os.close(r)
        os.close(w)


def test_recv_without_fd_is_an_error():
    a, b = socket.socketpair()
    with a, b:
        a.send(b"/dev/ptmx")
        with pytest.raises(OSError, match="no file descriptor"):
            console.recv_master(b)

"""A foreground terminal for `run` and `exec` without --console-socket (what runc does too):
the container's pty master comes back to us over a socketpair, and we copy our stdin to it and
its output to our stdout until the container's process exits. Our own terminal, if stdin is
one, is put in raw mode meanwhile and its window size follows to the container's pty."""
from __future__ import annotations

import os
import select
import signal


def _copy_size(master: int) -> None:
    import fcntl
    import termios
    try:
        size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def proxy(master: int, pid: int) -> None:
    """Shuttle bytes until the pty's other side is gone or PID has exited."""
    import termios
    import tty
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _copy_size(master)
        signal.signal(signal.SIGWINCH, lambda *_: _copy_size(master))
    stdin_open = True
    try:
        while True:
            fds = [master] + ([0] if stdin_open else [])
            try:
                ready, _, _ = select.select(fds, [], [], 0.2)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave fd is closed, the process is gone
                    return
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    stdin_open = False
                    os.write(master, b"\x04")  # EOF for a canonical-mode reader
            if not ready and os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return  # exited (not reaped: the caller collects its status)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
            signal.signal(signal.SIGWINCH, signal.SIG_DFL)

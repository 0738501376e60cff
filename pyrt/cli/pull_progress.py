"""How a pull reports itself: bars on a terminal, plain lines in logs, nothing with -q.

The pull (pyrt.image.pull) calls its reporter's methods from its worker threads (the interface
and the silent default, Quiet, are the pull's); each reporter here serialises its output. This is
presentation, so it lives with the CLI.
"""
from __future__ import annotations

import sys
import threading
import time

from pyrt.cli.humanize import size
from pyrt.image.pull import Quiet


def _size(n: float) -> str:
    """Progress sizes as before: decimal units, one decimal place."""
    return size(n, "{:.1f} {}")


class Plain(Quiet):
    """One line when each blob starts and ends: readable in CI logs."""

    def __init__(self, out=None):
        self.out = out or sys.stderr
        self._lock = threading.Lock()
        self._sizes: dict[str, int] = {}

    def _line(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)

    def message(self, text: str) -> None:
        self._line(text)

    def start(self, digest: str, size: int, what: str = "blob") -> None:
        self._sizes[digest] = size
        self._line(f"Copying {what} {digest[7:19]} ({_size(size)})")

    def done(self, digest: str, status: str) -> None:
        self._line(f"{status}: {digest[7:19]}")

    def skip(self, digest: str, size: int, status: str) -> None:
        self._line(f"{status}: {digest[7:19]}")


class Bars(Quiet):
    """One redrawn line per blob: bytes done of total, and speed."""

    def __init__(self, out=None, interval: float = 0.1):
        self.out = out or sys.stderr
        self.interval = interval
        self._lock = threading.Lock()
        self._rows: list[str] = []
        self._state: dict[str, list] = {}      # digest -> [what, size, done, t0, status]
        self._drawn = 0
        self._last = 0.0

    def message(self, text: str) -> None:
        with self._lock:
            self._clear()
            print(text, file=self.out)
            self._draw(force=True)

    def start(self, digest: str, size: int, what: str = "blob") -> None:
        with self._lock:
            self._rows.append(digest)
            self._state[digest] = [what, size, 0, time.monotonic(), ""]
            self._draw(force=True)

    def advance(self, digest: str, n: int) -> None:
        with self._lock:
            self._state[digest][2] += n
            self._draw()

    def done(self, digest: str, status: str) -> None:
        with self._lock:
            self._state[digest][4] = status
            self._draw(force=True)

    def close(self) -> None:
        with self._lock:
            self._draw(force=True)
            self.out.flush()

    def _clear(self) -> None:
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self._clear()
        for d in self._rows:
            what, size, done, t0, status = self._state[d]
            if status:
                line = f"{what} {d[7:19]}: {status}"
            else:
                frac = done / size if size else 0
                bar = "=" * int(frac * 30)
                speed = done / max(now - t0, 1e-3)
                line = (f"{what} {d[7:19]}: [{bar:<30}] {_size(done)}/{_size(size)} "
                        f"{_size(speed)}/s")
            self.out.write(line[:200] + "\n")
        self._drawn = len(self._rows)
        self.out.flush()


def for_stream(quiet: bool, out=None):
    out = out or sys.stderr
    if quiet:
        return Quiet()
    return Bars(out) if out.isatty() else Plain(out)

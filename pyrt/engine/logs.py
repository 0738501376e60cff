"""docker's json-file log format: one JSON object per line, {"log": ..., "stream": ..., "time": ...}.

The monitor writes (LogWriter): output is cut at newlines (a line longer than 16 KiB is written in
pieces, as docker does), files rotate at max-size keeping max-file of them (<log>, <log>.1, ...),
and a full disk stops logging with a reason instead of killing the container or tearing a line.
`pyrt logs` reads (read): the rotated files oldest first, then the live one; --since/--until/--tail
filter, follow waits for more until the container stops.
"""
from __future__ import annotations

import errno
import json
import os
import time

from pyrt.clock import now_rfc3339  # noqa: F401 (the engine's modules take it from here)

MAX_LINE = 16 * 1024


def path_of(cdir: str, cid: str) -> str:
    return os.path.join(cdir, f"{cid}-json.log")


class LogWriter:
    def __init__(self, path: str, max_size: int = 0, max_file: int = 1):
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self.partial = {"stdout": b"", "stderr": b""}
        self.error = ""              # set once logging stopped; the container goes on
        self.fd = -1
        self.size = 0
        self._open()

    def _open(self) -> None:
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.size = os.fstat(self.fd).st_size
        except OSError as e:
            self._stop(e)

    def _stop(self, e: OSError) -> None:
        self.error = f"logging stopped: {e.strerror or e} ({self.path})"
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial[stream] + data
        lines = buf.split(b"\n")
        self.partial[stream] = lines.pop()
        for line in lines:
            self._record(stream, line + b"\n")
        while len(self.partial[stream]) >= MAX_LINE:
            chunk, self.partial[stream] = self.partial[stream][:MAX_LINE], self.partial[stream][MAX_LINE:]
            self._record(stream, chunk)

    def flush(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._record(stream, rest)
                self.partial[stream] = b""

    def close(self) -> None:
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _record(self, stream: str, data: bytes) -> None:
        if self.fd < 0:
            return
        line = json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream,
                           "time": now_rfc3339()}, ensure_ascii=False).encode() + b"\n"
        if self.max_size and self.size + len(line) > self.max_size and self.size > 0:
            self._rotate()
            if self.fd < 0:
                return
        try:
            n = os.write(self.fd, line)
            if n != len(line):
                # a short write is a full disk: cut the torn tail so the file stays whole lines
                os.ftruncate(self.fd, self.size)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.size += n
        except OSError as e:
            try:
                os.ftruncate(self.fd, self.size)
            except OSError:
                pass
            self._stop(e)

    def _rotate(self) -> None:
        os.close(self.fd)
        self.fd = -1
        try:
            if self.max_file == 1:
                os.unlink(self.path)
            else:
                for i in range(self.max_file - 1, 0, -1):
                    src = self.path if i == 1 else f"{self.path}.{i - 1}"
                    if os.path.exists(src):
                        os.replace(src, f"{self.path}.{i}")
        except OSError as e:
            self._stop(e)
            return
        self._open()


def _files(path: str) -> list[str]:
    rotated = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    return list(reversed(rotated)) + [path]


def _parse(line: bytes):
    try:
        d = json.loads(line)
        return d["stream"], d["time"], d["log"].encode()
    except (ValueError, KeyError, AttributeError):
        return None


def read(path: str, *, tail: int | None = None, since: str | None = None, until: str | None = None,
         follow: bool = False, running=lambda: False, poll: float = 0.05):
    """Yield (stream, time, data) from the log at PATH (docker's order). FOLLOW keeps reading while
    RUNNING() is true, then drains what is left. Times compare as RFC 3339 strings (same zone)."""
    def keep(t: str) -> bool:
        return (since is None or t >= since) and (until is None or t < until)

    entries = []
    for p in _files(path):
        try:
            with open(p, "rb") as f:
                for line in f:
                    e = _parse(line)
                    if e is not None and keep(e[1]):
                        entries.append(e)
        except FileNotFoundError:
            continue
    if tail is not None:
        entries = entries[-tail:] if tail > 0 else []
    yield from entries
    if not follow:
        return
    # follow the live file from its current end; a rotation starts a new file at offset 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    f.seek(0, os.SEEK_END)
    ino = os.fstat(f.fileno()).st_ino
    buf = b""
    try:
        while True:
            chunk = f.read()
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    e = _parse(line)
                    if e is not None and keep(e[1]):
                        yield e
                continue
            try:
                if os.stat(path).st_ino != ino:
                    f.close()
                    f = open(path, "rb")
                    ino = os.fstat(f.fileno()).st_ino
                    continue
            except FileNotFoundError:
                pass
            if not running():
                chunk = f.read()
                if not chunk:
                    return
                buf += chunk
                continue
            time.sleep(poll)
    finally:
        f.close()

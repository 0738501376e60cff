"""The monitor's socket protocol: frames of (type, length, payload) over a unix stream socket.

A client opens with one REQ (JSON) and gets one REPLY (JSON); an attached client then receives
STDOUT/STDERR data and a final EXIT (JSON), and may send STDIN, STDIN_CLOSE and RESIZE.
"""
from __future__ import annotations

import json
import os
import socket
import struct

HEADER = struct.Struct("!BI")
REQ, REPLY, STDOUT, STDERR, STDIN, STDIN_CLOSE, EXIT, RESIZE = range(8)
SOCKET = "monitor.sock"
LOCK = "monitor.lock"


def pack(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def pack_json(kind: int, obj) -> bytes:
    return pack(kind, json.dumps(obj).encode())


class Reader:
    """Splits a byte stream into frames."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER.size:
            kind, n = HEADER.unpack_from(self.buf)
            if len(self.buf) < HEADER.size + n:
                break
            out.append((kind, self.buf[HEADER.size:HEADER.size + n]))
            self.buf = self.buf[HEADER.size + n:]
        return out


def recv_frame(sock: socket.socket, reader: Reader, pending: list) -> tuple[int, bytes] | None:
    """The next frame from SOCK (blocking); None at end of stream."""
    while not pending:
        data = sock.recv(65536)
        if not data:
            return None
        pending.extend(reader.feed(data))
    return pending.pop(0)


def socket_path(run_root: str) -> str:
    return os.path.join(run_root, SOCKET)

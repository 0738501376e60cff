"""Bounded decompression of layers and archives: a gzip/zstd subprocess (it overlaps our own work
on a second core), and the expansion budget a hostile blob may not exceed, counted from the
compressed bytes actually read (docs/unpack-snapshots-archives.md)."""
from __future__ import annotations

import contextlib
import os

from pyrt.errors import ImageError, PyrtError

TYPE_CHECKING = False     # not typing's: importing typing costs ~2.5 ms of start-up
if TYPE_CHECKING:
    import subprocess

_CHUNK = 1 << 20
EXPANSION_RATIO = 100           # uncompressed bytes per compressed byte a layer may reach ...
MIN_EXPANSION_BUDGET = 1 << 30  # ... but never less than this many

# Fastest first: igzip (ISA-L) inflates ~4x faster than gzip on this kind of VM, pigz ~1.5x.
_DECOMPRESSORS = {
    "gzip": (["igzip", "-dcq", "--"], ["pigz", "-dc", "--"], ["gzip", "-dc", "--"]),
    "zstd": (["zstd", "-dcq", "--"],),
}


def expansion_budget(compressed_size: int) -> int:
    """How many bytes a layer of COMPRESSED_SIZE bytes may expand to: both its uncompressed tar
    stream and the sum of its files' sizes (a sparse file counts at its full size).
    PYRT_EXPANSION_RATIO and PYRT_MIN_EXPANSION_BUDGET (bytes) override the two constants."""
    ratio = _env_int("PYRT_EXPANSION_RATIO", EXPANSION_RATIO)
    return max(_env_int("PYRT_MIN_EXPANSION_BUDGET", MIN_EXPANSION_BUDGET), ratio * max(compressed_size, 0))


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise PyrtError(f"{name}={text[:40]!r} is not a number of bytes")
    return int(text)


class Budget:
    """A layer's expansion budget, from the compressed bytes actually READ so far, never from a
    size a manifest claims (issue 9.12: a descriptor announcing 50 MB for a 2.3 MB blob must
    not let it inflate to 5 GB). DECLARED, the claimed size, is only trusted as far as a tar
    header announcing a file goes: that file's bytes are then counted against limit() as they
    are written, and the stream's against limit() as they are inflated."""

    def __init__(self, read: int = 0, declared: int = 0):
        self.read = read
        self.declared = declared

    def limit(self) -> int:
        return expansion_budget(self.read)

    def ceiling(self) -> int:
        return expansion_budget(max(self.read, self.declared))


class ExpansionError(ImageError):
    """Over the expansion budget: a compression bomb, or bytes no honest layer has."""


def expansion_error(layer: str, budget: int) -> ImageError:
    return ExpansionError(f"layer {layer}: uncompressed data exceeds the limit of {human_bytes(budget)} "
                          f"(a compression bomb?)")


def capped_chunks(src, compressed_path: str, what: str):
    """SRC's chunks, refusing (ImageError) to go past the expansion budget of the compressed
    file at COMPRESSED_PATH: for whole archives inflated to a temp file by load and import."""
    budget = expansion_budget(os.path.getsize(compressed_path))
    left = budget
    while chunk := src.read(_CHUNK):
        left -= len(chunk)
        if left < 0:
            raise expansion_error(what, budget)
        yield chunk


def human_bytes(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


@contextlib.contextmanager
def open_decompressed(blob_path: str, comp: str | None, budget: int | None = None):
    """A binary stream of BLOB_PATH's uncompressed bytes (COMP: None, "gzip" or "zstd").

    Compressed data is inflated by a subprocess, so it overlaps our own work. When the
    with-block ends normally, the rest of the stream is read and the decompressor's verdict
    checked: a truncated or corrupt blob raises ImageError even if the reader stopped early.
    BUDGET caps the uncompressed bytes that check reads (what comes after a tar's end).
    """
    if comp is None:
        with open(blob_path, "rb", buffering=_CHUNK) as f:
            yield f
        return
    proc = _decompressor(comp, blob_path)
    try:
        try:
            yield proc.stdout
        except ImageError:
            # A truncated or corrupt stream shows up as a tar error first; the
            # decompressor's own message says more, so prefer it.
            _check_decompressor(proc, comp, blob_path, budget)
            raise
        _check_decompressor(proc, comp, blob_path, budget)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
        proc.wait()


def _decompressor(comp: str, blob_path: str) -> subprocess.Popen:
    import subprocess       # here: a pull streams gzip in-process and need not load it
    for argv in _DECOMPRESSORS[comp]:
        try:
            return subprocess.Popen(argv + [blob_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    bufsize=_CHUNK)
        except FileNotFoundError:
            continue
    names = " or ".join(argv[0] for argv in _DECOMPRESSORS[comp])
    raise ImageError(f"cannot unpack {comp} layer: {names} is not installed")


def _check_decompressor(proc: subprocess.Popen, comp: str, blob_path: str, budget: int | None) -> None:
    # tar's end-of-archive can precede the padding; read to EOF so the decompressor checks its CRC
    left = budget if budget is not None else -1
    while chunk := proc.stdout.read(_CHUNK):
        left -= len(chunk)
        if budget is not None and left < 0:
            raise expansion_error(os.path.basename(blob_path), budget)
    rc = proc.wait()
    # gzip exits 2 for warnings such as trailing zeros after the stream; the data is whole.
    if rc == 0 or (comp == "gzip" and rc == 2):
        return
    msg = proc.stderr.read().decode(errors="replace").strip().splitlines()
    detail = msg[-1] if msg else f"exit status {rc}"
    raise ImageError(f"layer {os.path.basename(blob_path)}: corrupt or truncated {comp} data ({detail})")

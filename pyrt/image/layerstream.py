"""Layer bytes -> unpacked layer directory, checked against the layer's diff_id.

A LayerStream takes a layer blob's bytes as they come (from the network during a pull, or
from the committed blob), decompresses them itself, hashes the uncompressed tar, and feeds
it through a FIFO to unpack_layer (running in a thread) as a plain tar, into a hidden
directory. The directory becomes layers/<diff_id> only if the unpack succeeded AND the
uncompressed bytes hash to the diff_id the image config names: a layer dir is shared by
every image naming that diff_id, so an image that lies about a diff_id must not get to
fill it.

gzip is inflated in-process, by ISA-L's zlib-compatible inflater when the `isal` package is
there (~2.5x less CPU than zlib on a 60 MB layer; both release the GIL while they work), else by
zlib; zstd through the `zstd` program, whose output a pump thread passes on. Verifying the
diff_id costs a sha256 over the uncompressed bytes (~0.2 s of CPU for a 170 MB layer).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
import time

try:
    from isal import isal_zlib as _inflate
except ImportError:         # same API and semantics, only slower
    import zlib as _inflate

from pyrt.errors import ImageError, PyrtError
from pyrt.image.content import disk_full, is_disk_full
from pyrt.image.decompress import Budget, expansion_error
from pyrt.image.mediatypes import OCI_LAYER_TAR, compression_of
from pyrt.image.unpack import remove_tree

TYPE_CHECKING = False     # not typing's: importing typing costs ~2.5 ms of start-up
if TYPE_CHECKING:
    import subprocess

_CHUNK = 1 << 20


class LayerStream:
    """LAYER's blob bytes in (feed), LAYER unpacked into the store out (finish).

    A LAYER whose diff_id is None (an import: nobody knows it yet) is not checked against
    one; finish() puts it under the diff_id its bytes hash to, kept in .diff_id. PLAIN_SINK,
    if given, gets every uncompressed byte too (import keeps the plain tar as the blob). NAME
    is how messages call the layer (default: its digest)."""

    def __init__(self, store, layer, plain_sink=None, name: str | None = None):
        self.store = store
        self.layer = layer
        self.name = name or layer.digest
        self.diff_id = layer.diff_id
        self.plain_size = 0
        self._sink = plain_sink
        self.comp = compression_of(layer.media_type)
        hexid = layer.diff_id[7:] if layer.diff_id else os.urandom(32).hex()
        tag = f"{os.getpid()}-{threading.get_ident()}"
        self.fifo = os.path.join(store.layer_dir_root, f".{hexid}.fifo-{tag}")
        self.dest = os.path.join(store.layer_dir_root, f".{hexid}.stream-{tag}")
        self.problem: BaseException | None = None      # why this stream cannot be kept
        self.unpack_error: BaseException | None = None
        self._hash = hashlib.sha256()
        self.budget = Budget(0, layer.size)     # grows with what feed() gets, not with layer.size
        self._fd: int | None = None
        self._reader_gone = False
        self._zlib = _inflate.decompressobj(wbits=31) if self.comp == "gzip" else None
        self._zstd: subprocess.Popen | None = None
        self._zstd_reader: threading.Thread | None = None
        os.mkfifo(self.fifo, 0o600)
        self._thread = threading.Thread(target=self._unpack, name="unpack", daemon=True)
        self._thread.start()
        # unpack_layer opens the FIFO when it gets to it; if it fails before that, stop waiting.
        while self._fd is None and self._thread.is_alive():
            try:
                self._fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                time.sleep(0.0005)
        if self._fd is not None:
            os.set_blocking(self._fd, True)
            try:
                # A 1 MiB pipe instead of 64 KiB: far fewer switches between writer and reader.
                fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, _CHUNK)
            except OSError:
                pass
        if self.comp == "zstd":
            self._start_zstd()

    # -- the unpacking side ---------------------------------------------------------------------
    def _unpack(self) -> None:
        from pyrt.image.unpack import unpack_layer
        try:
            unpack_layer(self.fifo, OCI_LAYER_TAR, self.dest, budget=self.budget, name=self.name)
        except BaseException as e:
            self.unpack_error = e

    def _emit(self, data: bytes) -> None:
        """Uncompressed bytes: hash all of them, pass them on while the unpacker reads."""
        if not data:
            return
        if self.unpack_error is not None:
            self.fail(self.unpack_error)        # the unpacker refused the layer: stop here
            return
        self.plain_size += len(data)
        if self.plain_size > self.budget.limit():
            # Also what comes after the tar's end (hashed, never unpacked) counts: a bomb there
            # would cost CPU for nothing.
            self.fail(expansion_error(self.name, self.budget.limit()))
            return
        self._hash.update(data)
        if self._sink is not None:
            try:
                self._sink(data)
            except OSError as e:
                self.fail(disk_full(f"unpacking layer {self.name}") if is_disk_full(e) else e)
                return
        if self._fd is None or self._reader_gone:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except BrokenPipeError:
            # The tar reader stops at the end-of-archive blocks; padding after them still
            # counts for the diff_id. If it stopped for an error, finish() says so.
            self._reader_gone = True

    # -- decompression --------------------------------------------------------------------------
    def _start_zstd(self) -> None:
        import subprocess       # only zstd layers need it: not paid at start-up by every pull
        try:
            self._zstd = subprocess.Popen(["zstd", "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, bufsize=0)
        except FileNotFoundError:
            self.fail(ImageError("cannot unpack zstd layer: the zstd program is not installed"))
            return

        def pump():
            out = self._zstd.stdout
            try:
                while chunk := out.read(_CHUNK):
                    self._emit(chunk)
            except BaseException as e:      # keep draining, or the decompressor and feed() block
                self.fail(e)
                while out.read(_CHUNK):
                    pass

        self._zstd_reader = threading.Thread(target=pump, name="zstd", daemon=True)
        self._zstd_reader.start()

    def feed(self, data: bytes) -> None:
        """Compressed bytes of the blob, in order."""
        if self.problem is None and self.unpack_error is not None:
            self.fail(self.unpack_error)        # the unpacker gave up: inflating more is wasted work
        if self.problem is not None:
            return
        self.budget.read += len(data)
        try:
            if self._zlib is not None:
                while data and self.problem is None:
                    self._inflate_member(data)
                    # Concatenated gzip members are one stream.
                    data = self._zlib.unused_data if self._zlib.eof else b""
                    if data and not data.strip(b"\0"):
                        break           # zero padding after the last member, as gzip(1) allows
                    if data:
                        # ISA-L waits for more bytes where zlib rejects a bad header at once.
                        if not b"\x1f\x8b".startswith(data[:2]):
                            raise _inflate.error("data after the last gzip member is no gzip member")
                        self._zlib = _inflate.decompressobj(wbits=31)
            elif self._zstd is not None:
                self._zstd.stdin.write(data)
            else:
                self._emit(data)
        except (_inflate.error, OSError) as e:
            self.fail(ImageError(f"layer {self.name}: corrupt {self.comp} data ({e})"))

    def _inflate_member(self, data: bytes) -> None:
        """Inflate DATA (part of one gzip member) a chunk of output at a time: 1 MiB of a bomb
        inflates to 1 GiB, which must never sit in memory, nor go on once the stream failed."""
        while self.problem is None:
            out = self._zlib.decompress(data, _CHUNK)
            data = self._zlib.unconsumed_tail
            self._emit(out)
            if not data and (len(out) < _CHUNK or self._zlib.eof):
                return

    def fail(self, why: BaseException) -> None:
        """This stream is lost (bad data, or its source restarted): stop passing bytes on."""
        if self.problem is None:
            self.problem = why
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _end_decompression(self) -> None:
        if self._zlib is not None and not self._zlib.eof and self.problem is None:
            self.fail(ImageError(f"layer {self.name}: truncated gzip data"))
        if self._zstd is not None:
            try:
                self._zstd.stdin.close()
            except OSError:
                pass
            self._zstd_reader.join()
            rc = self._zstd.wait()
            err = self._zstd.stderr.read().decode(errors="replace").strip()
            self._zstd.stdout.close()
            self._zstd.stderr.close()
            if rc != 0 and self.problem is None:
                self.fail(ImageError(f"layer {self.name}: corrupt or truncated zstd data ({err or rc})"))

    # -- the end --------------------------------------------------------------------------------
    def finish(self, keep: bool = True) -> BaseException | None:
        """Close the stream; move the tree into place if KEEP (the blob's digest matched) and
        everything checked out. Returns what went wrong, if anything (the tree is then gone)."""
        self._end_decompression()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._thread.join()
        os.unlink(self.fifo)
        why = self.problem or self.unpack_error
        actual = "sha256:" + self._hash.hexdigest()
        if self.diff_id is None:
            self.diff_id = actual
        if why is None and actual != self.diff_id:
            why = ImageError(f"layer {self.name}: uncompressed content hashes to {actual}, "
                             f"not to the diff_id {self.diff_id} the image config names")
        final = self.store.layer_dir(self.diff_id)
        if why is None and keep and not os.path.exists(final):
            try:
                os.rename(self.dest, final)
                return None
            except OSError:
                pass            # another pull put it there first: theirs is as good
        remove_tree(self.dest)
        return why


def unpack_file(store, layer, path: str, plain_sink=None, name: str | None = None) -> LayerStream:
    """Unpack LAYER from the file at PATH into the store (see LayerStream for the arguments);
    returns the finished stream (its .diff_id, .plain_size). Raises ImageError, or PyrtError for
    a full disk."""
    s = LayerStream(store, layer, plain_sink, name)
    try:
        with open(path, "rb") as f:
            while s.problem is None and (chunk := f.read(_CHUNK)):
                s.feed(chunk)
    finally:
        why = s.finish()
    if why is not None:
        if isinstance(why, PyrtError):
            raise why
        raise ImageError(f"cannot unpack layer {s.name}: {why}") from why
    return s


def unpack_blob(store, layer) -> None:
    """Unpack LAYER from its committed blob, checking its diff_id; raises ImageError."""
    unpack_file(store, layer, store.content.path(layer.digest))

"""Content-addressed blob store: <dir>/blobs/sha256/<hex>, staged in <dir>/ingest/.

A blob becomes visible under blobs/ only by rename(2) after its sha256 and size
matched, so readers never see half-written content. A write that is interrupted
(Ctrl-C, a dropped connection) leaves its partial file in ingest/ on purpose:
the next writer of the same digest re-hashes it and continues from its end
(the registry client asks for the rest with a Range request). A write whose
digest turns out wrong deletes its ingest file.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re

from pyrt.errors import ImageError, PyrtError

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1 << 20


def check_digest(digest: str) -> str:
    """Return the hex part of a sha256 digest, refusing anything else (it names files)."""
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise ImageError(f"invalid or unsupported digest: {digest!r}")
    return digest[7:]


def _sha256(data: bytes = b""):
    # hashlib (OpenSSL) costs ~3 ms of the engine monitor's preload; `run` reads blobs, never hashes
    import hashlib
    return hashlib.sha256(data)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + _sha256(data).hexdigest()


class DigestMismatch(ImageError):
    pass


def is_disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def disk_full_while(doing: str):
    """Turn ENOSPC/EDQUOT inside the with-block into the one-line disk_full(DOING) error."""
    try:
        yield
    except OSError as e:
        if not is_disk_full(e):
            raise
        raise disk_full(doing) from None


def disk_full(doing: str) -> PyrtError:
    """The one-line error for ENOSPC/EDQUOT while DOING ("unpacking layer sha256:... entry 'x'").
    Not an ImageError: the image is fine, the disk is not (exit code 1)."""
    return PyrtError(f"no space left on device while {doing}", "free space under the store root and retry")


class ContentStore:
    def __init__(self, root: str):
        self.root = root
        self.blob_dir = os.path.join(root, "blobs", "sha256")
        self.ingest_dir = os.path.join(root, "ingest")
        os.makedirs(self.blob_dir, exist_ok=True)
        os.makedirs(self.ingest_dir, exist_ok=True)

    def path(self, digest: str) -> str:
        return os.path.join(self.blob_dir, check_digest(digest))

    def has(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        return os.path.getsize(self.path(digest))

    def read(self, digest: str) -> bytes:
        try:
            with open(self.path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ImageError(f"blob not in store: {digest}") from None

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store a small blob held in memory (manifests, configs); returns its digest."""
        actual = sha256_digest(data)
        if digest is not None and digest != actual:
            raise DigestMismatch(f"digest mismatch: expected {digest}, got {actual}")
        if not self.has(actual):
            with self.writer(actual, len(data)) as w:
                if not self.has(actual):        # another process may have finished it meanwhile
                    w.reset()
                    w.write(data)
                    w.commit()
        return actual

    def writer(self, digest: str, size: int | None = None) -> "IngestWriter":
        return IngestWriter(self, digest, size)

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass

    def digests(self) -> list[str]:
        return ["sha256:" + h for h in os.listdir(self.blob_dir) if len(h) == 64]

    def clean_ingest(self) -> int:
        """Delete staged partial downloads no writer holds (prune: the user gives up resuming)."""
        n = 0
        for path in self.ingests():
            with open(path, "rb") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue            # a pull is writing it right now
                os.unlink(path)
                n += 1
        return n

    def ingests(self) -> list[str]:
        return [os.path.join(self.ingest_dir, n) for n in os.listdir(self.ingest_dir)]


class IngestWriter:
    """Appends to ingest/<hex>, hashing as it goes; commit() checks and renames into blobs/.

    Holds an exclusive lock on the ingest file, so two pulls of one blob do not interleave:
    the second waits, then finds the blob committed.
    """

    def __init__(self, store: ContentStore, digest: str, size: int | None):
        self.store = store
        self.digest = digest
        self.expected_size = size
        self.path = os.path.join(store.ingest_dir, check_digest(digest))
        self._hash = _sha256()
        self.offset = 0
        self._f = None
        self.committed = False
        self._full = False          # the disk filled up: the staged file is already gone

    def __enter__(self) -> "IngestWriter":
        while True:
            f = open(self.path, "a+b")
            fcntl.flock(f, fcntl.LOCK_EX)
            # The writer we waited for may have committed (renamed) the file we opened: then our
            # fd is the committed blob, not an ingest file. Start again on a fresh one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()
        self._f = f
        # Re-hash what an earlier, interrupted writer left: that is where we resume from.
        self._f.seek(0)
        while chunk := self._f.read(CHUNK):
            self._hash.update(chunk)
            self.offset += len(chunk)
        if self.expected_size is not None and self.offset > self.expected_size:
            self.reset()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # On an error other than a digest mismatch the partial file stays for resumption; an
        # empty one, or one made moot by another writer's commit, goes (we still hold its lock).
        if self._f is not None:
            if not self.committed and (self.offset == 0 or self.store.has(self.digest)):
                self.discard()
            try:
                self._f.close()         # closes the fd even when flushing the buffer fails
            except OSError:
                if not self._full:
                    raise
            self._f = None

    def reset(self) -> None:
        """Throw away what is staged (the server ignored our Range, or the data was bad)."""
        self._f.seek(0)
        self._f.truncate()
        self._hash = _sha256()
        self.offset = 0

    def write(self, data: bytes) -> None:
        if self.expected_size is not None and self.offset + len(data) > self.expected_size:
            self.discard()
            raise DigestMismatch(
                f"blob {self.digest} is larger than its descriptor says ({self.expected_size} bytes)")
        with self._dropped_if_disk_full():
            self._f.write(data)
        self._hash.update(data)
        self.offset += len(data)

    @contextlib.contextmanager
    def _dropped_if_disk_full(self):
        """ENOSPC/EDQUOT -> one PyrtError; nothing to resume on a full disk, so what is staged
        goes (it only takes space)."""
        try:
            yield
        except OSError as e:
            if not is_disk_full(e):
                raise
            self.discard()
            self._full = True
            raise disk_full(f"downloading blob {self.digest}") from None

    def discard(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def commit(self) -> str:
        if self.store.has(self.digest):
            self.discard()
            self.committed = True
            return self.store.path(self.digest)
        actual = "sha256:" + self._hash.hexdigest()
        if self.expected_size is not None and self.offset != self.expected_size:
            if self.offset > self.expected_size:
                self.discard()
            raise DigestMismatch(
                f"blob {self.digest} is truncated: got {self.offset} of {self.expected_size} bytes")
        if actual != self.digest:
            self.discard()
            raise DigestMismatch(f"digest mismatch for blob {self.digest}: content hashes to {actual}")
        with self._dropped_if_disk_full():
            self._f.flush()
            os.fsync(self._f.fileno())
        dest = self.store.path(self.digest)
        os.rename(self.path, dest)
        self.committed = True
        return dest

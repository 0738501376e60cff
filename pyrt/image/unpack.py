"""Safe unpacking of one image layer into its own directory, in overlayfs form.

Safety comes from a model, not from trust: every entry's path is split and checked
(no absolute names, no `..`), and its parent is resolved against a record of what
this same layer already created (we unpack into a fresh private directory, so that
record is the whole truth about the tree). Symlinks met on the way are followed only
while they stay inside the layer; an absolute target or a `..` that climbs above the
layer root is an ImageError naming the entry. Files are created with O_EXCL|O_NOFOLLOW
after anything in their place is removed, so an entry never writes through a symlink
or into a device node laid down earlier.

The layer is unpacked into a temp sibling of dest_dir and renamed into place only when
the whole stream (and the decompressor's integrity check) succeeded: no partial layer
is ever visible under dest_dir.

Whiteouts become what overlayfs reads: `.wh.NAME` -> a 0:0 character device NAME, and
`.wh..wh..opq` -> the xattr trusted.overlay.opaque=y on its directory.

Decompression (pyrt.image.decompress) runs in a `gzip`/`zstd` subprocess so it overlaps with our
own work on a second core; the tar stream itself is read in one pass, never buffered whole.
Media types and compression sniffing are pyrt.image.mediatypes'.

A hostile layer must not exhaust memory or disk either: one entry's header data (PAX, GNU
long name/link, sparse maps) is capped before tarfile reads it, as are the number of
entries, path lengths and depth, and the bytes a layer may expand to (see LIMITS below and
docs/unpack-snapshots-archives.md). A full disk is one PyrtError naming the layer and entry.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile

from pyrt.errors import ImageError
from pyrt.image.content import disk_full, is_disk_full
from pyrt.image.decompress import Budget, expansion_error, human_bytes, open_decompressed
from pyrt.image.mediatypes import compression_of

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"

_MAX_SYMLINK_HOPS = 40
_CHUNK = 1 << 20

# Limits on what one layer may ask of us (docs/unpack-snapshots-archives.md has the why); the
# expansion budget is pyrt.image.decompress's.
MAX_HEADER_BYTES = 1 << 20      # one entry's PAX / GNU long name+link / sparse map data (Go's archive/tar: 1 MiB)
MAX_ENTRIES = 1_000_000         # entries per layer (each costs an inode and a slot in our model)
MAX_PATH_BYTES = 4096           # a name or link target (PATH_MAX)
MAX_NAME_BYTES = 255            # one path component (NAME_MAX)
MAX_DEPTH = 512                 # components in a name
MAX_NAMES_BYTES = 256 << 20     # all names of a layer together (the unpacker keeps them in memory)


def unpack_layer(blob_path: str, media_type: str | None, dest_dir: str, *,
                 compressed_size: int | None = None, name: str | None = None, budget: Budget | None = None) -> None:
    """Unpack the layer blob at BLOB_PATH into DEST_DIR (which must not exist yet).

    COMPRESSED_SIZE sets the expansion budget (default: the blob file's size); a FIFO's feeder
    gives a BUDGET it keeps up to date instead (pyrt.image.layerstream); NAME is how messages call the layer (default: the blob's file name).
    Raises ImageError naming the entry for anything unsafe, malformed or over a limit, and
    PyrtError when the disk is full; on any error DEST_DIR is left absent. If another
    process finished the same DEST_DIR first, its copy is kept and ours discarded.
    """
    comp = compression_of(media_type, blob_path)
    name = name or os.path.basename(blob_path)
    if compressed_size is None:
        compressed_size = os.path.getsize(blob_path) if os.path.isfile(blob_path) else 0
    if budget is None:
        budget = Budget(compressed_size, compressed_size)
    dest_dir = os.path.abspath(dest_dir)
    if os.path.lexists(dest_dir):
        raise ImageError(f"layer directory already exists: {dest_dir}")
    parent = os.path.dirname(dest_dir)
    os.makedirs(parent, exist_ok=True)
    prefix = f".{os.path.basename(dest_dir)}.unpack-"
    _remove_stale_temps(parent, prefix)
    tmp = os.path.join(parent, f"{prefix}{os.getpid()}-{os.urandom(6).hex()}")
    try:
        os.mkdir(tmp, 0o700)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(f"unpacking layer {name}") from None
        raise
    try:
        _extract(blob_path, comp, tmp, name, budget)
        try:
            os.rename(tmp, dest_dir)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST) and os.path.isdir(dest_dir):
                remove_tree(tmp)  # a concurrent unpack of the same layer won
                return
            raise
    except BaseException:
        remove_tree(tmp)
        raise


def _remove_stale_temps(parent: str, prefix: str) -> None:
    """Temp dirs of this layer left by an unpacker that was killed (SIGKILL, power loss).

    A temp dir is named PREFIX<pid>-<random>; one whose process is gone is garbage.
    """
    for name in os.listdir(parent):
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            remove_tree(os.path.join(parent, name))


def remove_tree(path: str) -> None:
    """Remove a layer (or temp) tree without following symlinks; fine if absent."""
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass


def _extract(blob_path: str, comp: str | None, root: str, name: str, budget: Budget) -> None:
    with open_decompressed(blob_path, comp, budget.limit()) as f:
        _read_tar(f, name, root, budget)


class _ForwardReader:
    """A stream as the seekable file tarfile's "r:" mode wants: tell() counts, seek() only skips
    forward (tarfile reads an archive in order). Member data then comes straight from our
    buffered stream, not through "r|" mode's 10 KiB records joined and re-sliced per read
    (a third of the reader's CPU on a rootfs layer)."""

    def __init__(self, f, budget: Budget):
        self._f = f
        self._pos = 0
        self._budget = budget
        # While tarfile reads headers: how many more bytes it may read (None: member data).
        # Checked before each read, so a huge PAX header is refused before it is buffered.
        self.header_left: int | None = None

    def read(self, n: int = -1) -> bytes:
        if self.header_left is not None:
            if n < 0 or n > self.header_left:
                raise _HeaderTooLarge(self._pos, n)
            self.header_left -= n
        data = self._f.read(n)
        self._pos += len(data)
        if self._pos > self._budget.limit():
            raise _StreamTooLarge()
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self._pos
        elif whence != 0:
            raise tarfile.ReadError("cannot seek from the end of a streamed layer")
        if pos < self._pos:
            raise tarfile.ReadError("cannot seek backwards in a streamed layer")
        while pos > self._pos:
            chunk = self._f.read(min(pos - self._pos, _CHUNK))
            if not chunk:
                break           # tarfile's next read() finds the end and says so
            self._pos += len(chunk)
        if self._pos > self._budget.limit():
            raise _StreamTooLarge()
        return self._pos


class _HeaderTooLarge(Exception):
    """tarfile asked for more header bytes than one entry may have (not a TarError: it must
    get through tarfile's own handlers)."""

    def __init__(self, offset: int, want: int):
        super().__init__(offset, want)
        self.offset, self.want = offset, want


class _StreamTooLarge(Exception):
    """Raised inside tarfile's reads: not an ImageError, so tarfile's handlers let it through."""


def _read_tar(fileobj, name: str, root: str, budget: Budget) -> None:
    reader = _ForwardReader(fileobj, budget)
    layer = _Layer(root, name, budget)
    entry = None
    try:
        reader.header_left = MAX_HEADER_BYTES + 8 * tarfile.BLOCKSIZE
        try:
            tf = tarfile.open(fileobj=reader, mode="r:", errorlevel=2)
        except TAR_PARSE_ERRORS as e:
            raise ImageError(f"layer {name} is not a tar archive ({_brief(e)})") from None
        for ti in _members(tf, reader, name, layer):
            entry = ti.name
            try:
                layer.add(ti, tf)
            except (tarfile.TarError, ValueError, OverflowError) as e:
                # ValueError / OverflowError: a field no syscall takes (found by fuzzing, issue
                # 9.13): a NUL in a PAX path, an mtime past time_t.
                raise ImageError(f"layer {name}: bad tar data at {_short(ti.name)} ({_brief(e)})") from None
        entry = None
        layer.finish()
    except _HeaderTooLarge as e:
        after = f"after entry {layer.last!r}" if layer.last is not None else "at the start"
        raise ImageError(f"layer {name}: the tar header at byte {e.offset} ({after}) carries more than "
                         f"{human_bytes(MAX_HEADER_BYTES)} of PAX / long name / sparse map data, the limit") from None
    except _StreamTooLarge:
        raise expansion_error(name, budget.limit()) from None
    except OSError as e:
        where = f" entry {entry!r}" if entry is not None else ""
        if is_disk_full(e):
            raise disk_full(f"unpacking layer {name}{where}") from None
        raise ImageError(f"cannot unpack layer {name}{where}: {e.strerror or e}") from None


def _members(tf: tarfile.TarFile, reader: _ForwardReader, name: str, layer: "_Layer"):
    # tarfile.open read the first header already; each next() reads one more.
    reader.header_left = None
    count = 0
    while True:
        reader.header_left = MAX_HEADER_BYTES + 8 * tarfile.BLOCKSIZE
        try:
            ti = tf.next()
        except TAR_PARSE_ERRORS as e:
            raise ImageError(f"layer {name}: truncated or corrupt tar stream ({_brief(e)})") from None
        reader.header_left = None
        if ti is None:
            return
        count += 1
        if count > MAX_ENTRIES:
            raise ImageError(f"layer {name}: entry {ti.name!r} is one more than the limit of "
                             f"{MAX_ENTRIES} entries per layer")
        yield ti


# What tarfile raises for a header it cannot read: its own errors, and (found by fuzzing, issue
# 9.13) plain ValueErrors from fields it converts without checking, e.g. a PAX GNU.sparse.map
# that is not a list of numbers.
TAR_PARSE_ERRORS = (tarfile.TarError, EOFError, ValueError, OverflowError, IndexError)


def _brief(e: BaseException) -> str:
    """An exception's text cut to fit one line of error message (it may quote hostile bytes)."""
    text = " ".join(str(e).split())
    return text if len(text) <= 120 else text[:117] + "..."


def _mtime_ns(ti: tarfile.TarInfo) -> int:
    """Exact nanoseconds: tarfile turns a PAX mtime into a float, which loses the last digits."""
    text = ti.pax_headers.get("mtime") if ti.pax_headers else None
    if text:
        sec, _, frac = text.partition(".")
        try:
            neg = sec.startswith("-")
            ns = abs(int(sec or "0")) * 1_000_000_000 + int((frac + "000000000")[:9])
            ns = -ns if neg else ns
        except ValueError:
            text = None
    if not text:
        try:
            ns = int(ti.mtime) * 1_000_000_000
        except (ValueError, OverflowError):       # a PAX mtime of nan or inf
            ns = None
    # utime(2) takes a time_t of seconds (found by fuzzing, issue 9.13: 1e20 s was a traceback).
    if ns is None or not -(1 << 63) <= ns // 1_000_000_000 < 1 << 63:
        raise ImageError(f"bad layer entry {_short(ti.name)}: mtime out of range")
    return ns


def _short(entry: str) -> str:
    """An entry name fit for one line of error message (a hostile one can be 4 KiB long)."""
    return repr(entry) if len(entry) <= 120 else repr(entry[:60] + "..." + entry[-40:])


# Kinds recorded per path in the layer model. Symlinks are recorded as their target (a str).
_DIR, _FILE, _OTHER = 1, 2, 3


class _Layer:
    """One unpack in progress: the tree under ROOT and our model of it."""

    def __init__(self, root: str, name: str, budget: Budget):
        self.root = root
        self.name = name                      # the layer, for messages
        self.budget = budget                  # bytes all regular files together may take
        self.announced = 0                    # their sizes as the headers say, so far
        self.written = 0                      # bytes written to them (a sparse file's holes too)
        self.names_left = MAX_NAMES_BYTES
        self.last: str | None = None          # the last entry taken, for messages
        self.kinds: dict[str, object] = {"": _DIR}
        self.dir_times: dict[str, int] = {}   # set last: creating children bumps a dir's mtime
        self.root_meta: tarfile.TarInfo | None = None
        self.resolved: dict[str, tuple[str, bool]] = {}  # parent path -> (real path, via symlink)
        self.is_root = os.geteuid() == 0

    # -- paths ---------------------------------------------------------------------------

    @staticmethod
    def split(name: str, entry: str, what: str = "path") -> list[str]:
        if name.startswith("/"):
            raise ImageError(f"unsafe layer entry {entry!r}: absolute {what} {name!r}")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise ImageError(f"unsafe layer entry {entry!r}: {what} {name!r} contains '..'")
        if len(parts) > MAX_DEPTH:
            raise ImageError(f"layer entry {_short(entry)}: {what} is {len(parts)} levels deep, "
                             f"over the limit of {MAX_DEPTH}")
        for p in parts:
            if len(p.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
                raise ImageError(f"layer entry {_short(entry)}: a {what} component is longer than "
                                 f"{MAX_NAME_BYTES} bytes, the limit")
        return parts

    def check_limits(self, ti: tarfile.TarInfo) -> None:
        """Length of names and link targets, and the layer's expansion budget (before any write)."""
        for what, value in (("name", ti.name), ("link target", ti.linkname)):
            n = len(value.encode("utf-8", "surrogateescape"))
            if n > MAX_PATH_BYTES:
                raise ImageError(f"layer {self.name}: entry {_short(ti.name)}: {what} is {n} bytes long, "
                                 f"over the limit of {MAX_PATH_BYTES}")
            self.names_left -= n
        if self.names_left < 0:
            raise ImageError(f"layer {self.name}: entry {_short(ti.name)} takes the layer's names and link "
                             f"targets past the limit of {human_bytes(MAX_NAMES_BYTES)} in all")
        if ti.isreg():
            # Against the ceiling: a big file early in an honest streamed layer is announced
            # before the compressed bytes that carry it are read; write_file counts the real ones.
            self.announced += ti.size
            if self.announced > self.budget.ceiling():
                self.over_budget(ti, self.budget.ceiling())

    def over_budget(self, ti: tarfile.TarInfo, limit: int) -> None:
        sparse = " (sparse)" if ti.sparse is not None else ""
        raise ImageError(f"layer {self.name}: entry {_short(ti.name)} of {ti.size} bytes{sparse} takes "
                         f"the layer's files past the limit of {human_bytes(limit)}")

    def resolve_dir(self, parts: list[str], entry: str) -> tuple[str, bool]:
        """The real in-layer path of directory PARTS, creating missing directories.

        Returns (path relative to the root, whether a symlink was followed).
        """
        key = "/".join(parts)
        hit = self.resolved.get(key)
        if hit is not None:
            return hit
        out: list[str] = []
        todo = parts[::-1]
        hops = 0
        while todo:
            c = todo.pop()
            if c in ("", "."):
                continue
            if c == "..":
                if not out:
                    raise ImageError(f"unsafe layer entry {entry!r}: a symlink on its path leads out of the layer")
                out.pop()
                continue
            path = "/".join(out + [c])
            kind = self.kinds.get(path)
            if kind is None:
                os.mkdir(self.abs(path), 0o755)
                self.kinds[path] = _DIR
            elif isinstance(kind, str):
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise ImageError(f"unsafe layer entry {entry!r}: too many levels of symlinks")
                if kind.startswith("/"):
                    raise ImageError(f"unsafe layer entry {entry!r}: passes through symlink "
                                     f"{path!r} -> {kind!r}, which leaves the layer")
                todo.extend(kind.split("/")[::-1])
                continue
            elif kind is not _DIR:
                raise ImageError(f"bad layer entry {entry!r}: {path!r} is not a directory")
            out.append(c)
        hit = ("/".join(out), hops > 0)
        self.resolved[key] = hit
        return hit

    def abs(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def clear(self, rel: str, keep_dir: bool) -> None:
        """Make room for a new entry at REL (tar semantics: the later entry wins)."""
        kind = self.kinds.get(rel)
        if kind is None or (kind is _DIR and keep_dir):
            return
        if kind is _DIR:
            shutil.rmtree(self.abs(rel))
            prefix = rel + "/"
            for k in [k for k in self.kinds if k.startswith(prefix)]:
                del self.kinds[k]
                self.dir_times.pop(k, None)
            self.dir_times.pop(rel, None)
        else:
            os.unlink(self.abs(rel))
        del self.kinds[rel]
        if kind is _DIR or isinstance(kind, str):
            self.resolved.clear()

    # -- entries -------------------------------------------------------------------------

    def add(self, ti: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        entry = ti.name
        self.last = entry
        self.check_limits(ti)
        parts = self.split(entry, entry)
        if not parts:
            if ti.isdir():
                _mtime_ns(ti)       # checked now: it is applied at the end
                self.root_meta = ti
                return
            raise ImageError(f"bad layer entry {entry!r}: the layer root must be a directory")
        base = parts[-1]
        parent, via_link = self.resolve_dir(parts[:-1], entry)
        if base.startswith(WHITEOUT_PREFIX):
            if via_link:
                raise ImageError(f"unsafe layer entry {entry!r}: whiteout inside a symlinked directory")
            self.whiteout(parent, base, ti)
            return
        rel = f"{parent}/{base}" if parent else base
        path = self.abs(rel)
        if ti.isdir():
            self.clear(rel, keep_dir=True)
            if rel not in self.kinds:
                os.mkdir(path, 0o700)
                self.kinds[rel] = _DIR
            self.set_meta(path, ti, entry)
            self.dir_times[rel] = _mtime_ns(ti)
            return
        self.clear(rel, keep_dir=False)
        if ti.isreg():
            self.write_file(path, ti, tf, entry)
            self.kinds[rel] = _FILE
        elif ti.issym():
            os.symlink(ti.linkname, path)
            self.kinds[rel] = ti.linkname
            self.set_meta(path, ti, entry, symlink=True)
        elif ti.islnk():
            self.kinds[rel] = self.hardlink(path, ti, entry)
        elif ti.ischr() or ti.isblk() or ti.isfifo():
            kind = stat.S_IFCHR if ti.ischr() else stat.S_IFBLK if ti.isblk() else stat.S_IFIFO
            os.mknod(path, 0o600 | kind, os.makedev(ti.devmajor, ti.devminor) if kind != stat.S_IFIFO else 0)
            self.kinds[rel] = _OTHER
            self.set_meta(path, ti, entry)
        else:
            raise ImageError(f"bad layer entry {entry!r}: unsupported tar entry type {ti.type!r}")

    def whiteout(self, parent: str, base: str, ti: tarfile.TarInfo) -> None:
        entry = ti.name
        if base == OPAQUE_MARKER:
            os.setxattr(self.abs(parent), OPAQUE_XATTR, b"y")
            return
        name = base[len(WHITEOUT_PREFIX):]
        if name in ("", ".", "..") or name.startswith(WHITEOUT_PREFIX):
            raise ImageError(f"bad layer entry {entry!r}: invalid whiteout name")
        rel = f"{parent}/{name}" if parent else name
        self.clear(rel, keep_dir=False)
        os.mknod(self.abs(rel), 0o600 | stat.S_IFCHR, 0)  # overlayfs's whiteout: a 0:0 char device
        ns = _mtime_ns(ti)  # the marker's time, so one layer always unpacks to the same tree
        os.utime(self.abs(rel), ns=(ns, ns))
        self.kinds[rel] = _OTHER

    def hardlink(self, path: str, ti: tarfile.TarInfo, entry: str) -> object:
        parts = self.split(ti.linkname, entry, "hardlink target")
        if not parts:
            raise ImageError(f"bad layer entry {entry!r}: hardlink to the layer root")
        parent, _ = self.resolve_dir(parts[:-1], entry)
        target = f"{parent}/{parts[-1]}" if parent else parts[-1]
        kind = self.kinds.get(target)
        if kind is None:
            raise ImageError(f"bad layer entry {entry!r}: hardlink target {ti.linkname!r} is not in the layer")
        if kind is _DIR:
            raise ImageError(f"bad layer entry {entry!r}: hardlink to directory {ti.linkname!r}")
        os.link(self.abs(target), path, follow_symlinks=False)
        return kind

    def write_file(self, path: str, ti: tarfile.TarInfo, tf: tarfile.TarFile, entry: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            if ti.size:
                src = tf.extractfile(ti)
                read, write, budget = src.read, os.write, self.budget
                while True:
                    buf = read(_CHUNK)
                    if not buf:
                        break
                    self.written += len(buf)
                    if self.written > budget.limit():
                        self.over_budget(ti, budget.limit())
                    view = memoryview(buf)
                    while view:
                        view = view[write(fd, view):]
            self.set_meta(fd, ti, entry)
        finally:
            os.close(fd)

    def set_meta(self, target, ti: tarfile.TarInfo, entry: str, symlink: bool = False) -> None:
        """Owner, mode, xattrs, then times (chown clears setuid bits and file capabilities)."""
        follow = not symlink
        try:
            os.chown(target, ti.uid, ti.gid, follow_symlinks=follow)
        except PermissionError:
            if self.is_root:
                raise
        if not symlink:
            os.chmod(target, ti.mode & 0o7777)
        if ti.pax_headers:
            for key, value in ti.pax_headers.items():
                if key.startswith("SCHILY.xattr."):
                    name = key[len("SCHILY.xattr."):]
                    # overlayfs reads trusted.overlay.*: a layer must not forge its own (redirects, opaque)
                    if name.startswith("trusted.overlay."):
                        continue
                    try:
                        os.setxattr(target, name, value.encode("utf-8", "surrogateescape"),
                                    follow_symlinks=follow)
                    except OSError as e:
                        # Linux allows no user.* xattrs on symlinks; such a header is harmless noise.
                        if not (symlink and name.startswith("user.") and e.errno in (errno.EPERM, errno.ENOTSUP)):
                            raise
        if not ti.isdir():
            ns = _mtime_ns(ti)
            os.utime(target, ns=(ns, ns), follow_symlinks=follow)

    def finish(self) -> None:
        # Deepest first, so setting a child's time never disturbs its parent's afterwards.
        for rel in sorted(self.dir_times, key=lambda r: r.count("/"), reverse=True):
            ns = self.dir_times[rel]
            os.utime(self.abs(rel), ns=(ns, ns))
        meta = self.root_meta
        if meta is not None:
            self.set_meta(self.root, meta, meta.name)
            ns = _mtime_ns(meta)
            os.utime(self.root, ns=(ns, ns))
        else:
            os.chmod(self.root, 0o755)

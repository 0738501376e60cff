"""Image records on disk, on top of the content store.

Layout of the image store, <root>/image/ (root is the CLI's --root, default /var/lib/pyrt;
both are kept 0700 and owned by the user running pyrt, checked at every start):

    blobs/sha256/<hex>      every manifest, index, config and (compressed) layer blob, once
    ingest/<hex>            blobs being downloaded; partial files stay for the next pull to resume
    layers/<diffid-hex>/    each layer unpacked once (pyrt.image.unpack.unpack_layer), named by the
                            hex of its diff_id (the sha256 of the uncompressed tar), so a layer
                            shared by several images, or pushed with another compression, is
                            stored once. Each dir holds only that layer's own changes, whiteouts
                            already in overlayfs form: stack them as overlay lowerdirs. A dir is
                            only ever filled from bytes that hashed to its diff_id
                            (pyrt.image.layerstream), so one image cannot plant content another
                            image will reuse.
                            While one is being unpacked, layers/.<hex>.lock is flock(2)ed
                            (ImageStore.layer_lock); its holder deletes it.
    images/<id-hex>.json    one record per image; the image id is its config digest
    tmp/                    temp files of load, import and save (made only under adding())
    tags.json               {"docker.io/library/busybox:latest": "sha256:<id>", ...}
    lock                    flock(2)ed around every change of records or tags and around gc
    gc.lock                 shared by pulls, loads and imports while they add unrecorded content
                            (adding()), exclusive for gc; so gc finds in layers/ no dot-name
                            (stream, unpack temp, lock) but those of processes that died

A record (ImageRecord) names its manifest digest, config digest, the ordered layers
(digest, media type, size, diff_id) and the repo digests it was pulled by.

Who uses an image is not known here (the engine owns containers): it registers a
callable with set_users_hook(fn(image_id) -> [container names]); rmi and prune refuse
to remove an image with users unless forced.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import time

TYPE_CHECKING = False     # typing costs ~2.5 ms of a pull's start-up; annotations only
if TYPE_CHECKING:
    from typing import Callable

from pyrt.errors import ImageError, NotFoundError, StateError
from pyrt.image.content import ContentStore, check_digest, disk_full, is_disk_full
from pyrt.privdir import ensure_private_dir

_users_hook: Callable[[str], list[str]] = lambda image_id: []


def set_users_hook(fn: Callable[[str], list[str]]) -> None:
    """The engine tells the store which containers use an image (by image id)."""
    global _users_hook
    _users_hook = fn


@dataclasses.dataclass
class LayerRecord:
    digest: str
    media_type: str
    size: int
    diff_id: str


@dataclasses.dataclass
class ImageRecord:
    id: str                       # config digest
    manifest_digest: str
    manifest_media_type: str
    layers: list[LayerRecord]
    repo_digests: list[str] = dataclasses.field(default_factory=list)   # name@sha256:... (manifest or index)
    index_digest: str | None = None
    created: str | None = None
    os: str = "linux"
    architecture: str = ""
    variant: str | None = None
    pulled_at: float = 0.0

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ImageRecord":
        d = dict(d)
        d["layers"] = [LayerRecord(**x) for x in d["layers"]]
        return cls(**d)


def _write_json_atomic(path: str, obj) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True)
        os.rename(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_disk_full(e):
            raise disk_full(f"writing {os.path.basename(path)}") from None
        raise


class ImageStore:
    def __init__(self, root: str):
        self.base = root
        self.root = os.path.join(root, "image")
        # Closed to other host users before anything is read or unpacked in it: layers hold the
        # images' setuid binaries and dirs of any mode (pyrt.privdir says why both roots).
        ensure_private_dir(root)
        ensure_private_dir(self.root)
        self.content = ContentStore(self.root)
        self.layer_dir_root = os.path.join(self.root, "layers")
        self.image_dir = os.path.join(self.root, "images")
        self.tags_path = os.path.join(self.root, "tags.json")
        self.tmp_dir = os.path.join(self.root, "tmp")     # load/import/save temp files (pyrt.image.archive)
        os.makedirs(self.layer_dir_root, exist_ok=True)
        os.makedirs(self.image_dir, exist_ok=True)

    # -- locking ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self):
        with open(os.path.join(self.root, "lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    @contextlib.contextmanager
    def adding(self):
        """Hold while putting in blobs and layers that no record names yet (a pull, a load):
        gc waits for every holder, so it never deletes content about to be recorded."""
        with open(os.path.join(self.root, "gc.lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_SH)
            yield

    # -- layers -------------------------------------------------------------------------------
    def layer_dir(self, diff_id: str) -> str:
        return os.path.join(self.layer_dir_root, check_digest(diff_id))

    def layer_lock(self, diff_id: str):
        """Held while layers/<hex of DIFF_ID>/ is being made (layer_lock below): a second pull,
        load or import of the same layer waits, then finds it there."""
        return layer_lock(os.path.join(self.layer_dir_root, f".{diff_id[7:]}.lock"))

    def unpack_once(self, layer: LayerRecord) -> str:
        """Unpack LAYER's committed blob into layers/<diff_id>/ unless some pull already did;
        the uncompressed content must hash to the diff_id (ImageError otherwise)."""
        dest = self.layer_dir(layer.diff_id)
        if os.path.isdir(dest):
            return dest
        with self.layer_lock(layer.diff_id):
            if not os.path.isdir(dest):
                from pyrt.image.layerstream import unpack_blob  # the unpacker: only when needed
                unpack_blob(self, layer)
        return dest

    def has_layer(self, diff_id: str) -> bool:
        return os.path.isdir(self.layer_dir(diff_id))

    def layer_dirs(self, record: ImageRecord) -> list[str]:
        """The image's unpacked layers, bottom first (reverse it for overlay's lowerdir)."""
        return [self.layer_dir(layer.diff_id) for layer in record.layers]

    # -- records and tags ---------------------------------------------------------------------
    def _tags(self) -> dict[str, str]:
        try:
            with open(self.tags_path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def _record_path(self, image_id: str) -> str:
        return os.path.join(self.image_dir, check_digest(image_id) + ".json")

    def records(self) -> list[ImageRecord]:
        out = []
        for name in sorted(os.listdir(self.image_dir)):
            if name.endswith(".json"):
                with open(os.path.join(self.image_dir, name)) as f:
                    out.append(ImageRecord.from_json(json.load(f)))
        return out

    def get(self, image_id: str) -> ImageRecord:
        try:
            with open(self._record_path(image_id)) as f:
                return ImageRecord.from_json(json.load(f))
        except FileNotFoundError:
            raise NotFoundError(f"no such image: {image_id}") from None

    def tags_of(self, image_id: str) -> list[str]:
        return sorted(t for t, i in self._tags().items() if i == image_id)

    def config(self, record: ImageRecord):
        from pyrt.image.manifest import parse_config
        return parse_config(self.content.read(record.id))

    def add(self, record: ImageRecord, tag: str | None) -> None:
        """Record an image whose blobs and layers are all present, then point TAG at it."""
        for layer in record.layers:
            if not self.content.has(layer.digest) or not self.has_layer(layer.diff_id):
                raise ImageError(f"layer {layer.digest} missing: not recording a partial image")
        with self.lock():
            path = self._record_path(record.id)
            if os.path.exists(path):
                old = self.get(record.id)
                record.repo_digests = sorted(set(old.repo_digests) | set(record.repo_digests))
            record.pulled_at = record.pulled_at or time.time()
            _write_json_atomic(path, record.to_json())
            if tag:
                tags = self._tags()
                tags[tag] = record.id
                _write_json_atomic(self.tags_path, tags)

    def resolve(self, name: str) -> ImageRecord:
        """An image by tag (docker-style short names allowed), repo digest, or id / id prefix."""
        tags = self._tags()
        from pyrt.image import reference
        candidates = [name]
        with contextlib.suppress(ImageError):
            candidates.append(str(reference.parse(name)))
        for c in candidates:
            if c in tags:
                return self.get(tags[c])
        records = self.records()
        for c in candidates:
            for r in records:
                if c in r.repo_digests:
                    return r
        hexpart = name[7:] if name.startswith("sha256:") else name
        if len(hexpart) >= 4 and all(ch in "0123456789abcdef" for ch in hexpart):
            hits = [r for r in records if r.id[7:].startswith(hexpart)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise ImageError(f"ambiguous image id prefix: {name}")
        raise NotFoundError(f"no such image: {name}")

    # -- removal ------------------------------------------------------------------------------
    def remove(self, name: str, force: bool = False) -> list[str]:
        """rmi: untag NAME, deleting the image when no tag is left. Returns lines to print."""
        record = self.resolve(name)
        users = _users_hook(record.id)
        if users and not force:
            raise StateError(f"image {name} is in use by container(s) {', '.join(users)}",
                             "stop and remove them, or use -f")
        out: list[str] = []
        with self.lock():
            tags = self._tags()
            mine = sorted(t for t, i in tags.items() if i == record.id)
            by_tag = name in mine or any(t == _canonical(name) for t in mine)
            if by_tag:
                t = name if name in mine else _canonical(name)
                del tags[t]
                out.append(f"Untagged: {t}")
                mine.remove(t)
            else:
                if len(mine) > 1 and not force:
                    raise StateError(f"image {record.id[7:19]} is referenced by several tags: {', '.join(mine)}",
                                     "remove them by name, or use -f")
                for t in mine:
                    del tags[t]
                    out.append(f"Untagged: {t}")
                mine = []
            _write_json_atomic(self.tags_path, tags)
            if not mine:
                os.unlink(self._record_path(record.id))
                out.append(f"Deleted: {record.id}")
        self.gc()
        return out

    def prune(self, all_images: bool = False) -> list[str]:
        """Delete dangling images (no tag), or with all_images every image no container uses;
        then unreferenced blobs and layers, and partial downloads no pull is resuming."""
        removed = []
        with self.lock():
            tags = self._tags()
            tagged = set(tags.values())
            for r in self.records():
                if _users_hook(r.id):
                    continue
                if r.id in tagged and not all_images:
                    continue
                for t in [t for t, i in tags.items() if i == r.id]:
                    del tags[t]
                os.unlink(self._record_path(r.id))
                removed.append(r.id)
            _write_json_atomic(self.tags_path, tags)
        self.gc()
        self.content.clean_ingest()
        return removed

    def gc(self) -> tuple[int, int]:
        """Delete blobs and layer dirs no image record refers to. Returns (blobs, layers) removed."""
        # gc.lock before lock: a pull holds gc.lock (shared) while it takes lock to record.
        with open(os.path.join(self.root, "gc.lock"), "a") as gc_lock:
            fcntl.flock(gc_lock, fcntl.LOCK_EX)
            return self._gc_locked()

    def _gc_locked(self) -> tuple[int, int]:
        with self.lock():
            blobs: set[str] = set()
            layers: set[str] = set()
            for r in self.records():
                blobs.update({r.id, r.manifest_digest})
                if r.index_digest:
                    blobs.add(r.index_digest)
                for layer in r.layers:
                    blobs.add(layer.digest)
                    layers.add(check_digest(layer.diff_id))
            nb = nl = 0
            for d in self.content.digests():
                if d not in blobs:
                    self.content.delete(d)
                    nb += 1
            # Temp files are also made only under adding(): any left is a dead process's.
            for name in os.listdir(self.tmp_dir) if os.path.isdir(self.tmp_dir) else ():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.tmp_dir, name))
            for name in os.listdir(self.layer_dir_root):
                if name.startswith("."):
                    self._remove_leftover(name)
                    continue
                if name not in layers:
                    shutil.rmtree(os.path.join(self.layer_dir_root, name), ignore_errors=True)
                    nl += 1
            return nb, nl


    def _remove_leftover(self, name: str) -> None:
        """A dot-name in layers/ is work in flight: a stream's FIFO and tree, an unpack's temp dir
        (`..<hex>.stream-<pid>-<tid>.unpack-<pid>-<rand>`), a layer lock. Every pull, load and
        import makes them only while it holds gc.lock shared (adding()), and gc holds it
        exclusively: whatever is left now belongs to a process that died (SIGKILL, power loss),
        whatever its pid says (issue 9.12d: such a tree was never removed). A layer lock still
        flock(2)ed is left alone all the same."""
        path = os.path.join(self.layer_dir_root, name)
        if name.endswith(".lock"):
            with contextlib.suppress(OSError), open(path, "rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(path)
            return
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


@contextlib.contextmanager
def layer_lock(path: str):
    """An exclusive flock on PATH that leaves no file behind: the holder unlinks the file
    before it unlocks. A waiter that then wakes up holding the unlinked inode (the path is gone
    or names a newer file) locks again, so two holders never overlap."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.unlink(path)
        os.close(fd)


def _canonical(name: str) -> str:
    from pyrt.image import reference
    try:
        return str(reference.parse(name))
    except ImageError:
        return name

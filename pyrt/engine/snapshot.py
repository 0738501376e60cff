"""A container's root filesystem from an image's unpacked layers.

prepare() lays out, inside the container's directory:

    upper/ work/    the container's own writable layer (overlay)
    rootfs/         the merged view: an overlay mount (lowerdir = the layers, top first)
    snapshot.json   {"kind": "overlay"|"copy", ...}: release() reads it, in any process

Where overlayfs refuses (the store on an overlay or a filesystem without trusted.*
xattrs, or no overlay module), rootfs/ is instead a plain copy of the layers merged
bottom-up, whiteouts and opaque directories applied the way overlayfs would
(pyrt.image.merge). The mount itself is pyrt.linux.overlay's business: this module decides and
lays out. It is the engine's: container root filesystems are (the image layer makes no mounts).

release() unmounts (when mounted) and removes what prepare() made; the container
directory itself belongs to the caller.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os

from pyrt.errors import ImageError
from pyrt.image.merge import merge_layers
from pyrt.image.unpack import remove_tree

STATE_FILE = "snapshot.json"
_PARTS = ("rootfs", "upper", "work", "empty")
# Errors from mount(2) that mean "overlayfs cannot do this here", not "you made a mistake".
_FALLBACK_ERRNOS = {errno.EINVAL, errno.ENODEV, errno.EOPNOTSUPP, errno.EPERM, errno.ENOSYS, errno.EXDEV}


@dataclasses.dataclass(frozen=True)
class Snapshot:
    rootfs: str
    kind: str                    # "overlay" or "copy"
    upper: str | None = None
    reason: str | None = None    # why overlay was not used (copy only)


def prepare(container_dir: str, layer_dirs: list[str], copy: bool = False) -> Snapshot:
    """Make CONTAINER_DIR/rootfs from LAYER_DIRS (bottom layer first, as in the manifest).

    With copy=True, or when the overlay mount is refused, the rootfs is a merged copy.
    On any failure nothing of ours is left in CONTAINER_DIR.
    """
    container_dir = os.path.abspath(container_dir)
    for d in layer_dirs:
        if not os.path.isdir(d):
            raise ImageError(f"layer directory missing: {d}")
    if os.path.exists(os.path.join(container_dir, STATE_FILE)):
        raise ImageError(f"a snapshot already exists in {container_dir}")
    os.makedirs(container_dir, exist_ok=True)
    rootfs = os.path.join(container_dir, "rootfs")
    try:
        snap = None
        if not copy:
            snap = _try_overlay(container_dir, layer_dirs)
        if snap is None or snap.kind != "overlay":
            reason = snap.reason if snap else "copy requested"
            _remove_parts(container_dir)
            os.mkdir(rootfs, 0o755)
            try:
                merge_layers(layer_dirs, rootfs)
            except OSError as e:
                raise ImageError(f"cannot copy the image layers into {rootfs}: {e}") from None
            snap = Snapshot(rootfs=rootfs, kind="copy", reason=reason)
        _write_state(container_dir, snap)
        return snap
    except BaseException:
        release(container_dir)
        raise


def _try_overlay(container_dir: str, layer_dirs: list[str]) -> Snapshot:
    from pyrt.linux import overlay

    upper, work, rootfs = (os.path.join(container_dir, n) for n in ("upper", "work", "rootfs"))
    for d in (upper, work, rootfs):
        os.mkdir(d, 0o755)
    lowers = list(reversed(layer_dirs))
    if len(lowers) < 1:
        empty = os.path.join(container_dir, "empty")
        os.mkdir(empty, 0o755)
        lowers = [empty]
    try:
        overlay.mount_overlay(lowers, upper, work, rootfs)
    except OSError as e:
        if e.errno in _FALLBACK_ERRNOS:
            return Snapshot(rootfs=rootfs, kind="none", reason=f"overlay mount refused: {e.strerror}")
        raise ImageError(f"cannot mount the container rootfs at {rootfs}: {e.strerror}") from None
    return Snapshot(rootfs=rootfs, kind="overlay", upper=upper)


def _write_state(container_dir: str, snap: Snapshot) -> None:
    path = os.path.join(container_dir, STATE_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump(dataclasses.asdict(snap), f)
    os.rename(path + ".tmp", path)


def load(container_dir: str) -> Snapshot | None:
    try:
        with open(os.path.join(container_dir, STATE_FILE)) as f:
            return Snapshot(**json.load(f))
    except FileNotFoundError:
        return None


def release(container_dir: str) -> None:
    """Unmount and remove the snapshot in CONTAINER_DIR. Safe to call twice."""
    from pyrt.linux import overlay

    container_dir = os.path.abspath(container_dir)
    rootfs = os.path.join(container_dir, "rootfs")
    if os.path.isdir(rootfs) and overlay.is_mountpoint(rootfs):
        try:
            overlay.unmount(rootfs)
        except OSError as e:
            raise ImageError(f"cannot unmount {rootfs}: {e.strerror}") from None
        if overlay.is_mountpoint(rootfs):  # never delete through a live mount
            raise ImageError(f"{rootfs} is still mounted; not removing it")
    _remove_parts(container_dir)
    for n in (STATE_FILE, STATE_FILE + ".tmp"):
        try:
            os.unlink(os.path.join(container_dir, n))
        except FileNotFoundError:
            pass


def _remove_parts(container_dir: str) -> None:
    for n in _PARTS:
        remove_tree(os.path.join(container_dir, n))

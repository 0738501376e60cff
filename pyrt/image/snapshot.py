"""A container's root filesystem from an image's unpacked layers.

prepare() lays out, inside the container's directory:

    upper/ work/    the container's own writable layer (overlay)
    rootfs/         the merged view: an overlay mount (lowerdir = the layers, top first)
    snapshot.json   {"kind": "overlay"|"copy", ...}: release() reads it, in any process

Where overlayfs refuses (the store on an overlay or a filesystem without trusted.*
xattrs, or no overlay module), rootfs/ is instead a plain copy of the layers merged
bottom-up, whiteouts and opaque directories applied the way overlayfs would. The
mount itself is pyrt.linux.overlay's business: this module only decides and lays out.

release() unmounts (when mounted) and removes what prepare() made; the container
directory itself belongs to the caller.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import stat

from pyrt.errors import ImageError
from pyrt.image.unpack import OPAQUE_XATTR, remove_tree

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


# -- the copy fallback: overlayfs's merge rules, applied by hand ----------------------------

def merge_layers(layer_dirs: list[str], dest: str) -> None:
    """Copy LAYER_DIRS (bottom first) onto DEST as overlayfs would show them merged."""
    for layer in layer_dirs:
        links: dict[tuple[int, int], str] = {}
        _merge_dir(layer, dest, links)
        _copy_meta(layer, dest, os.lstat(layer))


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _merge_dir(src_dir: str, dst_dir: str, links: dict) -> None:
    # DST_DIR is always a real directory here (never a symlink): we made it so one level up.
    with os.scandir(src_dir) as it:
        entries = list(it)
    for e in entries:
        src, dst = e.path, os.path.join(dst_dir, e.name)
        st = e.stat(follow_symlinks=False)
        if _is_whiteout(st):
            _remove(dst)
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                dst_is_dir = stat.S_ISDIR(os.lstat(dst).st_mode)
            except FileNotFoundError:
                dst_is_dir = False
            if dst_is_dir and _is_opaque(src):
                shutil.rmtree(dst)
                dst_is_dir = False
            if not dst_is_dir:
                _remove(dst)
                os.mkdir(dst, 0o700)
            _merge_dir(src, dst, links)
            _copy_meta(src, dst, st)
            continue
        _remove(dst)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], dst, follow_symlinks=False)
            continue
        if stat.S_ISREG(st.st_mode):
            _copy_data(src, dst)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        else:
            os.mknod(dst, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev)
        _copy_meta(src, dst, st)
        if st.st_nlink > 1:
            links[key] = dst


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _copy_data(src: str, dst: str) -> None:
    fin = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(fin).st_size
            copy = os.copy_file_range
            while size > 0:
                try:
                    n = copy(fin, fout, size)
                except OSError as e:
                    # across filesystems (or on overlayfs) copy_file_range refuses; sendfile copies
                    if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP) \
                            or copy is not os.copy_file_range:
                        raise
                    copy = lambda i, o, n: os.sendfile(o, i, None, n)  # noqa: E731
                    continue
                if n == 0:
                    break
                size -= n
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    """Owner, mode, xattrs (not overlayfs's own), then times; never following symlinks."""
    link = stat.S_ISLNK(st.st_mode)
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if not link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        names = []
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

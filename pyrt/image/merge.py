"""An image's layers merged by hand into one directory, as overlayfs would show them stacked: the
copy fallback for a container's root filesystem where overlayfs refuses (pyrt.engine.snapshot).
Whiteouts delete what is below, opaque directories hide it; owners, modes, xattrs (not
overlayfs's own), times and hard links are kept. Plain file work on the image's layers."""
from __future__ import annotations

import errno
import os
import shutil
import stat

from pyrt.image.unpack import OPAQUE_XATTR

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

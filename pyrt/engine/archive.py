"""`pyrt cp` and the archive API (get_archive / put_archive): tar streams of a container's paths,
with docker's rules for what lands where.

The container's filesystem is hostile: any component of a path may be a symlink to "/" or to
"../../..", and a running container can swap a directory for a symlink while we copy. So every
path is opened by the kernel inside a root fd (openat2 RESOLVE_IN_ROOT, pyrt.linux.syscalls:
symlinks resolve as if that fd were "/", ".." stops there), and only the last component is then
touched, by name, under its parent's fd with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW: a symlink is
never written through. A tar written to the host is extracted beneath its destination
directory's fd the same way, without device nodes or setuid/setgid bits (a hostile image's
/dev/sda node or setuid shell must not reach the host's unprivileged users).
"""
from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile

from pyrt.engine.errors import EngineError, InvalidArgument, NotFound

_DIR = os.O_RDONLY | os.O_DIRECTORY


class Tree:
    """One side of a copy: a root fd that paths are resolved in (the container's /, or the
    host's /) and how trusted what is written there is."""

    def __init__(self, root_fd: int, where: str, host: bool):
        self.fd = root_fd
        self.where = where          # for messages: "container web" or "host"
        self.host = host            # extracting here: no device nodes, no setuid/setgid bits

    def close(self) -> None:
        os.close(self.fd)


def open_tree(path: str, where: str, host: bool) -> Tree:
    return Tree(os.open(path, _DIR | os.O_CLOEXEC), where, host)


def comps(path: str) -> list[str]:
    """PATH's components, cleaned as docker cleans a container path: no "", ".", and ".." taken
    away lexically, never above the root (a last ".." would otherwise be looked up by name under
    the root's own fd: the kernel's parent of the rootfs, a host directory)."""
    out: list[str] = []
    for c in path.split("/"):
        if c == "..":
            if out:
                out.pop()
        elif c not in ("", "."):
            out.append(c)
    return out


def _resolve_flags() -> int:
    from pyrt.linux import syscalls as sc
    return sc.RESOLVE["RESOLVE_IN_ROOT"] | sc.RESOLVE["RESOLVE_NO_MAGICLINKS"]


def open_dir(base: int, parts: list[str], create: bool = False) -> int:
    """A directory fd for PARTS resolved inside BASE (symlinks followed, inside BASE); CREATE
    makes missing directories one at a time under their parent's fd."""
    from pyrt.linux import syscalls as sc
    try:
        return sc.openat2(base, "/".join(parts) or ".", _DIR, _resolve_flags())
    except OSError as e:
        if e.errno == errno.ENOSYS:
            raise EngineError("cp needs openat2 (Linux 5.6 or later)") from None
        if e.errno != errno.ENOENT or not create or not parts:
            raise
    parent = open_dir(base, parts[:-1], create)
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(parts[-1], 0o755, dir_fd=parent)
        r = sc.RESOLVE
        return sc.openat2(parent, parts[-1], _DIR, r["RESOLVE_BENEATH"] | r["RESOLVE_NO_SYMLINKS"])
    finally:
        os.close(parent)


def lstat(tree: Tree, path: str) -> os.stat_result | None:
    """lstat of PATH's last component (a symlink is itself); None if it does not exist."""
    parts = comps(path)
    try:
        parent = open_dir(tree.fd, parts[:-1])
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return os.stat(parts[-1] if parts else ".", dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None
    finally:
        os.close(parent)


def _stat_followed(tree: Tree, path: str) -> os.stat_result | None:
    """stat of PATH with a last symlink followed (inside the tree): what a destination is."""
    from pyrt.linux import syscalls as sc
    try:
        fd = sc.openat2(tree.fd, "/".join(comps(path)) or ".", os.O_PATH, _resolve_flags())
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


_MAX_LINKS = 40     # the kernel's limit on symlinks in one lookup (then ELOOP)


def follow(tree: Tree, path: str) -> str:
    """PATH with every symlink in it followed, inside the tree (`cp -L`): each component is looked
    at by name under its parent's fd, a link's target spliced in from the tree's "/" (absolute)
    or from its directory, ".." never above the tree's root. What comes back is opened inside
    the root again, so a link swapped meanwhile still cannot lead out."""
    todo, done, hops = comps(path)[::-1], [], 0
    while todo:
        c = todo.pop()
        if c == "..":
            if done:
                done.pop()
            continue
        st = lstat(tree, "/".join(done + [c]))
        if st is None or not stat.S_ISLNK(st.st_mode):
            done.append(c)      # a missing one is reported by whoever opens the result
            continue
        hops += 1
        if hops > _MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        parent = open_dir(tree.fd, done)
        try:
            target = os.readlink(c, dir_fd=parent)
        finally:
            os.close(parent)
        if target.startswith("/"):
            done = []
        todo += [t for t in target.split("/") if t not in ("", ".")][::-1]
    return "/" + "/".join(done)


# -- writing a tar of a path ---------------------------------------------------------------------
def write_tar(tree: Tree, path: str, out, follow_link: bool = False) -> os.stat_result:
    """A tar of PATH on OUT (a binary file object): entries under PATH's basename, or PATH's
    contents at the top when it ends in "/." (docker's rule). A last symlink is archived as itself,
    or with FOLLOW_LINK what it leads to (inside the tree), under the link's name."""
    parts = comps(path)
    contents = path.endswith("/.") or not parts
    arc = parts[-1] if parts else ""
    if follow_link:
        parts = comps(follow(tree, path))
    try:
        parent = open_dir(tree.fd, parts[:-1])
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"could not find the file {path} in {tree.where}") from None
    try:
        name = parts[-1] if parts else "."
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise NotFound(f"could not find the file {path} in {tree.where}") from None
        if contents and not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"{path}: not a directory")
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, parent, name, "" if contents else arc, st, top=True)
        return st
    finally:
        os.close(parent)


def _info(st: os.stat_result, arcname: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(arcname)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid, ti.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
    return ti


def _add(tar: tarfile.TarFile, parent: int, name: str, arcname: str, st: os.stat_result, top: bool = False):
    from pyrt.linux import syscalls as sc
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        fd = os.open(name, _DIR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            st = os.fstat(fd)
            if arcname:
                ti = _info(st, arcname)
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            # the container's /proc and /sys are the kernel's, not its files (docker copies
            # from the rootfs and volumes only)
            if not top and sc.fs_magic(fd) in (sc.PROC_SUPER_MAGIC, sc.SYSFS_MAGIC):
                return
            for entry in sorted(os.listdir(fd)):
                with contextlib.suppress(FileNotFoundError):
                    est = os.stat(entry, dir_fd=fd, follow_symlinks=False)
                    _add(tar, fd, entry, f"{arcname}/{entry}" if arcname else entry, est)
        finally:
            os.close(fd)
    elif stat.S_ISREG(mode):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return          # swapped for something else meanwhile
            ti = _info(st, arcname or name)
            ti.size = st.st_size
            tar.addfile(ti, f)
    elif stat.S_ISLNK(mode):
        ti = _info(st, arcname or name)
        ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=parent)
        tar.addfile(ti)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        ti = _info(st, arcname or name)
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE if stat.S_ISBLK(mode) else tarfile.FIFOTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(ti)
    # sockets are not archived (as tar)


# -- extracting a tar --------------------------------------------------------------------------------
def extract(tree: Tree, dest: str, src, rename: tuple[str, str] | None = None, keep_owner: bool = False,
            make_dest: bool = False) -> None:
    """Extract the tar on SRC (a binary file object, read as a stream) into directory DEST of
    TREE. RENAME (old, new): the archive's top-level entry OLD lands as NEW. KEEP_OWNER: the
    archive's uid/gid (else the files are the caller's). MAKE_DEST: DEST's last component may be
    made. Into the host, entries are resolved beneath DEST (not the host's /)."""
    parts = comps(dest)
    try:
        if make_dest and parts:
            parent = open_dir(tree.fd, parts[:-1])
            try:
                base = open_dir(parent, parts[-1:], create=True)
            finally:
                os.close(parent)
        else:
            base = open_dir(tree.fd, parts)
    except FileNotFoundError:
        raise NotFound(f"no such directory {dest} in {tree.where}") from None
    except NotADirectoryError:
        raise InvalidArgument(f"{dest} in {tree.where} is not a directory") from None
    # in a container, an archive's paths are the container's (its symlinks resolve from its /);
    # on the host, never above DEST
    root, prefix = (base, []) if tree.host else (tree.fd, parts)
    try:
        with tarfile.open(fileobj=src, mode="r|*") as tar:
            for m in tar:
                if ".." in m.name.split("/"):
                    raise InvalidArgument(f"archive entry {m.name!r} climbs out of its directory")
                names = comps(m.name)
                if not names:
                    continue
                if rename and names[0] == rename[0]:
                    names[0] = rename[1]
                _extract_one(tree, tar, m, root, prefix + names, keep_owner)
    except tarfile.TarError as e:
        raise InvalidArgument(f"not a valid tar archive: {e}") from None
    finally:
        os.close(base)


def _extract_one(tree: Tree, tar: tarfile.TarFile, m: tarfile.TarInfo, root: int, parts: list[str],
                 keep_owner: bool) -> None:
    parent = open_dir(root, parts[:-1], create=True)
    name = parts[-1]
    mode = m.mode & (0o1777 if tree.host else 0o7777)
    try:
        try:
            old = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if m.isdir():
            if old is not None and not stat.S_ISDIR(old.st_mode):
                os.unlink(name, dir_fd=parent)
                old = None
            if old is None:
                os.mkdir(name, 0o700, dir_fd=parent)
            fd = open_dir(parent, [name])       # inside PARENT, a symlink never followed out
            try:
                os.fchmod(fd, mode)
                if keep_owner:
                    os.fchown(fd, m.uid, m.gid)
            finally:
                os.close(fd)
            return
        if old is not None:
            if stat.S_ISDIR(old.st_mode):
                raise InvalidArgument(f"cannot overwrite directory {'/'.join(parts)} with a non-directory")
            os.unlink(name, dir_fd=parent)    # a symlink is replaced, never written through
        if m.isreg():
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=parent)
            with os.fdopen(fd, "wb") as f:
                data = tar.extractfile(m)
                while chunk := data.read(1 << 20):
                    f.write(chunk)
                if keep_owner:
                    os.fchown(fd, m.uid, m.gid)
                os.fchmod(fd, mode)
                os.utime(fd, (m.mtime, m.mtime))
        elif m.issym():
            os.symlink(m.linkname, name, dir_fd=parent)
            if keep_owner:
                os.chown(name, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
        elif m.islnk():
            target = comps(m.linkname)
            src = open_dir(root, target[:-1])
            try:
                os.link(target[-1], name, src_dir_fd=src, dst_dir_fd=parent, follow_symlinks=False)
            finally:
                os.close(src)
        elif m.isfifo() or ((m.ischr() or m.isblk()) and not tree.host):
            kind = stat.S_IFIFO if m.isfifo() else stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(name, kind | mode, os.makedev(m.devmajor, m.devminor), dir_fd=parent)
            if keep_owner:
                os.chown(name, m.uid, m.gid, dir_fd=parent, follow_symlinks=False)
        # device nodes are not made on the host; other types are not archived
    finally:
        os.close(parent)


# -- docker cp's rules -----------------------------------------------------------------------------------
def copy(src: Tree, src_path: str, dst: Tree, dst_path: str, keep_owner: bool = False,
         follow_link: bool = False) -> None:
    """`cp SRC_PATH DST_PATH` between two trees with docker's rules:
    a file to a missing DST lands as DST (DST ending in "/" must then exist as a directory), to a
    file overwrites it, to a directory lands in it; a directory to a missing DST becomes DST, to
    a directory lands in it (its contents only when SRC_PATH ends in "/."), never onto a file;
    DST's parent must exist. FOLLOW_LINK (-L): a symlink SRC_PATH is copied as what it leads to."""
    import tempfile
    st = lstat(src, follow(src, src_path) if follow_link else src_path)
    if st is None:
        raise NotFound(f"could not find the file {src_path} in {src.where}")
    src_dir = stat.S_ISDIR(st.st_mode)
    src_name = (comps(src_path) or ["."])[-1]
    contents = src_path.endswith("/.")
    dst_st = _stat_followed(dst, dst_path)
    dparts = comps(dst_path)
    if dst_st is not None and stat.S_ISDIR(dst_st.st_mode):
        target, rename, make = dst_path, None, False
    elif dst_st is not None:
        if src_dir:
            raise InvalidArgument(f"cannot copy a directory to a file: {dst_path}")
        target, rename, make = "/" + "/".join(dparts[:-1]), (src_name, dparts[-1]), False
    else:
        if dst_path.endswith("/") and not src_dir:
            raise NotFound(f"destination directory {dst_path} must exist in {dst.where}")
        parent = _stat_followed(dst, "/" + "/".join(dparts[:-1]))
        if parent is None or not stat.S_ISDIR(parent.st_mode):
            raise NotFound(f"no such directory {'/' + '/'.join(dparts[:-1])} in {dst.where}")
        if src_dir:
            target, rename, make, contents = dst_path, None, True, True
        else:
            target, rename, make = "/" + "/".join(dparts[:-1]), (src_name, dparts[-1]), False
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as buf:
        write_tar(src, src_path.rstrip("/") + "/." if (src_dir and contents) else src_path, buf, follow_link)
        buf.seek(0)
        extract(dst, target, buf, rename, keep_owner, make_dest=make)


# -- a container's tree ------------------------------------------------------------------------------
@contextlib.contextmanager
def container_tree(engine, ref: str):
    """The Tree of container REF: a running one's root as its init sees it (/proc/PID/root: its
    volumes and tmpfs included); a stopped one's rootfs with its volumes and binds, mounted for the
    copy under its lock (pyrt.engine.copyroot: in a mount namespace of its own, never the host's)."""
    from pyrt.linux import proc
    rec = engine.get(ref)
    where = f"container {rec.name}"
    s = rec.state
    if s.status in ("running", "paused"):
        try:
            fd = os.open(f"/proc/{s.pid}/root", _DIR | os.O_CLOEXEC)
        except OSError:
            fd = -1
        if fd >= 0 and proc.alive(s.pid, s.start_time):     # the fd is that init's, not a recycled pid's
            tree = Tree(fd, where, host=False)
            try:
                yield tree
            finally:
                tree.close()
            return
        if fd >= 0:
            os.close(fd)
        rec = engine.get(ref)
    from pyrt.engine import copyroot, rootfs
    cdir = engine.store.dir(rec.id)
    path = os.path.join(cdir, "rootfs")
    with engine.store.lock(rec.id):
        if engine.refresh(engine.store.read(rec.id)).state.status in ("running", "paused"):
            raise EngineError(f"container {rec.name} started during the copy: try again")
        layers = engine.images.layer_dirs(engine.images.get(rec.config.image_id))
        with copyroot.opened(engine, rec, cdir, path, lambda: rootfs.mount(cdir, layers)) as fd:
            yield Tree(fd, where, host=False)


def host_errors(fn):
    """OSError of a copy -> EngineError with the path (the CLI's one line, exit 125)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except OSError as e:
            where = f": {e.filename}" if e.filename else ""
            raise EngineError(f"copy failed: {e.strerror or e}{where}") from None
    return wrapper

"""Resolving a path inside a root directory without ever leaving it.

Mount targets come from config.json and the rootfs is untrusted: a symlink such as
rootfs/proc -> /etc must not make us mount over the host's /etc. resolve_in_root() walks the
path one component at a time, following symlinks as if ROOT were "/", and raises when a
symlink or ".." would climb above ROOT, rather than silently clamping.
"""
from __future__ import annotations

import errno
import os
import stat

MAX_SYMLINKS = 40


class EscapeError(OSError):
    def __init__(self, unsafe: str, via: str):
        super().__init__(errno.EXDEV, f"{unsafe!r} escapes the rootfs through {via!r}", unsafe)


def resolve_in_root(root: str, unsafe: str) -> str:
    """Host path of UNSAFE (an absolute path inside ROOT) with every existing symlink resolved
    inside ROOT. Missing trailing components are kept as written (they will be created)."""
    root = os.path.realpath(root)
    todo = [c for c in unsafe.split("/") if c not in ("", ".")]
    done: list[str] = []
    links = 0
    while todo:
        comp = todo.pop(0)
        if comp == "..":
            if not done:
                raise EscapeError(unsafe, "..")
            done.pop()
            continue
        cur = os.path.join(root, *done, comp)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            done.append(comp)
            continue
        if not stat.S_ISLNK(st.st_mode):
            done.append(comp)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many symlinks resolving {unsafe!r}", unsafe)
        target = os.readlink(cur)
        if target.startswith("/"):
            # An absolute link means "from the container's /": fine, the walk restarts at ROOT.
            done = []
        else:
            # A relative link climbing above ROOT is an escape; count its ".." against `done`.
            depth = len(done)
            for t in target.split("/"):
                if t == "..":
                    depth -= 1
                    if depth < 0:
                        raise EscapeError(unsafe, "/" + "/".join(done + [comp]))
                elif t not in ("", "."):
                    depth += 1
        todo = [c for c in target.split("/") if c not in ("", ".")] + todo
    return os.path.join(root, *done)


class MaliciousPathError(OSError):
    """A path changed between resolving and opening it (a component swapped for a symlink)."""
    def __init__(self, unsafe: str):
        super().__init__(errno.ELOOP, f"possibly malicious path detected: {unsafe!r} changed while it was "
                                      "being opened", unsafe)


_openat2_missing = False


def open_in_root(rootfs: str, root_fd: int, unsafe: str, create: str | None = None) -> int:
    """An O_PATH fd on UNSAFE (absolute inside the container) under ROOT_FD (the rootfs ROOTFS,
    open), immune to symlink races: resolve_in_root() first (it refuses escapes rather than
    clamping them), then the kernel reopens that symlink-free path with openat2(RESOLVE_IN_ROOT
    |RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS), so a component swapped for a symlink in
    between is refused, never followed. CREATE ("dir" or "file") makes missing components one at
    a time, each under the fd of its parent. Kernels without openat2 (< 5.6): O_NOFOLLOW open of
    the resolved path, accepted only if /proc/self/fd shows it where it was resolved (runc's check)."""
    global _openat2_missing
    from pyrt.linux import syscalls as sc
    try:
        host = resolve_in_root(rootfs, unsafe)
    except OSError as e:
        if e.errno == errno.EINVAL:  # readlink of what lstat had just called a symlink: swapped
            raise MaliciousPathError(unsafe) from None
        raise
    root = os.path.realpath(rootfs)
    rel = os.path.relpath(host, root)
    if not _openat2_missing:
        try:
            return _open_beneath(root_fd, rel, unsafe, create, sc)
        except OSError as e:
            if e.errno != errno.ENOSYS:
                raise
            _openat2_missing = True
    if create:
        _create_plain(host, create)
    fd = os.open(host, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    if os.readlink(f"/proc/self/fd/{fd}") != host:
        os.close(fd)
        raise MaliciousPathError(unsafe)
    return fd



def _open_beneath(root_fd: int, rel: str, unsafe: str, create: str | None, sc) -> int:
    r = sc.RESOLVE
    strict = r["RESOLVE_IN_ROOT"] | r["RESOLVE_NO_SYMLINKS"] | r["RESOLVE_NO_MAGICLINKS"]
    beneath = r["RESOLVE_BENEATH"] | r["RESOLVE_NO_SYMLINKS"] | r["RESOLVE_NO_MAGICLINKS"]
    try:
        return sc.openat2(root_fd, rel, os.O_PATH, strict, shown=unsafe)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise MaliciousPathError(unsafe) from None
        raise
    comps = [] if rel == "." else rel.split("/")
    # the deepest existing directory, then each missing component made beneath it
    i = len(comps) - 1
    while True:
        try:
            fd = sc.openat2(root_fd, "/".join(comps[:i]) or ".", os.O_PATH | os.O_DIRECTORY, strict, shown=unsafe)
            break
        except FileNotFoundError:
            i -= 1
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise MaliciousPathError(unsafe) from None
            raise
    try:
        for n, comp in enumerate(comps[i:], start=i):
            last = n == len(comps) - 1
            try:
                if last and create == "file":
                    os.close(os.open(comp, os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC,
                                     0o755, dir_fd=fd))
                else:
                    os.mkdir(comp, 0o755, dir_fd=fd)
            except FileExistsError:
                pass  # made meanwhile: the reopen below refuses it if it is a symlink
            try:
                nxt = sc.openat2(fd, comp, os.O_PATH, beneath, shown=unsafe)
            except OSError as e:
                if e.errno == errno.ELOOP:
                    raise MaliciousPathError(unsafe) from None
                raise
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create_plain(host: str, create: str) -> None:
    if create == "dir":
        os.makedirs(host, 0o755, exist_ok=True)
    elif not os.path.lexists(host):
        os.makedirs(os.path.dirname(host), 0o755, exist_ok=True)
        os.close(os.open(host, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))


class NotRegularFileError(OSError):
    def __init__(self, path: str):
        super().__init__(errno.EINVAL, "not a regular file", path)


def read_regular(path: str, limit: int) -> bytes:
    """Up to LIMIT bytes of PATH, which must be a regular file. A hostile image may put a FIFO
    (open(2) waits for a writer forever), a device or a socket where a file is expected: opened
    O_NONBLOCK (which a regular file ignores) and refused with NotRegularFileError unless fstat
    says regular, before a byte is read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFileError(path)
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)

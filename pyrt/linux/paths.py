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

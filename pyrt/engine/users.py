"""`-u name[:group]` resolved against the image's own /etc/passwd and /etc/group, as docker does.

The files are the image's, so they are read through pyrt.linux.paths.resolve_in_root: a hostile
image's /etc/passwd -> /etc/shadow symlink resolves inside the rootfs, never to the host's file.
"""
from __future__ import annotations

import os

from pyrt.engine.errors import InvalidArgument
from pyrt.linux.paths import NotRegularFileError, read_regular, resolve_in_root

_MAX = 4 << 20     # a passwd file larger than this is not one we will parse


def _entries(rootfs: str, path: str) -> list[list[str]]:
    """The lines of the image's PATH; none if it is missing. A FIFO, device or socket there (a
    hostile image: a FIFO would block the open for ever) is refused."""
    try:
        data = read_regular(resolve_in_root(rootfs, path), _MAX)
    except NotRegularFileError:
        raise InvalidArgument(f"{path} in the image is not a regular file") from None
    except OSError:
        return []
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            out.append(line.split(":"))
    return out


def resolve(rootfs: str, spec: str) -> tuple[int, int, list[int], str]:
    """(uid, gid, supplementary gids, home) for SPEC = user[:group], names or numbers. An empty
    SPEC is root. A number with no passwd entry is used as is (gid = the same number's group: 0)."""
    user, _, group = (spec or "0").partition(":")
    passwd = _entries(rootfs, "/etc/passwd")
    groups = _entries(rootfs, "/etc/group")
    entry = None
    for e in passwd:
        if len(e) >= 7 and (e[0] == user or (user.isdigit() and e[2] == user)):
            entry = e
            break
    if entry is None and not user.isdigit():
        raise InvalidArgument(f"unable to find user {user}: no matching entries in passwd file")
    uid = int(user) if entry is None else _int(entry[2], "passwd")
    gid = 0 if entry is None else _int(entry[3], "passwd")
    home = "/" if entry is None else (entry[5] or "/")
    if group:
        g = next((e for e in groups if len(e) >= 3 and (e[0] == group or (group.isdigit() and e[2] == group))), None)
        if g is None and not group.isdigit():
            raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
        gid = int(group) if g is None else _int(g[2], "group")
    name = entry[0] if entry else None
    extra = sorted({_int(e[2], "group") for e in groups
                    if len(e) >= 4 and name and name in e[3].split(",") and e[2].isdigit()} - {gid})
    for n in (uid, gid, *extra):
        if not 0 <= n <= 2147483647:
            raise InvalidArgument(f"uids and gids must be in range 0-2147483647: {n}")
    return uid, gid, extra, home


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"malformed {what} entry: {text!r} is not a number") from None


def home_env(env: list[str], home: str) -> list[str]:
    return env if any(e.startswith("HOME=") for e in env) else env + [f"HOME={home}"]


def exists(rootfs: str, path: str) -> bool:
    try:
        return os.path.exists(resolve_in_root(rootfs, path))
    except OSError:
        return False

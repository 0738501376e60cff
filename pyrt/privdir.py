"""Roots closed to other host users: the image store (`pyrt --root`) and the runtime's state
directory (`pyrt-runc --root`).

Everything an image brings (a setuid-root binary, a layer directory whose mode is 07777) and
everything a container leaves (state.json, its rootfs) lives below one of these roots. Other
host users must not reach any of it, and one directory mode closes every path in: the root's.
So each root is created 0700 and, at every start-up, checked: a looser mode (a store made by
an older pyrt, a root made by hand) is tightened, and a root that another user owns is refused
(its owner could swap what is inside). docker keeps its data root 0710/0700, runc its state
root 0700. Used by every layer, like pyrt.errors.
"""
from __future__ import annotations

import os
import stat

from pyrt.errors import PyrtError


def ensure_private_dir(path: str, mode: int = 0o700) -> None:
    """Make PATH (and missing parents) a directory of ours that others cannot enter: create it
    with MODE, or tighten an existing one to MODE; PyrtError if it is not a directory or not ours."""
    try:
        os.makedirs(path, mode, exist_ok=True)
        st = os.stat(path)
    except FileExistsError:
        raise PyrtError(f"{path} is not a directory", "pass another --root") from None
    except OSError as e:
        raise PyrtError(f"cannot create {path}: {e.strerror}", "pass another --root") from None
    if not stat.S_ISDIR(st.st_mode):
        raise PyrtError(f"{path} is not a directory", "pass another --root")
    uid = os.geteuid()
    if st.st_uid != uid:
        raise PyrtError(f"{path} belongs to uid {st.st_uid}, not to uid {uid} running pyrt: refusing to use it",
                        "it must be owned by the user running pyrt and closed to others; pass another --root")
    if stat.S_IMODE(st.st_mode) & ~mode:
        os.chmod(path, mode)

"""A container's root filesystem, owned by the engine: made from the image's layers at create
(pyrt.engine.snapshot), mounted while the container runs, unmounted when it stops (its writable
layer kept, as docker keeps it until rm), removed at rm."""
from __future__ import annotations

import os

from pyrt.engine import snapshot


def prepare(cdir: str, layer_dirs: list[str]) -> str:
    """Make CDIR/rootfs; returns the snapshot's kind ("overlay" or "copy")."""
    return snapshot.prepare(cdir, layer_dirs).kind


def mount(cdir: str, layer_dirs: list[str]) -> None:
    """Mount CDIR/rootfs again (after a stop) from the kept upper layer. A copy needs nothing."""
    from pyrt.linux import overlay
    snap = snapshot.load(cdir)
    if snap is None or snap.kind != "overlay" or overlay.is_mountpoint(snap.rootfs):
        return
    lowers = list(reversed(layer_dirs)) or [os.path.join(cdir, "empty")]
    overlay.mount_overlay(lowers, os.path.join(cdir, "upper"), os.path.join(cdir, "work"), snap.rootfs)


def unmount(cdir: str) -> None:
    from pyrt.linux import overlay
    snap = snapshot.load(cdir)
    if snap is not None and snap.kind == "overlay" and overlay.is_mountpoint(snap.rootfs):
        overlay.unmount(snap.rootfs)


def release(cdir: str) -> None:
    snapshot.release(cdir)

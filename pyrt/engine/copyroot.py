"""A stopped container's root as a copy sees it: its rootfs with its volumes and bind mounts on
their targets (docker mounts them for `cp`; its tmpfs mounts exist only while it runs).

None of these mounts enters the host's mount namespace, where a crash mid-copy would leak them.
A child process unshares a mount namespace of its own, mounts the rootfs there, then the binds
and volumes the way the runtime does at start (pyrt.runtime.rootfs.mount_entry: each target
opened inside the rootfs, a missing one made there as at start, the read-only bit set before the
bind is attached), and changes directory there: the parent opens /proc/PID/cwd, an fd of the
rootfs' root whose lookups cross the child's mounts (as /proc/PID/root does for a running
container). The child holds its namespace (and the container's lock, inherited) until a pipe
from the parent closes, the copy done or its caller dead; then it exits and the namespace and
every mount in it go with it.
"""
from __future__ import annotations

import contextlib
import os

from pyrt.engine.errors import EngineError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _mounts(engine, rec, cdir: str) -> list:
    """REC's binds and volumes as the OCI mounts its start would make (bundle.mounts), parents
    before what is mounted inside them (a volume inside a volume)."""
    targets = {m.target for m in rec.host.mounts if m.type in ("bind", "volume")}
    if not targets:
        return []
    from pyrt.engine import bundle
    from pyrt.spec.config import Mount
    out = [Mount.from_dict(d, "mounts") for d in bundle.mounts(rec, cdir, engine.volumes.path)
           if d["type"] == "bind" and d["destination"] in targets]
    return sorted(out, key=lambda m: len([c for c in m.destination.split("/") if c not in ("", ".")]))


@contextlib.contextmanager
def opened(engine, rec, cdir: str, rootfs: str, mount_rootfs):
    """An fd (O_RDONLY directory) of ROOTFS, mounted by MOUNT_ROOTFS() in a mount namespace of
    its own, with REC's binds and volumes on it. The caller holds the container's lock."""
    mounts = _mounts(engine, rec, cdir)
    # everything the child runs is imported now: a fork of a threaded caller must not import
    from pyrt.linux import overlay, syscalls as sc  # noqa: F401 (overlay: for MOUNT_ROOTFS)
    read_only = rec.host.read_only
    rt = None
    if mounts or read_only:
        from pyrt.runtime import rootfs as rt
    said_r, said_w = os.pipe()      # child -> parent: b"ok", or the one line of its error
    hold_r, hold_w = os.pipe()      # parent -> child: its EOF ends the child
    try:
        pid = os.fork()
    except BaseException:
        for fd in (said_r, said_w, hold_r, hold_w):
            os.close(fd)
        raise
    if pid == 0:    # pragma: no cover - the child: never returns
        os.close(said_r)
        os.close(hold_w)
        _child(said_w, hold_r, rootfs, mount_rootfs, mounts, read_only, cdir, sc, rt)
    os.close(said_w)
    os.close(hold_r)
    fd = -1
    try:
        msg = os.read(said_r, 4096)     # one write, under PIPE_BUF: whole
        if msg != b"ok":
            text = msg.decode(errors="replace") or "the helper mounting it exited"
            raise EngineError(f"cannot mount the container's filesystem for the copy: {text}")
        # the child's cwd is the rootfs' top mount in its namespace; the pid cannot be reused
        # before we reap it
        fd = os.open(f"/proc/{pid}/cwd", _DIR)
        yield fd
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(said_r)
        os.close(hold_w)        # the child's EOF: it exits, its namespace with it
        os.waitpid(pid, 0)


def _child(said: int, hold: int, rootfs: str, mount_rootfs, mounts: list, read_only: bool, cdir: str,
           sc, rt) -> None:
    """Mount ROOTFS and MOUNTS on it in a mount namespace of our own (READ_ONLY: the rootfs then
    read-only, its volumes as they are, as at start), chdir there, say so on SAID, wait for EOF on
    HOLD."""
    code = 1
    try:
        sc.unshare(sc.CLONE_NEWNS)
        # nothing mounted here propagates back to the host (events from the host still arrive)
        sc.mount(None, "/", None, sc.MS["MS_REC"] | sc.MS["MS_SLAVE"])
        mount_rootfs()
        if read_only:   # a mount of its own, made read-only once the targets are made in it
            sc.mount(rootfs, rootfs, None, sc.MS["MS_BIND"])
        if mounts:
            root = rt.Root(rootfs)
            for m in mounts:
                rt.mount_entry(m, root, cdir, {})
        if read_only:
            rt.remount_bind(rootfs, sc.MS["MS_RDONLY"], "read-only rootfs")
        os.chdir(rootfs)        # the top mount there: a volume mounted on "/" included
        os.write(said, b"ok")
        while os.read(hold, 16):
            pass
        code = 0
    except BaseException as e:      # one line to the parent, which raises it; nothing else to clean
        with contextlib.suppress(BaseException):
            os.write(said, (str(e).splitlines() or [type(e).__name__])[0].encode()[:4000])
    finally:
        os._exit(code)

"""A stopped container's root as a copy sees it: its rootfs with its volumes and bind mounts on
their targets (docker mounts them for `cp`; its tmpfs mounts exist only while it runs).

None of these mounts enters the host's mount namespace, where a crash mid-copy would leak them.
A child process unshares a mount namespace of its own, mounts the rootfs there, then the binds
and volumes the way the runtime does at start (pyrt.runtime.rootfs.mount_entry: each target
opened inside the rootfs, a missing one made there as at start, the read-only bit set before the
bind is attached), and hands back an fd of the rootfs' root over a socketpair: lookups through
it cross the child's mounts. The child holds its namespace (and the container's lock, inherited)
until the socket closes, the copy done or its caller dead; then it exits and the namespace and
every mount in it go with it.
"""
from __future__ import annotations

import contextlib
import os
import socket

from pyrt.engine.errors import EngineError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _mounts(engine, rec, cdir: str) -> list:
    """REC's binds and volumes as the OCI mounts its start would make (bundle.mounts), parents
    before what is mounted inside them (a volume inside a volume)."""
    from pyrt.engine import bundle
    from pyrt.spec.config import Mount
    targets = {m.target for m in rec.host.mounts if m.type in ("bind", "volume")}
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
    from pyrt.runtime import rootfs as rt
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = os.fork()
    except BaseException:
        ours.close()
        theirs.close()
        raise
    if pid == 0:    # pragma: no cover - the child: never returns
        ours.close()
        _child(theirs, rootfs, mount_rootfs, mounts, cdir, sc, rt)
    theirs.close()
    fd = -1
    try:
        msg, fds, _flags, _addr = socket.recv_fds(ours, 4096, 1)
        if fds:
            fd = fds[0]
        if msg != b"ok" or fd < 0:
            text = msg.decode(errors="replace") or "the helper mounting it exited"
            raise EngineError(f"cannot mount the container's filesystem for the copy: {text}")
        yield fd
    finally:
        if fd >= 0:
            os.close(fd)
        ours.close()            # the child's EOF: it exits, its namespace with it
        os.waitpid(pid, 0)


def _child(sock: socket.socket, rootfs: str, mount_rootfs, mounts: list, cdir: str, sc, rt) -> None:
    """Mount ROOTFS and MOUNTS on it in a mount namespace of our own, send ROOTFS' fd, wait for
    EOF."""
    code = 1
    try:
        sc.unshare(sc.CLONE_NEWNS)
        # nothing mounted here propagates back to the host (events from the host still arrive)
        sc.mount(None, "/", None, sc.MS["MS_REC"] | sc.MS["MS_SLAVE"])
        mount_rootfs()
        root = rt.Root(rootfs)
        for m in mounts:
            rt.mount_entry(m, root, cdir, {})
        fd = os.open(rootfs, _DIR)      # the top mount there: a volume mounted on "/" included
        socket.send_fds(sock, [b"ok"], [fd])
        os.close(fd)
        while sock.recv(16):
            pass
        code = 0
    except BaseException as e:      # one line to the parent, which raises it; nothing else to clean
        with contextlib.suppress(BaseException):
            sock.send(str(e).splitlines()[0].encode()[:4000] if str(e) else type(e).__name__.encode())
    finally:
        os._exit(code)

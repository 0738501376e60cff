"""Where the engine keeps containers: one directory per container, a name index, locks.

    <root>/containers/<id>/container.json   the record (pyrt.engine.model), replaced atomically
    <root>/containers/<id>/config.json      the OCI bundle's config; rootfs/ beside it
    <root>/containers/<id>/<id>-json.log    docker's json-file log (and .1, .2 ... when rotated)
    <root>/containers/names/<name>          a symlink to the id: creating it is the name's claim
                                            (symlink(2) is atomic: two creates of one name cannot
                                            both win, with no lock to leave behind)

Every change to a record is made under the container's flock (lock()): the CLI and the monitor
both write, and many pyrt commands may run at once.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time

from pyrt.engine.errors import Conflict, InvalidArgument, NotFound
from pyrt.engine.model import ContainerRecord

RECORD = "container.json"
DEBRIS_AGE = 10.0   # seconds
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def validate_name(name: str) -> None:
    """docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (one character is allowed here too)."""
    if not name or not name[0].isascii() or not name[0].isalnum() or not set(name) <= _NAME_CHARS \
            or len(name) > 128:
        raise InvalidArgument(f"invalid container name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")


class ContainerStore:
    def __init__(self, root: str):
        self.root = os.path.join(root, "containers")
        self.names = os.path.join(self.root, "names")
        # closed to other users: a container's rootfs and logs are its own (docker: 0710)
        os.makedirs(self.names, mode=0o700, exist_ok=True)
        os.chmod(self.root, 0o700)

    def dir(self, cid: str) -> str:
        return os.path.join(self.root, cid)

    # -- names -------------------------------------------------------------------------------
    def claim_name(self, name: str, cid: str) -> None:
        validate_name(name)
        try:
            os.symlink(cid, os.path.join(self.names, name))
        except FileExistsError:
            other = self._name_target(name)
            raise Conflict(f'the container name "/{name}" is already in use by container "{other}"',
                           "remove (or rename) that container to reuse the name") from None

    def release_name(self, name: str, cid: str) -> None:
        if self._name_target(name) == cid:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.names, name))

    def rename(self, cid: str, old: str, new: str) -> None:
        self.claim_name(new, cid)
        self.release_name(old, cid)

    def _name_target(self, name: str) -> str:
        try:
            return os.readlink(os.path.join(self.names, name))
        except OSError:
            return ""

    def unused_name(self) -> str:
        """docker makes adjective_noun names; a short random one serves the same purpose."""
        while True:
            name = "pyrt_" + os.urandom(4).hex()
            if not os.path.lexists(os.path.join(self.names, name)):
                return name

    # -- records -----------------------------------------------------------------------------
    def new_id(self) -> str:
        while True:
            cid = os.urandom(32).hex()     # secrets.token_hex, without its imports
            try:
                os.mkdir(self.dir(cid), 0o700)
                return cid
            except FileExistsError:
                continue

    def resolve(self, ref: str) -> str:
        """A container id from a name, a full id or a unique id prefix."""
        if not ref:
            raise InvalidArgument("a container name or id is required")
        target = self._name_target(ref.lstrip("/")) if "/" not in ref.lstrip("/") else ""
        if target and os.path.exists(os.path.join(self.dir(target), RECORD)):
            return target
        if all(c in "0123456789abcdef" for c in ref):
            matches = [d for d in self.ids() if d.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(f"{ref!r} matches more than one container: give more of the id")
        raise NotFound(f"no such container: {ref}")

    def ids(self) -> list[str]:
        """Every container, and the debris of a create that was killed (see read)."""
        out = []
        for d in os.listdir(self.root):
            if len(d) == 64 and (os.path.exists(os.path.join(self.root, d, RECORD)) or self.is_debris(d)):
                out.append(d)
        return out

    def is_debris(self, cid: str) -> bool:
        """A directory with no record whose creator is gone: nobody holds its lock (the creator
        does from the name claim to the record) and it has not changed for DEBRIS_AGE seconds
        (the instant between the id's mkdir and that lock)."""
        d = self.dir(cid)
        if os.path.exists(os.path.join(d, RECORD)):
            return False
        try:
            if time.time() - os.stat(d).st_mtime < DEBRIS_AGE:
                return False
            fd = os.open(os.path.join(d, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return not os.path.exists(os.path.join(d, RECORD))
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    def read(self, cid: str) -> ContainerRecord:
        try:
            with open(os.path.join(self.dir(cid), RECORD)) as f:
                return ContainerRecord.from_json(json.load(f))
        except FileNotFoundError:
            if self.is_debris(cid):
                return self._dead(cid)
            raise NotFound(f"no such container: {cid}") from None

    def _dead(self, cid: str) -> ContainerRecord:
        """What `ps -a` shows of debris, so that `rm -f` can free it: status dead, and the name
        it had claimed, if any."""
        from pyrt.engine.model import ContainerConfig, ContainerState, HostConfig
        name = next((n for n in os.listdir(self.names) if self._name_target(n) == cid), "")
        return ContainerRecord(id=cid, name=name, created="", config=ContainerConfig(image=""), host=HostConfig(),
                               state=ContainerState(status="dead", error="its creation was interrupted"))

    def write(self, rec: ContainerRecord) -> None:
        d = self.dir(rec.id)
        tmp = os.path.join(d, f".{RECORD}.{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(json.dumps(rec.to_json()))
        os.replace(tmp, os.path.join(d, RECORD))

    @contextlib.contextmanager
    def lock(self, cid: str):
        """The container's flock. Held briefly: every writer reads, changes and writes under it."""
        try:
            fd = os.open(os.path.join(self.dir(cid), "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise NotFound(f"no such container: {cid}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def updating(self, cid: str):
        """with store.updating(cid) as rec: ...change rec... -> written back under the lock."""
        with self.lock(cid):
            rec = self.read(cid)
            yield rec
            self.write(rec)

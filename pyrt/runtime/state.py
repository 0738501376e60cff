"""Container state on disk: the status enum, state.json (written atomically) and a per-container lock.

Layout under the runtime root (`--root`, default /run/pyrt-runc):

    <root>/<id>/state.json   the State below, replaced atomically (write tmp + rename)
    <root>/<id>/exec.fifo    exists between create and start; the container's init blocks on it

The lock is an flock on the container directory itself, so it disappears with the directory and
needs no lock file to clean up.
"""
from __future__ import annotations

import fcntl
import os

from pyrt.errors import ExistsError, NotFoundError, UsageError
from pyrt.privdir import ensure_private_dir
from pyrt.spec import jsonio

DEFAULT_ROOT = "/run/pyrt-runc"
STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
OCI_VERSION = "1.0.2"


class _Members(type):
    def __iter__(cls):
        return iter(cls.ALL)


class Status(str, metaclass=_Members):
    """A container's status: one of the five constants below (compare with `is`), iterable like
    an Enum. Not an enum.Enum: `enum` costs ~2 ms of start-up on every verb."""
    __slots__ = ()
    CREATING: Status
    CREATED: Status
    RUNNING: Status
    PAUSED: Status
    STOPPED: Status
    ALL: tuple

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"<Status.{self.value.upper()}>"

    def can_start(self) -> bool:
        return self is Status.CREATED

    def can_kill(self) -> bool:
        return self in (Status.CREATED, Status.RUNNING, Status.PAUSED)

    def can_delete(self) -> bool:
        """Without --force; a created container's init is killed by delete, as runc does."""
        return self in (Status.CREATED, Status.STOPPED, Status.CREATING)

    def can_pause(self) -> bool:
        return self in (Status.RUNNING, Status.CREATED)

    def can_resume(self) -> bool:
        return self is Status.PAUSED

    def can_exec(self) -> bool:
        return self in (Status.CREATED, Status.RUNNING)

    def can_update(self) -> bool:
        return self is not Status.STOPPED


Status.ALL = tuple(Status(v) for v in ("creating", "created", "running", "paused", "stopped"))
Status.CREATING, Status.CREATED, Status.RUNNING, Status.PAUSED, Status.STOPPED = Status.ALL


class State:
    """What pyrt-runc keeps about a container between invocations.

    A plain record with dataclass-like behaviour (keyword construction, ==, repr) rather than
    a @dataclass: `dataclasses` pulls in `inspect`, ~5 ms on every start/state/kill/delete,
    which is a quarter of runc's whole `run`.
    """
    # name -> default factory
    FIELDS = {
        "id": str, "bundle": str,
        "pid": int,
        # Field 22 of /proc/<pid>/stat when the init started: tells our init from a recycled pid.
        "start_time": int,
        "created": str, "rootfs": str,
        "annotations": dict,
        # Manager.to_state() of the cgroup layer, reopened with pyrt.cgroups.manager_from_state().
        "cgroup": dict,
        # The raw `hooks` object of config.json: poststart/poststop run after the bundle may be gone.
        "hooks": dict,
        # Namespace type -> path the init joined ("" = created new): exec joins /proc/<pid>/ns/<type>.
        "namespaces": dict,
        "owner": str,
    }
    __slots__ = tuple(FIELDS)

    def __init__(self, **values):
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"State: unknown fields {sorted(unknown)}")
        for name, factory in self.FIELDS.items():
            setattr(self, name, values[name] if name in values else factory())

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.FIELDS}

    def __eq__(self, other) -> bool:
        return isinstance(other, State) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"State({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    def to_json(self) -> str:
        return jsonio.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "State":
        return cls(**{k: v for k, v in d.items() if k in cls.FIELDS})


def validate_id(container_id: str) -> None:
    if not container_id:
        raise UsageError("container id cannot be empty")
    # runc's rule: word characters, '+', '-' and '.', but never "." or ".." alone (no `re`: it
    # costs start-up time)
    if container_id in (".", "..") or not all(c.isalnum() or c in "_+.-" for c in container_id):
        raise UsageError(f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-', '.'")


def container_dir(root: str, container_id: str) -> str:
    validate_id(container_id)
    return os.path.join(root, container_id)


def write_state(directory: str, state: State) -> None:
    """Atomically replace DIRECTORY/state.json: readers see the old or the new file, never half."""
    tmp = os.path.join(directory, f".{STATE_FILE}.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(state.to_json())
    os.replace(tmp, os.path.join(directory, STATE_FILE))


def read_state(directory: str, container_id: str) -> State:
    try:
        with open(os.path.join(directory, STATE_FILE)) as f:
            return State.from_dict(jsonio.load(f))
    except FileNotFoundError:
        raise NotFoundError(f"container {container_id!r} does not exist") from None
    except ValueError as e:
        raise NotFoundError(f"container {container_id!r}: unreadable state.json: {e}") from None


class Lock:
    """An exclusive flock on a container directory; `with Lock(dir):`. Blocks until free."""

    def __init__(self, directory: str):
        self.directory = directory
        self.fd = -1

    def __enter__(self) -> "Lock":
        try:
            self.fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFoundError(f"container {os.path.basename(self.directory)!r} does not exist") from None
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing releases the flock
            self.fd = -1


def make_container_dir(root: str, container_id: str) -> str:
    """Create <root>/<id> (mode 0711, as runc) in a root kept 0700 (as runc; a looser one is
    tightened, pyrt.privdir); ExistsError if the id is taken."""
    d = container_dir(root, container_id)
    ensure_private_dir(root)
    try:
        os.mkdir(d, 0o711)
    except FileExistsError:
        raise ExistsError(f"container {container_id!r} already exists") from None
    return d

"""Container state on disk: the status enum, state.json (written atomically) and a per-container lock.

Layout under the runtime root (`--root`, default /run/pyrt-runc):

    <root>/<id>/state.json   the State below, replaced atomically (write tmp + rename)
    <root>/<id>/exec.fifo    exists between create and start; the container's init blocks on it
    <root>/<id>/cgroup.json  the container's cgroups, written before the first cgroup directory is
                             made: `delete --force` still finds the container's processes when
                             create died half-way or state.json is unreadable

Crash safety: create writes state.json (pid 0) right after claiming the directory, cgroup.json
before any cgroup exists, and the init's pid and start time before it may run anything of the
container's. Whatever step a SIGKILLed create reached, `delete --force` finds what was taken.

The lock is an flock on the container directory itself, so it disappears with the directory and
needs no lock file to clean up.
"""
from __future__ import annotations

import fcntl
import os

from pyrt.errors import ExistsError, NotFoundError, PyrtError, StateError, UsageError, quote
from pyrt.privdir import ensure_private_dir
from pyrt.record import Record, field
from pyrt.spec import jsonio

DEFAULT_ROOT = "/run/pyrt-runc"
STATE_FILE = "state.json"
CGROUP_FILE = "cgroup.json"
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
        """Without --force. A created container's init is killed by delete, as runc does: the
        runtime-spec wants an error, but containerd's shim deletes a never-started container
        without --force (pkg/process/init_state.go, createdState.Delete). A creating container
        (its creator died: create holds the lock while alive) needs --force."""
        return self in (Status.CREATED, Status.STOPPED)

    def can_pause(self) -> bool:
        return self in (Status.RUNNING, Status.CREATED)

    def can_resume(self) -> bool:
        return self is Status.PAUSED

    def can_exec(self) -> bool:
        return self in (Status.CREATED, Status.RUNNING)

    def can_update(self) -> bool:
        return self is not Status.STOPPED

    def require(self, verb: str, hint: str = "") -> None:
        """StateError unless can_VERB(): the one place a verb is refused for its status (runc's
        words, `cannot VERB a container that is STATUS`, with HINT after them)."""
        if not getattr(self, f"can_{verb}")():
            raise StateError(f"cannot {verb} a container that is {self.value}{hint}")


Status.ALL = tuple(Status(v) for v in ("creating", "created", "running", "paused", "stopped"))
Status.CREATING, Status.CREATED, Status.RUNNING, Status.PAUSED, Status.STOPPED = Status.ALL


class State(Record, frozen=False):
    """What pyrt-runc keeps about a container between invocations: a record like the spec models
    (pyrt.record), mutable while create fills it in; state.json is its to_dict()."""
    id: str = ""
    bundle: str = ""
    pid: int = 0
    # Field 22 of /proc/<pid>/stat when the init started: tells our init from a recycled pid.
    start_time: int = 0
    created: str = ""
    rootfs: str = ""
    annotations: dict = field(default_factory=dict)
    # Manager.to_state() of the cgroup layer, reopened with pyrt.cgroups.manager_from_state().
    cgroup: dict = field(default_factory=dict)
    # The raw `hooks` object of config.json: poststart/poststop run after the bundle may be gone.
    hooks: dict = field(default_factory=dict)
    # Namespace type -> path the init joined ("" = created new): exec joins /proc/<pid>/ns/<type>.
    namespaces: dict = field(default_factory=dict)
    owner: str = ""
    # config.json had no `process` (allowed at create): `start` refuses with a clear error
    no_process: bool = False

    def to_dict(self) -> dict:
        return dict(zip(self._fields, self._values()))

    def to_json(self) -> str:
        return jsonio.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d) -> "State":
        """ValueError naming the field when D is not what write_state wrote (a pid as a string
        must not reach os.kill, nor a traceback the user). Keys this version does not know (a
        newer pyrt's) are left out."""
        if not isinstance(d, dict):
            raise ValueError(f"expected an object, got {_json_type(d)}")
        for k, v in d.items():
            want = _FIELD_TYPES.get(k)
            if want is not None and type(v) is not want:  # bool is not an int here
                raise ValueError(f"{k}: expected {_json_type(want())}, got {_json_type(v)}")
        if d.get("cgroup"):
            check_cgroup_record(d["cgroup"], "cgroup")
        return cls(**{k: v for k, v in d.items() if k in _FIELD_TYPES})


# Each field's JSON type, read from its default: str, int, dict or bool.
_FIELD_TYPES = {name: type(value) for name, value in State().to_dict().items()}


# The cgroup Manager's record (Manager.to_state): field -> JSON types it may hold.
_CGROUP_RECORD = {"path": (str,), "mode": (str,), "v2": (str, type(None)), "v2_root": (str, type(None)),
                  "v2_controllers": (list,), "v1": (dict,), "v1_roots": (dict,), "created": (list,)}


def check_cgroup_record(record, where: str = "cgroup.json") -> None:
    """ValueError naming the field unless RECORD has the shape Manager.to_state() writes (a
    damaged one must be an error line, not a traceback from deep in the cgroup layer)."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected an object, got {_json_type(record)}")
    for key, types in _CGROUP_RECORD.items():
        v = record.get(key)
        if key in ("path", "mode") and v is None:
            raise ValueError(f"{where}.{key}: missing")
        if v is not None and not isinstance(v, types):
            raise ValueError(f"{where}.{key}: expected {_json_type(types[0]())}, got {_json_type(v)}")
        items = v.values() if isinstance(v, dict) else v if isinstance(v, list) else ()
        if any(not isinstance(x, str) for x in items):
            raise ValueError(f"{where}.{key}: expected strings")


def _json_type(v) -> str:
    for t, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
                    (list, "an array"), (dict, "an object")):
        if isinstance(v, t):
            return name
    return "null"


class NotRunningError(StateError):
    """`kill` of a container that is not running: a StateError (callers may catch it as one),
    but exit 1 with `container not running`, runc's answer, which containerd's shim takes for
    "already gone" (pkg/process/utils.go checkKillError; docs/exit-codes.md)."""
    exit_code = 1


class UnreadableStateError(PyrtError):
    """state.json exists but cannot be used (truncated, not JSON, wrong types, not a file).
    Exit 1 as runc (`unexpected EOF`); `delete --force` falls back to cgroup.json."""


# runc's rule (libcontainer's idRegex `^[\w+-\.]+$` plus a clean-path check): ASCII letters and
# digits, '_', '+', '-', '.', and not "." or "..". runc 1.1.5's character class also lets ','
# through (the range '+'-'.'); newer runc spells the set out without it, and so does pyrt.
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def validate_id(container_id: str) -> None:
    if not container_id:
        raise UsageError("container id cannot be empty")
    # a set, not `re`: re costs start-up time; str.isalnum() would let any script's letters in
    if container_id in (".", "..") or not _ID_CHARS.issuperset(container_id):
        raise UsageError(f"invalid container id {quote(container_id)}: use ASCII letters, digits, "
                         "'_', '+', '-', '.'")
    if len(container_id) > 255:  # a directory name (runc fails later: `file name too long`)
        raise UsageError(f"invalid container id {quote(container_id)}: at most 255 characters")


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
    path = os.path.join(directory, STATE_FILE)
    try:
        return State.from_dict(_read_json(path))
    except FileNotFoundError:
        raise NotFoundError(f"container {container_id!r} does not exist") from None
    except (OSError, ValueError) as e:
        raise UnreadableStateError(f"container {container_id!r}: {path}: {_reason(e)}") from None


def _read_json(path: str):
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise ValueError("unexpected EOF (empty file)")
    return jsonio.loads(data)


def _reason(e: Exception) -> str:
    """One short phrase for why a state file cannot be read (runc says `unexpected EOF` for a
    truncated one)."""
    if isinstance(e, OSError):
        return (e.strerror or str(e)).lower()
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 at byte {e.start}"
    doc, pos = getattr(e, "doc", None), getattr(e, "pos", None)
    if doc is not None and pos is not None:
        # the document ends inside a value: a string running to the end is reported at its start
        if not doc[pos:].strip() or e.msg.startswith("Unterminated string"):
            return f"unexpected EOF (truncated after {len(doc)} bytes)"
        return f"not valid JSON: {e.msg} at byte {pos}"
    return str(e)


def write_cgroup_record(directory: str, record: dict) -> None:
    """DIRECTORY/cgroup.json: the cgroup Manager's record, before any of its dirs exists."""
    tmp = os.path.join(directory, f".{CGROUP_FILE}.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(jsonio.dumps(record))
    os.replace(tmp, os.path.join(directory, CGROUP_FILE))


def read_cgroup_record(directory: str) -> dict | None:
    """The record write_cgroup_record wrote; None when there is none (create died before it
    made any cgroup); ValueError/OSError when it is unreadable."""
    try:
        record = _read_json(os.path.join(directory, CGROUP_FILE))
    except FileNotFoundError:
        return None
    check_cgroup_record(record)
    return record


def is_debris(directory: str) -> bool:
    """A container dir without state.json: a create killed between mkdir and its first write
    (runc removes such a dir on delete too)."""
    return not os.path.lexists(os.path.join(directory, STATE_FILE))


_CRASH_AT = os.environ.get("PYRT_TEST_CRASH_AT")


def crash_point(step: str) -> None:
    """Tests set PYRT_TEST_CRASH_AT=STEP to SIGKILL create at a named step (crash-safety tests:
    whatever step it died at, `delete --force` must free everything)."""
    if _CRASH_AT == step:
        os.kill(os.getpid(), 9)


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

"""The parent <-> init conversation: small JSON messages over a SOCK_SEQPACKET socketpair.

Each message is one datagram {"type": ..., ...}; an empty read means the other side exited.
Types, in the order they flow during create:
    child  -> parent  userns    (new user namespace made: write my uid_map/gid_map)
    parent -> child   ok
    child  -> parent  pid       {"pid": host pid of the container's init}
    parent -> child   go        (init is in its cgroup: continue)
    child  -> parent  hooks     (rootfs mounted: run prestart/createRuntime hooks)
    parent -> child   ok
    child  -> parent  created   (all set up, blocked on the exec fifo next)
    child  -> parent  error     {"kind": PyrtError class name, "message", "hint", "cause"}  at any step

An error keeps its kind across the channel: error_from() raises the class the child raised, so a
failing createContainer hook exits 13 (HookError) as a prestart hook does, not 7.
"""
from __future__ import annotations

# _socket, not socket: socket.py converts its constants to enums (~2 ms of start-up); the C
# module's socket objects have the send/recv/close this channel needs.
import _socket

from pyrt import errors
from pyrt.errors import RuntimeSetupError
from pyrt.spec import jsonio


def pair():
    return _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)


# An error's text fields are cut to this: a hostile value quoted in them (a 100 MB args[0]) would
# make the datagram too big to send, and the parent would learn only that the child died.
MAX_TEXT = 4000


def send(sock, type_: str, **fields) -> None:
    fields["type"] = type_
    if type_ == "error":
        for k in ("message", "hint", "cause"):
            v = fields.get(k)
            if isinstance(v, str):
                fields[k] = errors.shorten(v, MAX_TEXT)
    sock.send(jsonio.dumps(fields).encode())


def recv(sock) -> dict:
    try:
        data = sock.recv(65536)
    except ConnectionResetError:  # the peer died with a message of ours unread: the same end
        data = b""
    if not data:
        return {"type": "eof"}
    return jsonio.loads(data)


def error_from(msg: dict) -> errors.PyrtError:
    """The PyrtError an "error" message describes: the child's class (RuntimeSetupError for an
    unknown kind), its message and hint. The child's cause (an OSError, say) cannot cross a
    process boundary as an object: --debug narrates it."""
    cls = getattr(errors, msg.get("kind") or "", None)
    if not (isinstance(cls, type) and issubclass(cls, errors.PyrtError)):
        cls = RuntimeSetupError
    if msg.get("cause"):
        from pyrt import trace
        if trace.on:
            trace.step(f"the child's error was caused by {msg['cause']}")
    return cls(msg.get("message") or "the container's init failed", msg.get("hint"))


def expect(sock, type_: str) -> dict:
    """Receive the next message, which must be TYPE_ (used by the child, which only waits)."""
    msg = recv(sock)
    if msg["type"] != type_:
        raise RuntimeSetupError(f"protocol: expected {type_!r} from the runtime, got {msg['type']!r}")
    return msg

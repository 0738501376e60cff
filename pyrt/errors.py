"""The PyrtError tree: the middle layer of pyrt's errors.

Syscalls raise OSError(errno, message, path); domain code catches what it can
explain and raises a PyrtError with a one-line message and, where useful, a
hint; the CLI prints `pyrt: <message>` (plus the hint) on stderr and exits with
the error's exit code. Exit codes are documented in docs/exit-codes.md.
"""
from __future__ import annotations


class PyrtError(Exception):
    """An error a user can act on. Never shown with a traceback."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        message = _one_line(message)
        super().__init__(message)
        self.message = message
        self.hint = _one_line(hint) if hint else hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


def _one_line(text: str) -> str:
    """TEXT with newlines and other unprintable characters escaped: a message is one line even
    when it names a hostile key or value (fuzzing, issue 9.13: a config.json key holding a
    newline split an error in two)."""
    if not isinstance(text, str) or text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def quote(value: str, limit: int = 64) -> str:
    """repr() of at most LIMIT characters of VALUE: a message never echoes a huge input whole."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def one_line(text: str, limit: int = 1000) -> str:
    """TEXT as one printable line of at most LIMIT characters: control characters (a newline or
    NUL inside a hostile key or value) are escaped, and the middle of a huge text is cut."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shorten(text, limit)


def shorten(text: str, limit: int) -> str:
    """TEXT if it fits in LIMIT characters, else its head and its tail (where an error names its
    reason) around a count of what was cut: a hostile value quoted inside stays small."""
    if len(text) <= limit:
        return text
    tail = limit // 5
    return f"{text[:limit - tail]}...[{len(text) - limit} characters cut]...{text[-tail:]}"


class UsageError(PyrtError):
    """Bad flags or arguments on the command line."""
    exit_code = 2


class ConfigError(PyrtError):
    """A config.json / process.json / resources.json that is malformed or invalid."""
    exit_code = 3


class NotFoundError(PyrtError):
    """A container, image, bundle or other named object does not exist."""
    exit_code = 4


class ExistsError(PyrtError):
    """A container or other named object already exists."""
    exit_code = 5


class StateError(PyrtError):
    """The operation is not allowed in the object's current state."""
    exit_code = 6


class RuntimeSetupError(PyrtError):
    """Setting up the container (namespaces, mounts, process) failed."""
    exit_code = 7


class CgroupError(PyrtError):
    """A cgroup could not be created, configured or removed."""
    exit_code = 8


class ImageError(PyrtError):
    """An image reference, manifest, blob or layer is bad or unavailable."""
    exit_code = 9


class RegistryError(ImageError):
    """The registry refused or failed a request."""
    exit_code = 10


class AuthError(RegistryError):
    """The registry wants credentials we do not have (or rejected them)."""
    exit_code = 11


class NetworkError(PyrtError):
    """Bridge, veth, address or port-publishing setup failed."""
    exit_code = 12


class HookError(PyrtError):
    """An OCI hook failed or timed out."""
    exit_code = 13


# -- the engine's documented kinds (pyrt.engine.errors re-exports them) ------------------------
class EngineError(PyrtError):
    """Anything the engine could not do that is not one of the kinds below."""
    exit_code = 125


class NotFound(NotFoundError):
    """No such container, image, volume or network."""


class Conflict(ExistsError):
    """The name is in use, or the object is in a state that forbids the call (running, in use)."""


class NotRunning(StateError):
    """The call needs a running container."""


class InvalidArgument(UsageError):
    """A value the caller passed cannot be used (a bad name, mount, size or option)."""


class CommandNotFound(EngineError):
    """The container's command does not exist in its image (docker run exits 127)."""
    exit_code = 127


class CommandNotRunnable(EngineError):
    """The container's command exists but cannot be executed (docker run exits 126)."""
    exit_code = 126

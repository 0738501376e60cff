"""The engine's documented exceptions: what an embedder catches.

Each is a PyrtError (one line, a hint), so the CLIs print them like any other; `pyrt`'s container
verbs exit 125 for all of them, as docker does for its own failures (docs/exit-codes.md).
"""
from __future__ import annotations

from pyrt.errors import ExistsError, NotFoundError, PyrtError, StateError, UsageError


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

"""The engine's documented exceptions: what an embedder catches.

They are defined at the bottom of the package (pyrt.errors), so that the network layer beside
the runtime can raise them too; this module is where the API documents them.
"""
from __future__ import annotations

from pyrt.errors import (CommandNotFound, CommandNotRunnable, Conflict, EngineError,  # noqa: F401
                         InvalidArgument, NotFound, NotRunning)

"""pyrt: a Linux container runtime written in Python.

`pyrt.Client` is the engine's API (docs/engine.md); it is imported on first use, so that the
runtime's own start-up (pyrt-runc) does not pay for it.
"""
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("Client", "Container", "ContainerError"):
        from pyrt.engine import client
        return getattr(client, name)
    if name in ("NotFound", "Conflict", "NotRunning", "InvalidArgument", "EngineError"):
        from pyrt.engine import errors
        return getattr(errors, name)
    raise AttributeError(name)

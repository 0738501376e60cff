"""pyroute2, loaded in the parts pyrt uses.

`import pyroute2` runs the package's __init__, which imports every API it has (NDB, IPDB,
conntrack, ipvs, wireguard, nl80211, plan9 ...): 100-450 ms here, on the critical path of a cold
`run --network bridge`, where IPRoute and nftables need about half of it. install() puts the
package module in sys.modules unexecuted (importlib's module_from_spec, the import system's own
step before it runs a module), so its submodules import alone. A name asked of it is its
submodule, or one of the names pyrt takes from the top (_TOP), or else, for any other user, the
package's __init__ runs then, once, into that same module: every importer still sees all of
pyroute2's API.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

_TOP = {"IPRoute": "pyroute2.iproute.linux", "NetlinkError": "pyroute2.netlink.exceptions"}


def install() -> None:
    """The lazy pyroute2 package, unless pyroute2 is imported already (then nothing to gain)."""
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None:
        return          # not installed: the first real import says so
    mod = importlib.util.module_from_spec(spec)
    whole = []          # the package's __init__ has run

    def __getattr__(name: str):
        if name in _TOP:
            return getattr(importlib.import_module(_TOP[name]), name)
        if not name.startswith("__"):
            try:
                found = importlib.util.find_spec(f"pyroute2.{name}")
            except (ImportError, ValueError):
                found = None
            if found is not None:
                return importlib.import_module(f"pyroute2.{name}")
        if not whole:
            whole.append(True)
            spec.loader.exec_module(mod)
            if name in mod.__dict__:
                return mod.__dict__[name]
        raise AttributeError(f"module 'pyroute2' has no attribute {name!r}")

    mod.__getattr__ = __getattr__
    sys.modules["pyroute2"] = mod


_USED = ("pyroute2.iproute.linux", "pyroute2.netlink.exceptions", "pyroute2.nftables.main",
         "pyroute2.nftables.expressions")


def preload() -> None:
    """What connecting, disconnecting and the NAT table need, pyrt's modules that do it included
    (the monitor loads it once for its workers, clean-up children and plugger)."""
    install()
    for name in _USED + ("pyrt.network.networks", "pyrt.network.links", "pyrt.network.ports"):
        importlib.import_module(name)


def loaded() -> bool:
    """Whether preload() has nothing left to do."""
    return all(name in sys.modules for name in _USED)

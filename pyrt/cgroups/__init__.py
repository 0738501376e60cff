"""cgroup drivers (v2 primary, v1 for legacy and hybrid hosts); knows nothing of containers.

    m = open_manager("pyrt/ctr1", "ctr1")   # resolve the path on this host's layout
    m.apply(pid); m.set(resources)          # create, place, limit
    ...; m.destroy()                        # after the processes are gone
    manager_from_state(m.to_state())        # reopen later (state.json)
"""

__all__ = ["Manager", "manager_from_state", "open_manager"]


def __getattr__(name: str):
    """The manager loads on first use: the container's init needs only `layout` and `fs`, and
    importing the drivers there would sit on the critical path of every create."""
    if name in __all__:
        from pyrt.cgroups import manager
        return getattr(manager, name)
    raise AttributeError(f"module 'pyrt.cgroups' has no attribute {name!r}")

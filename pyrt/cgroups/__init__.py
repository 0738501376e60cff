"""cgroup drivers (v2 primary, v1 for legacy and hybrid hosts); knows nothing of containers.

    m = open_manager("pyrt/ctr1", "ctr1")   # resolve the path on this host's layout
    m.apply(pid); m.set(resources)          # create, place, limit
    ...; m.destroy()                        # after the processes are gone
    manager_from_state(m.to_state())        # reopen later (state.json)
"""
from pyrt.cgroups.manager import Manager, manager_from_state, open_manager  # noqa: F401

"""cgroup drivers (v2 primary, v1 for legacy and hybrid hosts); knows nothing of containers."""

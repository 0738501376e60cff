"""Test support shared by every test package: bundles, runtimes, cgroup parents, leak checks."""

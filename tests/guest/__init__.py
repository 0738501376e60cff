"""Tests that run inside the throwaway cgroup-v2 qemu guest (see run.py); the host never collects them."""

"""The default seccomp profile of `pyrt run` (docker's default allow-list). Filled in by a later
commit; until then the default is no filter (as `--security-opt seccomp=unconfined`)."""
from __future__ import annotations


def profile() -> dict | None:
    return None

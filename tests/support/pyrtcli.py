"""Running the `pyrt` CLI in tests, hermetically: its own --root and an empty registries.conf."""
from __future__ import annotations

import os
import subprocess

from tests.support.bundle import PYRT


def pyrt_env(tmp_dir: str, **extra: str) -> dict:
    conf = os.path.join(tmp_dir, "registries.conf")
    if not os.path.exists(conf):
        open(conf, "w").close()
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=conf, HOME=tmp_dir)
    for var in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_RUNTIME_DIR"):
        env.pop(var, None)
    env.update(extra)
    return env


def pyrt(root: str, *args: str, env: dict | None = None, timeout: float = 120, input: str | None = None):
    """Run `pyrt --root ROOT ARGS...`; returns the CompletedProcess (text)."""
    return subprocess.run([PYRT, "--root", root, *args], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else pyrt_env(os.path.dirname(root)), input=input)

"""Attack programs for the security tests, compiled static once per session (rootfs-tools/attacks)."""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile

from tests.support.bundle import REPO


@functools.cache
def attack_binary(name: str) -> str:
    d = tempfile.mkdtemp(prefix=f"pyrt-attack-{name}-")
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    out = os.path.join(d, name)
    subprocess.run([os.path.join(REPO, "rootfs-tools", "attacks", "build.sh"), name, out], check=True)
    return out


def install(rootfs: str, name: str, dest: str = "/") -> str:
    """Copy attack NAME into ROOTFS at DEST; its path inside the container."""
    inside = os.path.join(dest, name)
    target = os.path.join(rootfs, inside.lstrip("/"))
    shutil.copy2(attack_binary(name), target)
    os.chmod(target, 0o755)
    return inside

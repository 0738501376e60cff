"""What the tests of real callers (podman, containerd) share: the two runtimes they compare, the
comparison, and the busybox rootfs staged for an image."""
from __future__ import annotations

import os
import shutil
import subprocess

from tests.support.bundle import PYRT_RUNC, RUNC, busybox_rootfs_template
from tests.support.differential import probe_binary

RUNTIMES = {"runc": RUNC, "pyrt-runc": PYRT_RUNC}


def outcome(r: subprocess.CompletedProcess) -> tuple:
    return r.returncode, r.stdout, r.stderr


def assert_same(res: dict) -> None:
    """RES maps each runtime's name to its CompletedProcess: equal status and output."""
    a, b = res["runc"], res["pyrt-runc"]
    assert outcome(a) == outcome(b), f"runc: {outcome(a)}\npyrt-runc: {outcome(b)}"


def stage_busybox_rootfs(dest: str, extra_files: dict[str, str] | None = None) -> str:
    """A copy of the busybox rootfs at DEST plus EXTRA_FILES (path in image -> host file, made
    executable), for an image to be made from."""
    subprocess.run(["cp", "-a", busybox_rootfs_template(), dest], check=True)
    os.chmod(dest, 0o755)
    for path, src in (extra_files or {}).items():
        target = os.path.join(dest, path.lstrip("/"))
        shutil.copy2(src, target)
        os.chmod(target, 0o755)
    return dest


def serve(world):
    """Body of a module fixture: WORLD (a Podman or Containerd) with the busybox image (and the
    probe as /bin/probe), closed at the end; fails if it reports anything left behind."""
    try:
        world.import_busybox({"/bin/probe": probe_binary()})
        yield world
    finally:
        problems = world.close()
    assert not problems, problems


def check_cleared(world):
    """Body of an autouse fixture: after each test, nothing of WORLD's may be left."""
    yield
    problems = world.clear()
    assert not problems, problems

"""Freezing a cgroup: cgroup.freeze on v2 (core, no controller needed), freezer.state on v1.

Both are asynchronous in the kernel: we write, then wait until the kernel reports the whole
group frozen, and thaw again if it never gets there, so a failed pause leaves nothing frozen.
"""
from __future__ import annotations

import time

from pyrt.cgroups import fs
from pyrt.errors import CgroupError

TIMEOUT = 5.0


def _wait(done, timeout: float = TIMEOUT, retry=None) -> bool:
    deadline = time.monotonic() + timeout
    delay, n = 0.0005, 0
    while True:
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        n += 1
        if retry and n % 25 == 0:
            retry()
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def freeze_v2(cgdir: str) -> None:
    fs.write(cgdir, "cgroup.freeze", 1)
    if not _wait(lambda: fs.read_keyed(cgdir, "cgroup.events").get("frozen") == 1):
        fs.write(cgdir, "cgroup.freeze", 0)
        raise CgroupError(f"cgroup.freeze: {cgdir} did not report frozen within {TIMEOUT:.0f}s")


def thaw_v2(cgdir: str) -> None:
    fs.write(cgdir, "cgroup.freeze", 0)
    _wait(lambda: fs.read_keyed(cgdir, "cgroup.events").get("frozen") == 0)


def frozen_v2(cgdir: str) -> bool:
    try:
        return fs.read(cgdir, "cgroup.freeze") == "1"
    except FileNotFoundError:
        return False


def freeze_v1(cgdir: str) -> None:
    fs.write(cgdir, "freezer.state", "FROZEN")
    # A task racing with the freeze can leave the group FREEZING: writing again retries it.
    if not _wait(lambda: fs.read(cgdir, "freezer.state") == "FROZEN",
                 retry=lambda: fs.write(cgdir, "freezer.state", "FROZEN")):
        fs.write(cgdir, "freezer.state", "THAWED")
        raise CgroupError(f"freezer.state: {cgdir} did not reach FROZEN within {TIMEOUT:.0f}s")


def thaw_v1(cgdir: str) -> None:
    fs.write(cgdir, "freezer.state", "THAWED")
    _wait(lambda: fs.read(cgdir, "freezer.state") == "THAWED",
          retry=lambda: fs.write(cgdir, "freezer.state", "THAWED"))


def frozen_v1(cgdir: str) -> bool:
    try:
        return fs.read(cgdir, "freezer.state") in ("FROZEN", "FREEZING")
    except FileNotFoundError:
        return False


def choose(v2_dir: str | None, v1_dirs: dict):
    """(freeze, thaw, frozen, dir): cgroup.freeze when the v2 tree is there, else the v1 freezer;
    None without either. Plain dirs in, so `pyrt-runc state` can ask without loading the manager."""
    if v2_dir and fs.exists(v2_dir, "cgroup.freeze"):
        return freeze_v2, thaw_v2, frozen_v2, v2_dir
    if "freezer" in v1_dirs:
        return freeze_v1, thaw_v1, frozen_v1, v1_dirs["freezer"]
    return None


def is_frozen(v2_dir: str | None, v1_dirs: dict) -> bool:
    """Whether the group is frozen, by the file choose() picks; False without a freezer."""
    f = choose(v2_dir, v1_dirs)
    return f is not None and f[2](f[3])

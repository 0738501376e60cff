"""A pytest plugin for the guest's run (run.py's job loads it with -p, so it covers every test of
the run, the host's tests included, not only those under tests/guest):

- each test's outcome is appended as one JSON line to $PYRT_GUEST_RESULTS (on the writable work
  share), which the host side reads;
- bundles copy the busybox rootfs run.py laid out on the host (seconds faster than building it
  under emulation).
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile


def pytest_runtest_logreport(report):
    path = os.environ.get("PYRT_GUEST_RESULTS")
    if not path:
        return
    # One line per test: the call phase, or setup/teardown when they failed or skipped.
    if report.when == "call" or report.outcome != "passed":
        line = {"nodeid": report.nodeid, "outcome": report.outcome, "when": report.when,
                "duration": round(report.duration, 2),
                "longrepr": str(report.longrepr)[-3000:] if report.longrepr else ""}
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


@functools.cache
def _prebuilt_rootfs() -> str:
    """One copy onto tmpfs of the rootfs run.py made; the per-bundle copies come from it."""
    d = os.path.join(tempfile.mkdtemp(prefix="pyrt-bbroot-"), "rootfs")
    subprocess.run(["cp", "-a", os.environ["PYRT_GUEST_ROOTFS"], d], check=True)
    return d


if os.environ.get("PYRT_GUEST_ROOTFS"):
    from tests.support import bundle
    bundle.busybox_rootfs_template = _prebuilt_rootfs

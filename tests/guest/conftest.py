"""tests/guest: collected only inside the guest (PYRT_IN_GUEST=1, set by run.py's job).

On the host the test files are ignored outright rather than skipped, so a normal run shows no
skips; tests/integration/test_guest_v2.py boots the guest and reports on these tests instead.
In the guest, every test's outcome is appended as one JSON line to $PYRT_GUEST_RESULTS (on the
writable work share), which the host side reads.
"""
from __future__ import annotations

import json
import os

IN_GUEST = os.environ.get("PYRT_IN_GUEST") == "1"

collect_ignore_glob = [] if IN_GUEST else ["test_*.py"]


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

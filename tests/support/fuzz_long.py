"""The long fuzzing run (issue 9.13; results in docs/security.md, "Fuzzing").

    nice -n 19 .venv/bin/python -m tests.support.fuzz_long [SCALE]

Runs each fuzz target of the suite again and again in chunks of fresh random examples
(PYRT_FUZZ_EXAMPLES=chunk) until its share of the time budget (seconds x SCALE, default 1:
about 20 minutes in all) is spent, and prints per target how many examples passed and every
failure pytest reported. A chunk that fails stops that target; its output is kept under
_work/fuzz-long/.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.support.bundle import REPO

# (test id, chunk size, seconds)
TARGETS = [
    ("tests/unit/test_fuzz_parsers.py::test_config_mutated_documents", 5000, 240),
    ("tests/unit/test_fuzz_parsers.py::test_config_mutated_bytes", 5000, 60),
    ("tests/unit/test_fuzz_parsers.py::test_config_random_json", 5000, 60),
    ("tests/unit/test_fuzz_parsers.py::test_manifests_mutated", 5000, 150),
    ("tests/unit/test_fuzz_parsers.py::test_manifests_mutated_bytes_and_random", 5000, 60),
    ("tests/unit/test_fuzz_parsers.py::test_image_configs_mutated", 5000, 120),
    ("tests/unit/test_fuzz_parsers.py::test_image_configs_mutated_bytes_and_random", 5000, 60),
    ("tests/integration/test_fuzz_unpack.py::test_tar_streams_are_refused_or_stay_inside", 2000, 450),
]


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    out_dir = os.path.join(REPO, "_work", "fuzz-long")
    os.makedirs(out_dir, exist_ok=True)
    python = os.path.join(REPO, ".venv", "bin", "python")
    for test, chunk, seconds in TARGETS:
        start, passed, chunks, failed = time.monotonic(), 0, 0, None
        while time.monotonic() - start < seconds * scale:
            log = os.path.join(out_dir, f"{test.rsplit('::', 1)[1]}-{chunks}.log")
            with open(log, "w") as f:
                p = subprocess.run([python, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-W", "ignore"],
                                   cwd=REPO, stdout=f, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PYRT_FUZZ_EXAMPLES=str(chunk)))
            chunks += 1
            if p.returncode != 0:
                failed = log
                break
            passed += chunk
            os.unlink(log)
        took = time.monotonic() - start
        verdict = f"FAILED, see {failed}" if failed else "no failure"
        print(f"{test.rsplit('::', 1)[1]}: {passed} examples passed in {took:.0f} s; {verdict}", flush=True)


if __name__ == "__main__":
    main()

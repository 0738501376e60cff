#!/usr/bin/env python3
"""Layer unpack alone: pyrt's unpack_layer vs plain `tar -xzf` vs `umoci unpack`.

    .venv/bin/python bench/unpack.py [--runs N] [--blob LAYER.tar.gz]

Default layer: the Debian bookworm minbase rootfs as one gzip layer, built and cached by
bench/pull.py (debootstrap from the apt mirror, once, under /var/tmp/pyrt-bench).
Each run unpacks into a fresh directory on the same filesystem; the tools take turns in
every round, pyrt in a fresh interpreter (its start-up is part of the cost). Medians and
the pyrt/tar ratio are printed (target: <= 1.1x tar).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(REPO, ".venv", "bin", "python")
CACHE = "/var/tmp/pyrt-bench"
UNPACK = "import sys; from pyrt.image.unpack import unpack_layer; unpack_layer(sys.argv[1], None, sys.argv[2])"


def _pull_bench():
    spec = importlib.util.spec_from_file_location("bench_pull", os.path.join(REPO, "bench", "pull.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_pyrt(blob: str, d: str, layout: str | None) -> None:
    subprocess.run([PY, "-c", UNPACK, blob, os.path.join(d, "layer")], check=True)


def run_tar(blob: str, d: str, layout: str | None) -> None:
    os.mkdir(os.path.join(d, "layer"))
    subprocess.run(["tar", "-xzf", blob, "-C", os.path.join(d, "layer")], check=True)


def run_umoci(blob: str, d: str, layout: str | None) -> None:
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", os.path.join(d, "bundle")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--blob", help="a gzip layer to use instead of the Debian minbase one")
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    layout = None
    if a.blob:
        blob = os.path.abspath(a.blob)
    else:
        pull = _pull_bench()
        layout = pull.debian_layout()
        blob = pull.layer_blob(layout)
    tools = [("pyrt", run_pyrt), ("tar -xzf", run_tar)] + ([("umoci", run_umoci)] if layout else [])
    times: dict[str, list[float]] = {t: [] for t, _ in tools}
    for i in range(a.runs):
        for tool, fn in tools:
            d = tempfile.mkdtemp(prefix="unpack-", dir=CACHE)
            try:
                subprocess.run(["sync"], check=True)
                t0 = time.perf_counter()
                fn(blob, d, layout)
                times[tool].append(time.perf_counter() - t0)
            finally:
                shutil.rmtree(d, ignore_errors=True)
        print(f"bench: round {i + 1}/{a.runs}: " + ", ".join(f"{t} {v[-1]:.2f}s" for t, v in times.items()),
              file=sys.stderr)
    med = {t: statistics.median(v) for t, v in times.items()}
    size = os.path.getsize(blob) / 1e6
    print(f"unpack of a {size:.0f} MB gzip layer, median of {a.runs}:")
    for t, v in med.items():
        print(f"  {t:10s} {v:6.2f} s   {v / med['tar -xzf']:.2f}x tar")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench/pull.py still runs end to end on busybox (one round; the numbers are not checked)."""
import os
import sys

from tests.support.bundle import REPO, run


def test_pull_bench_busybox_one_round(tmp_path):
    env = dict(os.environ, PYRT_BENCH_CACHE=str(tmp_path / "cache"))
    p = run([sys.executable, os.path.join(REPO, "bench", "pull.py"), "--only", "busybox", "--runs", "1"],
            timeout=240, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[-2].split()[:4] == ["image", "layer", "pyrt", "podman"]
    row = lines[-1].split()
    assert row[0] == "busybox" and all(float(x) > 0 for x in row[2:])
    # Every run's temp dir is gone; only the cached layouts stay.
    assert sorted(os.listdir(tmp_path / "cache")) == ["layouts"]

"""bench/runtime.py still runs end to end (one iteration; the numbers are not checked here)."""
import json
import os
import sys

from tests.support.bundle import REPO, run


def test_runtime_bench_one_iteration(tmp_path):
    out = tmp_path / "bench.json"
    p = run([sys.executable, os.path.join(REPO, "bench", "runtime.py"), "-n", "1", "--warmup", "0",
             "--json", str(out)], timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"pyrt-runc", "runc", "crun"}
    for name, r in results.items():
        assert r["error"] is None, f"{name}: {r['error']}"
        assert r["median_run_ms"] > 0 and r["median_create_start_delete_ms"] > 0
    assert "x runc" in p.stdout

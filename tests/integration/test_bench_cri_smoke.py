"""bench/cri.py still runs end to end (one pod per handler; the numbers are not checked here)."""
import json
import os
import sys

from tests.support.bundle import REPO, run


def test_cri_bench_one_pod(tmp_path):
    out = tmp_path / "bench.json"
    p = run([sys.executable, os.path.join(REPO, "bench", "cri.py"), "-n", "1", "--warmup", "0", "--execs", "1",
             "--json", str(out)], timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads(out.read_text())
    for handler in ("runc", "pyrt"):
        med = res["median_ms"][handler]
        assert set(med) >= {"RunPodSandbox", "StartContainer", "ExecSync", "RemovePodSandbox"}, med
        assert all(v > 0 for v in med.values()), med
        # The traced run saw the runtime's own calls inside the calls that make them.
        assert res["where"][handler]["ExecSync"]["runtime_calls"] == {"exec": 1}
        assert res["where"][handler]["StartContainer"]["runtime_calls"] == {"create": 1, "start": 1}
    assert "x runc" in p.stdout and "where the time goes" in p.stdout

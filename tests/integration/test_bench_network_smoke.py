"""bench/network.py still runs end to end (one run of each case; the numbers are not checked), in
namespaces of its own: the leak check sees its holders, podman's jail and iperf3 servers gone, and
its guard that nothing of pyrt's network appeared in the VM's namespace."""
import os
import sys

from tests.support.bundle import REPO, run


def test_network_bench_one_round(tmp_path):
    env = dict(os.environ)
    env.pop("PYRT_NETWORK")     # the bench names its networks; its pyrt runs in its own namespaces
    p = run([sys.executable, os.path.join(REPO, "bench", "network.py"), "-n", "1", "--rounds", "1",
             "--pings", "3", "--seconds", "1"], timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = {line.split("  ")[0]: line.split()[-5:] for line in p.stdout.splitlines() if line[:1].isalpha()}
    for tool in ("pyrt", "pyrt, warm", "podman-crun"):
        assert float(rows[tool][0]) > 0, p.stdout        # --network bridge ms
    for path in ("veth pair (plain)", "bridge (plain)", "pyrt bridge"):
        assert path in rows and float(rows[path][-2]) > 0, p.stdout   # iperf3 Gbit/s

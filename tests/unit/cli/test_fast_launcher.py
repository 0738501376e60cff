"""rootfs-tools/fast-launcher.py: pyrt-runc's launcher without `site` still finds everything."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.support.bundle import REPO, PYRT_RUNC

SCRIPT = os.path.join(REPO, "rootfs-tools", "fast-launcher.py")


def test_generated_launcher_runs_without_site(tmp_path):
    subprocess.run([sys.executable, SCRIPT, str(tmp_path)], check=True)
    launcher = tmp_path / "pyrt-runc"
    first = launcher.read_text().splitlines()[0]
    assert first.startswith("#!") and first.endswith(" -S")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # cffi's backend (venv site-packages) and pyrt._cext (the source tree) both load
    out = subprocess.run([str(launcher), "features"], env=env, capture_output=True, text=True, check=True)
    assert '"ociVersionMin"' in out.stdout
    probe = subprocess.run([str(launcher), "--root", str(tmp_path / "state"), "list", "-q"], env=env,
                           capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == ""


def test_installed_pyrt_runc_is_the_fast_launcher():
    """setup-host.sh installs it over pip's console script."""
    with open(PYRT_RUNC) as f:
        first = f.readline().rstrip("\n")
    assert first.endswith(" -S"), f"{PYRT_RUNC} starts with {first!r}: run rootfs-tools/setup-host.sh"

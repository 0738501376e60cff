"""rootfs-tools/fast-launcher.py: pyrt-runc's launcher without `site` still finds everything, and
loads pyrt's modules through pyrt/cli/fastimport.py."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.bundle import PYRT, PYRT_RUNC, REPO

SCRIPT = os.path.join(REPO, "rootfs-tools", "fast-launcher.py")


def test_generated_launcher_runs_without_site(tmp_path):
    subprocess.run([sys.executable, SCRIPT, str(tmp_path)], check=True)
    launcher = tmp_path / "pyrt-runc"
    first = launcher.read_text().splitlines()[0]
    assert first.startswith("#!") and first.endswith(" -SPXutf8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # cffi's backend (venv site-packages) and pyrt._cext (the source tree) both load
    out = subprocess.run([str(launcher), "features"], env=env, capture_output=True, text=True, check=True)
    assert '"ociVersionMin"' in out.stdout
    probe = subprocess.run([str(launcher), "--root", str(tmp_path / "state"), "list", "-q"], env=env,
                           capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == ""


def test_generated_pyrt_launcher_runs_without_site(tmp_path):
    """`pyrt` (click for its other verbs, the engine) works from the same launcher."""
    subprocess.run([sys.executable, SCRIPT, str(tmp_path)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(tmp_path / "pyrt"), "--root", str(tmp_path / "root"), "images"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == "", out
    assert out.stdout.split()[:2] == ["REPOSITORY", "TAG"], out.stdout


@pytest.mark.parametrize("script", [PYRT_RUNC, PYRT])
def test_installed_scripts_are_the_fast_launcher(script):
    """setup-host.sh installs them over pip's console scripts."""
    with open(script) as f:
        first = f.readline().rstrip("\n")
    assert first.endswith(" -SPXutf8"), f"{script} starts with {first!r}: run rootfs-tools/setup-host.sh"


PROBE = """
import sys
sys.argv = [{launcher!r}, "--version"]
code = open({launcher!r}).read().replace("sys.exit(main())", "")
exec(compile(code, {launcher!r}, "exec"))
mod = sys.modules["pyrt.cli.pyrt_runc"]
print(type(mod.__spec__.loader).__name__, mod.__file__, sys.flags.utf8_mode, sys.flags.safe_path)
"""


def _probe(launcher: str) -> list[str]:
    """What the launcher's prologue leaves behind, run with the flags of its #! line."""
    with open(launcher) as f:
        interpreter, flags = f.readline()[2:].split()
    out = subprocess.run([interpreter, flags, "-c", PROBE.format(launcher=launcher)],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_launcher_loads_pyrt_through_its_finder(tmp_path):
    subprocess.run([sys.executable, SCRIPT, str(tmp_path)], check=True)
    loader, path, utf8, safe_path = _probe(str(tmp_path / "pyrt-runc"))
    assert loader == "PyrtFinder" and path == os.path.join(REPO, "pyrt", "cli", "pyrt_runc.py")
    assert (utf8, safe_path) == ("1", "True")


def test_launcher_without_its_finder_file_still_runs(tmp_path):
    """The finder is only a shortcut: without its compiled file the launcher imports as usual."""
    subprocess.run([sys.executable, SCRIPT, str(tmp_path)], check=True)
    os.unlink(tmp_path / "pyrt-fastimport")
    assert _probe(str(tmp_path / "pyrt-runc"))[0] != "PyrtFinder"
    out = subprocess.run([str(tmp_path / "pyrt-runc"), "features"], capture_output=True, text=True)
    assert out.returncode == 0 and '"ociVersionMin"' in out.stdout, out.stderr

"""`pyrt pull`'s click-free reading of plain spellings (pyrt.cli.pyrt._plain_pull): what it takes,
and that everything else is left to click (help, bare --tls-verify, unknown flags, PYRT_ROOT)."""
import subprocess
import sys

import pytest

from pyrt.cli.pyrt import DEFAULT_ROOT, _plain_pull


def test_plain_spellings(monkeypatch):
    monkeypatch.delenv("PYRT_ROOT", raising=False)
    pace = {"low_speed_limit": None, "low_speed_time": None, "timeout": None}
    assert _plain_pull(["pull", "busybox"]) == {
        "root": DEFAULT_ROOT, "platform": None, "tls_verify": None, "authfile": None, "quiet": False,
        "reference": "busybox", **pace}
    got = _plain_pull(["--root", "/r", "pull", "-q", "--tls-verify=false", "--platform", "linux/arm64",
                       "--authfile=/a.json", "h:5000/x/y:1"])
    assert got == {"root": "/r", "platform": "linux/arm64", "tls_verify": False, "authfile": "/a.json",
                   "quiet": True, "reference": "h:5000/x/y:1", **pace}
    got = _plain_pull(["pull", "--low-speed-limit", "10", "--low-speed-time=5", "--timeout", "60", "x"])
    assert (got["low_speed_limit"], got["low_speed_time"], got["timeout"]) == (10, 5, 60)
    assert _plain_pull(["--root=/r", "pull", "--tls-verify=true", "x"])["tls_verify"] is True


@pytest.mark.parametrize("argv", [
    ["pull"], ["pull", "a", "b"], ["pull", "--help", "x"], ["pull", "-h"], ["--help"], ["images"],
    ["pull", "--tls-verify", "x"], ["pull", "--tls-verify=no", "x"], ["pull", "--platform", "x"],
    ["pull", "--platform=", "x"], ["pull", "--", "x"], ["--root", "pull"], ["--rootx", "pull", "x"],
    ["image", "pull", "x"], [],
])
def test_left_to_click(argv, monkeypatch):
    monkeypatch.delenv("PYRT_ROOT", raising=False)
    assert _plain_pull(argv) is None


def test_env_root_left_to_click(monkeypatch):
    monkeypatch.setenv("PYRT_ROOT", "/elsewhere")
    assert _plain_pull(["pull", "x"]) is None


def test_plain_pull_does_not_import_click(tmp_path):
    """A plain pull that fails (nothing listens on port 1) still reports through main(), without click."""
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    code = ("import sys; from pyrt.cli import pyrt\n"
            "try:\n    pyrt.main(['--root', sys.argv[1], 'pull', '--tls-verify=false', '127.0.0.1:1/x/y'])\n"
            "except SystemExit as e:\n    print(e.code, 'click' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root")], capture_output=True, text=True,
                         env={"CONTAINERS_REGISTRIES_CONF": str(conf), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.stdout.split() == ["10", "False"], out
    assert out.stderr.startswith("pyrt: ") and len(out.stderr.splitlines()) == 1

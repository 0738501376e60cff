"""`pyrt run`'s click-free reading of plain spellings (pyrt.cli.engine_run.plain_run): for every
spelling it takes, click's own reading of the same argv gives the same values; everything else
(help, clustered flags, `-e=X`, negative numbers, unknown flags) is left to click."""
import subprocess
import sys
import warnings

import pytest

from pyrt.cli.engine_run import plain_run

ENV = ("PYRT_ROOT", "PYRT_RUN_ROOT", "PYRT_CGROUP_PARENT")


def click_read(argv):
    """(group values, detach, run values) as click reads ARGV, without running anything."""
    from pyrt.cli.pyrt_commands import cli
    ctx = cli.make_context("pyrt", list(argv))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # click 9 folds protected_args into args
        rest = [*getattr(ctx, "protected_args", []), *ctx.args]
    assert rest[0] == "run"
    sub = cli.get_command(ctx, "run").make_context("run", rest[1:], parent=ctx)
    p = {k: list(v) if isinstance(v, tuple) else v for k, v in sub.params.items()}
    return ctx.params, p.pop("detach"), p


SPELLINGS = [
    ["run", "busybox"],
    ["run", "--rm", "busybox", "true"],
    ["run", "-d", "--name", "x", "busybox", "sleep", "300"],
    ["--root", "/r", "--run-root=/rr", "--cgroup-parent", "cg", "run", "--rm", "--network=none", "busybox",
     "sh", "-c", "echo hi --rm -d"],
    ["run", "busybox", "-d", "--rm"],
    ["run", "busybox", "--help"],
    ["run", "-h", "host", "--hostname=h2", "busybox"],
    ["run", "-e", "A=1", "--env", "B=2", "--env-file", "/f", "-v", "/a:/b:ro", "--volume=v:/c",
     "--mount", "type=tmpfs,dst=/t", "--tmpfs", "/x", "--read-only", "-m", "32m", "--memory-swap", "64m",
     "--cpus", "1.5", "-c", "512", "--cpuset-cpus", "0", "--pids-limit", "20", "--cap-add", "NET_ADMIN",
     "--cap-drop", "ALL", "--privileged", "--security-opt", "no-new-privileges", "--ulimit", "nofile=10:20",
     "--init", "--stop-signal", "TERM", "--stop-timeout", "3", "-l", "a=b", "--label", "c=d", "--log-opt",
     "max-size=1k", "--pull", "never", "--platform", "linux/amd64", "--runtime", "runc", "--net", "host",
     "-i", "-t", "-q", "-w", "/w", "-u", "1:2", "--entrypoint", "/bin/sh", "--detach", "busybox", "-c", "x"],
    ["run", "--interactive", "--tty", "--quiet", "--workdir", "/", "--user", "0", "--memory=1g", "img:tag"],
    ["run", "-p", "8080:80", "--publish=127.0.0.1::53/udp", "-p", "8000-8002:80-82", "-P", "--network", "bridge",
     "busybox"],
    ["run", "--publish-all", "--publish", "80", "busybox", "-p", "9"],
    ["run", "--network", "appnet", "--ip", "10.1.0.5", "--network-alias", "a1", "--network-alias=a2", "--dns",
     "192.0.2.53", "--dns=192.0.2.54", "--dns-search", "example.com", "--dns-option", "ndots:2", "busybox"],
]


@pytest.mark.parametrize("argv", SPELLINGS)
def test_same_values_as_click(argv, monkeypatch):
    for v in ENV:
        monkeypatch.delenv(v, raising=False)
    assert plain_run(argv) == click_read(argv)


@pytest.mark.parametrize("argv", [["run", "busybox"], ["--root", "/flag", "run", "busybox"]])
def test_env_vars_as_click_reads_them(argv, monkeypatch):
    monkeypatch.setenv("PYRT_ROOT", "/e")
    monkeypatch.setenv("PYRT_RUN_ROOT", "/er")
    monkeypatch.setenv("PYRT_CGROUP_PARENT", "")   # empty: click takes the default
    got = plain_run(argv)
    assert got == click_read(argv)
    assert got[0]["cgroup_parent"] == "/pyrt" and got[0]["run_root"] == "/er"


@pytest.mark.parametrize("argv", [
    ["run"], ["run", "--help"], ["run", "--help", "busybox"], ["--help", "run", "x"], ["run", "-it", "busybox"],
    ["run", "-e=A=1", "busybox"], ["run", "--pids-limit", "-1", "busybox"], ["run", "--rm=true", "busybox"],
    ["run", "--name", "--rm", "busybox"], ["run", "--", "busybox"], ["run", "--bogus", "busybox"],
    ["run", "--name", "", "busybox"], ["run", "--entrypoint=", "busybox"], ["ps"], ["--root", "run"],
    ["create", "busybox"], ["run", "--stop-timeout", "x", "busybox"], [],
])
def test_left_to_click(argv):
    assert plain_run(argv) is None


def test_plain_run_does_not_import_click(tmp_path):
    """A plain run of a missing image (with --pull never) reports through main(), without click."""
    code = ("import sys; from pyrt.cli import pyrt\n"
            "try:\n    pyrt.main(['--root', sys.argv[1], '--run-root', sys.argv[2], 'run', '--rm', '--pull',"
            " 'never', 'nosuch-image', 'true'])\n"
            "except SystemExit as e:\n    print(e.code, 'click' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root"), str(tmp_path / "run")],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.stdout.split() == ["125", "False"], out
    assert out.stderr.startswith("pyrt: ") and len(out.stderr.splitlines()) == 1, out.stderr

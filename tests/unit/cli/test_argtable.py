"""pyrt.cli.argtable: the one table-driven argv reader behind pyrt-runc and `pyrt pull`'s fast path.

The pyrt-runc rows (tests/support/runc_argv.py) pin what each verb's handler is given and pyrt's
exact refusal messages. Whether a row is accepted or refused at all is not taken from pyrt: the
root integration test tests/integration/test_argv_runc.py runs every row under runc 1.1.5 and
pyrt-runc and holds the two to the same answer and exit code class, with few named divergences.
The `pyrt pull` rows below are pyrt's own (no reference tool reads that command line).
"""
from __future__ import annotations

import os
import subprocess

import pytest

from pyrt.cli import argtable, pyrt as pyrt_cli, pyrt_runc as runc_cli
from pyrt.cli.argtable import Cmd, Opt
from pyrt.errors import UsageError
from tests.support.bundle import PYRT_RUNC, VENV_BIN
from tests.support.runc_argv import RUNC, RUNC_GLOBALS


def _runc_values(verb, argv):
    """What VERB's handler gets for ARGV (the words after the verb), or 'E: message'."""
    try:
        return argtable.bind(runc_cli.COMMANDS[verb], list(argv))
    except UsageError as e:
        assert e.exit_code == 2
        return f"E: {e}"


def _changed(verb, got):
    """GOT as the handler arguments that differ from the verb's plain call: 'k=v ...' or '-'."""
    if isinstance(got, str):
        return got
    cmd = runc_cli.COMMANDS[verb]
    plain = _runc_values(verb, ["c1"] if any(r for _, r in cmd.args) else [])
    return " ".join(f"{k}={v!r}" for k, v in got.items() if v != plain.get(k)) or "-"



@pytest.mark.parametrize("verb, argv, want", RUNC)
def test_runc_verbs_read_as_before(verb, argv, want):
    assert _changed(verb, _runc_values(verb, argv)) == want


def test_runc_table_covers_every_verb_and_flag_spelling():
    seen = {(v, w) for v, argv, _ in RUNC for w in argv}
    for name, cmd in runc_cli.COMMANDS.items():
        for o in cmd.opts:
            for n in o.names:
                assert (name, n) in seen or (name, n + "=true") in seen, (name, n)


_GLOBAL_DEFAULTS = {"criu": None, "debug": False, "log": None, "log_format": "text", "root": "/run/pyrt-runc",
                    "rootless": "auto", "systemd_cgroup": False}


@pytest.mark.parametrize("argv, want", RUNC_GLOBALS)
def test_runc_globals_read_as_before(argv, want):
    try:
        g, rest = runc_cli._split_globals(list(argv))
    except UsageError as e:
        got = f"E: {e}"
    else:
        got = (" ".join(f"{k}={v!r}" for k, v in sorted(g.items()) if v != _GLOBAL_DEFAULTS[k]) or "-", rest)
    assert got == want


@pytest.mark.parametrize("argv, line", [
    (["create", "--bogus", "c1"], "pyrt-runc: create: unknown option --bogus"),
    (["--root", "{root}", "start", "c1", "--", "-x"], "pyrt-runc: start: unexpected argument '-x'"),
    (["--log-format", "yaml", "list"], "pyrt-runc: --log-format must be one of text, json"),
    (["--root", "{root}"], "pyrt-runc: missing command"),
    (["--root", "{root}", "list", "-q", "--format"], "pyrt-runc: list: --format needs a value"),
])
def test_runc_usage_errors_are_one_line_exit_2(argv, line, tmp_path):
    out = subprocess.run([PYRT_RUNC, *[a.format(root=tmp_path) for a in argv]], capture_output=True,
                         text=True, timeout=30)
    assert (out.returncode, out.stderr, out.stdout) == (2, line + "\n", "")


_PULL_DEFAULTS = {"root": pyrt_cli.DEFAULT_ROOT, "platform": None, "tls_verify": None, "authfile": None,
                  "quiet": False, "low_speed_limit": None, "low_speed_time": None, "timeout": None}

# (pyrt argv, 'REFERENCE k=v...' for what the fast path reads, None for what it leaves to click)
PULL = [
    (['pull', 'x'], 'x'),
    (['pull', '-q', 'x'], 'x quiet=True'),
    (['pull', '--quiet', 'x'], 'x quiet=True'),
    (['pull', 'x', '-q'], 'x quiet=True'),
    (['pull', '-q=1', 'x'], None),
    (['pull', '--quiet=true', 'x'], None),
    (['pull', '--tls-verify=true', 'x'], 'x tls_verify=True'),
    (['pull', '--tls-verify=false', 'x'], 'x tls_verify=False'),
    (['pull', '--tls-verify', 'x'], None),
    (['pull', '--tls-verify', 'true', 'x'], None),
    (['pull', '--tls-verify=no', 'x'], None),
    (['pull', '--tls-verify=TRUE', 'x'], None),
    (['pull', '--platform', 'linux/arm64', 'x'], "x platform='linux/arm64'"),
    (['pull', '--platform=linux/arm64', 'x'], "x platform='linux/arm64'"),
    (['pull', 'x', '--platform', 'p'], "x platform='p'"),
    (['pull', '--platform', '-q', 'x'], None),
    (['pull', '--platform=-q', 'x'], "x platform='-q'"),
    (['pull', '--platform=', 'x'], None),
    (['pull', '--platform', '', 'x'], None),
    (['pull', '--platform', 'a', '--platform', 'b', 'x'], "x platform='b'"),
    (['pull', '--authfile', '/a', 'x'], "x authfile='/a'"),
    (['pull', '--authfile=/a', 'x'], "x authfile='/a'"),
    (['pull', '--authfile'], None),
    (['pull', 'x', '--authfile'], None),
    (['pull', '--platform'], None),
    (['pull'], None),
    (['pull', 'a', 'b'], None),
    (['pull', '--help'], None),
    (['pull', '-h', 'x'], None),
    (['pull', '--', 'x'], None),
    (['pull', 'x', '--'], None),
    (['pull', '-'], None),
    (['pull', ''], None),
    (['pull', '-qq', 'x'], None),
    (['pull', '--bogus', 'x'], None),
    (['pull', '--plat', 'p', 'x'], None),
    (['--root', '/r', 'pull', 'x'], "x root='/r'"),
    (['--root=/r', 'pull', 'x'], "x root='/r'"),
    (['--root', '/a', '--root', '/b', 'pull', 'x'], "x root='/b'"),
    (['--root=', 'pull', 'x'], None),
    (['--root', '', 'pull', 'x'], None),
    (['--root', 'pull', 'pull', 'x'], "x root='pull'"),
    (['--root', 'pull'], None),
    (['--rootx', 'pull', 'x'], None),
    (['--root'], None),
    (['--help'], None),
    ([], None),
    (['images'], None),
    (['image', 'pull', 'x'], None),
    (['-q', 'pull', 'x'], None),
    # These two were read without click before argtable; now click reads them, to the same values
    # (test_what_the_fast_path_leaves_click_reads_the_same).
    (['--root', '-r', 'pull', 'x'], None),
    (['--root', '--', 'pull', 'x'], None),
    (['pull', 'x', '--root', '/r'], None),
    (['--', 'pull', 'x'], None),
    (['--root', '/r', 'pull', '-q', '--tls-verify=false', '--platform', 'linux/arm64', '--authfile=/a.json', 'h:5000/x/y:1'], "h:5000/x/y:1 root='/r' platform='linux/arm64' tls_verify=False authfile='/a.json' quiet=True"),
]


def _pull_summary(args):
    if args is None:
        return None
    diff = " ".join(f"{k}={args[k]!r}" for k in _PULL_DEFAULTS if args[k] != _PULL_DEFAULTS[k])
    return args["reference"] + (" " + diff if diff else "")


@pytest.mark.parametrize("argv, want", PULL)
def test_pull_fast_path_reads_as_before(argv, want, monkeypatch):
    monkeypatch.delenv("PYRT_ROOT", raising=False)
    assert _pull_summary(pyrt_cli._plain_pull(list(argv))) == want


def _click_pull(argv, monkeypatch):
    """What click's `pull` would call pull_image with (None: click refuses ARGV or it is not a pull)."""
    import click

    from pyrt.cli import pyrt_commands, pyrt_images
    calls = []
    monkeypatch.setattr(pyrt_images, "pull_image", lambda *a: calls.append(a))
    try:
        pyrt_commands.cli.main(args=list(argv), prog_name="pyrt", standalone_mode=False)
    except (click.ClickException, click.exceptions.Exit):
        return None
    if not calls:
        return None
    import inspect
    names = list(inspect.signature(pyrt_cli.pull_image).parameters)
    return dict(zip(names, calls[0]))


@pytest.mark.parametrize("argv", [a for a, _ in PULL if "--help" not in a and "-h" not in a])
def test_what_the_fast_path_reads_click_reads_the_same(argv, monkeypatch, capsys):
    """Taken by the fast path or left to click, every ARGV ends, through pyrt's real entry point,
    in the pull click alone would make (or in none, where click refuses it)."""
    from pyrt.cli import pyrt_images
    monkeypatch.delenv("PYRT_ROOT", raising=False)
    clicked = _click_pull(argv, monkeypatch)
    fast = pyrt_cli._plain_pull(list(argv))
    if fast is not None:
        assert fast == clicked
    calls = []
    import inspect
    keys = list(inspect.signature(pyrt_cli.pull_image).parameters)
    monkeypatch.setattr(pyrt_cli, "pull_image", lambda **kw: calls.append(("fast", kw)))
    monkeypatch.setattr(pyrt_images, "pull_image", lambda *a: calls.append(("click", dict(zip(keys, a)))))
    try:
        pyrt_cli.main(list(argv))
    except SystemExit as e:
        assert e.code != 0 and clicked is None, (e.code, clicked)
    assert calls == ([] if clicked is None else [("fast" if fast is not None else "click", clicked)])


@pytest.mark.parametrize("argv, root", [(["--root", "-r", "pull", "x"], "-r"), (["--root", "--", "pull", "x"], "--")])
def test_what_the_fast_path_leaves_click_reads_the_same(argv, root, monkeypatch):
    monkeypatch.delenv("PYRT_ROOT", raising=False)
    assert _click_pull(argv, monkeypatch) == dict(_PULL_DEFAULTS, root=root, reference="x")


def test_pull_click_options_come_from_the_table():
    """pyrt_images builds `pull` from pyrt.cli.image_pull.PULL: same flags, kinds and help as before."""
    import click

    from pyrt.cli import pyrt_images
    cmd = pyrt_images.pull
    opts = {p.name: p for p in cmd.params if isinstance(p, click.Option)}
    assert [(p.opts, p.help) for p in opts.values()] == [(list(o.names), o.help) for o in pyrt_cli.PULL.opts]
    assert opts["quiet"].is_flag and not opts["platform"].is_flag and opts["platform"].default is None
    tls = opts["tls_verify"]
    assert (tls.type, tls.is_flag, tls.flag_value, tls.default) == (click.BOOL, False, True, None)
    assert [p.name for p in cmd.params if isinstance(p, click.Argument)] == ["reference"]
    assert cmd.help == "Pull an image from a registry."


def test_pull_help_names_every_option_of_the_table():
    out = subprocess.run([os.path.join(VENV_BIN, "pyrt"), "pull", "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("Usage: pyrt pull [OPTIONS] REFERENCE\n"), out
    for opt in pyrt_cli.PULL.opts:
        for flag in opt.names:
            assert flag in out.stdout, flag
        assert opt.help.split()[0] in out.stdout, opt.help


@pytest.mark.parametrize("argv, msg", [
    (["--pull=1"], "unknown option --pull"),
    (["-q=1"], "-q takes no value"),
    (["--tls-verify"], "--tls-verify wants --tls-verify=true or --tls-verify=false"),
    (["--tls-verify=yes"], "--tls-verify must be true or false"),
    (["--name", "-x"], "--name needs a value"),
    (["--name="], "--name needs a value"),
    ([""], "empty argument"),
    (["--", "x"], "-- is left to the full parser"),
    (["-"], "unknown option -"),
])
def test_strict_mode_refuses_what_click_might_read_otherwise(argv, msg):
    opts = [Opt(("-q",), "q", "flag", False), Opt(("--tls-verify",), "tls", "bool"), Opt(("--name",), "name")]
    with pytest.raises(UsageError) as e:
        argtable.parse(opts, argv, "w", False, strict=True)
    assert str(e.value) == f"w: {msg}"


def test_default_mode_reads_like_runc():
    opts = [Opt(("-q",), "q", "flag", False), Opt(("--name",), "name")]
    assert argtable.parse(opts, ["-q=0", "--name", "-x", "", "-", "--", "-q"], "w", False) == (
        {"q": False, "name": "-x"}, ["", "-", "-q"])
    assert argtable.parse(opts, ["--name=", "-q=yes"], "w", False) == ({"q": True, "name": ""}, [])


def test_bind_positionals_and_rest():
    cmd = Cmd("v", "", [Opt(("-a",), "a", "flag", False)], [("first", True), ("second", False)], rest="more",
              interspersed=False)
    assert argtable.bind(cmd, ["-a", "x", "-a", "y", "z"]) == {"a": True, "first": "x", "second": "-a",
                                                               "more": ["y", "z"]}
    assert argtable.bind(cmd, ["x"]) == {"a": False, "first": "x", "second": None, "more": []}


def test_importing_argtable_is_cheap():
    code = "import sys, pyrt.cli.argtable; print(sorted(m for m in ('click', 'json', 'logging') if m in sys.modules))"
    out = subprocess.run([os.path.join(VENV_BIN, "python"), "-I", "-c", code], capture_output=True,
                         text=True, timeout=30)
    assert out.stdout.split() == ["[]"], out

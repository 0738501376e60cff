"""pyrt-runc's COMMANDS table read by pyrt.cli.argtable (the hot path that avoids click)."""
from __future__ import annotations

import pytest

from pyrt.cli import pyrt_runc as cli
from pyrt.errors import UsageError


def parsed(verb, *argv):
    """What the handler of VERB would be called with."""
    seen = {}
    cmd = cli.COMMANDS[verb]
    orig = cmd.handler
    cmd.handler = lambda g, **kw: seen.update(kw)
    try:
        cli.dispatch(cmd, None, list(argv))
    finally:
        cmd.handler = orig
    return seen


def test_create_flags_every_form():
    v = parsed("create", "--bundle=/b", "--pid-file", "/p", "--preserve-fds", "2", "--no-pivot", "c1")
    assert v["bundle"] == "/b" and v["pid_file"] == "/p" and v["preserve_fds"] == 2
    assert v["no_pivot"] is True and v["container_id"] == "c1" and v["console_socket"] is None
    assert parsed("create", "c1", "-b", "/x")["bundle"] == "/x"  # flags after the id, like runc
    assert parsed("create", "c1")["bundle"] == "."


def test_kill_and_delete():
    assert parsed("kill", "c1") == {"all_": False, "container_id": "c1", "signal": None}
    assert parsed("kill", "--all", "c1", "KILL") == {"all_": True, "container_id": "c1", "signal": "KILL"}
    assert parsed("delete", "-f", "c1") == {"force": True, "container_id": "c1"}


def test_exec_stops_at_the_container_id():
    v = parsed("exec", "-e", "A=1", "--env", "B=2", "-g", "10", "-t", "c1", "sh", "-c", "echo", "--cwd")
    assert v["env"] == ["A=1", "B=2"] and v["additional_gids"] == [10] and v["tty"] is True
    assert v["container_id"] == "c1" and v["command"] == ["sh", "-c", "echo", "--cwd"]
    assert v["cwd"] is None


def test_ps_passes_ps_arguments_through():
    v = parsed("ps", "--format", "json", "c1", "-eo", "pid")
    assert v == {"fmt": "json", "container_id": "c1", "ps_args": ["-eo", "pid"]}


@pytest.mark.parametrize("verb, argv, words", [
    ("create", ["--bogus", "c1"], "unknown option --bogus"),
    ("create", [], "missing argument CONTAINER_ID"),
    ("create", ["--preserve-fds", "x", "c1"], "wants a number"),
    ("create", ["--preserve-fds", "-1", "c1"], "must not be negative"),
    ("create", ["c1", "--pid-file"], "needs a value"),
    ("list", ["--format", "yaml"], "must be one of table, json"),
    ("start", ["c1", "extra"], "unexpected argument"),
])
def test_usage_errors(verb, argv, words):
    with pytest.raises(UsageError) as e:
        parsed(verb, *argv)
    assert words in str(e.value) and e.value.exit_code == 2


def test_global_flags_before_the_verb():
    g, rest = cli._split_globals(["--root", "/r", "--log-format=json", "--debug", "state", "--root", "x"])
    assert g["root"] == "/r" and g["log_format"] == "json" and g["debug"] is True
    assert rest == ["state", "--root", "x"]
    with pytest.raises(UsageError):
        cli.Globals(root="/r", systemd_cgroup=True)


def test_click_is_generated_from_the_same_table():
    group = cli.click_group()
    for name, cmd in cli.COMMANDS.items():
        names = {n for p in group.commands[name].params for n in getattr(p, "opts", [])}
        assert names >= {n for o in cmd.opts for n in o.names}, name


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_lines_are_what_json_dumps_would_write(tmp_path, fmt):
    """--log lines (containerd reads the last error from them) are written without importing json:
    the same bytes json.dumps gives, for awkward messages too."""
    import json
    import re
    log = tmp_path / "log.json"
    g = cli.Globals(root=str(tmp_path), log=str(log), log_format=fmt)
    messages = ['container "x" does not exist', "quote \" backslash \\ tab\t", "non-ascii é ✓ \u2028",
                "control \x01\x7f nul \x00", "lone surrogate \udc80"]
    for m in messages:
        cli._log_line(g, "error", m)
    lines = log.read_text().splitlines()
    for m, line in zip(messages, lines, strict=True):
        now = re.search(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', line).group(0)
        want = (json.dumps({"level": "error", "msg": m, "time": now}, separators=(",", ":"))
                if fmt == "json" else f'time="{now}" level=error msg={json.dumps(m)}')
        assert line == want

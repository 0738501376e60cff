"""Hostile command-line and config input to pyrt-runc (issue 9, item 11): each is one line on
stderr (and in --log), a documented exit code, no traceback and nothing left behind."""
from __future__ import annotations

import json
import os

import pytest

from tests.integration.test_runtime import bundle, one_line_error, rt  # noqa: F401
from tests.support.bundle import RUNC, run


def test_json_nested_100000_deep(rt, bundle):  # noqa: F811
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "exceeded max depth" in one_line_error(rt("create", "-b", bundle, "c1"), 3)
    assert os.listdir(rt.root) == []


NUL_PLACES = {
    "linux.cgroupsPath": lambda c: c["linux"].update(cgroupsPath="pyrt-x\u0000y"),
    "process.args[0]": lambda c: c["process"].update(args=["/bin/tr\u0000ue"]),
    "process.cwd": lambda c: c["process"].update(cwd="/a\u0000b"),
    "process.env[2]": lambda c: c["process"]["env"].append("A=b\u0000c"),
    "hostname": lambda c: c.update(hostname="a\u0000b"),
    "mounts[0].destination": lambda c: c["mounts"][0].update(destination="/proc\u0000x"),
}


@pytest.mark.parametrize("where", sorted(NUL_PLACES))
def test_nul_in_a_config_string(rt, bundle, where):  # noqa: F811
    """A NUL would cut a C string short (sethostname took `a\\0b`) or reach os.* as a traceback."""
    bundle.config(mutate=NUL_PLACES[where])
    assert one_line_error(rt("create", "-b", bundle, "c1"), 3) == f"pyrt-runc: {where}: contains a NUL character"
    assert os.listdir(rt.root) == []


HUGE = "../" + "y" * (100 * 1024 * 1024)
HUGE_PLACES = {   # where -> (how to put it in config.json, exit code, the reason the line must keep)
    "cgroupsPath": (lambda c: c["linux"].update(cgroupsPath=HUGE), 3, "must not contain '..'"),
    "uid": (lambda c: c["process"]["user"].update(uid=HUGE), 3, "expected an integer"),
    # refused inside the init: the error crosses the parent/child channel first
    "args": (lambda c: c["process"].update(args=["y" * (100 * 1024 * 1024)]), 7,
             "executable file not found in $PATH"),
}


@pytest.mark.parametrize("where", sorted(HUGE_PLACES))
def test_100mb_value_is_not_echoed(rt, bundle, tmp_path, where):  # noqa: F811
    mutate, code, reason = HUGE_PLACES[where]
    bundle.config(mutate=mutate)
    log = tmp_path / "log"
    p = rt("--log", str(log), "--log-format", "json", "create", "-b", bundle, "c1", timeout=120)
    line = one_line_error(p, code)
    assert len(line) < 1200 and reason in line, line[-300:]
    assert log.stat().st_size < 1500
    assert json.loads(log.read_text().splitlines()[-1])["level"] == "error"
    assert os.listdir(rt.root) == []


@pytest.mark.parametrize("cid", ["é", "a\u0663", "ｆｕｌｌ", "a b", "a,b", "."])
def test_ids_outside_runcs_rule(rt, bundle, cid):  # noqa: F811
    """Refused before anything is made; runc refuses the same ids (',' aside: runc 1.1.5's
    character class lets it slip, newer runc and pyrt do not)."""
    assert "invalid container id" in one_line_error(rt("create", "-b", bundle, cid), 2)
    assert os.listdir(rt.root) == []
    ref = run([RUNC, "--root", rt.root, "state", cid])
    assert ref.returncode == 1
    assert ("invalid container ID format" in ref.stderr) == (cid != "a,b"), ref.stderr

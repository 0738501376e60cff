"""`pyrt-runc update` / `events` argument handling: sizes, durations, -r files laid under flags."""
from __future__ import annotations

import io
import json

import pytest

from pyrt.errors import ConfigError, UsageError
from pyrt.cli.runc_cgroups import parse_interval, parse_size, resources_from_update_args

MiB = 1 << 20


@pytest.mark.parametrize("text, n", [("1048576", MiB), ("32m", 32 * MiB), ("32M", 32 * MiB),
                                     ("1g", 1 << 30), ("64k", 64 << 10), ("-1", -1), ("2MiB", 2 * MiB),
                                     ("512b", 512)])
def test_sizes(text, n):
    assert parse_size("--memory", text) == n


def test_bad_size_is_a_usage_error():
    with pytest.raises(UsageError, match="--memory: invalid size 'lots'"):
        parse_size("--memory", "lots")


@pytest.mark.parametrize("text, s", [("5s", 5), ("500ms", 0.5), ("1m", 60), ("2", 2)])
def test_intervals(text, s):
    assert parse_interval(text) == s


@pytest.mark.parametrize("text", ["0s", "fast", "-1s"])
def test_bad_intervals(text):
    with pytest.raises(UsageError):
        parse_interval(text)


def test_flags_only():
    r = resources_from_update_args(None, memory="32m", memory_swap="64m", cpu_quota=20000,
                                   cpu_period=100000, cpuset_cpus="0", pids_limit=10, blkio_weight=300)
    assert r.memory.limit == 32 * MiB and r.memory.swap == 64 * MiB
    assert (r.cpu.quota, r.cpu.period, r.cpu.cpus) == (20000, 100000, "0")
    assert r.pids.limit == 10 and r.block_io.weight == 300
    assert r.cpu.shares is None and r.memory.reservation is None


def test_file_alone_or_refused_with_flags(tmp_path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"memory": {"limit": 1000, "swap": 5000}, "pids": {"limit": 3}}))
    r = resources_from_update_args(str(f))
    assert (r.memory.limit, r.memory.swap, r.pids.limit) == (1000, 5000, 3)
    with pytest.raises(UsageError, match="--resources cannot be combined"):
        resources_from_update_args(str(f), memory="2000")


def test_stdin_and_invalid_content():
    r = resources_from_update_args("-", stdin=io.StringIO('{"cpu": {"shares": 512}}'))
    assert r.cpu.shares == 512
    with pytest.raises(ConfigError, match="not valid JSON"):
        resources_from_update_args("-", stdin=io.StringIO("{"))
    with pytest.raises(ConfigError, match=r"resources.cpu.shares: expected an integer"):
        resources_from_update_args("-", stdin=io.StringIO('{"cpu": {"shares": "x"}}'))
    with pytest.raises(UsageError, match="cannot read /nonexistent"):
        resources_from_update_args("/nonexistent/r.json")

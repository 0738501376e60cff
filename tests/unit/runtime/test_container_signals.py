"""pyrt.runtime.container.signal_process / end_processes: what may be signalled, with real
processes of the test's own (no root needed) and a stand-in cgroup manager."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

from pyrt.errors import CgroupError
from pyrt.linux import proc
from pyrt.runtime import container


@pytest.fixture
def victim():
    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


@pytest.mark.parametrize("pid", [0, -1, -12345])
def test_never_a_pid_below_one(monkeypatch, pid):
    calls = []
    monkeypatch.setattr(os, "kill", lambda *a: calls.append(a))
    monkeypatch.setattr(os, "pidfd_open", lambda *a: calls.append(a))
    assert container.signal_process(pid, 12345, signal.SIGKILL) is False
    assert calls == []


def test_never_without_a_start_time(victim):
    assert container.signal_process(victim.pid, 0, signal.SIGKILL) is False
    assert victim.poll() is None


def test_never_a_recycled_pid(victim):
    started = proc.start_time(victim.pid)
    assert container.signal_process(victim.pid, started + 1, signal.SIGKILL) is False
    assert victim.poll() is None


def test_the_recorded_process_is_signalled(victim):
    assert container.signal_process(victim.pid, proc.start_time(victim.pid), signal.SIGKILL) is True
    assert victim.wait(timeout=10) == -signal.SIGKILL


def test_gone_is_false(victim):
    started = proc.start_time(victim.pid)
    victim.kill()
    victim.wait()
    assert container.signal_process(victim.pid, started, signal.SIGKILL) is False


class StubbornCgroup:
    """Processes reappear twice after a kill (children forked meanwhile), then stay gone."""

    def __init__(self):
        self.kills, self.left = 0, 3

    def exists(self):
        return True

    def kill_all(self, sig):
        self.kills += 1
        self.left -= 1

    def pids(self):
        return [4242] if self.left > 0 else []


def test_end_processes_kills_again_while_any_remain():
    mgr = StubbornCgroup()
    container.end_processes(mgr, 0, 0)
    assert mgr.kills == 3 and mgr.pids() == []


def test_end_processes_without_a_usable_cgroup_falls_back_to_the_verified_init(victim):
    class Broken(StubbornCgroup):
        def kill_all(self, sig):
            raise CgroupError("cgroup.kill: no such file")

        def pids(self):
            raise CgroupError("cgroup.procs: gone")
    container.end_processes(Broken(), victim.pid, proc.start_time(victim.pid))
    assert victim.wait(timeout=10) == -signal.SIGKILL

"""pyrt.engine.runner's error relay: what the plugger (the monitor's child that connects a cold
run's endpoints) met comes back from the worker as the worker's own error would."""
from __future__ import annotations

import signal
import socket

import pytest

from pyrt.engine import runner
from pyrt.engine.errors import Conflict
from pyrt.errors import NetworkError


@pytest.mark.parametrize("err", [NetworkError("cannot connect pyv1 to pyrt0", "see the kernel log"),
                                 Conflict("the host port is already published")])
def test_a_relayed_error_reads_as_the_original(err):
    again = runner.Relayed(runner._error(err))
    assert runner._error(again) == runner._error(err)
    assert (again.message, again.hint, again.exit_code) == (err.message, err.hint, err.exit_code)


def test_an_os_error_names_its_file():
    d = runner._error(FileNotFoundError(2, "No such file or directory", "/run/x"))
    assert d == {"error": "No such file or directory: /run/x", "kind": "EngineError"}


def test_a_plugger_that_dies_is_one_error_and_what_it_imported_is_kept():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.close()
    old = signal.signal(signal.SIGPIPE, signal.SIG_DFL)     # as in the worker: no SIGPIPE, an error
    try:
        with pytest.raises(runner.Relayed, match="network set-up helper died"):
            runner._ask_plugger(ours, [])
    finally:
        signal.signal(signal.SIGPIPE, old)
    ours.close()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    theirs.send(b'{"imported": ["pyrt.network.links"]}')
    helped = []
    runner._ask_plugger(ours, helped)
    assert helped == ["pyrt.network.links"] and theirs.recv(16) == b"plug"
    ours.close()
    theirs.close()

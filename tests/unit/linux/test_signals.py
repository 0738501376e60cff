"""pyrt.linux.signals: signal names and numbers as runc spells them."""
import pytest

from pyrt.errors import UsageError
from pyrt.linux.signals import parse_signal


def test_signals():
    assert parse_signal("KILL") == 9 and parse_signal("SIGTERM") == 15 and parse_signal("9") == 9
    assert parse_signal("sigusr1") == 10
    assert parse_signal("RTMIN+2") == parse_signal("SIGRTMIN") + 2
    assert parse_signal("IOT") == 6 and parse_signal("SIGRTMAX") == parse_signal("RTMIN+0") + 30
    # _signal's handler and mask constants are not signals
    for bad in ("SIGNOPE", "0", "999", "RTMIN+999", "SIG_IGN", "_DFL", "SIG_BLOCK", "SIG", ""):
        with pytest.raises(UsageError):
            parse_signal(bad)

"""pyrt.spec.mountflags: the plain mount-flag table config.json is parsed with, against the values
the compiler put into the C extension (pyrt.linux.syscalls.MS, what mount(2) is called with)."""
import subprocess
import sys

from pyrt.linux.syscalls import MS as COMPILED
from pyrt.spec import mountflags
from tests.support.bundle import REPO


def test_every_flag_has_the_compilers_value():
    assert mountflags.MS == COMPILED


def test_options_are_flags_of_the_table():
    every_bit = 0
    for v in mountflags.MS.values():
        every_bit |= v
    for option, (_clear, bits) in mountflags.FLAG_OPTIONS.items():
        assert bits & ~every_bit == 0, option
    for option, bits in mountflags.PROPAGATION_OPTIONS.items():
        assert bits and bits & ~every_bit == 0, option
    assert len(set(mountflags.OPTIONS)) == len(mountflags.OPTIONS)


def test_parsing_a_config_loads_no_c_extension():
    """The point of the table: `pyrt.spec` parses mounts without pyrt._cext or pyrt.linux."""
    code = ("import sys; from pyrt.spec.config import parse; from tests.support.bundle import base_config;"
            "c = base_config(['sh']); c['mounts'] = [{'destination': '/x', 'type': 'bind', 'source': '/',"
            " 'options': ['rbind', 'ro', 'nosuid', 'rprivate']}]; s = parse(c);"
            "assert s.mounts[-1].is_bind;"
            "print(sorted(m for m in sys.modules if m.startswith('pyrt.') and not m.startswith('pyrt.spec')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "['pyrt.errors', 'pyrt.record']", out.stdout

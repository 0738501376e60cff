import errno
import os

import pytest

from pyrt.linux import syscalls


def test_mount_error_carries_errno_and_path(tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(OSError) as ei:
        syscalls.mount("none", missing, "tmpfs")
    assert ei.value.errno == errno.ENOENT
    assert ei.value.filename == missing


def test_unshare_uts_in_child_sets_hostname():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            syscalls.unshare(syscalls.CLONE_NEWUTS)
            syscalls.sethostname("pyrt-test")
            os.write(w, os.uname().nodename.encode())
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 100).decode()
    os.waitpid(pid, 0)
    assert got == "pyrt-test"
    assert os.uname().nodename != "pyrt-test"

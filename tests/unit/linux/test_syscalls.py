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


def test_openat2_in_root_retries_the_kernels_eagain_under_renames(tmp_path):
    """RESOLVE_IN_ROOT fails with EAGAIN when a rename anywhere races a ".." lookup (a busy host:
    `pyrt cp` failed so under load); the wrapper tries again. A thread renames in a loop while
    a path with ".." is opened many times (without the retry, dozens of the 20000 fail here)."""
    import threading
    sc = syscalls
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "c").mkdir()
    c, c2 = str(tmp_path / "c"), str(tmp_path / "c2")
    stop = []

    def churn():
        while not stop:
            os.rename(c, c2)
            os.rename(c2, c)
    t = threading.Thread(target=churn)
    t.start()
    root = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    eagain = 0
    try:
        for _ in range(20000):
            try:
                os.close(sc.openat2(root, "a/b/../../a/b/..", os.O_RDONLY | os.O_DIRECTORY,
                                    sc.RESOLVE["RESOLVE_IN_ROOT"]))
            except OSError as e:
                if e.errno != errno.EAGAIN:
                    raise
                eagain += 1
    finally:
        stop.append(True)
        t.join()
        os.close(root)
    assert eagain == 0

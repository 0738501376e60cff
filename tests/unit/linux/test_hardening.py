"""pyrt.linux.hardening on its own (no root needed): close_range over the gaps, the statfs
check, and the exec stub's memfd sealed for good."""
import errno
import fcntl
import os

import pytest

from pyrt.linux import hardening


def _in_child(fn) -> bytes:
    """Run FN in a forked child (it closes fds: never in pytest's own process); its bytes back."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.write(w, fn())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 4096)
    os.close(r)
    os.waitpid(pid, 0)
    return out


def test_close_from_keeps_only_what_is_listed():
    def child() -> bytes:
        src = os.open("/dev/null", os.O_RDONLY)
        for fd in range(300, 306):
            os.dup2(src, fd)
        hardening.close_from(300, keep=[302, 305, 7])
        open_now = [fd for fd in range(300, 306) if _is_open(fd)]
        return repr(open_now).encode()
    assert _in_child(child) == b"[302, 305]"


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_cloexec_from_marks_without_closing():
    def child() -> bytes:
        os.dup2(os.open("/dev/null", os.O_RDONLY), 310, inheritable=True)
        hardening.cloexec_from(310)
        return str(fcntl.fcntl(310, fcntl.F_GETFD) & fcntl.FD_CLOEXEC).encode()
    assert _in_child(child) == b"1"


def test_require_procfs(tmp_path):
    hardening.require_procfs("/proc")
    with pytest.raises(OSError) as e:
        hardening.require_procfs(str(tmp_path))
    assert e.value.errno == errno.EXDEV and e.value.filename == str(tmp_path)
    assert "not procfs" in e.value.strerror


def test_exec_stub_memfd_is_sealed_and_close_on_exec():
    fd = hardening.exec_stub()
    try:
        seals = fcntl.fcntl(fd, 1034)  # F_GET_SEALS
        assert seals & 0xF == 0xF  # F_SEAL_SEAL | SHRINK | GROW | WRITE
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", 0)
        assert os.pread(fd, 4, 0) == b"\x7fELF"
        assert os.fstat(fd).st_size < 8192  # no libc in it
    finally:
        os.close(fd)

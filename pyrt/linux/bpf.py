"""bpf(2) for cgroup v2 device filters: load a BPF_PROG_TYPE_CGROUP_DEVICE program, attach it
to a cgroup directory. Errors are OSError(errno, message, path); a verifier rejection carries
the verifier's log in the message."""
from __future__ import annotations

import os

from pyrt._cext import ffi, lib
from pyrt.linux.syscalls import check

DEV_BLOCK = lib.BPF_DEVCG_DEV_BLOCK
DEV_CHAR = lib.BPF_DEVCG_DEV_CHAR
ACC_MKNOD = lib.BPF_DEVCG_ACC_MKNOD
ACC_READ = lib.BPF_DEVCG_ACC_READ
ACC_WRITE = lib.BPF_DEVCG_ACC_WRITE
F_ALLOW_MULTI = lib.BPF_F_ALLOW_MULTI
_LOG_SIZE = 1 << 16


def load_device_program(insns: bytes, license: str = "Apache") -> int:
    """Load INSNS (8-byte bpf_insn records); returns the program fd (close it when attached)."""
    log = ffi.new("char[]", _LOG_SIZE)
    fd = lib.pyrt_bpf_load_cgroup_device(insns, len(insns) // 8, license.encode(), log, _LOG_SIZE)
    if fd < 0:
        err = ffi.errno
        verifier = ffi.string(log).decode(errors="replace").strip()
        raise OSError(err, f"bpf prog load: {os.strerror(err)}" + (f": {verifier}" if verifier else ""))
    return fd


def attach_device_program(prog_fd: int, cgroup_dir: str, flags: int = 0) -> None:
    """Attach to CGROUP_DIR. Without BPF_F_ALLOW_MULTI it replaces the cgroup's own program."""
    cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        check(lib.pyrt_bpf_attach_cgroup_device(prog_fd, cg, flags), "bpf prog attach", cgroup_dir)
    finally:
        os.close(cg)

"""The seccomp model's validation, and filters built from it loaded into a forked child."""
import errno
import os

import pytest

from pyrt.errors import ConfigError
from pyrt.linux import seccomp as lseccomp
from pyrt.spec.seccomp import Seccomp, Syscall
from tests.support.forked import ChildError, in_child, proc_status


def test_from_dict_full():
    s = Seccomp.from_dict({
        "defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                      "args": [{"index": 1, "value": 7, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}],
    })
    assert s.default_action == "SCMP_ACT_ALLOW" and s.default_errno_ret == 38
    assert s.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86")
    (call,) = s.syscalls
    assert call.names == ("mkdir", "mkdirat") and call.errno_ret == 13
    assert call.args[0].index == 1 and call.args[0].op == "SCMP_CMP_MASKED_EQ"
    assert Seccomp.from_dict(None) is None


@pytest.mark.parametrize("bad, message", [
    ({"defaultAction": "SCMP_ACT_MAYBE"}, "unknown action 'SCMP_ACT_MAYBE'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}, "unknown architecture 'SCMP_ARCH_Z80'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}, "unknown flag"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}, "unknown operator 'SCMP_CMP_ALMOST'"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
      "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     r"linux.seccomp.syscalls\[0\].args\[0\].index: 6 is above the maximum 5"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]},
     r"linux.seccomp.syscalls\[0\].names\[1\]: an empty string is not a syscall name"),
    ({"defaultAction": "SCMP_ACT_NOTIFY"}, "cannot be the default action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}, "needs listenerPath"),
    ({"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}, "linux.seccomp.defaultAction: is required"),
    ({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}, "linux.seccomp.defaultErrnoRet: -1 is below"),
])
def test_bad_vocabulary_is_one_clear_config_error(bad, message):
    with pytest.raises(ConfigError, match=message):
        Seccomp.from_dict(bad)


def _load_then_mkdir(d, path):
    lseccomp.load(Seccomp.from_dict(d))
    st = proc_status()
    try:
        os.mkdir(path)
        rc = 0
    except OSError as e:
        rc = e.errno
    return {"rc": rc, "seccomp": st["Seccomp"], "nnp": st["NoNewPrivs"]}


def _mkdir_rule(**extra):
    rule = {"names": ["mkdir", "mkdirat", "no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO"}
    rule.update(extra)
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}


def test_errno_rule_defaults_to_eperm_and_leaves_nnp_alone(tmp_path):
    got = in_child(_load_then_mkdir, _mkdir_rule(), str(tmp_path / "d"))
    assert got == {"rc": errno.EPERM, "seccomp": "2", "nnp": "0"}
    assert not (tmp_path / "d").exists()


def test_errno_ret_is_returned(tmp_path):
    got = in_child(_load_then_mkdir, _mkdir_rule(errnoRet=errno.EROFS), str(tmp_path / "d"))
    assert got["rc"] == errno.EROFS


def _mkdirat_modes(rule, tmp_path, modes):
    """In a child: load RULE, then mkdirat one directory per mode; the errno of each (0: made)."""
    def f():
        dfd = os.open(tmp_path, os.O_DIRECTORY)  # mkdirat: mode is argument 2
        lseccomp.load(Seccomp.from_dict(rule))
        out = []
        for i, mode in enumerate(modes):
            try:
                os.mkdir(f"d{i}", mode, dir_fd=dfd)
                out.append(0)
            except OSError as e:
                out.append(e.errno)
        return out
    return in_child(f)


def test_args_condition_selects_calls(tmp_path):
    # mkdirat(dirfd, path, mode): refuse only mode 0o700.
    rule = _mkdir_rule(args=[{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}])
    rule["syscalls"][0]["names"] = ["mkdirat"]
    assert _mkdirat_modes(rule, tmp_path, [0o700, 0o755]) == [errno.EPERM, 0]


def test_repeated_index_means_any_of_the_args(tmp_path):
    args = [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 0o711, "op": "SCMP_CMP_EQ"}]
    rule = _mkdir_rule(args=args)
    rule["syscalls"][0]["names"] = ["mkdirat"]
    assert _mkdirat_modes(rule, tmp_path, [0o700, 0o711, 0o755]) == [errno.EPERM, errno.EPERM, 0]


def test_default_errno_with_allow_list(tmp_path):
    allow = ["read", "write", "openat", "close", "exit", "exit_group", "newfstatat", "fstat", "lseek",
             "ioctl", "mmap", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "getpid", "futex",
             "getrandom", "mprotect", "madvise", "fcntl", "dup", "getdents64", "sigaltstack", "wait4"]
    d = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
         "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
         "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"}]}
    got = in_child(_load_then_mkdir, d, str(tmp_path / "d"))
    assert got["rc"] == errno.ENOSYS and got["seccomp"] == "2"


def test_kill_process_kills():
    def f():
        lseccomp.load(Seccomp.from_dict({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}))
        os.getppid()
        return "survived"
    with pytest.raises(RuntimeError, match="died without a result"):
        in_child(f)


def test_notify_refused():
    d = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock",
         "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    with pytest.raises(ConfigError, match="SCMP_ACT_NOTIFY is not supported"):
        Seccomp.from_dict(d)
    # and by the loader too, should a model be built some other way
    sc = Seccomp(default_action="SCMP_ACT_ALLOW", listener_path="/run/x.sock",
                 syscalls=(Syscall(names=("mkdir",), action="SCMP_ACT_NOTIFY"),))
    with pytest.raises(OSError, match="SCMP_ACT_NOTIFY is not supported"):
        lseccomp.build(sc)


def test_features_lists_vocabulary():
    f = lseccomp.features()
    assert "SCMP_ACT_ERRNO" in f["actions"] and "SCMP_CMP_MASKED_EQ" in f["operators"]
    assert "SCMP_ARCH_X86_64" in f["archs"] and "SECCOMP_FILTER_FLAG_LOG" in f["supportedFlags"]
    assert all(lseccomp.arch_token(a) for a in f["archs"])
    assert lseccomp.syscall_number("getpid") == 39 and lseccomp.syscall_number("nope") is None


# What Python needs between loading a filter and reporting back (test_default_errno_with_allow_list);
# the largest of these on x86_64 is rseq (334).
_PY_ALLOW = ["read", "write", "openat", "close", "exit", "exit_group", "newfstatat", "fstat", "lseek",
             "ioctl", "mmap", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "getpid", "futex",
             "getrandom", "mprotect", "madvise", "fcntl", "dup", "getdents64", "sigaltstack", "wait4", "rseq"]


def _raw_syscalls(d, numbers):
    """In a child: load D, then call each raw syscall number (all arguments 0); the errnos."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)

    def f():
        lseccomp.load(Seccomp.from_dict(d))
        out = []
        for nr in numbers:
            rc = libc.syscall(ctypes.c_long(nr), 0, 0, 0, 0, 0, 0)
            out.append(ctypes.get_errno() if rc == -1 else 0)
        return out
    return in_child(f)


def test_enosys_for_syscalls_newer_than_the_profile():
    d = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
         "syscalls": [{"names": _PY_ALLOW, "action": "SCMP_ACT_ALLOW"}]}
    assert lseccomp.enosys_limits(Seccomp.from_dict(d))[0][1] == 334
    # 83 mkdir (named below the limit: the default action), 424 pidfd_send_signal and 1000
    # (above it: ENOSYS, as if the kernel did not have them)
    assert _raw_syscalls(d, [83, 424, 1000]) == [errno.EPERM, errno.ENOSYS, errno.ENOSYS]


@pytest.mark.parametrize("d", [
    {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]},
    {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.ENOSYS,
     "syscalls": [{"names": _PY_ALLOW, "action": "SCMP_ACT_ALLOW"}]},
])
def test_no_enosys_stub_when_the_default_lets_through_or_is_enosys(d):
    assert lseccomp.enosys_limits(Seccomp.from_dict(d)) is None
    got = _raw_syscalls(d, [83, 1000])
    assert got[1] == errno.ENOSYS  # the kernel's own answer, or the default errno
    assert got[0] == (errno.ENOSYS if d["defaultAction"] == "SCMP_ACT_ERRNO" else errno.EPERM)  # mkdir's rule

"""The order of the steps of pyrt.runtime.stage1 and pyrt.runtime.init, read from a recording fake
of the syscall layer (tests/support/recording_syscalls.py): no root, no namespaces, nothing
reaches the kernel.

The integration tests show that a container comes out right; these pin *why* it does: each
security-relevant pair of steps is asserted in the order that makes it safe (seccomp after
everything it would block, capabilities after the uid switch, /proc writes on the right side of
pivot_root, startContainer hooks only after `start`), and one test pins the whole sequence of
container_init's numbered steps, so a change to the order is a visible change to this file.
"""
from __future__ import annotations

import pytest

from pyrt.errors import RuntimeSetupError
from pyrt.linux import syscalls as real_sc
from pyrt.runtime import init, launch, stage1
from pyrt.spec.config import parse
from tests.support.bundle import base_config
from tests.support.recording_syscalls import ANY, ProcessExit, Sock, record_init

GO = {"state": {"id": "c", "status": "created"}}
NEWCGROUP, NEWUSER = real_sc.CLONE_NEWCGROUP, real_sc.CLONE_NEWUSER


def full_config(**process) -> dict:
    """runc's default config.json with one of each step container_init takes."""
    c = base_config(["/bin/app", "x"])
    c["hostname"], c["domainname"] = "box", "example.org"
    c["linux"]["sysctl"] = {"kernel.msgmax": "8192"}
    c["linux"]["namespaces"].append({"type": "cgroup"})
    c["linux"]["personality"] = {"domain": "LINUX32"}
    c["linux"]["maskedPaths"], c["linux"]["readonlyPaths"] = ["/proc/kcore", "/sys/firmware"], ["/proc/sys"]
    c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                             "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    c["process"].update(oomScoreAdj=100, cwd="/work", noNewPrivileges=True, terminal=False,
                        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100}])
    c["process"].update(process)
    c["root"]["readonly"] = True
    c["hooks"] = {k: [{"path": f"/hooks/{k}"}] for k in ("prestart", "createContainer", "startContainer")}
    return c


def launch_for(cfg: dict, **kw) -> launch.Launch:
    spec = parse(cfg, "/bundle")
    kw.setdefault("new", [n.type for n in spec.linux.namespaces if not n.path])
    kw.setdefault("join", [(n.type, n.path) for n in spec.linux.namespaces if n.path])
    return launch.Launch(container_id="c", spec=spec, process=spec.process, **kw)


def run_init(monkeypatch, cfg: dict, files=None, **kw):
    rec = record_init(monkeypatch, files)
    rec.returns["rootfs.own_cgroups"] = {"memory": "/c"}
    init.container_init(Sock(rec), launch_for(cfg, **kw), GO)
    return rec


def label(call: tuple) -> str:
    """A call as one short line: its name and the arguments that are plain words or numbers."""
    plain = [a for a in call[1:] if isinstance(a, (str, int, bytes)) and not isinstance(a, bool)]
    return " ".join([call[0], *map(str, plain)])


def test_container_init_takes_its_numbered_steps_in_order(monkeypatch):
    rec = run_init(monkeypatch, full_config(), fifo_fd=9)
    fifo_signals = ["signal.signal 15", "signal.signal 2", "signal.signal 1", "signal.signal 3",
                    "signal.signal 10", "signal.signal 12"]
    assert [label(c) for c in rec.calls] == [
        # 1. our cgroups read while host paths show, then the cgroup namespace
        "rootfs.own_cgroups", f"sc.unshare {NEWCGROUP}",
        # 2. network: loopback up
        "netdev.link_up lo",
        # 3. (oom_score_adj: written by stage 1, see test_stage1_hardens_itself_before_any_namespace)
        # 4. the rootfs
        "rootfs.prepare /bundle/rootfs",
        # 5. prestart hooks in the parent, createContainer here
        "channel.send hooks", "channel.expect ok", "hooks.run_hooks createContainer",
        # 6. switch root, the container's /proc proven procfs, make the cwd
        "rootfs.switch_root /bundle/rootfs", "hardening.require_procfs /proc", "os.makedirs /work 493",
        # 8. read-only root; 9. names and sysctls
        "rootfs.readonly_root", "sc.sethostname box", "sc.setdomainname example.org",
        "open /proc/sys/kernel/msgmax w", "write /proc/sys/kernel/msgmax 8192",
        # 10. read-only paths, then masked paths; 11. personality
        "rootfs.readonly_path /proc/sys", "rootfs.mask_path /proc/kcore", "rootfs.mask_path /sys/firmware",
        "sc.personality 8",
        # 12. the process: the exec stub's memfd (before seccomp), rlimits, user, capabilities,
        #     cwd checked inside the root, no_new_privs, fds from 3 on close-on-exec
        "hardening.exec_stub", "setrlimit 7", "os.umask 18", "capabilities.keep_caps", "os.setgroups",
        "os.setresgid 0 0 0", "os.setresuid 0 0 0", "capabilities.apply",
        # HOME from the container's /etc/passwd, read only if it is a regular file
        f"paths.read_regular /etc/passwd {4 << 20}", "os.chdir /work", "os.getcwd",
        "capabilities.set_no_new_privs", "lookup /bin/app", "hardening.cloexec_from 3",
        # ... then created, the wait for `start` on the exec fifo (the one we hold), startContainer hooks
        "channel.send created", *fifo_signals,
        # the fifo's write end stays open until the program's execve: `start` sees EOF there
        "os.open /proc/self/fd/9 524289", "os.fstat 101", "os.fstat 9", "os.write 101 b'0'",
        *(f"{s} 0" for s in fifo_signals),
        "hooks.run_hooks startContainer", "sock.close",
        # ... signal defaults, seccomp last (with no_new_privs), execve of the stub, which marks
        # the fifo's end close-on-exec and execs the program
        "sc.default_signals", "seccomp.load", "os.set_inheritable 101", "os.execve 5",
    ]
    assert rec.calls[-1][2] == ["101", "/bin/app", "/bin/app", "x"]


def test_seccomp_with_no_new_privs_is_loaded_last_before_execve(monkeypatch):
    """Nothing the filter might block (a hook, chdir, setresuid) may come after it."""
    rec = run_init(monkeypatch, full_config(noNewPrivileges=True))
    assert rec.names()[-2:] == ["seccomp.load", "os.execve"]


def test_seccomp_without_no_new_privs_is_loaded_while_still_privileged(monkeypatch):
    """Without no_new_privs loading a filter needs CAP_SYS_ADMIN: before the user switch drops it,
    and after everything the init does as root in the container."""
    rec = run_init(monkeypatch, full_config(noNewPrivileges=False))
    rec.in_order("rootfs.mask_path", "seccomp.load", "os.setresuid", "capabilities.apply", "os.execve")
    assert rec.names().count("seccomp.load") == 1
    assert not rec.has("capabilities.set_no_new_privs")


def test_capabilities_are_set_after_the_uid_switch_that_keeps_them(monkeypatch):
    cfg = full_config()
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5]}
    rec = run_init(monkeypatch, cfg)
    rec.in_order("capabilities.keep_caps", ("os.setgroups", [5]), ("os.setresgid", 1000),
                 ("os.setresuid", 1000), "capabilities.apply", "capabilities.set_no_new_privs")
    assert rec.calls[-1][3]["HOME"] == "/"  # no /etc/passwd entry


def test_setgroups_is_skipped_where_the_user_namespace_denies_it(monkeypatch):
    """Denied (stage 1 read it from the host's procfs, never the container's /proc): skipped when
    the groups are already those asked for, refused when they are not (the caller's would stay)."""
    cfg = full_config()
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5]}
    rec = record_init(monkeypatch, {"/etc/passwd": "u:x:1000:1000::/home/u:/bin/sh\n"})
    rec.returns.update({"rootfs.own_cgroups": {"memory": "/c"}, "os.getgroups": [5]})
    init.container_init(Sock(rec), launch_for(cfg, setgroups_denied=True), GO)
    assert not rec.has("os.setgroups")
    rec.in_order(("os.setresgid", 1000), ("os.setresuid", 1000), "os.execve")
    assert rec.calls[-1][3]["HOME"] == "/home/u"
    rec = record_init(monkeypatch)
    rec.returns.update({"rootfs.own_cgroups": {"memory": "/c"}, "os.getgroups": [0, 4, 27]})
    with pytest.raises(RuntimeSetupError, match="setgroups is denied"):
        init.container_init(Sock(rec), launch_for(cfg, setgroups_denied=True), GO)
    assert not rec.has("os.setresuid")


def test_host_proc_before_the_rootfs_container_proc_after_pivot(monkeypatch):
    """Sysctls, read-only and masked paths go to the container's /proc, once proven procfs (after
    switch_root), read-only before masked as runc; oom_score_adj is stage 1's, not the init's."""
    rec = run_init(monkeypatch, full_config())
    rec.in_order("rootfs.prepare", "rootfs.switch_root", ("hardening.require_procfs", "/proc"),
                 ("open", "/proc/sys/kernel/msgmax"), "rootfs.readonly_path", "rootfs.mask_path")
    assert not rec.has("open", "/proc/self/oom_score_adj")


def test_stage1_hardens_itself_before_any_namespace(monkeypatch):
    """Non-dumpable first (the init inherits it), then the caller's fds closed, the host's /proc
    proven procfs and oom_score_adj written through it, all before a namespace path is opened."""
    cfg = stage1_config()
    cfg["process"]["oomScoreAdj"] = 100
    rec = record_init(monkeypatch)
    stage1._stage1(Sock(rec), launch_for(cfg, preserve_fds=2, fifo_fd=12))
    assert rec.calls[0] == ("hardening.set_dumpable", False)
    rec.in_order(("hardening.close_from", 5, [7, 12]), ("hardening.require_procfs", "/proc"),
                 ("open", "/proc/self/oom_score_adj"), ("write", "/proc/self/oom_score_adj", "100"),
                 ("os.open", "/run/netns/x"))


def test_a_new_cgroup_namespace_is_made_after_reading_our_cgroups(monkeypatch):
    """Its root is the cgroup the init already sits in; the host paths are read before it hides them."""
    rec = run_init(monkeypatch, full_config())
    rec.in_order("rootfs.own_cgroups", ("sc.unshare", NEWCGROUP), "rootfs.prepare")
    cfg = full_config()
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "cgroup"]
    rec = run_init(monkeypatch, cfg)
    assert not rec.has("sc.unshare")


def test_create_hooks_run_between_the_mounts_and_pivot_root(monkeypatch):
    rec = run_init(monkeypatch, full_config())
    rec.in_order("rootfs.prepare", ("channel.send", Sock(rec), "hooks"), ("channel.expect", Sock(rec), "ok"),
                 ("hooks.run_hooks", ANY, "createContainer"),
                 "rootfs.switch_root")
    # no prestart/createRuntime hooks: no round trip to the parent
    cfg = full_config()
    del cfg["hooks"]["prestart"]
    rec = run_init(monkeypatch, cfg)
    assert not rec.has("channel.send", Sock(rec), "hooks")


def test_start_container_hooks_run_only_after_start(monkeypatch):
    """`created` is reported, the init blocks on the exec fifo (killable meanwhile: handlers that
    exit, reset after), and only then do startContainer hooks run, then execve."""
    rec = run_init(monkeypatch, full_config(), fifo_fd=9)
    fifo = rec.index("os.open", "/proc/self/fd/9")
    rec.in_order("hardening.cloexec_from", ("channel.send", Sock(rec), "created"), "signal.signal",
                 ("os.open", "/proc/self/fd/9"), ("os.write",), ("hooks.run_hooks", ANY, "startContainer"),
                 "os.execve")
    after = [c for c in rec.calls[fifo:] if c[0] == "signal.signal"]
    assert after and all(c[2] == 0 for c in after)  # SIG_DFL again before the program runs


def test_run_without_an_exec_fifo_does_not_wait(monkeypatch):
    rec = run_init(monkeypatch, full_config(), fifo_fd=-1)
    assert not rec.has("os.open") and not rec.has("signal.signal")
    rec.in_order(("channel.send", Sock(rec), "created"), ("hooks.run_hooks", ANY, "startContainer"), "os.execve")


def test_a_failing_start_container_hook_ends_the_init_before_execve(monkeypatch):
    from pyrt.errors import HookError
    rec = record_init(monkeypatch)

    def hooks(_hooks, kind, _state, *a):
        if kind == "startContainer":
            raise HookError("startContainer hook /hooks/startContainer exited with status 1")
    rec.returns["hooks.run_hooks"] = hooks
    with pytest.raises(ProcessExit) as e:
        init.container_init(Sock(rec), launch_for(full_config()), GO)
    assert e.value.args == (1,) and not rec.has("os.execve") and not rec.has("seccomp.load")


def test_a_failing_start_container_hook_tells_start_through_the_exec_fifo(monkeypatch):
    """After `start` released it, the init writes the hook's message to the exec fifo (start
    reads on to end-of-file and fails with it, exit 13), then ends before execve."""
    from pyrt.errors import HookError
    rec = record_init(monkeypatch)
    message = "startContainer hook /hooks/startContainer exited with status 1"

    def hooks(_hooks, kind, _state, *a):
        if kind == "startContainer":
            raise HookError(message)
    rec.returns["hooks.run_hooks"] = hooks
    with pytest.raises(ProcessExit) as e:
        init.container_init(Sock(rec), launch_for(full_config(), fifo_fd=9), GO)
    assert e.value.args == (1,) and not rec.has("os.execve")
    fifo = rec.calls[rec.index("os.open", "/proc/self/fd/9")]
    rec.in_order(("os.write", ANY, b"0"), ("hooks.run_hooks", ANY, "startContainer"),
                 ("os.write", ANY, message.encode()))
    writes = [c for c in rec.calls if c[0] == "os.write"]
    assert len(writes) == 2 and writes[1][1] == writes[0][1], (fifo, writes)  # the same fd


def test_without_a_mount_namespace_the_rootfs_is_set_up_in_the_inherited_one(monkeypatch):
    """No mount namespace in the config: the runtime's is inherited (runtime-spec MUST), so the
    rootfs is prepared there and switch_root is told to chroot, not pivot_root."""
    cfg = full_config()
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "mount"]
    rec = run_init(monkeypatch, cfg)
    rec.in_order("rootfs.prepare", "rootfs.switch_root", "os.execve")
    switch = next(c for c in rec.calls if c[0] == "rootfs.switch_root")
    assert switch[-1] == {"propagation": "", "inherited": True}


def test_exec_only_sets_up_the_process(monkeypatch):
    """`pyrt-runc exec`: in the container's namespaces already; no namespace, mount or hook step."""
    rec = record_init(monkeypatch)
    held = launch_for(full_config(), exec_mode=True, new=[], join=[])
    init.exec_init(Sock(rec), held, GO)
    names = rec.names()
    assert not any(n.startswith(("rootfs.", "netdev.", "hooks.")) for n in names)
    assert not any(n in ("sc.unshare", "sc.setns", "sc.sethostname") for n in names)
    rec.in_order("setrlimit", "os.setresuid", "capabilities.apply", "os.chdir", "capabilities.set_no_new_privs",
                 ("channel.send", Sock(rec), "created"), "sc.default_signals", "seccomp.load", "os.execve")


# --- stage 1 --------------------------------------------------------------------------------------
def stage1_config() -> dict:
    c = base_config(["/bin/app"])
    c["linux"]["namespaces"] = [{"type": "mount", "path": "/proc/7/ns/mnt"}, {"type": "network", "path": "/run/netns/x"},
                                {"type": "user"}, {"type": "pid"}, {"type": "uts"}, {"type": "time"}]
    c["linux"]["uidMappings"] = c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    c["linux"]["timeOffsets"] = {"monotonic": {"secs": 5, "nanosecs": 0}}
    return c


def test_stage1_opens_every_namespace_first_joins_mount_last_then_unshares(monkeypatch):
    """Paths are opened before any setns (a joined mount namespace changes what they name); the
    mount namespace is joined last; a new user namespace is made (and mapped by the parent) before
    the other new namespaces, which it then owns; time offsets are written before the fork that
    puts the first process in the new time namespace; the pid goes to the parent last."""
    rec = record_init(monkeypatch)
    stage1._stage1(Sock(rec), launch_for(stage1_config()))
    joins = [c[3] for c in rec.calls if c[0] == "sc.setns"]
    assert joins == ["/run/netns/x", "/proc/7/ns/mnt"]
    rec.in_order(("os.open", "/run/netns/x"), ("os.open", "/proc/7/ns/mnt"), "sc.setns",
                 ("sc.unshare", NEWUSER), ("channel.send", Sock(rec), "userns"), ("channel.expect", Sock(rec), "ok"),
                 ("os.setresuid", 0), "sc.unshare", ("write", "/proc/self/timens_offsets", "monotonic 5 0\n"),
                 ("placement.fork", None), ("channel.send", Sock(rec), "pid"))
    unshares = [c[1] for c in rec.calls if c[0] == "sc.unshare"]
    assert unshares[0] == NEWUSER and not unshares[1] & NEWUSER
    assert rec.calls[-1] == ("channel.send", Sock(rec), "pid", {"pid": 4242, "placed": False})


def test_stage1_joins_a_given_user_namespace_before_the_others(monkeypatch):
    c = stage1_config()
    c["linux"]["namespaces"] = [{"type": "network", "path": "/run/netns/x"}, {"type": "mount", "path": "/proc/7/ns/mnt"},
                                {"type": "user", "path": "/proc/8/ns/user"}, {"type": "pid"}, {"type": "uts"}]
    del c["linux"]["uidMappings"], c["linux"]["gidMappings"], c["linux"]["timeOffsets"]
    rec = record_init(monkeypatch)
    stage1._stage1(Sock(rec), launch_for(c))
    assert [c[3] for c in rec.calls if c[0] == "sc.setns"] == ["/proc/8/ns/user", "/run/netns/x", "/proc/7/ns/mnt"]
    assert not rec.has("sc.unshare", NEWUSER) and not rec.has("channel.send", Sock(rec), "userns")


def test_stage1_names_a_namespace_it_cannot_open(monkeypatch):
    rec = record_init(monkeypatch)

    def refuse(path, *_):
        raise FileNotFoundError(2, "No such file or directory", path)
    rec.returns["os.open"] = refuse
    with pytest.raises(RuntimeSetupError, match="network namespace /run/netns/x: no such file"):
        stage1._stage1(Sock(rec), launch_for(stage1_config()))
    assert not rec.has("sc.setns") and not rec.has("placement.fork")


def test_without_a_process_the_init_only_holds_the_namespaces(monkeypatch):
    """config.json without `process` (allowed at create): the set-up runs, `created` is sent and
    the init blocks on the exec fifo; `start` refuses such a container, and were the fifo opened
    anyway the init would exit, never look up or execve a program, nor run startContainer hooks."""
    from pyrt.spec.config import Process
    cfg = full_config()
    del cfg["process"]
    spec = parse(cfg, "/bundle")
    held = launch.Launch(container_id="c", spec=spec, process=Process(args=()), fifo_fd=9,
                         new=[n.type for n in spec.linux.namespaces if not n.path])
    rec = record_init(monkeypatch, None)
    rec.returns["rootfs.own_cgroups"] = {"memory": "/c"}
    with pytest.raises(ProcessExit):
        init.container_init(Sock(rec), held, GO)
    rec.in_order("rootfs.switch_root", ("channel.send", Sock(rec), "created"), ("os.open", "/proc/self/fd/9"),
                 ("os.write",))
    assert not rec.has("lookup") and not rec.has("os.execve")
    assert not rec.has("hooks.run_hooks", ANY, "startContainer")

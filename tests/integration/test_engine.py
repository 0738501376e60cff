"""`pyrt run IMAGE` end to end, through the real CLI: lifecycle, output and exit codes, logs,
exec, volumes, limits, bad input; each test checks that nothing is left behind."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.support.bundle import RUNC
from tests.support.engine import EngineEnv, build_busybox_tar, until

pytest_plugins = ["tests.support.engine_fixtures"]     # busybox_tar, eng


_until = until


# -- run: output and exit codes ------------------------------------------------------------------
def test_run_prints_output_and_exits_with_the_containers_code(eng):
    p = eng.pyrt("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (p.returncode, p.stdout, p.stderr) == (3, "out\n", "err\n")
    assert eng.container_dirs() == []


def test_a_missing_command_is_127_and_a_non_executable_one_126(eng):
    p = eng.pyrt("run", "--rm", "busybox", "nosuchcmd")
    assert p.returncode == 127, p.stderr
    assert "nosuchcmd" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    p = eng.pyrt("run", "--rm", "busybox", "/etc/passwd")
    assert p.returncode == 126, p.stderr
    assert eng.container_dirs() == []


def test_killed_by_a_signal_is_128_plus_n_and_init_reaps_and_forwards(eng):
    # PID 1 ignores signals it has no handler for, even its own: --init puts tini first
    p = eng.pyrt("run", "--rm", "busybox", "sh", "-c", "kill -USR1 $$; echo survived")
    assert (p.returncode, p.stdout) == (0, "survived\n")
    p = eng.pyrt("run", "--rm", "--init", "busybox", "sh", "-c", "kill -USR1 $$; echo survived")
    assert (p.returncode, p.stdout) == (128 + signal.SIGUSR1, "")
    p = eng.pyrt("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    assert p.stdout.startswith("/dev/init -- sh")


def test_stdin_with_i(eng):
    p = eng.pyrt("run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z; echo end", input="hello\n")
    assert (p.returncode, p.stdout) == (0, "HELLO\nend\n")


def test_image_config_and_flags_shape_the_process(eng):
    p = eng.pyrt("run", "--rm", "-e", "A=1", "-w", "/tmp", "--hostname", "box", "-u", "app", "busybox",
                 "sh", "-c", 'echo "$A $(pwd) $(hostname) $(id -u):$(id -g) $(id -G) $HOME"')
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "/tmp", "box", "1234:2345", "2345", "3456", "/home/app"]
    p = eng.pyrt("run", "--rm", "-u", "nobodyhere", "busybox", "true")
    assert p.returncode == 125 and "nobodyhere" in p.stderr


def test_docker_default_capabilities_and_masked_paths(eng):
    p = eng.pyrt("run", "--rm", "busybox", "sh", "-c", "grep -E '^Cap(Eff|Bnd|Inh|Amb)' /proc/self/status; "
                 "cat /proc/kcore 2>&1 | head -c 1 | wc -c; touch /proc/sys/x 2>&1; echo")
    assert p.returncode == 0, p.stderr
    caps = dict(line.split(":\t") for line in p.stdout.splitlines() if line.startswith("Cap"))
    # docker's 14: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW
    # SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    assert caps["CapEff"] == caps["CapBnd"] == "00000000a80425fb"
    assert caps["CapInh"] == caps["CapAmb"] == "0000000000000000"
    p = eng.pyrt("run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "busybox", "grep", "CapEff",
                 "/proc/self/status")
    assert p.stdout.split()[1] == f"{1 << 12:016x}"


def _record_writes(cdir: str, until_gone) -> int:
    """How many times the engine wrote CDIR's container.json (each write is a temp file renamed
    onto it), watched by inotify until UNTIL_GONE() says the directory is gone. IN_CREATE is
    watched too: the kernel merges identical queued events, and two renames in a row would be one."""
    import ctypes
    import struct
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert fd >= 0 and libc.inotify_add_watch(fd, os.fsencode(cdir), 0x80 | 0x100) >= 0    # IN_MOVED_TO|IN_CREATE
    try:
        until_gone()
        writes, buf = 0, b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(fd, 65536):
                buf += chunk
        while buf:
            _wd, mask, _cookie, n = struct.unpack_from("iIII", buf)
            name = buf[16:16 + n].rstrip(b"\0")
            writes += mask == 0x80 and name == b"container.json"
            buf = buf[16 + n:]
        return writes
    finally:
        os.close(fd)


def test_rm_writes_the_exit_and_removing_in_one_record_write(eng):
    """--rm: the exit (code, finish time) and "removing" reach the record in one write."""
    cid = eng.ok("run", "-d", "--rm", "busybox", "sleep", "300").strip()
    cdir = os.path.join(eng.root, "containers", cid)
    writes = _record_writes(cdir, lambda: (eng.ok("kill", cid),
                                           _until(lambda: not os.path.exists(cdir), what="the --rm removal")))
    assert writes == 1, writes
    assert eng.container_dirs() == []


# -- detached lifecycle ---------------------------------------------------------------------------
def test_detached_lifecycle_ps_logs_exec_stop_start_rm(eng):
    cid = eng.ok("run", "-d", "--name", "web", "busybox", "sh", "-c",
                 "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done").strip()
    assert len(cid) == 64
    _until(lambda: "started" in eng.ok("logs", "web"), what="the first log line")
    ps = eng.ok("ps", "--format", "{{.Names}} {{.State}}")
    assert ps.strip() == "web running"
    assert eng.ok("exec", "web", "sh", "-c", "echo $((6*7))").strip() == "42"
    p = eng.pyrt("exec", "web", "sh", "-c", "exit 4")
    assert p.returncode == 4
    doc = json.loads(eng.ok("inspect", "web"))[0]
    assert doc["Id"] == cid and doc["State"]["Running"] and doc["State"]["Pid"] > 0
    assert doc["Config"]["Image"] == "busybox" and doc["Name"] == "/web"
    eng.ok("stop", "-t", "10", "web")
    st = json.loads(eng.ok("inspect", "web"))[0]["State"]
    assert (st["Status"], st["ExitCode"], st["Running"]) == ("exited", 0, False)
    assert eng.ok("logs", "web") == "started\nbye\n"
    # exited containers keep their writable layer; start runs the same command again
    eng.ok("start", "web")
    _until(lambda: eng.ok("logs", "web").count("started") == 2, what="the second start")
    p = eng.pyrt("rm", "web")
    assert p.returncode == 1 and "running" in p.stderr      # docker's rm: 1, one line per failure
    eng.ok("rm", "-f", "web")
    assert eng.ok("ps", "-a", "-q") == "" and eng.container_dirs() == []


def test_stop_kills_after_the_timeout_and_wait_reports_it(eng):
    eng.ok("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done")
    t = time.monotonic()
    eng.ok("stop", "-t", "1", "stubborn")
    assert time.monotonic() - t >= 1
    assert eng.ok("wait", "stubborn").strip() == "137"
    eng.ok("rm", "stubborn")


def test_pause_unpause_top_stats_rename(eng):
    eng.ok("run", "-d", "--name", "p1", "busybox", "sleep", "300")
    eng.ok("pause", "p1")
    assert eng.ok("inspect", "-f", "{{.State.Status}}", "p1").strip() == "paused"
    eng.ok("unpause", "p1")
    assert eng.ok("inspect", "-f", "{{.State.Status}}", "p1").strip() == "running"
    top = eng.ok("top", "p1")
    assert "sleep 300" in top
    stats = eng.ok("stats", "--no-stream", "p1")
    assert "p1" in stats
    eng.ok("rename", "p1", "p2")
    assert eng.ok("ps", "--format", "{{.Names}}").strip() == "p2"
    eng.ok("rm", "-f", "p2")


def test_logs_tail_timestamps_follow(eng):
    eng.ok("run", "-d", "--name", "lg", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; done; sleep 1; echo 4")
    _until(lambda: "3" in eng.ok("logs", "lg"), what="three lines")
    assert eng.ok("logs", "--tail", "2", "lg") in ("2\n3\n", "3\n4\n")
    stamped = eng.ok("logs", "-t", "lg").splitlines()[0]
    assert stamped.endswith("Z 1") and stamped[4] == "-"
    follow = eng.pyrt("logs", "-f", "lg", timeout=30)
    assert follow.stdout == "1\n2\n3\n4\n"
    eng.ok("rm", "lg")


def test_logs_rotate_at_max_size(eng):
    eng.ok("run", "--name", "rot", "--log-opt", "max-size=2k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
           "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done")
    d = os.path.join(eng.root, "containers")
    cid = eng.ok("inspect", "-f", "{{.Id}}", "rot").strip()
    files = sorted(f for f in os.listdir(os.path.join(d, cid)) if f.startswith(cid + "-json.log"))
    assert files == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
    for f in files:
        path = os.path.join(d, cid, f)
        assert os.path.getsize(path) <= 2048
        for line in open(path):
            json.loads(line)       # whole records only
    out = eng.ok("logs", "rot").splitlines()
    assert out[-1] == "line-399" and out == [f"line-{i}" for i in range(400 - len(out), 400)]
    eng.ok("rm", "rot")


# -- storage --------------------------------------------------------------------------------------
def test_bind_named_volume_tmpfs_and_read_only(eng, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host\n")
    p = eng.pyrt("run", "--rm", "--read-only", "-v", f"{host}:/data", "-v", "vol1:/vol", "--tmpfs", "/scratch",
                 "busybox", "sh", "-c",
                 "cat /data/in; echo w > /data/out; echo v > /vol/f; echo t > /scratch/f; "
                 "touch /rootfile 2>/dev/null && echo writable || echo ro; grep ' /scratch ' /proc/mounts")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[:2] == ["from host", "ro"]
    assert "tmpfs" in p.stdout
    assert (host / "out").read_text() == "w\n"
    # the named volume outlives the container, with its data
    p = eng.pyrt("run", "--rm", "-v", "vol1:/vol:ro", "busybox", "sh", "-c", "cat /vol/f; touch /vol/g")
    assert p.stdout == "v\n" and p.returncode != 0
    assert "vol1" in eng.ok("volume", "ls", "-q").split()
    eng.ok("run", "-d", "--name", "user", "-v", "vol1:/vol", "busybox", "sleep", "300")
    p = eng.pyrt("volume", "rm", "vol1")
    assert p.returncode != 0 and "in use" in p.stderr
    eng.ok("rm", "-f", "user")
    eng.ok("volume", "rm", "vol1")
    assert eng.ok("volume", "ls", "-q") == ""


# -- limits ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("runtime", ["", RUNC], ids=["pyrt", "runc"])
def test_memory_limit_oom_kill_is_137_and_oomkilled(eng, runtime):
    """runc's CLI does not report an OOM kill: the engine reads the cgroup's counter itself."""
    rt = ["--runtime", runtime] if runtime else []
    p = eng.pyrt("run", "--name", "hog", *rt, "-m", "32m", "--memory-swap", "32m", "busybox", "sh", "-c",
                 "x=a; while true; do x=$x$x; done")
    assert p.returncode == 137, p.stderr
    st = json.loads(eng.ok("inspect", "hog"))[0]["State"]
    assert st["OOMKilled"] is True and st["ExitCode"] == 137
    eng.ok("rm", "hog")


def test_pids_limit(eng):
    p = eng.pyrt("run", "--rm", "--pids-limit", "5", "busybox", "sh", "-c",
                 "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
                 "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; echo forked")
    assert p.stdout.splitlines()[0] == "5"
    assert "can't fork" in p.stderr and "forked" not in p.stdout


# -- bad input: one line, 125, nothing created --------------------------------------------------------
@pytest.mark.parametrize("args,words", [
    (["--memory", "12zz"], "--memory"),
    (["--name", "bad name!"], "invalid container name"),
    (["-v", "/no/such/dir:/x"], "does not exist"),
    (["-v", "a:b:c:d"], "invalid volume spec"),
    (["--ulimit", "nofile=x"], "--ulimit"),
    (["--cap-add", "NOT_A_CAP"], "unknown capability"),
    (["--security-opt", "apparmor=x"], "--security-opt"),
    (["--network", "container:other"], "network"),
    (["--pull", "sometimes"], "--pull"),
])
def test_bad_input_is_one_line_and_125_with_nothing_created(eng, args, words):
    p = eng.pyrt("run", "--rm", *args, "busybox", "true")
    assert p.returncode == 125, (p.returncode, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1 and words in p.stderr and "Traceback" not in p.stderr
    assert eng.container_dirs() == []
    names = os.path.join(eng.root, "containers", "names")
    assert not os.path.isdir(names) or not os.listdir(names)


def test_unknown_image_container_and_flag(eng):
    p = eng.pyrt("run", "--pull", "never", "nosuchimage", "true")
    assert p.returncode == 125 and "no such image" in p.stderr
    for verb in ("start", "stop", "rm", "logs", "inspect", "kill"):
        p = eng.pyrt(verb, "nosuchcontainer")
        assert p.returncode != 0 and "nosuchcontainer" in p.stderr and "Traceback" not in p.stderr, verb
    p = eng.pyrt("run", "--no-such-flag", "busybox")
    assert p.returncode in (2, 125) and "no-such-flag" in p.stderr


def test_name_in_use(eng):
    eng.ok("create", "--name", "same", "busybox", "true")
    p = eng.pyrt("create", "--name", "same", "busybox", "true")
    assert p.returncode == 125 and "already in use" in p.stderr
    eng.ok("rm", "same")


# -- faults ----------------------------------------------------------------------------------------------
def test_a_killed_monitor_leaves_a_truthful_state_and_rm_f_cleans(eng):
    eng.ok("run", "-d", "--name", "orphan", "busybox", "sleep", "300")
    eng.ok("run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 0.5")
    [mon] = eng.monitor_pids()
    os.kill(mon, signal.SIGKILL)
    _until(lambda: not eng.monitor_pids(), what="the monitor's end")
    assert eng.ok("inspect", "-f", "{{.State.Status}}", "orphan").strip() == "running"
    _until(lambda: eng.ok("inspect", "-f", "{{.State.Status}}", "short").strip() == "exited",
           what="the short container reported exited")
    eng.ok("rm", "-f", "orphan", "short")
    assert eng.container_dirs() == []


def test_parallel_runs_get_distinct_names_and_all_are_removable(eng):
    n = 12
    procs = [subprocess.Popen([*eng_cmd(eng), "run", "-d", "busybox", "sleep", "300"], env=eng.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        ids.append(out.strip())
    names = eng.ok("ps", "--format", "{{.Names}}").split()
    assert len(set(ids)) == n and len(set(names)) == n
    eng.ok("rm", "-f", *ids)
    assert eng.container_dirs() == []


def eng_cmd(eng):
    from tests.support.bundle import PYRT
    return [PYRT]


class _Pty:
    """A command on a new pty, as a user's terminal would run it."""

    def __init__(self, eng, *args, size: tuple[int, int] | None = None):
        import fcntl
        import pty
        import struct
        import termios
        from tests.support.bundle import PYRT
        self.m, s = pty.openpty()
        if size:
            fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
        self.p = subprocess.Popen([PYRT, *args], stdin=s, stdout=s, stderr=s, env=eng.env, start_new_session=True,
                                  preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(s)
        self.out = bytearray()

    def read_until(self, token: bytes) -> None:
        import select
        deadline = time.monotonic() + 30
        while token not in self.out and time.monotonic() < deadline:
            if select.select([self.m], [], [], 0.2)[0]:
                try:
                    self.out.extend(os.read(self.m, 4096))
                except OSError:
                    break
        assert token in self.out, bytes(self.out)

    def close(self) -> int:
        try:
            return self.p.wait(timeout=30)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            os.close(self.m)


def test_run_it_through_a_pty_with_the_window_size(eng, tmp_path):
    t = _Pty(eng, "run", "-it", "--rm", "busybox", "sh", size=(33, 101))
    try:
        t.read_until(b"# ")
        os.write(t.m, b"stty size; tty; echo $((40+2)); exit 5\n")
        t.read_until(b"42\r\n")
    finally:
        assert t.close() == 5
    assert b"33 101\r\n" in t.out and b"/dev/pts/0\r\n" in t.out


def test_the_same_bundle_runs_under_runc(eng):
    """--runtime runc: pyrt's generated bundle is a plain runtime-spec config: runc runs it, and the
    process inside sees the same identity, capabilities, mounts and limits."""
    probe = ("id; hostname; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp)' /proc/self/status; "
             "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
             "awk '{print $2, $3}' /proc/mounts | sort; ulimit -n")
    args = ["--rm", "-u", "app", "--hostname", "h", "--pids-limit", "20", "--ulimit", "nofile=512:512",
            "--read-only", "busybox", "sh", "-c", probe]
    mine = eng.pyrt("run", *args)
    theirs = eng.pyrt("run", "--runtime", "runc", *args)
    assert mine.returncode == 0 and theirs.returncode == 0, (mine.stderr, theirs.stderr)
    assert mine.stdout == theirs.stdout
    assert "20\n" in mine.stdout and "512\n" in mine.stdout
    eng.ok("run", "-d", "--runtime", "runc", "--name", "r", "busybox", "sleep", "300")
    assert eng.ok("exec", "r", "echo", "x") == "x\n"
    eng.ok("stop", "-t", "0", "r")
    assert eng.ok("inspect", "-f", "{{.State.ExitCode}}", "r").strip() == "137"
    eng.ok("rm", "r")


def test_docker_default_seccomp_profile(eng):
    """The default filter is docker's allow-list: ordinary programs run, namespace and mount
    syscalls need CAP_SYS_ADMIN, the keyring is never reachable; unconfined and --privileged
    have no filter."""
    probe = ("grep Seccomp: /proc/self/status; unshare -m true 2>/dev/null; echo unshare=$?; "
             "mkdir -p /m; mount -t tmpfs t /m 2>/dev/null; echo mount=$?; (true &); wait; echo fork=ok")
    p = eng.pyrt("run", "--rm", "busybox", "sh", "-c", probe)
    assert p.stdout.split() == ["Seccomp:", "2", "unshare=1", "mount=1", "fork=ok"], p.stderr
    p = eng.pyrt("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", probe)
    assert p.stdout.split() == ["Seccomp:", "2", "unshare=0", "mount=0", "fork=ok"], p.stderr
    for flags in (["--security-opt", "seccomp=unconfined"], ["--privileged"]):
        p = eng.pyrt("run", "--rm", *flags, "busybox", "grep", "Seccomp:", "/proc/self/status")
        assert p.stdout.split() == ["Seccomp:", "0"], (flags, p.stderr)
    own = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("CapBnd:"))
    p = eng.pyrt("run", "--rm", "--privileged", "busybox", "grep", "CapEff:", "/proc/self/status")
    assert p.stdout.split() == ["CapEff:", own]


@pytest.mark.parametrize("step", ["engine-rootfs-made", "engine-created", "engine-mounted", "dir-made",
                                  "cgroup-made", "pid-known", "init-released", "engine-launched"])
def test_run_killed_at_any_step_then_rm_f_leaves_nothing(eng, step):
    """SIGKILL the process doing `run`'s work (the monitor's worker: engine create, then the
    runtime's create) at STEP; `ps -a` tells the truth and `rm -f` frees everything (the fixture
    and the leak check verify: no container dir, rootfs mount, runtime state or cgroup)."""
    env = dict(eng.env, PYRT_TEST_CRASH_AT=step)
    p = subprocess.run([*eng_cmd(eng), "run", "-d", "--name", "victim", "busybox", "sleep", "300"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    # every directory the crash left is listed (a half-made one as dead, once its creator is
    # provably gone: store.DEBRIS_AGE), so that rm -f can reach it
    ids = _until(lambda: (lambda ids: ids if set(eng.container_dirs()) <= set(ids) else None)(
        eng.ok("ps", "-a", "-q", "--no-trunc").split()), timeout=40, what="ps -a listing every container dir")
    for cid in ids:
        status = eng.ok("inspect", "-f", "{{.State.Status}}", cid).strip()
        assert status in ("created", "exited", "dead"), status
    if ids:
        eng.ok("rm", "-f", *ids)
    assert eng.container_dirs() == []
    rroot = os.path.join(eng.run_root, "runtime")
    assert not os.path.isdir(rroot) or os.listdir(rroot) == []
    # the name is free again and the engine works, with a monitor that was not spawned with
    # PYRT_TEST_CRASH_AT in its environment (a fast CLI reaches the crashing one before it leaves)
    _until(lambda: not eng.monitor_pids(), timeout=30, what="the fault-injected monitor's exit")
    eng.ok("run", "--rm", "--name", "victim", "busybox", "true")


def test_after_a_reboot_containers_are_exited_and_start_again(eng):
    """A reboot empties the run root (/run), ends every process and mount: `ps -a` shows the
    containers exited, never running ghosts, and `start` works again."""
    cid = eng.ok("run", "-d", "--name", "boot", "busybox", "sh", "-c", "echo up; sleep 300").strip()
    _until(lambda: "up" in eng.ok("logs", "boot"), what="the first start")
    pid = int(eng.ok("inspect", "-f", "{{.State.Pid}}", "boot"))
    for m in eng.monitor_pids():
        os.kill(m, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    _until(lambda: not os.path.exists(f"/proc/{pid}"), what="the init's end")
    # what the reboot takes away: the runtime's state and cgroups, the rootfs mount, the run root
    from tests.support.bundle import PYRT_RUNC
    subprocess.run([PYRT_RUNC, "--root", os.path.join(eng.run_root, "runtime"), "delete", "--force", cid],
                   capture_output=True, timeout=60)
    subprocess.run(["umount", os.path.join(eng.root, "containers", cid, "rootfs")], capture_output=True)
    shutil.rmtree(eng.run_root)
    st = json.loads(eng.ok("inspect", "boot"))[0]["State"]
    assert (st["Status"], st["Running"], st["ExitCode"]) == ("exited", False, 255) and st["Error"]
    assert eng.ok("ps", "-q") == ""
    eng.ok("start", "boot")
    _until(lambda: eng.ok("logs", "boot").count("up") == 2, what="the second start")
    eng.ok("rm", "-f", "boot")


def test_system_df_and_prune(eng):
    eng.ok("create", "--name", "stopped", "-v", "keep:/k", "busybox", "true")
    eng.ok("run", "-d", "--name", "live", "busybox", "sleep", "300")
    df = eng.ok("system", "df")
    rows = {line.split()[0]: line.split()[1:3] for line in df.splitlines()[1:]}
    assert rows["Images"] == ["1", "1"] and rows["Containers"] == ["2", "1"] and rows["Local"][1:] == ["1"], df
    out = eng.ok("system", "prune", "-f", "--volumes")
    assert "Deleted container:" in out and "live" not in out
    assert eng.ok("ps", "-a", "--format", "{{.Names}}").split() == ["live"]
    assert eng.ok("volume", "ls", "-q") == ""
    eng.ok("rm", "-f", "live")


def test_a_full_disk_stops_logging_not_the_container(tmp_path, cgroup_parent, busybox_tar):
    """The log's filesystem fills up: logging stops with the reason in inspect's State.LogError,
    the container runs to its end, and the log file holds whole records only."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "pyrt-test-small", str(small)], check=True)
    try:
        e = EngineEnv(str(small / "e"), cgroup_parent, busybox_tar)
        try:
            p = e.pyrt("run", "--name", "chatty", "busybox", "sh", "-c",
                       "i=0; while [ $i -lt 150000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
                       "i=$((i+1)); done; echo done >&2", timeout=300)
            assert p.returncode == 0 and p.stderr.endswith("done\n"), p.stderr[-300:]
            st = json.loads(e.ok("inspect", "chatty"))[0]["State"]
            assert st["ExitCode"] == 0 and "No space left" in st["LogError"], st
            cid = e.ok("inspect", "-f", "{{.Id}}", "chatty").strip()
            with open(os.path.join(e.root, "containers", cid, f"{cid}-json.log")) as f:
                lines = f.readlines()
            assert lines and all(json.loads(line)["log"].startswith("line-") for line in lines)
            e.ok("rm", "chatty")
        finally:
            problems = e.teardown()
        assert not problems, problems
    finally:
        subprocess.run(["umount", str(small)], check=True)


# -- attach -----------------------------------------------------------------------------------------
def test_attach_with_a_tty_detach_keys_then_exit(eng):
    eng.ok("run", "-dit", "--name", "t", "busybox", "sh")
    a = _Pty(eng, "attach", "t")
    try:
        a.read_until(b"")
        os.write(a.m, b"echo $((40+2))\n")
        a.read_until(b"42")
        os.write(a.m, b"\x10\x11")                  # ctrl-p ctrl-q: the client leaves, sh runs on
    finally:
        assert a.close() == 0
    assert eng.ok("ps", "--format", "{{.Names}} {{.State}}").strip() == "t running"
    a = _Pty(eng, "attach", "--detach-keys", "ctrl-a", "t")
    try:
        os.write(a.m, b"\x10\x11echo $((6*7))x\n")   # not the keys now: typed through to sh
        a.read_until(b"42x")
        os.write(a.m, b"exit 3\n")
    finally:
        assert a.close() == 3                        # the container's code when it ends attached
    assert eng.ok("inspect", "-f", "{{.State.ExitCode}}", "t").strip() == "3"
    eng.ok("rm", "t")


def test_attach_forwards_signals_and_stdin_unless_told_not_to(eng):
    eng.ok("run", "-d", "--name", "s", "busybox", "sh", "-c",
           "trap 'echo got INT; exit 5' INT; while true; do echo tick; sleep 0.2; done")
    for proxy in ("false", "true"):
        a = subprocess.Popen([*eng_cmd(eng), "attach", "--no-stdin", f"--sig-proxy={proxy}", "s"], env=eng.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert a.stdout.readline() == b"tick\n"      # attached: new output comes through
        a.send_signal(signal.SIGINT)
        out, err = a.communicate(timeout=30)
        if proxy == "false":                         # Ctrl-C leaves; the container runs on
            assert a.returncode == 0, err
            assert eng.ok("inspect", "-f", "{{.State.Running}}", "s").strip() == "true"
        else:
            assert a.returncode == 5 and b"got INT\n" in out, (a.returncode, out, err)
    p = eng.pyrt("attach", "s")
    assert p.returncode == 125 and "not running" in p.stderr and len(p.stderr.splitlines()) == 1
    eng.ok("run", "-d", "-i", "--name", "r", "busybox", "sh", "-c", "while read l; do echo \"got $l\"; done; echo end")
    p = eng.pyrt("attach", "r", input="a\nb\n")
    assert (p.returncode, p.stdout) == (0, "got a\ngot b\nend\n")
    p = eng.pyrt("attach", "nosuch")
    assert p.returncode == 125 and "nosuch" in p.stderr
    eng.ok("rm", "s", "r")


# -- -u names from a Debian system's /etc/passwd and /etc/group -------------------------------------
# What a debootstrap minbase image's /etc/passwd and /etc/group are: Debian's base-passwd masters
# (update-passwd copies them at install), here taken from this Debian host's base-passwd package
# rather than from a debootstrap run (minutes and ~150 MB from the network for two files), plus one
# user as Debian's adduser writes it, member of some of Debian's standard groups.
BASE_PASSWD = "/usr/share/base-passwd"
ADDUSER = ("deb:x:1000:1000:Deb User,,,:/home/deb:/bin/sh\n",
           {"deb": "deb:x:1000:", "audio": "audio:x:29:deb", "video": "video:x:44:deb", "plugdev": "plugdev:x:46:deb"})


@pytest.fixture(scope="session")
def debian_ids_tar(tmp_path_factory):
    with open(f"{BASE_PASSWD}/passwd.master") as f:
        passwd = f.read() + ADDUSER[0]
    with open(f"{BASE_PASSWD}/group.master") as f:
        lines = f.read().splitlines()
    names = {line.split(":")[0] for line in lines}
    lines = [ADDUSER[1].get(line.split(":")[0], line) for line in lines]
    lines += [v for k, v in ADDUSER[1].items() if k not in names]
    return build_busybox_tar(str(tmp_path_factory.mktemp("debian-ids")), passwd, "\n".join(lines) + "\n")


def _debian_expected() -> dict:
    """user -> "uid gid groups HOME", from the files themselves (groups: the primary one and those
    listing the user, as docker and id(1) give them)."""
    with open(f"{BASE_PASSWD}/passwd.master") as f:
        users = [line.split(":") for line in f.read().splitlines() + [ADDUSER[0].strip()]]
    members: dict = {}
    for g in ADDUSER[1].values():
        _name, _x, gid, who = g.split(":")
        for u in filter(None, who.split(",")):
            members.setdefault(u, []).append(int(gid))
    out = {}
    for u in users:
        gids = sorted({int(u[3]), *members.get(u[0], [])})
        out[u[0]] = f"{u[2]} {u[3]} {' '.join(map(str, gids))} {u[5]}"
    return out


def test_user_names_resolve_in_a_debian_passwd_and_group(eng, debian_ids_tar):
    eng.ok("import", debian_ids_tar, "debian-ids:latest")
    want = _debian_expected()
    assert len(want) == 19 and want["www-data"] == "33 33 33 /var/www" and want["deb"] == "1000 1000 29 44 46 1000 /home/deb"
    probe = 'echo "$(id -u) $(id -g) $(id -G | tr " " "\\n" | sort -n | tr "\\n" " ")$HOME"'   # id -G sorted
    got = eng.ok("run", "--rm", "-u", "www-data", "debian-ids", "sh", "-c", probe).strip()
    assert got == want["www-data"]
    eng.ok("run", "-d", "--name", "deb", "debian-ids", "sleep", "300")
    for user, line in want.items():
        assert eng.ok("exec", "-u", user, "deb", "sh", "-c", probe).strip() == line, user
    assert eng.ok("exec", "-u", "mail:tty", "deb", "id").strip() == "uid=8(mail) gid=5(tty)"
    assert eng.ok("exec", "-u", "33:nogroup", "deb", "id").strip() == "uid=33(www-data) gid=65534(nogroup)"
    assert eng.ok("exec", "-u", "deb:users", "deb", "id").strip() == \
        "uid=1000(deb) gid=100(users) groups=29(audio),44(video),46(plugdev)"
    for bad in ("nosuchuser", "deb:nosuchgroup"):
        p = eng.pyrt("exec", "-u", bad, "deb", "true")
        assert p.returncode == 125 and bad.split(":")[-1] in p.stderr and len(p.stderr.splitlines()) == 1
    eng.ok("rm", "-f", "deb")

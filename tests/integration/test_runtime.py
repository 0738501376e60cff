"""pyrt-runc end to end on the real kernel: lifecycle, isolation, state, exec, hooks and bad input.

Every container gets a cgroupsPath beneath the test's own cgroup (the cgroup_parent fixture) and a
fresh --root (runtime_root); the fixtures and the autouse leak check fail a test that leaves state
dirs, cgroups or mounts behind.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from tests.support import cgroup as cgroup_support
from tests.support.bundle import PYRT_RUNC, base_config, make_bundle, run, write_config


def run_files(argv, timeout=60) -> subprocess.CompletedProcess:
    """Like run(), but output goes through files: a created container's init inherits our
    stdout/stderr (as under runc), so pipes would stay open after pyrt-runc create exits."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, timeout=timeout)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, p.returncode, out.read(), err.read())


@pytest.fixture
def rt(runtime_root):
    def call(*args, **kw):
        return run_files([PYRT_RUNC, "--root", runtime_root, *args], **kw)
    call.root = runtime_root
    return call


@pytest.fixture
def bundle(tmp_path, cgroup_parent):
    """A busybox bundle; `bundle.config(args, **changes)` rewrites its config.json."""
    path = make_bundle(tmp_path / "bundle")

    class B(str):
        def config(self, args=("/bin/true",), mutate=None, **process):
            cfg = base_config(args, **process)
            cfg["linux"]["cgroupsPath"] = f"{cgroup_parent}/ctr"
            if mutate:
                mutate(cfg)
            write_config(path, cfg)
            return cfg
    b = B(path)
    b.config()
    return b


def one_line_error(p, code):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrt-runc: "), p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


def state_of(rt, cid):
    p = rt("state", cid)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def wait_status(rt, cid, want, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = rt("state", cid)
        s = json.loads(p.stdout) if p.returncode == 0 else {}
        if s.get("status") == want:
            return s
        time.sleep(0.02)
    raise AssertionError(f"{cid} never became {want}: {s}")


# --- run ---------------------------------------------------------------------------------------
def test_run_prints_and_isolates(rt, bundle):
    bundle.config(["sh", "-c", "echo pid=$$ host=$(hostname); cat /proc/1/cmdline | tr '\\0' ' '"])
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    first, second = p.stdout.splitlines()
    assert first == "pid=1 host=runc"
    assert second.strip() == "sh -c echo pid=$$ host=$(hostname); cat /proc/1/cmdline | tr '\\0' ' '"
    assert os.listdir(rt.root) == []


def test_run_exit_codes(rt, bundle):
    bundle.config(["sh", "-c", "exit 3"])
    assert rt("run", "-b", bundle, "c1").returncode == 3
    # PID 1 of a pid namespace cannot be killed from inside it: kill it from outside
    bundle.config(["sleep", "60"])
    fg = subprocess.Popen([PYRT_RUNC, "--root", rt.root, "run", "-b", bundle, "c2"])
    try:
        wait_status(rt, "c2", "running")
        assert rt("kill", "c2", "KILL").returncode == 0
        assert fg.wait(timeout=20) == 128 + signal.SIGKILL
    finally:
        fg.kill()
        fg.wait()


def test_readonly_root_and_masked_paths(rt, bundle):
    bundle.config(["sh", "-c", "touch /x 2>/dev/null && echo writable || echo readonly; "
                               "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; "
                               "echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo procsys-ro"])
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["readonly", "0", "0", "procsys-ro"]


def test_mounts_devices_and_links(rt, bundle):
    def mutate(cfg):
        cfg["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "noexec", "size=1m"]})
        cfg["mounts"].append({"destination": "/hostetc", "type": "bind", "source": "/etc",
                              "options": ["rbind", "ro"]})
    bundle.config(["sh", "-c", "grep -E ' /data | /hostetc ' /proc/self/mountinfo | cut -d' ' -f5,6; "
                               "ls -l /dev/null | cut -c1; readlink /dev/fd; readlink /dev/stdout; "
                               "test -e /hostetc/passwd && echo bound"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("/data rw,nosuid,nodev,noexec") or lines[0].startswith("/data rw,nosuid,noexec")
    assert lines[1].startswith("/hostetc ro")
    assert lines[2:] == ["c", "/proc/self/fd", "/proc/self/fd/1", "bound"]


def test_no_pivot_and_pid_file(rt, bundle, tmp_path):
    bundle.config(["sh", "-c", "echo $$"])
    pid_file = tmp_path / "pid"
    p = rt("run", "--no-pivot", "--pid-file", str(pid_file), "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "1"
    assert int(pid_file.read_text()) > 1


def test_user_namespace_mappings(rt, cgroup_parent):
    """Root in the container is host uid 200000, so the bundle lives in a directory that uid may
    traverse (pytest's own tmp dir is 0700)."""
    d = tempfile.mkdtemp(prefix="pyrt-userns-")
    try:
        os.chmod(d, 0o755)
        cfg = base_config(["sh", "-c", "id -u; cat /proc/self/uid_map; touch /tmp/ok && echo wrote; "
                                       "grep :memory: /proc/self/cgroup || grep ^0:: /proc/self/cgroup"])
        cfg["linux"]["cgroupsPath"] = f"{cgroup_parent}/ctr"
        # host cgroup paths below: no cgroup namespace (runc's default spec has one on a v2 host)
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "cgroup"]
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        # sysfs and the cgroup mount need privileges over the host's network/cgroups
        cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] not in ("sysfs", "cgroup")]
        cfg["linux"]["maskedPaths"] = [x for x in cfg["linux"]["maskedPaths"] if not x.startswith("/sys")]
        cfg["root"]["readonly"] = False
        b = make_bundle(os.path.join(d, "bundle"), cfg)
        os.chmod(os.path.join(b, "rootfs"), 0o755)  # the template is a 0700 mkdtemp
        os.chown(os.path.join(b, "rootfs", "tmp"), 200000, 200000)
        p = rt("run", "-b", b, "c1")
        assert p.returncode == 0, p.stderr
        out = p.stdout.split()
        assert out[:5] == ["0", "0", "200000", "65536", "wrote"]
        # a new user namespace: the parent, not stage 1, moves the init into its cgroup
        assert out[5].endswith(f"/{cgroup_parent}/ctr"), out
        assert os.stat(os.path.join(b, "rootfs", "tmp", "ok")).st_uid == 200000
    finally:
        shutil.rmtree(d)


# --- create / start split ------------------------------------------------------------------------
def test_create_start_state_kill_delete(rt, bundle, tmp_path):
    bundle.config(["sh", "-c", "echo started > /dev/shm/x; exec sleep 60"])
    p = rt("create", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    s = state_of(rt, "c1")
    assert s["status"] == "created" and s["pid"] > 0 and s["id"] == "c1"
    assert s["bundle"] == os.path.abspath(bundle) and s["ociVersion"].startswith("1.")
    init = s["pid"]
    # the init waits: its command line is still ours, not the container's
    assert b"sleep" not in open(f"/proc/{init}/cmdline", "rb").read()
    # the init is PID 1 of its own pid namespace
    nspid = [l for l in open(f"/proc/{init}/status") if l.startswith("NSpid")][0].split()
    assert nspid[-1] == "1"
    assert one_line_error(rt("delete", "c2"), 4)
    assert "c1" in rt("list", "-q").stdout.split()
    lst = json.loads(rt("list", "--format", "json").stdout)
    assert [c["status"] for c in lst if c["id"] == "c1"] == ["created"]

    assert rt("start", "c1").returncode == 0
    s = wait_status(rt, "c1", "running")
    assert s["pid"] == init
    for _ in range(200):
        if b"sleep" in open(f"/proc/{init}/cmdline", "rb").read():
            break
        time.sleep(0.01)
    assert b"sleep" in open(f"/proc/{init}/cmdline", "rb").read()
    assert "start" in one_line_error(rt("start", "c1"), 6)
    assert "delete" in one_line_error(rt("delete", "c1"), 6)
    ps = json.loads(rt("ps", "--format", "json", "c1").stdout)
    assert ps == [init]

    assert rt("kill", "c1", "KILL").returncode == 0
    wait_status(rt, "c1", "stopped")
    assert "container not running" in one_line_error(rt("kill", "c1"), 1)
    assert rt("delete", "c1").returncode == 0
    assert one_line_error(rt("state", "c1"), 4)


def test_init_starts_in_its_cgroup_everywhere(rt, bundle, cgroup_parent):
    """Stage 1 joins the v1 hierarchies itself and forks the init into the v2 directory
    (CLONE_INTO_CGROUP): the init sits in the container's cgroup in every hierarchy, and a
    pids.limit of 1 (set once stage 1 has left) still lets it run."""
    def mutate(cfg):
        cfg["linux"]["resources"]["pids"] = {"limit": 1}
    bundle.config(["sh", "-c", "exec true"], mutate=mutate)
    assert rt("create", "-b", bundle, "c1").returncode == 0
    try:
        init = state_of(rt, "c1")["pid"]
        lines = open(f"/proc/{init}/cgroup").read().split()
        names = {line.split(":")[1] for line in lines}
        # the v2 tree, and the v1 hierarchies where the host has them
        assert (names == {""} if cgroup_support.is_v2() else "" in names and "memory" in names), lines
        assert all(line.endswith(f"/{cgroup_parent}/ctr") for line in lines), lines
        pids = cgroup_support.controller_dir(f"{cgroup_parent}/ctr", "pids")
        assert open(os.path.join(pids, "pids.max")).read().strip() == "1"
        assert rt("start", "c1").returncode == 0
        wait_status(rt, "c1", "stopped")
    finally:
        assert rt("delete", "-f", "c1").returncode == 0


def test_fork_into_cgroup_places_the_child(cgroup_parent):
    """pyrt.linux.syscalls.fork_into_cgroup (clone3 CLONE_INTO_CGROUP) on this kernel's cgroup2
    tree: the child starts in the directory given, the parent stays where it was."""
    from pyrt.cgroups import layout
    from pyrt.linux import syscalls
    target = layout.detect().v2.dir_for(cgroup_parent)
    os.mkdir(target)
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        before = open("/proc/self/cgroup").read()
        pid = syscalls.fork_into_cgroup(fd, target)
        if pid == 0:
            line = [x for x in open("/proc/self/cgroup").read().splitlines() if x.startswith("0::")][0]
            os._exit(0 if line.endswith(f"/{cgroup_parent}") else 3)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert open("/proc/self/cgroup").read() == before
    finally:
        os.close(fd)
        os.rmdir(target)


def test_delete_created_kills_init(rt, bundle):
    assert rt("create", "-b", bundle, "c1").returncode == 0
    init = state_of(rt, "c1")["pid"]
    assert rt("delete", "c1").returncode == 0
    assert not os.path.exists(f"/proc/{init}/cmdline") or open(f"/proc/{init}/stat").read().split()[2] == "Z"


def test_kill_created_container_with_sigterm(rt, bundle):
    assert rt("create", "-b", bundle, "c1").returncode == 0
    assert rt("kill", "c1", "TERM").returncode == 0
    wait_status(rt, "c1", "stopped")
    assert rt("delete", "c1").returncode == 0


def test_paused_before_start_is_paused(rt, bundle):
    """A created container whose cgroup is frozen reports `paused` (runc does), cannot be started
    until resumed, and is `created` again after resume."""
    bundle.config(["sh", "-c", "echo hi"])
    assert rt("create", "-b", bundle, "c1").returncode == 0
    assert rt("pause", "c1").returncode == 0
    assert state_of(rt, "c1")["status"] == "paused"
    assert [c["status"] for c in json.loads(rt("list", "--format", "json").stdout)] == ["paused"]
    assert "paused" in one_line_error(rt("start", "c1"), 6)
    assert rt("resume", "c1").returncode == 0
    assert state_of(rt, "c1")["status"] == "created"
    assert rt("start", "c1").returncode == 0
    wait_status(rt, "c1", "stopped")
    assert rt("delete", "c1").returncode == 0


def test_hooks_inside_the_container(rt, bundle, tmp_path):
    """createContainer runs before pivot_root (host paths), startContainer after it (the
    container's paths), both in the container's namespaces."""
    out = tmp_path / "cc"

    def mutate(cfg):
        cfg["root"]["readonly"] = False
        cfg["hooks"] = {
            "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", f"readlink /proc/self/ns/uts > {out}"]}],
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "hostname > /tmp/started"]}],
        }
    bundle.config(["cat", "/tmp/started"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "runc"
    assert out.read_text().strip() != os.readlink("/proc/self/ns/uts")


def test_kill_signal_names_and_numbers(rt, bundle):
    bundle.config(["sh", "-c", "trap 'echo got-usr1; exit 0' USR1; while :; do sleep 0.05; done"])
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    assert rt("kill", "c1", "SIGUSR1").returncode == 0
    wait_status(rt, "c1", "stopped")
    assert rt("delete", "c1").returncode == 0
    assert rt("run", "-d", "-b", bundle, "c2").returncode == 0
    assert one_line_error(rt("kill", "c2", "SIGNOPE"), 2) == "pyrt-runc: unknown signal 'SIGNOPE'"
    assert rt("kill", "c2", "9").returncode == 0
    wait_status(rt, "c2", "stopped")
    assert rt("delete", "c2").returncode == 0


def test_delete_force_running(rt, bundle):
    bundle.config(["sleep", "60"])
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    assert wait_status(rt, "c1", "running")
    assert rt("delete", "-f", "c1").returncode == 0
    assert os.listdir(rt.root) == []


def test_exec_in_running_container(rt, bundle):
    bundle.config(["sleep", "60"])
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    try:
        _exec_checks(rt, bundle)
    finally:
        assert rt("delete", "-f", "c1").returncode == 0


def _exec_checks(rt, bundle):
    p = rt("exec", "c1", "sh", "-c", "echo $$ $(hostname) $FOO; cat /proc/1/cmdline")
    assert p.returncode == 0, p.stderr
    first = p.stdout.split("\n")[0].split()
    assert int(first[0]) > 1 and first[1] == "runc"
    assert p.stdout.split("\n")[1].startswith("sleep")
    p = rt("exec", "--env", "FOO=bar", "--cwd", "/tmp", "c1", "sh", "-c", "echo $FOO $(pwd); exit 5")
    assert p.returncode == 5 and p.stdout.split() == ["bar", "/tmp"]
    proc = {"args": ["sh", "-c", "id -u"], "cwd": "/", "user": {"uid": 1, "gid": 1},
            "env": ["PATH=/bin"]}
    pj = os.path.join(os.path.dirname(bundle), "process.json")
    with open(pj, "w") as f:
        json.dump(proc, f)
    p = rt("exec", "--process", pj, "c1")
    assert p.returncode == 0 and p.stdout.strip() == "1", p.stderr
    assert "not found" in one_line_error(rt("exec", "c1", "nosuchcmd"), 7)


def test_hooks_get_state_and_failures_fail_create(rt, bundle, tmp_path):
    out = tmp_path / "hooks"
    out.mkdir()

    def hook(kind):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {out}/{kind}"]}

    def mutate(cfg):
        cfg["hooks"] = {k: [hook(k)] for k in ("prestart", "createRuntime", "poststart", "poststop")}
        cfg["annotations"] = {"org.example": "yes"}
    bundle.config(["true"], mutate=mutate)
    assert rt("run", "-b", bundle, "c1").returncode == 0
    for kind in ("prestart", "createRuntime", "poststart", "poststop"):
        s = json.loads((out / kind).read_text())
        assert s["id"] == "c1" and s["annotations"] == {"org.example": "yes"}, kind
        assert s["bundle"] == os.path.abspath(bundle)
    assert json.loads((out / "createRuntime").read_text())["status"] == "creating"
    assert json.loads((out / "poststop").read_text())["status"] == "stopped"

    def failing(cfg):
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 4"]}]}
    bundle.config(["true"], mutate=failing)
    line = one_line_error(rt("create", "-b", bundle, "c2"), 13)
    assert "createRuntime hook /bin/sh exited with status 4: nope" in line
    assert os.listdir(rt.root) == []

    def slow(cfg):
        cfg["hooks"] = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "5"], "timeout": 1}]}
    bundle.config(["true"], mutate=slow)
    assert "timed out" in one_line_error(rt("create", "-b", bundle, "c3"), 13)


def test_preserve_fds(rt, bundle, tmp_path):
    bundle.config(["sh", "-c", "cat <&3"])
    data = tmp_path / "data"
    data.write_text("through fd 3\n")
    # the shell opens fd 3 for pyrt-runc, as a caller passing an fd would
    p = run(["sh", "-c", f'exec 3<"{data}"; exec "$0" "$@"', PYRT_RUNC, "--root", rt.root, "run",
             "--preserve-fds", "1", "-b", bundle, "c1"])
    assert p.returncode == 0, p.stderr
    assert p.stdout == "through fd 3\n"


# --- bad input: one line, documented exit code, nothing left behind -------------------------------
def test_bad_ids_and_duplicates(rt, bundle):
    for bad in ("../x", "a/b", ".."):
        assert "invalid container id" in one_line_error(rt("create", "-b", bundle, bad), 2)
    bundle.config(["sleep", "60"])
    assert rt("create", "-b", bundle, "c1").returncode == 0
    assert "already exists" in one_line_error(rt("create", "-b", bundle, "c1"), 5)
    assert state_of(rt, "c1")["status"] == "created"
    assert rt("delete", "c1").returncode == 0


def test_bad_configs(rt, bundle, tmp_path):
    cfg_path = os.path.join(bundle, "config.json")
    with open(cfg_path, "w") as f:
        f.write("{not json")
    assert "not valid JSON" in one_line_error(rt("create", "-b", bundle, "c1"), 3)
    bundle.config(mutate=lambda c: c.update(ociVersion="2.0.0"))
    assert "unsupported version" in one_line_error(rt("create", "-b", bundle, "c1"), 3)
    bundle.config(mutate=lambda c: c["process"].update(args=[]))
    assert "process.args" in one_line_error(rt("create", "-b", bundle, "c1"), 3)
    bundle.config(mutate=lambda c: c["linux"]["namespaces"].append({"type": "bogus"}))
    assert "bogus" in one_line_error(rt("create", "-b", bundle, "c1"), 3)
    bundle.config(mutate=lambda c: c["root"].update(path="nope"))
    assert "rootfs" in one_line_error(rt("create", "-b", bundle, "c1"), 4)
    assert "no such directory" in one_line_error(rt("create", "-b", str(tmp_path / "missing"), "c1"), 4)
    assert os.listdir(rt.root) == []


def test_mount_target_escaping_rootfs_is_refused(rt, bundle, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink("../../outside", os.path.join(bundle, "rootfs", "escape"))
    bundle.config(mutate=lambda c: c["mounts"].append(
        {"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs"}))
    line = one_line_error(rt("create", "-b", bundle, "c1"), 7)
    assert "/escape/x" in line and "escapes the rootfs" in line
    assert os.listdir(outside) == []
    assert os.listdir(rt.root) == []


def test_failing_mount_reports_and_cleans_up(rt, bundle):
    bundle.config(mutate=lambda c: c["mounts"].append(
        {"destination": "/x", "type": "bind", "source": "/no/such/source", "options": ["bind"]}))
    line = one_line_error(rt("create", "-b", bundle, "c1"), 7)
    assert 'mount "/no/such/source" on /x' in line and "no such file" in line
    assert os.listdir(rt.root) == []


def test_missing_executable(rt, bundle):
    bundle.config(["/bin/definitely-not-here"])
    assert "/bin/definitely-not-here" in one_line_error(rt("run", "-b", bundle, "c1"), 7)
    assert os.listdir(rt.root) == []


# --- spec, features -----------------------------------------------------------------------------
def test_spec_and_features(rt, tmp_path):
    assert rt("spec", "-b", str(tmp_path)).returncode == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and cfg["root"]["path"] == "rootfs"
    assert "already exists" in one_line_error(rt("spec", "-b", str(tmp_path)), 5)
    f = json.loads(rt("features").stdout)
    assert "mount" in f["linux"]["namespaces"] and "rbind" in f["mountOptions"]
    assert f["hooks"][0] == "prestart"


# --- more of config.json ----------------------------------------------------------------------------
def _ignore_rt32_block_usr1():
    """preexec_fn: ignore signal 32 with a raw rt_sigaction (glibc's wrappers and Python's signal
    module refuse it) and block SIGUSR1, as a careless parent of the runtime might."""
    import ctypes
    import signal
    sa = (ctypes.c_ulong * 4)(1, 0, 0, 0)  # kernel sigaction: handler SIG_IGN, flags, restorer, mask
    assert ctypes.CDLL(None).syscall(13, 32, ctypes.byref(sa), None, 8) == 0  # x86_64 rt_sigaction
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])


def test_inherited_ignored_and_blocked_signals_are_reset(runtime_root, bundle):
    """Whatever the runtime's own caller ignored or blocked (here a realtime signal and SIGUSR1),
    the container starts with nothing ignored and nothing blocked. runc 1.1.5 passes both through
    to the container; pyrt-runc deliberately does not (a CI shell that ignored signal 32 leaked it
    into containers). Two commands, so busybox sh forks grep instead of exec-ing it as PID 1
    (sh as PID 1 ignores SIGQUIT itself)."""
    bundle.config(["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status; true"])
    p = subprocess.run([PYRT_RUNC, "--root", runtime_root, "run", "-b", bundle, "c1"], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL, preexec_fn=_ignore_rt32_block_usr1)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"]


def test_signals_not_ignored_and_rlimits(rt, bundle):
    bundle.config(["sh", "-c", "grep SigIgn /proc/self/status; ulimit -n"])
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["SigIgn:", "0000000000000000", "1024"]


def test_joined_namespaces_by_path(rt, bundle):
    """A second container joins the first one's network, ipc and uts namespaces by path."""
    bundle.config(["sleep", "60"])
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    try:
        pid = state_of(rt, "c1")["pid"]

        def join(cfg):
            cfg["linux"]["namespaces"] = [
                {"type": "pid"}, {"type": "mount"},
                {"type": "network", "path": f"/proc/{pid}/ns/net"},
                {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"},
                {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
            ]
            cfg["linux"]["cgroupsPath"] += "2"
        bundle.config(["sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname"], mutate=join)
        p = rt("run", "-b", bundle, "c2")
        assert p.returncode == 0, p.stderr
        want = [os.readlink(f"/proc/{pid}/ns/net"), os.readlink(f"/proc/{pid}/ns/uts"), "runc"]
        assert p.stdout.split() == want
    finally:
        rt("delete", "-f", "c1")


def test_time_and_cgroup_namespaces(rt, bundle):
    def mutate(cfg):
        # runc's default spec already lists a cgroup namespace on a pure v2 host: add what is missing
        have = {ns["type"] for ns in cfg["linux"]["namespaces"]}
        cfg["linux"]["namespaces"] += [{"type": t} for t in ("time", "cgroup") if t not in have]
        cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 400, "nanosecs": 0}}
    bundle.config(["sh", "-c", "cut -d. -f1 /proc/uptime; cat /proc/self/cgroup"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    uptime, *cgroups = p.stdout.split()
    assert int(uptime) >= 86400 * 400
    # the container's cgroup is the root of its namespace: memory's on v1/hybrid, else the v2 one
    own = [l for l in cgroups if ":memory:" in l] or [l for l in cgroups if l.startswith("0::")]
    assert own and own[0].endswith(":/"), cgroups


def test_sysctl_domainname_oom_personality(rt, bundle):
    def mutate(cfg):
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4321"}
        cfg["domainname"] = "example.org"
        cfg["process"]["oomScoreAdj"] = 123
        cfg["linux"]["personality"] = {"domain": "LINUX32"}
        cfg["linux"]["readonlyPaths"] = []  # /proc/sys read-only would hide what we wrote
    bundle.config(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax "
                               "/proc/sys/kernel/domainname /proc/self/oom_score_adj; uname -m"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "4321", "example.org", "123", "i686"]
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() in ("0", "1")  # the host's untouched


def test_linux_devices_and_rootfs_propagation(rt, bundle):
    def mutate(cfg):
        cfg["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                    "fileMode": 0o600, "uid": 0, "gid": 0}]
        cfg["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 1, "minor": 3,
                                                     "access": "rwm"})
        cfg["linux"]["rootfsPropagation"] = "private"
    bundle.config(["sh", "-c", "echo x > /dev/mynull && ls -l /dev/mynull | cut -c1-10; "
                               "grep ' / / ' /proc/self/mountinfo | grep -c shared || true"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["crw-------", "0"]


def test_config_devices_pass_a_deny_all_device_cgroup(rt, bundle, cgroup_parent):
    """runc's default resources.devices denies everything; a node listed in linux.devices (here
    the first loop device, block 7:0, which runc's always-allowed list lacks and whose driver
    every host of ours has loaded) still opens, because runc adds an rwm allow rule for each.
    Opening an unbound loop device has no effect."""
    def mutate(cfg):
        assert cfg["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
        cfg["linux"]["devices"] = [{"path": "/dev/loop-x", "type": "b", "major": 7, "minor": 0,
                                    "fileMode": 0o666, "uid": 0, "gid": 0}]
    bundle.config(["sh", "-c", "(: < /dev/loop-x) 2>/dev/null && echo opened || echo denied"], mutate=mutate)
    if not cgroup_support.is_v2():      # v2 has an eBPF program, no rule list to read
        assert rt("create", "-b", bundle, "c1").returncode == 0
        try:
            devices = cgroup_support.controller_dir(f"{cgroup_parent}/ctr", "devices")
            rules = open(os.path.join(devices, "devices.list")).read().split("\n")
            assert "b 7:0 rwm" in rules and "a *:* rwm" not in rules, rules
        finally:
            assert rt("delete", "-f", "c1").returncode == 0
    p = rt("run", "-b", bundle, "c2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["opened"], (p.stdout, p.stderr)


def test_log_file_gets_errors(rt, bundle, tmp_path):
    log = tmp_path / "log.json"
    p = run_files([PYRT_RUNC, "--root", rt.root, "--log", str(log), "--log-format", "json", "start", "nope"])
    assert p.returncode == 4
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "nope" in entry["msg"]


def test_debug_shows_best_effort_notes(rt, bundle, tmp_path):
    """memory.kernel is ignored on this v1 memory controller (as runc 1.1): only --debug says so,
    on stderr and in --log's format."""
    def mutate(cfg):
        cfg["linux"]["resources"]["memory"] = {"limit": 256 << 20, "kernel": 64 << 20}
    bundle.config(["true"], mutate=mutate)
    p = rt("run", "-b", bundle, "c1")
    assert p.returncode == 0 and "debug" not in p.stderr, p.stderr
    for fmt in ("text", "json"):
        log = tmp_path / f"log.{fmt}"
        p = run_files([PYRT_RUNC, "--root", rt.root, "--debug", "--log", str(log), "--log-format", fmt,
                       "run", "-b", bundle, "c1"])
        assert p.returncode == 0, p.stderr
        notes = [l for l in p.stderr.splitlines() if l.startswith("pyrt-runc: debug: ")]
        assert any("memory.kernel" in l and "ignored" in l for l in notes), p.stderr
        lines = log.read_text().splitlines()
        if fmt == "json":
            entries = [json.loads(l) for l in lines]
            assert any(e["level"] == "debug" and "memory.kernel" in e["msg"] for e in entries), lines
        else:
            assert any(l.startswith('time="') and " level=debug msg=" in l and "memory.kernel" in l
                       for l in lines), lines


def test_kill_all_ps_table_exec_detached(rt, bundle, tmp_path):
    bundle.config(["sh", "-c", "sleep 60 & sleep 61"])
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    try:
        pid_file = tmp_path / "exec.pid"
        assert rt("exec", "-d", "--pid-file", str(pid_file), "c1", "sleep", "62").returncode == 0
        exec_pid = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(json.loads(rt("ps", "-f", "json", "c1").stdout)) < 3:
            time.sleep(0.02)
        pids = json.loads(rt("ps", "-f", "json", "c1").stdout)
        # sh, its background sleep (sh execs the last command itself) and the exec'd sleep
        assert len(pids) == 3 and exec_pid in pids
        table = rt("ps", "c1").stdout.splitlines()
        assert "PID" in table[0] and len(table) == 4
        assert rt("kill", "--all", "c1", "KILL").returncode == 0
        wait_status(rt, "c1", "stopped")
        for p in pids:
            wait_gone_pid(p)
    finally:
        rt("delete", "-f", "c1")


def wait_gone_pid(pid, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if open(f"/proc/{pid}/stat").read().split()[2] == "Z":
                return
        except FileNotFoundError:
            return
        time.sleep(0.02)
    raise AssertionError(f"{pid} still alive")


def test_unknown_capability_is_a_config_error(rt, bundle):
    bundle.config(mutate=lambda c: c["process"]["capabilities"]["bounding"].append("CAP_BOGUS"))
    assert "CAP_BOGUS" in one_line_error(rt("create", "-b", bundle, "c1"), 3)
    assert os.listdir(rt.root) == []


def test_exec_with_tty_over_console_socket(rt, bundle, tmp_path):
    """exec -t: the pty master arrives on our console socket; the process sees a tty."""
    import socket
    import threading

    from pyrt.runtime.console import recv_master
    bundle.config(["sleep", "60"])
    assert rt("run", "-d", "-b", bundle, "c1").returncode == 0
    path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    got = {}

    def receive():
        conn, _ = srv.accept()
        with conn:
            fd, _name = recv_master(conn)
        data = b""
        try:  # until the slave side is gone (EIO): closing earlier would hang up the process
            while True:
                chunk = os.read(fd, 1024)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        got["out"] = data.decode(errors="replace")
        os.close(fd)
    t = threading.Thread(target=receive, daemon=True)
    t.start()
    try:
        p = rt("exec", "-t", "--console-socket", path, "c1", "sh", "-c", "tty; echo done")
        assert p.returncode == 0, p.stderr
        t.join(10)
        assert "/dev/pts/" in got["out"] and "done" in got["out"]
    finally:
        srv.close()
        rt("delete", "-f", "c1")


def test_cgroup_error_fails_create_and_cleans_up(rt, bundle):
    bundle.config(mutate=lambda c: c["linux"]["resources"].update(cpu={"cpus": "77"}))
    line = one_line_error(rt("create", "-b", bundle, "c1"), 8)
    assert "cpuset.cpus" in line or "77" in line
    assert os.listdir(rt.root) == []


def test_delete_kills_leftovers_without_pid_namespace(rt, bundle):
    """Host pid namespace: a background child outlives the init; delete must kill it and
    remove the cgroup (the cgroup_parent fixture checks the latter)."""
    def mutate(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
        cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "proc"] + [
            {"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}]
    bundle.config(["sh", "-c", "sleep 60 > /dev/null 2>&1 & echo $!"], mutate=mutate)
    p = rt("run", "--keep", "-b", bundle, "c1")
    assert p.returncode == 0, p.stderr
    child = int(p.stdout.strip())
    assert os.path.exists(f"/proc/{child}")
    assert state_of(rt, "c1")["status"] == "stopped"
    assert rt("delete", "c1").returncode == 0
    wait_gone_pid(child)


def test_foreground_terminal_without_console_socket(rt, bundle):
    """`run` with process.terminal and no --console-socket relays its own stdin/stdout through
    the container's pty (our stdin here is a pipe, so the tty echoes what we type)."""
    bundle.config(["sh", "-c", "tty; read x; echo got-$x; exit 4"], terminal=True)
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.run([PYRT_RUNC, "--root", rt.root, "run", "-b", bundle, "c1"], input=b"hello\n",
                           stdout=out, stderr=subprocess.STDOUT, timeout=30)
        out.seek(0)
        text = out.read()
    assert p.returncode == 4, text
    assert "/dev/pts/0" in text and "got-hello" in text
    assert "--console-socket" in one_line_error(rt("create", "-b", bundle, "c2"), 2)
    assert os.listdir(rt.root) == []


def test_missing_bundle_flag_uses_cwd(rt, bundle, tmp_path):
    """Without --bundle the current directory is the bundle (runc's default): an empty one is
    reported, a real one works."""
    empty = tmp_path / "empty"
    empty.mkdir()
    p = run_files_in(empty, [PYRT_RUNC, "--root", rt.root, "create", "c1"])
    assert p.returncode == 4 and "config.json: no such file" in p.stderr, p.stderr
    bundle.config(["sh", "-c", "exit 7"])
    assert run_files_in(bundle, [PYRT_RUNC, "--root", rt.root, "run", "c2"]).returncode == 7
    assert os.listdir(rt.root) == []


def run_files_in(cwd, argv):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return run_files(argv)
    finally:
        os.chdir(old)

"""pyrt-runc's resident helper (pyrt/cli/runc_helper.py) through its C front door (pyrt-runc-fast,
cext/runc-front.c), with real processes: what a served verb prints and returns is what pyrt-runc
gives, a client that is not exactly the helper's equal is declined (and then gets what pyrt-runc
gives it), hooks run in the client, and the front door copes with no helper, a dead one and
closed stdio.

Every call's output goes through files: a created container's init inherits the caller's stdio,
so pipes would stay open. The helper's --verbose log (one line per call it was asked) tells what
it did; a call it never saw leaves no line.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile

import pytest

from tests.support import cgroup, leaks
from tests.support.bundle import (PYRT_RUNC, PYRT_RUNC_FAST, PYRT_RUNC_HELPER, base_config,
                                  make_bundle)
from tests.support.wait import until

PREFIX = "pyrt-runc-helper: "
SERVED_CPU = re.compile(r"^(pyrt-runc-helper: served \S+) \(\d+\.\d ms CPU\)$")


def log_lines(text: str) -> list[str]:
    """--verbose lines, each `served VERB (N ms CPU)` as `served VERB` (a line of another shape
    stays as it is, and fails the comparison)."""
    return [SERVED_CPU.sub(r"\1", line) for line in text.splitlines()]


def listening(path: str) -> bool:
    """Some socket listens on PATH (a dead helper's socket file is no entry of /proc/net/unix)."""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            # Flags 00010000: __SO_ACCEPTCON, listening
            if len(fields) == 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                return True
    return False


class Helper:
    """A pyrt-runc-helper on SOCK, its stderr (the --verbose lines) in LOG."""

    def __init__(self, sock: str, log: str):
        self.sock, self.log = sock, log
        with open(log, "ab") as f:
            self.proc = subprocess.Popen([PYRT_RUNC_HELPER, "--socket", sock, "--verbose"],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f)
        until(lambda: listening(sock) or self.proc.poll() is not None,
              what=f"helper socket {sock}")
        assert self.proc.poll() is None, f"helper exited {self.proc.returncode}: {self.read()}"
        self.env = {**os.environ, "PYRT_RUNC_HELPER": sock}

    def read(self) -> str:
        with open(self.log) as f:
            return f.read()

    def lines(self) -> list[str]:
        return log_lines(self.read())

    def mark(self) -> int:
        return len(self.lines())

    def since(self, mark: int) -> list[str]:
        return self.lines()[mark:]

    def busy(self) -> dict:
        """Its forks still alive (one lingers a moment after sending the exit code)."""
        return leaks.descendants(self.proc.pid)

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)


@pytest.fixture(scope="module")
def helper():
    # in the session's temp dir, open to all (pytest's is root's alone): only the socket's own
    # mode keeps other users out
    d = tempfile.mkdtemp(prefix="helper-")
    os.chmod(d, 0o755)
    h = Helper(os.path.join(d, "h.sock"), os.path.join(d, "h.log"))
    yield h
    until(lambda: not h.busy(), what="the helper's forks to end")
    assert h.stop() == 0, h.read()
    assert not os.path.exists(h.sock), "SIGTERM left the socket behind"
    assert "Traceback" not in h.read()
    shutil.rmtree(d)


@pytest.fixture(autouse=True)
def helper_idle(helper):
    """The leak check must not catch a fork that has replied but not yet exited."""
    yield
    until(lambda: not helper.busy(), what="the helper's forks to end")


def call(argv, env=None, cwd=None, pre=(), shell=None) -> subprocess.CompletedProcess:
    """ARGV (after the command prefix PRE, e.g. setpriv ...), stdio through files; SHELL: a
    `sh -c` script run instead, with "$@" the command."""
    cmd = [*pre, *argv] if shell is None else ["sh", "-c", shell, "sh", *pre, *argv]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd)
        rc = p.wait(timeout=60)
        out.seek(0)
        err.seek(0)
        res = subprocess.CompletedProcess(cmd, rc, out.read(), err.read())
        res.pid = p.pid
        return res


def outcome(p: subprocess.CompletedProcess) -> tuple[int, str, str]:
    return p.returncode, p.stdout, p.stderr


class Box:
    """One container in a --root of its own (pyrt-runc made, pyrt-runc removed)."""

    def __init__(self, tmp, name, cgroup_parent, helper, args=("sleep", "600"), hooks=None):
        self.root = str(tmp / f"root-{name}")
        self.bundle = str(tmp / f"bundle-{name}")
        self.cgroups_path = f"{cgroup_parent}-{name}"
        self.helper = helper
        cfg = base_config(args)
        cfg["linux"]["cgroupsPath"] = self.cgroups_path
        if hooks:
            cfg["hooks"] = hooks
        make_bundle(self.bundle, cfg)
        self.id = "c1"

    def plain(self, *args, **kw):
        return call([PYRT_RUNC, "--root", self.root, *args], **kw)

    def fast(self, *args, **kw):
        kw.setdefault("env", self.helper.env)
        return call([PYRT_RUNC_FAST, "--root", self.root, *args], **kw)

    def create(self):
        p = self.plain("create", "-b", self.bundle, self.id)
        assert p.returncode == 0, p.stderr
        return self

    def state(self) -> dict | None:
        p = self.plain("state", self.id)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def status(self) -> str | None:
        st = self.state()
        return st and st["status"]

    def wait_status(self, want: str):
        until(lambda: self.status() == want, timeout=20, what=f"{self.root} {self.id} {want}")

    def normalise(self, text: str, pid: int | None) -> str:
        text = text.replace(self.bundle, "<bundle>").replace(self.root, "<root>")
        text = re.sub(r'"created": "[^"]*"', '"created": "<created>"', text)
        if pid:
            text = re.sub(rf"\b{pid}\b", "<pid>", text)
        return text

    def remove(self):
        if os.path.isdir(self.root):
            for cid in os.listdir(self.root):
                self.plain("delete", "--force", cid)
            assert os.listdir(self.root) == [], f"state left in {self.root}"
        assert cgroup.existing(self.cgroups_path) == [], f"cgroups left: {self.cgroups_path}"


@pytest.fixture
def boxes(tmp_path, cgroup_parent, helper):
    made = []

    def make(name, **kw):
        made.append(Box(tmp_path, name, cgroup_parent, helper, **kw))
        return made[-1]
    yield make
    for b in made:
        b.remove()


def _verb(args) -> str:
    return next(a for a in args if not a.startswith("-"))


# -- 1. differential ------------------------------------------------------------------------------

SEQUENCE = [
    ("state", "c1"),                # created
    ("start", "c1"),
    ("state", "c1"),                # running
    ("kill", "c1", "9"),
    "wait stopped",
    ("state", "c1"),                # stopped
    ("kill", "c1", "9"),            # container not running
    ("kill", "--all", "c1", "9"),
    ("delete", "c1"),
    ("state", "c1"),                # does not exist
    ("delete", "c1"),
    ("delete", "--force", "c1"),    # missing, --force: success
    ("kill", "--bogus", "x"),       # a bad flag after the verb: the helper serves it, pyrt-runc says
]


def test_served_sequence_equals_pyrt_runc(boxes, helper):
    fast, plain = boxes("fast").create(), boxes("plain").create()
    pids = {b: b.state()["pid"] for b in (fast, plain)}
    got: dict[Box, list] = {fast: [], plain: []}
    for step in SEQUENCE:
        if step == "wait stopped":
            for b in (fast, plain):
                b.wait_status("stopped")
            continue
        mark = helper.mark()
        f = fast.fast(*step)
        assert helper.since(mark) == [f"{PREFIX}served {step[0]}"], (step, f)
        p = plain.plain(*step)
        assert helper.since(mark) == [f"{PREFIX}served {step[0]}"], "pyrt-runc asked the helper"
        for b, res in ((fast, f), (plain, p)):
            got[b].append((step, res.returncode, b.normalise(res.stdout, pids[b]),
                           b.normalise(res.stderr, pids[b])))
    assert got[fast] == got[plain]
    served = [line for line in helper.read().splitlines() if " served " in line]
    assert served and all(SERVED_CPU.match(line) for line in served), served
    # and they were the right answers, not the same wrong ones
    codes = [rc for _, rc, _, _ in got[fast]]
    assert codes == [0, 0, 0, 0, 0, 1, 0, 0, 4, 4, 0, 2], got[fast]
    statuses = [re.search(r'"status": "(\w+)"', out)[1] for step, rc, out, _ in got[fast]
                if step[0] == "state" and rc == 0]
    assert statuses == ["created", "running", "stopped"]
    assert "container not running" in got[fast][5][3]
    assert "does not exist" in got[fast][8][3]
    assert "--bogus" in got[fast][11][3] and "Traceback" not in got[fast][11][3]
    assert not os.listdir(fast.root) and not os.listdir(plain.root)


# -- 2. attacks -----------------------------------------------------------------------------------

# Run the command under a seccomp filter that allows everything: "Seccomp: 2" is confinement all
# the same (a container's processes have one), and the helper has none.
SECCOMP = r"""
import ctypes, os, struct, sys
insn = struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000)            # BPF_RET|BPF_K: SECCOMP_RET_ALLOW
buf = ctypes.create_string_buffer(insn)
prog = struct.pack("HxxxxxxQ", 1, ctypes.addressof(buf))      # struct sock_fprog
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(22, 2, ctypes.c_char_p(prog), 0, 0):            # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    sys.exit(f"seccomp: {os.strerror(ctypes.get_errno())}")
os.execv(sys.argv[1], sys.argv[1:])
"""

ATTACKS = {
    # bounding set without CAP_SYS_ADMIN: the exec'd front door's permitted set lacks it too
    "capability": (["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", "--"], "CapPrm"),
    "mount-namespace": (["unshare", "-m"], "mnt namespace"),
    "pid-namespace": (["unshare", "-p", "-f"], "pid namespace"),
    # --mount-proc makes a mount namespace too: that is the first difference checked
    "pid-namespace-own-proc": (["unshare", "-p", "-f", "--mount-proc"], "mnt namespace"),
    "net-namespace": (["unshare", "-n"], "net namespace"),
    "uts-namespace": (["unshare", "-u"], "uts namespace"),
    # root of a user namespace of its own: uid 0 to the socket, no capability in ours
    "user-namespace": (["unshare", "-U", "-r"], "user namespace"),
    "no-new-privs": (["setpriv", "--no-new-privs"], "NoNewPrivs"),
    "seccomp": (["/usr/bin/python3", "-c", SECCOMP], "Seccomp"),
    "ipc-namespace": (["unshare", "-i"], "ipc namespace"),
    "cgroup-namespace": (["unshare", "-C"], "cgroup namespace"),
    "time-namespace": (["unshare", "-T", "-f"], "time namespace"),
}

# harmless calls, one per verb the helper takes (start/delete on a missing container)
PROBES = [("state", "c1"), ("kill", "c1", "0"), ("start", "gone"), ("delete", "gone")]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_is_declined(boxes, helper, attack):
    pre, why = ATTACKS[attack]
    box = boxes("a").create()
    box.plain("start", "c1")
    box.wait_status("running")
    for probe in PROBES:
        mark = helper.mark()
        f = box.fast(*probe, pre=pre)
        assert helper.since(mark) == [f"{PREFIX}declined {probe[0]}: {why}"], (attack, probe)
        p = box.plain(*probe, pre=pre)
        assert outcome(f) == outcome(p), (attack, probe)
        assert helper.since(mark) == [f"{PREFIX}declined {probe[0]}: {why}"]
    # the destructive one too: declined, then done by the client itself
    mark = helper.mark()
    f = box.fast("delete", "--force", "c1", pre=pre)
    assert helper.since(mark) == [f"{PREFIX}declined delete: {why}"]
    if f.returncode == 0:
        assert box.state() is None
    else:
        assert box.status() == "running", f.stderr


def test_chrooted_client_is_declined(helper, tmp_path):
    """Same namespaces, another root: the front door and its libraries copied into a directory,
    the helper's socket reached through a hard link. What the client then does (its pyrt-runc is
    not in there) is what it does with no helper at all."""
    jail = tmp_path / "jail"
    jail.mkdir()
    os.link(helper.sock, jail / "h.sock")
    libs = re.findall(r"(?:=> |^\s*)(/\S+)", subprocess.run(["ldd", PYRT_RUNC_FAST], capture_output=True,
                                                            text=True, check=True).stdout, re.M)
    for src in [PYRT_RUNC_FAST, *libs]:
        dst = jail / src.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-L", src, str(dst)], check=True)
    argv = ["chroot", str(jail), PYRT_RUNC_FAST, "state", "c1"]
    mark = helper.mark()
    f = call(argv, env={**os.environ, "PYRT_RUNC_HELPER": "/h.sock"})
    assert helper.since(mark) == [f"{PREFIX}declined state: root directory"]
    alone = call(argv, env={**os.environ, "PYRT_RUNC_HELPER": "/none.sock"})
    assert outcome(f) == outcome(alone)
    assert f.returncode == 127 and f"cannot run {PYRT_RUNC}" in f.stderr, f
    assert helper.since(mark) == [f"{PREFIX}declined state: root directory"]


def test_unprivileged_client_cannot_connect(boxes, helper):
    st = os.stat(helper.sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    box = boxes("u").create()
    box.plain("start", "c1")
    box.wait_status("running")
    nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]
    reach = call(["sh", "-c", 'test -x "$1"', "sh", os.path.dirname(helper.sock)], pre=nobody)
    assert reach.returncode == 0, "the socket's directory keeps them out: its mode is not tested"
    for args in (("kill", "c1", "9"), ("delete", "--force", "c1"), ("state", "c1")):
        mark = helper.mark()
        f = box.fast(*args, pre=nobody)
        p = box.plain(*args, pre=nobody)
        assert helper.since(mark) == [], "an unprivileged client reached the helper"
        assert outcome(f) == outcome(p), args
        assert f.returncode != 0 and "permission denied" in f.stderr.lower(), f
        assert box.status() == "running"


# -- 3. hooks -------------------------------------------------------------------------------------

def _hook(marker: str) -> dict:
    # the hook's parent: the process that ran it (pyrt-runc exec'd by the front door keeps its pid)
    return {"path": "/bin/sh", "args": ["sh", "-c", f'echo "$PPID" >> {marker}']}


def _marks(marker: str) -> list[str]:
    try:
        with open(marker) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("hook, verb", [("poststop", "delete"), ("poststart", "start")])
def test_hook_runs_in_the_client(boxes, helper, tmp_path, hook, verb):
    marker = str(tmp_path / hook)
    box = boxes("h", hooks={hook: [_hook(marker)]}).create()
    mark = helper.mark()
    f = box.fast(verb, "c1")
    assert helper.since(mark) == [f"{PREFIX}declined {verb}: {hook} hooks"]
    assert f.returncode == 0, f.stderr
    assert _marks(marker) == [str(f.pid)], "the hook ran other than once, as the client's child"
    if verb == "delete":
        assert box.state() is None
        return
    assert box.status() == "running"
    # a verb without a hook of its own on the same container is still served
    mark = helper.mark()
    assert box.fast("kill", "c1", "9").returncode == 0
    assert helper.since(mark) == [f"{PREFIX}served kill"]
    box.wait_status("stopped")
    assert _marks(marker) == [str(f.pid)]


# -- 4. robustness --------------------------------------------------------------------------------

def test_stale_socket_falls_back(boxes, helper, tmp_path):
    box = boxes("s").create()
    dead = Helper(str(tmp_path / "stale.sock"), str(tmp_path / "stale.log"))
    try:
        assert dead.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        if dead.proc.poll() is None:
            dead.stop(signal.SIGKILL)
    assert os.path.exists(dead.sock) and not listening(dead.sock), "nothing stale to test"
    for args in (("state", "c1"), ("state", "missing"), ("kill", "c1", "0")):
        f = box.fast(*args, env=dead.env)
        assert outcome(f) == outcome(box.plain(*args)), args
    assert box.fast("state", "missing", env=dead.env).returncode == 4
    assert json.loads(box.fast("state", "c1", env=dead.env).stdout)["status"] == "created"
    assert dead.lines() == []
    # a new helper takes the dead one's socket over
    again = Helper(dead.sock, dead.log)
    try:
        assert box.fast("state", "c1", env=again.env).returncode == 0
        assert again.lines() == [f"{PREFIX}served state"]
        until(lambda: not again.busy(), what="the second helper's fork to end")
    finally:
        assert again.stop() == 0
    assert not os.path.exists(dead.sock)


def test_second_helper_on_the_same_socket_exits(boxes, helper):
    p = subprocess.run([PYRT_RUNC_HELPER, "--socket", helper.sock, "--verbose"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    assert (p.returncode, p.stderr) == (1, f"{PREFIX}another helper serves {helper.sock}\n")
    # the first one still serves
    box = boxes("d").create()
    mark = helper.mark()
    assert box.fast("state", "c1").returncode == 0
    assert helper.since(mark) == [f"{PREFIX}served state"]


def test_closed_stdin_falls_back(boxes, helper):
    """No fd 0 to hand over: the front door runs pyrt-runc itself (the helper never hears of it)."""
    box = boxes("i").create()
    mark = helper.mark()
    for args in (("state", "c1"), ("kill", "c1", "0"), ("state", "missing")):
        f = box.fast(*args, shell='exec "$@" 0<&-')
        p = box.plain(*args, shell='exec "$@" 0<&-')
        assert outcome(f) == outcome(p), args
    assert json.loads(box.fast("state", "c1", shell='exec "$@" 0<&-').stdout)["status"] == "created"
    assert helper.since(mark) == []


def test_verbs_not_for_the_helper(boxes, helper):
    """--version, create and exec run in the caller (their processes are its children)."""
    mark = helper.mark()
    v = call([PYRT_RUNC_FAST, "--version"], env=helper.env)
    assert outcome(v) == outcome(call([PYRT_RUNC, "--version"])) and v.returncode == 0
    assert v.stdout.startswith("pyrt-runc version ")
    box = boxes("x")
    c = box.fast("create", "-b", box.bundle, "c1")
    assert c.returncode == 0, c.stderr
    assert box.status() == "created"
    assert helper.since(mark) == []
    assert box.fast("start", "c1").returncode == 0
    assert helper.since(mark) == [f"{PREFIX}served start"]
    e = box.fast("exec", "c1", "sh", "-c", "echo hi; exit 7")
    assert (e.returncode, e.stdout) == (7, "hi\n"), e.stderr
    assert helper.since(mark) == [f"{PREFIX}served start"]


# -- 5. exit codes, working directory, umask ------------------------------------------------------

def test_exit_codes_pass_through(boxes, helper):
    box = boxes("e")
    cases = {
        ("state", "missing"): 4,
        ("kill", "missing", "9"): 4,
        ("delete", "missing"): 4,
        ("start", "missing"): 4,
        ("kill",): 2,                   # missing argument
        ("state", "a", "b"): 2,         # one too many
        ("kill", "missing", "NOSUCHSIG"): None,     # whatever pyrt-runc says
    }
    for args, want in cases.items():
        mark = helper.mark()
        f = box.fast(*args)
        assert helper.since(mark) == [f"{PREFIX}served {args[0]}"], args
        p = box.plain(*args)
        assert outcome(f) == outcome(p), args
        if want is not None:
            assert f.returncode == want, (args, f)
        assert f.returncode != 0 and f.stderr.startswith("pyrt-runc: "), (args, f)


def test_cwd_and_umask_are_the_clients(boxes, helper, tmp_path):
    """A relative --root and --log resolve in the client's working directory, the log file gets
    the client's umask; both as pyrt-runc without the helper."""
    box = boxes("w")
    logs = {}
    for name, binary in (("fast", PYRT_RUNC_FAST), ("plain", PYRT_RUNC)):
        work = tmp_path / f"cwd-{name}"
        work.mkdir()
        mark = helper.mark()
        p = call([binary, "--root", "rel-root", "--log", "verb.log", "--log-format", "json", "state", "nope"],
                 env=helper.env, cwd=str(work), shell='umask 037; exec "$@"')
        assert helper.since(mark) == ([f"{PREFIX}served state"] if name == "fast" else [])
        log = work / "verb.log"
        assert stat.S_IMODE(log.stat().st_mode) == 0o640, name
        entry = json.loads(log.read_text())
        logs[name] = (p.returncode, p.stdout, p.stderr, entry["level"], entry["msg"])
        assert not (work / "rel-root").exists() or os.listdir(work / "rel-root") == []
        assert box.root not in p.stderr
    assert logs["fast"] == logs["plain"]
    assert logs["fast"][0] == 4 and "does not exist" in logs["fast"][4]


# -- 6. the helper's own life ---------------------------------------------------------------------

def blocked_fork(h: Helper) -> int:
    """The helper's fork once it waits for a container's lock (/proc/locks: `-> FLOCK ... PID`):
    the verb is under way, after "R"."""
    def find():
        forks = h.busy()
        with open("/proc/locks") as f:
            for fields in map(str.split, f):
                if fields[1] == "->" and int(fields[5]) in forks:
                    return int(fields[5])
    return until(find, what="the helper's fork to wait for the container's lock")


class ContainerLock:
    """pyrt-runc's own lock on a container (its directory's flock): a served kill waits on it."""

    def __init__(self, box: Box):
        self.fd = os.open(os.path.join(box.root, box.id), os.O_RDONLY | os.O_DIRECTORY)

    def __enter__(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def background(argv, env, tmp_path, name):
    out, err = open(tmp_path / f"{name}.out", "w+"), open(tmp_path / f"{name}.err", "w+")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)

    def finish():
        rc = p.wait(timeout=30)
        out.seek(0)
        err.seek(0)
        res = (rc, out.read(), err.read())
        out.close()
        err.close()
        return res
    return finish


def test_helper_gone_while_a_verb_runs(boxes, helper, tmp_path):
    """The helper's fork dies after "R": the client says so and fails, and never runs the verb a
    second time (it may have done part of its work)."""
    box = boxes("k").create()
    with ContainerLock(box):
        mark = helper.mark()
        finish = background([PYRT_RUNC_FAST, "--root", box.root, "kill", "c1", "9"], helper.env, tmp_path, "k")
        os.kill(blocked_fork(helper), signal.SIGKILL)
        rc, out, err = finish()
    assert helper.since(mark) == [], "a served line for a verb that never ended"
    assert (rc, out, err) == (1, "", f"pyrt-runc: the helper at {helper.sock} ended while running kill; "
                                     "its outcome is unknown\n")
    assert box.status() == "created", "the client ran the verb after all"


def test_stopping_the_helper_spares_calls_in_flight(boxes, tmp_path):
    box = boxes("t").create()
    h = Helper(str(tmp_path / "t.sock"), str(tmp_path / "t.log"))
    try:
        with ContainerLock(box):
            finish = background([PYRT_RUNC_FAST, "--root", box.root, "kill", "c1", "9"], h.env, tmp_path, "t")
            fork = blocked_fork(h)
            assert h.stop() == 0
            assert not os.path.exists(h.sock)
        assert finish() == (0, "", "")
        # the fork, orphaned, ends on its own (the session's reaper collects it)
        until(lambda: (leaks._stat(fork) or ("X",))[0] in ("Z", "X"), what="the orphaned fork to end")
        assert h.lines() == [f"{PREFIX}served kill"]
        box.wait_status("stopped")
    finally:
        if h.proc.poll() is None:
            h.stop(signal.SIGKILL)


def test_helper_started_with_stdio_closed(boxes, tmp_path):
    """A helper started with fds 0-2 closed (a bare supervisor): its lock, listener and clients'
    connections must not take those numbers (its --verbose line would go to a client), and the
    verb must still print on the client's stdout."""
    box = boxes("n").create()
    sock, log = str(tmp_path / "n.sock"), str(tmp_path / "n.log")
    for closed, logged in (("0<&- 1>&-", True), ("0<&- 1>&- 2>&-", False)):
        # the shell makes no fd of its own: exec leaves the helper exactly those closed
        script = f'exec {PYRT_RUNC_HELPER} --socket "$1" --verbose {closed}' + (' 2>>"$2"' if logged else "")
        p = subprocess.Popen(["sh", "-c", script, "sh", sock, log], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            until(lambda: listening(sock) or p.poll() is not None, what="the helper's socket")
            assert p.poll() is None
            env = {**os.environ, "PYRT_RUNC_HELPER": sock}
            for fd in (0, 1, 2):
                target = os.readlink(f"/proc/{p.pid}/fd/{fd}")
                assert target == ("/dev/null" if fd < 2 or not logged else log), (closed, fd, target)
            for args in (("state", "c1"), ("state", "missing"), ("kill", "--bogus", "x")):
                f = box.fast(*args, env=env)
                assert outcome(f) == outcome(box.plain(*args)), (closed, args)
            until(lambda: not leaks.descendants(p.pid), what="the helper's forks to end")
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=20) == 0
    with open(log) as f:
        assert log_lines(f.read()) == [f"{PREFIX}served state", f"{PREFIX}served state", f"{PREFIX}served kill"]


def test_a_failed_fork_drops_one_call_not_the_helper(boxes, tmp_path, cgroup_parent):
    """No fork (pids limit reached): that client runs the verb itself, the helper lives on."""
    box = boxes("f").create()
    h = Helper(str(tmp_path / "f.sock"), str(tmp_path / "f.log"))
    pids = cgroup.controller_dir(f"{cgroup_parent}-helper", "pids")
    os.mkdir(pids)
    try:
        with open(os.path.join(pids, "cgroup.procs"), "w") as f:
            f.write(str(h.proc.pid))
        with open(os.path.join(pids, "pids.max"), "w") as f:
            f.write("1")
        f = box.fast("state", "c1", env=h.env)
        assert outcome(f) == outcome(box.plain("state", "c1"))
        assert h.proc.poll() is None, f"the helper died: {h.read()}"
        with open(os.path.join(pids, "pids.max"), "w") as f:
            f.write("max")
        mark = h.mark()
        assert box.fast("state", "c1", env=h.env).returncode == 0
        assert h.since(mark) == [f"{PREFIX}served state"]
        until(lambda: not h.busy(), what="the helper's fork to end")
    finally:
        if h.proc.poll() is None:
            h.stop()
        os.rmdir(pids)


def test_client_killed_while_it_waits(boxes, helper, tmp_path):
    """The client dies after "R" (its caller's timeout): the verb, already under way, ends; its
    exit code has nobody to go to, and that is no error (no traceback on the client's stderr,
    which the fork holds, nor in the helper's log)."""
    box = boxes("w").create()
    with ContainerLock(box):
        mark = helper.mark()
        out, err = open(tmp_path / "w.out", "w+"), open(tmp_path / "w.err", "w+")
        p = subprocess.Popen([PYRT_RUNC_FAST, "--root", box.root, "kill", "c1", "9"], stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, env=helper.env)
        blocked_fork(helper)
        p.kill()
        assert p.wait(timeout=20) == -signal.SIGKILL
    until(lambda: not helper.busy(), what="the fork to end")
    assert helper.since(mark) == [f"{PREFIX}served kill"]
    box.wait_status("stopped")
    assert (tmp_path / "w.out").read_text() == (tmp_path / "w.err").read_text() == ""
    out.close()
    err.close()


def test_request_too_big_for_the_socket(boxes, helper):
    """An environment larger than one socket message: the front door cannot send it and runs
    pyrt-runc itself; the helper's fork finds no request and says so (no traceback)."""
    box = boxes("b").create()
    env = {**helper.env, **{f"BIG{i}": "x" * 100_000 for i in range(6)}}
    with open("/proc/sys/net/core/wmem_default") as f:
        fits = 600_000 < int(f.read())
    mark = helper.mark()
    f = box.fast("state", "c1", env=env)
    assert outcome(f) == outcome(box.plain("state", "c1", env=env))
    assert f.returncode == 0
    until(lambda: not helper.busy(), what="the fork to end")
    assert helper.since(mark) == [f"{PREFIX}served state" if fits else
                                  f"{PREFIX}declined ?: no request (the client gave up: one too big for the socket?)"]


# Inside a pid namespace of its own (ns_last_pid is then ours to set): a helper; a client with
# no_new_privs connects, hands its connection to us and exits; a full-privileged `sleep` takes its
# pid; then the request goes out on the dead client's connection. Prints the reply, then what the
# pre-6.5 path (pidfd_open of the pid, checked against the accept time) says of that pid.
PID_REUSE = r"""
import ctypes, errno, os, signal, socket, subprocess, sys, time
from pyrt.linux import peer
helper, path, log = sys.argv[1:4]
h = subprocess.Popen([helper, "--socket", path, "--verbose"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
deadline = time.monotonic() + 20
while not any(line.split()[-1] == path for line in list(open("/proc/net/unix"))[1:]):
    assert time.monotonic() < deadline and h.poll() is None, "no helper"
    time.sleep(0.01)
a, b = socket.socketpair()
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)      # PR_SET_NO_NEW_PRIVS
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.connect(path)
    socket.send_fds(a, [b"c"], [c.fileno()])
    os._exit(0)
_, fds, _, _ = socket.recv_fds(b, 1, 1)
conn = socket.socket(fileno=fds[0])
os.waitpid(pid, 0)
connected = time.clock_gettime(time.CLOCK_BOOTTIME)
# start times are in clock ticks: the victim starts a tick later than the client connected
hz = os.sysconf("SC_CLK_TCK")
while time.clock_gettime(time.CLOCK_BOOTTIME) * hz < int(connected * hz) + 1:
    time.sleep(1 / hz / 4)
for _ in range(100):
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(pid - 1))
    victim = subprocess.Popen(["sleep", "100"])
    if victim.pid == pid:
        break
    victim.kill()
    victim.wait()
else:
    sys.exit("could not hand the pid on")
argv = ["--root", "/nonexistent-root", "state", "nope"]
env = [f"{k}={v}" for k, v in os.environ.items()]
msg = "\0".join(["1", str(len(argv)), *argv, str(len(env)), *env, os.getcwd(), "22"]) + "\0"
socket.send_fds(conn, [msg.encode()], [0, 1, 2])
print("reply:", conn.recv(2).decode())

class Old:      # a kernel without SO_PEERPIDFD
    def getsockopt(self, *a):
        raise OSError(errno.ENOPROTOOPT, "no")
try:
    os.close(peer.pidfd(Old(), pid, connected))
    print("pre-6.5: served")
except ProcessLookupError:
    print("pre-6.5: gone")
os.close(peer.pidfd(Old(), pid, time.clock_gettime(time.CLOCK_BOOTTIME)))
victim.kill()
victim.wait()
h.send_signal(signal.SIGTERM)
sys.exit(h.wait())
"""


def test_a_client_gone_is_not_judged_by_its_pid(tmp_path):
    sock, log = str(tmp_path / "p.sock"), str(tmp_path / "p.log")
    p = call(["unshare", "-p", "-f", "--mount-proc", sys.executable, "-c", PID_REUSE, PYRT_RUNC_HELPER, sock, log])
    assert (p.returncode, p.stdout) == (0, "reply: F\npre-6.5: gone\n"), p.stderr
    with open(log) as f:
        assert f.read() == f"{PREFIX}declined state: client gone\n"


def test_left_to_pyrt_runc_itself(boxes, helper):
    """Help and global flags pyrt-runc rejects: declined (pyrt-runc itself answers, click and all)."""
    box = boxes("l").create()
    for args, why in ((("kill", "--help"), "kill: verb"), (("--log-format", "xml", "state", "c1"), "?: arguments"),
                      (("--bogus", "state", "c1"), "?: arguments"), (("state", "-h"), "state: verb")):
        mark = helper.mark()
        f = box.fast(*args)
        assert helper.since(mark) == [f"{PREFIX}declined {why}"], args
        assert outcome(f) == outcome(box.plain(*args)), args
    assert "Usage:" in box.fast("kill", "--help").stdout


def test_many_clients_at_once(boxes, helper, tmp_path):
    box = boxes("m").create()
    mark = helper.mark()
    n = 24
    runs = [background([PYRT_RUNC_FAST, "--root", box.root, *(("state", "c1") if i % 2 else ("kill", "c1", "0"))],
                       helper.env, tmp_path, f"m{i}") for i in range(n)]
    results = [finish() for finish in runs]
    assert [rc for rc, _, _ in results] == [0] * n, results
    assert all(json.loads(out)["status"] == "created" for _, out, _ in results[1::2])
    assert sorted(helper.since(mark)) == sorted([f"{PREFIX}served state", f"{PREFIX}served kill"] * (n // 2))


def test_a_confined_helper_declines_clients_confined_further(boxes, tmp_path):
    """A helper under a seccomp filter (a hardened service unit): a client that stacked a filter
    of its own on top (same mode, one more filter) is declined, and so is one with none."""
    box = boxes("c").create()
    sock, log = str(tmp_path / "c.sock"), str(tmp_path / "c.log")
    seccomp = ["/usr/bin/python3", "-c", SECCOMP]
    with open(log, "ab") as f:
        h = subprocess.Popen([*seccomp, PYRT_RUNC_HELPER, "--socket", sock, "--verbose"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f)
    try:
        until(lambda: listening(sock) or h.poll() is not None, what="the confined helper")
        env = {**os.environ, "PYRT_RUNC_HELPER": sock}
        for pre, why in ((seccomp * 2, "Seccomp_filters"), ((), "Seccomp")):
            f = box.fast("state", "c1", env=env, pre=pre)
            assert outcome(f) == outcome(box.plain("state", "c1", pre=pre))
            with open(log) as f:
                assert f.read().splitlines()[-1] == f"{PREFIX}declined state: {why}"
        until(lambda: not leaks.descendants(h.pid), what="the helper's forks to end")
    finally:
        h.send_signal(signal.SIGTERM)
        assert h.wait(timeout=20) == 0


def test_socket_path_too_long_for_an_address(boxes, helper):
    """PYRT_RUNC_HELPER longer than sun_path holds: no helper to ask, pyrt-runc answers."""
    box = boxes("p").create()
    env = {**helper.env, "PYRT_RUNC_HELPER": os.path.dirname(helper.sock) + "/" + "x" * 120}
    mark = helper.mark()
    for args in (("state", "c1"), ("kill", "c1", "0"), ("state", "missing")):
        f = box.fast(*args, env=env)
        assert outcome(f) == outcome(box.plain(*args)), args
    assert box.fast("state", "missing", env=env).returncode == 4
    assert helper.since(mark) == []

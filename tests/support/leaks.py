"""What a test may leave behind on the host: snapshotted before, compared after, attributed, cleaned.

The host is shared (other worktrees run their suites beside this one), so a thing that appeared
during a test counts against it only when it is provably this run's:

- processes: live descendants of the session's reaper (tests/support/reaper.py makes it a child
  subreaper, so orphans stay below it) that did not exist before the test; plus any process inside
  a cgroup attributed to the run.
- cgroups (every mounted hierarchy, read only): a new directory is the run's when its path carries
  the run's marker (the `cgroup_parent` fixture's `pyrt-test-<pid>-N`), when it holds one of the
  run's processes, or when it lies beneath this process's own cgroup, that cgroup is not the
  hierarchy root (then it is this workplace's alone: here the memory hierarchy, on a systemd host
  every one) and no other test session (a process named reaper.NAME) sits in it beside ours. The
  same relative path is then the run's in every other hierarchy too, since a runtime lays one
  cgroupsPath out in all of them.
- mounts: the mount point or any path in its mountinfo line (overlay's lowerdir=, a bind's
  source) lies under the run's own directories: its session temp dir (TMPDIR points there for
  the whole run and every subprocess), pytest's basetemp, the repository.
- state dirs: a new entry in a runtime's default --root whose state.json names one of those
  directories.
- netns and links: a name carrying tag() (nothing in the suite makes host links or named netns
  yet; a fixture that does should name them with it).
- pyrt's own network objects in the VM's network namespace (its bridges pyrt0 / pyrt-*, its veths
  pyv*, its nftables table `pyrt`, ip_forward turned on): nothing of the suite may make them here
  (engines default to --network none in the suite; bridge tests run in namespaces of their own),
  so any that appear during a test fail it, whoever made them. They are reported, never removed:
  the VM's namespace is not ours to write.

What appeared and is not attributable is someone else's: it never fails a test; the session's
summary lists it. Cleaning touches only what is attributed: processes are SIGKILLed, mounts
lazily unmounted, cgroups removed only beneath this process's own cgroup (a hierarchy root and
anything outside our own cgroup is read, never written).
"""
from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

from tests.support import reaper

# Default state roots of the runtimes the suite drives (tests pass --root; these must not grow).
STATE_ROOTS = ("/run/pyrt-runc", "/run/runc", "/run/crun")

# Cgroup trees a longer-lived fixture owns and checks at its own end: a CgroupJail, in which the
# callers' daemons keep cgroups for the module's life (podman's libpod_parent/conmon, made on first
# use). What the tests leave inside is checked per test by the callers' own fixtures (no container
# left: callers.check_cleared) and processes by this check as everywhere.
_managed: set[str] = set()


def manage(dirs) -> None:
    _managed.update(dirs)


def release(dirs) -> None:
    _managed.difference_update(dirs)


class Run:
    """This test session: who it is and which directories are its own."""

    def __init__(self, paths: list[str]):
        self.pid = os.getpid()
        self.root_pid = reaper.reaper_pid() or self.pid
        self.paths = [os.path.realpath(p) for p in paths]
        self.marker = f"pyrt-test-{self.pid}-"
        self.hierarchies = cgroup_hierarchies()
        self.cgroup_tree = _CgroupTree([mnt for mnt, _ in self.hierarchies])

    def add_path(self, p: str) -> None:
        p = os.path.realpath(p)
        if p not in self.paths:
            self.paths.append(p)

    def owns_text(self, text: str) -> bool:
        """TEXT names one of the run's directories or a path beneath one."""
        return any(re.search(re.escape(p) + r"(?=[/\s,:]|$)", text) for p in self.paths)


def tag(pid: int | None = None) -> str:
    """A short name tag (fits a 15-byte link name) marking host objects as this run's."""
    return f"pt{(pid or os.getpid()):x}"


# -- processes ---------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[str, str] | None:
    """(state, starttime) of PID, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], fields[19]


def _children(pid: int) -> list[int]:
    """Children of every thread of PID (a thread's fork is that thread's child)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def descendants(root: int) -> dict[int, str]:
    """Live (non-zombie) descendants of ROOT: pid -> starttime (so a reused pid is a new process).
    Walks the kernel's children lists from ROOT: cheap, whatever else runs on the host."""
    out, todo = {}, [root]
    while todo:
        for c in _children(todo.pop()):
            st = _stat(c)
            if st is None:
                continue
            if st[0] not in ("Z", "X"):
                out[c] = st[1]
            todo.append(c)
    return out


def run_processes(run: Run) -> dict[int, str]:
    """The run's processes other than the pytest process itself."""
    procs = descendants(run.root_pid)
    procs.pop(run.pid, None)
    return procs


def child_pids() -> set[int]:
    """Live processes whose parent is this test process."""
    return {c for c in _children(os.getpid()) if (_stat(c) or ("Z",))[0] not in ("Z", "X")}


def describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        argv = "?"
    return f"{pid} ({argv[:60]})"


# -- cgroups -----------------------------------------------------------------------------------

def cgroup_hierarchies() -> list[tuple[str, str]]:
    """(mount point, this process's cgroup directory in it) for every mounted hierarchy."""
    own_v2, own_v1 = None, {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and ctrls == "":
                own_v2 = path
            for c in ctrls.split(","):
                if c:
                    own_v1[c] = path
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, opts = fields[sep + 1], fields[sep + 3].split(",")
            if fstype == "cgroup2":
                own = own_v2
            elif fstype == "cgroup":
                own = next((own_v1[o] for o in opts if o in own_v1), None)
            else:
                continue
            mnt, root = fields[4], fields[3]
            if own is None:
                own_dir = mnt
            else:
                inner = own[len(root):] if root != "/" and own.startswith(root) else own
                own_dir = os.path.normpath(os.path.join(mnt, inner.lstrip("/")))
            out.append((mnt, own_dir))
    return out


class _CgroupTree:
    """The set of cgroup directories, kept up to date from inotify: a directory made is added
    (with what is already beneath it), one removed is dropped with its subtree. A full walk costs
    tens of milliseconds on a busy host with many cgroups; this costs one read() per snapshot."""

    _CREATE, _DELETE, _MOVED, _OVERFLOW, _ISDIR = 0x100, 0x200, 0x40 | 0x80, 0x4000, 0x40000000
    _MASK = 0x100 | 0x200 | 0x40 | 0x80 | 0x1000000  # IN_CREATE|IN_DELETE|IN_MOVED_*|IN_ONLYDIR

    def __init__(self, tops: list[str]):
        self.tops = tops
        self.cache: set[str] | None = None
        self.wds: dict[int, str] = {}
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)

    def dirs(self) -> set[str]:
        if self.fd < 0:
            return self._walk(list(self.tops), watch=False)
        if self.cache is None:
            self.cache = self._walk(list(self.tops), watch=True)
        else:
            self._apply(self._events())
        return set(self.cache)

    def _events(self) -> bytes:
        data = b""
        while True:
            try:
                data += os.read(self.fd, 65536)
            except BlockingIOError:
                return data

    def _apply(self, data: bytes) -> None:
        off = 0
        while off < len(data):
            wd, mask, _, n = struct.unpack_from("iIII", data, off)
            name = data[off + 16: off + 16 + n].split(b"\0", 1)[0].decode()
            off += 16 + n
            parent = self.wds.get(wd)
            if mask & (self._OVERFLOW | self._MOVED) or (parent is None and mask & (self._CREATE | self._DELETE)):
                self.cache = self._walk(list(self.tops), watch=True)  # lost track: start again
                self._events()
                return
            if not mask & self._ISDIR or parent is None:
                continue
            path = os.path.join(parent, name)
            if mask & self._CREATE:
                self.cache.add(path)
                self.cache |= self._walk([path], watch=True)
            elif mask & self._DELETE:
                self.cache = {d for d in self.cache if d != path and not d.startswith(path + "/")}

    def _walk(self, todo: list[str], watch: bool) -> set[str]:
        out = set()
        while todo:
            d = todo.pop()
            if watch:  # before the listing: what is made after it is an event
                wd = self.libc.inotify_add_watch(self.fd, os.fsencode(d), self._MASK)
                if wd >= 0:
                    self.wds[wd] = d
            try:
                with os.scandir(d) as it:
                    for e in it:
                        if e.is_dir(follow_symlinks=False):
                            out.add(e.path)
                            todo.append(e.path)
            except OSError:  # removed while we looked
                pass
        return out


def cgroup_dirs(run: Run) -> set[str]:
    """Every cgroup directory below every hierarchy root (read only)."""
    return run.cgroup_tree.dirs()


def _cgroup_pids(d: str) -> set[int]:
    pids = set()
    for sub, _, _ in os.walk(d):
        try:
            with open(os.path.join(sub, "cgroup.procs")) as f:
                pids.update(int(x) for x in f.read().split())
        except OSError:
            pass
    return pids


def _under(path: str, top: str) -> bool:
    return path.startswith(top.rstrip("/") + "/")


def _ancestors(pid: int) -> set[int]:
    out = set()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            break
        out.add(pid)
    return out


def other_sessions(run: Run, own: str) -> set[int]:
    """Reapers of other test sessions sitting in cgroup OWN beside ours: while there is one, a
    new cgroup beneath OWN may be theirs. Sessions nested in ours (a test running pytest) and the
    one ours is nested in (waiting for the test that started us) do not count."""
    try:
        with open(os.path.join(own, "cgroup.procs")) as f:
            pids = {int(p) for p in f.read().split()}
    except OSError:
        return set()
    reapers = set()
    for p in pids:
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() == reaper.NAME:
                    reapers.add(p)
        except OSError:
            pass
    if not reapers:
        return reapers
    return reapers - {run.root_pid} - _ancestors(run.pid) - set(descendants(run.root_pid))


def attribute_cgroups(run: Run, new: set[str], procs: set[int]) -> set[str]:
    """Of the cgroup dirs NEW, those that are provably the run's (see the module docstring)."""
    keys, ours = set(), set()
    private: dict[str, bool] = {}

    def own_is_ours(mnt, own):
        if own not in private:
            private[own] = own != mnt and not other_sessions(run, own)
        return private[own]

    def key_of(d):
        for mnt, own in run.hierarchies:
            if _under(d, mnt):
                return mnt, own
        return None, None

    for d in new:
        mnt, own = key_of(d)
        if mnt is None:
            continue
        if (run.marker in d or _cgroup_pids(d) & procs
                or (_under(d, own) and own_is_ours(mnt, own))):
            ours.add(d)
            keys.add(("root", os.path.relpath(d, mnt)))
            if _under(d, own):
                keys.add(("own", os.path.relpath(d, own)))
    for d in new - ours:
        mnt, own = key_of(d)
        if mnt is None:
            continue
        if (("root", os.path.relpath(d, mnt)) in keys
                or (_under(d, own) and ("own", os.path.relpath(d, own)) in keys)):
            ours.add(d)
    return ours


def remove_cgroups(run: Run, dirs: set[str], deadline_s: float = 5.0) -> list[str]:
    """rmdir DIRS bottom-up, only those beneath this process's own cgroup; what stays is returned."""
    owns = [own for _, own in run.hierarchies]
    removable = sorted((d for d in dirs if any(_under(d, o) for o in owns)), key=len, reverse=True)
    deadline = time.monotonic() + deadline_s
    left = list(removable)
    while left:
        still = []
        for d in left:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                still.append(d)
        left = still
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return left + sorted(set(dirs) - set(removable))


# -- mounts, netns, links, state dirs ------------------------------------------------------------

def mounts() -> set[str]:
    """mountinfo lines (whole: a mount id can be reused by a later mount)."""
    with open("/proc/self/mountinfo") as f:
        return {line.rstrip("\n") for line in f}


def mountpoints() -> set[str]:
    return {line.split()[4] for line in mounts()}


def netns_names() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def links() -> set[str]:
    return {name for _, name in socket.if_nameindex()}


def _pyrt_link(name: str) -> bool:
    return name == "pyrt0" or name.startswith(("pyrt-", "pyv"))


_NFPROTO = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}


def nft_tables() -> set[str]:
    """"family name" of every nftables table of this namespace: one netlink dump (NFT_MSG_GETTABLE),
    read only; pyroute2's nftables module costs a second to import, this a millisecond."""
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)         # NETLINK_NETFILTER
    except OSError as e:
        if e.errno == errno.EPROTONOSUPPORT:    # a kernel without nfnetlink (the v2 guest's): no table
            return set()
        raise
    out = set()
    try:
        body = struct.pack("BBH", 0, 0, 0)          # nfgenmsg: every family, version 0, res_id 0
        s.sendto(struct.pack("=IHHII", 16 + len(body), (10 << 8) | 1, 0x301, 1, 0) + body, (0, 0))
        while True:          # NFNL_SUBSYS_NFTABLES, NFT_MSG_GETTABLE; NLM_F_REQUEST | NLM_F_DUMP
            data, off = s.recv(65536), 0
            while off + 16 <= len(data):
                ln, typ = struct.unpack_from("=IH", data, off)
                if typ == 3:                                                   # NLMSG_DONE
                    return out
                if typ == 2:                                                   # NLMSG_ERROR
                    raise OSError(-struct.unpack_from("=i", data, off + 16)[0], "nftables table dump")
                a = off + 20
                while a + 4 <= off + ln:
                    alen, atyp = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atyp & 0x7FFF == 1:                                     # NFTA_TABLE_NAME
                        name = data[a + 4:a + alen].split(b"\0")[0].decode()
                        out.add(f"{_NFPROTO.get(data[off + 16], data[off + 16])} {name}")
                    a += (alen + 3) & ~3
                off += max((ln + 3) & ~3, 16)
    finally:
        s.close()


def pyrt_host_network() -> set[str]:
    """pyrt's network objects in this (the VM's own) namespace."""
    out = {f"link {n}" for n in links() if _pyrt_link(n)}
    out |= {f"nftables table {t}" for t in nft_tables() if t.split()[1] == "pyrt"}
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        if f.read().strip() == "1":
            out.add("net.ipv4.ip_forward=1")
    return out


def state_entries() -> set[str]:
    out = set()
    for root in STATE_ROOTS:
        try:
            out.update(os.path.join(root, e) for e in os.listdir(root))
        except OSError:
            pass
    return out


def _state_is_ours(run: Run, entry: str) -> bool:
    for name in ("state.json",):
        try:
            with open(os.path.join(entry, name), errors="replace") as f:
                if run.owns_text(f.read()):
                    return True
        except OSError:
            pass
    return False


# -- the check ---------------------------------------------------------------------------------

def snapshot(run: Run) -> dict:
    return {"procs": run_processes(run), "cgroups": cgroup_dirs(run), "mounts": mounts(),
            "netns": netns_names(), "links": links(), "state": state_entries(), "pyrt net": pyrt_host_network()}


def check(run: Run, before: dict, settle_s: float | None = None) -> tuple[dict, dict, dict]:
    """(left, foreign, undo): what the run left since BEFORE, by kind; what appeared but is not
    attributable; what clean() needs. Processes get SETTLE_S to finish exiting before they count."""
    if settle_s is None:  # the checks' own tests leak on purpose and need not wait long
        settle_s = float(os.environ.get("PYRT_LEAKS_SETTLE", "5"))
    deadline = time.monotonic() + settle_s
    clean_scans = 0
    # Two clean scans in a row: a scan reads a parent's children and then theirs, so a child
    # forked after its parent was read, whose parent then exited, is only seen by the next scan.
    while clean_scans < 2:
        procs = {p: t for p, t in run_processes(run).items() if before["procs"].get(p) != t}
        clean_scans = 0 if procs else clean_scans + 1
        if procs:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
    after = snapshot(run)
    left, foreign = {}, {}
    new_cg = {d for d in after["cgroups"] - before["cgroups"] if not any(_under(d, m) for m in _managed)}
    ours_cg = attribute_cgroups(run, new_cg, set(procs) | set(after["procs"]))
    # Processes in the run's cgroups are the run's, even if they escaped the reaper's tree.
    for d in ours_cg:
        for p in _cgroup_pids(d):
            if p != run.pid and p not in before["procs"]:
                procs.setdefault(p, "")
    if procs:
        left["processes"] = sorted(describe(p) for p in procs)
    if ours_cg:
        left["cgroups"] = sorted(ours_cg)
    if new_cg - ours_cg:
        foreign["cgroups"] = sorted(new_cg - ours_cg)
    new_m = after["mounts"] - before["mounts"]
    ours_m = {line for line in new_m if run.owns_text(line)}
    if ours_m:
        left["mounts"] = sorted(line.split()[4] for line in ours_m)
    if new_m - ours_m:
        foreign["mounts"] = sorted(line.split()[4] for line in new_m - ours_m)
    pyrt_net = after["pyrt net"] - before["pyrt net"]
    if pyrt_net:
        left["pyrt's network in the VM's namespace (not removed: check whose, then remove by hand)"] = sorted(pyrt_net)
    for kind in ("netns", "links"):
        new = after[kind] - before[kind]
        if kind == "links":
            new = {n for n in new if not _pyrt_link(n)}          # reported above
        mine = {n for n in new if tag(run.pid) in n or run.marker in n}
        if mine:
            left[kind] = sorted(mine)
        if new - mine:
            foreign[kind] = sorted(new - mine)
    new_state = after["state"] - before["state"]
    mine = {e for e in new_state if _state_is_ours(run, e)}
    if mine:
        left["state dirs"] = sorted(mine)
    if new_state - mine:
        foreign["state dirs"] = sorted(new_state - mine)
    undo = {"pids": sorted(procs), "cgroups": ours_cg, "mounts": [line.split()[4] for line in ours_m],
            "netns": left.get("netns", ()), "links": left.get("links", ()),
            "state": left.get("state dirs", ())}
    return left, foreign, undo


def clean(run: Run, undo: dict) -> list[str]:
    """Undo what the run left (processes, then mounts, netns, state, cgroups); returns what
    could not be undone."""
    failed = []
    for pid in undo["pids"]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # Deepest first: a mount on top of another comes off before its parent.
    for mp in sorted(undo["mounts"], key=len, reverse=True):
        r = subprocess.run(["umount", "-l", mp], capture_output=True, text=True)
        if r.returncode != 0 and mp in mountpoints():
            failed.append(f"mount {mp}: {r.stderr.strip()}")
    for name in undo["netns"]:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    for name in undo["links"]:
        subprocess.run(["ip", "link", "delete", name], capture_output=True)
    for entry in undo["state"]:
        shutil.rmtree(entry, ignore_errors=True)
    failed += [f"cgroup {d} (not removed)" for d in remove_cgroups(run, undo["cgroups"])]
    return failed


def diff(before: dict, after: dict) -> dict:
    """Only what appeared, kind by kind (for callers comparing two plain snapshots)."""
    return {k: sorted(after[k] - before[k]) for k in before if after[k] - before[k]}

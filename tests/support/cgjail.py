"""A cgroup "jail" for real callers of the runtime (podman, containerd).

podman (cgroupfs manager) and containerd give the runtime ABSOLUTE cgroup paths (/libpod_parent/...,
/default/<id>) and place conmon or the shim by absolute path as well: on this hybrid host those land
at hierarchy roots (and outside our own memory cgroup), which tests must never touch.

So the caller runs inside a jail, the way a container engine nests in a container: a cgroup P made
beneath our own cgroup in every hierarchy (as the `cgroup_parent` fixture does), a holder process
moved into P that owns a new cgroup namespace and a new mount namespace in which /sys/fs/cgroup is
mounted afresh (each hierarchy's root is then P). Every command of the caller is moved into P and
joins the holder's namespaces with nsenter, so "/libpod_parent" is really P/libpod_parent in every
hierarchy, and the caller's mounts (storage, shm, the runtime's) live and die in the holder's mount
namespace, as do private tmpfs mounts over the caller's default state directories (/run, and
/var/lib and /var/tmp by default: podman keeps a blob-info cache in /var/lib/containers whatever
its --root, and copies images through /var/tmp). stop() checks that nothing appeared at our own cgroup's level besides P.
With net=True the holder owns a new network namespace too (loopback up), which every command
joins: a caller's bridges, veths and pod network namespaces (containerd's CRI) stay in it.
"""
from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import time

from tests.support import cgroup, leaks

_MOUNT_SCRIPT = r"""
set -e
mount --make-rprivate /
# The inherited mounts go, so that nothing parsing mountinfo sees two views of one hierarchy.
umount -R /sys/fs/cgroup
mount -t tmpfs -o mode=755 cgroup_root /sys/fs/cgroup
{mounts}
# Private state directories: e.g. /run holds the runtimes' default --root (/run/runc,
# /run/pyrt-runc), which podman's cleanup process uses whatever flags podman had.
{private}
mkdir /run/lock
{net}
echo ready
exec sleep infinity
"""


def _hierarchies() -> list[tuple[str, str, str]]:
    """(directory, fstype, options) of each cgroup mount, in mount order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, opts = fields[sep + 1], fields[sep + 3]
            if fstype in ("cgroup", "cgroup2"):
                keep = [o for o in opts.split(",") if o not in ("rw", "ro")]
                out.append((fields[4], fstype, ",".join(keep)))
    return out


# Where podman, conmon and containerd keep state by default: none may appear on the host.
HOST_DEFAULT_PATHS = ("/var/lib/containers", "/run/containers", "/run/libpod", "/var/lib/containerd",
                      "/run/containerd", "/opt/containerd", "/var/lib/cni", "/run/runc/", "/run/pyrt-runc/")


def _host_defaults() -> set[str]:
    """Which of HOST_DEFAULT_PATHS exist (a trailing / means: its entries)."""
    out = set()
    for p in HOST_DEFAULT_PATHS:
        if p.endswith("/"):
            if os.path.isdir(p):
                out |= {p + e for e in os.listdir(p)}
        elif os.path.lexists(p):
            out.add(p)
    return out


def _children_at_own_level() -> dict[str, set[str]]:
    """The cgroup directories directly inside our own cgroup, per hierarchy."""
    out = {}
    for d in cgroup.dirs_named(""):
        d = d.rstrip("/")
        out[d] = {e for e in os.listdir(d) if os.path.isdir(os.path.join(d, e))}
    return out


class CgroupJail:
    def __init__(self, name: str, private: tuple[str, ...] = ("/run", "/var/lib", "/var/tmp"),
                 net: bool = False):
        self.name = name
        self.private = private
        self.net = net
        self.dirs = cgroup.dirs_named(name)
        self.holder: subprocess.Popen | None = None
        self._before = _children_at_own_level()
        self._host_before = _host_defaults()

    def start(self) -> "CgroupJail":
        leaks.manage(self.dirs)  # checked by stop(), not after each test
        for d in self.dirs:
            os.mkdir(d)
            if os.path.exists(os.path.join(d, "cpuset.cpus")):
                # A new v1 cpuset is empty and refuses tasks until it has cpus and mems.
                parent = os.path.dirname(d)
                for f in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(parent, f)) as src, open(os.path.join(d, f), "w") as dst:
                        dst.write(src.read().strip())
        mounts = []
        for path, fstype, opts in _hierarchies():
            o = f"-o {opts} " if opts else ""
            mounts.append(f"mkdir -p {path} && mount -t {fstype} {o}cgroup {path}")
        private = "\n".join(f"mount -t tmpfs -o mode={'1777' if d.endswith('tmp') else '755'} jail_private {d}"
                            for d in self.private)
        script = _MOUNT_SCRIPT.format(mounts="\n".join(mounts), private=private,
                                      net="ip link set lo up" if self.net else "")
        self.holder = subprocess.Popen(["unshare", "--cgroup", "--mount", "--propagation", "private",
                                        *(["--net"] if self.net else []), "sh", "-c", script],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                                       preexec_fn=self._enter_cgroup)
        line = self.holder.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"cgroup jail did not start: {line!r}")
        return self

    def _enter_cgroup(self) -> None:
        pid = str(os.getpid())
        for d in self.dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(pid)

    def argv(self, argv: list[str]) -> list[str]:
        """ARGV run inside the jail's namespaces (the caller moves into P with preexec)."""
        return ["nsenter", "-t", str(self.holder.pid), "-C", "-m", *(["-n"] if self.net else []), "--", *argv]

    def run(self, argv: list[str], *, timeout=60, **kw) -> subprocess.CompletedProcess:
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(self.argv(argv), capture_output=True, text=True, timeout=timeout,
                              preexec_fn=self._enter_cgroup, **kw)

    def run_in_terminal(self, argv: list[str], *, rows_cols: tuple[int, int] | None = None, timeout=60,
                        answer: tuple[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
        """ARGV with a terminal of its own (podman -it, ctr --tty insist), made by script(1), of
        ROWS_COLS size if given; the output loses script's echo of the empty input (^@) and
        carriage returns. ANSWER (seen, typed): once SEEN is in the output, TYPED is typed at the
        terminal; a process that reads it before it exits has had its output relayed by then."""
        cmd = " ".join(shlex.quote(a) for a in argv)
        if rows_cols:
            cmd = f"stty rows {rows_cols[0]} cols {rows_cols[1]}; {cmd}"
        if answer is None:
            r = self.run(["script", "-qec", cmd, "/dev/null"], timeout=timeout, **kw)
        else:
            r = self._converse(["script", "-qec", cmd, "/dev/null"], answer, timeout, **kw)
        r.stdout = r.stdout.replace("^@", "").replace("\r\n", "\n")
        return r

    def _converse(self, argv, answer, timeout, **kw) -> subprocess.CompletedProcess:
        seen, typed = answer[0].encode(), answer[1].encode()
        p = subprocess.Popen(self.argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, preexec_fn=self._enter_cgroup, **kw)
        deadline = time.monotonic() + timeout
        out = b""
        try:
            while seen not in out:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                    raise subprocess.TimeoutExpired(argv, timeout, out)
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
            p.stdin.write(typed)
            p.stdin.flush()
            rest, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        return subprocess.CompletedProcess(argv, p.returncode, (out + rest).decode(errors="replace"),
                                           err.decode(errors="replace"))

    def popen(self, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(argv), preexec_fn=self._enter_cgroup, **kw)

    def relative(self) -> dict[str, str]:
        """The jail's cgroup per hierarchy as /proc/PID/cgroup names it on the host (keys: that
        file's controller lists, "unified" for the v2 tree)."""
        out = {}
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                out[ctrls or "unified"] = path.rstrip("/") + "/" + self.name
        return out

    def pids(self) -> set[int]:
        """Every process still in the jail's cgroup tree (any hierarchy)."""
        out = set()
        for d in self.dirs:
            for root, _, files in os.walk(d):
                if "cgroup.procs" in files:
                    with open(os.path.join(root, "cgroup.procs")) as f:
                        out |= {int(p) for p in f.read().split()}
        return out

    def stop(self) -> list[str]:
        """Kill the holder, then anything left in the tree (all of it ours, by construction),
        remove the cgroups, and report what was left behind: stray processes and cgroups
        made outside P."""
        problems = []
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
            self.holder.stdout.close()
        left = self.pids()
        if left:
            problems.append(f"processes left in the jail: {sorted(left)}")
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
        for d in self.dirs:
            cgroup.remove_tree(d)
        leaks.release(self.dirs)
        still = [d for d in self.dirs if os.path.isdir(d)]
        if still:
            problems.append(f"jail cgroups not removable: {still}")
        made = _host_defaults() - self._host_before
        if made:
            problems.append(f"default state paths created on the host: {sorted(made)}")
        after = _children_at_own_level()
        for d, names in after.items():
            # Other test processes (parallel sessions) make their own pyrt-* cgroups here.
            new = {n for n in names - self._before.get(d, set()) if not n.startswith("pyrt-")}
            if new:
                problems.append(f"cgroups created outside the jail in {d}: {sorted(new)}")
        return problems

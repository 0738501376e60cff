"""Run one bundle under the reference runtime (runc) and under the candidate (pyrt-runc), with the
probe (rootfs-tools/probe) as the container's process, and compare what the probe saw.

PYRT_DIFF_CANDIDATE=/path/to/runtime swaps the candidate (e.g. runc itself, to check that the
comparison is stable: runc vs runc must always be equal).
"""
from __future__ import annotations

import atexit
import copy
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile

from tests.support.bundle import PYRT_RUNC, REPO, RUNC, make_bundle, run

CANDIDATE = os.environ.get("PYRT_DIFF_CANDIDATE", PYRT_RUNC)
PROBE_IN_ROOTFS = "/bin/probe"


@functools.cache
def probe_binary() -> str:
    """The static probe, compiled once per test session (and removed when it ends)."""
    d = tempfile.mkdtemp(prefix="pyrt-probe-")
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    out = os.path.join(d, "probe")
    subprocess.run([os.path.join(REPO, "rootfs-tools", "probe", "build.sh"), out], check=True)
    return out


def probe_bundle(path: str, config: dict) -> str:
    make_bundle(path, config)
    # The rootfs template comes from mkdtemp (0700): let non-root users in.
    os.chmod(os.path.join(path, "rootfs"), 0o755)
    dest = os.path.join(path, "rootfs", PROBE_IN_ROOTFS.lstrip("/"))
    shutil.copy2(probe_binary(), dest)
    os.chmod(dest, 0o755)
    return path


class Result:
    def __init__(self, runtime: str, bundle: str, proc: subprocess.CompletedProcess):
        self.runtime = runtime
        self.bundle = bundle
        self.rc = proc.returncode
        self.stderr = proc.stderr
        self.stdout = proc.stdout
        try:
            self.report = json.loads(proc.stdout) if proc.stdout.strip() else None
        except json.JSONDecodeError:
            self.report = {"unparsable-stdout": proc.stdout}

    def __repr__(self):
        return f"<{os.path.basename(self.runtime)} rc={self.rc} stderr={self.stderr.strip()[-500:]!r}>"


def run_under(runtime: str, root: str, bundle: str, cid: str, timeout=60, kill_after_report: bool = False) -> Result:
    argv = [runtime, "--root", root, "run", "--bundle", bundle, cid]
    if kill_after_report:
        proc = _run_then_kill(runtime, root, argv, cid, timeout)
    else:
        proc = run(argv, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 and not proc.stdout:
        # A failed `run` may leave a half-made container behind: remove it (ours, by id).
        run([runtime, "--root", root, "delete", "--force", cid])
    return Result(runtime, bundle, proc)


def _run_then_kill(runtime, root, argv, cid, timeout) -> subprocess.CompletedProcess:
    """`run` in the background; once the probe has reported, `kill ID KILL` from outside
    (a container's pid 1 cannot SIGKILL itself) and wait for `run` to exit."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        kill = run([runtime, "--root", root, "kill", cid, "KILL"]) if line else None
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        p.kill()
        p.wait()
        raise
    if kill is not None and kill.returncode != 0:
        err += f"\n[kill failed: {kill.stderr.strip()}]"
    return subprocess.CompletedProcess(argv, p.returncode, line + out, err)


def normalise(report: dict | None, bundle: str) -> dict | None:
    """What legitimately differs between two runs of the same config: only paths that name
    the run's own bundle directory (each runtime gets a copy of the bundle)."""
    if report is None:
        return None
    r = copy.deepcopy(report)
    # Bind-mount roots and sources are host paths and contain the bundle's directory name.
    name = re.escape(os.path.basename(bundle.rstrip("/")))
    mounts = r.get("mounts", [])
    for m in mounts:
        for k in ("root", "source"):
            m[k] = re.sub(rf"/{name}(?=/|$)", "/<bundle>", m[k])
    # In a user namespace device nodes are bind-mounted from the host, one file each. The spec
    # gives the default devices no order (runc 1.1.5 binds null, random, full, tty, zero,
    # urandom) and distinct files cannot cover one another: sort each run of such mounts.
    i = 0
    while i < len(mounts):
        j = i
        while j < len(mounts) and _device_bind(mounts[j]):
            j += 1
        mounts[i:j] = sorted(mounts[i:j], key=lambda m: m["mnt"])
        i = j + 1
    return r


def normalise_text(stdout: str, bundle: str) -> str:
    """normalise() for a report cut short (the probe killed mid-way): bundle names only."""
    name = re.escape(os.path.basename(bundle.rstrip("/")))
    return re.sub(rf"/{name}(?=/|\")", "/<bundle>", stdout)


def _device_bind(m: dict) -> bool:
    return m["type"] == "devtmpfs" and os.path.dirname(m["mnt"]) == "/dev"


def differential(tmp_path, root: str, cgroups_path: str, config: dict, probe_args=(), *,
                 reference: str = RUNC, candidate: str | None = None,
                 kill_after_report: bool = False) -> tuple[Result, Result]:
    """Run CONFIG (with the probe as process.args) under REFERENCE then CANDIDATE, each on a
    fresh copy of the bundle and with a --root of its own beneath ROOT, in cgroup CGROUPS_PATH
    (used one after the other). A runtime that leaves state in its --root fails here, by name."""
    candidate = candidate or CANDIDATE
    cfg = copy.deepcopy(config)
    cfg["process"]["args"] = [PROBE_IN_ROOTFS, *probe_args]
    cfg.setdefault("linux", {})["cgroupsPath"] = cgroups_path
    out = []
    for tag, runtime in (("ref", reference), ("cand", candidate)):
        bundle = probe_bundle(str(tmp_path / f"bundle-{tag}"), cfg)
        cid = f"diff-{tag}-{os.getpid()}-{tmp_path.name}"[:60]
        own_root = os.path.join(root, tag)
        os.mkdir(own_root)
        out.append(run_under(runtime, own_root, bundle, cid, kill_after_report=kill_after_report))
        left = os.listdir(own_root)
        assert not left, f"{runtime} left state behind in its --root: {left} ({out[-1]!r})"
        os.rmdir(own_root)
    return out[0], out[1]


# Report keys each compared by one dedicated test (named here) rather than by every test, so
# that one missing feature fails one test instead of hiding every other difference.
COMPARED_SEPARATELY = {"sid_is_pid": "test_differential.py::test_session_leader"}


def assert_same(ref: Result, cand: Result, also: tuple[str, ...] = ()) -> dict:
    """Equal exit status and equal normalised reports (keys of COMPARED_SEPARATELY only when
    named in ALSO); returns the reference report."""
    assert ref.report is not None, f"reference failed: {ref!r}"
    a, b = normalise(ref.report, ref.bundle), normalise(cand.report, cand.bundle)
    assert cand.report is not None, f"candidate printed nothing: {cand!r}"
    skip = set(COMPARED_SEPARATELY) - set(also)
    diffs = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
             if a.get(k) != b.get(k) and k not in skip}
    if "mounts" in diffs:
        ma, mb = diffs.pop("mounts")
        diffs["mounts"] = {"only-in-ref": [m for m in ma or [] if m not in (mb or [])],
                           "only-in-cand": [m for m in mb or [] if m not in (ma or [])],
                           "order-differs": bool(ma and mb and sorted(map(str, ma)) == sorted(map(str, mb)))}
    assert not diffs, f"reports differ (ref, cand): {json.dumps(diffs, indent=1)}"
    assert ref.rc == cand.rc, f"exit codes differ: ref {ref.rc}, cand {cand.rc} ({cand!r})"
    return a

"""Run a runtime inside a private mount namespace of the test's own (unshare -m), where what it
does to the mount namespace it runs in (inherited mount namespace, rootfs propagation) cannot
touch the host's mount table, and where crun runs on this hybrid host (the unified hierarchy's
cgroup.controllers hidden, as bench/runtime.py does). Each scenario is a function of this
module run as `python -m tests.support.mountns SCENARIO JSON-ARGS` in that namespace; it
prints one JSON object.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.support.bundle import CRUN, REPO, run

HIDDEN = "/sys/fs/cgroup/unified/cgroup.controllers"


def in_private_ns(scenario: str, timeout: int = 120, **args) -> dict:
    """SCENARIO(**ARGS) in a new private mount namespace; its JSON answer."""
    p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-m",
                        "tests.support.mountns", scenario, json.dumps(args)],
                       capture_output=True, text=True, timeout=timeout, cwd=REPO, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"{scenario} failed: {p.stderr[-2000:]}"
    return json.loads(p.stdout)


def _argv(runtime: str, root: str) -> list[str]:
    if runtime == CRUN:
        # crun makes no cgroups here: it would create them at absolute paths outside ours
        return [runtime, "--root", root, "--cgroup-manager=disabled"]
    return [runtime, "--root", root]


def _prepare_crun(runtime: str, work: str) -> None:
    if runtime == CRUN:
        empty = os.path.join(work, "empty")
        open(empty, "w").close()
        subprocess.run(["mount", "--bind", empty, HIDDEN], check=True)


def _mounts_under(path: str, mountinfo: str = "/proc/self/mountinfo") -> list[str]:
    with open(mountinfo) as f:
        mps = [line.split()[4] for line in f]
    return [m for m in mps if m == path or m.startswith(path.rstrip("/") + "/")]


def run_and_clean(runtime: str, work: str, bundle: str, cid: str) -> dict:
    """`run` BUNDLE, then `delete` (runc and crun's `run` delete by themselves), reporting the
    output and which mounts under the rootfs were left in this namespace after each step."""
    _prepare_crun(runtime, work)
    root = os.path.join(work, "state")
    os.makedirs(root, exist_ok=True)
    rootfs = os.path.realpath(os.path.join(bundle, "rootfs"))
    before = _mounts_under(rootfs)
    p = run([*_argv(runtime, root), "run", "-b", bundle, cid], stdin=subprocess.DEVNULL)
    d = run([*_argv(runtime, root), "delete", "--force", cid])
    left = [m for m in _mounts_under(rootfs) if m not in before]
    return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr[-1000:], "delete_rc": d.returncode,
            "left": left, "state_left": os.listdir(root)}


def _wait(pred, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def propagation(runtime: str, work: str, bundle: str, cid: str) -> dict:
    """The bundle's rootfs sits on a shared tmpfs mount here (the host side's peer). After the
    container starts: does a mount made inside the container show on the host side, does a
    mount made on the host side under the rootfs show inside, can the container bind its /,
    and what mountinfo says about the container's /."""
    _prepare_crun(runtime, work)
    root = os.path.join(work, "state")
    os.makedirs(root, exist_ok=True)
    rootfs = os.path.realpath(os.path.join(bundle, "rootfs"))
    for d in ("ctrmnt", "hostmnt", "bindtest"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    subprocess.run(["mount", "--bind", bundle, bundle], check=True)
    subprocess.run(["mount", "--make-shared", bundle], check=True)
    argv = _argv(runtime, root)
    with open(os.path.join(work, "out"), "w") as out:
        p = subprocess.run([*argv, "run", "-d", "-b", bundle, cid], stdin=subprocess.DEVNULL, stdout=out,
                           stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        run([*argv, "delete", "--force", cid])
        return {"rc": p.returncode, "error": open(os.path.join(work, "out")).read()[-600:]}
    pid = json.loads(run([*argv, "state", cid], check=True).stdout)["pid"]
    inside = ["nsenter", "-t", str(pid), "-m", "-r", "-w"]
    try:
        res = {"rc": 0}
        # a peer of the container's / made inside it (what a nested container's rootfs would be)
        res["bind_of_root"] = "ok" if run([*inside, "mount", "--bind", "/", "/bindtest"]).returncode == 0 else "refused"
        r = run([*inside, "mount", "-t", "tmpfs", "ctr", "/ctrmnt"])
        assert r.returncode == 0, r.stderr
        res["container_mount_seen_by_its_peer"] = " /bindtest/ctrmnt " in open(f"/proc/{pid}/mountinfo").read()
        res["container_mount_seen_on_host"] = os.path.join(rootfs, "ctrmnt") in _mounts_under(rootfs)
        subprocess.run(["mount", "-t", "tmpfs", "host", os.path.join(rootfs, "hostmnt")], check=True)
        res["host_mount_seen_in_container"] = " /hostmnt " in open(f"/proc/{pid}/mountinfo").read()
        with open(f"/proc/{pid}/mountinfo") as f:
            fields = next(line.split() for line in f if line.split()[4] == "/")
        opt = fields[6:fields.index("-")]
        res["root_propagation"] = sorted(o.split(":")[0] for o in opt) or ["private"]
        return res
    finally:
        run([*argv, "kill", cid, "KILL"])
        _wait(lambda: run([*argv, "delete", "--force", cid]).returncode == 0 or
              run([*argv, "state", cid]).returncode != 0, f"delete {cid}")


NS_LINKS = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt", "cgroup": "cgroup",
            "user": "user"}


def probe_runs(runtimes: list[str], work: str, config: dict, probe: str) -> dict:
    """CONFIG with the probe (PROBE, a static binary) as its process, `run` under each of
    RUNTIMES in turn on a copy of the bundle, then `delete --force`. For each: exit status, the
    probe's report with each namespace link replaced by "inherited" (the same as this
    process's) or "new", and the mounts left under the rootfs afterwards."""
    import copy
    import shutil
    from tests.support.bundle import make_bundle
    own = {t: os.readlink(f"/proc/self/ns/{n}") for t, n in NS_LINKS.items()}
    out = {}
    for i, runtime in enumerate(runtimes):
        cfg = copy.deepcopy(config)
        cfg["process"]["args"] = ["/bin/probe", *(f"link=/proc/self/ns/{n}" for n in NS_LINKS.values())]
        if runtime == CRUN:
            cfg["linux"].pop("cgroupsPath", None)
        bundle = make_bundle(os.path.join(work, f"bundle-{i}"), cfg)
        os.chmod(os.path.join(bundle, "rootfs"), 0o755)
        shutil.copy2(probe, os.path.join(bundle, "rootfs", "bin", "probe"))
        res = run_and_clean(runtime, work, bundle, f"probe-{i}")
        try:
            report = json.loads(res["stdout"]) if res["stdout"].strip() else None
        except json.JSONDecodeError:
            report = {"unparsable": res["stdout"]}
        if isinstance(report, dict) and "actions" in report:
            for t, n in NS_LINKS.items():
                got = report["actions"].pop(f"link=/proc/self/ns/{n}", None)
                report.setdefault("namespaces", {})[t] = "inherited" if got == own[t] else "new"
        res["report"] = report
        out[os.path.basename(runtime)] = res
    return out


def steps(runtime: str, work: str, steps: list) -> list:
    """A lifecycle, step by step: a list is a CLI call of RUNTIME (its rc, stdout and stderr
    through files: a created container's init keeps them open), {"read": PATH} the content of
    PATH or None. Containers still there at the end are deleted with --force (by id, the last
    argument of each `create`)."""
    _prepare_crun(runtime, work)
    root = os.path.join(work, "state")
    os.makedirs(root, exist_ok=True)
    argv, out, ids = _argv(runtime, root), [], []
    try:
        for step in steps:
            if isinstance(step, dict):
                path = step["read"]
                out.append(open(path).read() if os.path.exists(path) else None)
                continue
            if step[0] in ("create", "run"):
                ids.append(step[-1])
            with open(os.path.join(work, "o"), "w+") as o, open(os.path.join(work, "e"), "w+") as e:
                p = subprocess.run([*argv, *step], stdin=subprocess.DEVNULL, stdout=o, stderr=e, timeout=60)
                o.seek(0)
                e.seek(0)
                out.append({"rc": p.returncode, "stdout": o.read(), "stderr": e.read()[-1000:]})
    finally:
        for cid in ids:
            run([*argv, "delete", "--force", cid])
    return out


SCENARIOS = {"steps": steps, "run_and_clean": run_and_clean, "propagation": propagation, "probe_runs": probe_runs}

if __name__ == "__main__":
    out = SCENARIOS[sys.argv[1]](**json.loads(sys.argv[2]))
    json.dump(out, sys.stdout)

"""Edge cases of process.capabilities, linux.seccomp and hooks in config.json: runc 1.1.5 (the
reference) and pyrt-runc run the same bundle (`run`, /bin/true) and must both accept it or both
refuse it. Each case also states the outcome, so that two runtimes that change together fail.

The one place pyrt-runc refuses on purpose what runc only warns about is an unknown capability
name (issue 2: "unknown capability ... names: one clear line"); test_unknown_capability_names
pins that divergence explicitly; a duplicated rlimit type (runc sets both, the runtime-spec says
MUST error) is the other, in test_duplicate_rlimit. The arrays pyrt.spec.config reads itself
(mounts, namespaces, id mappings, devices, rlimits) are compared in test_lists.
"""
import os

import pytest

from tests.support.bundle import PYRT_RUNC, RUNC, base_config, make_bundle, run, write_config

ACCEPT, REFUSE = True, False
_DROP = object()  # a key left out


def _outcome(runtime, root, bundle, cid):
    own = os.path.join(root, os.path.basename(runtime))
    os.makedirs(own, exist_ok=True)
    # cwd=bundle: runc resolves a relative hook path against its own working directory
    p = run([runtime, "--root", own, "run", "--bundle", bundle, cid], cwd=bundle)
    if p.returncode != 0:
        run([runtime, "--root", own, "delete", "--force", cid])  # a half-made container, ours by id
    left = os.listdir(own)
    os.rmdir(own) if not left else None
    assert not left, f"{runtime} left state behind: {left}"
    return p


def both(tmp_path, root, cgroup_parent, edit):
    """Run base_config() changed by EDIT under runc then pyrt-runc; (runc, pyrt-runc) results."""
    cfg = base_config()
    cfg["linux"]["cgroupsPath"] = cgroup_parent
    edit(cfg)
    bundle = make_bundle(tmp_path / "bundle", cfg)
    write_config(bundle, cfg)
    cid = f"cfg-{os.getpid()}-{tmp_path.name}"[:50]
    return _outcome(RUNC, root, bundle, cid + "-r"), _outcome(PYRT_RUNC, root, bundle, cid + "-p")


def _check(tmp_path, root, cgroup_parent, edit, expected):
    ref, cand = both(tmp_path, root, cgroup_parent, edit)
    got = (ref.returncode == 0, cand.returncode == 0)
    assert got == (expected, expected), (
        f"runc rc={ref.returncode} {ref.stderr.strip()[-300:]!r}; "
        f"pyrt-runc rc={cand.returncode} {cand.stderr.strip()[-300:]!r}")
    if not expected:
        lines = cand.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in cand.stderr, cand.stderr


# --- process.capabilities ---------------------------------------------------------------------
def _caps(value=None, **sets):
    def edit(cfg):
        if sets:
            cfg["process"]["capabilities"].update(sets)
        else:
            cfg["process"]["capabilities"] = value
    return edit


CAPS = {
    "null": (_caps(None), ACCEPT),
    "empty-object": (_caps({}), ACCEPT),
    "array": (_caps([]), REFUSE),
    "string": (_caps("CAP_KILL"), REFUSE),
    "set-null": (_caps(bounding=None), ACCEPT),
    "set-empty": (_caps(bounding=[]), ACCEPT),
    "set-empty-string": (_caps(bounding=""), REFUSE),
    "set-string": (_caps(bounding="CAP_KILL"), REFUSE),
    "set-object": (_caps(bounding={}), REFUSE),
    "set-false": (_caps(bounding=False), REFUSE),
    "set-zero": (_caps(bounding=0), REFUSE),
    "set-number-entry": (_caps(bounding=[5]), REFUSE),
    "duplicates": (_caps(bounding=["CAP_KILL", "CAP_KILL"], effective=["CAP_KILL", "CAP_KILL"]), ACCEPT),
    "unknown-set": (_caps(magic=["CAP_KILL"]), ACCEPT),
    "unknown-set-of-another-type": (_caps(magic="x"), ACCEPT),
}


@pytest.mark.parametrize("case", CAPS)
def test_capabilities(tmp_path, runtime_root, cgroup_parent, case):
    _check(tmp_path, runtime_root, cgroup_parent, *CAPS[case])


@pytest.mark.parametrize("name", ["CAP_FLY", "cap_kill", "KILL", None])
def test_unknown_capability_names(tmp_path, runtime_root, cgroup_parent, name):
    """Divergence on purpose: runc 1.1.5 warns and ignores a name it does not know (exact spelling:
    no case folding, no CAP_ prefix added; JSON null reads as ""); pyrt-runc refuses it, as issue 2
    asks, with one line and exit code 3."""
    ref, cand = both(tmp_path, runtime_root, cgroup_parent, _caps(bounding=["CAP_KILL", name]))
    assert ref.returncode == 0 and "ignoring unknown or unavailable capabilities" in ref.stderr, ref.stderr
    assert cand.returncode == 3, cand.stderr
    lines = cand.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrt-runc: process.capabilities.bounding"), cand.stderr


# --- linux.seccomp ----------------------------------------------------------------------------
def _sc(value=_DROP, rule=None, arg=None, **top):
    """linux.seccomp: VALUE as given, or an allow-by-default profile with one ERRNO rule on mkdir
    (updated by RULE, its one arg by ARG) and the top-level keys TOP."""
    def edit(cfg):
        if value is not _DROP:
            cfg["linux"]["seccomp"] = value
            return
        r = {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}
        if arg is not None:
            a = {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}
            a.update(arg)
            r["args"] = [{k: v for k, v in a.items() if v is not _DROP}]
        r.update(rule or {})
        sc = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{k: v for k, v in r.items() if v is not _DROP}]}
        sc.update(top)
        cfg["linux"]["seccomp"] = {k: v for k, v in sc.items() if v is not _DROP}
    return edit


SECCOMP = {
    "null": (_sc(None), ACCEPT),
    # runc: no defaultAction and no rules means no seccomp at all, whatever else is there
    "empty-object": (_sc({}), ACCEPT),
    "no-default-no-rules": (_sc({"architectures": ["SCMP_ARCH_Z80"], "flags": ["X"]}), ACCEPT),
    "default-null-no-rules": (_sc({"defaultAction": None, "syscalls": []}), ACCEPT),
    "no-default-no-rules-bad-type": (_sc({"architectures": "SCMP_ARCH_X86"}), REFUSE),
    "array": (_sc([]), REFUSE),
    "plain": (_sc(rule={}), ACCEPT),
    "no-default": (_sc(defaultAction=_DROP), REFUSE),
    "default-empty": (_sc(defaultAction=""), REFUSE),
    "default-unknown": (_sc(defaultAction="SCMP_ACT_FOO"), REFUSE),
    "default-number": (_sc(defaultAction=1), REFUSE),
    "default-notify": (_sc(defaultAction="SCMP_ACT_NOTIFY", listenerPath="/run/x.sock"), REFUSE),
    "default-errno-ret": (_sc(defaultErrnoRet=5), ACCEPT),
    "syscalls-null": (_sc(syscalls=None), ACCEPT),
    "syscalls-empty": (_sc(syscalls=[]), ACCEPT),
    "syscalls-empty-string": (_sc(syscalls=""), REFUSE),
    "syscalls-object": (_sc(syscalls={}), REFUSE),
    "syscalls-null-entry": (_sc(syscalls=[None]), REFUSE),
    "arches-null": (_sc(architectures=None), ACCEPT),
    "arches": (_sc(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]), ACCEPT),
    "arches-string": (_sc(architectures="SCMP_ARCH_X86_64"), REFUSE),
    "arches-empty-string": (_sc(architectures=""), REFUSE),
    "arch-unknown": (_sc(architectures=["SCMP_ARCH_Z80"]), REFUSE),
    "flags-null": (_sc(flags=None), ACCEPT),
    "flags-empty": (_sc(flags=[]), ACCEPT),
    "flag-unknown": (_sc(flags=["SECCOMP_FILTER_FLAG_FAST"]), REFUSE),
    "flags-string": (_sc(flags="SECCOMP_FILTER_FLAG_LOG"), REFUSE),
    "unknown-key": (_sc(frobnicate=1), ACCEPT),
    "listener-without-notify": (_sc(listenerPath="/run/x.sock"), ACCEPT),
    "listener-number": (_sc(listenerPath=5), REFUSE),
    "metadata-number": (_sc(listenerMetadata=5), REFUSE),
    # a rule without names is a rule for no syscall
    "names-missing": (_sc(rule={"names": _DROP}), ACCEPT),
    "names-null": (_sc(rule={"names": None}), ACCEPT),
    "names-empty": (_sc(rule={"names": []}), ACCEPT),
    "names-null-entry": (_sc(rule={"names": [None]}), REFUSE),
    "names-empty-name": (_sc(rule={"names": [""]}), REFUSE),
    "names-string": (_sc(rule={"names": "mkdir"}), REFUSE),
    "names-unknown-syscall": (_sc(rule={"names": ["no_such_syscall", "mkdir"]}), ACCEPT),
    "names-duplicate": (_sc(rule={"names": ["mkdir", "mkdir"]}), ACCEPT),
    "action-missing": (_sc(rule={"action": _DROP}), REFUSE),
    "action-unknown": (_sc(rule={"action": "SCMP_ACT_FOO"}), REFUSE),
    "action-lowercase": (_sc(rule={"action": "scmp_act_errno"}), REFUSE),
    "action-kill-thread": (_sc(rule={"action": "SCMP_ACT_KILL_THREAD"}), ACCEPT),
    "action-log": (_sc(rule={"action": "SCMP_ACT_LOG"}), ACCEPT),
    "rule-unknown-key": (_sc(rule={"comment": "x"}), ACCEPT),
    "errno-ret": (_sc(rule={"errnoRet": 13}), ACCEPT),
    "errno-ret-zero": (_sc(rule={"errnoRet": 0}), ACCEPT),
    "errno-ret-null": (_sc(rule={"errnoRet": None}), ACCEPT),
    "errno-ret-on-allow": (_sc(rule={"action": "SCMP_ACT_ALLOW", "errnoRet": 13}), ACCEPT),
    "errno-ret-negative": (_sc(rule={"errnoRet": -1}), REFUSE),
    "errno-ret-string": (_sc(rule={"errnoRet": "13"}), REFUSE),
    "errno-ret-bool": (_sc(rule={"errnoRet": True}), REFUSE),
    "errno-ret-float": (_sc(rule={"errnoRet": 1.5}), REFUSE),
    "args-null": (_sc(rule={"args": None}), ACCEPT),
    "args-empty": (_sc(rule={"args": []}), ACCEPT),
    "args-string": (_sc(rule={"args": "x"}), REFUSE),
    "args-null-entry": (_sc(rule={"args": [None]}), REFUSE),
    "arg-full": (_sc(arg={"valueTwo": 0}), ACCEPT),
    "arg-no-index": (_sc(arg={"index": _DROP}), ACCEPT),  # index 0
    "arg-value-two-string": (_sc(arg={"valueTwo": "1"}), REFUSE),
    "arg-no-value": (_sc(arg={"value": _DROP}), ACCEPT),
    "arg-no-op": (_sc(arg={"op": _DROP}), REFUSE),
    "arg-op-unknown": (_sc(arg={"op": "SCMP_CMP_ALMOST"}), REFUSE),
    "arg-index-6": (_sc(arg={"index": 6}), REFUSE),
    "arg-index-negative": (_sc(arg={"index": -1}), REFUSE),
    "arg-index-string": (_sc(arg={"index": "1"}), REFUSE),
    "arg-value-negative": (_sc(arg={"value": -1}), REFUSE),
    "arg-value-u64-max": (_sc(arg={"value": 2**64 - 1}), ACCEPT),
    "arg-value-bool": (_sc(arg={"value": True}), REFUSE),
}


@pytest.mark.parametrize("case", SECCOMP)
def test_seccomp(tmp_path, runtime_root, cgroup_parent, case):
    _check(tmp_path, runtime_root, cgroup_parent, *SECCOMP[case])


@pytest.mark.parametrize("flag", ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                  "SECCOMP_FILTER_FLAG_TSYNC"])
def test_seccomp_flags(tmp_path, runtime_root, cgroup_parent, flag):
    """Divergence on purpose: runc 1.1.5 refuses every seccomp flag ("not yet supported"); pyrt-runc
    sets those libseccomp 2.5 can set and lists them in `features` (as later runc versions do)."""
    ref, cand = both(tmp_path, runtime_root, cgroup_parent, _sc(flags=[flag]))
    assert ref.returncode != 0 and "seccomp flags are not yet supported" in ref.stderr, ref.stderr
    assert cand.returncode == 0, cand.stderr


# --- hooks ------------------------------------------------------------------------------------
def _hooks(value=_DROP, kind="prestart", **hook):
    """hooks: VALUE as given, or {KIND: [one hook running /bin/true, changed by HOOK]}."""
    def edit(cfg):
        if value is not _DROP:
            cfg["hooks"] = value
            return
        h = {"path": "/bin/true"}
        h.update(hook)
        cfg["hooks"] = {kind: [{k: v for k, v in h.items() if v is not _DROP}]}
    return edit


HOOKS = {
    "null": (_hooks(None), ACCEPT),
    "empty-object": (_hooks({}), ACCEPT),
    "array": (_hooks([]), REFUSE),
    "plain": (_hooks(), ACCEPT),
    "every-kind": (_hooks({k: [{"path": "/bin/true"}] for k in (
        "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")}), ACCEPT),
    "kind-null": (_hooks({"prestart": None}), ACCEPT),
    "kind-empty": (_hooks({"prestart": []}), ACCEPT),
    "kind-object": (_hooks({"prestart": {}}), REFUSE),
    "kind-string": (_hooks({"prestart": "/bin/true"}), REFUSE),
    "unknown-kind": (_hooks({"whenever": [{"path": "/bin/true"}]}), ACCEPT),
    "entry-null": (_hooks({"prestart": [None]}), REFUSE),
    "path-missing": (_hooks(path=_DROP), REFUSE),
    "path-relative": (_hooks(path="true"), REFUSE),
    "poststart-path-relative": (_hooks(kind="poststart", path="true"), REFUSE),
    "poststart-timeout-zero": (_hooks(kind="poststart", timeout=0), REFUSE),
    "path-number": (_hooks(path=5), REFUSE),
    "args": (_hooks(args=["true", "x"]), ACCEPT),
    "args-null": (_hooks(args=None), ACCEPT),
    "args-string": (_hooks(args="true"), REFUSE),
    "args-number-entry": (_hooks(args=["true", 1]), REFUSE),
    "env": (_hooks(env=["A=1"]), ACCEPT),
    "env-null": (_hooks(env=None), ACCEPT),
    "env-string": (_hooks(env="A=1"), REFUSE),
    "timeout": (_hooks(timeout=5), ACCEPT),
    "timeout-null": (_hooks(timeout=None), ACCEPT),
    "timeout-zero": (_hooks(timeout=0), REFUSE),
    "timeout-negative": (_hooks(timeout=-1), REFUSE),
    "timeout-float": (_hooks(timeout=1.5), REFUSE),
    "timeout-string": (_hooks(timeout="5"), REFUSE),
    "timeout-bool": (_hooks(timeout=True), REFUSE),
    "unknown-key": (_hooks(comment="x"), ACCEPT),
}


@pytest.mark.parametrize("case", HOOKS)
def test_hooks(tmp_path, runtime_root, cgroup_parent, case):
    _check(tmp_path, runtime_root, cgroup_parent, *HOOKS[case])


@pytest.mark.parametrize("hook", [{"path": "true"}, {"path": "/bin/true", "timeout": 0}])
def test_broken_poststop_hook(tmp_path, runtime_root, cgroup_parent, hook):
    """Divergence on purpose: runc 1.1.5 never checks a hook; a relative path or a zero timeout
    fails when the hook runs, and a failing poststop hook is only logged, so `run` succeeds.
    pyrt-runc refuses such a hook up front (the runtime-spec says MUST), as it does for every kind."""
    ref, cand = both(tmp_path, runtime_root, cgroup_parent, _hooks(kind="poststop", **hook))
    assert ref.returncode == 0 and "error running hook #0" in ref.stderr, ref.stderr
    assert cand.returncode == 3 and cand.stderr.startswith("pyrt-runc: hooks.poststop[0]"), cand.stderr


# --- mounts, namespaces, id mappings, devices, rlimits (pyrt.spec.config) ---------------------
def _set(part, key, value):
    """PART's (None: the top level's) KEY set to VALUE."""
    def edit(cfg):
        (cfg if part is None else cfg[part])[key] = value
    return edit


def _add(part, key, *items):
    """ITEMS appended to the array PART.KEY (PART None: the top level)."""
    def edit(cfg):
        (cfg if part is None else cfg[part]).setdefault(key, []).extend(items)
    return edit


def _user_ns(uid=None, gid=None):
    """A new user namespace mapping ids 0-65535 to themselves, UID or GID replacing one side's list."""
    whole = [{"containerID": 0, "hostID": 0, "size": 65536}]

    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = whole if uid is None else uid
        cfg["linux"]["gidMappings"] = whole if gid is None else gid
    return edit


_NOFILE = {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}

LISTS = {
    "mount-null": (_add(None, "mounts", None), REFUSE),
    "mount-no-destination": (_add(None, "mounts", {"type": "tmpfs", "source": "tmpfs"}), REFUSE),
    "mount-destination-number": (_add(None, "mounts", {"destination": 1, "type": "tmpfs"}), REFUSE),
    "mount-options-string": (_add(None, "mounts", {"destination": "/x", "type": "tmpfs", "options": "ro"}), REFUSE),
    "namespaces-object": (_set("linux", "namespaces", {}), REFUSE),
    "namespace-null": (_add("linux", "namespaces", None), REFUSE),
    "namespace-no-type": (_add("linux", "namespaces", {}), REFUSE),
    "namespace-unknown": (_add("linux", "namespaces", {"type": "nope"}), REFUSE),
    "namespace-upper-case": (_add("linux", "namespaces", {"type": "CGROUP"}), REFUSE),
    "namespace-twice": (_add("linux", "namespaces", {"type": "pid"}), REFUSE),
    "namespace-type-number": (_add("linux", "namespaces", {"type": 1}), REFUSE),
    "user-ns": (_user_ns(), ACCEPT),
    "uidmap-size-zero": (_user_ns(uid=[{"containerID": 0, "hostID": 0, "size": 0}]), REFUSE),
    "uidmap-size-null": (_user_ns(uid=[{"containerID": 0, "hostID": 0, "size": None}]), REFUSE),
    "gidmap-size-missing": (_user_ns(gid=[{"containerID": 0, "hostID": 0}]), REFUSE),
    "gidmap-null": (_user_ns(gid=[None]), REFUSE),
    "uidmap-string": (_user_ns(uid="0 0 65536"), REFUSE),
    "uidmap-size-string": (_user_ns(uid=[{"containerID": 0, "hostID": 0, "size": "65536"}]), REFUSE),
    "uidmap-host-negative": (_user_ns(uid=[{"containerID": 0, "hostID": -1, "size": 1}]), REFUSE),
    "devices-null": (_set("linux", "devices", None), ACCEPT),
    "device-fifo": (_add("linux", "devices", {"path": "/dev/f", "type": "p"}), ACCEPT),
    "device-no-major-minor": (_add("linux", "devices", {"path": "/dev/x", "type": "c"}), ACCEPT),
    "device-null": (_add("linux", "devices", None), REFUSE),
    "device-no-type": (_add("linux", "devices", {"path": "/dev/x", "major": 1, "minor": 3}), REFUSE),
    "device-unknown-type": (_add("linux", "devices", {"path": "/dev/x", "type": "x", "major": 1, "minor": 3}), REFUSE),
    "device-major-string": (_add("linux", "devices", {"path": "/dev/x", "type": "c", "major": "1"}), REFUSE),
    "rlimits-null": (_set("process", "rlimits", None), ACCEPT),
    "rlimit-null": (_add("process", "rlimits", None), REFUSE),
    "rlimit-unknown": (_add("process", "rlimits", dict(_NOFILE, type="RLIMIT_FLY")), REFUSE),
    "rlimit-lower-case": (_add("process", "rlimits", dict(_NOFILE, type="rlimit_core")), REFUSE),
    "rlimit-soft-string": (_add("process", "rlimits", dict(_NOFILE, type="RLIMIT_CORE", soft="1")), REFUSE),
}


@pytest.mark.parametrize("case", LISTS)
def test_lists(tmp_path, runtime_root, cgroup_parent, case):
    _check(tmp_path, runtime_root, cgroup_parent, *LISTS[case])


def test_duplicate_rlimit(tmp_path, runtime_root, cgroup_parent):
    """Divergence on purpose: runc 1.1.5 sets both entries (the last wins); the runtime-spec says "If
    `rlimits` contains duplicated entries with same `type`, the runtime MUST generate an error", so
    pyrt-runc refuses, with one line and exit code 3."""
    ref, cand = both(tmp_path, runtime_root, cgroup_parent,
                     _add("process", "rlimits", dict(_NOFILE, soft=512, hard=512)))
    assert ref.returncode == 0, ref.stderr
    assert cand.returncode == 3, cand.stderr
    assert cand.stderr == "pyrt-runc: process.rlimits[1].type: 'RLIMIT_NOFILE' is listed twice\n", cand.stderr

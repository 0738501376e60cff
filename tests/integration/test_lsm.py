"""AppArmor profiles and SELinux labels are never silently ignored (issue 10 item 6; runtime-spec:
unsupported values MUST error). This VM has neither module, so this is the refusal, for real,
beside runc (which fails on all three too); the write path is tested against fake attr files in
tests/unit/test_lsm.py. `features` tells the truth about the host."""
import json
import os
import subprocess

import pytest

from tests.support.bundle import PYRT_RUNC, RUNC, base_config, make_bundle, run


def _host_has(path: str, want: str | None = None) -> bool:
    try:
        with open(path) as f:
            return want is None or f.read().strip() == want
    except OSError:
        return False


APPARMOR = _host_has("/sys/module/apparmor/parameters/enabled", "Y")
SELINUX = _host_has("/sys/fs/selinux/enforce")


def test_this_vm_has_neither_module():
    """The tests below are the refusal path: they assume what this VM is."""
    assert not APPARMOR and not SELINUX


def _edit(kind: str, cfg: dict) -> str:
    if kind == "apparmor":
        cfg["process"]["apparmorProfile"] = "docker-default"
        return "process.apparmorProfile: 'docker-default': AppArmor is not enabled on this host"
    if kind == "selinux":
        cfg["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
        return "process.selinuxLabel: 'system_u:system_r:container_t:s0': SELinux is not enabled on this host"
    cfg["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0"
    return "linux.mountLabel: 'system_u:object_r:container_file_t:s0': SELinux is not enabled on this host"


@pytest.mark.parametrize("kind", ["apparmor", "selinux", "mountLabel"])
def test_label_the_host_cannot_apply_is_refused(tmp_path, runtime_root, cgroup_parent, kind):
    cfg = base_config(["true"])
    cfg["linux"]["cgroupsPath"] = cgroup_parent
    words = _edit(kind, cfg)
    bundle = make_bundle(tmp_path / "bundle", cfg)
    p = run([PYRT_RUNC, "--root", runtime_root, "run", "--bundle", bundle, "lsm"], stdin=subprocess.DEVNULL)
    assert p.returncode == 3 and p.stderr.strip() == f"pyrt-runc: {words}", p.stderr
    r = run([RUNC, "--root", runtime_root + "-runc", "run", "--bundle", bundle, "lsm"], stdin=subprocess.DEVNULL)
    run([RUNC, "--root", runtime_root + "-runc", "delete", "--force", "lsm"])
    assert r.returncode != 0, f"runc accepted it: {r.stderr}"


def test_exec_process_with_a_profile_is_refused(tmp_path, runtime_root, cgroup_parent):
    cfg = base_config(["sh", "-c", "while :; do sleep 1; done"])
    cfg["linux"]["cgroupsPath"] = cgroup_parent
    bundle = make_bundle(tmp_path / "bundle", cfg)
    with open(os.path.join(runtime_root, "..", "err"), "w") as err:
        assert subprocess.run([PYRT_RUNC, "--root", runtime_root, "run", "-d", "--bundle", bundle, "x"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err).returncode == 0
    try:
        proc = dict(cfg["process"], args=["true"], apparmorProfile="docker-default")
        pj = tmp_path / "process.json"
        pj.write_text(json.dumps(proc))
        p = run([PYRT_RUNC, "--root", runtime_root, "exec", "--process", str(pj), "x"], stdin=subprocess.DEVNULL)
        assert p.returncode == 3 and "AppArmor is not enabled on this host" in p.stderr, p.stderr
    finally:
        run([PYRT_RUNC, "--root", runtime_root, "delete", "--force", "x"])


def test_features_tell_the_truth():
    f = json.loads(run([PYRT_RUNC, "features"], check=True).stdout)
    assert f["linux"]["apparmor"] == {"enabled": APPARMOR}
    assert f["linux"]["selinux"] == {"enabled": SELINUX}

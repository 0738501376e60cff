"""Bad process.capabilities / linux.seccomp in config.json: pyrt-runc refuses with one line on
stderr naming the culprit, exit code 3 (ConfigError, docs/exit-codes.md), and leaves nothing
behind (the runtime_root and cgroup_parent fixtures and the leak check see to that).
runc only warns about unknown capabilities; pyrt-runc refuses them, as the issue asks."""
import pytest

from tests.support.bundle import PYRT_RUNC, base_config, make_bundle, run


def _caps(cfg, name):
    cfg["process"]["capabilities"]["bounding"].append(name)


def _seccomp(**kw):
    def edit(cfg, _):
        sc = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
        sc.update(kw)
        cfg["linux"]["seccomp"] = sc
    return edit


@pytest.mark.parametrize("edit, culprit", [
    (_caps, "process.capabilities.bounding: unknown capability 'CAP_FLY'"),
    (_seccomp(defaultAction="SCMP_ACT_NOPE"), "unknown action 'SCMP_ACT_NOPE'"),
    (_seccomp(architectures=["SCMP_ARCH_PDP11"]), "unknown architecture 'SCMP_ARCH_PDP11'"),
    (_seccomp(flags=["SECCOMP_FILTER_FLAG_MAGIC"]), "unknown flag 'SECCOMP_FILTER_FLAG_MAGIC'"),
    (_seccomp(syscalls=[{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_SORTOF"}]}]),
     "unknown operator 'SCMP_CMP_SORTOF'"),
    (_seccomp(listenerPath="/run/agent.sock", syscalls=[{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]),
     "SCMP_ACT_NOTIFY is not supported"),
])
def test_refused_with_one_line_and_exit_3(tmp_path, runtime_root, cgroup_parent, edit, culprit):
    cfg = base_config()
    cfg["linux"]["cgroupsPath"] = cgroup_parent
    edit(cfg, "CAP_FLY")
    bundle = make_bundle(tmp_path / "bundle", cfg)
    p = run([PYRT_RUNC, "--root", runtime_root, "run", "--bundle", bundle, "bad-config"])
    assert p.returncode == 3, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0], p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""

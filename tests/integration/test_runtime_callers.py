"""Bundle-level tests for what driving pyrt-runc from podman and containerd brought up
(tests/integration/test_podman.py, test_containerd.py): each difference found there is pinned
here on a plain bundle, runc vs pyrt-runc."""
from __future__ import annotations

from tests.support.bundle import base_config
from tests.support.differential import assert_same, differential


def test_readonly_paths_keep_the_source_mount_flags(tmp_path, runtime_root, cgroup_parent):
    """podman mounts /proc nosuid,nodev,noexec: runc's read-only /proc/sys, /proc/bus... keep
    those flags (a bind remount would clear them)."""
    cfg = base_config()
    for m in cfg["mounts"]:
        if m["destination"] == "/proc":
            m["options"] = ["nosuid", "noexec", "nodev"]
    ref, cand = differential(tmp_path, runtime_root, cgroup_parent, cfg)
    report = assert_same(ref, cand)
    sysctl = [m for m in report["mounts"] if m["mnt"] == "/proc/sys"]
    assert sysctl and sysctl[0]["opts"].split(",")[:4] == ["ro", "nosuid", "nodev", "noexec"], sysctl


def test_device_file_mode_with_file_type_bits(tmp_path, runtime_root, cgroup_parent):
    """podman's --device and --privileged give linux.devices[].fileMode as the host node's whole
    st_mode (S_IFCHR | 0640 = 0o20640): runc keeps only the permission bits."""
    cfg = base_config()
    cfg["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                "fileMode": 0o20640, "uid": 0, "gid": 0}]
    cfg["linux"]["resources"]["devices"] += [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]
    ref, cand = differential(tmp_path, runtime_root, cgroup_parent, cfg, ["stat=/dev/mynull"])
    report = assert_same(ref, cand)
    assert report["actions"]["stat=/dev/mynull"] == "c 0640 0:0 1:3"


def test_json_log_line_has_runc_s_shape(tmp_path, runtime_root):
    """containerd's shim passes --log FILE --log-format json and reads the last error line back:
    pyrt-runc writes runc's (logrus's) shape, key order and time format included."""
    import json
    import re

    from tests.support.bundle import PYRT_RUNC, RUNC, run
    shapes = {}
    for name, rt in (("runc", RUNC), ("pyrt-runc", PYRT_RUNC)):
        log = tmp_path / f"{name}.json"
        r = run([rt, "--root", runtime_root, "--log", str(log), "--log-format", "json", "state", "nope"])
        assert r.returncode != 0
        line = log.read_text().splitlines()[-1]
        entry = json.loads(line)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"]), line
        shapes[name] = re.sub(r'"msg":"[^"]*"', '"msg":"<m>"', re.sub(r'"time":"[^"]*"', '"time":"<t>"', line))
    assert shapes["pyrt-runc"] == shapes["runc"] == '{"level":"error","msg":"<m>","time":"<t>"}'


def test_exec_lookup_errors_in_runc_s_words(tmp_path, runtime_root, cgroup_parent):
    """podman turns the runtime's message into an exit code ("no such file or directory" -> 127,
    "permission denied" -> 126): an unrunnable process.args[0] is reported in runc's words."""
    import re

    from tests.support.bundle import PYRT_RUNC, RUNC, make_bundle, run
    for arg0 in ("/nope", "/etc", "/etc/passwd", "nope"):
        said = {}
        for name, rt in (("runc", RUNC), ("pyrt-runc", PYRT_RUNC)):
            cfg = base_config([arg0])
            cfg["linux"]["cgroupsPath"] = cgroup_parent
            bundle = make_bundle(tmp_path / f"{name}-{arg0.replace('/', '_')}", cfg)
            r = run([rt, "--root", runtime_root, "run", "--bundle", bundle, f"lookup-{name}"])
            run([rt, "--root", runtime_root, "delete", "--force", f"lookup-{name}"])
            # runc's stderr is a logrus text line: msg="...exec: \"/nope\": ..."
            m = re.search(r'exec: "[^"]*": [^"\n]*', r.stderr.replace('\\"', '"'))
            said[name] = (r.returncode != 0, m and m.group(0))
        assert said["runc"][1] and said["pyrt-runc"] == said["runc"], said

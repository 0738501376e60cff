"""The config.json loader, state files and small runtime helpers, without root or containers."""
from __future__ import annotations

import json
import os

import pytest

from pyrt.errors import ConfigError, ExistsError, NotFoundError, UsageError
from pyrt.linux.paths import EscapeError, resolve_in_root
from pyrt.linux.signals import parse_signal
from pyrt.spec.mountflags import MS
from pyrt.runtime import state as st
from pyrt.spec.config import load_bundle, load_process, parse
from pyrt.spec.defaults import default_config
from tests.support.bundle import base_config


def cfg(**changes):
    c = base_config(["sh"])
    for k, v in changes.items():
        c[k] = v
    return c


def test_runc_default_spec_parses():
    s = parse(base_config(["sh", "-c", "true"]), "/b")
    assert s.root.path == "/b/rootfs" and s.root.readonly
    assert s.process.args == ("sh", "-c", "true") and s.process.cwd == "/"
    assert s.process.rlimits[0].type == "RLIMIT_NOFILE" and s.process.rlimits[0].soft == 1024
    assert [n.type for n in s.linux.namespaces] == ["pid", "network", "ipc", "uts", "mount"]
    assert s.has_new("pid") and not s.has_new("user")
    assert "/proc/kcore" in s.linux.masked_paths and "/proc/sys" in s.linux.readonly_paths
    assert s.hostname == "runc"


def test_our_default_spec_matches_runcs_shape():
    ours, runc = default_config(), base_config(["sh"])
    assert [m["destination"] for m in ours["mounts"]] == [m["destination"] for m in runc["mounts"]]
    assert ours["linux"]["maskedPaths"] == runc["linux"]["maskedPaths"]
    assert ours["linux"]["readonlyPaths"] == runc["linux"]["readonlyPaths"]
    parse(ours, "/b")
    rootless = parse(default_config(rootless=True), "/b")
    assert rootless.has_new("user") and rootless.linux.uid_mappings[0].container_id == 0


def test_mount_options_become_flags_and_data():
    c = cfg(mounts=[{"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                     "options": ["nosuid", "ro", "rw", "noexec", "mode=755", "rprivate", "size=1m"]},
                    {"destination": "/y", "type": "bind", "source": "/etc", "options": ["rbind", "ro"]},
                    {"destination": "rel/z", "type": "none", "source": "/etc", "options": ["bind"]}])
    x, y, z = parse(c, "/b").mounts
    assert x.flags == MS["MS_NOSUID"] | MS["MS_NOEXEC"]  # "rw" after "ro" clears it
    assert x.data == "mode=755,size=1m"
    assert x.propagation == (MS["MS_PRIVATE"] | MS["MS_REC"],)
    assert y.is_bind and y.flags & MS["MS_REC"] and y.flags & MS["MS_RDONLY"]
    assert z.destination == "/rel/z" and z.is_bind


@pytest.mark.parametrize("mutate, words", [
    (lambda c: c.pop("ociVersion"), "ociVersion"),
    (lambda c: c.update(ociVersion="0.9"), "unsupported version"),
    (lambda c: c["root"].pop("path"), "root.path"),
    (lambda c: c["process"].update(args=[]), "process.args"),
    (lambda c: c["process"].update(cwd="relative"), "process.cwd"),
    (lambda c: c["process"].update(env=["NOEQUALS"]), "process.env"),
    (lambda c: c["process"]["user"].update(uid=-1), "process.user.uid"),
    (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]), "RLIMIT_BOGUS"),
    (lambda c: c["process"].update(oomScoreAdj=5000), "oomScoreAdj"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "listed twice"),
    (lambda c: c["linux"]["namespaces"].append({"type": "nope"}), "unknown namespace"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]), "user namespace"),
    (lambda c: c["linux"].update(namespaces=[{"type": "mount"}]), "uts namespace"),  # hostname without uts
    (lambda c: c["linux"].update(rootfsPropagation="sideways"), "rootfsPropagation"),
    (lambda c: c["linux"].update(devices=[{"path": "/etc/x", "type": "c"}]), "under /dev"),
    (lambda c: c.update(hooks={"prestart": [{"path": "relative"}]}), "hooks.prestart[0].path: 'relative' is not an absolute"),
    (lambda c: c.update(hooks={"poststop": [{"path": "/x", "timeout": 0}]}), "hooks.poststop[0].timeout"),
    (lambda c: c["mounts"].append({"type": "tmpfs"}), "destination"),
    (lambda c: c["process"].update(terminal="yes"), "terminal"),
])
def test_invalid_configs_name_the_field(mutate, words):
    c = base_config(["sh"])
    mutate(c)
    with pytest.raises(ConfigError) as e:
        parse(c, "/b")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_load_bundle_errors(tmp_path):
    with pytest.raises(NotFoundError):
        load_bundle(str(tmp_path / "missing"))
    with pytest.raises(NotFoundError, match="config.json"):
        load_bundle(str(tmp_path))
    (tmp_path / "config.json").write_text("[1,")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_bundle(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(base_config()))
    with pytest.raises(NotFoundError, match="rootfs"):
        load_bundle(str(tmp_path))
    (tmp_path / "rootfs").mkdir()
    assert load_bundle(str(tmp_path)).root.path == str(tmp_path / "rootfs")
    (tmp_path / "p.json").write_text(json.dumps({"args": ["ls"], "cwd": "/"}))
    assert load_process(str(tmp_path / "p.json")).args == ("ls",)


def test_resolve_in_root_follows_links_inside_and_refuses_escapes(tmp_path):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    os.symlink("/a", root / "abs")          # absolute: means the container's /a
    os.symlink("a/b", root / "rel")
    os.symlink("../../..", root / "a" / "up")
    os.symlink("loop", root / "loop")
    r = str(root)
    assert resolve_in_root(r, "/abs/b") == f"{r}/a/b"
    assert resolve_in_root(r, "/rel/new/file") == f"{r}/a/b/new/file"
    assert resolve_in_root(r, "/a/b/../b") == f"{r}/a/b"
    with pytest.raises(EscapeError):
        resolve_in_root(r, "/a/up/etc")
    with pytest.raises(EscapeError):
        resolve_in_root(r, "/../etc")
    with pytest.raises(OSError):
        resolve_in_root(r, "/loop/x")


def test_signals():
    assert parse_signal("KILL") == 9 and parse_signal("SIGTERM") == 15 and parse_signal("9") == 9
    assert parse_signal("sigusr1") == 10
    assert parse_signal("RTMIN+2") == parse_signal("SIGRTMIN") + 2
    for bad in ("SIGNOPE", "0", "999", "RTMIN+999"):
        with pytest.raises(UsageError):
            parse_signal(bad)


def test_status_rules():
    S = st.Status
    assert [s for s in S if s.can_start()] == [S.CREATED]
    assert S.RUNNING.can_kill() and not S.STOPPED.can_kill()
    assert S.STOPPED.can_delete() and not S.RUNNING.can_delete()
    assert S.PAUSED.can_resume() and not S.RUNNING.can_resume()


def test_state_files_and_ids(tmp_path):
    root = str(tmp_path / "root")
    d = st.make_container_dir(root, "c1")
    with pytest.raises(ExistsError):
        st.make_container_dir(root, "c1")
    for bad in ("", ".", "..", "a/b", "x y"):
        with pytest.raises(UsageError):
            st.validate_id(bad)
    s = st.State(id="c1", bundle="/b", pid=42, annotations={"k": "v"})
    st.write_state(d, s)
    assert os.listdir(d) == ["state.json"]  # no temporary file left
    back = st.read_state(d, "c1")
    assert back == s
    with st.Lock(d):
        pass
    with pytest.raises(NotFoundError):
        st.read_state(str(tmp_path), "c2")

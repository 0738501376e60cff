"""pyrt.spec.config: loading config.json and process.json into the spec models, without root."""
from __future__ import annotations

import json

import pytest

from pyrt.errors import ConfigError, NotFoundError
from pyrt.spec.config import load_bundle, load_process, parse
from pyrt.spec.defaults import default_config
from pyrt.spec.mountflags import MS
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

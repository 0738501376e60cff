"""Issue 9.13: property-based tests over the parsers that read hostile JSON.

- config.json (pyrt-runc's edge): mutated documents from pyrt's default spec (plain and
  rootless), runc's `runc spec` (plain and rootless), a config using every section, and every
  refused case of tests/unit/spec/test_config.py; mutated bytes of the same; random JSON.
  Each ends in a Spec or in one PyrtError whose message is one line, never another exception.
- manifests, indexes and image configs (a registry's or an archive's edge): the same kinds of
  mutation from real documents; each is a typed object whose fields have the types the puller
  relies on, or one ImageError.

Bounded example counts here (see tests/support/fuzz.py for the long run).
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyrt.errors import ImageError, PyrtError
from pyrt.image import manifest as mf
from pyrt.spec.config import Spec, load_config
from pyrt.spec.defaults import default_config
from tests.support.bundle import RUNC, base_config
from tests.support.fuzz import fuzz_settings, json_values, mutated_bytes, mutated_doc, to_json


def _runc_spec(*flags: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([RUNC, "spec", *flags], cwd=d, check=True)
        with open(os.path.join(d, "config.json")) as f:
            return json.load(f)


def _every_section() -> dict:
    c = default_config()
    c["linux"].update({
        "namespaces": c["linux"]["namespaces"] + [{"type": "user"}, {"type": "cgroup"}, {"type": "time"}],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "timeOffsets": {"monotonic": {"secs": 1, "nanosecs": 2}},
        "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0}],
        "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"},
        "cgroupsPath": "pyrt/c1", "rootfsPropagation": "rprivate", "personality": {"domain": "LINUX"},
        "resources": {"memory": {"limit": 1 << 30, "reservation": 1 << 29, "swap": 2 << 30, "swappiness": 10},
                      "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
                      "pids": {"limit": 100},
                      "blockIO": {"weight": 100, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
                      "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
                      "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1,
                                                                          "minor": 3, "access": "rw"}],
                      "unified": {"memory.high": "max"}},
        "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                                 {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                                  "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]},
    })
    c["process"].update({"user": {"uid": 1000, "gid": 1000, "additionalGids": [5, 6], "umask": 18},
                         "consoleSize": {"height": 24, "width": 80}, "apparmorProfile": "", "oomScoreAdj": 10,
                         "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                                     {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}]})
    c["hooks"] = {"prestart": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"], "timeout": 5}],
                  "poststop": [{"path": "/bin/true"}]}
    c["annotations"] = {"a": "b"}
    c["mounts"].append({"destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"]})
    return c


def _fixture_configs() -> list[dict]:
    """Every refused case of the spec tests, applied to runc's default spec."""
    from tests.unit.spec.test_config import REFUSED
    out = []
    for edit, _ in REFUSED.values():
        c = base_config(["sh"])
        edit(c)
        out.append(c)
    return out


CONFIG_SEEDS = [default_config(), default_config(rootless=True), _runc_spec(), _runc_spec("--rootless"),
                _every_section()] + _fixture_configs()


@pytest.fixture(scope="module")
def config_path():
    with tempfile.TemporaryDirectory(prefix="pyrt-fuzz-config-") as d:
        yield os.path.join(d, "config.json")


def _config_outcome(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
    try:
        spec = load_config(path, "/bundle")
    except PyrtError as e:
        assert "\n" not in str(e), f"a message of more than one line: {str(e)[:300]!r}"
        return
    assert isinstance(spec, Spec)


def test_seeds_parse():
    """The unmutated seeds: pyrt's and runc's own specs are accepted (the mutations start from
    valid documents, so they reach deep into the validators)."""
    for seed in CONFIG_SEEDS[:5]:
        from pyrt.spec.config import parse
        assert isinstance(parse(copy.deepcopy(seed), "/b"), Spec)


@fuzz_settings(800)
@given(doc=st.data())
def test_config_mutated_documents(config_path, doc):
    _config_outcome(config_path, to_json(doc.draw(mutated_doc(CONFIG_SEEDS))))


@fuzz_settings(300)
@given(data=st.data())
def test_config_mutated_bytes(config_path, data):
    _config_outcome(config_path, data.draw(mutated_bytes(CONFIG_SEEDS)))


@fuzz_settings(200)
@given(value=json_values)
def test_config_random_json(config_path, value):
    _config_outcome(config_path, to_json(value))


# -- manifests, indexes, image configs ----------------------------------------------------------
_D = "sha256:" + "a" * 64
_OCI_MANIFEST = {"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST,
                 "config": {"mediaType": mf.OCI_CONFIG, "digest": _D, "size": 100},
                 "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _D, "size": 10},
                            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _D, "size": 0,
                             "urls": ["http://x"], "annotations": {"a": "b"}}],
                 "annotations": {"org.opencontainers.image.ref.name": "latest"}}
_DOCKER_MANIFEST = dict(_OCI_MANIFEST, mediaType=mf.DOCKER_MANIFEST,
                        config={"mediaType": mf.DOCKER_CONFIG, "digest": _D, "size": 7},
                        layers=[{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": _D,
                                 "size": 3}])
_INDEX = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": [
    {"mediaType": mf.OCI_MANIFEST, "digest": _D, "size": 5, "platform": {"os": "linux", "architecture": "amd64"}},
    {"mediaType": mf.OCI_MANIFEST, "digest": _D, "size": 5,
     "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"mediaType": mf.DOCKER_MANIFEST, "digest": _D, "size": 5,
     "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
    {"mediaType": mf.OCI_MANIFEST, "digest": _D, "size": 5, "platform": {"os": "unknown", "architecture": "unknown"},
     "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]}
_DOCKER_LIST = dict(_INDEX, mediaType=mf.DOCKER_LIST)
_IMAGE_CONFIG = {"architecture": "amd64", "os": "linux", "variant": None, "created": "2024-01-01T00:00:00Z",
                 "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo"], "Env": ["PATH=/bin"], "WorkingDir": "/w",
                            "User": "1000:1000", "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/data": {}},
                            "StopSignal": "SIGTERM", "Labels": {"a": "b"}},
                 "rootfs": {"type": "layers", "diff_ids": [_D, _D]},
                 "history": [{"created_by": "x"}]}
MANIFEST_SEEDS = [_OCI_MANIFEST, _DOCKER_MANIFEST, _INDEX, _DOCKER_LIST]
_MEDIA_TYPES = st.sampled_from([None, "", mf.OCI_MANIFEST, mf.DOCKER_MANIFEST, mf.OCI_INDEX, mf.DOCKER_LIST,
                                mf.DOCKER_SCHEMA1[0], "text/html", "application/json; charset=utf-8"])
_PLATFORMS = [mf.Platform("linux", "amd64"), mf.Platform("linux", "arm64", "v8"), mf.Platform("linux", "arm", "v7"),
              mf.Platform("linux", "arm64")]


def _check_descriptor(d) -> None:
    assert isinstance(d, mf.Descriptor)
    assert isinstance(d.media_type, str) and isinstance(d.digest, str)
    assert type(d.size) is int and d.size >= 0
    assert all(isinstance(u, str) for u in d.urls)
    if d.platform is not None:
        p = d.platform
        assert isinstance(p.os, str) and isinstance(p.architecture, str)
        assert p.variant is None or isinstance(p.variant, str)


def _manifest_outcome(data: bytes, media_type) -> None:
    try:
        m = mf.parse_manifest(data, media_type)
    except ImageError as e:
        assert "\n" not in str(e), str(e)[:300]
        return
    if isinstance(m, mf.Index):
        for d in m.manifests:
            _check_descriptor(d)
        for want in _PLATFORMS:
            try:
                _check_descriptor(m.select(want))
            except ImageError as e:
                assert "\n" not in str(e)
    else:
        assert isinstance(m, mf.Manifest)
        _check_descriptor(m.config)
        for d in m.layers:
            _check_descriptor(d)
            assert d.media_type in mf.LAYER_TYPES
        assert isinstance(m.annotations, dict)


def _config_doc_outcome(data: bytes) -> None:
    try:
        c = mf.parse_config(data)
    except ImageError as e:
        assert "\n" not in str(e), str(e)[:300]
        return
    for name in ("entrypoint", "cmd", "env", "exposed_ports", "volumes", "diff_ids"):
        v = getattr(c, name)
        assert isinstance(v, tuple) and all(isinstance(x, str) for x in v), (name, v)
    for name in ("working_dir", "user", "stop_signal", "os", "architecture"):
        assert isinstance(getattr(c, name), str), (name, getattr(c, name))
    assert c.variant is None or isinstance(c.variant, str)
    assert c.created is None or isinstance(c.created, str)
    assert isinstance(c.labels, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in c.labels.items())


def test_manifest_seeds_parse():
    for seed in MANIFEST_SEEDS:
        _manifest_outcome(to_json(seed), None)
    assert mf.parse_config(to_json(_IMAGE_CONFIG)).diff_ids == (_D, _D)


@fuzz_settings(600)
@given(data=st.data(), media_type=_MEDIA_TYPES)
def test_manifests_mutated(data, media_type):
    _manifest_outcome(to_json(data.draw(mutated_doc(MANIFEST_SEEDS))), media_type)


@fuzz_settings(200)
@given(data=st.data(), media_type=_MEDIA_TYPES)
def test_manifests_mutated_bytes_and_random(data, media_type):
    raw = data.draw(mutated_bytes(MANIFEST_SEEDS) | json_values.map(to_json))
    _manifest_outcome(raw, media_type)


@fuzz_settings(400)
@given(data=st.data())
def test_image_configs_mutated(data):
    _config_doc_outcome(to_json(data.draw(mutated_doc([_IMAGE_CONFIG]))))


@fuzz_settings(150)
@given(data=st.data())
def test_image_configs_mutated_bytes_and_random(data):
    _config_doc_outcome(data.draw(mutated_bytes([_IMAGE_CONFIG]) | json_values.map(to_json)))

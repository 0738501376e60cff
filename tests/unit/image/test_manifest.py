"""Manifest, index and config parsing; platform selection; refusals with clear messages."""
import json

import pytest

from pyrt.errors import ImageError
from pyrt.image import manifest as mf

H = "sha256:" + "11" * 32
H2 = "sha256:" + "22" * 32


def _manifest(media_type=mf.OCI_MANIFEST, layer_type="application/vnd.oci.image.layer.v1.tar+gzip", **extra):
    doc = {"schemaVersion": 2, "mediaType": media_type,
           "config": {"mediaType": mf.OCI_CONFIG, "digest": H, "size": 10},
           "layers": [{"mediaType": layer_type, "digest": H2, "size": 20}], **extra}
    return json.dumps(doc).encode()


def _index(entries, media_type=mf.OCI_INDEX):
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries}).encode()


def _entry(arch, variant=None, os="linux", digest=H, media_type=mf.OCI_MANIFEST):
    p = {"os": os, "architecture": arch}
    if variant:
        p["variant"] = variant
    return {"mediaType": media_type, "digest": digest, "size": 1, "platform": p}


def test_oci_and_docker_manifests():
    for mt, lt in ((mf.OCI_MANIFEST, "application/vnd.oci.image.layer.v1.tar+zstd"),
                   (mf.DOCKER_MANIFEST, "application/vnd.docker.image.rootfs.diff.tar.gzip")):
        m = mf.parse_manifest(_manifest(mt, lt))
        assert isinstance(m, mf.Manifest) and m.media_type == mt
        assert m.config.digest == H and m.layers[0].digest == H2 and m.layers[0].size == 20


def test_media_type_from_content_type_when_field_missing():
    doc = json.loads(_manifest())
    del doc["mediaType"]
    m = mf.parse_manifest(json.dumps(doc).encode(), mf.DOCKER_MANIFEST + "; charset=utf-8")
    assert m.media_type == mf.DOCKER_MANIFEST
    # No field and no header: OCI, judged by its shape.
    assert mf.parse_manifest(json.dumps(doc).encode()).media_type == mf.OCI_MANIFEST


def test_schema1_refused():
    doc = {"schemaVersion": 1, "name": "x", "tag": "latest", "fsLayers": []}
    with pytest.raises(ImageError, match="schema 1, which is not supported"):
        mf.parse_manifest(json.dumps(doc).encode(), mf.DOCKER_SCHEMA1[1])


def test_oversized_refused():
    with pytest.raises(ImageError, match="manifest too large"):
        mf.parse_manifest(b" " * (mf.MAX_MANIFEST_SIZE + 1))


@pytest.mark.parametrize("data,needle", [
    (b"not json", "malformed manifest"),
    (b"[]", "not a JSON object"),
    (json.dumps({"schemaVersion": 3}).encode(), "schemaVersion"),
    (json.dumps({"schemaVersion": 2, "mediaType": "text/plain"}).encode(), "unsupported manifest media type"),
    (json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST, "layers": []}).encode(), "config or layers missing"),
    (_manifest(layer_type="application/x-tar+lz4"), "unsupported layer media type"),
    (json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST, "config": {"digest": H},
                 "layers": []}).encode(), "malformed config descriptor"),
])
def test_bad_manifests(data, needle):
    with pytest.raises(ImageError, match=needle):
        mf.parse_manifest(data)


def test_index_platform_selection():
    idx = mf.parse_manifest(_index([
        _entry("amd64", digest="sha256:" + "a0" * 32),
        _entry("arm64", "v8", digest="sha256:" + "a1" * 32),
        _entry("arm", "v6", digest="sha256:" + "a2" * 32),
        _entry("arm", "v7", digest="sha256:" + "a3" * 32),
        _entry("amd64", os="windows", digest="sha256:" + "a4" * 32),
    ], mf.DOCKER_LIST))
    assert isinstance(idx, mf.Index)
    assert idx.select(mf.Platform("linux", "amd64")).digest.startswith("sha256:a0")
    # arm64 with or without v8 is the same thing.
    assert idx.select(mf.Platform("linux", "arm64")).digest.startswith("sha256:a1")
    assert idx.select(mf.parse_platform("linux/arm64/v8")).digest.startswith("sha256:a1")
    assert idx.select(mf.parse_platform("linux/arm/v7")).digest.startswith("sha256:a3")
    assert idx.select(mf.parse_platform("windows/amd64")).digest.startswith("sha256:a4")
    with pytest.raises(ImageError, match=r"no image for platform linux/s390x .*linux/amd64"):
        idx.select(mf.parse_platform("linux/s390x"))
    with pytest.raises(ImageError, match="no image for platform linux/arm/v5"):
        idx.select(mf.parse_platform("linux/arm/v5"))


def test_index_prefers_entry_without_variant():
    idx = mf.parse_manifest(_index([_entry("arm", "v6", digest="sha256:" + "b0" * 32),
                                    _entry("arm", digest="sha256:" + "b1" * 32)]))
    assert idx.select(mf.Platform("linux", "arm")).digest.startswith("sha256:b1")


def test_index_skips_attestation_entries():
    idx = mf.parse_manifest(_index([_entry("amd64", media_type="application/vnd.in-toto+json",
                                           digest="sha256:" + "c0" * 32),
                                    _entry("amd64", digest="sha256:" + "c1" * 32)]))
    assert idx.select(mf.Platform("linux", "amd64")).digest.startswith("sha256:c1")


@pytest.mark.parametrize("bad", ["linux", "linux/", "a/b/c/d", "/amd64"])
def test_bad_platform(bad):
    with pytest.raises(ImageError, match="invalid platform"):
        mf.parse_platform(bad)


def test_host_platform_is_linux():
    p = mf.host_platform()
    assert p.os == "linux" and p.architecture in ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64")


def test_config_fields():
    doc = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
           "config": {"Entrypoint": ["/bin/ep"], "Cmd": ["-x"], "Env": ["A=1"], "WorkingDir": "/w",
                      "User": "1000:1000", "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                      "Volumes": {"/data": {}}, "StopSignal": "SIGQUIT", "Labels": {"k": "v"}},
           "rootfs": {"type": "layers", "diff_ids": [H, H2]}}
    c = mf.parse_config(json.dumps(doc).encode())
    assert c.entrypoint == ("/bin/ep",) and c.cmd == ("-x",) and c.env == ("A=1",)
    assert c.working_dir == "/w" and c.user == "1000:1000" and c.stop_signal == "SIGQUIT"
    assert c.exposed_ports == ("53/udp", "80/tcp") and c.volumes == ("/data",)
    assert c.labels == {"k": "v"} and c.diff_ids == (H, H2) and c.architecture == "amd64"


def test_config_minimal_and_bad():
    c = mf.parse_config(b'{"rootfs": {"type": "layers", "diff_ids": []}}')
    assert c.cmd == () and c.env == () and c.labels == {} and c.os == "linux"
    with pytest.raises(ImageError, match="Cmd must be a list of strings"):
        mf.parse_config(b'{"config": {"Cmd": [1]}}')
    with pytest.raises(ImageError, match="malformed image config"):
        mf.parse_config(b"{")

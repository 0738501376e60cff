"""Image references: docker's normalisation rules, errors for bad input, short-name search."""
import pytest

from pyrt.errors import ImageError
from pyrt.image import reference as r

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,domain,path,tag,digest", [
    ("alpine", "docker.io", "library/alpine", "latest", None),
    ("alpine:3.19", "docker.io", "library/alpine", "3.19", None),
    ("library/alpine", "docker.io", "library/alpine", "latest", None),
    ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
    ("docker.io/alpine", "docker.io", "library/alpine", "latest", None),
    ("index.docker.io/foo/bar", "docker.io", "foo/bar", "latest", None),
    ("localhost/img", "localhost", "img", "latest", None),
    ("localhost:5000/a/b/c:v1.2-rc_3", "localhost:5000", "a/b/c", "v1.2-rc_3", None),
    ("quay.io/coreos/etcd", "quay.io", "coreos/etcd", "latest", None),
    ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", None),
    ("[::1]:5000/x:t", "[::1]:5000", "x", "t", None),
    (f"alpine@{D}", "docker.io", "library/alpine", None, D),
    (f"ghcr.io/o/n:tag@{D}", "ghcr.io", "o/n", "tag", D),
    ("a__b/c-d.e", "docker.io", "a__b/c-d.e", "latest", None),
])
def test_parse(text, domain, path, tag, digest):
    ref = r.parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)


def test_str_and_helpers():
    ref = r.parse("alpine")
    assert str(ref) == "docker.io/library/alpine:latest"
    assert ref.registry_host == "registry-1.docker.io"
    assert ref.object == "latest"
    assert ref.tagged == "docker.io/library/alpine:latest"
    pinned = r.parse(f"quay.io/a/b:t@{D}")
    assert pinned.object == D
    assert str(pinned) == f"quay.io/a/b:t@{D}"
    assert r.parse(f"quay.io/a/b@{D}").tagged is None
    assert r.parse("host:5000/x").registry_host == "host:5000"


@pytest.mark.parametrize("bad,needle", [
    ("", "empty"),
    ("Alpine", "lowercase"),
    ("docker.io/Library/alpine", "lowercase"),
    ("alpine:", "bad tag"),
    ("alpine:-x", "bad tag"),
    ("alpine@sha256:123", "bad digest"),
    ("alpine@md5:" + "a" * 32, "bad digest"),
    ("a//b", "invalid reference"),
    ("a/-b", "invalid reference"),
    ("host:5000/", "no repository"),
    ("a" * 300, "longer than"),
    ("ex ample/x", "invalid reference"),
])
def test_invalid(bad, needle):
    with pytest.raises(ImageError) as e:
        r.parse(bad)
    assert needle in str(e.value)
    assert e.value.exit_code == 9


def test_short_names_use_search_registries(tmp_path):
    conf_path = tmp_path / "registries.conf"
    conf_path.write_text('unqualified-search-registries = ["registry.example:5000", "quay.io"]\n'
                         '[[registry]]\nlocation = "registry.example:5000"\ninsecure = true\n')
    conf = r.load_registries_conf(str(conf_path))
    cands = conf.candidates("tools/busybox:1")
    assert [str(c) for c in cands] == ["registry.example:5000/tools/busybox:1", "quay.io/tools/busybox:1"]
    # A qualified name is never searched.
    assert [str(c) for c in conf.candidates("ghcr.io/a/b")] == ["ghcr.io/a/b:latest"]
    assert conf.is_insecure("registry.example:5000") and not conf.is_insecure("quay.io")


def test_missing_conf_means_docker_hub(tmp_path):
    conf = r.load_registries_conf(str(tmp_path / "none.conf"))
    assert [str(c) for c in conf.candidates("busybox")] == ["docker.io/library/busybox:latest"]


def test_bad_conf(tmp_path):
    p = tmp_path / "bad.conf"
    p.write_text("unqualified-search-registries = [\n")
    with pytest.raises(ImageError, match="cannot parse registries config"):
        r.load_registries_conf(str(p))

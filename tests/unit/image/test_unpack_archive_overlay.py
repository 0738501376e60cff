"""Pure pieces of unpack / snapshot / archive: no root, no kernel features."""
from __future__ import annotations

import tarfile

import pytest

from pyrt.errors import ImageError, UsageError
from pyrt.image import archive, mediatypes, unpack
from pyrt.linux import overlay


@pytest.mark.parametrize("mt,comp", [
    ("application/vnd.oci.image.layer.v1.tar", None),
    ("application/vnd.oci.image.layer.v1.tar+gzip", "gzip"),
    ("application/vnd.oci.image.layer.v1.tar+zstd", "zstd"),
    ("application/vnd.docker.image.rootfs.diff.tar.gzip", "gzip"),
    ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "gzip"),
])
def test_compression_of_media_types(mt, comp):
    assert mediatypes.compression_of(mt) == comp


def test_unknown_media_type_is_an_image_error():
    with pytest.raises(ImageError, match="unknown layer media type: text/plain"):
        mediatypes.compression_of("text/plain")


@pytest.mark.parametrize("head,comp", [(b"\x1f\x8b\x08\x00", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"),
                                       (b"bin/", None)])
def test_sniff(tmp_path, head, comp):
    p = tmp_path / "b"
    p.write_bytes(head + b"\0" * 600)
    assert mediatypes.sniff_compression(str(p)) == comp


def _ti(mtime, pax=None):
    ti = tarfile.TarInfo("x")
    ti.mtime = mtime
    ti.pax_headers = pax or {}
    return ti


def test_mtime_ns_is_exact_for_pax_fractions():
    assert unpack._mtime_ns(_ti(1.5, {"mtime": "1795632245.625077328"})) == 1795632245_625077328
    assert unpack._mtime_ns(_ti(1.0, {"mtime": "12.5"})) == 12_500_000_000
    assert unpack._mtime_ns(_ti(1700000000)) == 1700000000_000000000
    assert unpack._mtime_ns(_ti(0, {"mtime": "-1.5"})) == -1_500_000_000


@pytest.mark.parametrize("name", ["../x", "a/../../x", "a/.."])
def test_split_refuses_dotdot(name):
    with pytest.raises(ImageError, match=repr(name).replace("(", r"\(")):
        unpack._Layer.split(name, name)


def test_split_normalises_dots_and_slashes():
    assert unpack._Layer.split("./a//b/./c/", "e") == ["a", "b", "c"]
    assert unpack._Layer.split("./", "e") == []


def test_overlay_options_escape_separators():
    opts = overlay.options(["/l/a:b", "/l/c,d"], "/u", "/w")
    assert opts == r"lowerdir=/l/a\:b:/l/c\,d,upperdir=/u,workdir=/w"


def test_apply_changes():
    cfg = {"config": {"Env": ["A=1", "B=2"]}}
    archive.apply_changes(cfg, ['CMD ["/bin/sh"]', "ENTRYPOINT /init --x", "ENV A=3", "ENV C 4",
                                "WORKDIR /srv", "USER 1000:1000", "EXPOSE 80 53/udp", "VOLUME /data",
                                'LABEL org.x="y"', "STOPSIGNAL SIGINT"])
    c = cfg["config"]
    assert c["Cmd"] == ["/bin/sh"] and c["Entrypoint"] == ["/bin/sh", "-c", "/init --x"]
    assert c["Env"] == ["B=2", "A=3", "C=4"]
    assert c["WorkingDir"] == "/srv" and c["User"] == "1000:1000" and c["StopSignal"] == "SIGINT"
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}} and c["Volumes"] == {"/data": {}}
    assert c["Labels"] == {"org.x": "y"}


@pytest.mark.parametrize("bad", ["FROB x", "CMD [not json", "nothing"])
def test_apply_changes_refuses_bad_input(bad):
    with pytest.raises(UsageError):
        archive.apply_changes({}, [bad])


def test_familiar_names():
    assert archive.familiar("docker.io/library/busybox:latest") == "busybox:latest"
    assert archive.familiar("docker.io/me/app:1") == "me/app:1"
    assert archive.familiar("quay.io/x/y:2") == "quay.io/x/y:2"

"""LayerStream on its own: gzip members, zero padding, truncation, diff_id checks (no root needed
beyond what unpack_layer wants for plain files)."""
import gzip
import hashlib
import io
import os
import tarfile

import pytest

from pyrt.errors import ImageError
from pyrt.image.layerstream import unpack_blob
from pyrt.image.store import ImageStore, LayerRecord


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _layer(store, blob, tar, media="application/vnd.oci.image.layer.v1.tar+gzip"):
    digest = store.content.put(blob)
    return LayerRecord(digest, media, len(blob), "sha256:" + hashlib.sha256(tar).hexdigest())


TAR = _tar({"a": b"x" * 300_000, "b": b"hello"})


@pytest.mark.parametrize("blob", [
    gzip.compress(TAR),
    gzip.compress(TAR[:1000]) + gzip.compress(TAR[1000:]),       # two gzip members
    gzip.compress(TAR) + b"\0" * 512,                            # zero padding after the member
])
def test_gzip_variants(tmp_path, blob):
    store = ImageStore(str(tmp_path))
    layer = _layer(store, blob, TAR)
    unpack_blob(store, layer)
    with open(os.path.join(store.layer_dir(layer.diff_id), "b"), "rb") as f:
        assert f.read() == b"hello"


def test_plain_tar(tmp_path):
    store = ImageStore(str(tmp_path))
    layer = _layer(store, TAR, TAR, "application/vnd.oci.image.layer.v1.tar")
    unpack_blob(store, layer)
    assert os.path.getsize(os.path.join(store.layer_dir(layer.diff_id), "a")) == 300_000


@pytest.mark.parametrize("blob,needle", [
    (gzip.compress(TAR)[:-100], "truncated gzip data"),
    (gzip.compress(TAR) + b"garbage", "corrupt gzip data"),
])
def test_bad_gzip(tmp_path, blob, needle):
    store = ImageStore(str(tmp_path))
    layer = _layer(store, blob, TAR)
    with pytest.raises(ImageError, match=needle):
        unpack_blob(store, layer)
    assert [n for n in os.listdir(store.layer_dir_root)] == []


def test_wrong_diff_id(tmp_path):
    store = ImageStore(str(tmp_path))
    layer = _layer(store, gzip.compress(TAR), TAR + b"\0" * 512)
    with pytest.raises(ImageError, match="not to the diff_id"):
        unpack_blob(store, layer)
    assert os.listdir(store.layer_dir_root) == []

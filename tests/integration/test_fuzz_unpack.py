"""Issue 9.13: random and mutated tar streams against the layer unpacker, as root, on a real fs.

Each stream (tests/support/fuzz.py: names and link targets full of '..', '/', whiteouts and an
absolute path into a directory outside the target; any type, mode, owner, size, PAX header; a
header field overwritten; cut short) is either refused with one ImageError, leaving nothing, or
unpacked into exactly the target directory. Either way nothing outside the target changed: the
outside directory's entries, modes, link counts and contents are compared before and after, so a
write through a symlink, a hardlink to an outside file or a stray temp dir is caught.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

import pytest
from hypothesis import event, given

from pyrt.errors import ImageError, PyrtError
from pyrt.image.unpack import unpack_layer
from tests.support.fuzz import fuzz_settings, tar_stream

TAR = "application/vnd.oci.image.layer.v1.tar"
# Fixed per process, so the strategy can put the real outside path into link targets.
SANDBOX = os.path.join(tempfile.gettempdir(), f"pyrt-fuzz-unpack-{os.getpid()}")
OUTSIDE = os.path.join(SANDBOX, "outside")


def _snapshot(top: str) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            digest = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(p, top)] = (st.st_mode, st.st_uid, st.st_nlink, digest,
                                            os.readlink(p) if os.path.islink(p) else None)
    return out


@pytest.fixture(scope="module")
def sandbox():
    os.makedirs(os.path.join(OUTSIDE, "dir"))
    with open(os.path.join(OUTSIDE, "sentinel"), "w") as f:
        f.write("outside\n")
    os.makedirs(os.path.join(SANDBOX, "layers"))
    before = _snapshot(SANDBOX)
    yield before
    shutil.rmtree(SANDBOX)


@fuzz_settings(300)
@given(data=tar_stream(outside=OUTSIDE))
def test_tar_streams_are_refused_or_stay_inside(sandbox, data):
    layers = os.path.join(SANDBOX, "layers")
    blob = os.path.join(SANDBOX, "blob")
    with open(blob, "wb") as f:
        f.write(data)
    target = os.path.join(layers, "L")
    try:
        unpack_layer(blob, TAR, target)
        refused = None
    except ImageError as e:
        refused = e
    except PyrtError as e:          # only a full disk is a PyrtError that is no ImageError
        raise AssertionError(f"not an ImageError: {e}") from None
    try:
        event("refused" if refused is not None else "unpacked")
        if refused is not None: event(str(refused)[:60] if "unsafe" not in str(refused) else "unsafe")
        if refused is not None:
            assert "\n" not in str(refused), str(refused)[:300]
            assert os.listdir(layers) == [], "a refused layer left something behind"
        else:
            assert os.listdir(layers) == ["L"]
        os.unlink(blob)
        after = _snapshot(SANDBOX)
        outside_now = {k: v for k, v in after.items() if not k.startswith("layers")}
        outside_before = {k: v for k, v in sandbox.items() if not k.startswith("layers")}
        assert outside_now == outside_before, "something outside the target changed"
    finally:
        if os.path.lexists(target):
            shutil.rmtree(target)

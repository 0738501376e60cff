"""The content store: nothing visible before its digest matched; interrupted writes resume."""
import hashlib
import os

import pytest

from pyrt.errors import ImageError
from pyrt.image.content import ContentStore, DigestMismatch, check_digest
from tests.support.locks import waiters
from tests.support.wait import until

DATA = os.urandom(300_000)
DIGEST = "sha256:" + hashlib.sha256(DATA).hexdigest()


def test_put_read(tmp_path):
    cs = ContentStore(str(tmp_path))
    assert cs.put(DATA) == DIGEST
    assert cs.has(DIGEST) and cs.read(DIGEST) == DATA and cs.size(DIGEST) == len(DATA)
    assert cs.digests() == [DIGEST] and cs.ingests() == []


def test_mismatch_commits_nothing(tmp_path):
    cs = ContentStore(str(tmp_path))
    wrong = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatch):
        with cs.writer(wrong, len(DATA)) as w:
            w.write(DATA)
            w.commit()
    assert not cs.has(wrong) and cs.digests() == [] and cs.ingests() == []


def test_oversize_write_refused(tmp_path):
    cs = ContentStore(str(tmp_path))
    with pytest.raises(DigestMismatch, match="larger than its descriptor"):
        with cs.writer(DIGEST, 10) as w:
            w.write(DATA)
    assert cs.ingests() == [] and cs.digests() == []


def test_truncated_stays_for_resume(tmp_path):
    cs = ContentStore(str(tmp_path))
    with pytest.raises(DigestMismatch, match="truncated"):
        with cs.writer(DIGEST, len(DATA)) as w:
            w.write(DATA[:1000])
            w.commit()
    assert not cs.has(DIGEST)
    assert len(cs.ingests()) == 1
    # The next writer starts where the last one stopped, hashing what is staged.
    with cs.writer(DIGEST, len(DATA)) as w:
        assert w.offset == 1000
        w.write(DATA[1000:])
        w.commit()
    assert cs.read(DIGEST) == DATA and cs.ingests() == []


def test_interrupted_write_resumes(tmp_path):
    cs = ContentStore(str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        with cs.writer(DIGEST, len(DATA)) as w:
            w.write(DATA[:5000])
            raise KeyboardInterrupt
    with cs.writer(DIGEST, len(DATA)) as w:
        assert w.offset == 5000
        w.reset()
        assert w.offset == 0
        w.write(DATA)
        w.commit()
    assert cs.read(DIGEST) == DATA


@pytest.mark.parametrize("bad", ["sha256:abc", "md5:" + "0" * 32, "sha256:" + "G" * 64, "../../etc/passwd", None])
def test_digests_checked(bad):
    with pytest.raises(ImageError):
        check_digest(bad)


def test_missing_blob(tmp_path):
    with pytest.raises(ImageError, match="blob not in store"):
        ContentStore(str(tmp_path)).read(DIGEST)


def test_second_writer_waits_then_finds_blob_committed(tmp_path):
    """A writer blocked on the ingest lock while another commits must not touch the committed
    blob (its open fd points at it after the rename) and must leave no ingest file."""
    import threading
    cs = ContentStore(str(tmp_path))
    a = cs.writer(DIGEST, len(DATA)).__enter__()
    seen = {}

    def second():
        with cs.writer(DIGEST, len(DATA)) as b:
            seen["offset"] = b.offset
            seen["has"] = cs.has(DIGEST)

    t = threading.Thread(target=second)
    t.start()
    # The second writer has opened the ingest file and blocks on its lock (seen in /proc/locks).
    until(lambda: waiters(a.path) == 1, what="the second writer to wait on the ingest lock")
    a.write(DATA)
    a.commit()
    a.__exit__(None, None, None)
    t.join(10)
    assert seen == {"offset": 0, "has": True}
    assert cs.read(DIGEST) == DATA and cs.ingests() == []


def test_clean_ingest_spares_active_writers(tmp_path):
    cs = ContentStore(str(tmp_path))
    with pytest.raises(DigestMismatch):
        with cs.writer(DIGEST, len(DATA)) as w:
            w.write(DATA[:10])
            w.commit()
    other = "sha256:" + "1" * 64
    with cs.writer(other, 100) as busy:
        busy.write(b"x")
        assert cs.clean_ingest() == 1
        assert cs.ingests() == [busy.path]

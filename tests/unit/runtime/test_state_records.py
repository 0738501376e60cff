"""pyrt.runtime.state and the CLI's message guard: container ids, state.json read strictly,
cgroup.json, and messages that never echo a huge hostile value whole (issue 9, items 9 and 11)."""
from __future__ import annotations

import json
import os

import pytest

from pyrt.cli.pyrt_runc import MAX_MESSAGE, _one_line
from pyrt.errors import NotFoundError, UsageError, quote
from pyrt.runtime import state as st


@pytest.mark.parametrize("cid", ["a", "A-z_0.9+x", "...", "..a", "_", "a" * 255])
def test_ids_runc_accepts(cid):
    st.validate_id(cid)


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a b", "é", "a\u0663", "ｆｕｌｌ", "a,b", "a\0b",
                                 "a\n", "x" * 10_000 + "é", "a" * 256, "a" * 100_000])
def test_ids_runc_refuses(cid):
    """ASCII \\w only (Go's \\w), as runc; ',' (which runc 1.1.5's class let slip) is refused."""
    with pytest.raises(UsageError) as e:
        st.validate_id(cid)
    assert len(str(e.value)) < 200


def _write(tmp_path, text):
    d = tmp_path / "c1"
    d.mkdir(exist_ok=True)
    (d / "state.json").write_text(text) if isinstance(text, str) else (d / "state.json").write_bytes(text)
    return str(d)


def good_state() -> str:
    return st.State(id="c1", pid=42, start_time=7, cgroup={"path": "p", "mode": "v2", "v2": "/x"}).to_json()


def test_state_round_trip(tmp_path):
    d = _write(tmp_path, good_state())
    s = st.read_state(d, "c1")
    assert (s.pid, s.start_time, s.cgroup["v2"]) == (42, 7, "/x")


@pytest.mark.parametrize("text, words", [
    (good_state()[:40], "unexpected EOF"),
    (good_state()[:-3], "unexpected EOF"),
    ("", "unexpected EOF"),
    ("{,}", "not valid JSON"),
    (b"{\"id\": \"\xff\"}", "not UTF-8"),
    ("[]", "expected an object"),
    (json.dumps({"pid": "42"}), "pid: expected an integer, got a string"),
    (json.dumps({"pid": True}), "pid: expected an integer, got a boolean"),
    (json.dumps({"start_time": 1.5}), "start_time: expected an integer, got a number"),
    (json.dumps({"cgroup": []}), "cgroup: expected an object, got an array"),
    (json.dumps({"id": None}), "id: expected a string, got null"),
    (json.dumps({"cgroup": {"path": "p", "mode": "hybrid", "v1": []}}), "cgroup.v1: expected an object"),
    (json.dumps({"cgroup": {"path": "p", "mode": "v2", "created": [1]}}), "cgroup.created: expected strings"),
    (json.dumps({"cgroup": {"mode": "v2"}}), "cgroup.path: missing"),
    ("[" * 100_000, "exceeded max depth"),
])
def test_unreadable_state_is_one_error(tmp_path, text, words):
    d = _write(tmp_path, text)
    with pytest.raises(st.UnreadableStateError) as e:
        st.read_state(d, "c1")
    assert words in str(e.value) and "c1" in str(e.value)
    assert e.value.exit_code == 1 and "\n" not in str(e.value)


def test_state_json_as_directory(tmp_path):
    d = tmp_path / "c1"
    (d / "state.json").mkdir(parents=True)
    with pytest.raises(st.UnreadableStateError, match="is a directory"):
        st.read_state(str(d), "c1")


def test_missing_state_is_not_found_and_debris(tmp_path):
    d = tmp_path / "c1"
    d.mkdir()
    with pytest.raises(NotFoundError, match="does not exist"):
        st.read_state(str(d), "c1")
    assert st.is_debris(str(d))


def test_cgroup_record(tmp_path):
    assert st.read_cgroup_record(str(tmp_path)) is None
    st.write_cgroup_record(str(tmp_path), {"path": "p", "mode": "v2", "created": ["/a", "/a/b"]})
    assert st.read_cgroup_record(str(tmp_path))["created"] == ["/a", "/a/b"]
    assert os.listdir(tmp_path) == ["cgroup.json"]  # the temp file was renamed over
    (tmp_path / "cgroup.json").write_text('{"path": "p", "mode": "v2", "created": 3}')
    with pytest.raises(ValueError):
        st.read_cgroup_record(str(tmp_path))


def test_quote_and_message_guard():
    huge = "z" * (100 * 1024 * 1024)
    assert len(quote(huge)) < 120 and "104857600 characters" in quote(huge)
    assert quote("short") == "'short'"
    line = _one_line(f"process.user.uid: expected an integer, got {huge!r}\nsecond line")
    assert len(line) <= MAX_MESSAGE + 50 and "\n" not in line
    assert line.startswith("process.user.uid: expected an integer") and "characters cut" in line
    assert _one_line("fine") == "fine"


def test_shorten_keeps_head_and_reason():
    from pyrt.errors import shorten
    text = "exec: \"" + "x" * 1_000_000 + "\": executable file not found in $PATH"
    out = shorten(text, 1000)
    assert len(out) < 1100 and out.startswith("exec: \"xx") and out.endswith("not found in $PATH")
    assert "characters cut" in out
    assert shorten("short", 1000) == "short"


def test_channel_cuts_an_error_to_fit_one_datagram():
    from pyrt.runtime import channel
    a, b = channel.pair()
    try:
        channel.send(a, "error", kind="RuntimeSetupError", message="m" * 10_000_000 + " the reason")
        msg = channel.recv(b)
        assert len(msg["message"]) <= channel.MAX_TEXT + 100 and msg["message"].endswith("the reason")
    finally:
        a.close()
        b.close()

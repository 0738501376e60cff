"""pyrt.runtime.state: the status rules, container ids, state.json and the container lock."""
import os

import pytest

from pyrt.errors import ExistsError, NotFoundError, UsageError
from pyrt.runtime import state as st


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


def test_state_is_a_record_that_round_trips_and_checks_types():
    s = st.State(id="c1", pid=7)
    assert s.annotations == {} and s.annotations is not st.State().annotations  # a dict each
    s.pid = 8  # create fills it in
    d = s.to_dict()
    assert d["pid"] == 8 and set(d) == set(st.State._fields)
    assert st.State.from_dict(dict(d, written_by_a_newer_pyrt=1)) == s
    for bad, words in (({"pid": "8"}, "pid: expected an integer, got a string"),
                       ({"no_process": 1}, "no_process: expected a boolean, got an integer"),
                       ({"pid": True}, "pid: expected an integer, got a boolean"),
                       ([], "expected an object, got an array")):
        with pytest.raises(ValueError, match=words):
            st.State.from_dict(bad)
    with pytest.raises(TypeError):
        st.State(no_such_field=1)


def test_require_refuses_a_verb_its_status_does_not_allow():
    """Status.require: the one place a verb is refused for the container's status."""
    from pyrt.errors import StateError
    from pyrt.runtime.state import Status
    Status.CREATED.require("start")
    Status.PAUSED.require("resume")
    with pytest.raises(StateError) as e:
        Status.RUNNING.require("delete", " (use --force)")
    assert e.value.message == "cannot delete a container that is running (use --force)"
    for verb in ("start", "kill", "delete", "pause", "resume", "exec"):
        with pytest.raises(StateError):
            Status.CREATING.require(verb)
    with pytest.raises(StateError):
        Status.STOPPED.require("update")

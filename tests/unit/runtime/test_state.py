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

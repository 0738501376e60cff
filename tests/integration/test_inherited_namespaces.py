"""Namespaces a config does not list are the runtime's (config-linux.md: the container MUST
inherit them): differential runs against runc, one config per omitted namespace type, mount
included, and one with none at all.

Every run happens inside a private mount namespace of the test's own (tests.support.mountns.py):
with the mount namespace inherited, the runtime mounts the rootfs bind and /proc in the
namespace it runs in. runc 1.1.5 leaves them there after its container is gone; pyrt-runc's
delete removes them, and the test checks both facts.
"""
from __future__ import annotations

import copy

import pytest

from tests.support.bundle import PYRT_RUNC, RUNC
from tests.support.conformance import TYPES, config_without
from tests.support.differential import normalise, probe_binary
from tests.support.mountns import in_private_ns

def comparable(res: dict, omit: set[str]) -> dict:
    """What must agree between two runtimes' runs of one config: the probe's report less what
    legitimately differs between two runs (host pids without a pid namespace; the host-wide
    mount table, from which only the container's own mounts are kept, without a mount one)."""
    r = copy.deepcopy(normalise(res["report"], res["bundle"]))
    if "pid" in omit:
        for k in ("pid", "ppid", "sid_is_pid"):
            r.pop(k, None)
        r.get("status", {}).pop("NSpid", None)
        r.get("status", {}).pop("NStgid", None)
        r.get("status", {}).pop("NSsid", None)
        r.get("status", {}).pop("NSpgid", None)
    else:
        r.pop("sid_is_pid", None)  # compared by test_differential.py::test_session_leader
    return r


def _runs(tmp_path, omit: set[str], cgroup_parent: str, runtimes) -> dict:
    cfg = config_without(omit, cgroup_parent)
    out = in_private_ns("probe_runs", runtimes=list(runtimes), work=str(tmp_path), config=cfg, probe=probe_binary())
    for i, res in enumerate(out.values()):
        res["bundle"] = str(tmp_path / f"bundle-{i}")
    return out


@pytest.mark.parametrize("omit", [(t,) for t in TYPES] + [TYPES + ("user",)],
                         ids=[f"without-{t}" for t in TYPES] + ["none-at-all"])
def test_omitted_namespaces_are_inherited_as_under_runc(omit, tmp_path, cgroup_parent):
    omit = set(omit)
    runs = _runs(tmp_path, omit, cgroup_parent, (RUNC, PYRT_RUNC))
    ref, cand = runs["runc"], runs["pyrt-runc"]
    assert ref["rc"] == 0 and ref["report"], f"runc: {ref['stderr']}"
    assert cand["rc"] == 0 and cand["report"], f"pyrt-runc: {cand['stderr']}"
    want = {t: "inherited" if t in omit or t == "user" else "new" for t in TYPES + ("user",)}
    assert ref["report"]["namespaces"] == want, ref["report"]["namespaces"]
    assert cand["report"]["namespaces"] == want
    a, b = comparable(ref, omit), comparable(cand, omit)
    diffs = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    assert not diffs, f"reports differ (runc, pyrt-runc): {diffs}"
    assert cand["delete_rc"] == 0 and cand["state_left"] == []
    # pyrt's delete undoes what it mounted in the inherited mount namespace; runc 1.1.5 does not
    assert cand["left"] == [], cand["left"]
    if "mount" in omit:
        assert ref["left"], "runc 1.1.5 was expected to leave its mounts behind"
    else:
        assert ref["left"] == []

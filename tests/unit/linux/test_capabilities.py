"""Capability model (spec) and applying it to a real process (a forked child, as root)."""
import os

import pytest

from pyrt.errors import ConfigError
from pyrt.linux import capabilities as lcaps
from pyrt.spec.capabilities import CAP_NAMES, Capabilities, cap_number
from tests.support.forked import ChildError, in_child, proc_status


def test_table_matches_kernel_and_prctl():
    import prctl
    # python-prctl's own table agrees with ours wherever it has a name.
    for name in set(prctl.ALL_CAP_NAMES) - {"last_cap"}:
        assert cap_number("CAP_" + name.upper()) == getattr(prctl, "CAP_" + name.upper())
    assert lcaps.last_cap() == int(open("/proc/sys/kernel/cap_last_cap").read())
    assert lcaps.last_cap() < len(CAP_NAMES)


def test_from_dict_parses_all_sets_and_defaults_to_empty():
    c = Capabilities.from_dict({"bounding": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["CAP_NET_RAW"]})
    assert c.bounding == {5, 0}
    assert c.ambient == {13}
    assert c.effective == c.permitted == c.inheritable == frozenset()
    assert Capabilities.from_dict(None) == Capabilities()
    assert c.names("bounding") == ["CAP_CHOWN", "CAP_KILL"]


def test_unknown_capability_names_the_culprit():
    with pytest.raises(ConfigError, match="process.capabilities.effective: unknown capability 'CAP_FLY'"):
        Capabilities.from_dict({"effective": ["CAP_FLY"]})
    with pytest.raises(ConfigError, match="unknown capability 'cap_kill'"):
        Capabilities.from_dict({"bounding": ["cap_kill"]})
    with pytest.raises(ConfigError, match="process.capabilities.effective: expected a list, got str"):
        Capabilities.from_dict({"effective": "CAP_KILL"})


def _mask(names):
    return f"{sum(1 << cap_number(n) for n in names):016x}"


def _apply_and_report(d, as_uid=None):
    if as_uid is not None:
        lcaps.keep_caps(True)
        os.setgid(as_uid)
        os.setuid(as_uid)
    lcaps.apply(Capabilities.from_dict(d))
    st = proc_status()
    return {k: st[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def test_apply_sets_all_five_sets_as_root():
    some = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETPCAP"]
    d = {"bounding": some, "effective": some[:2], "permitted": some, "inheritable": some[1:3],
         "ambient": ["CAP_NET_BIND_SERVICE"]}
    got = in_child(_apply_and_report, d)
    assert got == {"CapBnd": _mask(some), "CapEff": _mask(some[:2]), "CapPrm": _mask(some),
                   "CapInh": _mask(some[1:3]), "CapAmb": _mask(["CAP_NET_BIND_SERVICE"])}


def test_apply_after_setuid_with_keepcaps_keeps_requested_caps():
    caps = ["CAP_NET_RAW", "CAP_KILL"]
    d = {s: caps for s in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    got = in_child(_apply_and_report, d, as_uid=1000)
    assert got == {k: _mask(caps) for k in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb")}


def test_ambient_not_in_inheritable_is_skipped_like_runc():
    d = {"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "effective": ["CAP_KILL"],
         "ambient": ["CAP_KILL"]}
    got = in_child(_apply_and_report, d)
    assert got["CapAmb"] == _mask([])
    assert got["CapEff"] == _mask(["CAP_KILL"])


def test_effective_beyond_permitted_fails_with_errno():
    d = {"effective": ["CAP_KILL"], "permitted": []}
    with pytest.raises(ChildError) as ei:
        in_child(_apply_and_report, d)
    assert ei.value.errno == 1 and "capset" in ei.value.message


def test_no_new_privs_in_child():
    def f():
        before = lcaps.no_new_privs()
        lcaps.set_no_new_privs()
        return [before, lcaps.no_new_privs(), proc_status()["NoNewPrivs"]]
    assert in_child(f) == [False, True, "1"]


def test_get_sets_reads_back_what_status_shows():
    def f():
        s = lcaps.get_sets()
        return [sorted(s["effective"]), int(proc_status()["CapEff"], 16)]
    eff, mask = in_child(f)
    assert sum(1 << n for n in eff) == mask

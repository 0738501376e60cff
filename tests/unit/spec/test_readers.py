"""process.capabilities, linux.seccomp and hooks read through pyrt.spec.fields: every edge case of
their JSON (null / missing / empty, wrong types, unknown keys and names) and the message that
names the field. What runc 1.1.5 accepts for the same config.json is checked, case by case, in
tests/integration/test_differential_config.py; these pin the readers without a container.
"""
import pytest

from pyrt.errors import ConfigError
from pyrt.spec.hooks import validate
from pyrt.spec import fields
from pyrt.spec.capabilities import Capabilities, cap_number
from pyrt.spec.seccomp import Seccomp


def refused(fn, arg, message):
    with pytest.raises(ConfigError) as e:
        fn(arg)
    assert str(e.value).startswith(message), str(e.value)
    assert "\n" not in str(e.value)


# --- fields: the shapes added for these readers -------------------------------------------------
def test_entries_names_each_element_and_reads_null_as_empty():
    assert list(fields.entries({"a": [{"x": 1}, None]}, "a", "top")) == [("top.a[0]", {"x": 1}), ("top.a[1]", {})]
    assert list(fields.entries({}, "a", "top")) == list(fields.entries({"a": None}, "a", "top")) == []
    with pytest.raises(ConfigError, match=r"^top.a\[1\]: expected an object, got list$"):
        list(fields.entries({"a": [{}, []]}, "a", "top"))
    with pytest.raises(ConfigError, match=r"^top.a: expected a list, got dict$"):
        list(fields.entries({"a": {}}, "a", "top"))


def test_choice_and_choices():
    assert fields.choice({"k": "B"}, "k", "p", ("A", "B"), "letter") == "B"
    for d in ({}, {"k": None}, {"k": ""}):
        with pytest.raises(ConfigError, match="^p.k: is required$"):
            fields.choice(d, "k", "p", ("A",), "letter")
    with pytest.raises(ConfigError, match="^p.k: unknown letter 'a'$"):
        fields.choice({"k": "a"}, "k", "p", ("A",), "letter")
    with pytest.raises(ConfigError, match="^p.k: expected a string, got 1$"):
        fields.choice({"k": 1}, "k", "p", ("A",), "letter")
    assert fields.choices({"k": ["A", "A"]}, "k", "p", ("A",), "letter") == ("A", "A")
    assert fields.choices({"k": None}, "k", "p", ("A",), "letter") == ()
    with pytest.raises(ConfigError, match=r"^p.k\[1\]: unknown letter 'C'$"):
        fields.choices({"k": ["A", "C"]}, "k", "p", ("A",), "letter")


# --- process.capabilities -----------------------------------------------------------------------
@pytest.mark.parametrize("d", [None, {}, {"bounding": None}, {"bounding": []}, {"magic": ["CAP_FLY"]},
                               {"magic": "not even a list"}])
def test_capabilities_empty_forms_and_unknown_keys_are_no_capabilities(d):
    assert Capabilities.from_dict(d) == Capabilities()


def test_capabilities_duplicates_collapse():
    c = Capabilities.from_dict({"bounding": ["CAP_KILL", "CAP_KILL"], "ambient": ["CAP_CHOWN"] * 3})
    assert c.bounding == {5} and c.ambient == {0}


@pytest.mark.parametrize("d, message", [
    ([], "process.capabilities: expected an object, got list"),
    ("CAP_KILL", "process.capabilities: expected an object, got str"),
    ({"bounding": ""}, "process.capabilities.bounding: expected a list, got str"),
    ({"bounding": "CAP_KILL"}, "process.capabilities.bounding: expected a list, got str"),
    ({"effective": {}}, "process.capabilities.effective: expected a list, got dict"),
    ({"permitted": False}, "process.capabilities.permitted: expected a list, got bool"),
    ({"inheritable": 0}, "process.capabilities.inheritable: expected a list, got int"),
    ({"ambient": [5]}, "process.capabilities.ambient: expected a list of strings"),
    ({"ambient": [None]}, "process.capabilities.ambient: expected a list of strings"),
    # exact kernel spelling, as runc (which warns where we refuse, as issue 2 asks)
    ({"bounding": ["CAP_FLY"]}, "process.capabilities.bounding: unknown capability 'CAP_FLY'"),
    ({"bounding": ["cap_kill"]}, "process.capabilities.bounding: unknown capability 'cap_kill'"),
    ({"bounding": ["KILL"]}, "process.capabilities.bounding: unknown capability 'KILL'"),
    ({"bounding": [""]}, "process.capabilities.bounding: unknown capability ''"),
])
def test_capabilities_refused(d, message):
    refused(Capabilities.from_dict, d, message)


def test_unknown_capability_keeps_its_hint():
    with pytest.raises(ConfigError) as e:
        Capabilities.from_dict({"effective": ["CAP_FLY"]})
    assert e.value.hint and "CAP_NET_ADMIN" in e.value.hint
    with pytest.raises(ConfigError, match="^unknown capability 'X'"):
        cap_number("X")


# --- linux.seccomp ------------------------------------------------------------------------------
ALLOW = "SCMP_ACT_ALLOW"


def sc(rule=None, arg=None, **top):
    """An allow-by-default profile with one ERRNO rule on mkdir, changed by RULE / its ARG / TOP."""
    r = {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}
    if arg is not None:
        r["args"] = [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ", **arg}]
    r.update(rule or {})
    return {"defaultAction": ALLOW, "syscalls": [r], **top}


@pytest.mark.parametrize("d", [
    None, {}, {"defaultAction": None}, {"defaultAction": "", "syscalls": []},
    {"syscalls": None, "architectures": ["SCMP_ARCH_Z80"], "flags": ["NOPE"]},  # runc looks no further
])
def test_no_default_action_and_no_rules_is_no_seccomp(d):
    assert Seccomp.from_dict(d) is None


def test_seccomp_accepted_edges():
    s = Seccomp.from_dict({"defaultAction": ALLOW, "syscalls": [
        {"action": ALLOW}, {"names": [], "action": ALLOW}, {"names": None, "action": ALLOW},
        {"names": ["mkdir", "mkdir", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0,
         "args": None, "comment": "unknown keys are ignored"},
        {"names": ["read"], "action": ALLOW, "errnoRet": 13},  # kept; only ERRNO/TRACE use it
        {"names": ["write"], "action": "SCMP_ACT_KILL_THREAD", "args": [{"op": "SCMP_CMP_NE"}]},
    ], "listenerPath": "", "listenerMetadata": None, "architectures": None, "flags": None, "frobnicate": 1})
    assert s.default_action == ALLOW and s.default_errno_ret is None
    assert [c.names for c in s.syscalls[:3]] == [(), (), ()]
    assert s.syscalls[3].names == ("mkdir", "mkdir", "no_such_syscall") and s.syscalls[3].errno_ret == 0
    assert s.syscalls[3].args == () and s.syscalls[4].errno_ret == 13
    (a,) = s.syscalls[5].args
    assert (a.index, a.value, a.value_two, a.op) == (0, 0, 0, "SCMP_CMP_NE")  # Go's zero values
    assert s.listener_path is None and s.listener_metadata is None
    assert s.architectures == s.flags == ()


def test_seccomp_listener_and_big_values_kept():
    s = Seccomp.from_dict(sc(arg={"value": 2**64 - 1, "valueTwo": 7}, listenerPath="/run/l.sock",
                             listenerMetadata="meta", defaultErrnoRet=0xFFFF,
                             flags=["SECCOMP_FILTER_FLAG_TSYNC"]))
    assert s.listener_path == "/run/l.sock" and s.listener_metadata == "meta"
    assert s.syscalls[0].args[0].value == 2**64 - 1 and s.syscalls[0].args[0].value_two == 7
    assert s.default_errno_ret == 0xFFFF and s.flags == ("SECCOMP_FILTER_FLAG_TSYNC",)


P = "linux.seccomp"
R = "linux.seccomp.syscalls[0]"
A = "linux.seccomp.syscalls[0].args[0]"


@pytest.mark.parametrize("d, message", [
    ([], f"{P}: expected an object, got list"),
    ("SCMP_ACT_ALLOW", f"{P}: expected an object, got str"),
    ({"syscalls": [{"names": ["read"], "action": ALLOW}]}, f"{P}.defaultAction: is required"),
    (sc(defaultAction=""), f"{P}.defaultAction: is required"),
    (sc(defaultAction=1), f"{P}.defaultAction: expected a string, got 1"),
    (sc(defaultAction="SCMP_ACT_FOO"), f"{P}.defaultAction: unknown action 'SCMP_ACT_FOO'"),
    (sc(defaultAction="scmp_act_allow"), f"{P}.defaultAction: unknown action 'scmp_act_allow'"),
    (sc(defaultAction="SCMP_ACT_NOTIFY"), f"{P}.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"),
    (sc(defaultErrnoRet=-1), f"{P}.defaultErrnoRet: -1 is below the minimum 0"),
    (sc(defaultErrnoRet=0x10000), f"{P}.defaultErrnoRet: 65536 is above the maximum 65535"),
    (sc(defaultErrnoRet="1"), f"{P}.defaultErrnoRet: expected an integer, got '1'"),
    # JSON types are checked even where runc then looks no further (it decodes them first)
    ({"architectures": "SCMP_ARCH_X86_64"}, f"{P}.architectures: expected a list, got str"),
    ({"listenerPath": 5}, f"{P}.listenerPath: expected a string, got 5"),
    ({"defaultErrnoRet": True}, f"{P}.defaultErrnoRet: expected an integer, got True"),
    (sc(syscalls=""), f"{P}.syscalls: expected a list, got str"),
    (sc(syscalls={}), f"{P}.syscalls: expected a list, got dict"),
    (sc(syscalls=[None]), f"{P}.syscalls[0].action: is required"),
    (sc(syscalls=["read"]), f"{P}.syscalls[0]: expected an object, got str"),
    (sc(architectures=""), f"{P}.architectures: expected a list, got str"),
    (sc(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]), f"{P}.architectures[1]: unknown architecture 'SCMP_ARCH_Z80'"),
    (sc(architectures=[1]), f"{P}.architectures: expected a list of strings"),
    (sc(flags="SECCOMP_FILTER_FLAG_LOG"), f"{P}.flags: expected a list, got str"),
    (sc(flags=["SECCOMP_FILTER_FLAG_FAST"]), f"{P}.flags[0]: unknown flag 'SECCOMP_FILTER_FLAG_FAST'"),
    (sc(listenerPath=5), f"{P}.listenerPath: expected a string, got 5"),
    (sc(listenerMetadata=[]), f"{P}.listenerMetadata: expected a string, got []"),
    (sc(rule={"names": "mkdir"}), f"{R}.names: expected a list, got str"),
    (sc(rule={"names": [None]}), f"{R}.names: expected a list of strings"),
    (sc(rule={"names": ["read", ""]}), f"{R}.names[1]: an empty string is not a syscall name"),
    (sc(rule={"action": None}), f"{R}.action: is required"),
    (sc(rule={"action": "SCMP_ACT_FOO"}), f"{R}.action: unknown action 'SCMP_ACT_FOO'"),
    (sc(rule={"action": "scmp_act_errno"}), f"{R}.action: unknown action 'scmp_act_errno'"),
    (sc(rule={"action": "SCMP_ACT_NOTIFY"}), f"{P}: SCMP_ACT_NOTIFY needs listenerPath"),
    (sc(rule={"action": "SCMP_ACT_NOTIFY"}, listenerPath="/run/l.sock"), f"{P}: SCMP_ACT_NOTIFY is not supported"),
    (sc(rule={"errnoRet": -1}), f"{R}.errnoRet: -1 is below the minimum 0"),
    (sc(rule={"errnoRet": 70000}), f"{R}.errnoRet: 70000 is above the maximum 65535"),
    (sc(rule={"errnoRet": "13"}), f"{R}.errnoRet: expected an integer, got '13'"),
    (sc(rule={"errnoRet": True}), f"{R}.errnoRet: expected an integer, got True"),
    (sc(rule={"errnoRet": 1.5}), f"{R}.errnoRet: expected an integer, got 1.5"),
    (sc(rule={"args": "x"}), f"{R}.args: expected a list, got str"),
    (sc(rule={"args": [None]}), f"{A}.op: is required"),
    (sc(arg={"op": None}), f"{A}.op: is required"),
    (sc(arg={"op": "SCMP_CMP_ALMOST"}), f"{A}.op: unknown operator 'SCMP_CMP_ALMOST'"),
    (sc(arg={"index": 6}), f"{A}.index: 6 is above the maximum 5"),
    (sc(arg={"index": -1}), f"{A}.index: -1 is below the minimum 0"),
    (sc(arg={"index": "1"}), f"{A}.index: expected an integer, got '1'"),
    (sc(arg={"value": -1}), f"{A}.value: -1 is below the minimum 0"),
    (sc(arg={"value": 2**64}), f"{A}.value: {2**64} is above the maximum {2**64 - 1}"),
    (sc(arg={"value": True}), f"{A}.value: expected an integer, got True"),
    (sc(arg={"valueTwo": "1"}), f"{A}.valueTwo: expected an integer, got '1'"),
])
def test_seccomp_refused(d, message):
    refused(Seccomp.from_dict, d, message)


def test_seccomp_error_names_the_rule_and_arg_by_index():
    d = sc()
    d["syscalls"].append({"names": ["read"], "action": ALLOW,
                          "args": [{"index": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "op": "SCMP_CMP_FOO"}]})
    refused(Seccomp.from_dict, d, f"{P}.syscalls[1].args[1].op: unknown operator 'SCMP_CMP_FOO'")


# --- hooks --------------------------------------------------------------------------------------
def hook(kind="prestart", **h):
    return {kind: [{"path": "/bin/true", **h}]}


@pytest.mark.parametrize("d, want", [
    (None, {}), ({}, {}), ({"prestart": None}, {}), ({"prestart": []}, {}),
    # keys other than the six kinds are ignored, as runc decodes them
    ({"whenever": [{"path": "relative"}], "prestart": None}, {}),
    (hook(args=None, env=None, timeout=None), hook(args=None, env=None, timeout=None)),
    (hook(args=[], env=[], timeout=1, comment="x"), hook(args=[], env=[], timeout=1, comment="x")),
])
def test_hooks_accepted(d, want):
    assert validate(d) == want


def test_hooks_keep_every_kind_in_order_given():
    kinds = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
    d = {k: [{"path": f"/bin/{k}"}, {"path": "/bin/true", "args": ["true", "1"]}] for k in kinds}
    assert validate(d) == d


H = "hooks.prestart[0]"


@pytest.mark.parametrize("d, message", [
    ([], "hooks: expected an object, got list"),
    ({"prestart": {}}, "hooks.prestart: expected a list, got dict"),
    ({"poststop": "/bin/true"}, "hooks.poststop: expected a list, got str"),
    ({"prestart": [None]}, f"{H}.path: '' is not an absolute path"),
    ({"prestart": ["/bin/true"]}, f"{H}: expected an object, got str"),
    ({"prestart": [{}]}, f"{H}.path: '' is not an absolute path"),
    (hook(path="true"), f"{H}.path: 'true' is not an absolute path"),
    (hook("poststop", path="bin/true"), "hooks.poststop[0].path: 'bin/true' is not an absolute path"),
    (hook(path=5), f"{H}.path: expected a string, got 5"),
    (hook(args="true"), f"{H}.args: expected a list, got str"),
    (hook(args=["true", 1]), f"{H}.args: expected a list of strings"),
    (hook(env="A=1"), f"{H}.env: expected a list, got str"),
    (hook(env=[None]), f"{H}.env: expected a list of strings"),
    (hook(timeout=0), f"{H}.timeout: 0 is below the minimum 1"),
    (hook("poststop", timeout=-1), "hooks.poststop[0].timeout: -1 is below the minimum 1"),
    (hook(timeout=1.5), f"{H}.timeout: expected an integer, got 1.5"),
    (hook(timeout="5"), f"{H}.timeout: expected an integer, got '5'"),
    (hook(timeout=True), f"{H}.timeout: expected an integer, got True"),
])
def test_hooks_refused(d, message):
    refused(validate, d, message)


def test_hooks_error_names_the_kind_and_index():
    d = {"prestart": [{"path": "/bin/true"}], "poststart": [{"path": "/bin/true"}, {"path": "/x", "timeout": 0}]}
    refused(validate, d, "hooks.poststart[1].timeout: 0 is below the minimum 1")

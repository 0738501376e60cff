"""pyrt.spec.jsonio: the json-compatible reader/writer that keeps `import json` off the hot path."""
import json
import subprocess
import sys

import pytest

from pyrt.spec import jsonio

SAMPLES = [
    {}, [], "", 0, -1, 1.5, 1e300, True, False, None, "ünï\n\"\\\t\x01 ☃ 𝄞",
    {"b": [1, 2.25, {"x": None, "y": [[], {}]}], "a": "v", "ü": (1, 2)},
    [{"k": [True, False, None]}, -0.0, 12345678901234567890],
    {1: "int key", 2.5: "float key", True: "bool", None: "none"},
]


@pytest.mark.parametrize("obj", SAMPLES)
@pytest.mark.parametrize("indent", [None, 1, 2])
@pytest.mark.parametrize("sort_keys", [False, True])
def test_dumps_matches_json(obj, indent, sort_keys):
    if sort_keys and isinstance(obj, dict) and len({type(k) for k in obj}) > 1:
        # Mixed key types cannot be sorted: both refuse, alike.
        with pytest.raises(TypeError) as theirs:
            json.dumps(obj, indent=indent, sort_keys=sort_keys)
        with pytest.raises(TypeError) as ours:
            jsonio.dumps(obj, indent=indent, sort_keys=sort_keys)
        assert str(ours.value) == str(theirs.value)
        return
    assert jsonio.dumps(obj, indent=indent, sort_keys=sort_keys) == json.dumps(obj, indent=indent, sort_keys=sort_keys)


@pytest.mark.parametrize("obj", SAMPLES)
def test_loads_round_trip(obj):
    text = json.dumps(obj, indent=2)
    assert jsonio.loads(text) == json.loads(text)
    assert jsonio.loads(text.encode()) == json.loads(text)
    assert jsonio.loads("  \n" + text + "\n ") == json.loads(text)


@pytest.mark.parametrize("bad", ["", "   ", "{", '{"a": 1} x', "[1,]", "nul", '"\x01"', b"\xff"])
def test_bad_input_raises_what_json_raises(bad):
    with pytest.raises(ValueError) as ours:
        jsonio.loads(bad)
    with pytest.raises(ValueError) as theirs:
        json.loads(bad)
    assert str(ours.value) == str(theirs.value)


def test_nan_and_unserialisable():
    assert jsonio.dumps([float("nan"), float("inf"), float("-inf")]) == "[NaN, Infinity, -Infinity]"
    assert jsonio.loads("[NaN, -Infinity]")[1] == float("-inf")
    with pytest.raises(TypeError):
        jsonio.dumps({"x": object()})


def test_no_json_import():
    """The point of the module: reading and writing without loading json, re or enum."""
    code = ("import sys; from pyrt.spec import jsonio; jsonio.dumps(jsonio.loads('{\"a\": [1, 2.5]}'), indent=2);"
            "print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    # bad input in a process that has not imported json: json's own error
    code = "from pyrt.spec import jsonio\ntry:\n    jsonio.loads('{not json')\nexcept ValueError as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000,
                                  b"[" * 100_000])
def test_deep_nesting_is_a_value_error_not_a_recursion_error(text):
    """runc answers `exceeded max depth` (Go's encoding/json limit); Python's scanner would raise
    RecursionError, which is no ValueError and reached the user as a traceback."""
    with pytest.raises(ValueError, match="exceeded max depth"):
        jsonio.loads(text)


def test_find_nul_names_the_place():
    doc = {"a": {"b": ["x", "y\0"]}, "c": "ok"}
    assert jsonio.find_nul(doc) == "a.b[1]"
    assert jsonio.find_nul({"annotations": {"k": "v\0"}}, skip=("annotations",)) is None
    assert jsonio.find_nul({"k\0": 1}) == "k\0"
    assert jsonio.find_nul("\0") == "(document)"
    deep = ["\0"]
    for _ in range(50_000):
        deep = [deep]
    assert jsonio.find_nul(deep).endswith("[0]")  # no recursion: any depth

"""JSON in and out without importing the `json` package on the hot path.

Why: `import json` pulls in `re`, which pulls in `enum` and `functools`: ~4-5 ms of every
`pyrt-runc` call, a quarter of runc's whole `start`. The C accelerator `_json` that `json` itself
uses does the parsing here (its scanner only needs a small context object); output is a short
recursive writer that produces what json.dumps produces (ensure_ascii, same separators).
Anything the fast path does not accept is handed to the real `json`, so errors and odd inputs
(UTF-16 documents, NaN handling) behave exactly as json's.
"""
from __future__ import annotations

try:
    from _json import encode_basestring_ascii as _quote
    from _json import make_scanner as _make_scanner
except ImportError:  # another interpreter: the plain json module does it all
    _make_scanner = None

_WS = " \t\n\r"


class _Context:
    """The attributes json.decoder.JSONDecoder gives its C scanner."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo: dict = {}


_scan = _make_scanner(_Context()) if _make_scanner else None


class DepthError(ValueError):
    """Nesting deeper than the interpreter's recursion allows (Go's encoding/json, which runc
    uses, stops at 10000 levels with the same words)."""

    def __init__(self):
        super().__init__("exceeded max depth")


def loads(data):
    """json.loads for str or UTF-8 bytes. Nesting too deep to parse is a DepthError (a
    ValueError, as every other bad document), never a RecursionError."""
    if _scan is not None:
        try:
            s = data.decode() if isinstance(data, (bytes, bytearray)) else data
            start = len(s) - len(s.lstrip(_WS))
            obj, end = _scan(s, start)
            if not s[end:].strip(_WS):
                return obj
        except RecursionError:
            raise DepthError() from None
        except (ValueError, StopIteration, UnicodeDecodeError, AttributeError, SystemError):
            # SystemError: the C scanner reports bad input through json.decoder's exception
            # class, and fails that way when json is not imported yet. json tells it properly.
            pass
    import json
    try:
        return json.loads(data)
    except RecursionError:
        raise DepthError() from None


def load(f):
    return loads(f.read())


def find_nul(obj, skip=()) -> str | None:
    """Where a key or string value holding a NUL character sits in OBJ (`a.b[2]`), or
    None; top-level keys in SKIP are not searched. Every string of an OCI config ends up as a C
    string (a path, an argument, a name), which a NUL would cut short or make the kernel refuse.
    Iterative: a document may be nested as deep as the parser allows."""
    stack = [(obj, "")]
    while stack:
        o, where = stack.pop()
        if isinstance(o, str):
            if "\0" in o:
                return where or "(document)"
        elif isinstance(o, dict):
            for k, v in o.items():
                here = f"{where}.{k}" if where else str(k)
                if "\0" in str(k):
                    return here
                if not where and k in skip:
                    continue
                stack.append((v, here))
        elif isinstance(o, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(o))
    return None


def dumps(obj, indent: int | None = None, sort_keys: bool = False) -> str:
    """json.dumps(obj, indent=INDENT, sort_keys=SORT_KEYS), byte for byte."""
    if _make_scanner is None:
        import json
        return json.dumps(obj, indent=indent, sort_keys=sort_keys)
    out: list[str] = []
    _write(obj, out, indent, sort_keys, 0)
    return "".join(out)


def _write(o, out: list, indent, sort_keys: bool, level: int) -> None:
    if isinstance(o, str):
        out.append(_quote(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        if o != o or o in (float("inf"), float("-inf")):
            out.append("NaN" if o != o else ("Infinity" if o > 0 else "-Infinity"))
        else:
            out.append(float.__repr__(o))
    elif isinstance(o, (list, tuple)):
        if not o:
            out.append("[]")
            return
        inner, sep, close = _layout(indent, level)
        out.append("[" + inner)
        for i, v in enumerate(o):
            if i:
                out.append(sep)
            _write(v, out, indent, sort_keys, level + 1)
        out.append(close + "]")
    elif isinstance(o, dict):
        if not o:
            out.append("{}")
            return
        inner, sep, close = _layout(indent, level)
        out.append("{" + inner)
        items = sorted(o.items()) if sort_keys else o.items()
        for i, (k, v) in enumerate(items):
            if i:
                out.append(sep)
            out.append(_quote(_key(k)) + ": ")
            _write(v, out, indent, sort_keys, level + 1)
        out.append(close + "}")
    else:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _layout(indent, level: int) -> tuple[str, str, str]:
    """(after the opening bracket, between items, before the closing one), as json.dumps."""
    if indent is None:
        return "", ", ", ""
    pad = "\n" + " " * (indent * (level + 1))
    return pad, "," + pad, "\n" + " " * (indent * level)


def _key(k) -> str:
    if isinstance(k, str):
        return k
    if k is True or k is False or k is None:
        return {True: "true", False: "false", None: "null"}[k]
    if isinstance(k, (int, float)):
        return repr(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")

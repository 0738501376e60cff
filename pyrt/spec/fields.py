"""Typed readers for JSON objects, shared by the spec parsers: each error names the field it rejects.

An absent key and JSON null read as DEFAULT (None unless given), so one reader serves both
config.json (spec defaults) and `update` (None = "not set"). That is also how runc's Go decoding
reads config.json: null is the zero value, a value of the wrong JSON type is an error, and keys
nobody reads are ignored (tests/integration/test_differential_config.py compares the two).
"""
from __future__ import annotations

from pyrt.errors import ConfigError


def where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def obj(d, path: str) -> dict:
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected an object, got {type(d).__name__}")
    return d


def typed(d: dict, key: str, path: str, typ: type, what: str, default=None):
    v = d.get(key)
    if v is None:
        return default
    if not isinstance(v, typ):
        raise ConfigError(f"{where(path, key)}: expected {what}, got {v!r}")
    return v


def boolean(d: dict, key: str, path: str, default: bool | None = None) -> bool | None:
    return typed(d, key, path, bool, "true or false", default)


def string(d: dict, key: str, path: str, default: str | None = None) -> str | None:
    return typed(d, key, path, str, "a string", default)


def integer(d: dict, key: str, path: str, lo: int | None = None, hi: int | None = None,
            default: int | None = None) -> int | None:
    """An absent or null key's default is range-checked too: a required field (size >= 1) defaults to 0."""
    v = d.get(key)
    if v is None:
        v = default
        if v is None:
            return None
    # bool is an int in Python; JSON true is never a valid number here.
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{where(path, key)}: expected an integer, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"{where(path, key)}: {v} is below the minimum {lo}")
    if hi is not None and v > hi:
        raise ConfigError(f"{where(path, key)}: {v} is above the maximum {hi}")
    return v


def array(d: dict, key: str, path: str) -> list:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise ConfigError(f"{where(path, key)}: expected a list, got {type(v).__name__}")
    return v


def strings(d: dict, key: str, path: str) -> tuple[str, ...]:
    v = array(d, key, path)
    # map over the bound isinstance check: twice as fast as a generator (seccomp profiles are long)
    if not all(map(str.__instancecheck__, v)):
        raise ConfigError(f"{where(path, key)}: expected a list of strings, got {v!r}")
    return tuple(v)


def entries(d: dict, key: str, path: str):
    """(where, object) for each element of the array D[KEY]; a null element reads as {} (the zero
    value runc's JSON decoding gives it), so its required fields are reported by name."""
    at = where(path, key)
    for i, v in enumerate(array(d, key, path)):
        w = f"{at}[{i}]"
        yield w, obj(v, w)


def _known(v: str, allowed, what: str, at: str) -> str:
    if v not in allowed:
        raise ConfigError(f"{at}: unknown {what} {v!r}")
    return v


def choice(d: dict, key: str, path: str, allowed, what: str) -> str:
    """A required string from the vocabulary ALLOWED (exact spelling, as runc compares)."""
    v = string(d, key, path, "")
    if not v:
        raise ConfigError(f"{where(path, key)}: is required")
    return _known(v, allowed, what, where(path, key))


def choices(d: dict, key: str, path: str, allowed, what: str) -> tuple[str, ...]:
    """A list of strings each from the vocabulary ALLOWED; an error names the element."""
    at = where(path, key)
    return tuple(_known(v, allowed, what, f"{at}[{i}]") for i, v in enumerate(strings(d, key, path)))

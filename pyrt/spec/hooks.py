"""The `hooks` object of config.json, checked once with the rest of the spec (running them is
pyrt.runtime.hooks)."""
from __future__ import annotations

from pyrt.errors import ConfigError
from pyrt.spec import fields

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def validate(hooks: dict | None) -> dict:
    """Check the `hooks` object of config.json; returns {kind: [raw hook dicts]} for the kinds
    that have hooks (kept as given for state.json). As runc decodes it, null reads as empty and
    keys other than the six kinds are ignored; unlike runc, which checks nothing until a hook
    runs (and only logs a failing poststop hook), a path that is not absolute or a timeout
    below 1 is refused up front: the runtime-spec says MUST."""
    hooks = fields.obj(hooks, "hooks")
    out = {}
    for kind in KINDS:
        entries = []
        for where, h in fields.entries(hooks, kind, "hooks"):
            path = fields.string(h, "path", where, "")
            if not path.startswith("/"):
                raise ConfigError(f"{where}.path: {path!r} is not an absolute path")
            fields.strings(h, "args", where)
            fields.strings(h, "env", where)
            fields.integer(h, "timeout", where, lo=1)
            entries.append(h)
        if entries:
            out[kind] = entries
    return out

"""OCI hooks: run each with the state JSON on stdin, honouring its timeout.

Which failures are fatal is the runtime-spec's rule, decided by the caller: prestart,
createRuntime, createContainer and startContainer fail the operation; poststart and poststop
only warn.
"""
from __future__ import annotations

import os
import signal
import sys

from pyrt.errors import ConfigError, HookError
from pyrt.spec import jsonio

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def validate(hooks: dict | None) -> dict:
    """Check the `hooks` object of config.json; returns {kind: [raw hook dicts]} for the kinds
    that have hooks (kept as given for state.json). As runc decodes it, null reads as empty and
    keys other than the six kinds are ignored; unlike runc, which checks nothing until a hook
    runs (and only logs a failing poststop hook), a path that is not absolute or a timeout
    below 1 is refused up front: the runtime-spec says MUST."""
    from pyrt.spec import fields  # loaded by the config parser, our only caller; `delete` skips it
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


def run_hook(hook: dict, state: dict, kind: str) -> None:
    import subprocess  # only when there are hooks: it is a noticeable share of start-up
    args = hook.get("args") or [hook["path"]]
    env = {}
    for kv in hook.get("env") or []:
        k, _, v = kv.partition("=")
        env[k] = v
    try:
        # A session of its own: on timeout the hook's whole process group goes, not only the hook
        # (a child it started would otherwise outlive create, reparented to the host's init).
        p = subprocess.Popen(args, executable=hook["path"], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise HookError(f"{kind} hook {hook['path']}: {e.strerror}") from None
    with p:
        try:
            out, err = p.communicate(jsonio.dumps(state).encode(), timeout=hook.get("timeout"))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise HookError(f"{kind} hook {hook['path']}: timed out after {hook['timeout']}s") from None
    if p.returncode != 0:
        detail = (err or out).decode(errors="replace").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise HookError(f"{kind} hook {hook['path']} exited with status {p.returncode}{tail}")


def run_hooks(hooks: dict | None, kind: str, state: dict, fatal: bool = True) -> None:
    for hook in (hooks or {}).get(kind) or []:
        from pyrt import trace
        if trace.on:
            trace.step(f"hook {kind}: {hook.get('path')} {' '.join(hook.get('args') or [])}")
        try:
            run_hook(hook, state, kind)
        except HookError as e:
            if fatal:
                raise
            print(f"pyrt-runc: warning: {e}", file=sys.stderr)

"""OCI hooks: run each with the state JSON on stdin, honouring its timeout.

Which failures are fatal is the runtime-spec's rule, decided by the caller: prestart,
createRuntime, createContainer and startContainer fail the operation; poststart and poststop
only warn.
"""
from __future__ import annotations

import sys

from pyrt.errors import ConfigError, HookError
from pyrt.spec import jsonio

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def validate(hooks: dict | None) -> dict:
    """Check the `hooks` object of config.json; returns it (raw dicts are kept for state.json)."""
    from pyrt.spec import fields  # loaded by the config parser, our only caller; `delete` skips it
    hooks = fields.obj(hooks, "hooks")
    for kind, entries in hooks.items():
        if kind not in KINDS:
            raise ConfigError(f"hooks: unknown hook kind {kind!r}")
        if not isinstance(entries, list):
            raise ConfigError(f"hooks.{kind}: must be an array")
        for i, h in enumerate(entries):
            where = f"hooks.{kind}[{i}]"
            if not isinstance(h, dict) or not isinstance(h.get("path"), str) or not h["path"].startswith("/"):
                raise ConfigError(f"{where}: path must be an absolute path")
            for key in ("args", "env"):
                if key in h and not (isinstance(h[key], list) and all(isinstance(a, str) for a in h[key])):
                    raise ConfigError(f"{where}.{key}: must be an array of strings")
            t = h.get("timeout")
            if t is not None and (not isinstance(t, int) or isinstance(t, bool) or t <= 0):
                raise ConfigError(f"{where}.timeout: must be a positive integer")
    return hooks


def run_hook(hook: dict, state: dict, kind: str) -> None:
    import subprocess  # only when there are hooks: it is a noticeable share of start-up
    args = hook.get("args") or [hook["path"]]
    env = {}
    for kv in hook.get("env") or []:
        k, _, v = kv.partition("=")
        env[k] = v
    try:
        p = subprocess.run(args, executable=hook["path"], env=env, input=jsonio.dumps(state).encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=hook.get("timeout"))
    except subprocess.TimeoutExpired:
        raise HookError(f"{kind} hook {hook['path']}: timed out after {hook['timeout']}s") from None
    except OSError as e:
        raise HookError(f"{kind} hook {hook['path']}: {e.strerror}") from None
    if p.returncode != 0:
        detail = (p.stderr or p.stdout).decode(errors="replace").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        raise HookError(f"{kind} hook {hook['path']} exited with status {p.returncode}{tail}")


def run_hooks(hooks: dict | None, kind: str, state: dict, fatal: bool = True) -> None:
    for hook in (hooks or {}).get(kind) or []:
        try:
            run_hook(hook, state, kind)
        except HookError as e:
            if fatal:
                raise
            print(f"pyrt-runc: warning: {e}", file=sys.stderr)

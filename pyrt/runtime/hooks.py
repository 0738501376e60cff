"""OCI hooks: run each with the state JSON on stdin, honouring its timeout.

Which failures are fatal is the runtime-spec's rule, decided by the caller: prestart,
createRuntime, createContainer and startContainer fail the operation; poststart and poststop
only warn. What config.json may hold in `hooks` is checked with the rest of it (pyrt.spec.hooks).
"""
from __future__ import annotations

import os
import _signal  # the C module: signal.py would load enum on every exec (tests/integration/test_verb_imports.py)
import sys

from pyrt.errors import HookError
from pyrt.spec import jsonio


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
        raise HookError(f"{kind} hook {hook['path']}: {e.strerror}") from e
    with p:
        try:
            out, err = p.communicate(jsonio.dumps(state).encode(), timeout=hook.get("timeout"))
        except subprocess.TimeoutExpired as e:
            os.killpg(p.pid, _signal.SIGKILL)
            p.wait()
            raise HookError(f"{kind} hook {hook['path']}: timed out after {hook['timeout']}s") from e
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

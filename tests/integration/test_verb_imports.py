"""The import budget of pyrt-runc's short verbs, as containerd's shim calls them on a real container.

Each verb's time is mostly the interpreter's start-up plus what it imports (docs/kubernetes.md:
`kill` is called up to three times per StopContainer, `exec` once per ExecSync). These modules
cost milliseconds each on a loaded machine and none of these verbs needs them; a change that
pulls one back in (a module-level `import subprocess`, `signal`'s enum, click) fails here.
The launcher runs as installed (its #! line's flags), with -X importtime listing every module it loads.
"""
from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.bundle import PYRT_RUNC, base_config, make_bundle, run

# subprocess pulls locale, re, enum, threading; signal builds an enum; click ~20 ms; json's
# encoder is replaced by pyrt.spec.jsonio; logging only with --debug; asyncio, argparse never.
NEVER = {"click", "subprocess", "locale", "re", "enum", "signal", "threading", "logging", "argparse",
         "json", "asyncio", "typing", "dataclasses", "inspect", "tempfile", "shutil"}
# the short verbs do not reach the C extension or the spec records either
SHORT_NEVER = NEVER | {"pyrt._cext", "_cffi_backend", "pyrt.spec.config", "pyrt.runtime.create"}
# exec sets up no rootfs and no loopback (its stage 1 preloads what the process set-up needs);
# pyrt.linux.paths (os and stat only) reads the container's passwd for HOME when the env has none
EXEC_NEVER = NEVER | {"pyrt.runtime.rootfs", "pyrt.linux.netdev"}
EXEC_HOME_NEVER = EXEC_NEVER | {"pyrt.linux.paths"}


def _modules(root: str, *verb: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    with open(PYRT_RUNC) as f:
        interpreter, flags = f.readline()[2:].split()  # as the #! line starts it (-SPXutf8)
    p = subprocess.run([interpreter, flags, "-X", "importtime", PYRT_RUNC, "--root", root, *verb],
                       capture_output=True, text=True, timeout=60)
    mods = {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}
    mods.discard("imported package")  # the header line
    return p, mods


@pytest.fixture
def container(tmp_path, runtime_root, cgroup_parent):
    cfg = base_config(["/bin/sleep", "300"])
    cfg["linux"]["cgroupsPath"] = cgroup_parent
    bundle = make_bundle(tmp_path / "bundle", cfg)
    err = tmp_path / "create.err"  # a file, not a pipe: the container keeps create's stdio open
    with open(err, "w") as f:
        r = subprocess.run([PYRT_RUNC, "--root", runtime_root, "create", "--bundle", bundle, "budget"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=f, timeout=60)
    assert r.returncode == 0, err.read_text()
    yield runtime_root, "budget"
    run([PYRT_RUNC, "--root", runtime_root, "delete", "--force", "budget"])


def test_short_verbs_and_exec_stay_within_their_imports(container):
    root, cid = container
    steps = [(("state", cid), SHORT_NEVER), (("start", cid), SHORT_NEVER), (("kill", cid, "0"), SHORT_NEVER),
             (("exec", cid, "true"), EXEC_NEVER), (("exec", "--env", "HOME=/", cid, "true"), EXEC_HOME_NEVER),
             (("ps", "--format", "json", cid), SHORT_NEVER),
             (("kill", "--all", cid, "KILL"), SHORT_NEVER)]
    for verb, never in steps:
        p, mods = _modules(root, *verb)
        assert p.returncode == 0, (verb, p.stderr[-500:])
        assert "pyrt.cli.pyrt_runc" in mods, verb  # the probe sees the verb's imports at all
        assert not mods & never, (verb, sorted(mods & never))
    # the shim's stop: kill, then delete once the init is gone (a deadline, not a sleep)
    _, mods = _modules(root, "kill", cid, "9")
    assert not mods & SHORT_NEVER, sorted(mods & SHORT_NEVER)
    deadline = time.monotonic() + 30
    while True:
        p, mods = _modules(root, "delete", cid)
        if p.returncode == 0 or time.monotonic() > deadline:
            break
    assert p.returncode == 0, p.stderr
    assert not mods & SHORT_NEVER, sorted(mods & SHORT_NEVER)


def test_a_failing_verb_logs_without_json(tmp_path, runtime_root):
    """The shim passes --log and reads the error from it: writing that line stays cheap too."""
    log = tmp_path / "log.json"
    for verb in (("kill", "nosuch", "9"), ("delete", "nosuch"), ("state", "nosuch")):
        p, mods = _modules(runtime_root, "--log", str(log), "--log-format", "json", *verb)
        assert p.returncode != 0 and "does not exist" in p.stderr, (verb, p.stderr[-300:])
        assert "pyrt.cli.pyrt_runc" in mods
        assert not mods & SHORT_NEVER, (verb, sorted(mods & SHORT_NEVER))
    assert log.read_text().count('"level":"error"') == 3

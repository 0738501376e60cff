"""OCI bundles for tests: a busybox rootfs built offline and a config.json to tweak.

base_config() asks runc itself for its default spec (`runc spec`), so tests start
from the reference tool's defaults rather than a hand-written copy of them.
"""
from __future__ import annotations

import atexit
import copy
import functools
import json
import os
import shutil
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
PYRT_RUNC = os.path.join(VENV_BIN, "pyrt-runc")
# the C front door of pyrt-runc's resident helper (cext/runc-front.c, pyrt/cli/runc_helper.py)
PYRT_RUNC_FAST = os.path.join(VENV_BIN, "pyrt-runc-fast")
PYRT_RUNC_HELPER = os.path.join(VENV_BIN, "pyrt-runc-helper")
PYRT = os.path.join(VENV_BIN, "pyrt")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
CRUN = shutil.which("crun") or "/usr/bin/crun"


@functools.cache
def busybox_rootfs_template() -> str:
    """Built once per test session; copy it with new_rootfs() before writing to it."""
    d = tempfile.mkdtemp(prefix="pyrt-bbroot-")
    atexit.register(shutil.rmtree, d, True)     # one per session (or bench): gone with it
    os.chmod(d, 0o755)  # mkdtemp makes 0700: a non-root container user could not even chdir to /
    subprocess.run([os.path.join(REPO, "rootfs-tools", "busybox-rootfs.sh"), d], check=True)
    return d


@functools.cache
def _runc_default_spec() -> dict:
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([RUNC, "spec"], cwd=d, check=True)
        with open(os.path.join(d, "config.json")) as f:
            return json.load(f)


def base_config(args=("/bin/true",), **process) -> dict:
    """runc's default config.json, made non-interactive, running ARGS."""
    cfg = copy.deepcopy(_runc_default_spec())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = list(args)
    cfg["process"].update(process)
    return cfg


def make_bundle(path, config: dict | None = None, rootfs: bool = True) -> str:
    """Lay out PATH/config.json and PATH/rootfs (a fresh copy of the busybox template)."""
    path = str(path)
    os.makedirs(path, exist_ok=True)
    if rootfs:
        subprocess.run(["cp", "-a", busybox_rootfs_template(), os.path.join(path, "rootfs")], check=True)
    write_config(path, config if config is not None else base_config())
    return path


def write_config(bundle: str, config: dict) -> None:
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def run(argv, *, timeout=60, check=False, input=None, **kw) -> subprocess.CompletedProcess:
    """Run a command capturing text output; never hangs a test forever."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=check, input=input, **kw)

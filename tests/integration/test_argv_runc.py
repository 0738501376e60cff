"""pyrt-runc's command line against runc 1.1.5's: every row of tests/support/runc_argv.py (and each
global-flag row) is run under both, and both must refuse it or both get past their argv reading.

How an outcome is classed (runc exits 1 for nearly everything, so its class comes from its words;
pyrt-runc's from its documented exit codes, docs/exit-codes.md):
  ok       exit 0
  usage    the command line is refused: runc's flag-parser and argument-count errors, and the checks
           its verbs make on their words once the container is found (no command for exec, an
           unknown signal, a bad ps format, ps(1) refusing the arguments passed to it) -> pyrt 2
  missing  the container, bundle or file the words name does not exist            -> pyrt 4
  setup    the process could not be started (exec of a command not in the rootfs) -> pyrt 7
Verbs that act on a container (kill, ps, exec) run against a live container of each runtime (a
busybox `sleep` as pid 1, which ignores the SIGTERM the kill rows send), because runc looks the
container up before it checks those words; the other verbs get an id and a bundle that do not
exist, under a throwaway --root and working directory. Where runc names a path it failed on, pyrt
must name the same path (the value went to the same option).

Divergences on purpose are few and named in DIVERGENT, each with its reason.
"""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.support import cgroup
from tests.support.bundle import PYRT_RUNC, RUNC, base_config, make_bundle, run
from tests.support.runc_argv import RUNC as ROWS, RUNC_GLOBALS

PYRT_CODE = {"ok": 0, "usage": 2, "missing": 4, "setup": 7}

_RUNC_CLASSES = [
    ("usage", r'requires (exactly|a minimum of) \d+ argument|flag provided but not defined|invalid value .* for '
              r'flag|invalid boolean value|flag needs an argument|invalid format option|invalid log-format|'
              r'process args cannot be empty|unknown signal|msg="exit status \d+: |No help topic'),
    ("missing", r'container does not exist|config\.json not found|(chdir|open) \S+: no such file or directory'),
    ("setup", r'unable to start container process: exec: .*(executable file not found|no such file or directory)'),
]


def runc_class(p: subprocess.CompletedProcess) -> str:
    if p.returncode == 0:
        return "ok"
    for name, pattern in _RUNC_CLASSES:
        if re.search(pattern, p.stderr):
            return name
    raise AssertionError(f"runc's answer fits no class (extend _RUNC_CLASSES): rc={p.returncode} {p.stderr!r}")


# (verb, argv) -> (runc's class, pyrt-runc's exit code, why pyrt differs on purpose)
_NEGATIVE_FDS = ("ok/missing", 2, "runc 1.1.5 reads --preserve-fds -1 as 0; a count below zero can only be a "
                 "caller's mistake, so pyrt-runc refuses it (checked with a real bundle below)")
_EMPTY_BUNDLE = ("missing", 2, "runc reads --bundle= as the working directory; an empty path is almost always an "
                 "unset variable in the caller, so pyrt-runc refuses it rather than guess")
DIVERGENT = {}
for _verb in ("create", "run"):
    for _a in (["--preserve-fds", "-1", "c1"], ["c1", "--preserve-fds", "-1"]):
        DIVERGENT[(_verb, tuple(_a))] = _NEGATIVE_FDS
    for _a in (["--bundle=", "c1"], ["c1", "--bundle="], ["-b=", "c1"], ["c1", "-b="]):
        DIVERGENT[(_verb, tuple(_a))] = _EMPTY_BUNDLE
_NO_COMMAND = ("ok", 2, "runc with no command prints its help and exits 0; pyrt-runc prints its usage and exits 2, "
               "so that a script that lost its verb fails")
DIVERGENT_GLOBALS = {
    (): _NO_COMMAND, ("--root", "/r"): _NO_COMMAND, ("--root", "list"): _NO_COMMAND,
    ("--systemd-cgroup", "list"): ("ok", 2, "pyrt-runc drives cgroupfs only and says so instead of ignoring "
                                             "--systemd-cgroup (docs/runtime.md)"),
    ("-", "list"): ("usage", 0, "runc takes a lone '-' for a command ('No help topic'); pyrt-runc skips it, "
                                "like the rest of its global flags reader"),
}
LIVE_VERBS = ("kill", "ps", "exec")


def _placed(words, tmp) -> list[str]:
    """The placeholder absolute paths of the tables (/v, /r, ...) moved under TMP."""
    return [re.sub(r"(^|=)/", rf"\g<1>{tmp}/", w) for w in words]


def _run(runtime, argv, cwd) -> subprocess.CompletedProcess:
    return run([runtime, *argv], cwd=cwd, timeout=30, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """{runtime: --root} holding a running container c1 (busybox sleep as pid 1), for the verbs
    that act on a container. At the end each must still be running (no kill row may have stopped
    it) and its cgroups go with it."""
    d = tmp_path_factory.mktemp("argv-live")
    rel = f"pyrt-test-argv-{os.getpid()}"
    roots = {}
    try:
        for tag, runtime in (("ref", RUNC), ("cand", PYRT_RUNC)):
            cfg = base_config(args=("sleep", "100000"))
            cfg["linux"]["cgroupsPath"] = f"{rel}/{tag}"
            bundle = make_bundle(d / f"bundle-{tag}", cfg)
            root = roots[runtime] = str(d / f"root-{tag}")
            # The container inherits run's stdio: a file, not a pipe that would stay open.
            with open(d / f"run-{tag}.err", "w+") as err:
                p = subprocess.run([runtime, "--root", root, "run", "--detach", "--bundle", bundle, "c1"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=60)
                err.seek(0)
                assert p.returncode == 0, f"{runtime} could not start the live container: {err.read()}"
        yield roots
        for runtime, root in roots.items():
            st = _run(runtime, ["--root", root, "state", "c1"], d)
            assert '"running"' in st.stdout, f"{runtime}'s live container no longer runs: {st}"
    finally:
        for runtime, root in roots.items():
            _run(runtime, ["--root", root, "delete", "--force", "c1"], d)
        # runtimes keep a cgroupsPath's parent (runc and pyrt-runc alike): only a container's own
        # cgroup left inside it is a leak
        left = [os.path.join(c, x) for c in cgroup.existing(rel) for x in os.listdir(c)
                if os.path.isdir(os.path.join(c, x))]
        for c in cgroup.existing(rel):
            cgroup.remove_tree(c)
        assert not left, f"cgroups left behind: {left}"


def _both(argv_of, tmp_path):
    """(runc, pyrt-runc) results of ARGV_OF(runtime, workdir), each in a working directory of its own."""
    out = []
    for tag, runtime in (("ref", RUNC), ("cand", PYRT_RUNC)):
        wd = tmp_path / tag
        wd.mkdir()
        out.append(_run(runtime, argv_of(runtime, str(wd)), str(wd)))
    return out


def _compare(ref, cand, divergent):
    got = runc_class(ref)
    if divergent:
        want_class, code, _why = divergent
        assert got in want_class.split("/"), f"runc changed its answer ({got}): {ref.stderr!r}"
        want = code
    else:
        want = PYRT_CODE[got]
    assert cand.returncode == want, (f"runc: {got} (rc {ref.returncode}) {ref.stderr.strip()[-300:]!r}; "
                                     f"pyrt-runc rc {cand.returncode} {cand.stderr.strip()[-300:]!r}")
    if cand.returncode:
        assert cand.stderr.startswith("pyrt-runc: ") and "Traceback" not in cand.stderr, cand.stderr
    # The value went to the same option: the path runc failed on is the one pyrt names.
    m = re.search(r'(?:chdir|open) (\S+): no such file', ref.stderr)
    if m and not divergent:
        assert m.group(1).replace(os.sep + "ref" + os.sep, os.sep + "cand" + os.sep) in cand.stderr, cand.stderr
    return got


@pytest.mark.parametrize("verb, argv, pinned", ROWS, ids=[f"{v} {' '.join(a)}" for v, a, _ in ROWS])
def test_verb_argv_as_runc(verb, argv, pinned, tmp_path, live):
    def argv_of(runtime, wd):
        root = live[runtime] if verb in LIVE_VERBS else os.path.join(wd, "state")
        return ["--root", root, verb, *_placed(argv, wd)]

    ref, cand = _both(argv_of, tmp_path)
    divergent = DIVERGENT.get((verb, tuple(argv)))
    got = _compare(ref, cand, divergent)
    # The unit table's refusals are runc's refusals (the unit test pins pyrt's words for them).
    if pinned.startswith("E: ") and not divergent:
        assert got == "usage", f"pinned as an error but runc says {got}: {ref.stderr!r}"


@pytest.mark.parametrize("argv, pinned", RUNC_GLOBALS, ids=[" ".join(a) or "(none)" for a, _ in RUNC_GLOBALS])
def test_global_argv_as_runc(argv, pinned, tmp_path):
    def argv_of(runtime, wd):
        # A throwaway --root first: a row's own --root comes later and wins, in both.
        return ["--root", os.path.join(wd, "state"), *_placed(argv, wd)]

    ref, cand = _both(argv_of, tmp_path)
    _compare(ref, cand, DIVERGENT_GLOBALS.get(tuple(argv)))


def test_negative_preserve_fds_is_zero_to_runc(tmp_path, runtime_root, cgroup_parent):
    """The ground for the --preserve-fds -1 divergence: runc really starts the container, with no fd
    beyond stdio passed; pyrt-runc refuses the count before anything exists."""
    cfg = base_config(args=("sh", "-c", "ls /proc/self/fd | wc -l"))
    cfg["linux"]["cgroupsPath"] = f"{cgroup_parent}/r"
    bundle = make_bundle(tmp_path / "bundle", cfg)
    ref = _run(RUNC, ["--root", runtime_root, "run", "--preserve-fds", "-1", "--bundle", bundle, "c1"], bundle)
    assert ref.returncode == 0 and ref.stdout.strip() == "4", ref   # 0 1 2 and ls's own directory fd
    cand = _run(PYRT_RUNC, ["--root", runtime_root, "run", "--preserve-fds", "-1", "--bundle", bundle, "c2"], bundle)
    assert (cand.returncode, cand.stderr) == (2, "pyrt-runc: run: --preserve-fds must not be negative\n")
    # runc keeps the parent of its cgroupsPath; the container's own cgroup must be gone
    for c in cgroup.existing(cgroup_parent):
        assert not [x for x in os.listdir(c) if os.path.isdir(os.path.join(c, x))], c
        cgroup.remove_tree(c)

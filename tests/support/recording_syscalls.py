"""A recording fake of everything the container's init asks of the kernel, for unit tests of the
init's step order without root (youki's syscall/test.rs is the model: every call is recorded, a
test asserts the order).

`record_init(monkeypatch)` swaps, for the test's duration:
- every module of pyrt.linux (syscalls, capabilities, seccomp, netdev, ...) and the runtime's
  kernel-facing helpers (pyrt.runtime.rootfs, hooks, console, channel; pyrt.cgroups.fs and
  placement) for
  recorders: a function call is recorded as ("module.function", *args) and returns a scripted
  value (None unless given); constants (CLONE_*, MS_*...) stay the real ones;
- init's and stage1's `os` for a recorder that records every call that changes a process (setsid, setresuid,
  chdir, execve, open, fork...) and forwards only pure helpers (os.path, os.strerror, constants);
- init's and stage1's `open` (files under /proc) and pyrt.linux.paths.read_regular (/etc/passwd) read FILES;
- init's `resource` and `_signal`, so no rlimit or signal handler of the test process changes.
Nothing reaches the kernel: the init runs as ordinary Python in the test process and its calls are
read from `rec.calls`.
"""
from __future__ import annotations

import io
import os
import pkgutil
import sys
import types

import pyrt.cgroups
import pyrt.linux
import pyrt.runtime
from pyrt.runtime import init, launch, stage1

# Everything of `os` that may run for real: pure functions and data.
_OS_PURE = {"path", "strerror", "fsencode", "fsdecode", "environ", "sep", "getpid", "sysconf"}


ANY = object()


class Recorder:
    def __init__(self):
        self.calls: list[tuple] = []
        self.returns: dict[str, object] = {}
        self._fd = 100

    def call(self, name: str, args: tuple, kwargs: dict):
        self.calls.append((name, *args) + ((kwargs,) if kwargs else ()))
        r = self.returns.get(name)
        return r(*args, **kwargs) if callable(r) else r

    def next_fd(self, *_args, **_kw) -> int:
        self._fd += 1
        return self._fd

    # --- reading the record ---------------------------------------------------------------
    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def index(self, name: str, *args, after: int = -1) -> int:
        """Position of the first call NAME (after position AFTER) whose arguments start with ARGS;
        ANY matches any one argument."""
        for i in range(after + 1, len(self.calls)):
            c = self.calls[i]
            if c[0] == name and len(c) > len(args) and all(
                    want is ANY or want == got for want, got in zip(args, c[1:])):
                return i
        raise AssertionError(f"no call {name}{args} after position {after} in:\n"
                             + "\n".join(f"  {i:3d} {c!r}" for i, c in enumerate(self.calls)))

    def has(self, name: str, *args) -> bool:
        try:
            self.index(name, *args)
        except AssertionError:
            return False
        return True

    def in_order(self, *steps) -> None:
        """Each step (a name, or a tuple: name and leading arguments) happens after the one
        before it."""
        at = -1
        for s in steps:
            at = self.index(*((s,) if isinstance(s, str) else s), after=at)


class _RecordingModule(types.ModuleType):
    """Stands for module REAL: its functions are recorded, everything else is REAL's."""

    def __init__(self, real: types.ModuleType, rec: Recorder, prefix: str):
        super().__init__(real.__name__)
        self._real, self._rec, self._prefix = real, rec, prefix

    def __getattr__(self, name):
        value = getattr(self._real, name)
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
            full = f"{self._prefix}.{name}"
            return lambda *a, **kw: self._rec.call(full, a, kw)
        return value


class _RecordingOs(types.ModuleType):
    def __init__(self, rec: Recorder):
        super().__init__("os")
        self._rec = rec

    def __getattr__(self, name):
        value = getattr(os, name)
        if name in _OS_PURE or not callable(value):
            return value
        full = f"os.{name}"
        return lambda *a, **kw: self._rec.call(full, a, kw)


class _RecordingFile(io.StringIO):
    def __init__(self, rec: Recorder, path: str, content: str = ""):
        super().__init__(content)
        self._rec, self._path = rec, path

    def write(self, data):
        self._rec.call("write", (self._path, data), {})
        return len(data)


class Sock:
    """The init's end of the socketpair: messages go through the recorded channel."""

    def __init__(self, rec: Recorder):
        self._rec = rec

    def close(self):
        self._rec.call("sock.close", (), {})

    def fileno(self):
        return 7

    def __repr__(self):
        return "sock"

    def __eq__(self, other):
        return isinstance(other, Sock)

    __hash__ = object.__hash__


class ProcessExit(Exception):
    """os._exit in the fake: the init ended (with this status) instead of reaching execve."""


def record_init(monkeypatch, files: dict[str, str] | None = None) -> Recorder:
    """Install the recorders for pyrt.runtime.init and stage1; FILES: contents its open() reads (others:
    FileNotFoundError; /proc/self/setgroups reads "allow" unless given). Returns the Recorder; script return values in rec.returns."""
    rec = Recorder()
    files = {"/proc/self/setgroups": "allow\n", **(files or {})}

    def swap(package, attr: str, prefix: str):
        real = sys.modules.get(f"{package.__name__}.{attr}")
        if real is None:
            __import__(f"{package.__name__}.{attr}")
            real = sys.modules[f"{package.__name__}.{attr}"]
        fake = _RecordingModule(real, rec, prefix)
        monkeypatch.setitem(sys.modules, real.__name__, fake)
        monkeypatch.setattr(package, attr, fake)
        return fake

    # every module of pyrt.linux, also ones added later: none may run for real here
    for m in pkgutil.iter_modules(pyrt.linux.__path__):
        swap(pyrt.linux, m.name, "sc" if m.name == "syscalls" else m.name)
    for name in ("rootfs", "hooks", "console", "channel"):
        swap(pyrt.runtime, name, name)
    swap(pyrt.cgroups, "fs", "cgroups.fs")
    swap(pyrt.cgroups, "placement", "placement")
    fake_os = _RecordingOs(rec)
    for mod in (init, stage1, launch):
        monkeypatch.setattr(mod, "channel", sys.modules["pyrt.runtime.channel"])
    for mod in (init, stage1):
        monkeypatch.setattr(mod, "os", fake_os)

    def fake_open(path, mode="r", *a, **kw):
        if "w" in mode or "a" in mode:
            rec.call("open", (path, mode), {})
            return _RecordingFile(rec, path)
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return _RecordingFile(rec, path, files[path])
    for mod in (init, stage1):
        monkeypatch.setattr(mod, "open", fake_open, raising=False)

    resource = types.ModuleType("resource")
    import resource as real_resource
    for k in dir(real_resource):
        if k.startswith("RLIMIT_"):
            setattr(resource, k, getattr(real_resource, k))
    resource.setrlimit = lambda *a: rec.call("setrlimit", a, {})
    monkeypatch.setitem(sys.modules, "resource", resource)

    import _signal as real_signal
    signal = _RecordingModule(real_signal, rec, "signal")
    monkeypatch.setitem(sys.modules, "_signal", signal)

    def read_regular(path, limit):
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[path].encode()[:limit]
    rec.returns["paths.read_regular"] = read_regular

    def _exit(status):
        raise ProcessExit(status)
    rec.returns.update({"os._exit": _exit, "os.open": rec.next_fd, "os.fork": 4242,
                        "placement.fork": (4242, False),
                        # the cwd is inside the root; the reopened exec fifo is the fifo held
                        "os.getcwd": "/", "os.fstat": os.stat_result((0o10600, 1, 1, 1, 0, 0, 0, 0, 0, 0)),
                        "os.getgroups": [], "hardening.exec_stub": 5})
    # The executable is looked up in the container's files, not the test host's.
    monkeypatch.setattr(init, "lookup", lambda name, _path: rec.call("lookup", (name,), {}) or name)
    from pyrt import trace
    monkeypatch.setattr(trace, "who", trace.who)
    return rec

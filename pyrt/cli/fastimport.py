"""The finder for pyrt's own modules that the installed launchers put first on sys.meta_path.

Why: a `pyrt-runc` call imports 15 (`state`, `kill`) to 55 (`create`) pyrt modules, and importlib's
path finder spends ~115 k instructions on each before its code runs (sys.path and FileFinder
searches, cache_from_source, the .pyc read through io, its checks: all interpreted bytecode).
That is ~2 M of a short verb's ~32 M and ~6 M of create's parent. This finder maps `pyrt.a.b`
straight to ROOT/pyrt/a/b.py (or .../b/__init__.py) and its __pycache__ .pyc, checks the .pyc
as importlib does (magic number, timestamp mode, the source's mtime and size), and answers None for
everything else -- no .pyc, a stale one, a hash-based one, no source, an extension module
(pyrt._cext), other packages -- which leaves that module to the normal finders. So an edited source
never runs from an old .pyc, and nothing is found that importlib would not have found.

The launcher cannot import this module without paying for the import it saves, so
rootfs-tools/fast-launcher.py stores its compiled code beside the launchers and they exec it.
Only builtin modules are used here (the launcher runs it before anything else is imported).
"""
import marshal
import sys
from posix import O_CLOEXEC, O_RDONLY, close, fstat, read, stat
from posix import open as os_open

_bootstrap = sys.modules["_frozen_importlib"]
MAGIC = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER


class PyrtFinder:
    """Finder and loader in one (importlib's find_spec / create_module / exec_module)."""

    def __init__(self, root: str, package: str = "pyrt"):
        self.root = root.rstrip("/") + "/"
        self.package, self.prefix = package, package + "."
        self.tag = sys.implementation.cache_tag

    def find_spec(self, name, path=None, target=None):
        if name != self.package and not name.startswith(self.prefix):
            return None
        base = self.root + name.replace(".", "/")
        is_pkg = True  # a package directory wins over a module file, as in FileFinder
        src, st = _stat(base + "/__init__.py")
        if st is None:
            is_pkg = False
            src, st = _stat(base + ".py")
            if st is None:
                return None
        folder, _, filename = src.rpartition("/")
        cached = f"{folder}/__pycache__/{filename[:-3]}.{self.tag}.pyc"
        data = _read(cached)
        if data is None or not fresh(data, st):
            return None
        spec = _bootstrap.ModuleSpec(name, self, origin=src, loader_state=data, is_package=is_pkg)
        spec.has_location = True  # __file__ is set
        spec.cached = cached
        if is_pkg:
            spec.submodule_search_locations.append(base)  # for what the normal finders load
        return spec

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        spec = module.__spec__
        data, spec.loader_state = spec.loader_state, None
        exec(marshal.loads(memoryview(data)[16:]), module.__dict__)


def fresh(data: bytes, st) -> bool:
    """Is DATA a timestamp .pyc of this interpreter for a source with stat ST (importlib's test)?"""
    return (data[:4] == MAGIC and data[4:8] == b"\0\0\0\0"
            and int.from_bytes(data[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(data[12:16], "little") == st.st_size & 0xFFFFFFFF)


def _stat(path: str):
    try:
        return path, stat(path)
    except OSError:
        return path, None


def _read(path: str):
    try:
        fd = os_open(path, O_RDONLY | O_CLOEXEC)
    except OSError:
        return None
    try:
        size = fstat(fd).st_size
        data = read(fd, size)
    except OSError:
        return None
    finally:
        close(fd)
    return data if len(data) == size else None


def install(root: str) -> PyrtFinder:
    """Put a finder for ROOT/pyrt first in line; the launcher calls this."""
    finder = PyrtFinder(root)
    sys.meta_path.insert(0, finder)
    return finder

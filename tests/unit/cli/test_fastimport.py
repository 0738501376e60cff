"""pyrt/cli/fastimport.py: the launchers' finder loads a package's modules from fresh .pyc files
only, and leaves everything else (stale, missing or hash-based .pyc, other names) to importlib."""
from __future__ import annotations

import os
import py_compile
import sys
import uuid

import pytest

from pyrt.cli.fastimport import PyrtFinder

TIMESTAMP = py_compile.PycInvalidationMode.TIMESTAMP


@pytest.fixture
def tree(tmp_path):
    """ROOT/<pkg>/{__init__,a}.py and <pkg>/sub/{__init__,b}.py, compiled as compileall does;
    yields (root, package name, finder) and forgets the package's modules afterwards."""
    pkg = f"fastimport_{uuid.uuid4().hex[:8]}"
    files = {f"{pkg}/__init__.py": "", f"{pkg}/a.py": "VALUE = 'a from source'\n",
             f"{pkg}/sub/__init__.py": "", f"{pkg}/sub/b.py": "from .. import a\nVALUE = a.VALUE + ' via b'\n"}
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        py_compile.compile(str(path), doraise=True, invalidation_mode=TIMESTAMP)
    finder = PyrtFinder(str(tmp_path), package=pkg)
    yield tmp_path, pkg, finder
    for name in [m for m in sys.modules if m == pkg or m.startswith(pkg + ".")]:
        del sys.modules[name]


def test_fresh_pyc_modules_and_packages_load_through_the_finder(tree, monkeypatch):
    root, pkg, finder = tree
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    b = __import__(f"{pkg}.sub.b", fromlist=["VALUE"])
    assert b.VALUE == "a from source via b"
    for name in (pkg, f"{pkg}.a", f"{pkg}.sub", f"{pkg}.sub.b"):
        assert sys.modules[name].__spec__.loader is finder, name
    assert b.__file__ == str(root / pkg / "sub" / "b.py")
    assert b.__cached__.endswith(f"__pycache__/b.{sys.implementation.cache_tag}.pyc")
    assert sys.modules[f"{pkg}.sub"].__path__ == [str(root / pkg / "sub")]


def test_an_edited_source_is_never_run_from_its_old_pyc(tree, monkeypatch):
    root, pkg, finder = tree
    src = root / pkg / "a.py"
    src.write_text("VALUE = 'a edited, longer'\n")          # size differs
    assert finder.find_spec(f"{pkg}.a") is None
    src.write_text("VALUE = 'a from source'\n")              # same size as compiled ...
    st = os.stat(src)
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # ... a newer mtime
    assert finder.find_spec(f"{pkg}.a") is None
    src.write_text("VALUE = 'edited again'\n")
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    a = __import__(f"{pkg}.a", fromlist=["VALUE"])            # importlib loads the source
    assert a.VALUE == "edited again"
    assert a.__spec__.loader is not finder


def test_what_it_does_not_serve(tree):
    root, pkg, finder = tree
    assert finder.find_spec("json") is None                  # other packages
    assert finder.find_spec(pkg + "x") is None               # a name that only starts alike
    assert finder.find_spec(f"{pkg}.missing") is None         # no source (an extension module)
    (root / pkg / "c.py").write_text("X = 1\n")
    assert finder.find_spec(f"{pkg}.c") is None               # no .pyc
    py_compile.compile(str(root / pkg / "c.py"), doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    assert finder.find_spec(f"{pkg}.c") is None               # a hash-based .pyc
    pyc = root / pkg / "__pycache__" / f"a.{sys.implementation.cache_tag}.pyc"
    pyc.write_bytes(pyc.read_bytes()[:10])
    assert finder.find_spec(f"{pkg}.a") is None               # a truncated .pyc
    assert finder.find_spec(f"{pkg}.sub").submodule_search_locations == [str(root / pkg / "sub")]

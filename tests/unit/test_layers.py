"""The package's import graph keeps the layers of ARCHITECTURE.md (docs/architecture.md):

    cli -> engine -> runtime -> cgroups -> linux -> pyrt._cext
                  -> image, network (beside runtime)
    spec, errors, record, trace: at the bottom, used by every layer

Read from the source with ast, function-level (lazy) imports included: a lazy import is still an
arrow, it only moves the cost. No arrow may point up, nothing but pyrt.linux opens pyrt._cext, and
no two modules may import each other, directly or round a loop.

What the tree still does against these rules sits in KNOWN_* below, each with the issue item that
removes it. An entry that no longer occurs fails the test, so the lists only shrink.
"""
from __future__ import annotations

import ast
import os

from tests.support.bundle import REPO

PKG = os.path.join(REPO, "pyrt")


def _modules() -> dict[str, str]:
    """Dotted module name -> file, for every .py under pyrt/."""
    out = {}
    for root, dirs, files in os.walk(PKG):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, f), REPO)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(rel)] = os.path.join(root, f)
    return out


MODULES = _modules()
# Single-file modules at pyrt's root (errors, record, trace, ...) are the bottom: used by every
# layer, importing only each other.
BOTTOM = {m.split(".")[1] for m, path in MODULES.items()
          if m.count(".") == 1 and not path.endswith("__init__.py")}
# The layers each package may import (besides itself). Nothing may import cli or engine but the
# layers above them; spec imports nothing above it; image and network do not import runtime.
MAY_IMPORT: dict[str, set[str]] = {
    **{m: BOTTOM for m in BOTTOM},
    "spec": set(BOTTOM),
    "linux": BOTTOM | {"spec", "_cext"},
    "cgroups": BOTTOM | {"spec", "linux"},
    "runtime": BOTTOM | {"spec", "linux", "cgroups"},
    # image and spec make no syscalls beyond ordinary file I/O (ARCHITECTURE.md): no pyrt.linux
    "image": BOTTOM | {"spec"},
    "network": BOTTOM | {"spec", "linux"},
    "engine": BOTTOM | {"spec", "linux", "cgroups", "runtime", "image", "network"},
    "cli": BOTTOM | {"spec", "linux", "cgroups", "runtime", "image", "network", "engine"},
}

# (importing module, imported module) edges that break MAY_IMPORT today. Each names its way out.
KNOWN_UPWARD: dict[tuple[str, str], str] = {}
# Module cycles (the set of modules in each) still present.
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def _layer(module: str) -> str:
    """pyrt.spec.config -> 'spec'; pyrt.errors -> 'errors'; pyrt._cext -> '_cext'; pyrt -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _resolve(name: str) -> str:
    """The module an imported name lands in: `from pyrt.spec import fields` is pyrt.spec.fields,
    `from pyrt.spec.config import parse` is pyrt.spec.config. The C extension (built, not .py)
    keeps its name."""
    while name not in MODULES and "." in name and name != "pyrt._cext":
        name = name.rsplit(".", 1)[0]
    return name


EXTERNAL: dict[str, set[str]] = {}  # module -> top-level names of other packages it imports


def _imports(module: str, path: str) -> set[str]:
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    pkg = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    found = set()
    external = EXTERNAL.setdefault(module, set())
    for node in ast.walk(tree):  # every level: module top, functions, methods, try blocks
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
            # `from pyrt.spec import fields` imports pyrt.spec.fields; `from x import func` only x
            names = [n for n in names[:-1] if n in MODULES] or [base]
        else:
            continue
        for n in names:
            if n == "pyrt" or n.startswith("pyrt."):
                target = _resolve(n)
                if target != module:
                    found.add(target)
            elif n:
                external.add(n.split(".")[0])
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _edges():
    for src, targets in GRAPH.items():
        for dst in targets:
            yield src, dst


def _upward() -> set[tuple[str, str]]:
    bad = set()
    for src, dst in _edges():
        a, b = _layer(src), _layer(dst)
        if a == b or a == "" or b == "":
            continue
        if b not in MAY_IMPORT.get(a, set()):
            bad.add((src, dst))
    return bad


def _cycles() -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative enough for ~100)."""
    index, low, stack, on, out = {}, {}, [], set(), set()
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(frozenset(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_the_reader_sees_lazy_and_from_imports():
    """The graph is only as good as the reader: pin a few arrows known to be there."""
    assert "pyrt._cext" in GRAPH["pyrt.linux.syscalls"]                 # top-level from-import
    assert "pyrt.spec.fields" in GRAPH["pyrt.spec.config"]               # `from pkg import module`
    assert "pyrt.spec.config" in GRAPH["pyrt.spec"]                      # lazy, inside a function
    assert {"errors", "record", "trace"} <= BOTTOM and "spec" not in BOTTOM
    assert all(layer in MAY_IMPORT for layer in {_layer(m) for m in MODULES} - {""}), \
        "a new package under pyrt/ needs its place in MAY_IMPORT"


def test_only_pyrt_linux_opens_the_c_extension():
    users = {src for src, dst in _edges() if dst == "pyrt._cext"}
    assert users and all(_layer(u) == "linux" for u in users), sorted(users)


# Third-party packages with one owner each (ARCHITECTURE.md: the CLI alone parses arguments with
# click; network is the only user of pyroute2).
OWNERS = {"click": "cli", "pyroute2": "network"}


def test_third_party_packages_stay_with_their_layer():
    bad = sorted((m, pkg) for m, names in EXTERNAL.items() for pkg, layer in OWNERS.items()
                 if pkg in names and _layer(m) != layer)
    assert not bad, bad
    assert any("click" in names for names in EXTERNAL.values())  # the reader sees them at all


def test_no_upward_arrows():
    bad = _upward() - set(KNOWN_UPWARD)
    assert not bad, "imports against the layers of ARCHITECTURE.md:\n" + "\n".join(
        f"  {s} -> {d}" for s, d in sorted(bad))


def test_known_upward_arrows_are_still_there():
    """An allow-listed arrow that is gone must leave the list (issue 11 shrinks it)."""
    gone = set(KNOWN_UPWARD) - _upward()
    assert not gone, f"fixed, remove from KNOWN_UPWARD: {sorted(gone)}"


def test_spec_is_parsed_without_the_c_extension():
    """Parsing a config.json loads nothing above spec (no C extension for mount-flag numbers)."""
    reach, todo = set(), ["pyrt.spec.config"]
    while todo:
        m = todo.pop()
        for n in GRAPH.get(m, ()):
            if n not in reach:
                reach.add(n)
                todo.append(n)
    assert {_layer(m) for m in reach} <= {"spec"} | BOTTOM, sorted(reach)


def test_no_import_cycles():
    cycles = _cycles()
    new = cycles - set(KNOWN_CYCLES)
    assert not new, "modules importing each other:\n" + "\n".join(
        "  " + " <-> ".join(sorted(c)) for c in new)
    gone = set(KNOWN_CYCLES) - cycles
    assert not gone, f"fixed, remove from KNOWN_CYCLES: {sorted(map(sorted, gone))}"


def _top_names(path: str) -> set[str]:
    """Names a module defines at its top level, and those its __all__ promises (a lazy
    __getattr__ serves them, as in pyrt.cgroups)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]:
                if isinstance(t, ast.Name):
                    out.add(t.id)
                    if t.id == "__all__" and isinstance(node.value, (ast.List, ast.Tuple)):
                        out.update(e.value for e in node.value.elts if isinstance(e, ast.Constant))
    return out


def test_every_imported_pyrt_name_exists():
    """A module renamed or moved (runtime/resources.py -> cgroup_ops.py) leaves no import behind,
    lazy ones included, which only fail when their verb runs: also after a merge of a branch
    written against the old name."""
    bad = []
    for module, path in MODULES.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        pkg = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bad += [(module, a.name) for a in node.names
                        if a.name.startswith("pyrt.") and a.name not in MODULES and a.name != "pyrt._cext"]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
                if not (base == "pyrt" or base.startswith("pyrt.")) or base == "pyrt._cext":
                    continue
                if base not in MODULES:
                    bad.append((module, base))
                    continue
                names = _top_names(MODULES[base])
                bad += [(module, f"{base}.{a.name}") for a in node.names
                        if f"{base}.{a.name}" not in MODULES and a.name not in names]
    assert not bad, "imports of names that do not exist:\n" + "\n".join(f"  {m}: {n}" for m, n in sorted(bad))

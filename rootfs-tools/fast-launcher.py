#!/usr/bin/env python3
"""Rewrite pip's console scripts for pyrt-runc and pyrt as ones that start Python without `site`
and load pyrt's own modules through pyrt/cli/fastimport.py.

    .venv/bin/python rootfs-tools/fast-launcher.py [BIN_DIR]     (default: the venv's bin/)

Why: runc's `start` or `delete` takes ~4 ms here; the interpreter alone takes ~7.6 ms with `site`
and ~5.6 ms with -S, and every container costs three pyrt-runc calls (create, start, delete).
pip writes console scripts without interpreter flags, so this writes the launcher instead, with
`-SPXutf8` (a shebang passes one word: -S, -P, -X utf8):
- -S: no `site` (its .pth files and user site-packages: ~2 ms);
- -X utf8: UTF-8 mode, which Python already picks in the C/POSIX locale containerd usually
  runs with; it skips the locale's encoding set-up (~0.9 M of the interpreter's ~15.7 M
  instructions) and reads config.json and paths as UTF-8 whatever the locale, as runc does;
- -P: the launcher's own directory is not put first on sys.path, so no file beside it can shadow
  a module (and its directory is never searched).
It
hands back the two things `site` would have given pyrt: the venv's site-packages (cffi's backend,
prctl) and the source tree (the editable install's path entry), in site's order: after the stdlib.

The launchers then exec the compiled code of pyrt/cli/fastimport.py, written here as BIN_DIR/
pyrt-fastimport (the interpreter's magic number, then the marshalled code): a finder that takes
each pyrt module straight from its .pyc, ~115 k instructions less per module than importlib's path
finder. Importing that module instead would cost what it saves; compiling its source in the
launcher would cost more (~1.8 M). Without the file, or for another interpreter, the launchers go
on without the finder (slower, nothing else changes). Rerun this after editing fastimport.py.
"""
from __future__ import annotations

import importlib.util
import marshal
import os
import sys
import sysconfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `pyrt` too: its `run` is a short client of the monitor, and site costs it as much as pyrt-runc.
SCRIPTS = {"pyrt-runc": "pyrt.cli.pyrt_runc", "pyrt": "pyrt.cli.pyrt", "pyrt-runc-helper": "pyrt.cli.runc_helper"}
# pyrt-runc-fast: the C front door of pyrt-runc's resident helper (pyrt/cli/runc_helper.py)
FRONT_SOURCE = os.path.join(REPO, "cext", "runc-front.c")
FRONT = "pyrt-runc-fast"
FINDER_SOURCE = os.path.join(REPO, "pyrt", "cli", "fastimport.py")
FINDER = "pyrt-fastimport"
FLAGS = "-SPXutf8"


def launcher(python: str, paths: list[str], module: str, finder: str, root: str) -> str:
    return (f"#!{python} {FLAGS}\n"
            f"# Written by rootfs-tools/fast-launcher.py: pip's console script, minus `site`,\n"
            f"# plus pyrt's own module finder (pyrt/cli/fastimport.py, compiled in {FINDER}).\n"
            f"import sys\n"
            f"sys.path += {paths!r}\n"
            f"try:\n"
            f"    with open({finder!r}, 'rb') as f:\n"
            f"        code = f.read()\n"
            f"    if code[:4] == sys.modules['_frozen_importlib_external'].MAGIC_NUMBER:\n"
            f"        g = {{'__name__': 'pyrt.cli.fastimport'}}\n"
            f"        exec(__import__('marshal').loads(code[4:]), g)\n"
            f"        g['install']({root!r})\n"
            f"except OSError:\n"
            f"    pass  # no finder: the normal one loads the same modules, only slower\n"
            f"from {module} import main\n"
            f"sys.exit(main())\n")


def write_atomic(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def main() -> None:
    bin_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(sys.executable)
    python = os.path.join(os.path.dirname(sys.executable), os.path.basename(sys.executable))
    paths = [sysconfig.get_paths()["purelib"], REPO]
    finder = os.path.join(bin_dir, FINDER)
    with open(FINDER_SOURCE) as f:
        code = compile(f.read(), FINDER_SOURCE, "exec", dont_inherit=True)
    write_atomic(finder, importlib.util.MAGIC_NUMBER + marshal.dumps(code), 0o644)
    for name, module in SCRIPTS.items():
        write_atomic(os.path.join(bin_dir, name),
                     launcher(python, paths, module, finder, REPO).encode(), 0o755)
    build_front(bin_dir)


def build_front(bin_dir: str) -> None:
    """cc the helper's front door, which runs BIN_DIR/pyrt-runc when the helper does not serve."""
    import subprocess
    out = os.path.join(bin_dir, FRONT)
    runc = os.path.join(os.path.abspath(bin_dir), "pyrt-runc")
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", f'-DPYRT_RUNC="{runc}"',
                    "-o", out + ".tmp", FRONT_SOURCE], check=True)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()

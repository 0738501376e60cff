"""cffi API-mode build of pyrt._cext: the one door from Python to the kernel.

Each C unit in cext/ is a pair: NAME.c (the code) and NAME.cdef (the
declarations Python may call, in cffi's cdef dialect). Adding a unit needs no
edit here, so independent parts of pyrt can grow their own C without clashing.
Constants are declared as `...` in the .cdef files so the compiler fills them in.
"""
import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
# Paths relative to the project root keep the build reproducible (setup.py runs there).
REL = os.path.relpath(HERE, os.getcwd())

ffibuilder = FFI()

units = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(HERE, "*.c")))
for unit in units:
    with open(os.path.join(HERE, unit + ".cdef")) as f:
        ffibuilder.cdef(f.read())

ffibuilder.set_source(
    "pyrt._cext",
    "\n".join(f'#include "{unit}.h"' for unit in units),
    sources=[os.path.join(REL, unit + ".c") for unit in units],
    include_dirs=[REL],
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

"""cffi build script: forklab.h is the one source of truth for the C interface.

The same header is read into ``ffi.cdef`` and ``#include``d by the C files, so the Python and
C sides cannot disagree about the layout of a request or a result.
"""
import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).parent
HEADER = (HERE / "forklab.h").read_text()
# cdef takes declarations only: drop the include guard and #include lines around them.
CDEF = "\n".join(line for line in HEADER.splitlines()
                 if not line.startswith(("#ifndef", "#endif", "#include", "#define FORKLAB_H")))
SOURCES = ["run.c", "bench.c", "spawn.c", "child.c"]

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "forklab._core",
    '#include "forklab.h"\n',
    # setuptools wants source paths relative to setup.py's folder, which is the working directory.
    sources=[os.path.relpath(HERE / name) for name in SOURCES],
    include_dirs=[str(HERE)],
    extra_compile_args=["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

"""cffi build script: forklab.h is the one source of truth for the C interface, and this file the one
source of the compiler flags (setup.py builds forklab-bench with the same ones).

The same header is read into ``ffi.cdef`` and ``#include``d by the C files, so the Python and
C sides cannot disagree about the layout of a request or a result.

The child side (CHILD_SOURCES) runs in a vfork or CLONE_VM child, which shares its parent's memory
and TLS: it may make raw system calls only. CHILD_CFLAGS keep the compiler from putting libc back in:
without them gcc -O2 turns a hand-written length loop into a call to strlen (and a copy loop into
memcpy), and a stack protector reads the canary through the TLS. lib/tests/test_child_build.py checks
that an object built with them names no symbol outside CHILD_ALLOWED_SYMBOLS.
"""
import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).parent
HEADER = (HERE / "forklab.h").read_text()
# cdef takes declarations only: drop the include guard and #include lines around them.
CDEF = "\n".join(line for line in HEADER.splitlines()
                 if not line.startswith(("#ifndef", "#endif", "#include", "#define FORKLAB_H")))
SOURCES = ["bench_client.c", "bench.c", "parent.c", "spawn.c", "server_setup.c"]   # all but the child's side
CHILD_SOURCES = ["child.c"]                     # the child's side: raw system calls only
SERVER_SOURCES = ["server.c"]                   # forklab-bench's main, linked with all of the above
# Warnings are errors. -Wmissing-prototypes keeps "one header per .c file": a function another file
# may call must be declared in a header the defining file includes (or be static).
WARNINGS = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wmissing-prototypes", "-Werror"]
CFLAGS = ["-std=gnu11", "-O2", *WARNINGS]
CHILD_CFLAGS = [*CFLAGS, "-ffreestanding", "-fno-builtin", "-fno-tree-loop-distribute-patterns",
                "-fno-stack-protector"]
#: Undefined symbols the child's objects may name: only data of the C core's own (no function of libc).
CHILD_ALLOWED_SYMBOLS = {"fl_proc_pid_ns"}


#: cffi's generated wrapper (forklab.engine._core.c) is not ours to keep warning-free (it defines PyInit__core
#: without a prototype, say), so it alone is compiled without WARNINGS; the core's files are compiled
#: apart, with them, and linked in (setup.py).
WRAPPER_CFLAGS = ["-std=gnu11", "-O2"]


def _compile(compiler, names: list, output_dir: str, flags: list) -> list[str]:
    # setuptools wants source paths relative to setup.py's folder, which is the working directory.
    return compiler.compile([str(Path(os.path.relpath(HERE)) / name) for name in names],
                            output_dir=output_dir, include_dirs=[str(HERE)], extra_postargs=flags)


def compile_child(compiler, output_dir: str) -> list[str]:
    """Compile CHILD_SOURCES with CHILD_CFLAGS (a setuptools compiler); the object files."""
    return _compile(compiler, CHILD_SOURCES, output_dir, CHILD_CFLAGS)


def compile_core(compiler, output_dir: str) -> list[str]:
    """Compile SOURCES with CFLAGS and CHILD_SOURCES with CHILD_CFLAGS; the object files."""
    return (_compile(compiler, SOURCES, output_dir, CFLAGS)
            + compile_child(compiler, str(Path(output_dir) / "child")))


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "forklab.engine._core",
    '#include "forklab.h"\n',
    # The core's objects (compile_core) are added by setup.py's build_ext; depends makes a change to any
    # of its files rebuild the extension.
    depends=[os.path.relpath(path) for path in sorted([*HERE.glob("*.c"), *HERE.glob("*.h")])],
    include_dirs=[str(HERE)],
    extra_compile_args=WRAPPER_CFLAGS,
)

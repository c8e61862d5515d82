# Metadata lives in pyproject.toml. This file names the cffi build (cffi needs setup.py) and also
# builds forklab-bench, the bench server as a small C program (see src/forklab/engine/benchserver.py).
# Compiler flags come from src/forklab/engine/csrc/build.py, one set for both.
import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.errors import LinkError
except ImportError:             # older setuptools
    from distutils.errors import LinkError

CSRC = Path("src/forklab/engine/csrc")
_spec = importlib.util.spec_from_file_location("forklab_csrc_build", CSRC / "build.py")
csrc_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(csrc_build)


class build_ext_and_bench(build_ext):
    def core_objects(self) -> list[str]:
        """The C core compiled once with its warnings as errors (csrc_build.CFLAGS; the child's side with
        compile_child's flags that keep libc out of it), for the extension and forklab-bench alike."""
        if getattr(self, "_core_objects", None) is None:
            self._core_objects = csrc_build.compile_core(self.compiler, str(Path(self.build_temp) / "core"))
        return self._core_objects

    def build_extension(self, ext):
        if ext.name == "forklab.engine._core":     # cffi's wrapper, linked with the core
            ext.extra_objects = [*(ext.extra_objects or []), *self.core_objects()]
        super().build_extension(ext)

    def run(self):
        super().run()
        objects = self.compiler.compile([str(CSRC / name) for name in csrc_build.SERVER_SOURCES],
                                        output_dir=self.build_temp, include_dirs=[str(CSRC)],
                                        extra_postargs=csrc_build.CFLAGS)
        objects += self.core_objects()
        # next to the extension: in src/forklab/engine for an editable install, in build/lib otherwise
        package_dir = Path(self.get_ext_fullpath("forklab.engine._core")).parent
        # Statically linked if this system has a static libc: every bench is a fork of this server, and a
        # process without the dynamic loader and shared libraries has fewer mappings to copy and tear
        # down (a tiny program's fork + wait costs less CPU: docs/performance.md). Otherwise
        # dynamically, with every symbol bound at start (-z now): each bench is a fresh copy, and lazy
        # binding would resolve the same symbols again in every one of them.
        for flags in (["-static"], ["-Wl,-z,now"]):
            try:
                self.compiler.link_executable(objects, "forklab-bench", output_dir=str(package_dir),
                                              libraries=["pthread"], extra_postargs=flags)
                break
            except LinkError:
                if flags != ["-static"]:
                    raise


setup(cffi_modules=["src/forklab/engine/csrc/build.py:ffibuilder"], cmdclass={"build_ext": build_ext_and_bench})

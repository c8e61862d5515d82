# All metadata lives in pyproject.toml; this file only names the cffi build (cffi needs setup.py).
from setuptools import setup

setup(cffi_modules=["src/forklab/csrc/build.py:ffibuilder"])

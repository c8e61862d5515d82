"""The child side (csrc/child.c) runs in a vfork or CLONE_VM child: raw system calls only, no libc.
Built with build.py's CHILD_CFLAGS, its object names no libc symbol - the compiler may not put one
back (gcc -O2 turns a hand-written length loop into strlen; a stack protector reads the TLS canary)."""
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

import forklab

CSRC = Path(forklab.__file__).parent / "engine" / "csrc"
CC = shutil.which("cc") or shutil.which("gcc")
NM = shutil.which("nm")
pytestmark = pytest.mark.skipif(CC is None or NM is None, reason="needs a C compiler and nm")


def build_module():
    spec = importlib.util.spec_from_file_location("forklab_csrc_build", CSRC / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = build_module()


def undefined_symbols(tmp_path, name: str, flags: list) -> set:
    obj = tmp_path / (name + ".o")
    out = subprocess.run([CC, "-I", str(CSRC), *flags, "-c", "-o", str(obj), str(CSRC / name)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stderr, out.stderr      # one set of warnings, and none of them fires
    nm = subprocess.run([NM, "-u", str(obj)], capture_output=True, text=True, check=True)
    return {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}


def test_the_child_objects_name_only_allowed_symbols(tmp_path):
    for name in BUILD.CHILD_SOURCES:
        extra = undefined_symbols(tmp_path, name, BUILD.CHILD_CFLAGS) - BUILD.CHILD_ALLOWED_SYMBOLS
        assert not extra, f"{name} built with CHILD_CFLAGS calls {sorted(extra)}: libc in the child"


def test_the_check_catches_what_a_plain_build_puts_in(tmp_path):
    """Without CHILD_CFLAGS, gcc -O2 makes fl_strlen's loop a call to strlen: the check above would fail."""
    plain = undefined_symbols(tmp_path, "child.c", ["-std=gnu11", "-O2"])
    if plain <= BUILD.CHILD_ALLOWED_SYMBOLS:
        pytest.skip(f"this compiler ({CC}) puts no libc call into a plain -O2 build, so there is nothing to catch")
    assert "strlen" in plain - BUILD.CHILD_ALLOWED_SYMBOLS, plain


def test_setup_py_and_build_py_share_one_set_of_flags():
    setup = (CSRC.parents[3] / "setup.py").read_text() if (CSRC.parents[3] / "setup.py").exists() else None
    if setup is None:
        pytest.skip("an installed forklab, without its setup.py")
    assert "csrc_build.CFLAGS" in setup and "compile_child" in setup
    assert "-Wall" not in setup, "setup.py names its own warnings instead of build.py's"
    assert set(BUILD.WARNINGS) <= set(BUILD.CFLAGS) and set(BUILD.CFLAGS) <= set(BUILD.CHILD_CFLAGS)

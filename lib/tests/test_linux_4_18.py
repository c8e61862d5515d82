"""Linux 4.18 (RHEL 8's kernel): forklab's C core builds against its headers, and against Linux 3.10's
(conda-forge's glibc 2.17 sysroot); runs where every system call newer than 4.18 answers ENOSYS; and
says so when the kernel ignored a clone flag it did not know.

Old headers are not installed here, so the test makes them: it copies each installed header the C
core reaches that defines a system call number or a clone flag, leaving out every definition that
kernel did not have, and puts those copies first on the include path (-isystem). glibc's own headers
stay as installed (2.36 here), so an old glibc is not imitated - only old kernel headers.
Then it compiles every C file, links the bench server and runs experiments through it under
`tools/confine linux-4.18`.
"""
import errno
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import forklab
from forklab.engine import _core

ffi, lib = _core.ffi, _core.lib
ROOT = Path(__file__).resolve().parents[2]
CSRC = Path(forklab.__file__).parent / "engine" / "csrc"
CONFINE = ROOT / "tools" / "confine"
CC = shutil.which("cc") or shutil.which("gcc")


def _build_module():
    """csrc/build.py, the one source of the compiler flags (it is not a package module)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("forklab_csrc_build", CSRC / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _build_module()
SOURCES = (*BUILD.SERVER_SOURCES, *BUILD.SOURCES, *BUILD.CHILD_SOURCES)     # forklab-bench: all of the C core


def flags_for(name: str) -> list:
    """The flags the real build (build.py, setup.py) compiles this file with."""
    return BUILD.CHILD_CFLAGS if name in BUILD.CHILD_SOURCES else BUILD.CFLAGS

# Linux 4.18's last system call is rseq (334 on x86_64, 293 on the generic table); 335-423 are
# unused on 64-bit arches, and 424 (pidfd_send_signal, 5.1) starts the table shared by every arch.
FIRST_NR_AFTER_4_18 = 424
# Every clone flag (and CSIGNAL) in Linux 4.18's <linux/sched.h>; anything else came later.
CLONE_4_18 = {"CSIGNAL", "CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SIGHAND", "CLONE_PTRACE",
              "CLONE_VFORK", "CLONE_PARENT", "CLONE_THREAD", "CLONE_NEWNS", "CLONE_SYSVSEM",
              "CLONE_SETTLS", "CLONE_PARENT_SETTID", "CLONE_CHILD_CLEARTID", "CLONE_DETACHED",
              "CLONE_UNTRACED", "CLONE_CHILD_SETTID", "CLONE_NEWCGROUP", "CLONE_NEWUTS",
              "CLONE_NEWIPC", "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET", "CLONE_IO"}
# Older still: Linux 3.10, the headers of conda-forge's glibc 2.17 sysroot (CentOS 7). Its last system
# call is finit_module (313 on x86_64, 273 on the generic table); CLONE_NEWCGROUP came in 4.6.
KERNELS = {
    "4.18": (FIRST_NR_AFTER_4_18, CLONE_4_18),
    "3.10": ({"x86_64": 314, "aarch64": 274}.get(os.uname().machine, 0), CLONE_4_18 - {"CLONE_NEWCGROUP"}),
}

pytestmark = [
    pytest.mark.skipif(CC is None, reason="needs a C compiler"),
    pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="forklab's C core is x86_64/aarch64"),
]


def _newer_than(kernel: str, line: str) -> str | None:
    """The name this line defines, if that kernel's headers did not have it."""
    first_nr, clone_flags = KERNELS[kernel]
    m = re.match(r"\s*#\s*define\s+(__NR_\w+)\s+(\d+)", line)
    if m:
        return m.group(1) if int(m.group(2)) >= first_nr else None
    m = re.match(r"\s*#\s*define\s+((?:CLONE_|CSIGNAL)\w*)\b", line)
    return m.group(1) if m and m.group(1) not in clone_flags else None


def as_in(kernel: str, text: str) -> tuple[str, list[str]]:
    """text without the definitions that kernel's headers lacked; also the names removed."""
    out, removed, lines, i = [], [], text.splitlines(), 0
    while i < len(lines):
        name = _newer_than(kernel, lines[i])
        if name:
            removed.append(name)
            chunk = lines[i]            # with its continuation lines and the rest of a comment it opens
            while i + 1 < len(lines) and (chunk.endswith("\\") or chunk.count("/*") > chunk.count("*/")):
                i += 1
                chunk += "\n" + lines[i]
            i += 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out) + "\n", removed


def _include_dirs() -> list[Path]:
    """The compiler's system include directories, most specific first."""
    err = subprocess.run([CC, "-xc", "-E", "-v", "-"], input="", capture_output=True, text=True).stderr
    block = err.split("#include <...> search starts here:")[1].split("End of search list.")[0]
    return sorted((Path(d.strip()) for d in block.splitlines() if d.strip()), key=lambda p: -len(p.parts))


def make_headers(kernel: str, shim: Path) -> list[str]:
    """Copies, under shim/, of every header the C core reaches that has something newer than kernel."""
    headers = set()
    for name in SOURCES:
        out = subprocess.run([CC, "-H", "-fsyntax-only", "-I", str(CSRC), str(CSRC / name)],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        headers |= {Path(line.lstrip(". ").strip()) for line in out.stderr.splitlines() if line.startswith(".")}
    roots, removed = _include_dirs(), []
    for header in sorted(headers):
        root = next((r for r in roots if header.is_relative_to(r)), None)
        if root is None:
            continue                                            # one of ours
        text, gone = as_in(kernel, header.read_text(errors="replace"))
        if gone:
            (shim / header.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
            (shim / header.relative_to(root)).write_text(text)
            removed += gone
    return removed


@pytest.fixture(scope="module")
def bench_4_18(tmp_path_factory):
    """forklab-bench compiled with Linux 4.18's headers first on the include path."""
    work = tmp_path_factory.mktemp("headers-4.18")
    shim = work / "include"
    shim.mkdir()
    removed = make_headers("4.18", shim)
    # The copies really are older: what the C core needs from newer kernels is gone from them.
    for name in ("__NR_pidfd_open", "__NR_clone3", "CLONE_PIDFD"):
        assert name in removed, f"{name} was not found in the installed headers, so this test checks nothing"
    check = work / "check.c"
    check.write_text("#define _GNU_SOURCE\n#include <sched.h>\n#include <sys/syscall.h>\n"
                     "#if defined(SYS_pidfd_open) || defined(SYS_clone3) || defined(CLONE_PIDFD) || !defined(CLONE_NEWCGROUP)\n"
                     "#error the shim does not look like Linux 4.18\n#endif\n")
    out = subprocess.run([CC, "-isystem", str(shim), "-fsyntax-only", str(check)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr

    program = work / "forklab-bench"
    objects = []
    for name in SOURCES:
        objects.append(str(work / (name + ".o")))
        out = subprocess.run([CC, "-isystem", str(shim), "-I", str(CSRC), *flags_for(name),
                              "-c", "-o", objects[-1], str(CSRC / name)], capture_output=True, text=True)
        assert out.returncode == 0, f"{name} does not build against Linux 4.18's headers:\n" + out.stderr
    out = subprocess.run([CC, "-o", str(program), *objects, "-lpthread"], capture_output=True, text=True)
    assert out.returncode == 0, "the C core does not link against Linux 4.18's headers:\n" + out.stderr
    return program


@pytest.mark.parametrize("kernel", ["4.18", "3.10"])
def test_every_c_file_compiles_against_old_headers(kernel, tmp_path):
    """With the flags of the real build (build.py), each file on its own."""
    shim = tmp_path / "include"
    removed = make_headers(kernel, shim)
    assert "__NR_pidfd_open" in removed and (kernel != "3.10" or "__NR_memfd_create" in removed)
    for name in SOURCES:
        out = subprocess.run([CC, "-isystem", str(shim), "-I", str(CSRC), *flags_for(name),
                              "-c", "-o", str(tmp_path / (name + ".o")), str(CSRC / name)],
                             capture_output=True, text=True)
        assert out.returncode == 0, f"{name} does not build against Linux {kernel}'s headers:\n{out.stderr}"


def _experiment(server, primitive, flags=0):
    _experiment.seq = getattr(_experiment, "seq", 0) + 1
    req = ffi.new("struct fl_request *")
    req.magic, req.seq, req.nonce = lib.FL_REQUEST_MAGIC, _experiment.seq, 12345
    req.primitive, req.flags, req.exit_signal = primitive, flags, 17    # SIGCHLD
    req.timeout_ms, req.grace_ms = 10000, 20
    server.stdin.write(bytes(ffi.buffer(req)))
    server.stdin.flush()
    data = server.stdout.read(ffi.sizeof("struct fl_result"))
    res = ffi.new("struct fl_result *")
    ffi.buffer(res)[:] = data
    assert ffi.buffer(ffi.addressof(res, "request"))[:] == ffi.buffer(req)[:], "the answer to another request"
    return res


def test_built_with_4_18_headers_it_runs_where_newer_calls_are_enosys(bench_4_18):
    """pidfd_open answers ENOSYS there: children are still reaped (another way), clone3 is refused."""
    server = subprocess.Popen([sys.executable, str(CONFINE), "linux-4.18", "--", str(bench_4_18), str(os.getpid())],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        hello = server.stdout.readline().decode()
        assert hello.startswith("forklab bench server ready"), hello
        assert hello.split()[4:6] == [str(ffi.sizeof("struct fl_request")), str(ffi.sizeof("struct fl_result"))]
        _experiment.seq = 0
        for primitive, flags in [(lib.FL_FORK, 0), (lib.FL_VFORK, 0), (lib.FL_CLONE, 0x100 | 0x400),
                                 (lib.FL_CLONE, 0x1000)]:        # CLONE_VM|CLONE_FILES, CLONE_PIDFD
            res = _experiment(server, primitive, flags)
            assert res.outcome == lib.FL_OK, (primitive, flags, res.outcome, res.error, ffi.string(res.where))
            assert res.waited == 1 and os.WIFEXITED(res.wait_status), (primitive, flags)
        res = _experiment(server, lib.FL_CLONE3, 0)
        assert res.outcome == lib.FL_REFUSED and res.error == errno.ENOSYS
    finally:
        server.stdin.close()
        assert server.wait(timeout=30) == 0
        server.stdout.close()


def test_a_clone_pidfd_the_kernel_ignored_is_reported_not_hidden(monkeypatch):
    """Linux < 5.2 ignores CLONE_PIDFD and writes no pidfd; the filter cannot imitate that, so the
    bench's answer is edited the way such a kernel would leave it."""
    from forklab.engine import benchserver
    assert not [n for n in forklab.run("clone", ["PIDFD"]).notes if "CLONE_PIDFD" in n]
    real = benchserver.run_experiment

    def as_on_linux_4_18(req, res, timeout):
        real(req, res, timeout)
        res.pidfd_from_clone = -1

    monkeypatch.setattr(benchserver, "run_experiment", as_on_linux_4_18)
    obs = forklab.run("clone", ["PIDFD"])
    assert [n for n in obs.notes if "CLONE_PIDFD was asked for, but no pidfd came back" in n]

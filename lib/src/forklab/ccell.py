"""C cells: compile a whole C program with the system compiler and run it in a sandbox.

    >>> from forklab.ccell import run_c
    >>> r = run_c('#include <stdio.h>\\nint main(void) { puts("hi"); return 3; }')
    >>> r.stdout, r.returncode
    ('hi\\n', 3)

In a notebook: `%load_ext forklab.ccell`, then a cell starting with `%%c` (options `--timeout S`,
`--max-procs N`, `--args "..."`, `--stdin "..."`, `--cflags "..."`, `--out VAR` (keep the run, a CResult,
in the notebook's variable VAR, so that a later cell can read what the program printed), and
`--needs WHAT --reference NAME`: where the platform forbids what the program needs, the cell says why
and shows the output recorded under NAME - see forklab.references).

The program is compiled with `cc -Wall -Wextra` into a temporary folder and run under
`supervisor.py`, a fresh Python process started with `subprocess` (so the Jupyter kernel is never
forked). The supervisor is a child subreaper: it counts every process the program creates, kills
them all when more than `max_procs` are alive at once or the timeout passes, and reaps every one,
orphans included. A hard cap backs the count up (a pids cgroup as root, RLIMIT_NPROC otherwise;
see supervisor.py for why). The program's stdout and stderr are pipes (as when output is captured), its
stdin is /dev/null unless `stdin` is given.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUPERVISOR = Path(__file__).with_name("supervisor.py")
NEEDS = ("user-namespaces", "namespaces", "clone3", "pidfd", "ns-last-pid", "proc-mount")   # forklab.references.NEEDS
BASE_CFLAGS = ("-Wall", "-Wextra", "-std=gnu17", "-O1", "-g")
OUTPUT_LIMIT = 1 << 20  # characters kept of stdout / stderr each


@dataclass
class CResult:
    """What happened to one C program: compiled? what did it print? how did it end?"""
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None  # exit code; negative: killed by that signal; None: never ran
    compile_output: str = ""       # the compiler's warnings and errors (temp paths shortened)
    compiled: bool = False
    timed_out: bool = False
    too_many_procs: bool = False   # killed because more than max_procs processes were alive
    leftovers_killed: bool = False # main ended by itself, but processes it left ran past the timeout
    max_procs_seen: int = 0        # most processes alive at once (as sampled by the supervisor)
    max_procs: int = 64
    backstop: str = ""             # hard cap under the count: "pids cgroup", "RLIMIT_NPROC" or "none"
    start_error: str = ""          # why the program could not be started ("" if it was)
    timeout: float = 5.0
    command: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.compiled and self.returncode == 0 and not self.timed_out and not self.too_many_procs

    def status_line(self) -> str:
        """One line in plain words: how the program ended."""
        if not self.compiled:
            return "[not run: the program did not compile]"
        if self.too_many_procs:
            return (f"[stopped: more than {self.max_procs} processes alive at once "
                    f"(max_procs={self.max_procs}); all killed and reaped]")
        if self.timed_out and self.leftovers_killed:
            return (f"[exit status {self.returncode}; processes it left behind were still running after "
                    f"the {self.timeout:g} s timeout: all killed and reaped]")
        if self.timed_out:
            return f"[stopped: still running after the {self.timeout:g} s timeout; all killed and reaped]"
        if self.returncode is None:
            return "[the program could not be started]"
        if self.returncode < 0:
            sig = -self.returncode
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            return f"[killed by {name} (signal {sig})]"
        return f"[exit status {self.returncode}]"

    def __str__(self) -> str:
        parts = []
        if self.compile_output:
            parts.append(self.compile_output.rstrip("\n"))
        if self.stdout:
            parts.append(self.stdout.rstrip("\n"))
        if self.stderr:
            parts.append(self.stderr.rstrip("\n"))
        parts.append(self.status_line())
        return "\n".join(parts)


def compiler() -> str:
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("C cells need a C compiler: none of cc, gcc, clang is on PATH "
                       "(Debian/Ubuntu: apt-get install gcc)")


def _decode(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) > OUTPUT_LIMIT:
        text = text[:OUTPUT_LIMIT] + f"\n... [output cut at {OUTPUT_LIMIT} characters]\n"
    return text


def compile_c(source: str, workdir: Path, cflags=()) -> tuple[bool, str, Path]:
    """Compile source into workdir/cell; returns (ok, compiler output with short paths, binary)."""
    src = workdir / "cell.c"
    src.write_text(source)
    binary = workdir / "cell"
    cmd = [compiler(), *BASE_CFLAGS, *cflags, "-o", str(binary), str(src)]
    proc = subprocess.run(cmd, capture_output=True, cwd=workdir, timeout=60)
    out = _decode(proc.stdout + proc.stderr).replace(str(src), "cell.c").replace(str(workdir) + "/", "")
    return proc.returncode == 0, out, binary


def run_program(argv, *, stdin=None, timeout=5.0, max_procs=64, cwd=None, env=None):
    """Run any program under the supervisor; returns (stdout, stderr, supervisor report dict)."""
    if timeout <= 0:
        raise ValueError("timeout must be positive (seconds)")
    if max_procs < 1:
        raise ValueError("max_procs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="forklab-run-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-I", "-S", str(SUPERVISOR), "--timeout", str(timeout),
               "--max-procs", str(max_procs), "--report", str(report)]
        if stdin is not None:
            stdin_file = Path(tmp) / "stdin"
            stdin_file.write_bytes(stdin.encode() if isinstance(stdin, str) else stdin)
            cmd += ["--stdin", str(stdin_file)]
        cmd += ["--", *map(str, argv)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=cwd, env=env, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout + 15)
        except subprocess.TimeoutExpired:
            # the supervisor itself is stuck (it should never be): kill its whole session group
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        try:
            status = json.loads(report.read_text())
        except (OSError, ValueError):
            status = {"returncode": None, "timed_out": True, "too_many_procs": False, "max_seen": 0,
                      "start_error": f"supervisor failed (status {proc.returncode})"}
        return _decode(out), _decode(err), status


def run_supervised(argv, *, stdin=None, timeout: float = 5.0, max_procs: int = 64, cwd=None,
                   env=None) -> CResult:
    """Run a program that needs no compiling under the supervisor: the one place its report
    becomes a CResult (for C cells, process trees and graded programs alike)."""
    out, err, status = run_program(argv, stdin=stdin, timeout=timeout, max_procs=max_procs, cwd=cwd, env=env)
    return CResult(stdout=out, stderr=err, returncode=status.get("returncode"), compiled=True,
                   timed_out=bool(status.get("timed_out")),
                   too_many_procs=bool(status.get("too_many_procs")),
                   leftovers_killed=bool(status.get("main_ended_first")),
                   max_procs_seen=int(status.get("max_seen", 0)), max_procs=max_procs,
                   backstop=status.get("backstop", ""), start_error=status.get("start_error") or "",
                   timeout=timeout)


def run_c(source: str, *, args=(), stdin=None, timeout: float = 5.0, max_procs: int = 64,
          cflags=()) -> CResult:
    """Compile `source` (a complete C program) with warnings on and run it in the sandbox."""
    if isinstance(args, str):
        args = shlex.split(args)
    if isinstance(cflags, str):
        cflags = shlex.split(cflags)
    with tempfile.TemporaryDirectory(prefix="forklab-c-") as tmp:
        ok, compile_output, binary = compile_c(source, Path(tmp), cflags)
        if not ok:
            return CResult(compile_output=compile_output, max_procs=max_procs, timeout=timeout)
        result = run_supervised([binary, *args], stdin=stdin, timeout=timeout, max_procs=max_procs, cwd=tmp)
    result.compile_output = compile_output
    result.command = ["./cell", *map(str, args)]
    if result.start_error:
        result.stderr += result.start_error + "\n"
    return result


# ---------------------------------------------------------------- the %%c cell magic

def _parse_magic_line(line: str) -> dict:
    import argparse
    parser = argparse.ArgumentParser(prog="%%c", add_help=False)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-procs", type=int, default=64)
    parser.add_argument("--args", default="")
    parser.add_argument("--stdin", default=None)
    parser.add_argument("--cflags", default="")
    parser.add_argument("--needs", action="append", default=[], choices=NEEDS)   # see forklab.references
    parser.add_argument("--reference", default=None)
    parser.add_argument("--out", default=None)
    # "--cflags -O1": glue each option to its value, so a value may start with "-".
    tokens, words = [], shlex.split(line)
    while words:
        word = words.pop(0)
        if word in ("--timeout", "--max-procs", "--args", "--stdin", "--cflags", "--needs", "--reference",
                    "--out") and words:
            word = f"{word}={words.pop(0)}"
        tokens.append(word)
    try:
        ns = parser.parse_args(tokens)
    except SystemExit:
        raise ValueError(f"%%c options are --timeout S, --max-procs N, --args \"...\", --stdin \"...\", "
                         f"--cflags \"...\", --out VAR, --needs {'|'.join(NEEDS)}, --reference NAME; got: {line!r}") from None
    if ns.out is not None and not ns.out.isidentifier():
        raise ValueError(f"%%c --out needs a Python variable name, such as --out run; got: {ns.out!r}")
    stdin = ns.stdin.encode().decode("unicode_escape") if ns.stdin is not None else None
    return {"timeout": ns.timeout, "max_procs": ns.max_procs, "args": shlex.split(ns.args),
            "stdin": stdin, "cflags": shlex.split(ns.cflags), "needs": ns.needs, "reference": ns.reference, "out": ns.out}


def show(result: CResult) -> None:
    """Print a CResult the way the %%c magic does: compiler messages, stdout, stderr, exit status."""
    if result.compile_output:
        header = "compiler says:" if result.compiled else "compile failed:"
        print(header, file=sys.stderr if not result.compiled else sys.stdout)
        text = _indent(result.compile_output)
        print(text, file=sys.stderr if not result.compiled else sys.stdout)
    if result.stdout:
        print(result.stdout, end="" if result.stdout.endswith("\n") else "\n")
    if result.stderr:
        sys.stdout.flush()
        print(result.stderr, end="" if result.stderr.endswith("\n") else "\n", file=sys.stderr)
        sys.stderr.flush()
    print(result.status_line())


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.rstrip("\n").splitlines())


def c_magic(line: str, cell: str) -> None:
    """%%c: compile this cell's C program and run it (options: see forklab.ccell)."""
    try:
        opts = _parse_magic_line(line)
    except ValueError as e:
        print(e, file=sys.stderr)
        return
    needs, name, out = opts.pop("needs"), opts.pop("reference"), opts.pop("out")
    result = run_c(cell, **opts)
    show(result)
    if out is not None:         # --out VAR: the notebook keeps the run, to read what the program printed
        from IPython import get_ipython
        get_ipython().user_ns[out] = result
    if needs:   # where this platform forbids what the program needs: why, and the recorded output
        from .references import after_c_cell
        after_c_cell(name, needs)


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(c_magic, magic_kind="cell", magic_name="c")

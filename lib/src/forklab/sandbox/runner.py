"""Compile a whole C program with the system compiler and run it supervised, in a sandbox: what C
cells, process trees, graded programs and the meters all run through.

    >>> from forklab.sandbox.runner import run_c
    >>> r = run_c('#include <stdio.h>\\nint main(void) { puts("hi"); return 3; }')
    >>> r.stdout, r.returncode
    ('hi\\n', 3)

`compile_c` compiles, `run_supervised` runs any program and gives a CResult, `run_program` gives the
supervisor's raw report, `run_c` does both for one C source, `show` prints a CResult the way a `%%c`
cell does (the cell magic itself is forklab.course.cell_magic). This module uses the standard library only.

The program is compiled with `cc -Wall -Wextra` into a temporary folder and run under
`supervisor.py`, a fresh Python process started with `subprocess` (so the Jupyter kernel is never
forked). The supervisor is a child subreaper: it counts every process the program creates, kills
them all when more than `max_procs` are alive at once or the timeout passes, and reaps every one,
orphans included. A hard cap backs the count up (a pids cgroup as root, RLIMIT_NPROC otherwise;
see supervisor.py for why). The program's stdout and stderr are pipes read by the supervisor, which
keeps the first MiB of each and drops the rest; its stdin is /dev/null unless `stdin` is given.

Walls (containment.py; `forklab.platform_report()` says which hold here): where the platform allows
one (root, or unprivileged user namespaces; not Docker's default profile), the program runs in a **PID
namespace of its own** as PID 2, under a small init of the course's (PID 1): it sees small pids, its
orphans go to that init, /proc shows only the cell's processes, and `kill(-1, ...)` reaches only the
cell. `--host-pids` (`run_c(..., host_pids=True)`) runs it beside its supervisor instead, with the
machine's real pids and the supervisor (a subreaper) adopting its orphans - for the lessons whose
answer is the supervisor. Everywhere the program cannot kill, tgkill, ptrace, process_vm_* or limit
its supervisor, the Jupyter kernel or the bench server by pid (a seccomp filter), and without a PID
namespace `kill(-1, ...)` is refused. A Landlock signal scope (Linux 6.12+) keeps every signal inside
the cell; without it and without a PID namespace, pidfd_send_signal is refused (the filter cannot tell
a pidfd of the program's child from an opened /proc/PID of the kernel), a Landlock domain (5.13+) keeps
ptrace and /proc/PID/mem of the kernel out of reach, and a signal by pid to another program of the
student's stays possible. Where a mount and IPC
namespace may be made, it has its own /tmp, /dev/shm and System V IPC, gone with the cell; elsewhere
the System V objects it made or used are removed after it, and what names no process (files and folders
in /dev/shm, a semaphore set or queue nobody used) is removed if the student made it while the cell ran
and nothing holds it open (not for root; see leftovers.py). Its TMPDIR is the cell's folder; a file it
writes to a fixed /tmp path stays there (the shared /tmp is not swept: see leftovers.SHARED_FOLDERS).
The compiler runs under the same supervisor and walls (60 s at most); options that would make it run
other programs (-wrapper, -fplugin, -B, -specs, @file...) are refused. `max_procs` is clamped to
the hard RLIMIT_NPROC of the server, with a note.
"""
from __future__ import annotations

import json
import math
import os
import resource
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUPERVISOR = Path(__file__).with_name("supervisor.py")
BASE_CFLAGS = ("-Wall", "-Wextra", "-std=gnu17", "-O1", "-g")
OUTPUT_LIMIT = 1 << 20  # bytes kept of stdout / stderr each (the supervisor reads and drops the rest)
COMPILE_TIMEOUT = 60.0  # seconds the compiler may take, under the supervisor like the program
COMPILE_MAX_PROCS = 16  # the driver runs cc1, as, collect2, ld one after the other
# Seconds the supervisor may need after the timeout: killing everything (at most 10 s, in practice
# milliseconds), reading the last output (2 s at most) and writing its report.
SUPERVISOR_GRACE = 15.0


class CellOptionError(ValueError):
    """A C cell's option cannot be used as given; the message says why and what works."""


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
    out_of_memory: bool = False    # SIGKILLed by the kernel's OOM killer (not by the supervisor)
    interrupted: bool = False      # the caller was interrupted (Jupyter's stop button): all killed
    max_procs_seen: int = 0        # most processes alive at once (as sampled by the supervisor)
    max_procs: int = 64
    backstop: str = ""             # hard cap under the count: "pids cgroup", "RLIMIT_NPROC" or "none"
    walls: dict = field(default_factory=dict)  # what contained the program (see containment.py)
    start_error: str = ""          # why the program could not be started ("" if it was)
    notes: list = field(default_factory=list)  # what the cell changed in what was asked, and why
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
        if self.interrupted:
            return "[stopped: the cell was interrupted; all killed and reaped]"
        if self.timed_out and self.leftovers_killed:
            return (f"[exit status {self.returncode}; processes it left behind were still running after "
                    f"the {self.timeout:g} s timeout: all killed and reaped]")
        if self.timed_out:
            return f"[stopped: still running after the {self.timeout:g} s timeout; all killed and reaped]"
        if self.returncode is None:
            return "[the program could not be started]"
        if self.out_of_memory:
            return ("[killed by SIGKILL (signal 9): it ran out of memory - the kernel's OOM killer "
                    "ended it]")
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


def _decode(data: bytes, total: int | None = None) -> str:
    """Text from what the supervisor kept; says so when the program wrote more than that."""
    text = data.decode("utf-8", errors="replace")
    if total is not None and total > len(data):
        text += f"\n... [output cut at {len(data):,} bytes: the program wrote {total:,}]\n"
    return text


# --- what a cell may ask of the compiler -----------------------------------------------------------
# Options that make the compiler driver run a program of your choosing, load code into the
# compiler or the linker, or read further options from somewhere unchecked.
_RUNS_OTHER_PROGRAMS = {
    "-wrapper": "it runs every step of the compiler through a program you name",
    "-fplugin": "it loads a shared library of your choosing into the compiler",
    "-iplugindir": "it tells the compiler where to load plugins from",
    "-fpass-plugin": "it loads a shared library of your choosing into the compiler",
    "-Xclang": "it passes raw options to clang's compiler, such as -load (a plugin)",
    "-B": "it makes the driver run cc1, as and ld from a folder you name",
    "--prefix": "it makes the driver run cc1, as and ld from a folder you name",
    "-specs": "a spec file can make the driver run any program",
    "--specs": "a spec file can make the driver run any program",
    "--ld-path": "it makes the driver run the linker program you name",
    "-o": "the cell chooses where the program is written (./cell)",
    "@": "options read from a file are not checked",
}
_PASSES_ON = ("-Wl,", "-Wp,", "-Wa,")                    # -Wl,a,b: a and b go to the linker
_PASSES_NEXT = ("-Xlinker", "-Xpreprocessor", "-Xassembler", "--for-linker", "--for-assembler")
LINKERS = ("bfd", "gold", "lld", "mold")


def _passed_on(cflags, i: int):
    """The options cflags[i] hands to the linker, preprocessor or assembler (None if it is not such)."""
    opt = cflags[i]
    if opt.startswith(_PASSES_ON):
        return opt.split(",")[1:]
    if opt in _PASSES_NEXT:                             # -Xlinker VALUE
        return cflags[i + 1:i + 2]
    if opt.startswith(tuple(p + "=" for p in _PASSES_NEXT)):   # --for-linker=VALUE
        return [opt.split("=", 1)[1]]
    return None


def check_cflags(cflags) -> None:
    """Refuse (CellOptionError, naming the option and why) compiler options that run other programs."""
    cflags = [str(c) for c in cflags]
    for i, opt in enumerate(cflags):
        handed = _passed_on(cflags, i)
        if handed is not None:
            if any("plugin" in p or p.startswith(("-fplugin", "-load")) for p in handed):
                raise CellOptionError(
                    f"--cflags {' '.join(cflags[i:i + 1 + (opt in _PASSES_NEXT)])!r} is refused: it makes the "
                    "linker or the compiler load a plugin (code of your choosing). A cell's compiler runs only "
                    "the compiler's own programs.")
            continue
        if opt.startswith("-fuse-ld="):
            if opt.split("=", 1)[1] not in LINKERS:
                raise CellOptionError(f"--cflags {opt!r} is refused: -fuse-ld may name one of the system's "
                                      f"linkers ({', '.join(LINKERS)}), not a program of your choosing.")
            continue
        for prefix, why in _RUNS_OTHER_PROGRAMS.items():     # each a prefix: -fplugin=x.so, -B/usr, @file
            if opt.startswith(prefix):
                raise CellOptionError(
                    f"--cflags {opt!r} is refused: {why}. A cell's compiler runs only the compiler's own "
                    "programs; options such as -O2, -g, -Wall, -DNAME=1, -std=c11, -pthread, -lm work.")


def compile_c(source: str, workdir: Path, cflags=()) -> tuple[bool, str, Path]:
    """Compile source into workdir/cell under the supervisor (timeout, process cap, walls, private
    /tmp); returns (ok, compiler output with short paths, binary). Options that would run other
    programs are refused with CellOptionError."""
    cflags = [str(c) for c in cflags]
    check_cflags(cflags)
    src = workdir / "cell.c"
    src.write_text(source)
    binary = workdir / "cell"
    cmd = [compiler(), *BASE_CFLAGS, *cflags, "-o", "cell", "cell.c"]
    env = dict(os.environ, TMPDIR=str(workdir))     # the driver's temporary files die with the folder
    out, err, status = run_program(cmd, timeout=COMPILE_TIMEOUT, max_procs=COMPILE_MAX_PROCS, cwd=workdir,
                                   env=env, private_tmp=True)
    text = (out + err).replace(str(src), "cell.c").replace(str(workdir) + "/", "")
    if status.get("timed_out") or status.get("too_many_procs") or status.get("start_error"):
        why = (f"did not finish within {COMPILE_TIMEOUT:g} s" if status.get("timed_out")
               else f"started more than {COMPILE_MAX_PROCS} processes" if status.get("too_many_procs")
               else f"could not start ({status.get('start_error')})")
        return False, text + f"[the compiler {why}: stopped, and everything it started was killed]\n", binary
    return status.get("returncode") == 0 and binary.exists(), text, binary


def check_timeout(timeout) -> float:
    """A timeout is a finite number of seconds above 0 (nan, inf, 0, -1 are refused, saying so)."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise CellOptionError(f"timeout must be a number of seconds, such as 5; got {timeout!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise CellOptionError(f"timeout must be a finite number of seconds above 0, such as 5; got {timeout!r} "
                              "(every cell ends: its processes are killed when the timeout passes)")
    return value


def max_procs_allowed(max_procs: int) -> tuple[int, str]:
    """max_procs clamped to the hard RLIMIT_NPROC this server runs under (the class's limit):
    (allowed, a note saying so if it was clamped, else "")."""
    if isinstance(max_procs, bool) or not isinstance(max_procs, int) or max_procs < 1:
        raise CellOptionError(f"max_procs must be a whole number of processes, 1 or more; got {max_procs!r}")
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    if hard != resource.RLIM_INFINITY and max_procs > hard:
        return hard, (f"max_procs={max_procs} is more than this server allows: its processes run under a hard "
                      f"limit of {hard} (RLIMIT_NPROC, set by your course's hub), so the cell runs with "
                      f"max_procs={hard}")
    return max_procs, ""


def children_of_me() -> list:
    """The caller's own children (the bench server, other cells' supervisors): the program may not
    signal them either. From /proc/self/task/TID/children, so no other process is read."""
    kids = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
        except OSError:
            pass
    return kids


def _tree(pid: int) -> list:
    """pid and every process below it (for killing a supervisor that stopped answering)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo += [int(k) for k in f.read().split()]
        except OSError:
            pass
    return found


def _wait(proc: subprocess.Popen, timeout: float) -> None:
    """proc.wait(timeout), woken the moment the supervisor ends (a pidfd, Linux 5.3) instead of
    Popen's polling, which sleeps up to 50 ms at a time; TimeoutExpired when it does not end."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):       # Python < 3.9, Linux < 5.3, or a seccomp filter
        proc.wait(timeout=timeout)
        return
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    proc.wait(timeout=5)                    # it has ended: this only reaps it


def run_program(argv, *, stdin=None, timeout=5.0, max_procs=64, cwd=None, env=None, private_tmp=False,
                pid_namespace=False):
    """Run any program under the supervisor; returns (stdout, stderr, supervisor report dict).
    Every wait here is bounded: the supervisor has timeout + SUPERVISOR_GRACE seconds to report."""
    timeout = check_timeout(timeout)
    if isinstance(max_procs, bool) or not isinstance(max_procs, int) or max_procs < 1:
        raise CellOptionError(f"max_procs must be a whole number of processes, 1 or more; got {max_procs!r}")
    with tempfile.TemporaryDirectory(prefix="forklab-run-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-I", "-S", str(SUPERVISOR), "--timeout", repr(timeout),
               "--max-procs", str(max_procs), "--report", str(report), "--output", tmp,
               "--output-limit", str(OUTPUT_LIMIT)]
        for pid in children_of_me():
            cmd += ["--protect", str(pid)]
        if private_tmp:
            cmd += ["--private-tmp"]
        if private_tmp and pid_namespace:
            cmd += ["--pid-namespace"]
        if stdin is not None:
            stdin_file = Path(tmp) / "stdin"
            stdin_file.write_bytes(stdin.encode() if isinstance(stdin, str) else stdin)
            cmd += ["--stdin", str(stdin_file)]
        cmd += ["--", *map(str, argv)]
        # The supervisor's own messages go to a file, never to a pipe a program could hold open.
        with open(Path(tmp) / "supervisor.log", "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=cwd, env=env,
                                    start_new_session=True)
        stuck = False
        try:
            _wait(proc, timeout + SUPERVISOR_GRACE)
        except subprocess.TimeoutExpired:
            stuck = True            # it should never be: kill it and everything below it
            for pid in reversed(_tree(proc.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            proc.wait(timeout=5)
        except BaseException:      # interrupted (KeyboardInterrupt): the supervisor ends the cell
            proc.terminate()
            try:
                proc.wait(timeout=SUPERVISOR_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            raise
        try:
            status = json.loads(report.read_text())
        except (OSError, ValueError):
            log_text = (Path(tmp) / "supervisor.log").read_bytes()[-2000:].decode(errors="replace")
            status = {"returncode": None, "timed_out": stuck, "too_many_procs": False, "max_seen": 0,
                      "start_error": (f"the supervisor did not answer within {timeout + SUPERVISOR_GRACE:g} s; "
                                      "it and the processes below it were killed" if stuck else
                                      f"the supervisor failed (status {proc.returncode}): {log_text}")}
        sizes = status.get("output_bytes", {})
        out = err = b""
        for name in ("stdout", "stderr"):
            try:
                data = (Path(tmp) / name).read_bytes()[:OUTPUT_LIMIT]
            except OSError:
                data = b""
            text = _decode(data, sizes.get(name))
            out, err = (text, err) if name == "stdout" else (out, text)
        return out, err, status


def run_supervised(argv, *, stdin=None, timeout: float = 5.0, max_procs: int = 64, cwd=None,
                   env=None, private_tmp: bool = False, pid_namespace: bool = False) -> CResult:
    """Run a program that needs no compiling under the supervisor: the one place its report
    becomes a CResult (for C cells, process trees and graded programs alike)."""
    out, err, status = run_program(argv, stdin=stdin, timeout=timeout, max_procs=max_procs, cwd=cwd, env=env,
                                   private_tmp=private_tmp, pid_namespace=pid_namespace)
    return CResult(stdout=out, stderr=err, returncode=status.get("returncode"), compiled=True,
                   timed_out=bool(status.get("timed_out")),
                   too_many_procs=bool(status.get("too_many_procs")),
                   leftovers_killed=bool(status.get("main_ended_first")),
                   out_of_memory=bool(status.get("out_of_memory")),
                   interrupted=bool(status.get("interrupted")),
                   max_procs_seen=int(status.get("max_seen", 0)), max_procs=max_procs,
                   backstop=status.get("backstop", ""), walls=status.get("walls", {}),
                   start_error=status.get("start_error") or "", timeout=timeout)


def run_c(source: str, *, args=(), stdin=None, timeout: float = 5.0, max_procs: int = 64,
          cflags=(), host_pids: bool = False) -> CResult:
    """Compile `source` (a complete C program) with warnings on and run it in the sandbox: in a PID
    namespace of its own where the platform allows one, unless `host_pids` (the lessons on
    subreapers, whose answer is the supervisor, a process outside any namespace of the cell)."""
    timeout = check_timeout(timeout)
    max_procs, note = max_procs_allowed(max_procs)
    if isinstance(args, str):
        args = shlex.split(args)
    if isinstance(cflags, str):
        cflags = shlex.split(cflags)
    with tempfile.TemporaryDirectory(prefix="forklab-c-") as tmp:
        ok, compile_output, binary = compile_c(source, Path(tmp), cflags)
        if not ok:
            return CResult(compile_output=compile_output, max_procs=max_procs, timeout=timeout,
                           notes=[note] if note else [])
        # run as ./cell in its folder: with a private /tmp, that folder is the only one kept visible
        # TMPDIR: mkstemp() and friends put their files in the cell's folder, removed with it
        result = run_supervised(["./cell", *args], stdin=stdin, timeout=timeout, max_procs=max_procs, cwd=tmp,
                                env=dict(os.environ, TMPDIR=tmp), private_tmp=True, pid_namespace=not host_pids)
    result.compile_output = compile_output
    result.command = ["./cell", *map(str, args)]
    result.notes = [note] if note else []
    if result.start_error:
        result.stderr += result.start_error + "\n"
    return result


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
    for note in result.notes:
        print(f"[note: {note}]", file=sys.stderr)
    print(result.status_line())


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.rstrip("\n").splitlines())

"""What a program really asks the kernel for when it creates a process or a thread, seen with strace.

    >>> from forklab.meters import strace
    >>> print(strace.trace_python("import os; os.waitpid(os.posix_spawn('/bin/true', ['true'], {}), 0)"))
    clone3(CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD)

The traced program always runs in a new process (never the caller). Only the process-creating
system calls are traced (fork, vfork, clone, clone3), each with what the kernel returned: where
clone3 is refused (ENOSYS under Docker's seccomp rules or before Linux 5.3) libc calls clone next,
and that is one process created, not two - ``Trace.calls`` lists creations, ``Trace.attempts``
every call. Where strace is missing or ptrace is refused (a container without CAP_SYS_PTRACE, a
strict Yama setting), the ``Trace`` says so in words instead of raising.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from forklab.engine.flags import FLAGS
from forklab.host.machine import machine

CREATING = ("fork", "vfork", "clone", "clone3")

# "1234  clone3({flags=..., exit_signal=SIGCHLD, ...}, 88) = 1235" (the pid prefix comes from -f)
_CALL = re.compile(r"^(?:\[pid\s+)?(?P<pid>\d+)?\]?\s*(?P<name>clone3|clone|vfork|fork)\((?P<args>.*)$")
_FLAGS_ARG = re.compile(r"flags=(?P<flags>[A-Z0-9_|]+)")
_EXIT_SIGNAL = re.compile(r"exit_signal=(?P<sig>\w+)")
# what the kernel returned: ") = 4243", ") = -1 ENOSYS (Function not implemented)", ") = ?"
_RESULT = re.compile(r"\)\s+=\s+(?P<result>\?|-?\d+(?:\s+E[A-Z0-9]+)?)(?:\s+\(.*\))?\s*$")
# the second half of a call another process's line interrupted: "4242  <... clone3 resumed>) = 4244"
_RESUMED = re.compile(r"^(?:\[pid\s+)?(?P<pid>\d+)?\]?\s*<\.\.\. (?P<name>clone3|clone|vfork|fork) resumed>")


@dataclass(frozen=True)
class CreationCall:
    """One process-creating system call, as strace showed it."""
    syscall: str                 # "fork", "vfork", "clone" or "clone3"
    flags: tuple[str, ...]       # CLONE_* names, in forklab.FLAGS order
    exit_signal: str | None      # "SIGCHLD", another signal name, or None for exit signal 0
    line: str                    # what strace printed
    result: str | None = None    # what the kernel returned: "4243" (the child), "-1 ENOSYS"; None: not seen

    @property
    def failed(self) -> bool:
        """The kernel refused: no process was created."""
        return self.result is not None and self.result.startswith("-")

    @property
    def errno_name(self) -> str | None:
        return self.result.split()[1] if self.failed and " " in self.result else None

    def __str__(self) -> str:
        if self.syscall in ("fork", "vfork"):
            call = f"{self.syscall}()"
        else:
            call = f"{self.syscall}({'|'.join(self.flags) or '0'}, exit_signal={self.exit_signal or 0})"
        return call + (f" = -1 {self.errno_name}: refused, no process created" if self.failed else "")


@dataclass(frozen=True)
class Trace:
    """The process-creating calls a command made, or why they could not be seen."""
    argv: tuple[str, ...]
    attempts: tuple[CreationCall, ...]   # every creating call, refused ones included
    ok: bool                     # strace could trace the command
    why_not: str | None          # when not ok: what stopped it, in words
    returncode: int | None       # the traced command's exit status

    @property
    def calls(self) -> tuple[CreationCall, ...]:
        """The calls that created a process (a refused clone3 and the clone after it are one)."""
        return tuple(c for c in self.attempts if not c.failed)

    def __str__(self) -> str:
        if not self.ok:
            return f"(not traced: {self.why_not})"
        return "\n".join(str(c) for c in self.attempts) or "(no process-creating system call)"


def _order(names: Sequence[str]) -> tuple[str, ...]:
    known = [n for n in FLAGS if n in names]
    return tuple(known + sorted(n for n in names if n not in FLAGS))


def parse_line(line: str) -> CreationCall | None:
    """One line of ``strace -f`` output -> a CreationCall, or None if it is not a creating call."""
    m = _CALL.match(line.strip())
    if not m:
        return None
    name, args = m.group("name"), m.group("args")
    if name in ("fork", "vfork"):
        return CreationCall(name, (), "SIGCHLD", line.rstrip("\n"), _result(line))
    fm = _FLAGS_ARG.search(args)
    parts = fm.group("flags").split("|") if fm else []
    flags = [p for p in parts if p.startswith("CLONE_")]
    if name == "clone":            # clone(): the exit signal is the low byte of flags
        sigs = [p for p in parts if p.startswith("SIG")]
        signal = sigs[0] if sigs else None
    else:                          # clone3(): its own field
        sm = _EXIT_SIGNAL.search(args)
        signal = sm.group("sig") if sm and sm.group("sig") != "0" else None
    return CreationCall(name, _order(flags), signal, line.rstrip("\n"), _result(line))


def _result(line: str) -> str | None:
    m = _RESULT.search(line.strip())
    return m.group("result") if m and m.group("result") != "?" else None


def parse(text: str) -> tuple[CreationCall, ...]:
    """All creating calls in ``strace -f`` output, in order, each with its result (an
    ``<unfinished ...>`` call gets the result of its ``<... resumed>`` line)."""
    calls, waiting = [], {}           # pid -> index of its unfinished call
    for line in text.splitlines():
        resumed = _RESUMED.match(line.strip())
        if resumed:
            i = waiting.pop(resumed.group("pid"), None)
            if i is not None:
                calls[i] = replace(calls[i], result=_result(line))
            continue
        call = parse_line(line)
        if call is not None:
            if call.result is None and "<unfinished ...>" in line:
                waiting[_CALL.match(line.strip()).group("pid")] = len(calls)
            calls.append(call)
    return tuple(calls)


def _why_not(stderr: str) -> str:
    low = stderr.lower()
    if "ptrace" in low or "operation not permitted" in low:
        return ("ptrace was refused (strace needs it): a container without CAP_SYS_PTRACE, a seccomp "
                "filter or kernel.yama.ptrace_scope=3 forbids tracing here")
    first = stderr.strip().splitlines()[:1]
    return "strace failed" + (f": {first[0]}" if first else "")


def _strace(argv: tuple[str, ...], syscalls: Sequence[str], *, per_process: bool, timeout: float,
            cwd: str | None) -> tuple[dict, str | None, int | None]:
    """Run argv under strace: ({pid: what strace wrote} - one entry, pid None, unless per_process),
    why nothing could be seen (None if something was), and the command's exit status."""
    strace = machine().strace
    if strace is None:
        return {}, "strace is not installed here (Debian/Ubuntu: apt-get install strace)", None
    if not machine().ptrace:
        return {}, f"{_why_not('ptrace')} (PTRACE_TRACEME: {machine().ptrace_errno})", None
    with tempfile.TemporaryDirectory(prefix="forklab-strace-") as tmp:
        out = os.path.join(tmp, "trace")      # with -ff, strace writes trace.<pid>: one file a process
        cmd = [strace, "-ff" if per_process else "-f", "-qq", "-o", out, "-e", "trace=" + ",".join(syscalls),
               "-e", "signal=none", "--", *argv]
        # under the C cells' supervisor: a timeout kills strace *and* the traced processes (a tracer's
        # death only detaches them, and they run on - unless it set PTRACE_O_EXITKILL, when they get
        # SIGKILL, or a tracee was in group-stop, when it stays stopped), and the command is behind the
        # same walls as a cell's program
        from forklab.sandbox.runner import run_program
        _, stderr, status = run_program(cmd, timeout=timeout, max_procs=64, cwd=cwd or tmp)
        if status.get("timed_out") or status.get("too_many_procs"):
            why = (f"did not finish within {timeout:g} s" if status.get("timed_out")
                   else "created more than 64 processes at once")
            return {}, f"the traced command {why} (all its processes were killed)", None
        returncode = status.get("returncode")
        texts = {}
        for name in os.listdir(tmp):
            if name == "trace" or name.startswith("trace."):
                with open(os.path.join(tmp, name)) as f:
                    texts[int(name[6:]) if name != "trace" else None] = f.read()
    if not any(t.strip() for t in texts.values()) and returncode != 0:
        return {}, _why_not(stderr or status.get("start_error") or ""), returncode
    return texts, None, returncode


def trace(argv: Sequence[str], *, timeout: float = 20.0, cwd: str | None = None) -> Trace:
    """Run ``argv`` under ``strace -f`` and return its process-creating system calls."""
    argv = tuple(str(a) for a in argv)
    texts, why_not, returncode = _strace(argv, CREATING, per_process=False, timeout=timeout, cwd=cwd)
    if why_not:
        return Trace(argv, (), False, why_not, returncode)
    return Trace(argv, parse(texts.get(None, "")), True, None, returncode)


def trace_python(code: str, *, timeout: float = 20.0) -> Trace:
    """Run ``code`` in a fresh Python interpreter under strace (never in the calling process)."""
    return trace([sys.executable, "-I", "-c", code], timeout=timeout)


def trace_c(source: str, *, timeout: float = 20.0, cflags: Sequence[str] = ()) -> Trace:
    """Compile a whole C program the way a C cell does (forklab.sandbox.runner) and run it under strace.

    strace runs under the C cells' supervisor, and the program under strace: the timeout, the
    process cap and the walls of a cell hold for both.
    """
    with _compiled(source, cflags) as (binary, why_not):
        if binary is None:
            return Trace(("./cell",), (), False, why_not, None)
        return replace(trace([str(binary)], timeout=timeout, cwd=str(binary.parent)), argv=("./cell",))


@contextmanager
def _compiled(source: str, cflags: Sequence[str]):
    """The program compiled as a C cell is, in an empty temporary folder: (binary, None), or
    (None, the compiler's message)."""
    from forklab.sandbox.runner import compile_c
    with tempfile.TemporaryDirectory(prefix="forklab-strace-c-") as tmp:
        ok, output, binary = compile_c(source, Path(tmp), tuple(cflags))
        yield (binary, None) if ok else (None, "the program did not compile:\n" + output)


# --- every call of a few kinds, process by process ---------------------------------------------

@dataclass(frozen=True)
class Call:
    """One system call as strace showed it, with the process that made it named by its role."""
    process: str                 # "parent" (the command itself), "child", "child 2", "grandchild", ...
    name: str                    # the system call, e.g. "dup2"
    text: str                    # strace's line, pids of the traced processes replaced by their roles

    def __str__(self) -> str:
        return f"{self.process}: {self.text}"


@dataclass(frozen=True)
class CallLog:
    """The system calls of the chosen kinds a command and its children made, or why they could not be seen."""
    argv: tuple[str, ...]
    calls: tuple[Call, ...]      # process by process (parent first, then children in the order created)
    ok: bool
    why_not: str | None
    returncode: int | None

    def of(self, process: str) -> tuple[Call, ...]:
        return tuple(c for c in self.calls if c.process == process)

    @property
    def processes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.process for c in self.calls))

    def __str__(self) -> str:
        if not self.ok:
            return f"(not traced: {self.why_not})"
        return "\n".join(str(c) for c in self.calls) or "(none of those system calls)"


_ANY_CALL = re.compile(r"^(?P<name>[a-z_0-9]+)\((?P<rest>.*)$")


def trace_calls(argv: Sequence[str], calls: Sequence[str], *, timeout: float = 20.0,
                cwd: str | None = None) -> CallLog:
    """Run ``argv`` under ``strace -ff`` and return its calls named in ``calls``, process by process.

    Each process is traced into its own file (so no line is split by another process's), and
    named by its role: the command is "parent", the processes it creates "child", "child 2", ...,
    theirs "grandchild", ... Their pids in the text are replaced by those names (``= <child>``), so
    the log is the same from one run to the next. The calls that create processes are always traced.
    """
    argv = tuple(str(a) for a in argv)
    wanted = tuple(dict.fromkeys([*calls, *CREATING]))
    texts, why_not, returncode = _strace(argv, wanted, per_process=True, timeout=timeout, cwd=cwd)
    if why_not or not texts:
        return CallLog(argv, (), False, why_not or "strace saw no process", returncode)
    per_pid = {pid: text.splitlines() for pid, text in texts.items()}
    created = {}                                   # pid -> the pids it created, in order
    for pid, lines in per_pid.items():
        for line in lines:
            call = parse_line(line)
            if call is not None and call.result is not None and not call.failed and int(call.result) > 0:
                created.setdefault(pid, []).append(int(call.result))
    children = {kid for kids in created.values() for kid in kids}
    roots = sorted(pid for pid in per_pid if pid not in children)
    names, order = {}, []

    def label(pid, depth, index):
        role = ("parent", "child", "grandchild")[min(depth, 2)] if depth < 3 else f"descendant (level {depth})"
        names[pid] = role if index == 0 or depth == 0 else f"{role} {index + 1}"
        order.append(pid)

    level, depth = roots[:1], 0
    label(level[0], 0, 0)
    while level:
        nxt = []
        for pid in level:
            nxt.extend(created.get(pid, []))
        depth += 1
        for i, pid in enumerate(nxt):
            label(pid, depth, i)
        level = nxt
    pid_word = re.compile(r"\b(" + "|".join(str(p) for p in sorted(names, key=lambda p: -p)) + r")\b")
    found = []
    for pid in order:
        for line in per_pid.get(pid, []):
            m = _ANY_CALL.match(line)
            if not m or m.group("name") not in wanted:
                continue
            text = pid_word.sub(lambda w: f"<{names[int(w.group(1))]}>", line)
            found.append(Call(names[pid], m.group("name"), text))
    return CallLog(argv, tuple(found), True, None, returncode)


_ENVP = re.compile(r", 0x[0-9a-f]+ /\* \d+ vars? \*/\)")
_SIGACTION = re.compile(r"^rt_sigaction\((?P<sig>\w+), \{sa_handler=(?P<handler>[^,]+),.*$")
_SIGMASK = re.compile(r"^rt_sigprocmask\((?P<how>\w+), (?P<set>\[[^\]]*\]|~\[[^\]]*\]),.*$")
_CLONE3_ARGS = re.compile(r"^clone3\(\{flags=(?P<flags>[A-Z_|0-9]+), exit_signal=(?P<sig>\w+)[^}]*\}, \d+\)")
_CLONE_ARGS = re.compile(r"^clone\(child_stack=[^,]+, flags=(?P<flags>[A-Z_|0-9]+)[^)]*\)")
_BRIEF_RESULT = re.compile(r"\)\s+=\s+(?P<result>.*)$")


def brief(text: str) -> str | None:
    """One strace line made short and the same from run to run, or None for a query that changes nothing.

    execve loses its environment pointer, clone/clone3 keep only their flags, rt_sigaction and
    rt_sigprocmask become sigaction(SIGINT, SIG_IGN) / sigprocmask(SIG_BLOCK, [CHLD]); a
    sigaction or sigprocmask that only reads (a NULL new value) gives None.
    """
    text = re.sub(r"\s+=\s+", " = ", text.strip())
    result = _BRIEF_RESULT.search(text)
    tail = f" = {result.group('result')}" if result else ""
    if text.startswith("execve("):
        return _ENVP.sub(")", text)
    if m := _CLONE3_ARGS.match(text):
        return f"clone3({m.group('flags')}, exit_signal={m.group('sig')}){tail}"
    if m := _CLONE_ARGS.match(text):
        return f"clone({m.group('flags')}){tail}"
    if text.startswith("rt_sigaction("):
        m = _SIGACTION.match(text)
        return f"sigaction({m.group('sig')}, {m.group('handler')})" if m else None
    if text.startswith("rt_sigprocmask("):
        m = _SIGMASK.match(text)
        return f"sigprocmask({m.group('how')}, {m.group('set')})" if m else None
    return text


def trace_c_calls(source: str, calls: Sequence[str], *, timeout: float = 20.0,
                  cflags: Sequence[str] = ()) -> CallLog:
    """Compile a whole C program the way a C cell does and trace its ``calls`` (see trace_calls).

    It runs in an empty temporary folder (its cwd), under the C cells' supervisor like trace_c.
    """
    with _compiled(source, cflags) as (binary, why_not):
        if binary is None:
            return CallLog(("./cell",), (), False, why_not, None)
        return replace(trace_calls([str(binary)], calls, timeout=timeout, cwd=str(binary.parent)), argv=("./cell",))

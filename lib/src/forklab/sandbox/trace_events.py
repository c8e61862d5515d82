"""What a program's processes really did: forklab's own ptrace recorder (trace_events.c), run and read.

    trace = record(["sh", "-c", "echo hi & wait"])
    trace.processes[trace.root].children        # lanes it created
    trace.output                                 # bytes written to fd 1 and 2, in the order they reached them

record() compiles trace_events.c once per source (cached by its hash in a per-user cache folder), runs the
program under it with a timeout and a cap on processes, and reads its JSON lines into Events and one Process
per lane (a process or a thread). Where ptrace is not allowed, the Trace carries a Refusal that says why.
Standard library and the sandbox's runner (for its C compiler) only: the timeline, forklab.meters.strace and
the sandbox will stand on it (issue 22).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from forklab.sandbox import runner

SOURCE = Path(__file__).with_name("trace_events.c")
#: The C core's flags (csrc/build.py CFLAGS): the recorder is checked with them plus -Werror.
CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror=implicit-function-declaration"]
COMPILE_TIMEOUT = 120.0

#: trace_events' exit codes (see the top of trace_events.c).
EXIT_USAGE, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_CAP = 2, 3, 4, 5


class TracerError(RuntimeError):
    """The recorder could not be built or run (no compiler, bad arguments): not a refusal by the platform."""


@dataclass(frozen=True)
class Event:
    """One line of the record. time_ns is CLOCK_MONOTONIC when the tracer saw the stop; pid is the process,
    tid the lane (equal for a process's main thread). The other fields belong to some kinds only."""
    kind: str               # start create exec exec_failed signal_sent signal stopped continued vfork_done
    time_ns: int            # write pipe_write pipe_read reap exit limit refused end
    pid: int
    tid: int
    call: str | None = None             # create: fork vfork clone clone3; reap: wait4 waitid tracer; signal_sent
    child: int | None = None            # create: the new lane; reap: the reaped process
    thread: bool | None = None          # create, exit: CLONE_THREAD
    flags: tuple = ()                   # create: CLONE_* names
    exit_signal: str | None = None      # create: the signal the parent gets when the child ends
    path: str | None = None             # exec, exec_failed
    called_ns: int | None = None        # exec: when execve was entered (the event is when it succeeded)
    signal: str | None = None           # signal, signal_sent, stopped, exit (the killing signal)
    target: int | None = None           # signal_sent
    sender: int | None = None           # signal: the sending process, when the kernel says
    status: int | None = None           # exit: the exit status (None when a signal killed it)
    fd: int | None = None               # write, pipe_write, pipe_read
    length: int | None = None           # write, pipe_*: what the call returned
    data: bytes = b""                   # write: the bytes (the first 4 KiB of each call)
    pipe: int | None = None             # write, pipe_*: the pipe's inode
    minflt: int | None = None           # exit: page faults, CPU time (proc(5) /proc/PID/stat)
    majflt: int | None = None
    utime_ns: int | None = None
    stime_ns: int | None = None
    ppid: int | None = None             # exit: the parent at that moment (an orphan's is its reaper)
    errno: int | None = None            # exec_failed
    why: str | None = None              # limit: max_procs or timeout; refused: the sentence
    asked: int | None = None            # reap: what the wait asked for, as wait4's pid (-1: any child)

    @classmethod
    def from_json(cls, line: str) -> "Event":
        d = json.loads(line)
        return cls(kind=d["event"], time_ns=d["t"], pid=d["pid"], tid=d["tid"], call=d.get("call"),
                   child=d.get("child"), thread=d.get("thread"), flags=tuple(d.get("flags", ())),
                   exit_signal=d.get("exit_signal"), path=d.get("path"), called_ns=d.get("called"), signal=d.get("signal"),
                   target=d.get("target"), sender=d.get("from"), status=d.get("status"), fd=d.get("fd"),
                   length=d.get("len"), data=d.get("bytes", "").encode("latin-1"), pipe=d.get("pipe"),
                   minflt=d.get("minflt"), majflt=d.get("majflt"), utime_ns=d.get("utime_ns"),
                   stime_ns=d.get("stime_ns"), ppid=d.get("ppid"), errno=d.get("errno"), why=d.get("why"),
                   asked=d.get("asked"))


@dataclass
class Process:
    """One lane: a process, or a thread (thread=True, pid is its process)."""
    tid: int
    pid: int
    thread: bool = False
    parent: int | None = None           # the lane that created it (None for the program itself)
    creation: Event | None = None
    exec_paths: list = field(default_factory=list)
    exit: Event | None = None
    reaper: int | str | None = None     # the pid that reaped it, "tracer" (the recorder, as subreaper), or None
    reap: Event | None = None
    events: list = field(default_factory=list)
    children: list = field(default_factory=list)


@dataclass(frozen=True)
class Refusal:
    """ptrace is not allowed here; why says so in one sentence."""
    why: str

    def __str__(self):
        return f"This program cannot be traced here: {self.why}."


@dataclass
class Trace:
    """A recorded run: its events in the order the tracer saw them, and one Process per lane."""
    argv: list
    events: list
    processes: dict                     # tid -> Process
    root: int | None
    returncode: int                     # trace_events' exit code
    stdout: bytes
    stderr: bytes
    refusal: Refusal | None = None
    limit: str | None = None            # "max_procs" or "timeout": everything was killed

    @property
    def output(self) -> bytes:
        """The bytes written to fd 1 and 2 by every lane, in the order the record holds them."""
        return b"".join(e.data for e in self.events if e.kind == "write")

    def of_kind(self, kind: str) -> list:
        return [e for e in self.events if e.kind == kind]


# --- building the recorder ----------------------------------------------------------------------------

def compiler() -> str:
    """The C compiler the C cells use (forklab.sandbox.runner), or a TracerError saying none is installed."""
    try:
        return runner.compiler()
    except RuntimeError as e:
        raise TracerError(f"the event recorder is a C program: {e}") from None


def cache_dir() -> Path:
    """A folder only this user can write: $XDG_CACHE_HOME/forklab, ~/.cache/forklab, or one in the temporary
    folder named by uid (a student's HOME may be unwritable). One owned by someone else is not used."""
    uid = os.getuid()
    bases = [os.environ.get("XDG_CACHE_HOME"), os.path.join(os.path.expanduser("~"), ".cache")]
    for base in [b for b in bases if b] + [None]:
        folder = Path(base, "forklab") if base else Path(tempfile.gettempdir(), f"forklab-cache-{uid}")
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            st = folder.stat()
            if st.st_uid == uid and not st.st_mode & 0o022 and os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    raise TracerError("no folder to keep the compiled event recorder in: HOME and the temporary folder are "
                      "not writable")


_built: dict = {}       # source digest -> the binary, once found in this process


def binary() -> Path:
    """The compiled recorder, built once per version of its source."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + " ".join(CFLAGS).encode()).hexdigest()[:16]
    if digest in _built and _built[digest].exists():
        return _built[digest]
    target = cache_dir() / f"trace_events-{digest}"
    if target.exists():
        _built[digest] = target
        return target
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        built = Path(work, "trace_events")
        done = subprocess.run([compiler(), *CFLAGS, "-o", str(built), str(SOURCE)], capture_output=True,
                              text=True, timeout=COMPILE_TIMEOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise TracerError(f"the event recorder did not compile:\n{done.stderr}")
        os.replace(built, target)          # atomic: a concurrent build finds a whole binary or none
    _built[digest] = target
    return target


# --- running a program under it -----------------------------------------------------------------------

def record(argv, *, timeout: float = 10.0, max_procs: int = 64, registers: bool = False) -> Trace:
    """Run argv (a list: program and arguments) under the recorder. Every process it creates is followed;
    after `timeout` seconds, or when more than `max_procs` lanes are alive, everything is killed and the Trace
    says so (limit). registers=True reads system calls from the registers, as on kernels before 5.3."""
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("record() needs a program to run, e.g. record(['sh', '-c', 'echo hi'])")
    if isinstance(max_procs, bool) or not isinstance(max_procs, int) or not 1 <= max_procs <= 4096:
        raise ValueError(f"max_procs must be a whole number from 1 to 4096; got {max_procs!r}")
    if not timeout > 0 or timeout != timeout or timeout == float("inf"):
        raise ValueError(f"timeout must be a finite number of seconds above 0; got {timeout!r}")
    seconds = max(1, int(timeout + 0.999))
    with tempfile.TemporaryDirectory(prefix="forklab-trace-") as work:
        log = Path(work, "events.jsonl")
        cmd = [str(binary()), "--max-procs", str(max_procs), "--timeout", str(seconds)]
        cmd += ["--registers"] if registers else []
        # The tracer kills everything at its own timeout; this one only guards against the tracer itself
        # hanging (PTRACE_O_EXITKILL then kills its tracees when it is killed).
        done = subprocess.run([*cmd, str(log), "--", *argv], capture_output=True, stdin=subprocess.DEVNULL,
                              timeout=seconds + 10)
        lines = log.read_text(encoding="ascii").splitlines() if log.exists() else []
    if done.returncode == EXIT_USAGE:
        raise TracerError(done.stderr.decode(errors="replace").strip())
    return build(argv, [Event.from_json(line) for line in lines], done)


def build(argv, events: list, done: subprocess.CompletedProcess) -> Trace:
    """The lanes, from the events: who created whom, exec paths, exit, reaper."""
    trace = Trace(argv=argv, events=events, processes={}, root=None, returncode=done.returncode,
                  stdout=done.stdout, stderr=done.stderr)
    for e in events:
        if e.kind == "refused":
            trace.refusal = Refusal(e.why)
        elif e.kind == "limit":
            trace.limit = e.why
        elif e.kind == "start":
            trace.root = e.tid
    lanes = trace.processes

    def lane(tid, pid):
        return lanes.setdefault(tid, Process(tid=tid, pid=pid))

    for e in events:
        if e.kind in ("refused", "limit", "end") or (e.kind == "reap" and e.call == "tracer"):
            if e.kind == "reap" and e.child in lanes and lanes[e.child].reaper is None:
                lanes[e.child].reaper, lanes[e.child].reap = "tracer", e
            continue
        me = lane(e.tid, e.pid)
        me.events.append(e)
        if e.kind == "create":
            child = lane(e.child, e.pid if e.thread else e.child)
            child.pid, child.thread, child.parent, child.creation = e.pid if e.thread else e.child, bool(e.thread), e.tid, e
            me.children.append(e.child)
        elif e.kind == "exec":
            me.exec_paths.append(e.path)
        elif e.kind == "exit":
            me.exit = e
        elif e.kind == "reap" and e.child in lanes:
            lanes[e.child].reaper, lanes[e.child].reap = e.pid, e
    return trace

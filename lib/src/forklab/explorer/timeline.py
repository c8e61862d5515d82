"""What really happened, drawn: a recorded run's processes as swimlanes (issue 22, part 1).

    t = timeline("echo a | cat")            # a shell command, or an argv list: run under the event recorder
    t                                       # in a notebook: the picture (SVG) and its events in words
    t = timeline_c(C_SOURCE, args=["3"])    # a whole C program: compiled, run, drawn
    t = Timeline(trace)                     # draw a Trace already recorded (trace_events.record)
    t.svg(), t.text(), t.save("run.svg")

One lane per process or thread, top to bottom in the order they were created (a parent above its children),
time left to right. A lane begins at the arrow from its creator (labelled fork / vfork / clone and its flags)
and ends at its exit; a zombie's lane goes on, hollow and dashed, from its exit to the arrow into the lane of
whoever reaped it (a wait4/waitid, or forklab's recorder, the program's parent and subreaper, drawn as the top
lane). A vfork parent's lane is dotted ("paused") from the vfork to the moment the kernel lets it go.
Marks: exec (its path), signals sent and delivered (an arrow between them), writes to stdout/stderr (their
bytes, shortened), pipe writes and the reads that got their bytes (an arrow), exit (its status).

The horizontal position is an event's *order*, never its time: each event sits one step right of what it must
follow - the lane's previous event, the fork that made the lane, the exit a reap collects, the write a pipe read
got its bytes from, the kill a delivery came from, the previous write to the same output (the output's real
order). So two runs with the same structure draw the same picture (nbval compares stored SVG), and every arrow
points right.

Accessible without JavaScript: every mark is focusable (tabindex="0", role="img", aria-label) and has a <title>
with its system call line (the browser's tooltip); hovering or focusing a mark also shows that line in the band
at the top of the picture (CSS :hover/:focus only). The events are also given as a numbered list in words (the
text/plain output and an HTML list), as forklab.figure does for plots. Beyond `max_lanes` lanes, sibling lanes
that did the same (no children, same exec, same exit, same reaper) are collapsed into one summary lane, and the
picture says so. A Trace that was refused (no ptrace here) is drawn as its sentence, never a traceback.
"""
from __future__ import annotations

import dataclasses
import errno as _errno
import hashlib
import heapq
import html
import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from forklab.sandbox.trace_events import COMPILE_TIMEOUT, Event, Trace, compiler, record

RECORDER = 0                 # the recorder's lane: its reaps carry pid 0
MAX_LANES = 30

# Geometry (px). Okabe-Ito colours; every kind also has its own shape, so colour is never alone.
LEFT, COL, LANE, TOP, BOTTOM = 250, 24, 34, 58, 16
INK, MUTED = "#222222", "#777777"
COLOURS = {"create": "#0072B2", "exec": "#009E73", "signal": "#D55E00", "write": "#000000", "err": "#CC79A7",
           "pipe": "#56B4E9", "exit": "#222222", "reap": "#E69F00", "resume": "#0072B2", "stop": "#D55E00"}

#: how events are placed left to right (see _columns)
ORDERS = ("seen", "causal")

#: the kinds drawn as marks (start, end, limit and refused are not events of a lane)
DRAWN = {"create", "exec", "exec_failed", "signal_sent", "signal", "stopped", "continued", "vfork_done", "write",
         "pipe_write", "pipe_read", "reap", "exit"}


def timeline(argv_or_shell_command, *, timeout: float = 10.0, max_procs: int = 64,
             max_lanes: int = MAX_LANES, sigchld: bool = False, order: str = "seen") -> "Timeline":
    """Run a program under forklab's event recorder and draw what its processes did. A string is a shell
    command (run by /bin/sh -c); a list is a program and its arguments. timeout and max_procs are the
    recorder's bounds (everything is killed beyond them, and the picture says so); max_lanes: lanes drawn
    before similar ones are collapsed; sigchld=True also draws each SIGCHLD a child's end delivered;
    order="causal" places events by what they must follow rather than in the order they were seen."""
    if order not in ORDERS:                  # before running anything
        raise ValueError(f"order must be one of {', '.join(map(repr, ORDERS))}; got {order!r}")
    if isinstance(argv_or_shell_command, str):
        if not argv_or_shell_command.strip():
            raise ValueError("timeline() needs a program: a shell command such as 'echo a | cat', or a list "
                             "such as ['./a.out']")
        argv = ["/bin/sh", "-c", argv_or_shell_command]
    elif isinstance(argv_or_shell_command, (list, tuple)) and argv_or_shell_command:
        argv = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in argv_or_shell_command]
    else:
        raise ValueError(f"timeline() takes a shell command (a string) or a program and its arguments (a list); "
                         f"got {argv_or_shell_command!r}")
    return Timeline(record(argv, timeout=timeout, max_procs=max_procs), max_lanes=max_lanes, max_procs=max_procs,
                    sigchld=sigchld, order=order)


class CompileError(ValueError):
    """The C program given to timeline_c did not compile; the message is the compiler's."""


def timeline_c(source: str, *, args=(), cflags=(), timeout: float = 10.0, max_procs: int = 64,
               max_lanes: int = MAX_LANES, sigchld: bool = False, order: str = "seen") -> "Timeline":
    """Compile a C program (the whole source, with main) and draw what its processes did. It is compiled with
    `cc -Wall -O1` in a private temporary folder, run there under the event recorder with args, and the
    folder is removed afterwards; the other options are timeline()'s."""
    if not isinstance(source, str) or "main" not in source:
        raise ValueError("timeline_c() needs a whole C program as a string, with its main() function")
    with tempfile.TemporaryDirectory(prefix="forklab-timeline-") as work:
        src, exe = Path(work, "program.c"), Path(work, "program")
        src.write_text(source, encoding="utf-8")
        done = subprocess.run([compiler(), "-Wall", "-O1", *map(str, cflags), "-o", str(exe), str(src)],
                              capture_output=True, text=True, timeout=COMPILE_TIMEOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise CompileError("the C program did not compile:\n" + done.stderr.replace(str(src), "program.c"))
        drawn = timeline([str(exe), *map(str, args)], timeout=timeout, max_procs=max_procs, max_lanes=max_lanes,
                         sigchld=sigchld, order=order)
    # The temporary folder means nothing once it is gone, and would make every run's picture differ.
    trace = drawn.trace
    trace.argv[0] = "program.c"
    renamed = {id(e): dataclasses.replace(e, path="./program") for e in trace.events if e.path == str(exe)}
    trace.events[:] = [renamed.get(id(e), e) for e in trace.events]
    for lane in trace.processes.values():         # the lanes hold the same Event objects (exec ones only here)
        lane.exec_paths[:] = ["./program" if x == str(exe) else x for x in lane.exec_paths]
        lane.events[:] = [renamed.get(id(e), e) for e in lane.events]
    return Timeline(trace, max_lanes=max_lanes, max_procs=max_procs, sigchld=sigchld, order=order)


# --- the words: one system call line and one sentence per event --------------------------------------------

def _c_string(data: bytes, limit: int = 40) -> str:
    """Bytes as a C string literal, cut at `limit` bytes (strace's way)."""
    escapes = {10: "\\n", 9: "\\t", 13: "\\r", 34: '\\"', 92: "\\\\"}
    text = "".join(escapes.get(b, chr(b) if 32 <= b < 127 else f"\\{b:o}") for b in data[:limit])
    return f'"{text}"' + ("..." if len(data) > limit else "")


def _short(data: bytes, limit: int = 5) -> str:
    """Bytes for a label under a mark: a newline as ⏎, other unprintables as ·, at most `limit` characters."""
    text = "".join("⏎" if b == 10 else chr(b) if 32 <= b < 127 else "·" for b in data)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _who(tid: int, lanes: dict) -> str:
    if tid == RECORDER:
        return "the recorder"
    lane = lanes.get(tid)
    return f"tid {tid} (a thread of pid {lane.pid})" if lane is not None and lane.thread else f"pid {tid}"


def _status(e: Event | None) -> str:
    if e is None:
        return "no exit recorded"
    return f"killed by {e.signal}" if e.status is None else f"exit status {e.status}"


def _glibc_fork(e: Event) -> bool:
    """A clone with fork's flags: how glibc's fork() creates a process (sysdeps/unix/sysv/linux/arch-fork.h,
    arch_fork: CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD), and so how most shells do."""
    return e.call == "clone" and not e.thread and e.exit_signal == "SIGCHLD" and \
        set(e.flags) <= {"CLONE_CHILD_SETTID", "CLONE_CHILD_CLEARTID"}


def _asked(e: Event) -> str:
    """What a wait asked for, when the recorder says (its `asked` field, as wait4's pid argument): "pid 12",
    "-1" (any child), "0" (any child in the caller's process group), "-7" (any child in group 7); for waitid,
    its idtype too (wait(2))."""
    asked = getattr(e, "asked", None)
    if asked is None:
        return ""
    if e.call == "waitid":
        return ("P_ALL" if asked == -1 else f"P_PID, pid {asked}" if asked > 0 else
                "P_PGID, 0" if asked == 0 else f"P_PGID, {-asked}")
    return f"pid {asked}" if asked > 0 else str(asked)


def call_line(e: Event, trace: Trace) -> str:
    """The event as the system call a student would see in strace, with the recorder's words for the rest."""
    lanes = trace.processes
    if e.kind == "create":
        args = "|".join([*e.flags, *([e.exit_signal] if e.exit_signal and e.exit_signal != "none" else [])])
        made = f"tid {e.child} (a thread)" if e.thread else f"pid {e.child}"
        glibc = " (glibc's fork())" if _glibc_fork(e) else ""
        return f"{e.call}({args if e.call in ('clone', 'clone3') else ''}) = {made}{glibc}"
    if e.kind == "exec":
        return f'execve("{e.path}", ...) = 0'
    if e.kind == "exec_failed":
        return f'execve("{e.path}", ...) = -1 {_errno.errorcode.get(e.errno, e.errno)}'
    if e.kind == "signal_sent":
        return f"{e.call}({_who(e.target, lanes)}, {e.signal}) = 0"
    if e.kind == "signal":
        sender = f" from {_who(e.sender, lanes)}" if e.sender else ""
        return f"--- {e.signal} delivered{sender} ---"
    if e.kind == "stopped":
        return f"--- stopped by {e.signal} ---"
    if e.kind == "continued":
        return "--- continued (SIGCONT) ---"
    if e.kind == "vfork_done":
        return ("vfork() returns in the parent: its child gave the memory back (inside its execve, or at its "
                "exit)")
    if e.kind in ("write", "pipe_write"):
        into = " (into a pipe)" if e.kind == "pipe_write" else ""
        return f"write({e.fd}, {_c_string(e.data) if e.kind == 'write' else '...'}, {e.length}) = {e.length}{into}"
    if e.kind == "pipe_read":
        return f"read({e.fd}, ...) = {e.length} (from a pipe{', end of file' if e.length == 0 else ''})"
    if e.kind == "reap":
        lane = lanes.get(e.child)
        how = "the recorder (subreaper) waited" if e.call == "tracer" else f"{e.call}({_asked(e)}) = pid {e.child}"
        return f"{how}: reaped pid {e.child}, {_status(lane.exit if lane else None)}"
    if e.kind == "exit":
        if e.status is None:
            return f"+++ killed by {e.signal} +++"
        return f"{'exit' if e.thread else 'exit_group'}({e.status})"
    return e.kind


def sentence(e: Event, trace: Trace) -> str:
    """The event in words, for the text equivalent."""
    lanes, who = trace.processes, _who(e.tid, trace.processes)
    if e.kind == "create":
        kind = "thread" if e.thread else "child"
        how = "forks" if _glibc_fork(e) else f"calls {e.call}"
        return f"{who} {how}: a new {kind}, {_who(e.child, lanes)}, is created ({call_line(e, trace)})."
    if e.kind == "exec":
        return f"{who} execs {e.path}."
    if e.kind == "exec_failed":
        return f"{who} fails to exec {e.path} ({call_line(e, trace)})."
    if e.kind == "signal_sent":
        return f"{who} sends {e.signal} to {_who(e.target, lanes)} with {e.call}."
    if e.kind == "signal":
        return f"{who} receives {e.signal}" + (f" from {_who(e.sender, lanes)}." if e.sender else ".")
    if e.kind == "stopped":
        return f"{who} is stopped by {e.signal}."
    if e.kind == "continued":
        return f"{who} continues."
    if e.kind == "vfork_done":
        return f"{who} resumes: its vfork child gave the borrowed memory back (in execve, or at exit)."
    if e.kind == "write":
        readers = sorted({r.tid for r in trace.events if r.kind == "pipe_read" and r.pipe == e.pipe and r.length})
        to = ("its stdout" if e.fd == 1 else "its stderr") + (
            f", a pipe that {' and '.join(_who(r, lanes) for r in readers)} reads" if e.pipe and readers else "")
        return f"{who} writes {e.length} bytes to {to}: {_c_string(e.data)}."
    if e.kind == "pipe_write":
        return f"{who} writes {e.length} bytes into a pipe (fd {e.fd})."
    if e.kind == "pipe_read":
        return (f"{who} reads end of file from a pipe (fd {e.fd})." if e.length == 0
                else f"{who} reads {e.length} bytes from a pipe (fd {e.fd}).")
    if e.kind == "reap":
        lane = lanes.get(e.child)
        asked = getattr(e, "asked", None)
        which = ("" if asked is None else ", waiting for any child" if asked == -1 else
                 f", waiting for pid {asked}" if asked > 0 else ", waiting for any child in a process group")
        how = "as the program's parent and subreaper" if e.call == "tracer" else f"with {e.call}{which}"
        return f"{who} reaps pid {e.child} {how} ({_status(lane.exit if lane else None)})."
    if e.kind == "exit":
        lane = lanes.get(e.tid)
        orphan = ""
        if lane is not None and lane.parent is not None and not lane.thread and e.ppid is not None \
                and e.ppid != lanes[lane.parent].pid:
            orphan = " as an orphan: its parent had already exited, so it was reparented"
        return f"{who} exits{orphan} ({_status(e)})."
    return f"{who}: {e.kind}."


# --- the layout: lanes in creation order, columns by causal order ------------------------------------------

@dataclass
class Lane:
    """One drawn lane: a process, a thread, the recorder, or a summary of collapsed lanes."""
    key: int                              # tid; the recorder is 0; a summary lane is negative
    label: str
    kind: str = "process"                 # process thread recorder summary
    start: int | None = None              # column where it begins (its creation), None: from the left
    end: int | None = None                # column of its exit
    reaped: int | None = None             # column of its reap (the zombie segment is end..reaped)
    paused: list = field(default_factory=list)      # (from, to) columns: vfork parent, stopped
    members: list = field(default_factory=list)     # summary lane: the tids it stands for


def _lane_order(trace: Trace) -> list:
    """tids depth first from the program: each lane followed by what it created, in creation order."""
    order, seen = [], set()
    # iterative: a chain of forks (each child forks once and exits) may be thousands deep
    for top in [trace.root, *trace.processes]:      # then lanes whose creation was not seen (should not happen)
        stack = [top]
        while stack:
            tid = stack.pop()
            if tid in seen or tid not in trace.processes:
                continue
            seen.add(tid)
            order.append(tid)
            stack.extend(reversed(trace.processes[tid].children))
    return order


def _shown(e: Event, trace: Trace, sigchld: bool) -> bool:
    """Drawn or not. The SIGCHLD a child's end sends its parent is left out unless asked for: how many arrive
    depends on the scheduling (standard signals are not queued, signal(7)), so it would make two runs of one
    program draw two pictures, and the exit -> reap arrow already says what it announces."""
    if e.kind not in DRAWN:
        return False
    return sigchld or not (e.kind == "signal" and e.signal == "SIGCHLD" and e.sender in trace.processes)


def _pipe_feeds(trace: Trace) -> dict:
    """read index -> index of the write that put the read's last byte into the pipe. Matched by byte counts,
    not by record order: the recorder may see a read's return before the write that woke it."""
    writes: dict = {}
    reads: dict = {}
    for i, e in enumerate(trace.events):
        if e.kind in ("write", "pipe_write") and e.pipe is not None and e.length:
            writes.setdefault(e.pipe, []).append(i)
        elif e.kind == "pipe_read" and e.length:
            reads.setdefault(e.pipe, []).append(i)
    feeds = {}
    for pipe, rs in reads.items():
        ends, total = [], 0                  # each write's end offset in the pipe's byte stream
        for w in writes.get(pipe, []):
            total += trace.events[w].length
            ends.append((total, w))
        got = 0
        for r in rs:
            got += trace.events[r].length
            w = next((w for end, w in ends if end >= got), None)
            if w is not None:
                feeds[r] = w
    return feeds


def _causes(trace: Trace, sigchld: bool = False) -> dict:
    """For each drawn event (by index), the events it must follow: the happens-before edges it can see."""
    ev = trace.events
    causes: dict = {}
    last_in_lane: dict = {}
    creation_of: dict = {}                # child tid -> index of its create
    exit_of: dict = {}
    exec_of: dict = {}
    last_write_to: dict = {}              # output file (pipe inode or fd) -> index of the latest write
    sent: dict = {}                       # (sender pid, target, signal) -> index
    vfork_child: dict = {}                # vfork parent tid -> child tid
    for i, e in enumerate(ev):
        if e.kind == "create":
            creation_of[e.child] = i
            if e.call == "vfork":
                vfork_child[e.tid] = e.child
        elif e.kind == "exit":
            exit_of.setdefault(e.tid, i)
        elif e.kind == "exec":
            exec_of.setdefault(e.tid, i)
    feeds = _pipe_feeds(trace)
    for i, e in enumerate(ev):
        if not _shown(e, trace, sigchld):
            continue
        tid = RECORDER if e.kind == "reap" and e.call == "tracer" else e.tid
        mine = []
        if tid in last_in_lane:
            mine.append(last_in_lane[tid])
        elif tid in creation_of:
            mine.append(creation_of[tid])
        if e.kind == "reap" and e.child in exit_of:
            mine.append(exit_of[e.child])
        elif e.kind == "signal":
            key = next((k for k in ((e.sender, e.pid, e.signal), (e.sender, e.tid, e.signal)) if k in sent), None)
            if key is not None:
                mine.append(sent.pop(key))
            elif e.sender in exit_of and e.signal == "SIGCHLD":
                mine.append(exit_of[e.sender])
        elif e.kind == "pipe_read" and i in feeds:
            mine.append(feeds[i])
        elif e.kind == "vfork_done" and e.tid in vfork_child:
            child = vfork_child[e.tid]
            done = exec_of.get(child, exit_of.get(child))
            if done is not None:
                mine.append(done)
        if e.kind == "write":
            out = e.pipe if e.pipe is not None else ("fd", e.fd)
            if out in last_write_to:
                mine.append(last_write_to[out])
            last_write_to[out] = i
        if e.kind == "signal_sent":
            sent[(e.pid, e.target, e.signal)] = i
        causes[i] = mine
        last_in_lane[tid] = i
    return causes


def _columns(trace: Trace, sigchld: bool = False, order: str = "seen") -> dict:
    """Each drawn event's column. "seen": one column per event, in the order the recorder saw them (writes to
    one output in the order their bytes reached it). "causal": one step right of the latest event it must
    follow (longest path over _causes), so runs that differ only in the interleaving draw the same picture."""
    causes = _causes(trace, sigchld)
    if order == "seen":
        # The recorder sees stops in the order waitpid hands them out, so a pipe read can be seen just before
        # the write it got its bytes from, and a vfork parent's release before or after its child's exec stop
        # (the kernel releases it inside execve, fs/exec.c exec_mmap -> exec_mm_release -> mm_release): record order, except
        # that nothing is placed before its causes - the release is drawn right after the exec.
        waits = {i: {c for c in cs if c in causes} for i, cs in causes.items()}
        after: dict = {}
        for i, cs in waits.items():
            for c in cs:
                after.setdefault(c, []).append(i)
        ready = [i for i, cs in waits.items() if not cs]
        heapq.heapify(ready)
        column = {}
        while ready:
            i = heapq.heappop(ready)
            column[i] = len(column)
            for j in after.get(i, []):
                waits[j].discard(i)
                if not waits[j]:
                    heapq.heappush(ready, j)
        for i in sorted(set(causes) - set(column)):         # a circle (should not happen): as recorded
            column[i] = len(column)
        return column
    column: dict = {}
    for start in causes:
        stack, on_path = [start], set()
        while stack:
            i = stack[-1]
            if i in column:
                stack.pop()
                continue
            on_path.add(i)
            todo = [c for c in causes[i] if c not in column and c not in on_path and c in causes]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            on_path.discard(i)
            column[i] = 1 + max((column[c] for c in causes[i] if c in column), default=-1)
    return column


def _signatures(trace: Trace, order: list) -> dict:
    """tid -> what its whole subtree did (its exec, exit, who reaped it, and the same for what it created, in
    creation order): siblings with equal signatures did the same and can be drawn as one summary lane."""
    sigs: dict = {}
    for tid in reversed(order):                     # depth first: children before their parent here
        p = trace.processes[tid]
        parent_pid = trace.processes[p.parent].pid if p.parent in trace.processes else None
        reaper = ("recorder" if p.reaper == "tracer" else "parent" if p.reaper == parent_pid and p.reaper
                  else p.reaper)
        sigs[tid] = (p.thread, tuple(p.exec_paths), _status(p.exit), reaper,
                     tuple(sigs.get(c) for c in p.children))
    return sigs


def _subtree(trace: Trace, tid: int) -> list:
    """tid and every lane it created, directly or not."""
    found, stack = [], [tid]
    while stack:
        t = stack.pop()
        if t in trace.processes:
            found.append(t)
            stack.extend(trace.processes[t].children)
    return found


def _summary_label(trace: Trace, members: list) -> str:
    p = trace.processes[members[0]]
    made = len(_subtree(trace, members[0])) - 1
    made = f" made {made} process{'es' if made > 1 else ''} of its own and" if made else ""
    what = "threads" if p.thread else "children"
    parent = trace.processes[p.parent].tid if p.parent in trace.processes else None
    execd = f", exec'd {p.exec_paths[-1]}" if p.exec_paths else ""
    status = _status(p.exit)
    status = f"exited {status[len('exit status '):]}" if status.startswith("exit status ") else status
    if p.reaper == "tracer":
        reaper = "reaped by the recorder"
    elif p.reaper is None:
        reaper = "never reaped"
    else:
        reaper = f"reaped by pid {p.reaper}"
    wrote = sum(any(e.kind == "write" for e in trace.processes[t].events) for t in members)
    wrote = f" ({wrote} of them wrote to stdout or stderr)" if wrote else ""
    return f"{len(members)} more {what} of pid {parent} that each{execd}{made} {status}, {reaper}{wrote}"


class Timeline:
    """A recorded run drawn as swimlanes. Shown by a notebook (SVG + its events in words); svg(), text(),
    save(path) give the same outside one."""

    def __init__(self, trace: Trace, *, max_lanes: int = MAX_LANES, max_procs: int | None = None,
                 sigchld: bool = False, order: str = "seen"):
        if isinstance(max_lanes, bool) or not isinstance(max_lanes, int) or max_lanes < 3:
            raise ValueError(f"max_lanes must be a whole number of at least 3; got {max_lanes!r}")
        self.trace, self.max_lanes, self.max_procs, self.sigchld = trace, max_lanes, max_procs, sigchld
        if order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(map(repr, ORDERS))}; got {order!r}")
        self.order = order
        self.refusal = trace.refusal
        self.lanes: list = []
        self.collapsed: list = []           # sentences: what the summary lanes stand for
        self._lane_of: dict = {}            # tid -> index of the lane it is drawn in
        self._column: dict = {}             # event index -> dense column
        self._marks: list = []              # (event index, lane index, column), in reading order
        self._direct: set = set()           # collapsed siblings: their exits keep a column (reap arrows start there)
        if self.refusal is None:
            self._lay_out()

    # -- layout --
    def _lay_out(self):
        trace = self.trace
        raw = _columns(trace, self.sigchld, self.order)
        order = _lane_order(trace)
        drawn_tids, summaries = self._collapse(order)
        hidden = {t for item in drawn_tids if isinstance(item, list) for t in item}

        def owner(e):
            return RECORDER if e.kind == "reap" and e.call == "tracer" else e.tid

        def kept_column(e) -> bool:
            """A collapsed sibling keeps only its exit's column (the summary lane's reap arrows start there);
            what it created, and a lane not drawn at all, keep nothing, nor does the recorder's reap of them."""
            if owner(e) in hidden:
                return e.kind == "exit" and owner(e) in self._direct
            return not (owner(e) == RECORDER and e.child in hidden and e.child not in self._direct)

        kept = {i: c for i, c in raw.items() if kept_column(trace.events[i])}
        used = sorted(set(kept.values()))
        dense = {c: n for n, c in enumerate(used)}
        self._column = {i: dense[c] for i, c in kept.items()}
        col = self._column
        ev = trace.events
        index_of = {id(e): i for i, e in enumerate(ev)}

        def at(e):
            """The column of an event, None when it is not drawn."""
            return col.get(index_of.get(id(e))) if e is not None else None

        self.lanes.append(Lane(RECORDER, "recorder (parent, subreaper)",
                               kind="recorder"))
        self._lane_of[RECORDER] = 0
        for item in drawn_tids:
            if isinstance(item, list):                  # a summary lane
                lane = Lane(-len(self.lanes), summaries[id(item)], kind="summary", members=item)
                starts = [c for t in item if (c := at(trace.processes[t].creation)) is not None]
                ends = [c for t in item if (c := at(trace.processes[t].exit)) is not None]
                reaps = [c for t in item if (c := at(trace.processes[t].reap)) is not None]
                lane.start = min(starts) if starts else None
                lane.end, lane.reaped = (max(ends) if ends else None), (max(reaps) if reaps else None)
                for t in item:
                    self._lane_of[t] = len(self.lanes)
                self.lanes.append(lane)
                continue
            p = trace.processes[item]
            label = f"tid {p.tid} · thread of pid {p.pid}" if p.thread else f"pid {p.tid}"
            if p.exec_paths:
                label += " · " + " → ".join(os.path.basename(x) for x in p.exec_paths)
            lane = Lane(item, label, kind="thread" if p.thread else "process")
            lane.start, lane.end, lane.reaped = at(p.creation), at(p.exit), at(p.reap)
            pending = {}
            for e in p.events:
                i = index_of[id(e)]
                if e.kind == "create" and e.call == "vfork":
                    pending["vfork"] = col[i]
                elif e.kind == "vfork_done" and "vfork" in pending:
                    lane.paused.append((pending.pop("vfork"), col[i], "paused"))
                elif e.kind == "stopped":
                    pending["stop"] = col[i]
                elif e.kind == "continued" and "stop" in pending:
                    lane.paused.append((pending.pop("stop"), col[i], "stopped"))
            self._lane_of[item] = len(self.lanes)
            self.lanes.append(lane)
        marks = []
        for i, e in enumerate(ev):
            if i not in col:
                continue
            tid = owner(e)
            if tid in hidden or tid not in self._lane_of:
                continue
            marks.append((i, self._lane_of[tid], col[i]))
        marks.sort(key=lambda m: (m[2], m[1], m[0]))
        self._marks = marks
        self.columns = (max(col.values()) + 1) if col else 1

    def _collapse(self, order: list):
        """Lanes to draw: tids, and lists of tids drawn as one summary lane, so at most max_lanes + 1 lanes
        (the recorder's lane is extra). Siblings with the same signature beyond the first two collapse first."""
        trace = self.trace
        items = list(order)
        summaries: dict = {}
        room = self.max_lanes
        if len(items) <= room:
            return items, summaries
        sigs = _signatures(trace, order)
        groups: dict = {}
        for tid in items:
            p = trace.processes[tid]
            if p.parent is not None:
                groups.setdefault((p.parent, sigs[tid]), []).append(tid)
        for members in sorted(groups.values(), key=len, reverse=True):
            shown = [m for m in members if m in items]
            if len(items) <= room:
                break
            if len(shown) <= 3:
                continue
            hide = shown[2:]
            gone = {t for m in hide for t in _subtree(trace, m)}
            at = items.index(hide[0])
            summary = [t for t in order if t in gone]
            summaries[id(summary)] = _summary_label(trace, hide)
            self._direct.update(hide)
            # what these lanes created goes with them, earlier summaries of it included
            items = [x for x in items if not (set(x) <= gone if isinstance(x, list) else x in gone)]
            items.insert(at, summary)
        if len(items) > room:                               # still too many: the rest in one summary lane
            rest = [x for item in items[room - 1:] for x in (item if isinstance(item, list) else [item])]
            summary = list(rest)
            summaries[id(summary)] = (f"{len(rest)} more lanes, not drawn (the Trace, timeline.trace, holds "
                                      "their events)")
            self._direct -= set(rest)
            items = items[:room - 1] + [summary]
        self.collapsed = [summaries[id(x)] for x in items if isinstance(x, list)]
        return items, summaries

    # -- words --
    def events_in_words(self) -> list:
        """One sentence per drawn event, in the picture's order (left to right, top to bottom)."""
        return [sentence(self.trace.events[i], self.trace) for i, _, _ in self._marks]

    def summary(self) -> str:
        """One paragraph: what ran, how many lanes, what was collapsed, whether the recorder stopped it."""
        trace = self.trace
        command = trace.argv[2] if trace.argv[:2] == ["/bin/sh", "-c"] and len(trace.argv) > 2 \
            else shlex.join(trace.argv)
        if self.refusal is not None:
            return f"Timeline of {command}: {self.refusal}"
        procs = sum(1 for p in trace.processes.values() if not p.thread)
        threads = len(trace.processes) - procs
        parts = [f"Timeline of {command}: {procs} process{'es' if procs != 1 else ''}"
                 + (f" and {threads} thread{'s' if threads != 1 else ''}" if threads else "")
                 + f", {len(self._marks)} events, time left to right in the order things happened."]
        if self.collapsed:
            parts.append(f"More than {self.max_lanes} lanes, so some are collapsed: " + "; ".join(self.collapsed)
                         + ".")
        if trace.limit == "max_procs":
            cap = f" ({self.max_procs})" if self.max_procs else ""
            parts.append(f"Stopped by forklab: more processes were alive at once than the cap{cap}; "
                         "everything was killed.")
        elif trace.limit == "timeout":
            parts.append("Stopped by forklab: the program ran past its time limit; everything was killed.")
        return " ".join(parts)

    def text(self) -> str:
        """The text equivalent: the summary, then the events in words, numbered."""
        lines = [self.summary()]
        lines += [f"{n}. {s}" for n, s in enumerate(self.events_in_words(), 1)]
        return "\n".join(lines)

    # -- drawing --
    def _x(self, column) -> float:
        return LEFT + COL * (column + 0.5)

    def _y(self, lane: int) -> float:
        return TOP + LANE * (lane + 0.5)

    def svg(self) -> str:
        """The picture: one self-contained SVG (no script)."""
        if self.refusal is not None:
            return self._refusal_svg()
        trace, col = self.trace, self._column
        width = max(LEFT + COL * self.columns + 20, 720)        # room for the call line band at the top
        height = TOP + LANE * len(self.lanes) + BOTTOM
        # ids shared by every timeline of the same shape (two on one page then define the same markers)
        uid = "fltl" + hashlib.sha1(repr([(m[1], m[2], trace.events[m[0]].kind) for m in self._marks])
                                    .encode()).hexdigest()[:8]
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="fltl" width="{width}" height="{height}" '
               f'viewBox="0 0 {width} {height}" role="group" aria-labelledby="{uid}-t" '
               f'font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
               f'<title id="{uid}-t">{_e(self.summary())}</title>',
               f'<desc>{_e(self.text())}</desc>',
               "<style>.fltl .tip{visibility:hidden}.fltl .ev:hover .tip,.fltl .ev:focus .tip{visibility:visible}"
               ".fltl:has(.ev:hover) .ev:focus:not(:hover) .tip{visibility:hidden}"     # the hovered mark's line wins
               ".fltl .ev:focus{outline:none}.fltl .ev:focus .hit,.fltl .ev:hover .hit{stroke:#000;"
               "stroke-width:2;fill:#F0E442;fill-opacity:0.6}.fltl .ev{cursor:default}</style>",
               "<defs>" + "".join(
                   f'<marker id="{uid}-{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                   f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="{colour}"/>'
                   f'</marker>' for name, colour in (("create", COLOURS["create"]), ("reap", COLOURS["reap"]),
                                                     ("signal", COLOURS["signal"]), ("pipe", COLOURS["pipe"])))
               + "</defs>",
               f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
               f'<text x="8" y="16" font-weight="bold" fill="{INK}">{_e(self._heading())}</text>',
               f'<text x="8" y="34" fill="{MUTED}" aria-hidden="true">Hover over or tab to a mark: its system '
               f'call appears here. Time runs left to right, in the order things happened.</text>']
        out.append(self._draw_lanes(uid))
        out.append(self._draw_arrows(uid))
        for i, lane_index, column in self._marks:
            out.append(self._draw_mark(trace.events[i], lane_index, column))
        out.append("</svg>")
        return "\n".join(out)

    def _heading(self) -> str:
        trace = self.trace
        command = trace.argv[2] if trace.argv[:2] == ["/bin/sh", "-c"] and len(trace.argv) > 2 \
            else shlex.join(trace.argv)
        command = command if len(command) <= 70 else command[:69] + "…"
        note = ""
        if self.collapsed:
            note = f" · {sum(len(l.members) for l in self.lanes if l.kind == 'summary')} lanes collapsed"
        if trace.limit:
            note += " · stopped by forklab's " + ("process cap" if trace.limit == "max_procs" else "time limit")
        return f"What really happened: {command}{note}"

    def _draw_lanes(self, uid: str) -> str:
        out = []
        last = self.columns - 1
        for n, lane in enumerate(self.lanes):
            y = self._y(n)
            if n % 2:
                out.append(f'<rect x="0" y="{y - LANE / 2}" width="{max(LEFT + COL * self.columns + 20, 720)}" '
                           f'height="{LANE}" fill="#f4f4f4" aria-hidden="true"/>')
            weight = "normal" if lane.kind in ("thread", "summary", "recorder") else "bold"
            style = ' font-style="italic"' if lane.kind in ("thread", "summary", "recorder") else ""
            label = lane.label
            size = 11 if len(label) <= 38 else 9
            if lane.kind == "summary" and len(label) > 46:
                words, lines = label.split(" "), [""]
                for w in words:
                    lines[-1:] = [lines[-1] + " " + w] if len(lines[-1] + w) < 46 else [lines[-1], w]
                tspans = "".join(f'<tspan x="8" dy="{0 if k == 0 else 11}">{_e(t.strip())}</tspan>'
                                 for k, t in enumerate(lines[:3]))
                out.append(f'<text class="label" x="8" y="{y - 5 * (min(len(lines), 3) - 1) + 3}" font-size="9"'
                           f'{style} fill="{INK}">{tspans}</text>')
            else:
                out.append(f'<text class="label" x="8" y="{y + 4}" font-size="{size}" font-weight="{weight}"{style} '
                           f'fill="{INK}">{_e(label if len(label) <= 44 else label[:43] + "…")}</text>')
            if lane.kind == "recorder":
                continue
            start = self._x(lane.start) if lane.start is not None else LEFT
            end = self._x(lane.end) if lane.end is not None else self._x(last)
            if lane.kind == "summary":
                out.append(f'<rect class="lane summary" x="{start}" y="{y - 7}" width="{max(end - start, 4)}" '
                           f'height="14" fill="#dddddd" stroke="{MUTED}" stroke-dasharray="2 2" aria-hidden="true"/>')
            else:
                thick = 2 if lane.kind == "thread" else 4
                colour = "#888888" if lane.kind == "thread" else INK
                out.append(f'<line class="lane {lane.kind}" x1="{start}" y1="{y}" x2="{end}" y2="{y}" '
                           f'stroke="{colour}" stroke-width="{thick}" aria-hidden="true"/>')
                for a, b, why in lane.paused:
                    xa, xb = self._x(a), self._x(b)
                    out.append(f'<line x1="{xa}" y1="{y}" x2="{xb}" y2="{y}" stroke="#ffffff" stroke-width="3" '
                               f'aria-hidden="true"/><line class="paused" x1="{xa}" y1="{y}" x2="{xb}" y2="{y}" '
                               f'stroke="{COLOURS["resume"]}" stroke-width="3" stroke-dasharray="1 4" '
                               f'aria-hidden="true"/><text x="{(xa + xb) / 2}" y="{y + 26}" font-size="9" '
                               f'text-anchor="middle" fill="{COLOURS["resume"]}" aria-hidden="true">{why}</text>')
            if lane.end is not None and lane.reaped is not None and lane.reaped > lane.end + 1 \
                    and lane.kind != "thread":
                xa, xb = self._x(lane.end), self._x(lane.reaped)
                out.append(f'<rect class="zombie" x="{xa}" y="{y - 5}" width="{xb - xa}" height="10" fill="#ffffff" '
                           f'stroke="{MUTED}" stroke-dasharray="4 3" aria-hidden="true"/>'
                           f'<text x="{(xa + xb) / 2}" y="{y + 3.5}" font-size="8" text-anchor="middle" '
                           f'fill="{MUTED}" aria-hidden="true">zombie</text>')
        return "\n".join(out)

    def _draw_arrows(self, uid: str) -> str:
        """Creation (parent -> child), reap (exit -> reaper), signal (sent -> delivered), pipe (write -> read)."""
        trace, col, out = self.trace, self._column, []
        ev = trace.events
        causes = _causes(trace, self.sigchld)
        index_of = {id(e): i for i, e in enumerate(ev)}

        def arrow(i_from, lane_from, i_to_col, lane_to, kind, dash="", elbow=False):
            x1, y1 = self._x(i_from), self._y(lane_from)
            x2, y2 = self._x(i_to_col), self._y(lane_to)
            y2 += -7 if y2 > y1 else 7 if y2 < y1 else 0
            x2 -= 7 if y2 == y1 else 0
            mid = (x1 + x2) / 2
            if elbow:       # along the zombie stretch's lower edge (its word stays legible), then to the reaper
                d = f"M{x1},{y1 + 5}L{x2},{y1 + 5}L{x2},{y2}"
            else:
                d = f"M{x1},{y1}L{x2},{y2}" if x1 == x2 else f"M{x1},{y1}C{mid},{y1} {mid},{y2} {x2},{y2}"
            out.append(f'<path class="arrow {kind}" d="{d}" fill="none" stroke="{COLOURS[kind]}" '
                       f'stroke-width="1.5"{dash} marker-end="url(#{uid}-{kind})" aria-hidden="true"/>')

        for i, lane_index, column in self._marks:
            e = ev[i]
            if e.kind == "create" and e.child in self._lane_of:
                child = self._lane_of[e.child]
                arrow(column, lane_index, column, child, "create")
                label = "fork" if _glibc_fork(e) else e.call + (" (thread)" if e.thread else "")
                if self.lanes[child].kind == "summary":
                    continue            # one label per collapsed child would hide the lane
                out.append(f'<text x="{self._x(column) + 3}" y="{(self._y(lane_index) + self._y(child)) / 2 + 3}" '
                           f'font-size="8" fill="{COLOURS["create"]}" aria-hidden="true">{_e(label)}</text>')
            elif e.kind == "reap" and e.child in self._lane_of:
                lane = trace.processes.get(e.child)
                ended = col.get(index_of.get(id(lane.exit))) if lane is not None and lane.exit else None
                if ended is not None:
                    arrow(ended, self._lane_of[e.child], column, lane_index, "reap", elbow=True)
            elif e.kind in ("signal", "pipe_read"):
                for c in causes.get(i, []):
                    cause = ev[c]
                    if (e.kind == "signal" and cause.kind == "signal_sent") or \
                            (e.kind == "pipe_read" and cause.kind in ("write", "pipe_write")):
                        if c in col and cause.tid in self._lane_of and self._lane_of[cause.tid] != lane_index:
                            arrow(col[c], self._lane_of[cause.tid], column, lane_index,
                                  "signal" if e.kind == "signal" else "pipe", ' stroke-dasharray="4 2"')
        return "\n".join(out)

    def _draw_mark(self, e: Event, lane_index: int, column: int) -> str:
        x, y = self._x(column), self._y(lane_index)
        line = call_line(e, self.trace)
        who = _who(RECORDER if e.kind == "reap" and e.call == "tracer" else e.tid, self.trace.processes)
        start = self.trace.events[0].time_ns if self.trace.events else e.time_ns
        tip = f"{who}: {line} · at {(e.time_ns - start) / 1e6:.3f} ms"
        label, shape = "", ""
        k = e.kind
        if k == "create":
            shape = f'<rect class="hit" x="{x - 4}" y="{y - 4}" width="8" height="8" fill="{COLOURS["create"]}"/>'
        elif k in ("exec", "exec_failed"):
            colour = COLOURS["exec"] if k == "exec" else COLOURS["signal"]
            shape = (f'<path class="hit" d="M{x},{y - 7}L{x + 7},{y}L{x},{y + 7}L{x - 7},{y}z" fill="{colour}"/>')
            label = ("exec " if k == "exec" else "✗ ") + os.path.basename(e.path or "")[:8]
        elif k in ("signal_sent", "signal"):
            fill = COLOURS["signal"] if k == "signal_sent" else "#ffffff"
            shape = (f'<path class="hit" d="M{x - 6},{y + 5}L{x},{y - 7}L{x + 6},{y + 5}z" fill="{fill}" '
                     f'stroke="{COLOURS["signal"]}" stroke-width="1.5"/>')
            label = (e.signal or "").removeprefix("SIG")
        elif k in ("stopped", "continued"):
            shape = (f'<rect class="hit" x="{x - 5}" y="{y - 5}" width="10" height="10" fill="#ffffff" '
                     f'stroke="{COLOURS["stop"]}" stroke-width="1.5"/>')
            label = "stop" if k == "stopped" else "cont"
        elif k == "vfork_done":
            shape = (f'<path class="hit" d="M{x - 5},{y - 6}L{x + 5},{y}L{x - 5},{y + 6}z" '
                     f'fill="{COLOURS["resume"]}"/>')
            label = "resumes"
        elif k == "write":
            colour = COLOURS["write"] if e.fd == 1 else COLOURS["err"]
            shape = (f'<rect class="hit" x="{x - 5}" y="{y - 6}" width="10" height="12" rx="2" fill="#ffffff" '
                     f'stroke="{colour}" stroke-width="1.5"/><text x="{x}" y="{y + 3.5}" font-size="8" '
                     f'text-anchor="middle" fill="{colour}">{e.fd}</text>')
            label = _short(e.data)
        elif k in ("pipe_write", "pipe_read"):
            shape = (f'<circle class="hit" cx="{x}" cy="{y}" r="4.5" fill="#ffffff" stroke="{COLOURS["pipe"]}" '
                     f'stroke-width="2"/>')
            label = ("|←" if k == "pipe_write" else "|→") + (str(e.length) if e.length else " EOF")
        elif k == "reap":
            shape = (f'<circle class="hit" cx="{x}" cy="{y}" r="6" fill="{COLOURS["reap"]}" stroke="{INK}" '
                     f'stroke-width="1"/>')
            label = "wait" if e.call != "tracer" else "reap"
        elif k == "exit":
            shape = (f'<rect class="hit" x="{x - 2}" y="{y - 8}" width="5" height="16" fill="{COLOURS["exit"]}"/>')
            label = f"exit {e.status}" if e.status is not None else (e.signal or "killed").removeprefix("SIG")
        # labels alternate above and below the lane, so neighbours in one lane do not overlap
        above = column % 2 == 0
        ly = y - 10 if above else y + 17
        text = (f'<text x="{x}" y="{ly}" font-size="9" text-anchor="middle" fill="{INK}" aria-hidden="true">'
                f'{_e(label)}</text>') if label else ""
        return (f'<g class="ev {k}" tabindex="0" role="img" aria-label="{_e(tip)}"><title>{_e(tip)}</title>'
                f'{shape}{text}<text class="tip" x="8" y="50" font-size="11" fill="{INK}" aria-hidden="true">'
                f'{_e(tip)}</text></g>')

    def _refusal_svg(self) -> str:
        sentence_ = str(self.refusal)
        words, lines = sentence_.split(" "), [""]
        for w in words:
            lines[-1:] = [lines[-1] + " " + w] if len(lines[-1] + w) < 90 else [lines[-1], w]
        height = 40 + 16 * len(lines)
        spans = "".join(f'<tspan x="12" dy="{16 if k else 0}">{_e(t.strip())}</tspan>' for k, t in enumerate(lines))
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="fltl" width="720" height="{height}" '
                f'viewBox="0 0 720 {height}" role="img" aria-label="{_e(sentence_)}" '
                f'font-family="DejaVu Sans, Arial, sans-serif" font-size="13"><title>{_e(sentence_)}</title>'
                f'<rect x="1" y="1" width="718" height="{height - 2}" fill="#fff4e5" stroke="#D55E00"/>'
                f'<text x="12" y="28" fill="#222222">{spans}</text></svg>')

    # -- showing --
    def _html(self) -> str:
        items = "".join(f"<li>{_e(s)}</li>" for s in self.events_in_words())
        if self.refusal is not None:
            return f'<div class="fltl-refusal" role="status">{self.svg()}<p>{_e(str(self.refusal))}</p></div>'
        return (f'<div class="fltl-box"><div style="overflow-x:auto">{self.svg()}</div>'
                f'<details><summary>The events in words ({len(self._marks)})</summary>'
                f'<p>{_e(self.summary())}</p><ol>{items}</ol></details></div>')

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        return self._html()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": self.text(), "image/svg+xml": self.svg(), "text/html": self._html()}

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p, cycle):
        p.text(self.text())

    def save(self, path) -> Path:
        """Write the SVG to path (a file a browser, GitHub or the site shows as is)."""
        path = Path(path)
        path.write_text(self.svg(), encoding="utf-8")
        return path


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)

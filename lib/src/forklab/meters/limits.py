"""RLIMIT_NPROC, measured: run a fork loop where the kernel allows exactly N more processes.

    >>> from forklab.meters import limits
    >>> run = limits.run_fork_loop('''
    ... def make_children():
    ...     ...              # fork until os.fork() raises BlockingIOError, reap, return the count
    ... ''', "make_children", cap=5)
    >>> run.result, run.left_behind, run.fork_works_after
    (5, 0, True)

RLIMIT_NPROC counts the tasks (processes and threads) of a real user id, and fork() fails with
EAGAIN once that count would pass the limit. Two things make "exactly N more" hard to set up:

* the kernel never enforces it for root (real uid 0) nor for CAP_SYS_ADMIN or CAP_SYS_RESOURCE
  (kernel/fork.c, copy_process()). As root, the harness therefore first becomes a user id that
  owns no process at all (`unused_uid()`), so the count starts from 1 - itself - and is exact;
* otherwise the count includes every other process of the same user (a student's browser, other
  notebooks). Since Linux 5.14 the count is kept per user namespace, so the harness first enters
  a new user namespace of its own, where it is alone. Where that is forbidden (Docker's seccomp
  profile), it sets the limit to (tasks of my user now) + N and runs until two runs undisturbed
  by the user's other processes agree.

Everything runs in a fresh interpreter under the C cells' supervisor (forklab.sandbox.runner), never in
the caller: a wrong fork loop is capped, killed and reaped there.
"""
from __future__ import annotations

import inspect
import json
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from forklab.host import procstat
from forklab.sandbox.runner import run_program

SPARE_UIDS = range(61000, 62000)   # far from system and first human users (Debian: 1000 up)


def tasks_of_uid(uid: int) -> int:
    """Tasks (threads included, as RLIMIT_NPROC counts them) whose real uid is `uid` (from /proc)."""
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if line.startswith(("Uid:", "Threads:")))
            if int(fields["Uid"].split()[0]) == uid:
                n += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            pass
    return n


def unused_uid() -> int:
    """A user id that no process has right now (for root to become an ordinary user)."""
    for uid in SPARE_UIDS:
        if tasks_of_uid(uid) == 0:
            return uid
    raise RuntimeError(f"every uid from {SPARE_UIDS.start} to {SPARE_UIDS.stop - 1} has processes")


#: The harness, a Python program beside this module (what it is given first: its docstring).
_HARNESS = (Path(__file__).parent / "fork_loop_harness.py").read_text()


@dataclass(frozen=True)
class ForkLoopRun:
    """What a fork loop did where the kernel allowed `cap` more processes."""
    cap: int
    result: object             # what the function returned (None if it raised)
    error: str | None          # "ExceptionType: message" if it raised
    left_behind: int           # children (running or zombie) still there when it returned
    fork_works_after: bool     # under the same cap, could one more process be made afterwards?
    child_returned: bool       # a child came back out of the function instead of ending (_exit)
    stdout: str
    stderr: str


def run_fork_loop(source: str, name: str, cap: int, *, timeout: float = 10.0) -> ForkLoopRun:
    """Define `source` in a fresh interpreter and call `name()` where fork() may make `cap` more processes.

    The source finds `os`, `errno`, `signal`, `time`, `sys` and `select` imported, and `IN_SANDBOX`
    set to True (so a function can refuse to run anywhere else, such as in a notebook's kernel).

    The limit is RLIMIT_NPROC = (tasks of my user now) + cap; as root the interpreter first becomes
    an unused uid, since root is exempt. The supervisor caps everything at cap + 16 processes.
    """
    if cap < 0:
        raise ValueError("cap must be 0 or more")
    # The harness runs in a fresh interpreter that cannot import forklab: give it tasks_of_uid's source
    # and procstat's (the one /proc/PID/stat parser, standard library only).
    program = (f"_SOURCE = {textwrap.dedent(source)!r}\n" + "import os\n" + inspect.getsource(tasks_of_uid)
               + inspect.getsource(procstat) + _HARNESS)
    out, err, status = run_program([sys.executable, "-c", program, str(cap), name, str(unused_uid())],
                                   timeout=timeout, max_procs=cap + 16)
    if status.get("too_many_procs"):
        raise AssertionError(f"The program made more than {cap + 16} processes at once although the kernel "
                             f"allowed only {cap} more: a child must have kept forking (did every child end "
                             "with os._exit()?). All of them were killed.")
    if status.get("timed_out"):
        raise AssertionError(f"The program did not finish within {timeout:g} s (does every child end, and "
                             "does the parent wait for each one?). All its processes were killed.")
    lines = [line for line in out.splitlines() if line.startswith("@report ")]
    if not lines:
        raise AssertionError(f"The program ended without a report (exit status {status.get('returncode')}): "
                             f"{err.strip()[-600:]}")
    report = json.loads(lines[-1][len("@report "):])
    shown = "\n".join(line for line in out.splitlines() if not line.startswith("@"))
    return ForkLoopRun(cap=cap, result=report.get("result"), error=report.get("error"),
                       left_behind=report["left_behind"], fork_works_after=report["fork_works_after"],
                       child_returned=bool(report.get("child_returned")), stdout=shown, stderr=err)

"""A student's program, run outside the Jupyter kernel: what it printed, what it left behind.

    >>> from forklab.course.program import run_python
    >>> run_python("print('hi')").stdout
    'hi\n'

Every program runs in a fresh interpreter under the C cells' supervisor (forklab.sandbox.runner), which
caps processes and time, then kills and reaps everything: a student's fork bomb or hang is a
failed check (AssertionError with a sentence) - never a stuck kernel or a flooded machine.
"""
from __future__ import annotations

import os
import sys
import tempfile
import textwrap
from dataclasses import dataclass

from forklab.sandbox.runner import run_supervised


@dataclass(frozen=True)
class ProgramRun:
    """What a program run in a fresh interpreter did."""
    stdout: str
    stderr: str
    returncode: int


def run_python(source: str, *, cwd: str | None = None, timeout: float = 10.0,
               max_procs: int = 64) -> ProgramRun:
    """Run ``source`` in a fresh Python interpreter under the supervisor, and wait for all of it
    (the children of a fork program included)."""
    r = run_supervised([sys.executable, "-c", textwrap.dedent(source)], cwd=cwd, timeout=timeout,
                       max_procs=max_procs)
    if r.too_many_procs:
        raise AssertionError(f"The program created more than {max_procs} processes at once, so it was "
                             "stopped (all its processes were killed).")
    if r.timed_out:
        raise AssertionError(f"The program did not finish within {timeout:g} s, so it was stopped "
                             f"(all its processes were killed).")
    if r.start_error:
        raise AssertionError(f"The program could not be started: {r.start_error}")
    return ProgramRun(r.stdout, r.stderr, r.returncode)


def file_written_by(source: str, name: str = "out.txt", *, timeout: float = 10.0) -> str:
    """Run ``source`` in a fresh interpreter in an empty temporary folder; the text it left in ``name``."""
    with tempfile.TemporaryDirectory(prefix="forklab-files-") as tmp:
        run = run_python(source, cwd=tmp, timeout=timeout)
        if run.returncode != 0:
            raise AssertionError(f"The program failed (exit status {run.returncode}): "
                                 f"{run.stderr.strip()[-500:]}")
        path = os.path.join(tmp, name)
        if not os.path.exists(path):
            raise AssertionError(f"The program did not create {name}.")
        with open(path, errors="replace") as f:
            return f.read()

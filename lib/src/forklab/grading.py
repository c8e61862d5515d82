"""Checking exercises against what the kernel actually does: what the graded cells import.

This module is the sentences: a failing check says, in one sentence, what was expected and what
the kernel did - ``expect()`` raises ``AssertionError`` with that sentence, never a bare one.
The measurements a check needs live in modules of their own and are offered here too, so that a
graded cell needs only ``from forklab import grading``:

* programs run outside the Jupyter kernel, under the supervisor: ``forklab.program``
  (``run_python``, ``ProgramRun``, ``file_written_by``);
* what clone flags share, asked of the kernel: ``forklab.sharing`` (``observe``, ``shared_among``,
  ``flags_not_needed``, ``accepted_flags``, ``resources_controlled_by``, ``refused_to_student``);
* copy-on-write page faults: ``forklab.cow`` (``measure_cow_faults``);
* a process's state in /proc: ``forklab.procstat``; children to reap: ``forklab.children``.

    >>> from forklab.grading import expect
    >>> expect(6, 8, "Processes the program created", got_is="you predicted")
    Traceback (most recent call last):
    AssertionError: Processes the program created: the kernel did 8, you predicted 6.
"""
from __future__ import annotations

from contextlib import contextmanager

from .children import Children
from .cow import faults_for_writes as measure_cow_faults
from .procstat import process_state
from .program import ProgramRun, file_written_by, run_python
from .sharing import (SHARING, accepted_flags, flags_not_needed, observe, refused_to_student,
                      resources_controlled_by, shared_among)

__all__ = ["expect", "require", "unless_forbidden_here", "show", "run_python", "ProgramRun", "process_state", "measure_cow_faults", "accepted_flags",
           "resources_controlled_by", "refused_to_student", "file_written_by", "Children", "SHARING",
           "observe", "shared_among", "flags_not_needed"]


# --- sentences ------------------------------------------------------------------------------

def show(value) -> str:
    """A value the way a student would type it: sets sorted, strings quoted."""
    if isinstance(value, (set, frozenset)):
        items = sorted(value, key=repr)
        return "{" + ", ".join(show(v) for v in items) + "}" if items else "set()"
    return repr(value)


def expect(got, expected, what: str, *, got_is: str = "your answer is",
           expected_is: str = "the kernel did", hint: str | None = None) -> None:
    """Pass if ``got == expected``; otherwise raise AssertionError with a full sentence.

    ``what`` names the thing compared ("Processes the program created"); ``expected_is`` and
    ``got_is`` say where each value came from, so the sentence reads
    "<what>: <expected_is> <expected>, <got_is> <got>. <hint>".
    """
    if got == expected:
        return
    message = f"{what}: {expected_is} {show(expected)}, {got_is} {show(got)}."
    if hint:
        message += " " + hint
    raise AssertionError(message)


def require(ok: bool, message: str) -> None:
    """Pass if ``ok``; otherwise raise AssertionError with ``message`` (a full sentence)."""
    if not ok:
        raise AssertionError(message)


@contextmanager
def unless_forbidden_here():
    """Run a graded check; where this platform forbids what it needs (``forklab.ForbiddenHere``: a
    container's seccomp filter, an older kernel), print "cannot be checked on this platform, because
    ..." instead of failing. A wrong answer still fails, and so does an unsolved one (NameError,
    NotImplementedError): only the platform's refusal is spared."""
    from .references import forbidden_by
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - everything but a platform limit is re-raised
        forbidden = forbidden_by(exc)
        if forbidden is None:
            raise
        print(f"This answer cannot be checked on this platform, because {forbidden.what} is forbidden here: "
              f"{forbidden.because.rstrip('.')}. It was not judged; a machine that allows it checks it.")

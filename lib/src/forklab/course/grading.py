"""Checking exercises against what the kernel actually does: what the graded cells import.

This module is the sentences: a failing check says, in one sentence, what was expected and what
the kernel did - ``expect()`` raises ``AssertionError`` with that sentence, never a bare one.
The measurements a check needs live in modules of their own and are offered here too, so that a
graded cell needs only ``from forklab.course import grading``:

* programs run outside the Jupyter kernel, under the supervisor: ``forklab.course.program``
  (``run_python``, ``ProgramRun``, ``file_written_by``);
* what clone flags share, asked of the kernel: ``forklab.course.sharing`` (``observe``, ``shared_among``,
  ``flags_not_needed``, ``accepted_flags``, ``resources_controlled_by``, ``refused_to_student``);
* copy-on-write page faults: ``forklab.meters.cow`` (``measure_cow_faults``);
* a process's state in /proc: ``forklab.host.procstat``; children to reap: ``forklab.course.children``.

    >>> from forklab.course.grading import expect
    >>> expect(6, 8, "Processes the program created", got_is="you predicted")
    Traceback (most recent call last):
    AssertionError: Processes the program created: you predicted 6 - that does not match.

A failing check never prints the expected value of a graded answer (it would give the answer
away); ``reveal=True`` is for a value the visible test already shows, such as "exit 3".
An exercise not answered yet says so (``answered``), and a visible test that passes says
what it checked and what it left to the hidden tests (``checked``).
"""
from __future__ import annotations

from contextlib import contextmanager

from forklab.course.children import Children
from forklab.meters.cow import faults_for_writes as measure_cow_faults
from forklab.host.procstat import process_state
from forklab.course.program import ProgramRun, file_written_by, run_python
from forklab.course.sharing import (SHARING, accepted_flags, flags_not_needed, observe, refused_to_student,
                                    resources_controlled_by, shared_among)

__all__ = ["expect", "require", "answered", "checked", "NotAnswered", "unless_forbidden_here", "show", "run_python", "ProgramRun", "process_state", "measure_cow_faults", "accepted_flags",
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
           expected_is: str = "the kernel did", hint: str | None = None, reveal: bool = False) -> None:
    """Pass if ``got == expected``; otherwise raise AssertionError with a full sentence.

    ``what`` names the thing compared ("Processes the program created"); ``got_is`` says where the
    student's value came from: "<what>: <got_is> <got> - that does not match. <hint>". The expected
    value stays unsaid - it is the answer. Only with ``reveal=True`` (a value printed in the test
    itself) does the sentence read "<what>: <expected_is> <expected>, <got_is> <got>. <hint>".
    """
    if got == expected:
        return
    if reveal:
        message = f"{what}: {expected_is} {show(expected)}, {got_is} {show(got)}."
    else:
        message = f"{what}: {got_is} {show(got)} - that does not match."
    if hint:
        message += " " + hint
    raise AssertionError(message)


class NotAnswered(AssertionError):
    """An exercise whose answer cell has not been written (or not run) yet."""


def _is_stub(value) -> bool:
    """A function still holding nbgrader's stub: its body raises NotImplementedError."""
    code = getattr(value, "__code__", None)
    return code is not None and "NotImplementedError" in code.co_names


def answered(namespace: dict, exercise: str, *names: str) -> None:
    """Raise NotAnswered ("Exercise <exercise> is not answered yet: ...") unless every one of ``names``
    is defined in ``namespace`` (a test cell passes ``globals()``) and no function among them is still
    the stub that raises NotImplementedError. A test calls this first, so an unanswered exercise says
    so instead of ``NameError`` - and, the cell being tagged raises-exception, Run All goes on."""
    missing = [n for n in names if n not in namespace]
    stubs = [n for n in names if n in namespace and _is_stub(namespace[n])]
    if not missing and not stubs:
        return
    parts = []
    if missing:
        parts.append(f"{_and(missing)} {'is' if len(missing) == 1 else 'are'} not defined")
    if stubs:
        parts.append(f"{_and([n + '()' for n in stubs])} still raise{'s' if len(stubs) == 1 else ''} "
                     "NotImplementedError")
    raise NotAnswered(f"Exercise {exercise} is not answered yet: {' and '.join(parts)}. Write your answer in "
                      "the answer cell above, run it, then run this cell again.")


def checked(did: str, did_not: str | None = None) -> None:
    """Say, after the visible checks of a test cell passed, what they checked and what they did not."""
    print(f"Passed the visible checks: {did}.")
    if did_not:
        print(f"Not checked here: {did_not} - the hidden tests check that when your work is graded.")


def _and(words: list) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


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
    from forklab.course.references import forbidden_by
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - everything but a platform limit is re-raised
        forbidden = forbidden_by(exc)
        if forbidden is None:
            raise
        print(f"This answer cannot be checked on this platform, because {forbidden.what} is forbidden here: "
              f"{forbidden.because.rstrip('.')}. It was not judged; a machine that allows it checks it.")

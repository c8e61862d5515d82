"""What can go wrong in an experiment, as exceptions that speak to a student.

- ``CloneRefused``: the kernel said no (EINVAL, EPERM, ENOSYS, ...) - a result worth studying.
- ``UnsafeExperiment``: forklab said no, because the request would harm the caller or the host.
- ``ExperimentTimeout`` / ``ExperimentCrashed``: the child hung or died; the sandbox contained it.
- ``BenchFailed``: the sandbox itself could not be set up.
"""
from __future__ import annotations

import errno as _errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .explain import Fix


class ForklabError(Exception):
    """Base class of everything forklab raises on purpose."""


class CloneRefused(ForklabError, OSError):
    """The kernel refused to create the child.

    ``.errno`` / ``.errno_name``: what the kernel returned (22 / "EINVAL");
    ``.reason``: the rule that failed, in plain words;
    ``.fix``: the smallest change that makes the call valid (a ``Fix``), or None where none exists.
    """

    def __init__(self, errno: int, reason: str, fix: "Fix | None", *, primitive: str,
                 flags: tuple[str, ...], exit_signal: str | None, rule: str | None = None):
        super().__init__(errno, os.strerror(errno))
        self.errno_name = _errno.errorcode.get(errno, str(errno))
        self.reason = reason
        self.fix = fix
        self.rule = rule
        self.primitive = primitive
        self.flags = flags
        self.exit_signal = exit_signal

    def __str__(self) -> str:
        text = f"{self.primitive}() refused with {self.errno_name} ({self.strerror}): {self.reason}"
        if self.fix is not None:
            text += f" Fix: {self.fix}."
        return text

    def __reduce__(self):  # keep it picklable (nbclient, multiprocessing)
        return (_rebuild_refused, (self.errno, self.reason, self.fix, self.primitive, self.flags,
                                   self.exit_signal, self.rule))


def _rebuild_refused(errno, reason, fix, primitive, flags, exit_signal, rule):
    return CloneRefused(errno, reason, fix, primitive=primitive, flags=flags,
                        exit_signal=exit_signal, rule=rule)


class UnsafeExperiment(ForklabError, ValueError):
    """forklab will not run this: it would harm the calling process or the host."""


class ExperimentTimeout(ForklabError, TimeoutError):
    """The child did not finish in time; the bench and everything it started were killed."""


class ExperimentCrashed(ForklabError):
    """The experiment died from a signal. The sandbox contained it: the caller is unharmed."""

    def __init__(self, message: str, signal_number: int | None = None):
        super().__init__(message)
        self.signal_number = signal_number


class BenchFailed(ForklabError, OSError):
    """The sandbox (the bench process) could not prepare the experiment."""

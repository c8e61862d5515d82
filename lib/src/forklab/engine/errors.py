"""What can go wrong in an experiment, as exceptions that speak to a student.

- ``CloneRefused``: the kernel said no (EINVAL, EPERM, ENOSYS, ...) - a result worth studying.
- ``ForbiddenHere``: this platform (a container's seccomp filter, an older kernel, a sysctl) forbids
  what the experiment needs; a CloneRefused caused by the platform is one too (``.forbidden_here``).
- ``UnsafeExperiment``: forklab said no, because the request would harm the caller or the host.
- ``ExperimentTimeout`` / ``ExperimentCrashed``: the child hung or died; the sandbox contained it.
- ``BenchFailed``: the sandbox itself could not be set up; ``BenchUnavailable``: the bench server
  (forklab-bench) could not be started at all; ``BenchServerLost``: it was lost during the experiment
  (killed, stopped, or its input disturbed) - nothing was observed, and the next experiment gets a new one.
"""
from __future__ import annotations

import errno as _errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from forklab.engine.explain import Fix


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
        OSError.__init__(self, errno, os.strerror(errno))
        self.errno_name = _errno.errorcode.get(errno, str(errno))
        self.reason = reason
        self.fix = fix
        self.rule = rule
        self.primitive = primitive
        self.flags = flags
        self.exit_signal = exit_signal

    @property
    def forbidden_here(self) -> str | None:
        """Why this platform, not the kernel's own rules, refused: None for a kernel rule (a lesson)."""
        return None

    def __str__(self) -> str:
        text = f"{self.primitive}() refused with {self.errno_name} ({self.strerror}): {self.reason}"
        if self.fix is not None:
            text += f" Fix: {self.fix}."
        return text

    def __reduce__(self):  # keep it picklable (nbclient, multiprocessing)
        return (_rebuild_refused, (self.errno, self.reason, self.fix, self.primitive, self.flags,
                                   self.exit_signal, self.rule, self.forbidden_here))


def _rebuild_refused(errno, reason, fix, primitive, flags, exit_signal, rule, because=None):
    kw = dict(primitive=primitive, flags=flags, exit_signal=exit_signal, rule=rule)
    if because is None:
        return CloneRefused(errno, reason, fix, **kw)
    return CloneForbiddenHere(errno, reason, fix, because=because, **kw)


class ForbiddenHere(ForklabError):
    """This platform forbids what the experiment needs: a container's seccomp filter (Docker's default
    profile, Kubernetes' RuntimeDefault), a kernel older than the call, a sysctl. Not a rule of the kernel to
    learn, but a fact about this machine: ``.what`` was forbidden, ``.because`` says why, in words.

    ``with forklab.reference_if_forbidden(name):`` turns it into that explanation and the output the
    experiment gives where it is allowed (recorded on the course's machine).
    """

    def __init__(self, what: str, because: str):
        super().__init__(f"Forbidden here: {what}, because {because}.")
        self.what = what
        self.because = because


class CloneForbiddenHere(CloneRefused, ForbiddenHere):
    """A CloneRefused that the platform caused (``except CloneRefused`` catches it, as before)."""

    def __init__(self, errno: int, reason: str, fix: "Fix | None", *, because: str, **kw):
        CloneRefused.__init__(self, errno, reason, fix, **kw)
        shown = " | ".join(self.flags) or ("0" if self.primitive in ("clone", "clone3") else "")
        self.what = f"{self.primitive}({shown})"
        self.because = because

    @property
    def forbidden_here(self) -> str | None:
        return self.because


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
    """The sandbox (the bench process) could not prepare the experiment. ``.errno`` says why; the
    message says it in words (without OSError's "[Errno N]" in front)."""

    def __str__(self) -> str:
        return str(self.strerror)


class BenchUnavailable(BenchFailed):
    """The bench server (forklab-bench) could not be started: the message says why and what to do.
    forklab never falls back on forking the caller."""


class BenchServerLost(BenchFailed):
    """The bench server was lost during the experiment (killed, stopped, no answer in time, or its input
    disturbed by another process). Nothing was observed; the next experiment starts a new server."""

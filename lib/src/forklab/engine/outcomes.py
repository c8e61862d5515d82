"""What the bench's outcome means: an exception a student can act on when the experiment did not
run to the end (refused by the kernel, timed out, crashed, stopped, could not be set up), and what
the readings say about how the child ended and whether the parent was suspended."""
from __future__ import annotations

import errno as _errno
import os
import signal as _signal

from forklab.engine import _core
from forklab.engine.errors import (BenchFailed, CloneForbiddenHere, CloneRefused, ExperimentCrashed, ExperimentTimeout)
from forklab.engine.explain import confinement, explain, platform_rule
from forklab.engine.flags import FLAGS, names_of
from forklab.host.machine import machine

ffi, lib = _core.ffi, _core.lib


def exit_status(res) -> int | None:
    """How the child ended: its exit code, -N if killed by signal N, None if it was not waited for
    (a CLONE_THREAD child)."""
    if res.waited != 1:
        return None
    st = res.wait_status
    if os.WIFEXITED(st):
        return os.WEXITSTATUS(st)
    if os.WIFSIGNALED(st):
        return -os.WTERMSIG(st)
    return None


def name_of_signal(n: int) -> str:
    """SIGKILL for 9; "signal N" for a number that names no signal."""
    try:
        return _signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def raise_for_outcome(res, primitive, mask, signal_name, timeout) -> None:
    """Return if the experiment ran to the end (FL_OK); otherwise raise the exception that says, in a
    student's words, what happened: CloneRefused (CloneForbiddenHere where the platform, not the kernel's
    rules, refused), ExperimentTimeout, ExperimentCrashed or BenchFailed."""
    if res.outcome == lib.FL_OK:
        return
    names = names_of(mask)
    if res.outcome == lib.FL_REFUSED:
        privileged, conf = machine().cap_sys_admin, confinement()
        reason, fix, rule = explain(res.error, mask, primitive, signal_name, privileged=privileged, conf=conf)
        kw = dict(primitive=primitive, flags=names, exit_signal=signal_name, rule=rule)
        because = platform_rule(res.error, mask, primitive, privileged=privileged, conf=conf)
        if because:     # the platform's doing, not a rule of the kernel: ForbiddenHere as well
            raise CloneForbiddenHere(res.error, reason, fix, because=because, **kw)
        raise CloneRefused(res.error, reason, fix, **kw)
    if res.outcome == lib.FL_TIMEOUT:
        raise ExperimentTimeout(
            f"the experiment did not finish within {timeout:g} s, so forklab killed the bench process and "
            "everything it had started. Your Python process was not touched.")
    if res.outcome == lib.FL_CRASHED:
        sig = os.WTERMSIG(res.bench_status)
        why = (" A CLONE_THREAD child is a thread of the bench process, so a fatal signal in it ends the "
               "whole thread group." if mask & FLAGS["CLONE_THREAD"].value else "")
        raise ExperimentCrashed(f"the bench process was killed by {name_of_signal(sig)}.{why} The sandbox "
                                "contained it: your Python process was not touched.", sig)
    if res.outcome == lib.FL_STOPPED:
        raise ExperimentCrashed("the bench process was stopped (SIGSTOP or another stop signal from outside) "
                                "during the experiment, so it could never finish: forklab killed it, with every "
                                "process of the experiment. Nothing was observed. Your Python process was not "
                                "touched.", int(_signal.SIGSTOP))
    if res.outcome == lib.FL_SETUP:
        where = ffi.string(res.where).decode() or "setting up"
        hint = (" The system has too many processes right now (RLIMIT_NPROC or a pids cgroup limit); "
                "try again when fewer are running." if res.error == _errno.EAGAIN else "")
        raise BenchFailed(res.error, f"the sandbox could not prepare the experiment ({where} failed: "
                          f"{os.strerror(res.error)}).{hint}")
    if res.outcome == lib.FL_NO_REPORT:
        st = exit_status(res)
        how = f"killed by {name_of_signal(-st)}" if st is not None and st < 0 else f"exit status {st}"
        raise ExperimentCrashed(f"the child ended before it could report ({how}); nothing was observed.",
                                -st if st is not None and st < 0 else None)


def parent_was_suspended(res) -> bool:
    """Measured, not assumed from the primitive: the child waited up to GRACE_MS (experiment.py) for the
    parent to run. If it saw the parent run, the parent was not suspended. If not, the child read the parent's state
    in /proc: 'D' is the kernel holding it in the call (vfork's wait_for_vfork_done, TASK_KILLABLE);
    'R' is a parent that could run but was not scheduled yet (a busy machine), not a suspended one.
    Where /proc could not be read, the timing decides: the call returned in the parent only after the
    child had ended its part."""
    if res.child_saw_parent_run:
        return False
    state = chr(res.parent_state_seen) if res.parent_state_seen else ""
    if state:
        return state == "D"
    return res.child_end_ns > 0 and res.parent_resumed_ns >= res.child_end_ns

"""forklab.run(): one fork/vfork/clone experiment, and what was observed.

The C side (csrc/) does the experiment in a sandboxed bench process and returns raw readings;
this module sends the checked request (request.py) to the bench server and makes the Observation:
its verdicts come from verdicts.py, a failed outcome becomes an exception in outcomes.py, and the
equivalent C call is c_call.py's.
"""
from __future__ import annotations

import signal as _signal
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

from forklab.engine import _core, benchserver
from forklab.engine.c_call import c_call_of
from forklab.engine.flags import FLAGS, names_of
from forklab.engine.outcomes import exit_status, name_of_signal, parent_was_suspended, raise_for_outcome
from forklab.engine.request import check_request
from forklab.engine.verdicts import Side, Verdict, kcmp_of, side_of, verdicts_from

ffi, lib = _core.ffi, _core.lib

_CLONE_PIDFD = FLAGS["CLONE_PIDFD"].value
_ACTIONS = {None: lib.FL_ACT_NONE, "hang": lib.FL_ACT_HANG, "crash": lib.FL_ACT_CRASH}
_SIGCHLD = int(_signal.SIGCHLD)
_PRIMITIVE_CODE = {"fork": lib.FL_FORK, "vfork": lib.FL_VFORK, "clone": lib.FL_CLONE, "clone3": lib.FL_CLONE3}

#: How long the child waits to see its parent run before it ends (the vfork measurement).
GRACE_MS = 25


@dataclass(frozen=True, repr=False)
class Observation:
    """The result of one experiment: ``resources`` maps a resource name to its Verdict.

    The verdicts, the two Sides, kcmp's answers and the C call are made from the readings the first
    time they are asked for (a toggle that is superseded before it is drawn never pays for them)."""
    primitive: str
    flags: tuple[str, ...]
    exit_signal: str | None
    parent_was_suspended: bool       # the parent got back from the call only after the child had ended
    parent_blocked_ms: float         # how long the call kept the parent
    exit_status: int | None          # exit code; -N if killed by signal N; None for a thread
    duration_ms: float               # the whole sandboxed round trip
    notes: tuple[str, ...] = ()
    _readings: object = field(default=None, compare=False)   # the struct fl_result the bench filled
    _mask: int = field(default=0, compare=False)

    @cached_property
    def resources(self) -> dict[str, Verdict]:
        return verdicts_from(self._readings)

    @cached_property
    def parent(self) -> Side:
        return side_of(self._readings.parent)

    @cached_property
    def child(self) -> Side:
        return side_of(self._readings.child)

    @property
    def child_pid_from_parent(self) -> int:
        """What fork/clone returned: the child's id in the parent's PID namespace."""
        return int(self._readings.child_id_from_parent)

    @cached_property
    def _kcmp_answers(self) -> tuple[dict[str, bool] | None, str | None]:
        return kcmp_of(self._readings)

    @property
    def kcmp(self) -> dict[str, bool] | None:
        """VM/FILES/FS/SIGHAND/SYSVSEM/IO -> same object? (None: not permitted)"""
        return self._kcmp_answers[0]

    @property
    def kcmp_reason(self) -> str | None:
        """Why kcmp could not answer."""
        return self._kcmp_answers[1]

    @cached_property
    def c_call(self) -> str:
        """The equivalent C call."""
        return c_call_of(self.primitive, self._mask, self.exit_signal)

    @property
    def shared(self) -> tuple[str, ...]:
        return tuple(n for n, v in self.resources.items() if v.shared)

    @property
    def not_shared(self) -> tuple[str, ...]:
        return tuple(n for n, v in self.resources.items() if not v.shared and not v.unknown)

    @property
    def unknown(self) -> tuple[str, ...]:
        """Resources whose probe failed (no verdict: see each Verdict's evidence)."""
        return tuple(n for n, v in self.resources.items() if v.unknown)

    def table(self) -> str:
        width = max(len(n) for n in self.resources)
        lines = [f"{self.c_call}", ""]
        for name, v in self.resources.items():
            lines.append(f"  {name:<{width}}  {v.word:<18}  {v.evidence}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        flags = "|".join(f.removeprefix("CLONE_") for f in self.flags) or "no flags"
        return (f"<Observation {self.primitive}({flags}): shared {', '.join(self.shared) or 'nothing'}; "
                f"parent suspended: {self.parent_was_suspended}>")

    def _repr_pretty_(self, p, cycle):  # IPython shows the whole table
        p.text(self.table())


def run(primitive: str, flags: Iterable[str] | int = (), *, exit_signal="SIGCHLD",
        timeout: float = 2.0, child_action: str | None = None) -> Observation:
    """Run one experiment in a sandboxed bench process and return what was observed.

    primitive:   "fork", "vfork", "clone" or "clone3"
    flags:       for clone/clone3: flag names ("CLONE_VM" or "VM") or an int mask
    exit_signal: "SIGCHLD" or None (exit signal 0); anything else is refused
    timeout:     seconds; a child still running then is killed with everything it started
    child_action: None, or "hang" / "crash" - make the child misbehave after its probes, to see
                  the sandbox contain it
    """
    primitive, mask, signal_name, timeout = check_request(primitive, flags, exit_signal, timeout)
    if not (child_action is None or isinstance(child_action, str)) or child_action not in _ACTIONS:
        raise ValueError(f"unknown child_action {child_action!r}; valid choices are None, 'hang', 'crash'")

    req, res = c_request(primitive, mask, signal_name, timeout, child_action)
    start = time.perf_counter()
    benchserver.run_experiment(req, res, timeout)   # never raises for the experiment's sake
    duration_ms = (time.perf_counter() - start) * 1000
    return observation_from(res, primitive, mask, signal_name, timeout, duration_ms)


def c_request(primitive: str, mask: int, signal_name: str | None, timeout: float, child_action=None):
    """The C request a checked experiment becomes (struct fl_request) and the result the bench fills
    (struct fl_result, zeroed): what run() sends, and what make bench times."""
    req = ffi.new("struct fl_request *")
    req.primitive = _PRIMITIVE_CODE[primitive]
    req.flags = mask
    req.exit_signal = _SIGCHLD if signal_name else 0
    req.timeout_ms = max(1, int(timeout * 1000))
    req.grace_ms = GRACE_MS
    req.child_action = _ACTIONS[child_action]
    return req, ffi.new("struct fl_result *")


#: The C side's steps of one experiment (forklab.h FL_T_*), in order: where its wall time goes.
C_STEPS = ("FL_T_START", "FL_T_BENCH", "FL_T_PREPARED", "FL_T_CREATED", "FL_T_REPORTED", "FL_T_REAPED",
           "FL_T_BENCH_END", "FL_T_END")


def c_timestamps(res) -> dict[str, int]:
    """The C side's own clock at each step of the experiment that filled res (CLOCK_MONOTONIC ns, 0 = not
    reached), keyed by C_STEPS' names."""
    return {name: res.t[getattr(lib, name)] for name in C_STEPS}


def observation_from(res, primitive, mask, signal_name, timeout, duration_ms) -> Observation:
    """The Observation of one experiment from the readings the bench filled (a struct fl_result), or the
    exception its outcome means (outcomes.raise_for_outcome). The verdicts are made on first use."""
    raise_for_outcome(res, primitive, mask, signal_name, timeout)
    status = exit_status(res)
    notes = []
    if status is not None and status < 0:
        notes.append(f"the child was killed by {name_of_signal(-status)} after reporting")
    if mask & _CLONE_PIDFD and res.pidfd_from_clone < 0:
        notes.append("CLONE_PIDFD was asked for, but no pidfd came back: this kernel is older than 5.2 and "
                     "does not know the flag, and clone() ignores flags it does not know - so the child was "
                     "created as if CLONE_PIDFD were absent (forklab waited for it by its pid instead)")
    return Observation(
        primitive=primitive, flags=names_of(mask), exit_signal=signal_name,
        parent_was_suspended=parent_was_suspended(res),
        parent_blocked_ms=res.parent_blocked_ns / 1e6,
        exit_status=status, duration_ms=duration_ms, notes=tuple(notes), _readings=res, _mask=mask)

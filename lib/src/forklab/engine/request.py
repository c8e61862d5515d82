"""Checking an experiment's request: which primitive, which flags, which exit signal, how long.

Everything here is decided before the bench is asked for anything, so a request forklab cannot or
will not run is refused with a message that names what was wrong and the valid choices.
"""
from __future__ import annotations

import math
import signal as _signal

from forklab.engine.errors import UnsafeExperiment
from forklab.engine.flags import FLAGS, names_of, parse_flags

PRIMITIVES = ("fork", "vfork", "clone", "clone3")
MAX_TIMEOUT = 60.0      # seconds: the longest an experiment may be given


def exit_signal_name(exit_signal) -> str | None:
    """The exit signal a request asks for, by name: "SIGCHLD", or None for exit signal 0. Any other
    signal is refused (UnsafeExperiment, saying why); a name or number that is no signal is a ValueError."""
    if exit_signal is None or exit_signal == 0:
        return None
    if isinstance(exit_signal, bool):
        raise TypeError("exit_signal must be 'SIGCHLD' or None")
    try:
        sig = _signal.Signals(exit_signal) if isinstance(exit_signal, int) else \
            _signal.Signals[exit_signal.upper() if exit_signal.upper().startswith("SIG") else "SIG" + exit_signal.upper()]
    except (KeyError, ValueError, AttributeError):
        raise ValueError(f"unknown exit signal {exit_signal!r}; valid choices are 'SIGCHLD' and None "
                         "(exit signal 0)") from None
    if sig != _signal.SIGCHLD:
        raise UnsafeExperiment(
            f"forklab refuses exit signal {sig.name}: when the child exits, the kernel sends its exit "
            f"signal to the parent, and {sig.name}'s default action "
            f"{'is to ignore it, so the parent would never learn the child ended' if sig in (_signal.SIGURG, _signal.SIGWINCH) else 'kills the parent'}. "
            "A Python kernel that keeps the default disposition would die. Use 'SIGCHLD' (what fork() "
            "uses) or None (exit signal 0, which only a wait with __WCLONE or __WALL notices).")
    return "SIGCHLD"


def check_request(primitive, flags, exit_signal, timeout) -> tuple[str, int, str | None, float]:
    """Check one experiment's request before anything runs; returns (primitive, flag mask, exit signal
    name or None, timeout in seconds). What cannot be run is refused here, naming what was wrong and
    the valid choices: an unknown primitive, flags for fork()/vfork(), a clone3-only flag for clone(),
    a flag forklab cannot try (UnsafeExperiment), an exit signal other than SIGCHLD or none, a timeout
    that is not a number of seconds in (0, MAX_TIMEOUT]."""
    if not isinstance(primitive, str) or primitive not in PRIMITIVES:
        raise ValueError(f"unknown primitive {primitive!r}; valid choices are: {', '.join(PRIMITIVES)}")
    mask = parse_flags(flags)
    signal_name = exit_signal_name(exit_signal)
    if primitive in ("fork", "vfork"):
        if mask:
            raise ValueError(f"{primitive}() takes no flags (it always behaves the same); to choose "
                             f"flags use primitive 'clone' or 'clone3', e.g. run('clone', {list(names_of(mask))!r})")
        if signal_name is None:
            raise ValueError(f"{primitive}() always uses SIGCHLD as its exit signal; exit_signal=None "
                             "needs primitive 'clone' or 'clone3'")
    for name in names_of(mask):
        f = FLAGS[name]
        if f.clone3_only and primitive != "clone3":
            raise ValueError(f"{name} exists only for clone3() (clone()'s flags argument has no room "
                             f"for it); use primitive 'clone3'")
        if not f.runnable:
            raise UnsafeExperiment(f"forklab cannot try {name}: {f.not_runnable_why}.")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout):
        raise TypeError(f"timeout must be a number of seconds, not {timeout!r}")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds, not {timeout!r}")
    return primitive, mask, signal_name, float(timeout)

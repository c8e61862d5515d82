"""forklab.run(): one fork/vfork/clone experiment, and what was observed.

The C side (csrc/) does the experiment in a sandboxed bench process and returns raw readings;
this module checks the request, turns the readings into verdicts with evidence, and turns
failures into exceptions a student can act on.
"""
from __future__ import annotations

import errno as _errno
import math
import os
import signal as _signal
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

from . import _core, benchserver
from .errors import (BenchFailed, CloneForbiddenHere, CloneRefused, ExperimentCrashed, ExperimentTimeout,
                     UnsafeExperiment)
from .explain import confinement, explain, platform_rule
from .flags import FLAGS, c_expression, names_of, parse_flags

ffi, lib = _core.ffi, _core.lib

PRIMITIVES = ("fork", "vfork", "clone", "clone3")
_CLONE_PIDFD = FLAGS["CLONE_PIDFD"].value
_ACTIONS = {None: lib.FL_ACT_NONE, "hang": lib.FL_ACT_HANG, "crash": lib.FL_ACT_CRASH}
_SIGCHLD = int(_signal.SIGCHLD)
_PRIMITIVE_CODE = {"fork": lib.FL_FORK, "vfork": lib.FL_VFORK, "clone": lib.FL_CLONE, "clone3": lib.FL_CLONE3}

#: How long the child waits to see its parent run before it ends (the vfork measurement).
GRACE_MS = 25
MAX_TIMEOUT = 60.0


# In the order of fl_result.ns_parent / ns_child (probes.h).
NAMESPACES = ("uts_ns", "pid_ns", "mnt_ns", "net_ns", "ipc_ns", "user_ns", "cgroup_ns")
KCMP_TYPES = ("VM", "FILES", "FS", "SIGHAND", "SYSVSEM", "IO")   # then FILE, used for file_offset


@dataclass(frozen=True)
class Resource:
    """One row of the sharing picture."""
    name: str
    title: str
    flag: str | None     # the flag that controls it, or None when no flag changes it
    kind: str            # "sharing", "process" or "namespace"
    kcmp: str | None = None


RESOURCES: dict[str, Resource] = {r.name: r for r in [
    Resource("memory", "memory (address space)", "CLONE_VM", "sharing", "VM"),
    Resource("fd_table", "file descriptor table", "CLONE_FILES", "sharing", "FILES"),
    Resource("file_offset", "open file description (offset)", None, "sharing", "FILE"),
    Resource("fs", "working directory and umask", "CLONE_FS", "sharing", "FS"),
    Resource("signal_handlers", "signal handlers", "CLONE_SIGHAND", "sharing", "SIGHAND"),
    Resource("signal_mask", "blocked-signal mask", None, "sharing"),
    Resource("sysvsem_undo", "System V semaphore undo list", "CLONE_SYSVSEM", "sharing", "SYSVSEM"),
    Resource("io_context", "I/O context (I/O priority)", "CLONE_IO", "sharing", "IO"),
    Resource("thread_group", "thread group (PID)", "CLONE_THREAD", "process"),
    Resource("parent", "parent process", "CLONE_PARENT", "process"),
    Resource("uts_ns", "UTS namespace (hostname)", "CLONE_NEWUTS", "namespace"),
    Resource("pid_ns", "PID namespace", "CLONE_NEWPID", "namespace"),
    Resource("mnt_ns", "mount namespace", "CLONE_NEWNS", "namespace"),
    Resource("net_ns", "network namespace", "CLONE_NEWNET", "namespace"),
    Resource("ipc_ns", "IPC namespace", "CLONE_NEWIPC", "namespace"),
    Resource("user_ns", "user namespace", "CLONE_NEWUSER", "namespace"),
    Resource("cgroup_ns", "cgroup namespace", "CLONE_NEWCGROUP", "namespace"),
]}


#: The verdict words. A resource that is not shared is not always a copy: without CLONE_SYSVSEM the
#: kernel gives the child a new, EMPTY System V undo list (copy_semundo), and without CLONE_IO a new
#: I/O context that carries only the parent's I/O priority (copy_io; "new" if not even that); a
#: namespace flag makes a new namespace; "own" is a thread group or parent of the child's own. "unknown":
#: a probe failed (no free fd, say), so nothing was measured - the evidence names the errno.
WORDS = ("shared", "copied", "new, empty", "new, same priority", "new", "new namespace", "own", "unknown")


@dataclass(frozen=True)
class Verdict:
    """What was observed for one resource."""
    resource: str
    shared: bool
    evidence: str
    flag: str | None
    kcmp: bool | None = None      # the kernel's own answer (kcmp: same object?), where it could be asked
    apart: str = "copied"         # what the child got when not shared, as observed: "copied", "new, empty", ...
    errno: int | None = None      # a probe failed with this errno: nothing was measured (word "unknown")

    @property
    def unknown(self) -> bool:
        """A probe failed: neither shared nor apart was measured (``errno`` says why)."""
        return self.errno is not None

    @property
    def word(self) -> str:
        """One of WORDS: 'shared', or what the child got instead ('copied', 'new, empty', 'new, same
        priority', 'new namespace'; for the process rows 'own'), or 'unknown' when a probe failed."""
        kind = RESOURCES[self.resource].kind
        if self.unknown:
            return "unknown"
        if self.shared:
            return "shared"
        return {"namespace": "new namespace", "process": "own"}.get(kind, self.apart)

    def __str__(self) -> str:
        return f"{self.resource}: {self.word} - {self.evidence}"


@dataclass(frozen=True)
class Side:
    """One process as it saw itself. host_* are the same ids as the host's /proc shows them."""
    pid: int
    tid: int
    ppid: int
    tgid: int
    uid: int
    host_pid: int
    host_tid: int
    host_ppid: int
    host_tgid: int


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
        return _verdicts(self._readings)

    @cached_property
    def parent(self) -> Side:
        return _side(self._readings.parent)

    @cached_property
    def child(self) -> Side:
        return _side(self._readings.child)

    @property
    def child_pid_from_parent(self) -> int:
        """What fork/clone returned: the child's id in the parent's PID namespace."""
        return int(self._readings.child_id_from_parent)

    @cached_property
    def _kcmp_answers(self) -> tuple[dict[str, bool] | None, str | None]:
        return _kcmp(self._readings)

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


# --- checking the request ------------------------------------------------------------------

def _exit_signal_name(exit_signal) -> str | None:
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


def _check(primitive, flags, exit_signal, timeout) -> tuple[str, int, str | None, float]:
    if not isinstance(primitive, str) or primitive not in PRIMITIVES:
        raise ValueError(f"unknown primitive {primitive!r}; valid choices are: {', '.join(PRIMITIVES)}")
    mask = parse_flags(flags)
    signal_name = _exit_signal_name(exit_signal)
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


def has_cap_sys_admin() -> bool:
    """Does this process hold CAP_SYS_ADMIN (what namespaces other than the user one need)?"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 21))
    except OSError:
        pass
    return os.geteuid() == 0


# --- running ------------------------------------------------------------------------------

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
    primitive, mask, signal_name, timeout = _check(primitive, flags, exit_signal, timeout)
    if not (child_action is None or isinstance(child_action, str)) or child_action not in _ACTIONS:
        raise ValueError(f"unknown child_action {child_action!r}; valid choices are None, 'hang', 'crash'")

    req = ffi.new("struct fl_request *")
    req.primitive = _PRIMITIVE_CODE[primitive]
    req.flags = mask
    req.exit_signal = _SIGCHLD if signal_name else 0
    req.timeout_ms = max(1, int(timeout * 1000))
    req.grace_ms = GRACE_MS
    req.child_action = _ACTIONS[child_action]
    res = ffi.new("struct fl_result *")

    start = time.perf_counter()
    benchserver.run_experiment(req, res, timeout)   # never raises for the experiment's sake
    duration_ms = (time.perf_counter() - start) * 1000
    return _observation(res, primitive, mask, signal_name, timeout, duration_ms)


def c_call_of(primitive: str, mask: int, signal_name: str | None) -> str:
    """The C call that makes this request (the explorer shows it for refused requests too)."""
    if primitive == "fork":
        return "pid = fork();"
    if primitive == "vfork":
        return "pid = vfork();"
    if primitive == "clone":
        return f"pid = clone(child_fn, stack_top, {c_expression(mask, signal_name)}, arg);"
    flags = c_expression(mask, None)
    fields = [f".flags = {flags}", f".exit_signal = {signal_name or 0}"]
    if mask & FLAGS["CLONE_VM"].value:
        fields += [".stack = (uintptr_t)stack", ".stack_size = STACK_SIZE"]
    return ("struct clone_args args = { " + ", ".join(fields) + " };\n"
            "pid = syscall(SYS_clone3, &args, sizeof args);")


def _side(s) -> Side:
    return Side(s.pid, s.tid, s.ppid, s.tgid, s.uid, s.host_pid, s.host_tid, s.host_ppid, s.host_tgid)


def _exit_status(res) -> int | None:
    if res.waited != 1:
        return None
    st = res.wait_status
    if os.WIFEXITED(st):
        return os.WEXITSTATUS(st)
    if os.WIFSIGNALED(st):
        return -os.WTERMSIG(st)
    return None


def _signame(n: int) -> str:
    try:
        return _signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def _raise_for_outcome(res, primitive, mask, signal_name, timeout):
    if res.outcome == lib.FL_OK:
        return
    names = names_of(mask)
    if res.outcome == lib.FL_REFUSED:
        privileged, conf = has_cap_sys_admin(), confinement()
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
        raise ExperimentCrashed(f"the bench process was killed by {_signame(sig)}.{why} The sandbox "
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
        st = _exit_status(res)
        how = f"killed by {_signame(-st)}" if st is not None and st < 0 else f"exit status {st}"
        raise ExperimentCrashed(f"the child ended before it could report ({how}); nothing was observed.",
                                -st if st is not None and st < 0 else None)


def _parent_was_suspended(res) -> bool:
    """Measured, not assumed from the primitive: the child waited up to GRACE_MS for the parent to run.
    If it saw the parent run, the parent was not suspended. If not, the child read the parent's state
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


def _observation(res, primitive, mask, signal_name, timeout, duration_ms) -> Observation:
    _raise_for_outcome(res, primitive, mask, signal_name, timeout)
    status = _exit_status(res)
    notes = []
    if status is not None and status < 0:
        notes.append(f"the child was killed by {_signame(-status)} after reporting")
    if mask & _CLONE_PIDFD and res.pidfd_from_clone < 0:
        notes.append("CLONE_PIDFD was asked for, but no pidfd came back: this kernel is older than 5.2 and "
                     "does not know the flag, and clone() ignores flags it does not know - so the child was "
                     "created as if CLONE_PIDFD were absent (forklab waited for it by its pid instead)")
    return Observation(
        primitive=primitive, flags=names_of(mask), exit_signal=signal_name,
        parent_was_suspended=_parent_was_suspended(res),
        parent_blocked_ms=res.parent_blocked_ns / 1e6,
        exit_status=status, duration_ms=duration_ms, notes=tuple(notes), _readings=res, _mask=mask)


# --- from readings to verdicts -----------------------------------------------------------

def _s(b) -> str:
    return ffi.string(b).decode(errors="replace")


def _kcmp_answer(res, i) -> bool | None:
    return None if res.kcmp[i] < 0 else res.kcmp[i] == 0


def _kcmp(res) -> tuple[dict[str, bool] | None, str | None]:
    answers = {name: _kcmp_answer(res, i) for i, name in enumerate(KCMP_TYPES)}
    if all(a is not None for a in answers.values()):
        return answers, None
    err = next(res.kcmp_err[i] for i in range(len(KCMP_TYPES)) if res.kcmp[i] < 0)
    reasons = {
        _errno.ESRCH: "the child is in a new PID namespace, where its parent has no PID it could name",
        _errno.EPERM: "kcmp needs ptrace read access to both processes and was refused (EPERM): a child "
                      "in a new user namespace, or a container without CAP_SYS_PTRACE, meets this"
                      if not confinement().seccomp_filter else
                      "kcmp is forbidden here (EPERM) by this process's seccomp filter: Docker's default profile "
                      "(and Kubernetes' RuntimeDefault) refuses it to a container without CAP_SYS_PTRACE",
        _errno.ENOSYS: "this kernel has no kcmp (built without CONFIG_KCMP) or a seccomp filter blocks it",
        _errno.EACCES: "kcmp was refused (EACCES) by a security module",
    }
    return None, reasons.get(err, f"kcmp failed with {_errno.errorcode.get(err, err)}")


def _disposition(d: int) -> str:
    return {0: "SIG_DFL", 1: "SIG_IGN", 2: "a handler"}.get(d, "unknown")


def _ioprio(v: int) -> str:
    klass, level = v >> 13, v & 0x1FFF
    return f"{ {0: 'none', 1: 'realtime', 2: 'best-effort', 3: 'idle'}.get(klass, klass)} {level}"


def _semaphore_reading(res) -> tuple[bool, str, str]:
    """(shared, word when not, evidence) from the semaphore: the parent raised it by 1 with SEM_UNDO,
    the child did the same and ended, and the parent, still alive, read it once the child was gone.
    Shared undo list: nothing undone yet (+2). The child's own list, new and empty: only its +1 undone.
    A copy of the parent's list would have undone the parent's +1 as well."""
    done = "parent and child each did semop(+1, SEM_UNDO); the semaphore after the child ended"
    after, base = res.sem_after_exit, res.sem_before - 1
    if after == base + 2:
        return True, "copied", f"{done}: {after}, nothing undone (one undo list, and the parent is alive)"
    if after == base + 1:
        return False, "new, empty", f"{done}: {after}, only the child's +1 undone (its undo list started empty)"
    return False, "copied", f"{done}: {after}, the parent's +1 undone too (the child's undo list was a copy)"


def _errname(e: int) -> str:
    return f"{_errno.errorcode.get(e, str(e))} ({os.strerror(e)})"


def _failed(what: str, e: int) -> str:
    return f"not measured: {what} failed with {_errname(e)}"


def _verdicts(res) -> dict[str, Verdict]:
    p, c = res.parent, res.child
    k = lambda i: _kcmp_answer(res, i)  # noqa: E731
    v: dict[str, Verdict] = {}

    def put(name, shared, evidence, kcmp=None, apart="copied"):
        v[name] = Verdict(name, bool(shared), evidence, RESOURCES[name].flag, kcmp, apart)

    def unknown(name, what, e, kcmp=None):
        """A probe failed: the verdict is unknown, never shared or copied; the errno is the evidence."""
        v[name] = Verdict(name, False, _failed(what, e), RESOURCES[name].flag, kcmp, errno=e)

    put("memory", res.mem_after == res.mem_child_wrote,
        f"child wrote {res.mem_child_wrote} to x (parent's x was {res.mem_before}); parent then read {res.mem_after}",
        k(0))
    fd = res.fd_probe
    if res.fd_probe_err or res.fd_child_close_err:
        unknown("fd_table", f"{'the child' if res.fd_child_close_err else 'the parent'}'s look at fd {fd}",
                res.fd_child_close_err or res.fd_probe_err, k(1))
    else:
        put("fd_table", res.fd_open_before and not res.fd_open_after,
            f"child closed fd {fd}; in the parent fd {fd} was then {'closed' if not res.fd_open_after else 'still open'}",
            k(1))
    if res.off_err:
        unknown("file_offset", "lseek on the inherited fd", res.off_err, _kcmp_answer(res, 6))
    else:
        put("file_offset", res.off_after == res.off_child_set,
            f"child moved the offset of an inherited fd to {res.off_child_set}; parent's offset on it then "
            f"{res.off_after}", _kcmp_answer(res, 6))
    cwd_after, cwd_set = _s(res.cwd_after), _s(res.cwd_child_set)
    if res.cwd_err:
        unknown("fs", "chdir/getcwd", res.cwd_err, k(2))
    else:
        put("fs", cwd_after == cwd_set or res.umask_after == res.umask_child_set,
            f"child did chdir(\"{cwd_set}\") and umask({res.umask_child_set:03o}); parent's cwd then "
            f"\"{cwd_after}\", umask {res.umask_after:03o}", k(2))
    if res.sig_err or res.sig_before < 0:
        unknown("signal_handlers", "rt_sigaction/sigprocmask", res.sig_err or _errno.EINVAL, k(3))
        unknown("signal_mask", "rt_sigaction/sigprocmask", res.sig_err or _errno.EINVAL)
    else:
        inherited = "" if res.child_saw_usr1_handler else \
            "; the child did not inherit the parent's SIGUSR1 handler (reset to default)"
        put("signal_handlers", res.sig_after == 1,
            f"child set SIGUSR2 to SIG_IGN; parent's SIGUSR2 then {_disposition(res.sig_after)}{inherited}", k(3))
        put("signal_mask", res.mask_blocked_before and not res.mask_blocked_after,
            "child unblocked SIGUSR2; in the parent it was then "
            f"{'unblocked' if not res.mask_blocked_after else 'still blocked'} (each thread has its own mask)")
    new_ipc = not res.ns_child_err[4] and not res.ns_parent_err[4] and res.ns_child[4] != res.ns_parent[4]
    if res.sem_parent_err:
        unknown("sysvsem_undo", "the parent's semget/semop", res.sem_parent_err, k(4))
    elif res.sem_child_err == _errno.EINVAL and new_ipc:
        put("sysvsem_undo", False, f"child's semop() on the parent's semaphore failed with "
            f"{_errno.errorcode[_errno.EINVAL]}: it is in a new IPC namespace, where that semaphore does not exist",
            k(4), apart="new, empty")
    elif res.sem_child_err:
        unknown("sysvsem_undo", "the child's semop", res.sem_child_err, k(4))
    elif not res.sem_after_exit_read:
        unknown("sysvsem_undo", "reading the semaphore after the child ended", _errno.EIO, k(4))
    else:
        sem_shared, sem_apart, sem_text = _semaphore_reading(res)
        put("sysvsem_undo", sem_shared, sem_text, k(4), apart=sem_apart)
    saw = (f"child started with I/O priority {_ioprio(res.ioprio_child_saw)} (parent's: "
           f"{_ioprio(res.ioprio_before)})")
    io_apart = "new, same priority" if res.ioprio_child_saw == res.ioprio_before else "new"
    if res.ioprio_err or res.ioprio_child_saw < 0:
        unknown("io_context", "ioprio_get/ioprio_set", res.ioprio_err or -res.ioprio_child_saw, k(5))
    elif res.ioprio_child_err:
        put("io_context", False, f"{saw}; it could not set its own "
            f"({_errno.errorcode.get(res.ioprio_child_err, res.ioprio_child_err)})", k(5), apart=io_apart)
    else:
        put("io_context", res.ioprio_after == res.ioprio_child_set,
            f"{saw}, set its own to {_ioprio(res.ioprio_child_set)}; parent's then {_ioprio(res.ioprio_after)}",
            k(5), apart=io_apart)
    ids_err = p.host_err or c.host_err
    who = "the parent's" if p.host_err else "the child's"
    if ids_err:
        unknown("thread_group", f"reading {who} ids in /proc/thread-self/status", ids_err)
        unknown("parent", f"reading {who} ids in /proc/thread-self/status", ids_err)
    else:
        put("thread_group", c.host_tgid == p.host_tgid,
            f"child's thread group id is {c.host_tgid}, parent's PID is {p.host_tgid}; child's thread id is "
            f"{c.host_tid}")
        put("parent", c.host_ppid == p.host_ppid,
            f"child's parent is PID {c.host_ppid}; the caller is PID {p.host_pid} and its own parent is PID "
            f"{p.host_ppid}")

    ns_extra = {
        "uts_ns": f"child saw hostname \"{_s(res.host_child_saw)}\"; parent's hostname "
                  f"\"{_s(res.host_before)}\" before and \"{_s(res.host_after)}\" after",
        "pid_ns": f"child's getpid() returned {c.pid}; the parent knows it as PID {res.child_id_from_parent}",
        "mnt_ns": (f"child mounted a tmpfs on {_s(res.mount_point)} "
                   + ("(failed: " + _errno.errorcode.get(res.mount_child_err, str(res.mount_child_err)) + ")"
                      if res.mount_child_err else "")
                   + f"; device of {_s(res.mount_point)}: child {res.mnt_dev_child_saw}, parent "
                     f"{res.mnt_dev_before} before and {res.mnt_dev_after} after")
        if res.ns_child[2] != res.ns_parent[2] else
        f"device of {_s(res.mount_point)}: {res.mnt_dev_child_saw} for both (no mount tried: same mount table)",
        "net_ns": f"network interfaces: child sees {res.net_ifaces_child}, parent {res.net_ifaces_parent}",
        "ipc_ns": "child could " + ("not " if res.sem_child_err == _errno.EINVAL else "")
                  + "reach the parent's System V semaphore",
        "user_ns": (f"child's uid {c.uid} (was {res.child_uid_before_map} before it mapped its own uid), "
                    f"parent's uid {p.uid}" + (f"; writing uid_map failed ({_errno.errorcode.get(res.uid_map_err)})"
                                               if res.uid_map_err else ""))
        if res.ns_child[5] != res.ns_parent[5] else f"child's uid {c.uid}, parent's uid {p.uid}",
        "cgroup_ns": "",
    }
    for i, name in enumerate(NAMESPACES):
        kind = name.removesuffix("_ns")
        err = res.ns_parent_err[i] or res.ns_child_err[i]
        if err:
            unknown(name, f"reading {'the parent' if res.ns_parent_err[i] else 'the child'}'s "
                    f"/proc/thread-self/ns/{kind}", err)
            continue
        same = res.ns_child[i] == res.ns_parent[i]
        text = f"/proc/thread-self/ns/{kind}: child {kind}:[{res.ns_child[i]}], parent {kind}:[{res.ns_parent[i]}]"
        if ns_extra[name]:
            text += "; " + ns_extra[name]
        put(name, same, text)
    return v

"""Why the kernel refused a clone, in plain words, and the smallest change that fixes it.

The refusal itself always comes from the running kernel; this module only names the rule.
The EINVAL rules are checked in the order kernel/fork.c checks them, so the first rule that
matches is the one the kernel hit: for clone3(), clone3_args_valid() first (the clone3 system
call runs it right after copy_clone_args_from_user()'s own EINVALs: the argument's size,
set_tid, high bits in exit_signal or !valid_signal(), CLONE_INTO_CGROUP); then the check in
kernel_clone() (_do_fork() 5.3-5.9): CLONE_PIDFD with CLONE_PARENT_SETTID pointing at the same
place, which is always so in clone(); then copy_process()'s checks at its top; copy_namespaces()
last. So clone3(CLONE_THREAD) with an exit signal is refused for its exit signal before anyone
looks for CLONE_SIGHAND. On Linux 5.2, the first with CLONE_PIDFD, copy_process() refused
PIDFD with PARENT_SETTID itself, after its NEWNS|FS ... THREAD with NEWUSER/NEWPID checks;
the clone3 work of 5.3 moved that part into _do_fork().
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Callable

from forklab.engine.flags import FLAGS, names_of
from forklab.host.machine import machine

UNCHANGED = "unchanged"


def _v(short: str) -> int:
    return FLAGS["CLONE_" + short].value


@dataclass(frozen=True)
class Fix:
    """A change to an experiment: flags to add and remove, and maybe another exit signal."""
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    exit_signal: str | None = UNCHANGED  # type: ignore[assignment]
    primitive: str | None = None

    def apply_to_mask(self, mask: int) -> int:
        for name in self.add:
            mask |= FLAGS[name].value
        for name in self.remove:
            mask &= ~FLAGS[name].value
        return mask

    def then(self, other: "Fix") -> "Fix":
        add = [n for n in self.add if n not in other.remove] + [n for n in other.add if n not in self.add]
        remove = [n for n in self.remove if n not in other.add] + [n for n in other.remove if n not in self.remove]
        return Fix(tuple(add), tuple(remove),
                   other.exit_signal if other.exit_signal != UNCHANGED else self.exit_signal,
                   other.primitive or self.primitive)

    def __str__(self) -> str:
        parts = []
        if self.add:
            parts.append("add " + " and ".join(self.add))
        if self.remove:
            parts.append("remove " + " and ".join(self.remove))
        if self.exit_signal != UNCHANGED:
            parts.append("use exit signal " + (self.exit_signal or "0 (None)"))
        if self.primitive:
            parts.append(f"use {self.primitive}() instead")
        return ", ".join(parts) or "no change"


@dataclass(frozen=True)
class Rule:
    name: str
    errno: int
    applies: Callable[[int, str, str | None], bool]     # (mask, primitive, exit_signal)
    reason: str
    fix: Callable[[int], Fix | None]
    since: str = ""        # kernel version from which the rule holds ("" = always, as far as forklab teaches)
    until: tuple[int, int] | None = None   # kernel version that dropped the rule


def _has(mask: int, *shorts: str) -> bool:
    return all(mask & _v(s) for s in shorts)


EINVAL_RULES: tuple[Rule, ...] = (
    # clone3() only: clone3_args_valid(), before kernel_clone() is even called
    Rule("clone3: DETACHED", errno.EINVAL, lambda m, p, s: p == "clone3" and _has(m, "DETACHED"),
         "clone3() refuses CLONE_DETACHED outright: the flag has had no effect since Linux 2.6.0, and clone3() "
         "keeps its bit free for a new meaning (clone() still ignores it).",
         lambda m: Fix(remove=("CLONE_DETACHED",))),
    Rule("clone3: NEWTIME (before 6.3)", errno.EINVAL, lambda m, p, s: p == "clone3" and _has(m, "NEWTIME"),
         "Before Linux 6.3 clone3() refused CLONE_NEWTIME: its bit (0x80) lies in the low byte that clone() "
         "uses for the exit signal, and clone3() rejected every flag there. unshare(CLONE_NEWTIME) works since "
         "5.6: the caller's next children start in the new time namespace (some stable kernels got the 6.3 fix).",
         lambda m: Fix(remove=("CLONE_NEWTIME",)), until=(6, 3)),
    Rule("clone3: CLEAR_SIGHAND with SIGHAND", errno.EINVAL,
         lambda m, p, s: p == "clone3" and _has(m, "CLEAR_SIGHAND", "SIGHAND"),
         "CLONE_CLEAR_SIGHAND resets the child's handlers, which cannot be done to a table it shares.",
         lambda m: Fix(remove=("CLONE_CLEAR_SIGHAND",))),
    Rule("clone3: exit signal with THREAD or PARENT", errno.EINVAL,
         lambda m, p, s: p == "clone3" and s is not None and (_has(m, "THREAD") or _has(m, "PARENT")),
         "clone3() refuses an exit signal for a CLONE_THREAD or CLONE_PARENT child: a thread sends "
         "none, and a sibling's would go to a parent that did not ask for it (clone() silently ignores it).",
         lambda m: Fix(exit_signal=None)),
    # kernel_clone() (_do_fork() 5.3-5.9), before copy_process(): for clone(), pidfd and parent_tid are one argument
    Rule("clone(): PIDFD with PARENT_SETTID", errno.EINVAL,
         lambda m, p, s: p == "clone" and _has(m, "PIDFD", "PARENT_SETTID"),
         "In clone() both CLONE_PIDFD and CLONE_PARENT_SETTID write into the same argument (ptid); "
         "clone3() gives each its own field.",
         lambda m: Fix(remove=("CLONE_PARENT_SETTID",)), since="5.3"),
    # copy_process(), its first checks, in its order
    Rule("NEWNS with FS", errno.EINVAL, lambda m, p, s: _has(m, "NEWNS", "FS"),
         "A child in a new mount namespace cannot share its working directory and root (CLONE_FS) "
         "with a parent that sees a different mount table.",
         lambda m: Fix(remove=("CLONE_FS",))),
    Rule("NEWUSER with FS", errno.EINVAL, lambda m, p, s: _has(m, "NEWUSER", "FS"),
         "A child in a new user namespace cannot share filesystem information (CLONE_FS) with a parent "
         "outside it: the root directory would cross the namespace's privilege boundary.",
         lambda m: Fix(remove=("CLONE_FS",))),
    Rule("THREAD needs SIGHAND", errno.EINVAL, lambda m, p, s: _has(m, "THREAD") and not _has(m, "SIGHAND"),
         "Threads of one process share its signal handlers, so CLONE_THREAD needs CLONE_SIGHAND "
         "(which in turn needs CLONE_VM).",
         lambda m: Fix(add=("CLONE_SIGHAND",) + (() if _has(m, "VM") else ("CLONE_VM",)))),
    Rule("SIGHAND needs VM", errno.EINVAL, lambda m, p, s: _has(m, "SIGHAND") and not _has(m, "VM"),
         "Shared signal handlers are addresses of functions in memory, so CLONE_SIGHAND needs the "
         "memory to be shared too (CLONE_VM).",
         lambda m: Fix(add=("CLONE_VM",))),
    Rule("THREAD with NEWUSER or NEWPID", errno.EINVAL,
         lambda m, p, s: _has(m, "THREAD") and (_has(m, "NEWUSER") or _has(m, "NEWPID")),
         "A thread must stay in its process's user and PID namespaces: only a new process can enter "
         "new ones.",
         lambda m: Fix(remove=tuple(n for n in ("CLONE_NEWUSER", "CLONE_NEWPID") if m & FLAGS[n].value))),
    Rule("PIDFD with DETACHED", errno.EINVAL, lambda m, p, s: _has(m, "PIDFD", "DETACHED"),
         "CLONE_DETACHED is a leftover the kernel ignores, but it refuses it next to CLONE_PIDFD "
         "so the bit can be given a new meaning one day.",
         lambda m: Fix(remove=("CLONE_DETACHED",)), since="5.2"),
    Rule("PIDFD with PARENT_SETTID (Linux 5.2)", errno.EINVAL,
         lambda m, p, s: p == "clone" and _has(m, "PIDFD", "PARENT_SETTID"),
         "In clone() both CLONE_PIDFD and CLONE_PARENT_SETTID write into the same argument (ptid); "
         "Linux 5.2's copy_process() refuses the pair here, after its other first checks (from 5.3 "
         "the check comes before copy_process(), and clone3() gives each its own field).",
         lambda m: Fix(remove=("CLONE_PARENT_SETTID",)), since="5.2", until=(5, 3)),
    Rule("PIDFD with THREAD (before 6.9)", errno.EINVAL, lambda m, p, s: _has(m, "PIDFD", "THREAD"),
         "Before Linux 6.9 a pidfd could only refer to a whole process, not to a thread.",
         lambda m: Fix(remove=("CLONE_PIDFD",)), since="5.2", until=(6, 9)),
    # copy_namespaces(), called by copy_process() much later (after the CAP_SYS_ADMIN check: EPERM first)
    Rule("NEWIPC with SYSVSEM", errno.EINVAL, lambda m, p, s: _has(m, "NEWIPC", "SYSVSEM"),
         "A child in a new IPC namespace cannot share a semaphore undo list that refers to the old "
         "namespace's semaphores.",
         lambda m: Fix(remove=("CLONE_SYSVSEM",))),
)

PRIVILEGED_NS = tuple(f.name for f in FLAGS.values() if f.privileged)


def _kernel_version() -> tuple[int, int]:
    return machine().kernel[:2]


def einval_rule(mask: int, primitive: str, exit_signal: str | None,
                kernel: tuple[int, int] | None = None) -> Rule | None:
    """The first EINVAL rule this request breaks, or None."""
    kernel = kernel or _kernel_version()
    for rule in EINVAL_RULES:
        if rule.until and kernel >= rule.until:
            continue
        if rule.since and kernel < tuple(int(x) for x in rule.since.split(".")[:2]):
            continue          # a kernel older than the rule ignores the flag (CLONE_PIDFD before 5.2)
        if rule.applies(mask, primitive, exit_signal):
            return rule
    return None


def fix_for(mask: int, primitive: str, exit_signal: str | None, *, privileged: bool,
            kernel: tuple[int, int] | None = None) -> Fix | None:
    """The smallest change that leaves no known rule broken (None if nothing can be done)."""
    fix = Fix()
    signal = exit_signal
    for _ in range(8):
        current = fix.apply_to_mask(mask)
        if not privileged and not current & FLAGS["CLONE_NEWUSER"].value and any(
                current & FLAGS[n].value for n in PRIVILEGED_NS):
            fix = fix.then(Fix(add=("CLONE_NEWUSER",)))
            continue
        rule = einval_rule(current, primitive, signal, kernel)
        if rule is None:
            return fix if fix != Fix() else None
        step = rule.fix(current)
        if step is None:
            return None
        fix = fix.then(step)
        if step.exit_signal != UNCHANGED:
            signal = step.exit_signal
    return None


# --- what the platform adds to the kernel's own rules ------------------------------------------

@dataclass(frozen=True)
class Confinement:
    """What, beside the kernel's own rules, can refuse an experiment in this process."""
    seccomp_filter: bool                # /proc/self/status "Seccomp: 2": a filter (Docker, Kubernetes, ...)
    kernel: tuple[int, int]
    userns_sysctl: str | None = None    # a setting that forbids unprivileged user namespaces, if one does


def confinement() -> Confinement:
    """This process's confinement: its seccomp mode, the kernel version, user-namespace settings (forklab.host.machine)."""
    m = machine()
    return Confinement(m.seccomp_filter, m.kernel[:2], m.userns_sysctl)


UNCONFINED_HINT = ("Docker's default seccomp profile (and Kubernetes' RuntimeDefault) refuses namespace flags; run the "
                   "container with "
                   "--security-opt seccomp=unconfined (Docker) or securityContext.seccompProfile.type: Unconfined "
                   "(Kubernetes) to allow them")
_FILTER = "this process's seccomp filter (Seccomp: 2 in /proc/self/status)"


def _version(kernel: tuple[int, int]) -> str:
    return ".".join(map(str, kernel))


def platform_rule(err: int, mask: int, primitive: str, *, privileged: bool,
                  conf: Confinement | None = None) -> str | None:
    """Why the platform - not the kernel's own rules - refused this call, or None if it was the kernel's rule.

    EPERM for a namespace flag while holding CAP_SYS_ADMIN, or for CLONE_NEWUSER (which needs no
    privilege), comes from a seccomp filter, a sysctl or a security module; ENOSYS means a kernel that
    lacks the call, or a filter that answers as if it did.
    """
    conf = conf or confinement()
    if err == errno.ENOSYS:
        if primitive == "clone3":
            if conf.kernel < (5, 3):
                return f"this kernel (Linux {_version(conf.kernel)}) is older than 5.3, which added clone3()"
            if conf.seccomp_filter:
                return (f"this kernel (Linux {_version(conf.kernel)}) has clone3(), but {_FILTER} answers ENOSYS "
                        "in its place: Docker's default profile (and Kubernetes' RuntimeDefault) does that on purpose, so that "
                        "glibc falls back to clone()")
            return ("the kernel is older than 5.3, or a container's seccomp filter blocks it (Docker's default "
                    "profile answers ENOSYS so that glibc falls back to clone())")
        return f"the system call behind {primitive}() is missing here (ENOSYS)"
    if err != errno.EPERM:
        return None
    namespaces = [n for n in names_of(mask) if n in PRIVILEGED_NS or n == "CLONE_NEWUSER"]
    if mask & FLAGS["CLONE_NEWUSER"].value:
        if conf.seccomp_filter:
            return ("creating a user namespace needs no privilege, so the kernel's own rules allow it; the refusal "
                    f"comes from {_FILTER}. {UNCONFINED_HINT}")
        if conf.userns_sysctl:
            return ("creating a user namespace needs no privilege, but this machine forbids it to unprivileged "
                    f"processes ({conf.userns_sysctl})")
        return ("this machine does not let this process create a user namespace: a container's seccomp profile "
                "(Docker's default refuses it), a sysctl such as kernel.unprivileged_userns_clone=0 or Ubuntu's "
                "AppArmor restriction (kernel.apparmor_restrict_unprivileged_userns) can forbid it")
    if privileged and namespaces:
        need = "needs" if len(namespaces) == 1 else "need"
        return (f"this process has CAP_SYS_ADMIN, which is all {' and '.join(namespaces)} {need}, so the refusal "
                + (f"comes from {_FILTER}. {UNCONFINED_HINT}" if conf.seccomp_filter else
                   "comes from a security module (AppArmor, SELinux) or the container runtime's policy"))
    return None


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def explain(err: int, mask: int, primitive: str, exit_signal: str | None, *, privileged: bool,
            kernel: tuple[int, int] | None = None,
            conf: Confinement | None = None) -> tuple[str, Fix | None, str | None]:
    """(reason, fix, rule name) for a refusal the kernel returned.

    ``conf`` is the platform to explain for (default: this process's, read from /proc).
    """
    def fix() -> Fix | None:
        return fix_for(mask, primitive, exit_signal, privileged=privileged, kernel=kernel)

    if err == errno.EINVAL:
        rule = einval_rule(mask, primitive, exit_signal, kernel)
        if rule:
            return rule.reason, fix(), rule.name
        return ("The kernel found these flags invalid, by a rule forklab does not know for "
                f"Linux {'.'.join(map(str, kernel or _kernel_version()))}. Try removing flags one at a "
                "time to find it.", None, None)
    if err in (errno.EPERM, errno.ENOSYS):
        conf = conf or confinement()
        forbidden = platform_rule(err, mask, primitive, privileged=privileged, conf=conf)
    if err == errno.EPERM:
        wanted = [n for n in names_of(mask) if n in PRIVILEGED_NS]
        if mask & FLAGS["CLONE_NEWUSER"].value:
            return _sentence(forbidden), None, "user namespaces forbidden here"
        if wanted and forbidden:
            return _sentence(forbidden), None, "namespaces forbidden here"
        if wanted:
            also = (" This process also runs under a seccomp filter (Seccomp: 2 in /proc/self/status), as in a "
                    "Docker or Kubernetes container, whose "
                    "default profile refuses every namespace flag: if the fix is refused too, that is why."
                    if conf.seccomp_filter else "")
            return (f"{' and '.join(wanted)} need{'s' if len(wanted) == 1 else ''} CAP_SYS_ADMIN, which this "
                    "process does not have. A new user namespace gives the child that capability "
                    "inside it, so the same call with CLONE_NEWUSER works without privilege." + also,
                    fix(), "namespaces need CAP_SYS_ADMIN")
        return ("The kernel refused permission (EPERM)"
                + (f": {_FILTER} can do that." if conf.seccomp_filter else ", for example a seccomp filter of a container."),
                None, None)
    if err == errno.ENOSYS:
        if primitive == "clone3":
            clone_can = not any(FLAGS[n].clone3_only for n in names_of(mask))
            return (f"clone3() is not available: {forbidden}."
                    + ("" if clone_can else " Its flags " + " and ".join(n for n in names_of(mask) if FLAGS[n].clone3_only)
                       + " exist only for clone3(), so clone() cannot stand in."),
                    Fix(primitive="clone") if clone_can else None, "no clone3")
        return (_sentence(forbidden), None, None)
    if err == errno.ENOSPC:
        return ("A limit on namespaces was reached (/proc/sys/user/max_*_namespaces) or the PID "
                "namespace nesting is too deep.", None, "namespace limit")
    if err == errno.EUSERS:
        return ("Too many nested user namespaces (before Linux 4.9 this was reported as EUSERS).",
                None, "namespace limit")
    if err in (errno.EAGAIN, errno.ENOMEM):
        return ("The kernel could not create another task right now: too many processes "
                "(RLIMIT_NPROC, pids cgroup) or not enough memory.", None, "resources")
    return (f"The kernel refused with {errno.errorcode.get(err, err)}.", None, None)

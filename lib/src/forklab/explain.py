"""Why the kernel refused a clone, in plain words, and the smallest change that fixes it.

The refusal itself always comes from the running kernel; this module only names the rule.
The EINVAL rules are checked in the order kernel/fork.c checks them (copy_process() and, for
clone3, clone3_args_valid()), so the first rule that matches is the one the kernel hit.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Callable

from .flags import FLAGS, names_of

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
         lambda m: Fix(remove=("CLONE_DETACHED",))),
    Rule("PIDFD with THREAD (before 6.9)", errno.EINVAL, lambda m, p, s: _has(m, "PIDFD", "THREAD"),
         "Before Linux 6.9 a pidfd could only refer to a whole process, not to a thread.",
         lambda m: Fix(remove=("CLONE_PIDFD",)), until=(6, 9)),
    Rule("clone(): PIDFD with PARENT_SETTID", errno.EINVAL,
         lambda m, p, s: p == "clone" and _has(m, "PIDFD", "PARENT_SETTID"),
         "In clone() both CLONE_PIDFD and CLONE_PARENT_SETTID write into the same argument (ptid); "
         "clone3() gives each its own field.",
         lambda m: Fix(remove=("CLONE_PARENT_SETTID",))),
    Rule("clone3: exit signal with THREAD or PARENT", errno.EINVAL,
         lambda m, p, s: p == "clone3" and s is not None and (_has(m, "THREAD") or _has(m, "PARENT")),
         "clone3() refuses an exit signal for a CLONE_THREAD or CLONE_PARENT child: a thread sends "
         "none, and a sibling's would go to a parent that did not ask for it (clone() silently ignores it).",
         lambda m: Fix(exit_signal=None)),
    Rule("clone3: CLEAR_SIGHAND with SIGHAND", errno.EINVAL,
         lambda m, p, s: p == "clone3" and _has(m, "CLEAR_SIGHAND", "SIGHAND"),
         "CLONE_CLEAR_SIGHAND resets the child's handlers, which cannot be done to a table it shares.",
         lambda m: Fix(remove=("CLONE_CLEAR_SIGHAND",))),
    Rule("NEWIPC with SYSVSEM", errno.EINVAL, lambda m, p, s: _has(m, "NEWIPC", "SYSVSEM"),
         "A child in a new IPC namespace cannot share a semaphore undo list that refers to the old "
         "namespace's semaphores.",
         lambda m: Fix(remove=("CLONE_SYSVSEM",))),
)

PRIVILEGED_NS = tuple(f.name for f in FLAGS.values() if f.privileged)


def _kernel_version() -> tuple[int, int]:
    import os
    import re
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def einval_rule(mask: int, primitive: str, exit_signal: str | None,
                kernel: tuple[int, int] | None = None) -> Rule | None:
    """The first EINVAL rule this request breaks, or None."""
    kernel = kernel or _kernel_version()
    for rule in EINVAL_RULES:
        if rule.until and kernel >= rule.until:
            continue
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


def explain(err: int, mask: int, primitive: str, exit_signal: str | None, *, privileged: bool,
            kernel: tuple[int, int] | None = None) -> tuple[str, Fix | None, str | None]:
    """(reason, fix, rule name) for a refusal the kernel returned."""
    def fix() -> Fix | None:
        return fix_for(mask, primitive, exit_signal, privileged=privileged, kernel=kernel)

    if err == errno.EINVAL:
        rule = einval_rule(mask, primitive, exit_signal, kernel)
        if rule:
            return rule.reason, fix(), rule.name
        return ("The kernel found these flags invalid, by a rule forklab does not know for "
                f"Linux {'.'.join(map(str, kernel or _kernel_version()))}. Try removing flags one at a "
                "time to find it.", None, None)
    if err == errno.EPERM:
        wanted = [n for n in names_of(mask) if n in PRIVILEGED_NS]
        if wanted and not mask & FLAGS["CLONE_NEWUSER"].value:
            return (f"{' and '.join(wanted)} need{'s' if len(wanted) == 1 else ''} CAP_SYS_ADMIN, which this "
                    "process does not have. A new user namespace gives the child that capability "
                    "inside it, so the same call with CLONE_NEWUSER works without privilege.",
                    fix(), "namespaces need CAP_SYS_ADMIN")
        if mask & FLAGS["CLONE_NEWUSER"].value:
            return ("This machine does not let this process create a user namespace: a container's "
                    "seccomp profile (Docker's default refuses it), a sysctl such as "
                    "kernel.unprivileged_userns_clone=0 or Ubuntu's AppArmor restriction "
                    "(kernel.apparmor_restrict_unprivileged_userns) can forbid it.",
                    None, "user namespaces forbidden here")
        return ("The kernel refused permission (EPERM), for example a seccomp filter of a container.",
                None, None)
    if err == errno.ENOSYS:
        if primitive == "clone3":
            return ("clone3() is not available: the kernel is older than 5.3, or a container's seccomp "
                    "filter blocks it (Docker's default profile answers ENOSYS so that glibc falls back "
                    "to clone()).", Fix(primitive="clone"), "no clone3")
        return ("The system call is not available here (ENOSYS).", None, None)
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

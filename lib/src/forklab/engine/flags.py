"""Every CLONE_* flag: its value, what it shares or creates, when it came, who may use it.

Values are Linux's UAPI constants (include/uapi/linux/sched.h); "since" is the kernel version
that added the flag, as clone(2) records it. Nothing here is a verdict: what the flags *do* is
always measured by ``forklab.run``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Flag:
    name: str                 # "CLONE_VM"
    value: int
    group: str                # sharing / process / namespace / bookkeeping / other
    does: str                 # what it shares or creates, in one sentence
    since: str                # kernel version that added it
    privileged: bool = False  # needs CAP_SYS_ADMIN (unless CLONE_NEWUSER is in the same call)
    resource: str | None = None   # the Observation resource it controls
    rules: tuple[str, ...] = ()   # what the kernel demands of it, in words
    clone3_only: bool = False
    runnable: bool = True         # forklab can try it
    not_runnable_why: str = ""

    @property
    def short(self) -> str:
        return self.name.removeprefix("CLONE_")

    def __str__(self) -> str:
        return self.name


def _f(*args, **kw) -> Flag:
    return Flag(*args, **kw)


_ALL = [
    # --- what parent and child share (when the flag is absent: copied - or, for the undo list and the
    #     I/O context, made new for the child: see verdicts.WORDS)
    _f("CLONE_VM", 0x00000100, "sharing", "share the address space: a write by one is seen by the other",
       "2.0", resource="memory"),
    _f("CLONE_FS", 0x00000200, "sharing", "share filesystem information: working directory, root and umask",
       "2.0", resource="fs", rules=("not with CLONE_NEWNS", "not with CLONE_NEWUSER")),
    _f("CLONE_FILES", 0x00000400, "sharing",
       "share the file descriptor table: an fd opened or closed by one is opened or closed for both",
       "2.0", resource="fd_table"),
    _f("CLONE_SIGHAND", 0x00000800, "sharing", "share the table of signal handlers (dispositions)",
       "2.0", resource="signal_handlers", rules=("needs CLONE_VM (since 2.6.0)",)),
    _f("CLONE_SYSVSEM", 0x00040000, "sharing",
       "share the System V semaphore undo list (semadj): undone only when both have exited "
       "(without it the child starts with a new, empty one)",
       "2.5.10", resource="sysvsem_undo", rules=("not with CLONE_NEWIPC",)),
    _f("CLONE_IO", 0x80000000, "sharing", "share the I/O context (and with it the I/O priority; without it "
       "the child gets a new context that carries only the parent's priority)",
       "2.6.25", resource="io_context"),
    # --- where the child stands among processes
    _f("CLONE_THREAD", 0x00010000, "process",
       "put the child in the caller's thread group: same PID (TGID), a thread rather than a process",
       "2.4.0", resource="thread_group",
       rules=("needs CLONE_SIGHAND (since 2.6.0)", "not with CLONE_NEWUSER or CLONE_NEWPID",
              "clone3: exit signal must be 0")),
    _f("CLONE_PARENT", 0x00008000, "process",
       "give the child the caller's parent instead of the caller: it becomes the caller's sibling",
       "2.3.12", resource="parent", rules=("clone3: exit signal must be 0",
                                           "not from the init process of a PID namespace")),
    _f("CLONE_VFORK", 0x00004000, "process",
       "suspend the caller until the child exits or calls execve (what vfork() does)", "2.2"),
    # --- namespaces: the child gets a new one (shared with the parent when absent)
    _f("CLONE_NEWUTS", 0x04000000, "namespace", "new UTS namespace: its own hostname and domain name",
       "2.6.19", privileged=True, resource="uts_ns"),
    _f("CLONE_NEWPID", 0x20000000, "namespace", "new PID namespace: the child is PID 1 in it",
       "2.6.24", privileged=True, resource="pid_ns", rules=("not with CLONE_THREAD",)),
    _f("CLONE_NEWNS", 0x00020000, "namespace", "new mount namespace: its own mount table",
       "2.4.19", privileged=True, resource="mnt_ns", rules=("not with CLONE_FS",)),
    _f("CLONE_NEWNET", 0x40000000, "namespace", "new network namespace: its own interfaces (only lo), routes, ports",
       "2.6.24", privileged=True, resource="net_ns"),
    _f("CLONE_NEWIPC", 0x08000000, "namespace",
       "new IPC namespace: its own System V IPC objects and POSIX message queues",
       "2.6.19", privileged=True, resource="ipc_ns", rules=("not with CLONE_SYSVSEM",)),
    _f("CLONE_NEWUSER", 0x10000000, "namespace",
       "new user namespace: its own uids and capabilities (unprivileged since 3.8)",
       "2.6.23", resource="user_ns", rules=("not with CLONE_FS", "not with CLONE_THREAD")),
    _f("CLONE_NEWCGROUP", 0x02000000, "namespace", "new cgroup namespace: its own view of the cgroup tree",
       "4.6", privileged=True, resource="cgroup_ns"),
    # --- bookkeeping: where the kernel writes ids, and how the caller waits
    _f("CLONE_PIDFD", 0x00001000, "bookkeeping", "return a pidfd for the child (a file descriptor that refers to it)",
       "5.2", rules=("not with CLONE_DETACHED", "clone(): not with CLONE_PARENT_SETTID (they share an argument)")),
    _f("CLONE_PARENT_SETTID", 0x00100000, "bookkeeping",
       "write the child's TID into the parent's memory before clone returns", "2.5.49"),
    _f("CLONE_CHILD_SETTID", 0x01000000, "bookkeeping", "write the child's TID into the child's memory", "2.5.49"),
    _f("CLONE_CHILD_CLEARTID", 0x00200000, "bookkeeping",
       "zero the child's TID word and wake futex waiters when the child exits (how pthread_join waits)",
       "2.5.49"),
    # --- the rest
    _f("CLONE_SETTLS", 0x00080000, "other", "give the child its own thread-local storage block", "2.5.32",
       runnable=False,
       not_runnable_why="the child would need a thread-local storage block of its own, which only a "
                        "threads library (NPTL) can build; forklab's C child uses its parent's"),
    _f("CLONE_PTRACE", 0x00002000, "other", "if the caller is being traced, trace the child too", "2.2"),
    _f("CLONE_UNTRACED", 0x00800000, "other", "a tracer cannot force CLONE_PTRACE on this child", "2.5.46"),
    _f("CLONE_DETACHED", 0x00400000, "other",
       "historical: no effect since 2.6.0 (from 2.6.2 no longer needed next to CLONE_THREAD); "
       "refused with CLONE_PIDFD, and by clone3()", "2.5.32"),
    _f("CLONE_NEWTIME", 0x00000080, "namespace", "new time namespace (unshare since 5.6; clone3 since 6.3)", "5.6",
       privileged=True, clone3_only=True),
    _f("CLONE_CLEAR_SIGHAND", 0x100000000, "other",
       "reset the child's signal handlers to default (clone3 only)", "5.5", clone3_only=True,
       rules=("not with CLONE_SIGHAND",)),
    _f("CLONE_INTO_CGROUP", 0x200000000, "other", "start the child in another cgroup (clone3 only)", "5.7",
       clone3_only=True, runnable=False,
       not_runnable_why="it needs a cgroup directory to put the child in, which forklab does not create"),
]

#: Every CLONE_* flag by full name: ``FLAGS["CLONE_VM"].value == 0x100``.
FLAGS: dict[str, Flag] = {f.name: f for f in _ALL}

#: The low byte of clone()'s flags is the exit signal, not a flag.
CSIGNAL = 0xFF

GROUPS = ("sharing", "process", "namespace", "bookkeeping", "other")


def flag_named(name: str) -> Flag:
    """``"CLONE_VM"``, ``"VM"`` or ``"vm"`` -> the Flag; anything else -> ValueError naming the choices."""
    if not isinstance(name, str):
        raise TypeError(f"a flag name must be a string like 'CLONE_VM', not {type(name).__name__}")
    if not name.isascii():
        # str.upper() maps some letters of other alphabets onto ASCII ('ı'.upper() == 'I'): a name that
        # only looks like a flag must not become one.
        odd = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in dict.fromkeys(name) if not ch.isascii())
        raise ValueError(f"unknown clone flag {name!r}: it contains {odd}, which is not a plain ASCII letter; "
                         f"flag names are written in ASCII, like 'CLONE_FILES'")
    key = name.strip().upper()
    if not key.startswith("CLONE_"):
        key = "CLONE_" + key
    try:
        return FLAGS[key]
    except KeyError:
        choices = ", ".join(f.short for f in _ALL)
        raise ValueError(f"unknown clone flag {name!r}; valid flags are: {choices}") from None


def parse_flags(flags: Iterable[str] | int | str | None) -> int:
    """Flag names (an iterable, or one name) or an int mask -> an int mask of known flags."""
    if flags is None:
        return 0
    if isinstance(flags, bool):
        raise TypeError("flags must be flag names or an int mask, not a bool")
    if isinstance(flags, int):
        if flags < 0:
            raise ValueError(f"a flag mask cannot be negative: {flags}")
        if flags & CSIGNAL and flags & CSIGNAL != FLAGS["CLONE_NEWTIME"].value:
            raise ValueError(
                f"the low byte of the mask ({flags & CSIGNAL:#x}) is clone()'s exit signal, not a flag: "
                "pass the exit signal as exit_signal='SIGCHLD' or None")
        known = 0
        for f in _ALL:
            known |= f.value
        if flags & ~known:
            raise ValueError(f"unknown bits in the flag mask: {flags & ~known:#x}")
        return flags
    if isinstance(flags, str):
        flags = [flags]
    elif not isinstance(flags, (list, tuple, set, frozenset)) and not _is_iterable(flags):
        raise TypeError(f"flags must be flag names like ['CLONE_VM', 'CLONE_FILES'] or an int mask, "
                        f"not {type(flags).__name__} {flags!r}")
    mask = 0
    for name in flags:
        mask |= flag_named(name).value
    return mask


def _is_iterable(x) -> bool:
    try:
        iter(x)
    except TypeError:
        return False
    return not isinstance(x, (bytes, bytearray, dict))


def names_of(mask: int) -> tuple[str, ...]:
    """An int mask -> the flag names in it, in FLAGS order."""
    return tuple(f.name for f in _ALL if mask & f.value == f.value)


def c_expression(mask: int, exit_signal: str | None = "SIGCHLD") -> str:
    """``CLONE_VM | CLONE_FILES | SIGCHLD`` - the flags argument as C source."""
    parts = list(names_of(mask))
    if exit_signal:
        parts.append(exit_signal)
    return " | ".join(parts) if parts else "0"

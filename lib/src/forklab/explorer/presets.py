"""Presets: the flag sets that real programs pass to the kernel, each naming where it comes from.

A preset is what some library or program really asks ``clone`` for, translated into an experiment
forklab can run. Where the real call uses something forklab refuses (CLONE_SETTLS, an exit signal
other than SIGCHLD), the preset runs without it and ``.why_different`` says what was left out and why.

The glibc rows were checked with strace on Debian 12 (glibc 2.36, Linux 6.18):

    clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, ...)      fork()
    vfork()                                                                                  vfork()
    clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=..., stack_size=0x9000})  posix_spawn()
    clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|
            CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, exit_signal=0, ...})      pthread_create()
"""
from __future__ import annotations

from dataclasses import dataclass

from forklab.engine.flags import FLAGS, flag_named


@dataclass(frozen=True)
class Preset:
    name: str                          # the key: "fork", "pthread_create", ...
    label: str                         # what a button says
    source: str                        # where the flag set comes from, and how we know
    primitive: str                     # what forklab runs
    flags: tuple[str, ...]             # what forklab runs (full names)
    exit_signal: str | None = "SIGCHLD"
    real_flags: tuple[str, ...] | None = None   # what the source passes, when that differs from .flags
    real_exit_signal: str | None = "SIGCHLD"
    why_different: str = ""            # why forklab runs something else than the source

    @property
    def real_call(self) -> str:
        """The source's flags argument as C (what strace or the source code shows)."""
        flags = list(self.real_flags if self.real_flags is not None else self.flags)
        if self.real_exit_signal:
            flags.append(self.real_exit_signal)
        return " | ".join(flags) if flags else "0"


def _full(*shorts: str) -> tuple[str, ...]:
    names = [flag_named(s).name for s in shorts]
    return tuple(n for n in FLAGS if n in names)     # FLAGS order, as Observation.flags has it


_SETTLS_WHY = FLAGS["CLONE_SETTLS"].not_runnable_why

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("fork", "fork()",
           "glibc's fork() (2.36, seen with strace): clone(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | "
           "SIGCHLD) - the kernel writes the child's TID into the child's copy of its thread descriptor "
           "and clears it when the child ends",
           "clone", _full("CHILD_SETTID", "CHILD_CLEARTID")),
    Preset("vfork", "vfork()",
           "vfork(): glibc calls the vfork system call (strace shows vfork()), which the kernel runs as "
           "clone with CLONE_VM | CLONE_VFORK and exit signal SIGCHLD (kernel/fork.c)",
           "clone", _full("VM", "VFORK")),
    Preset("posix_spawn", "posix_spawn()",
           "glibc's posix_spawn() (2.36, seen with strace): clone3 with CLONE_VM | CLONE_VFORK, exit "
           "signal SIGCHLD and a small stack of its own (Python's subprocess uses vfork() instead)",
           "clone3", _full("VM", "VFORK")),
    Preset("pthread_create", "pthread_create()",
           "NPTL's pthread_create() (glibc 2.36, seen with strace): clone3 with CLONE_VM | CLONE_FS | "
           "CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS | "
           "CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID and exit signal 0",
           "clone3", _full("VM", "FS", "FILES", "SIGHAND", "THREAD", "SYSVSEM", "PARENT_SETTID",
                           "CHILD_CLEARTID"),
           exit_signal=None,
           real_flags=_full("VM", "FS", "FILES", "SIGHAND", "THREAD", "SYSVSEM", "SETTLS", "PARENT_SETTID",
                            "CHILD_CLEARTID"),
           real_exit_signal=None,
           why_different=f"forklab runs it without CLONE_SETTLS: {_SETTLS_WHY}"),
    Preset("linuxthreads", "LinuxThreads",
           "LinuxThreads, glibc's threads before NPTL (Linux 2.4 era; manager.c): clone(CLONE_VM | "
           "CLONE_FS | CLONE_FILES | CLONE_SIGHAND | __pthread_sig_cancel) - every thread a process of "
           "its own, with its own PID",
           "clone", _full("VM", "FS", "FILES", "SIGHAND"),
           real_exit_signal="__pthread_sig_cancel",
           why_different="LinuxThreads' exit signal was its own cancel signal (SIGUSR2, later a real-time "
                         "signal), caught by its manager thread; forklab uses SIGCHLD, because that "
                         "signal's default action would kill a Python kernel"),
    Preset("container", "container",
           "the namespaces a rootless container runtime (podman, rootless Docker) gives its first process: "
           "new user, PID, UTS, mount, network and IPC namespaces - what `unshare -Urpuimn --fork` makes",
           "clone", _full("NEWUSER", "NEWPID", "NEWUTS", "NEWNS", "NEWNET", "NEWIPC")),
    Preset("demo_clone", "TLPI demo_clone",
           "TLPI's procexec/demo_clone.c run as `./demo_clone dfsv` (each letter adds a flag: d FILES, "
           "f FS, s SIGHAND, v VM; with no letters the flags are 0)",
           "clone", _full("VM", "FS", "FILES", "SIGHAND"),
           real_exit_signal="SIGUSR1",
           why_different="demo_clone uses SIGUSR1 as the exit signal (CHILD_SIG) and installs a handler for "
                         "it; forklab uses SIGCHLD, because SIGUSR1's default action would kill a Python "
                         "kernel"),
]}


def preset_named(name: str) -> Preset:
    """``"fork"``, ``"fork()"`` or ``"pthread_create"`` -> the Preset; anything else -> ValueError."""
    if isinstance(name, Preset):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a preset name must be a string, not {type(name).__name__}")
    key = name.strip().lower().removesuffix("()").replace(" ", "_").replace("-", "_")
    aliases = {"tlpi": "demo_clone", "tlpi_demo_clone": "demo_clone", "nptl": "pthread_create",
               "pthread": "pthread_create", "thread": "pthread_create"}
    key = aliases.get(key, key)
    try:
        return PRESETS[key]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid presets are: {', '.join(PRESETS)}") from None

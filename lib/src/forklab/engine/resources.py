"""The resource catalogue: every row of the sharing picture, the flag that controls it, and the kcmp
type that can ask the kernel whether parent and child hold the same object."""
from __future__ import annotations

from dataclasses import dataclass


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

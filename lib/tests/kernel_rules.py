"""The kernel's rules for what clone() shares, written out for the tests from the kernel's source -
NOT from forklab's explain.py or anything forklab answers, so a verdict can be checked against them.

Sources (Linux 6.x, kernel/fork.c unless named):
- copy_process(): EINVAL for CLONE_SIGHAND without CLONE_VM, CLONE_THREAD without CLONE_SIGHAND,
  CLONE_NEWNS|CLONE_FS, CLONE_NEWUSER|CLONE_FS, CLONE_THREAD with CLONE_NEWUSER or CLONE_NEWPID;
  CLONE_PARENT or CLONE_THREAD: p->real_parent = current->real_parent (the caller's own parent);
  CLONE_THREAD: p->tgid = current->tgid (same thread group); p->blocked is the caller's mask copied
  into the new task (a mask is per task, never shared).
- kernel/nsproxy.c copy_namespaces(): EINVAL for CLONE_NEWIPC with CLONE_SYSVSEM (the undo list would
  point into a namespace the child can no longer reach).
- clone3_args_valid(): EINVAL for CLONE_THREAD or CLONE_PARENT with a non-zero exit_signal.
- copy_mm (CLONE_VM), copy_files (CLONE_FILES), copy_fs (CLONE_FS), copy_sighand (CLONE_SIGHAND),
  copy_io (CLONE_IO), ipc/sem.c copy_semundo (CLONE_SYSVSEM): the flag shares the object, else the
  child gets its own.
- Open file descriptions: without CLONE_FILES dup_fd() copies the table, but each entry points to the
  same struct file, so a file offset is always shared.
- kernel_clone(): CLONE_VFORK makes the caller wait (wait_for_vfork_done) until the child exits or execs;
  vfork() is clone(CLONE_VM|CLONE_VFORK|SIGCHLD).
"""
import errno

SHARING_FLAG = {"memory": "CLONE_VM", "fd_table": "CLONE_FILES", "fs": "CLONE_FS",
                "signal_handlers": "CLONE_SIGHAND", "sysvsem_undo": "CLONE_SYSVSEM", "io_context": "CLONE_IO"}
NAMESPACE_FLAG = {"uts_ns": "CLONE_NEWUTS", "pid_ns": "CLONE_NEWPID", "mnt_ns": "CLONE_NEWNS",
                  "net_ns": "CLONE_NEWNET", "ipc_ns": "CLONE_NEWIPC", "user_ns": "CLONE_NEWUSER",
                  "cgroup_ns": "CLONE_NEWCGROUP"}


def effective_flags(primitive: str, flags) -> set[str]:
    """The flags the kernel is really called with."""
    if primitive == "fork":
        return set()
    if primitive == "vfork":
        return {"CLONE_VM", "CLONE_VFORK"}
    return {f if f.startswith("CLONE_") else "CLONE_" + f for f in flags}


def refusal(primitive: str, flags, exit_signal: str | None = "SIGCHLD") -> int | None:
    """The errno the kernel answers with (for the flags above, as a user with the rights it needs), or None."""
    f = effective_flags(primitive, flags)
    if "CLONE_SIGHAND" in f and "CLONE_VM" not in f:
        return errno.EINVAL
    if "CLONE_THREAD" in f and "CLONE_SIGHAND" not in f:
        return errno.EINVAL
    if {"CLONE_NEWNS", "CLONE_FS"} <= f or {"CLONE_NEWUSER", "CLONE_FS"} <= f:
        return errno.EINVAL
    if "CLONE_THREAD" in f and f & {"CLONE_NEWUSER", "CLONE_NEWPID"}:
        return errno.EINVAL
    if {"CLONE_NEWIPC", "CLONE_SYSVSEM"} <= f:
        return errno.EINVAL
    if primitive == "clone3" and f & {"CLONE_THREAD", "CLONE_PARENT"} and exit_signal:
        return errno.EINVAL
    return None


def expected_sharing(primitive: str, flags) -> dict[str, bool]:
    """resource -> shared? for an accepted call."""
    f = effective_flags(primitive, flags)
    out = {name: flag in f for name, flag in SHARING_FLAG.items()}
    out["file_offset"] = True
    out["signal_mask"] = False
    out["thread_group"] = "CLONE_THREAD" in f
    out["parent"] = bool(f & {"CLONE_PARENT", "CLONE_THREAD"})
    out.update({name: flag not in f for name, flag in NAMESPACE_FLAG.items()})
    return out


def parent_suspended(primitive: str, flags) -> bool:
    return "CLONE_VFORK" in effective_flags(primitive, flags)


def wrong_verdicts(obs, primitive: str, flags) -> list[str]:
    """The verdicts of obs the kernel's rules contradict ('unknown' is not a verdict, so never wrong here;
    callers that expect every probe to work check obs.unknown themselves)."""
    wrong = []
    for name, shared in expected_sharing(primitive, flags).items():
        v = obs.resources[name]
        if not getattr(v, "unknown", False) and v.shared != shared:
            wrong.append(f"{name}: {v.word} (the kernel's rule says {'shared' if shared else 'not shared'})")
    if obs.parent_was_suspended != parent_suspended(primitive, flags):
        wrong.append(f"parent_was_suspended: {obs.parent_was_suspended}")
    return wrong

"""From the bench's readings to verdicts: for each resource, shared or what the child got instead,
with the evidence the probes left (csrc/probes.h fills the readings, struct fl_result).

``verdicts_from(readings)`` makes every Verdict; ``side_of`` each of the two processes as they saw
themselves; ``kcmp_of`` the kernel's own answers, or why it could not give them.
"""
from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass

from forklab.engine import _core
from forklab.engine.explain import confinement
from forklab.engine.resources import RESOURCES

ffi = _core.ffi


# In the order of fl_result.ns_parent / ns_child (probes.h).
NAMESPACES = ("uts_ns", "pid_ns", "mnt_ns", "net_ns", "ipc_ns", "user_ns", "cgroup_ns")
KCMP_TYPES = ("VM", "FILES", "FS", "SIGHAND", "SYSVSEM", "IO")   # then FILE, used for file_offset

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


def side_of(s) -> Side:
    """A Side from one process's readings (fl_result.parent or .child)."""
    return Side(s.pid, s.tid, s.ppid, s.tgid, s.uid, s.host_pid, s.host_tid, s.host_ppid, s.host_tgid)


def _s(b) -> str:
    return ffi.string(b).decode(errors="replace")


def _kcmp_answer(res, i) -> bool | None:
    return None if res.kcmp[i] < 0 else res.kcmp[i] == 0


def kcmp_of(res) -> tuple[dict[str, bool] | None, str | None]:
    """kcmp's answers from the readings: ({VM/FILES/FS/SIGHAND/SYSVSEM/IO: same object?}, None), or
    (None, why kcmp could not answer)."""
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


def verdicts_from(res) -> dict[str, Verdict]:
    """Every resource's Verdict (in RESOURCES' order) from the readings of one experiment (a struct
    fl_result the bench filled): shared, or what the child got instead, or unknown where a probe failed."""
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

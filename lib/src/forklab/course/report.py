"""forklab.platform_report(): what this machine lets a student try, found by trying it."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from forklab.engine.errors import CloneRefused, ForklabError
from forklab.engine.experiment import run
from forklab.engine.explain import UNCONFINED_HINT
from forklab.host.machine import machine


@dataclass(frozen=True)
class Probe:
    name: str
    works: bool
    detail: str


@dataclass(frozen=True, repr=False)
class PlatformReport:
    kernel: str
    kernel_version: tuple[int, ...]
    machine: str
    uid: int
    root: bool
    cap_sys_admin: bool
    seccomp_filter: bool     # /proc/self/status "Seccomp: 2": a filter such as a container's profile
    threads: int
    probes: tuple[Probe, ...]
    consequences: tuple[str, ...]

    def probe(self, name: str) -> Probe:
        return next(p for p in self.probes if p.name == name)

    @property
    def user_namespaces(self) -> bool:
        return self.probe("user namespaces").works

    @property
    def other_namespaces(self) -> bool:
        return self.probe("other namespaces").works

    @property
    def clone3(self) -> bool:
        return self.probe("clone3").works

    @property
    def kcmp(self) -> bool:
        return self.probe("kcmp").works

    def __str__(self) -> str:
        who = "root" if self.root else f"uid {self.uid} (not root)"
        lines = [f"Linux {self.kernel} on {self.machine}; running as {who}, "
                 f"{'with' if self.cap_sys_admin else 'without'} CAP_SYS_ADMIN"
                 f"{', under a seccomp filter' if self.seccomp_filter else ''}; "
                 f"this Python process has {self.threads} thread{'s' if self.threads != 1 else ''}", ""]
        for p in self.probes:
            lines.append(f"  {'yes' if p.works else 'NO ':<4} {p.name:<17} {p.detail}")
        lines += ["", "What this means for the course:"]
        lines += [f"  - {c}" for c in self.consequences]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def _try(name: str, *args, **kw) -> tuple[Probe, object]:
    try:
        obs = run(*args, **kw)
        return Probe(name, True, "tried: works"), obs
    except CloneRefused as e:
        return Probe(name, False, f"tried: refused with {e.errno_name}. {e.reason}"), None
    except ForklabError as e:
        return Probe(name, False, f"tried: {e}"), None


def platform_report() -> PlatformReport:
    """Try what the course needs (each a sandboxed experiment) and say what it means."""
    m = machine()
    probes = []
    fork_probe, fork_obs = _try("fork", "fork")
    probes.append(fork_probe)
    userns, _ = _try("user namespaces", "clone", ["NEWUSER"])
    probes.append(userns)
    otherns, _ = _try("other namespaces", "clone", ["NEWUTS"])
    if otherns.works:
        otherns = Probe(otherns.name, True, "tried: CLONE_NEWUTS works without CLONE_NEWUSER")
    probes.append(otherns)
    c3, _ = _try("clone3", "clone3")
    probes.append(c3)
    if fork_obs is not None and fork_obs.kcmp is not None:
        probes.append(Probe("kcmp", True, "tried: the kernel answers kcmp(2) for parent and child"))
    else:
        why = fork_obs.kcmp_reason if fork_obs is not None else "no experiment ran"
        probes.append(Probe("kcmp", False, f"tried: {why}"))

    probes += _cell_wall_probes()

    works = {p.name: p.works for p in probes}
    out = []
    if not works["fork"]:
        out.append("experiments cannot run here at all: " + fork_probe.detail)
    else:
        out.append("fork, vfork and clone experiments run in a sandboxed bench process: "
                   "your Python kernel is never forked itself")
    if works["other namespaces"]:
        out.append("namespace flags work directly (this process has CAP_SYS_ADMIN)")
    elif works["user namespaces"]:
        out.append("namespace flags need CLONE_NEWUSER beside them (you are not privileged); "
                   "the course shows you how")
    else:
        why = ("this process's seccomp filter refuses them (" + UNCONFINED_HINT + ")" if m.seccomp_filter
               else f"user namespaces are switched off ({m.userns_sysctl})" if m.userns_sysctl
               else "this machine forbids user namespaces")
        out.append(f"namespace experiments are forbidden here: {why}. Each notebook cell that needs them says "
                   "so and shows the output recorded on a machine that allows them, labelled as such")
    if not works["clone3"]:
        why = (f"this kernel (Linux {'.'.join(map(str, m.kernel[:2]))}) is older than 5.3" if m.kernel < (5, 3)
               else "a seccomp filter answers ENOSYS for it" if m.seccomp_filter else "the kernel answers ENOSYS")
        out.append(f"clone3 is forbidden here ({why}): glibc falls back to clone(), every flag but the "
                   "clone3-only ones works with clone, and cells that need clone3 show a recorded output")
    if not works["kcmp"]:
        out.append("the kernel's second opinion (kcmp) is unavailable; verdicts still come from observation")
    out += _cell_wall_consequences(works)
    if works["user namespaces"]:
        proc_probes, proc_out = _container_proc_probes()
        probes += proc_probes
        out += proc_out
    return PlatformReport(
        kernel=m.kernel_release, kernel_version=m.kernel, machine=m.arch, uid=m.euid,
        root=m.root, cap_sys_admin=m.cap_sys_admin, seccomp_filter=m.seccomp_filter,
        threads=len(os.listdir("/proc/self/task")), probes=tuple(probes), consequences=tuple(out))


# --- what contains a %%c cell's program here (issue 17; forklab/sandbox/containment.py) -------------------
CELL_SIGNAL_SCOPE = "cell signal scope"
CELL_PRIVATE_TMP = "cell own /tmp"
CELL_PID_NAMESPACE = "cell own PIDs"


def _cell_wall_probes() -> list:
    """Start a program under the C cells' supervisor, as a cell's program is, and read which walls
    went up around it."""
    from forklab.sandbox.runner import run_supervised
    try:
        walls = run_supervised(["/bin/true"], timeout=5, max_procs=4, private_tmp=True, pid_namespace=True).walls
    except OSError as e:
        walls = {"error": str(e)}
    scope = walls.get("landlock_signal_scope", False)
    tmp = walls.get("private_tmp_ipc", False)
    pidns = walls.get("pid_namespace", False)
    ptrace = walls.get("landlock_ptrace_scope", False)
    return [Probe(CELL_SIGNAL_SCOPE, scope, "tried: Landlock keeps a cell's signals inside the cell" if scope
                  else "tried: Landlock's signal scope (Linux 6.12) is missing or refused here"
                  + ("; a Landlock domain (Linux 5.13) still keeps ptrace and /proc/PID/mem inside the cell"
                     if ptrace else "")),
            Probe(CELL_PID_NAMESPACE, pidns,
                  ("tried: a cell runs in a PID namespace of its own" + ("" if walls.get("own_proc") else
                   ", but its /proc could not be remounted (it shows the machine's processes)")) if pidns
                  else "tried: a PID namespace for the cell is refused here"
                  + (f" ({walls['pid_namespace_refused']})" if walls.get("pid_namespace_refused") else "")),
            Probe(CELL_PRIVATE_TMP, tmp, "tried: a cell gets its own /tmp, /dev/shm and System V IPC" if tmp
                  else "tried: a mount and IPC namespace for the cell is refused "
                       + (f"({walls['private_tmp_ipc_error']})" if walls.get("private_tmp_ipc_error") else "here"))]


@lru_cache(maxsize=None)
def cell_pidfd_signal_forbidden() -> str | None:
    """Why a C cell's program may not call pidfd_send_signal here (None: it may): where it has neither
    Landlock's signal scope nor a PID namespace of its own, the cell's seccomp filter refuses it."""
    probes = {p.name: p.works for p in _cell_wall_probes()}
    if probes[CELL_SIGNAL_SCOPE] or probes[CELL_PID_NAMESPACE]:
        return None
    return ("a C cell here has neither Landlock's signal scope (Linux 6.12) nor a PID namespace of its own, so "
            "its seccomp filter refuses pidfd_send_signal(): a filter cannot tell a pidfd of the program's own "
            "child from an opened /proc/PID of your Jupyter kernel, which it must never signal")


def _cell_wall_consequences(works: dict) -> list:
    out = []
    if works[CELL_PID_NAMESPACE]:
        out.append("a %%c program runs in a PID namespace of its own, as PID 2 under a small init of the "
                   "course's (PID 1): it sees small pids, its orphans go to that init, /proc shows only the "
                   "cell's processes, and kill(-1, ...) reaches only the cell; your kernel, the bench server and "
                   "your other programs have no pid it could name (%%c --host-pids runs it beside its "
                   "supervisor instead, with the real pids)")
    if works[CELL_SIGNAL_SCOPE]:
        out.append("a %%c program may signal and trace only processes of its own cell (a Landlock scope)"
                   + ("" if works[CELL_PID_NAMESPACE] else ", and kill(-1, ...) is refused")
                   + ": your kernel, the bench server and your other programs are out of reach")
    elif not works[CELL_PID_NAMESPACE]:
        out.append("a %%c program cannot kill, tgkill, ptrace or process_vm_* its supervisor, your Jupyter kernel "
                   "or the bench server by pid, and kill(-1, ...) and pidfd_send_signal are refused (a seccomp "
                   "filter: without Landlock's signal scope, Linux 6.12, it cannot tell a pidfd of the program's "
                   "own child from an opened /proc/PID of your kernel); it can still signal other programs of "
                   "yours by pid, and, where Landlock is missing (Linux before 5.13, or refused by an old "
                   "container profile), write your Jupyter kernel's /proc/PID/mem; elsewhere a Landlock domain "
                   "keeps ptrace and /proc/PID/mem inside the cell")
    if not works[CELL_PID_NAMESPACE]:
        out.append("a %%c program does not run in a PID namespace of its own here: it sees the real pids, and "
                   "its orphans go to its supervisor, a child subreaper (see docs/architecture.md, issue 17)")
    if works[CELL_PRIVATE_TMP]:
        out.append("a %%c program has its own /tmp, /dev/shm and System V IPC: what it leaves there disappears with it")
    else:
        out.append("a %%c program shares /tmp and /dev/shm with you (no mount namespace here): System V shared "
                   "memory it made is removed after the cell, and so are semaphore sets and message queues it "
                   "used; what names no process (files in /dev/shm, an unused set or queue) is removed if "
                   "you made it while the cell ran and nothing holds it open (not for root: see "
                   "docs/architecture.md); a file it writes to a fixed /tmp path stays (its TMPDIR is its own "
                   "folder, which goes with it)")
    return out


# --- what a container's /proc allows ---------------------------------------------------------------------
# Docker, Podman and Kubernetes mount /proc/sys (and /proc/bus, /proc/fs, /proc/irq, /proc/sysrq-trigger)
# read-only in a container and cover /proc/kcore, /proc/keys, /proc/timer_list, ... with /dev/null or an
# empty tmpfs (moby's oci/defaults.go: ReadonlyPaths, MaskedPaths). Even where namespaces are allowed
# (seccomp=unconfined), that forbids two things the course's programs do in a PID namespace of their own:
# writing /proc/sys/kernel/ns_last_pid (EROFS: the mount is read-only) and mounting a fresh procfs (EPERM:
# in a user namespace the kernel refuses a procfs unless one already mounted is fully visible, with nothing
# mounted over it but on permanently empty directories - fs/namespace.c, mount_too_revealing() and
# mnt_already_visible(); the read-only bind mounts alone already hide parts of it, the masks too).
# forklab.host.machine tries exactly that (machine_probe.py, a throw-away Python process: new user + PID + mount
# namespaces, the attempt made by PID 1 there - ns_last_pid belongs to the writer's PID namespace), nothing
# seen outside.

UNMASK_HINT = ("`docker run --security-opt systempaths=unconfined` (Podman: --security-opt unmask=ALL; "
               "Kubernetes: securityContext.procMount: Unmasked) lifts it - see README, 'In a container'")

def ns_last_pid_forbidden() -> str | None:
    """Why this platform forbids a program to set the next PID of its own PID namespace (writing
    /proc/sys/kernel/ns_last_pid), or None where it may (or where namespaces themselves are forbidden:
    that has its own explanation)."""
    verdict, err = machine().ns_last_pid
    if verdict != "refused":
        return None
    if err == "EROFS":
        return ("/proc/sys is mounted read-only here (EROFS), as Docker, Podman and Kubernetes mount it for every "
                "container; " + UNMASK_HINT)
    return f"writing it was refused with {err}"


def proc_mount_forbidden() -> str | None:
    """Why this platform forbids a program to mount a fresh /proc in its own PID and mount namespaces, or None
    where it may (or where namespaces themselves are forbidden)."""
    verdict, err = machine().proc_mount
    if verdict != "refused":
        return None
    if err == "EPERM":
        return ("this /proc has paths masked by the container runtime (/proc/kcore, /proc/keys, ... covered, "
                "/proc/sys read-only), and the kernel refuses a new procfs that would reveal what they hide "
                "(EPERM); " + UNMASK_HINT)
    return f"mount() was refused with {err}"


def _container_proc_probes() -> tuple[list[Probe], list[str]]:
    """platform_report's lines for what a container's /proc forbids (tried only where user namespaces work)."""
    probes, cells = [], []
    for name, why, cell in (("ns_last_pid", ns_last_pid_forbidden(), "notebook 16's PID-reuse race"),
                            ("mount a /proc", proc_mount_forbidden(), "notebook 10's tiny container")):
        said = "works" if why is None else why.split(";")[0]     # the reason, without the hint
        probes.append(Probe(name, why is None, f"tried in a PID namespace of its own: {said}"))
        if why is not None:
            cells.append(cell)
    if not cells:
        return probes, []
    return probes, [f"this container's /proc forbids {' and '.join(cells)}: each shows the output recorded where "
                    f"it runs. {UNMASK_HINT[0].upper()}{UNMASK_HINT[1:]}"]

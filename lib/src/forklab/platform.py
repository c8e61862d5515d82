"""forklab.platform_report(): what this machine lets a student try, found by trying it."""
from __future__ import annotations

import os
import platform as _platform
from dataclasses import dataclass

from .errors import CloneRefused, ForklabError
from .explain import UNCONFINED_HINT, confinement
from .lab import has_cap_sys_admin, run


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
    release = os.uname().release
    version = tuple(int(x) for x in release.split("-")[0].split(".")[:3] if x.isdigit())
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
    conf = confinement()
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
        why = ("this process's seccomp filter refuses them (" + UNCONFINED_HINT + ")" if conf.seccomp_filter
               else f"user namespaces are switched off ({conf.userns_sysctl})" if conf.userns_sysctl
               else "this machine forbids user namespaces")
        out.append(f"namespace experiments are forbidden here: {why}. Each notebook cell that needs them says "
                   "so and shows the output recorded on a machine that allows them, labelled as such")
    if not works["clone3"]:
        why = (f"this kernel (Linux {'.'.join(map(str, conf.kernel))}) is older than 5.3" if conf.kernel < (5, 3)
               else "a seccomp filter answers ENOSYS for it" if conf.seccomp_filter else "the kernel answers ENOSYS")
        out.append(f"clone3 is forbidden here ({why}): glibc falls back to clone(), every flag but the "
                   "clone3-only ones works with clone, and cells that need clone3 show a recorded output")
    if not works["kcmp"]:
        out.append("the kernel's second opinion (kcmp) is unavailable; verdicts still come from observation")
    out += _cell_wall_consequences(works)
    return PlatformReport(
        kernel=release, kernel_version=version, machine=_platform.machine(), uid=os.geteuid(),
        root=os.geteuid() == 0, cap_sys_admin=has_cap_sys_admin(), seccomp_filter=conf.seccomp_filter,
        threads=len(os.listdir("/proc/self/task")), probes=tuple(probes), consequences=tuple(out))


# --- what contains a %%c cell's program here (issue 17; forklab/containment.py) -------------------
CELL_SIGNAL_SCOPE = "cell signal scope"
CELL_PRIVATE_TMP = "cell own /tmp"


def _cell_wall_probes() -> list:
    """Start a program under the C cells' supervisor, as a cell's program is, and read which walls
    went up around it."""
    from .ccell import run_supervised
    try:
        walls = run_supervised(["/bin/true"], timeout=5, max_procs=4, private_tmp=True).walls
    except OSError as e:
        walls = {"error": str(e)}
    scope = walls.get("landlock_signal_scope", False)
    tmp = walls.get("private_tmp_ipc", False)
    return [Probe(CELL_SIGNAL_SCOPE, scope, "tried: Landlock keeps a cell's signals inside the cell" if scope
                  else "tried: Landlock's signal scope (Linux 6.12) is missing or refused here"),
            Probe(CELL_PRIVATE_TMP, tmp, "tried: a cell gets its own /tmp, /dev/shm and System V IPC" if tmp
                  else "tried: a mount and IPC namespace for the cell is refused "
                       + (f"({walls['private_tmp_ipc_error']})" if walls.get("private_tmp_ipc_error") else "here"))]


def _cell_wall_consequences(works: dict) -> list:
    out = []
    if works[CELL_SIGNAL_SCOPE]:
        out.append("a %%c program may signal and trace only processes of its own cell (a Landlock scope), "
                   "and kill(-1, ...) is refused: your kernel, the bench server and your other programs are out of reach")
    else:
        out.append("a %%c program cannot signal or trace its supervisor, your Jupyter kernel or the bench server, "
                   "and kill(-1, ...) is refused (a seccomp filter); it could still signal another program of "
                   "yours by its pid, since without Landlock's signal scope (Linux 6.12) nothing can tell that "
                   "pid from its own child")
    out.append("a %%c program does not run in a PID namespace of its own: it sees the real pids, which the "
               "lessons on getpid(), getppid() and orphans print (see docs/architecture.md, issue 17)")
    if works[CELL_PRIVATE_TMP]:
        out.append("a %%c program has its own /tmp, /dev/shm and System V IPC: what it leaves there disappears with it")
    else:
        out.append("a %%c program shares /tmp and /dev/shm with you (no mount namespace here): System V semaphores, "
                   "shared memory and queues it made are removed after the cell, files it leaves in /tmp or "
                   "/dev/shm stay")
    return out

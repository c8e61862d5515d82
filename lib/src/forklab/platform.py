"""forklab.platform_report(): what this machine lets a student try, found by trying it."""
from __future__ import annotations

import os
import platform as _platform
from dataclasses import dataclass

from .errors import CloneRefused, ForklabError
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
                 f"{'with' if self.cap_sys_admin else 'without'} CAP_SYS_ADMIN; "
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
        out.append("namespace experiments will be refused here; the notebooks explain what they would show")
    if not works["clone3"]:
        out.append("clone3 experiments will be refused; use clone (every flag but the clone3-only ones works)")
    if not works["kcmp"]:
        out.append("the kernel's second opinion (kcmp) is unavailable; verdicts still come from observation")
    return PlatformReport(
        kernel=release, kernel_version=version, machine=_platform.machine(), uid=os.geteuid(),
        root=os.geteuid() == 0, cap_sys_admin=has_cap_sys_admin(),
        threads=len(os.listdir("/proc/self/task")), probes=tuple(probes), consequences=tuple(out))

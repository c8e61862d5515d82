"""Where this platform forbids an experiment: say what, why, and what it shows where it is allowed.

Students meet the course inside containers (Binder, Codespaces, a hub pod, Docker) whose seccomp
profile refuses namespace flags and clone3(), or on older kernels (RHEL 8's 4.18 has no clone3() and
no pidfds). There an experiment cannot run, and the honest cell says so - then shows the output the
same cell gave on the course's machine, labelled as a recording:

    with forklab.reference_if_forbidden("10-all-namespaces"):
        obs = forklab.run("clone", ["CLONE_NEWUSER", "CLONE_NEWPID"])
        print(obs.child.pid)

Where the experiment runs, the block is plain code and adds nothing. Where the platform refuses
(``forklab.ForbiddenHere``: a seccomp filter's EPERM or ENOSYS, an older kernel's ENOSYS), it prints

    Forbidden here: clone(CLONE_NEWUSER | CLONE_NEWPID), because <the platform's rule>.
    Reference output, recorded on Linux 6.18 as an unprivileged user (2026-12-02) - not measured here:
        <what the cell printed there>

C cells do the same with ``%%c --needs user-namespaces --reference NAME``. Refusals that are rules
of the kernel (EINVAL, a missing capability) are lessons, not platform limits: they still raise.

The recordings live in references.json beside this file, made by tools/record_references.py, which
executes the course's notebooks on a machine that allows everything, as root and as an unprivileged
user, and keeps the output of every cell that names a reference.
"""
from __future__ import annotations

import errno as _errno
import json
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from forklab.engine.errors import CloneRefused, ForbiddenHere
from forklab.host.machine import machine

RECORDINGS = Path(__file__).with_name("references.json")
#: What a C cell can declare with --needs, and the experiment that tells whether this platform allows it.
NEEDS = ("user-namespaces", "namespaces", "clone3", "pidfd", "ns-last-pid", "proc-mount")
#: What a container's /proc forbids even where namespaces are allowed (forklab.course.report tries each).
PROC_NEEDS = {"ns-last-pid": "writing /proc/sys/kernel/ns_last_pid (the next PID of a PID namespace of its own)",
              "proc-mount": "mounting a fresh /proc in new PID and mount namespaces"}


@dataclass(frozen=True)
class Reference:
    """What a cell printed on the course's machine (``text``), and where and when that was recorded."""
    name: str
    text: str
    kernel: str
    date: str
    as_user: str          # "root" or "an unprivileged user"

    def __str__(self) -> str:
        body = "\n".join("    " + line if line else "" for line in self.text.rstrip("\n").splitlines())
        return (f"Reference output, recorded on Linux {self.kernel} as {self.as_user} ({self.date}) - "
                f"not measured here:\n{body}")

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


@lru_cache(maxsize=1)
def _recordings() -> dict:
    try:
        return json.loads(RECORDINGS.read_text())
    except (OSError, ValueError):
        return {"references": {}}


def reference(name: str, *, privileged: bool | None = None) -> Reference | None:
    """The recording called ``name`` (None if there is none): root's where this process has
    CAP_SYS_ADMIN, an unprivileged user's otherwise - the one that matches what this cell would do."""
    data = _recordings()
    entry = data.get("references", {}).get(name)
    if entry is None:
        return None
    if privileged is None:
        privileged = machine().cap_sys_admin
    who = "root" if privileged and "root" in entry else "student"
    if who not in entry:
        return None
    # an entry recorded after the rest carries its own date ("recorded"); the file's date is for the others
    return Reference(name, entry[who], data.get("kernel", "?"), entry.get("recorded", data.get("date", "?")),
                     "root" if who == "root" else "an unprivileged user")


def explain_forbidden(name: str | None, what: str, because: str) -> str:
    """The text a cell prints where the platform forbids ``what``: why, then the recording."""
    because = because.rstrip(".")
    lines = [f"Forbidden here: {what}, because {because}."]
    ref = reference(name) if name else None
    if ref is not None:
        lines.append(str(ref))
    elif name:
        lines.append(f"(No reference output was recorded under the name {name!r}.)")
    return "\n".join(lines)


def forbidden_by(exc: BaseException) -> ForbiddenHere | None:
    """``exc`` as a platform limit (a ForbiddenHere), or None if it is anything else - a lesson, a bug."""
    if isinstance(exc, ForbiddenHere):
        return exc
    if isinstance(exc, OSError) and not isinstance(exc, CloneRefused) and exc.errno == _errno.ENOSYS:
        call = getattr(exc, "filename", None) or "a system call this cell makes"
        m = machine()
        return ForbiddenHere(str(call), f"this kernel (Linux {'.'.join(map(str, m.kernel[:2]))}) "
                             + ("or this process's seccomp filter " if m.seccomp_filter else "")
                             + "does not provide it (ENOSYS): it is newer than the kernel")
    return None


@contextmanager
def reference_if_forbidden(name: str):
    """Run the block; if the platform forbids what it does, print why and the recorded output instead
    of a traceback. Any other exception (a kernel rule such as EINVAL, a bug) goes through unchanged."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - only platform limits are kept, the rest re-raised
        forbidden = forbidden_by(exc)
        if forbidden is None:
            raise
        sys.stdout.flush()
        print(explain_forbidden(name, forbidden.what, forbidden.because))


# --- what a C cell needs --------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _allows(need: str) -> tuple[str, str] | None:
    from forklab.engine.experiment import run
    m = machine()
    if need == "pidfd":
        try:
            os.close(os.pidfd_open(os.getpid()))
        except (OSError, AttributeError) as e:
            f = forbidden_by(OSError(_errno.ENOSYS, "", "pidfd_open()")) if isinstance(e, AttributeError) or \
                e.errno == _errno.ENOSYS else None
            return (f.what, f.because) if f else None
        from forklab.course.report import cell_pidfd_signal_forbidden
        because = cell_pidfd_signal_forbidden()
        return ("pidfd_send_signal() in a C cell", because) if because else None
    if need in PROC_NEEDS:
        from forklab.course.report import ns_last_pid_forbidden, proc_mount_forbidden
        because = ns_last_pid_forbidden() if need == "ns-last-pid" else proc_mount_forbidden()
        return (PROC_NEEDS[need], because) if because else None
    # forklab.host.machine knows whether it is allowed; where it is not, the experiment says why in the words
    # the rest of the course uses (a ForbiddenHere from the kernel's real answer)
    allowed = {"user-namespaces": m.user_namespaces, "namespaces": not m.namespaces_refused, "clone3": m.clone3}
    if need not in allowed:
        raise ValueError(f"unknown need {need!r}; valid choices are: {', '.join(NEEDS)}")
    if allowed[need]:
        return None
    try:
        if need == "user-namespaces":
            run("clone", ["CLONE_NEWUSER"])
        elif need == "namespaces":
            run("clone", ["CLONE_NEWUTS"] + ([] if m.cap_sys_admin else ["CLONE_NEWUSER"]))
        else:
            run("clone3")
    except ForbiddenHere as e:
        return e.what, e.because
    except CloneRefused:
        return None     # a rule of the kernel, not a platform limit: the program will show it
    return None


def forbidden_needs(needs) -> list[tuple[str, str]]:
    """(what, because) for each of ``needs`` (see NEEDS) that this platform forbids; [] if all are allowed."""
    return [f for f in (_allows(n) for n in needs) if f is not None]


def require_allowed(*needs: str) -> None:
    """Raise ForbiddenHere for the first of ``needs`` (see NEEDS) that this platform forbids - the first
    line of a ``reference_if_forbidden`` block whose program could only fail here, so the cell shows the
    reason and the recording instead of running it."""
    for what, because in forbidden_needs(needs):
        raise ForbiddenHere(what, because)


def after_c_cell(name: str | None, needs) -> None:
    """After a C cell ran: if the platform forbids what it needs, say so and show the recording."""
    forbidden = forbidden_needs(needs)
    if not forbidden:
        return
    sys.stdout.flush()
    what = " and ".join(w for w, _ in forbidden)
    because = "; and ".join(b.rstrip(".") for _, b in forbidden)
    print(explain_forbidden(name, what, because))

"""Checking exercises against what the kernel actually does.

The graded cells of ``exercises/`` use these helpers. Two rules:

* a failing check says, in one sentence, what was expected and what the kernel did -
  ``expect()`` raises ``AssertionError`` with that sentence, never a bare one;
* every program a check runs runs *outside* the Jupyter kernel (a fresh interpreter in its own
  session, killed as a group when it ends or times out), so a wrong answer cannot harm it.

    >>> from forklab.grading import expect
    >>> expect(6, 8, "Processes the program created", got_is="you predicted")
    Traceback (most recent call last):
    AssertionError: Processes the program created: the kernel did 8, you predicted 6.
"""
from __future__ import annotations

import os
import signal
import sys
import tempfile
import textwrap
from dataclasses import dataclass

from .ccell import run_program   # the C cells' supervisor: caps processes and time

__all__ = ["expect", "require", "show", "run_python", "ProgramRun", "process_state", "measure_cow_faults", "accepted_flags",
           "resources_controlled_by", "refused_to_student", "file_written_by", "Children", "SHARING",
           "observe", "shared_among", "flags_not_needed"]


# --- sentences ------------------------------------------------------------------------------

def show(value) -> str:
    """A value the way a student would type it: sets sorted, strings quoted."""
    if isinstance(value, (set, frozenset)):
        items = sorted(value, key=repr)
        return "{" + ", ".join(show(v) for v in items) + "}" if items else "set()"
    return repr(value)


def expect(got, expected, what: str, *, got_is: str = "your answer is",
           expected_is: str = "the kernel did", hint: str | None = None) -> None:
    """Pass if ``got == expected``; otherwise raise AssertionError with a full sentence.

    ``what`` names the thing compared ("Processes the program created"); ``expected_is`` and
    ``got_is`` say where each value came from, so the sentence reads
    "<what>: <expected_is> <expected>, <got_is> <got>. <hint>".
    """
    if got == expected:
        return
    message = f"{what}: {expected_is} {show(expected)}, {got_is} {show(got)}."
    if hint:
        message += " " + hint
    raise AssertionError(message)


def require(ok: bool, message: str) -> None:
    """Pass if ``ok``; otherwise raise AssertionError with ``message`` (a full sentence)."""
    if not ok:
        raise AssertionError(message)



# --- running a program outside the kernel ----------------------------------------------------

@dataclass(frozen=True)
class ProgramRun:
    """What a program run in a fresh interpreter did."""
    stdout: str
    stderr: str
    returncode: int


def run_python(source: str, *, cwd: str | None = None, timeout: float = 10.0,
               max_procs: int = 64) -> ProgramRun:
    """Run ``source`` in a fresh Python interpreter under the C cells' supervisor, and wait for all
    of it (the children of a fork program included).

    The supervisor caps the number of processes and the time, then kills and reaps everything, so
    a student's fork bomb or hang is a failed check - never a stuck kernel or a flooded machine.
    """
    out, err, status = run_program([sys.executable, "-c", textwrap.dedent(source)], cwd=cwd,
                                   timeout=timeout, max_procs=max_procs)
    if status.get("too_many_procs"):
        raise AssertionError(f"The program created more than {max_procs} processes at once, so it was "
                             "stopped (all its processes were killed).")
    if status.get("timed_out"):
        raise AssertionError(f"The program did not finish within {timeout:g} s, so it was stopped "
                             f"(all its processes were killed).")
    if status.get("start_error"):
        raise AssertionError(f"The program could not be started: {status['start_error']}")
    return ProgramRun(out, err, status.get("returncode"))


# --- processes --------------------------------------------------------------------------------

def process_state(pid: int) -> str | None:
    """The state letter of a process as /proc shows it ("R", "S", "Z", ...), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2]   # the name in parentheses may itself contain ") "


# --- copy-on-write, measured -------------------------------------------------------------------

_COW_C = r'''
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

int main(int argc, char **argv)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t size = (size_t)atol(argv[1]) * page;
    int n = argc - 2;
    size_t *offsets = malloc(sizeof(size_t) * (n + 1));
    for (int i = 0; i < n; i++)
        offsets[i] = (size_t)atol(argv[i + 2]);
    volatile char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) { perror("mmap"); return 1; }
    madvise((void *)buf, size, MADV_NOHUGEPAGE);   /* count 4 KiB pages, not a 2 MiB huge page */
    for (size_t off = 0; off < size; off += page)
        buf[off] = 1;                              /* the parent has every page before fork */
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        minor_faults();                            /* the first call copies the stack page it uses */
        long before = minor_faults();
        for (int i = 0; i < n; i++)
            buf[offsets[i]] = 2;
        long after = minor_faults();
        printf("%ld\n", after - before);
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) { perror("waitpid"); return 1; }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
'''


def measure_cow_faults(offsets, *, pages: int = 64) -> int:
    """Page faults a fork child takes writing one byte at each offset of a buffer its parent filled.

    Measured in C (``getrusage`` minor faults around the writes, in the child): the parent
    touches all ``pages`` pages of a private anonymous buffer, forks, and the child writes.
    """
    from .ccell import run_c
    size = pages * os.sysconf("SC_PAGE_SIZE")
    offsets = [int(o) for o in offsets]
    bad = [o for o in offsets if not 0 <= o < size]
    if bad:
        raise ValueError(f"offsets must lie in the {pages}-page buffer (0 to {size - 1}); got {bad[:3]}")
    r = run_c(_COW_C, args=[str(pages), *map(str, offsets)], timeout=10.0)
    if not r.compiled or r.returncode != 0:
        raise RuntimeError(f"the copy-on-write meter failed: {r.compile_output or r.stderr or r.status_line()}")
    return int(r.stdout.split()[0])


# --- what a clone flag controls, asked of the kernel --------------------------------------------

def accepted_flags(flags) -> tuple[str, ...]:
    """``flags`` plus whatever the kernel needs to accept them for clone(): follow each refusal's fix."""
    from . import CloneRefused, flags as flagmod, run
    names = set(flagmod.names_of(flagmod.parse_flags(flags)))
    for _ in range(6):
        try:
            run("clone", sorted(names))
            return tuple(n for n in flagmod.FLAGS if n in names)
        except CloneRefused as e:
            if e.fix is None:
                raise
            names = (names | set(e.fix.add)) - set(e.fix.remove)
    raise RuntimeError(f"could not find a flag set the kernel accepts around {sorted(names)}")


def resources_controlled_by(flag: str) -> set[str]:
    """Resources that go from not shared to shared when ``flag`` is added (measured, twice).

    The flag is tried together with what the kernel requires for it (CLONE_SIGHAND needs
    CLONE_VM, ...), and compared with the same call without it.
    """
    from . import flags as flagmod, run
    name = flagmod.names_of(flagmod.parse_flags([flag]))[0]
    with_it = accepted_flags([name])
    without = [n for n in with_it if n != name]
    a, b = run("clone", with_it), run("clone", without)
    return {r for r, v in a.resources.items() if v.shared and not b.resources[r].shared}


def refused_to_student(flags) -> str | None:
    """Why an unprivileged user's clone() with ``flags`` would be refused, or None if it would not be.

    Uses the kernel's rules as forklab knows them (forklab.explain), so it answers as root too.
    """
    from .explain import fix_for
    from .flags import parse_flags
    fix = fix_for(parse_flags(flags), "clone", "SIGCHLD", privileged=False)
    return None if fix is None else f"an unprivileged user's clone() would be refused (fix: {fix})"


# --- files written by a program -----------------------------------------------------------------

def file_written_by(source: str, name: str = "out.txt", *, timeout: float = 10.0) -> str:
    """Run ``source`` in a fresh interpreter in an empty temporary folder; the text it left in ``name``."""
    with tempfile.TemporaryDirectory(prefix="forklab-files-") as tmp:
        run = run_python(source, cwd=tmp, timeout=timeout)
        require(run.returncode == 0, f"The program failed (exit status {run.returncode}): "
                                     f"{run.stderr.strip()[-500:]}")
        path = os.path.join(tmp, name)
        require(os.path.exists(path), f"The program did not create {name}.")
        with open(path, errors="replace") as f:
            return f.read()


# --- children of the kernel that a student's code must reap ------------------------------------

class Children:
    """Short shell children of the calling process, for exercises on waiting; cleans up after itself.

        with Children(["exit 0", "exit 3"]) as kids:
            codes = reap_all(kids.pids)
        require(not kids.unreaped, kids.unreaped_sentence("reap_all()"))

    The children are started with posix_spawn (the caller is never forked). A pidfd is taken for
    each at once, so the check below is exact even if a pid is reused: on leaving the block,
    ``unreaped`` lists the children the student's code left unreaped (zombies or still running),
    and every one of them is then killed and reaped - nothing outlives the check.
    """

    def __init__(self, scripts, *, name: str | None = None):
        self.scripts = list(scripts)
        self.name = name
        self.pids: list[int] = []
        self.unreaped: list[int] = []
        self._fds: dict[int, int] = {}
        self._tmp = None

    def __enter__(self) -> "Children":
        shell = "/bin/sh"
        if self.name:                       # the process name /proc shows is the program's file name
            self._tmp = tempfile.TemporaryDirectory(prefix="forklab-kids-")
            shell = os.path.join(self._tmp.name, self.name)
            os.symlink("/bin/sh", shell)
        try:
            for script in self.scripts:
                pid = os.posix_spawn(shell, [shell, "-c", script], dict(os.environ))
                self.pids.append(pid)
                self._fds[pid] = os.pidfd_open(pid)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_until_exited(self, pid: int, timeout: float = 5.0) -> None:
        """Wait until child ``pid`` has ended, without reaping it (it stays a zombie)."""
        import select
        if not select.select([self._fds[pid]], [], [], timeout)[0]:
            raise AssertionError(f"Child {pid} did not end within {timeout:g} s.")

    def __exit__(self, *exc) -> None:
        for pid, fd in self._fds.items():
            try:
                if os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None or \
                        not _ended(fd):
                    self.unreaped.append(pid)
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                os.waitid(os.P_PIDFD, fd, os.WEXITED)
            except ChildProcessError:
                pass                          # the student's code reaped it
            finally:
                os.close(fd)
        self._fds.clear()
        if self._tmp:
            self._tmp.cleanup()

    def unreaped_sentence(self, who: str) -> str:
        n = len(self.unreaped)
        return (f"{who} returned while {n} of its {len(self.pids)} children had not been reaped "
                f"(pid{'s' if n != 1 else ''} {', '.join(map(str, self.unreaped))}): each stays a zombie "
                f"(or runs on) until someone calls wait on it.")


def _ended(pidfd: int) -> bool:
    import select
    return bool(select.select([pidfd], [], [], 0)[0])


# --- clone flags checked against the kernel --------------------------------------------------------

SHARING = ("memory", "fd_table", "fs", "signal_handlers", "sysvsem_undo", "io_context")


def observe(flags, primitive: str = "clone"):
    """forklab.run(primitive, flags), with a refusal turned into a sentence (AssertionError)."""
    from . import CloneRefused, run
    from .flags import names_of, parse_flags
    names = names_of(parse_flags(list(flags)))
    try:
        return run(primitive, names)
    except CloneRefused as e:
        shown = " | ".join(names) or "no flags"
        raise AssertionError(f"The kernel refused {primitive}({shown}) with {e.errno_name}: {e.reason}") from None


def shared_among(flags, among=SHARING) -> set[str]:
    """Which of ``among`` the kernel shared between parent and child for clone(flags)."""
    obs = observe(flags)
    return {r for r in among if obs.resources[r].shared}


def flags_not_needed(flags, works) -> list[str]:
    """The flags of ``flags`` that can be dropped with ``works(smaller_set)`` still true."""
    from . import CloneRefused
    from .flags import names_of, parse_flags
    names = names_of(parse_flags(list(flags)))
    spare = []
    for f in names:
        rest = [n for n in names if n != f]
        try:
            ok = works(rest)
        except (CloneRefused, AssertionError):
            ok = False
        if ok:
            spare.append(f)
    return spare

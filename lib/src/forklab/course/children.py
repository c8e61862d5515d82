"""Children for exercises on waiting: short shell children of the caller, checked and cleaned up."""
from __future__ import annotations

import os
import select
import signal
import tempfile
import time


class Children:
    """Short shell children of the calling process, for exercises on waiting; cleans up after itself.

        with Children(["exit 0", "exit 3"]) as kids:
            codes = reap_all(kids.pids)
        require(not kids.unreaped, kids.unreaped_sentence("reap_all()"))

    The children are started with posix_spawn (the caller is never forked). A pidfd is taken for
    each at once, so the check below is exact even if a pid is reused (where the kernel has no
    pidfd_open, before Linux 5.3, the check goes by pid): on leaving the block,
    ``unreaped`` lists the children the student's code left unreaped (zombies or still running),
    and every one of them is then killed and reaped - nothing outlives the check.
    """

    def __init__(self, scripts, *, name: str | None = None):
        self.scripts = list(scripts)
        self.name = name
        self.pids: list[int] = []
        self.unreaped: list[int] = []
        self._fds: dict[int, int | None] = {}
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
                self._fds[pid] = _pidfd_open(pid)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_until_exited(self, pid: int, timeout: float = 5.0) -> None:
        """Wait until child ``pid`` has ended, without reaping it (it stays a zombie)."""
        fd, deadline = self._fds[pid], time.monotonic() + timeout
        if fd is not None:
            ended = bool(select.select([fd], [], [], timeout)[0])
        else:
            while not (ended := _exited_unreaped(pid)) and time.monotonic() < deadline:
                time.sleep(0.01)
        if not ended:
            raise AssertionError(f"Child {pid} did not end within {timeout:g} s.")

    def __exit__(self, *exc) -> None:
        for pid, fd in self._fds.items():
            try:
                if fd is None:
                    running = not _exited_unreaped(pid)     # ChildProcessError: already reaped
                    self.unreaped.append(pid)
                    if running:
                        os.kill(pid, signal.SIGKILL)
                    os.waitid(os.P_PID, pid, os.WEXITED)
                    continue
                if os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None or \
                        not _ended(fd):
                    self.unreaped.append(pid)
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                os.waitid(os.P_PIDFD, fd, os.WEXITED)
            except ChildProcessError:
                pass                          # the student's code reaped it
            finally:
                if fd is not None:
                    os.close(fd)
        self._fds.clear()
        if self._tmp:
            self._tmp.cleanup()

    def unreaped_sentence(self, who: str) -> str:
        n = len(self.unreaped)
        return (f"{who} returned while {n} of its {len(self.pids)} children had not been reaped "
                f"(pid{'s' if n != 1 else ''} {', '.join(map(str, self.unreaped))}): each stays a zombie "
                f"(or runs on) until someone calls wait on it.")


def _pidfd_open(pid: int) -> int | None:
    """A pidfd for our child, or None: Linux < 5.3 has no pidfd_open (ENOSYS), and a Python built
    with older headers has no os.pidfd_open at all."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _exited_unreaped(pid: int) -> bool:
    """Our child has ended and is not reaped yet (a zombie). ChildProcessError if it was reaped."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _ended(pidfd: int) -> bool:
    return bool(select.select([pidfd], [], [], 0)[0])

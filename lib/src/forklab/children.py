"""Children for exercises on waiting: short shell children of the caller, checked and cleaned up."""
from __future__ import annotations

import os
import select
import signal
import tempfile


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
    return bool(select.select([pidfd], [], [], 0)[0])

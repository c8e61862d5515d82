"""What /proc/PID/stat says about a process: the one parser of that file in forklab and its tests.

    >>> from forklab.host.procstat import read_stat
    >>> read_stat(1).ppid
    0

The second field is the program's name in parentheses, and that name may itself contain spaces
and ")" (a program can call itself "a) b"): so split at the *last* ")", never on spaces.

Only the standard library, and nothing from forklab: the C cells' supervisor, which runs without
the package on its path, loads this file too.
"""
import os
from collections import namedtuple

#: The fields forklab reads (proc(5) numbers them 1-6, 14-17, 20 and 22). The four times are in clock
#: ticks (os.sysconf("SC_CLK_TCK")): user and system CPU of the process, and of the children it reaped
#: (which includes what those reaped, once they were waited for). starttime (ticks after boot) tells a
#: process from a later one that got the same pid.
ProcStat = namedtuple("ProcStat", "pid comm state ppid pgrp session num_threads utime stime cutime cstime "
                                  "starttime")


def parse_stat(data) -> ProcStat:
    """One /proc/PID/stat line (bytes or str) as a ProcStat."""
    if isinstance(data, bytes):
        data = data.decode(errors="replace")
    head, _, rest = data.rpartition(")")
    pid, _, comm = head.partition(" (")
    fields = rest.split()      # fields[0] is field 3 of proc(5), the state
    return ProcStat(int(pid), comm, fields[0], int(fields[1]), int(fields[2]), int(fields[3]),
                    int(fields[17]), *(int(x) for x in fields[11:15]), int(fields[19]))


def read_stat(pid) -> "ProcStat | None":
    """The process's ProcStat, or None if it is gone (or was never there)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return parse_stat(f.read())
    except (FileNotFoundError, ProcessLookupError):
        return None


def tree_cpu_seconds(pid) -> "float | None":
    """User + system CPU seconds of the process and of every child it has reaped (utime, stime, cutime,
    cstime), or None if it is gone."""
    st = read_stat(pid)
    return None if st is None else (st.utime + st.stime + st.cutime + st.cstime) / os.sysconf("SC_CLK_TCK")


def process_state(pid) -> "str | None":
    """The state letter of a process as /proc shows it ("R", "S", "Z", ...), or None if gone."""
    st = read_stat(pid)
    return st.state if st else None


def all_processes() -> dict:
    """pid -> ProcStat for every process now on the machine (those that end meanwhile are left out)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    found[int(entry)] = parse_stat(f.read())
            except OSError:
                continue
    return found


def children_of(pid: int) -> list:
    """Processes whose parent is pid, zombies included."""
    return [p for p, st in all_processes().items() if st.ppid == pid]

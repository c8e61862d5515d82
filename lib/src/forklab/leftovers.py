"""System V objects a cell's processes made and left: found by who made them, removed after the cell.

Where the cell cannot have an IPC namespace of its own (Docker's seccomp profile refuses new
namespaces), the supervisor removes what the cell's processes created, and only that: the lists in
/proc/sysvipc are machine-wide, so an object is the cell's only if one of the cell's processes
made or last used it (pids the supervisor saw), and it was not there before the cell began.

* shared memory segments: `cpid`, the creator's pid (/proc/sysvipc/shm, proc(5));
* message queues: `lspid` / `lrpid`, the last sender's and receiver's pid (/proc/sysvipc/msg). A
  queue nobody has sent to or received from yet (both 0) names no process, so it stays;
* semaphore sets: no creator is listed, so each semaphore's `sempid` (semctl GETPID: the last
  process that operated on it - every semop, wait-for-zero included, SETVAL, SETALL (since Linux
  4.6), and the SEM_UNDO adjustment at a process's exit; ipc/sem.c) is asked. A set nobody has
  touched yet (every sempid 0) names no process, so it stays: it could be another program's, just made.

Files a cell leaves in /tmp or /dev/shm carry no creator at all: only a private /tmp and /dev/shm
(containment.private_tmp_and_ipc) removes those. Only the standard library (loaded by supervisor.py).
"""
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
IPC_RMID, GETPID = 0, 11


def _table(kind: str) -> list:
    """Rows of /proc/sysvipc/KIND as dicts keyed by the header's names."""
    try:
        with open(f"/proc/sysvipc/{kind}") as f:
            header, *rows = f.read().splitlines()
    except OSError:
        return []
    names = header.split()
    return [dict(zip(names, map(int, row.split()))) for row in rows if row.strip()]


def snapshot() -> dict:
    """The ids of every System V object now (what the cell must not touch)."""
    return {kind: {row[key] for row in _table(kind)}
            for kind, key in (("shm", "shmid"), ("sem", "semid"), ("msg", "msqid"))}


def _sempids(semid: int, nsems: int) -> set:
    pids = set()
    for i in range(nsems):
        pid = libc.semctl(semid, i, GETPID)
        if pid > 0:
            pids.add(pid)
    return pids


def remove_made_by(pids: set, before: dict) -> list:
    """Remove the objects made since `before` by one of `pids`; returns what was removed, e.g.
    ["shm 32778", "sem 5"]."""
    removed = []
    for row in _table("shm"):
        if row["shmid"] not in before["shm"] and row["cpid"] in pids:
            if libc.shmctl(row["shmid"], IPC_RMID, None) == 0:
                removed.append(f"shared memory segment {row['shmid']}")
    for row in _table("msg"):
        if row["msqid"] not in before["msg"] and {row["lspid"], row["lrpid"]} & pids:
            if libc.msgctl(row["msqid"], IPC_RMID, None) == 0:
                removed.append(f"message queue {row['msqid']}")
    for row in _table("sem"):
        if row["semid"] not in before["sem"] and _sempids(row["semid"], row["nsems"]) & pids:
            if libc.semctl(row["semid"], 0, IPC_RMID) == 0:
                removed.append(f"semaphore set {row['semid']}")
    return removed

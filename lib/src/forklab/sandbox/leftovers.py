"""System V objects a cell's processes made and left: found by who made them, removed after the cell.

Where the cell cannot have an IPC namespace of its own (Docker's seccomp profile refuses new
namespaces), the supervisor removes what the cell's processes created, and only that: the lists in
/proc/sysvipc are machine-wide, so an object is the cell's only if one of the cell's processes
made or last used it (pids the supervisor saw), and it was not there before the cell began.

* shared memory segments: `cpid`, the creator's pid (/proc/sysvipc/shm, proc(5));
* message queues: `lspid` / `lrpid`, the last sender's and receiver's pid (/proc/sysvipc/msg). A
  queue nobody has sent to or received from yet (both 0) names no process: the rule below decides;
* semaphore sets: no creator is listed, so each semaphore's `sempid` (semctl GETPID: the last
  process that operated on it - every semop, wait-for-zero included, SETVAL, SETALL (since Linux
  4.6), and the SEM_UNDO adjustment at a process's exit; ipc/sem.c) is asked. A set nobody has
  touched yet (every sempid 0) names no process: the rule below decides.

What names no process - a semaphore set never operated on, a queue never used, a file in
/dev/shm (files carry no creator at all; /tmp is left alone, see SHARED_FOLDERS) - is the cell's by a rule of time and owner instead, and only
for an unprivileged user (root's new objects could be the system's): it belongs to the cell's user, it
appeared while the cell ran (it was not there before, and its change time is not older than the cell),
and, for a file, no living process holds it open or mapped (every process of the cell is gone by
then, so a holder is someone else's). What the rule cannot tell apart: an object another program of
the same user made during the cell and left unused and closed - it goes too. A private /tmp, /dev/shm
and IPC namespace (containment.private_tmp_and_ipc) needs no rule. Only the standard library (loaded
by supervisor.py).
"""
import ctypes
import os
import shutil
import stat

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


def remove_made_by(pids: set, before: dict, since=None, uid=None) -> list:
    """Remove the objects made since `before` by one of `pids`; returns what was removed, e.g.
    ["shm 32778", "sem 5"]. With `since` (a time.time() taken before the cell) and `uid` (not root),
    also the sets and queues `uid` made since then that no process ever used."""
    unused = since is not None and uid not in (None, 0)
    removed = []
    for row in _table("msg"):
        if (unused and row["msqid"] not in before["msg"] and row["lspid"] == row["lrpid"] == 0
                and row["cuid"] == uid and row["ctime"] >= int(since)):
            if libc.msgctl(row["msqid"], IPC_RMID, None) == 0:
                removed.append(f"unused message queue {row['msqid']}")
    for row in _table("sem"):
        if (unused and row["semid"] not in before["sem"] and row["otime"] == 0 and row["cuid"] == uid
                and row["ctime"] >= int(since) and not _sempids(row["semid"], row["nsems"])):
            if libc.semctl(row["semid"], 0, IPC_RMID) == 0:
                removed.append(f"unused semaphore set {row['semid']}")
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


# --- files in /dev/shm (no mount namespace) --------------------------------------------------------------
# Not /tmp: the rule removed a folder another notebook's kernel of the same student had just made there
# (tools/grade.py's forklab-grade-*, the fork tree's log folder), and that kernel then failed to start or
# lost its log - found by CI under Docker's rules. Files a program writes to a fixed /tmp path therefore stay
# where the cell has no mount namespace; the program's TMPDIR is the cell's own folder (removed with it).
SHARED_FOLDERS = ("/dev/shm",)
# A new file's change time comes from the kernel's coarse clock, a tick or so (1-10 ms; 5 ms seen at a 4 ms tick) behind time.time():
# a file the cell made in its first milliseconds reads as older than the cell (2000 of 2000 tries here).
# The snapshot already excludes everything that existed before, so a second's margin costs nothing.
CTIME_LAG = 1.0
OURS = ("forklab-c-", "forklab-run-")    # another cell's folders, made meanwhile: their makers remove them


def files_snapshot(folders=SHARED_FOLDERS) -> dict:
    """(name, inode) of every entry directly in /tmp and /dev/shm (or `folders`) now."""
    found = {}
    for folder in folders:
        try:
            found[folder] = {(e.name, e.inode()) for e in os.scandir(folder)}
        except OSError:
            found[folder] = set()
    return found


def _held() -> set:
    """Every file some process we may look at holds open (/proc/PID/fd) or mapped (/proc/PID/maps)."""
    held = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        links = ["cwd", "root"]
        try:
            links += [f"fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            pass
        for link in links:
            try:
                held.add(os.readlink(f"/proc/{pid}/{link}"))
            except OSError:
                pass
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) == 6 and parts[5].startswith("/"):
                        held.add(parts[5].strip())
        except OSError:
            pass
    return held


def _all_owned(path: str, uid: int, held: set) -> bool:
    """A folder the rule may remove: everything below it is uid's and nothing below it is held."""
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(root, name)
            try:
                if os.lstat(p).st_uid != uid or p in held:
                    return False
            except OSError:
                return False
    return True


def remove_new_files(before: dict, since: float, uid: int) -> list:
    """Remove the entries of /tmp and /dev/shm the rule above gives to the cell; returns them."""
    if uid == 0:
        return []
    held, removed = _held(), []
    for folder in before:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if ((e.name, st.st_ino) in before.get(folder, ()) or st.st_uid != uid or st.st_ctime < since - CTIME_LAG
                    or e.name.startswith(OURS) or e.path in held
                    or any(h.startswith(e.path + "/") for h in held)):
                continue
            try:
                if stat.S_ISDIR(st.st_mode):
                    if not _all_owned(e.path, uid, held):
                        continue
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
                removed.append(e.path)
            except OSError:
                pass
    return removed

"""Limits one student cannot raise: a cgroup of their own, hard rlimits, and a private /tmp, /var/tmp, /dev/shm.

Used by deploy/forklab_spawner.py for every student's single-user server (and so every kernel, bench
server and `%%c` program the student starts) and by deploy/grading_kernel.py for the kernels that run
students' code at autograde time. Everything here runs as root, before privileges are dropped:

* a cgroup per student, made under the hub's own cgroup (cgroup v2 where the host has it, else the v1
  controllers pids, memory, cpu, freezer): a process count (threads count too), memory (swap
  included where the kernel accounts it), a CPU quota and an equal CPU share. A student cannot leave it:
  cgroup.procs belongs to root.
* hard rlimits as the floor everywhere, cgroups or not: RLIMIT_NPROC (processes *and threads* of the
  student's uid, machine-wide; man getrlimit(2)) and no core files. A hard limit can be lowered by the
  student, never raised (setrlimit(2): raising it needs CAP_SYS_RESOURCE).
* a mount and IPC namespace with tmpfs of a fixed size on /tmp, /var/tmp and /dev/shm: files there are
  the student's alone, capped, and gone with the last process (System V IPC objects too).

Settings: Limits.from_env() reads FORKLAB_LIMIT_PROCS, _MEMORY, _CPU, _TMP, _SHM (docs/instructors.md).
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("pids", "memory", "cpu", "freezer")
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str, what: str) -> int:
    """'512M' -> bytes; a clear error naming the setting otherwise."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in "KMG" else ""
    try:
        value = float(t[:len(t) - len(unit)])
    except ValueError:
        raise ValueError(f"{what}={text!r} is not a size: write bytes or a number with K, M or G (e.g. 512M)") from None
    if value <= 0:
        raise ValueError(f"{what}={text!r} must be more than zero")
    return int(value * UNITS[unit])


@dataclass(frozen=True)
class Limits:
    processes: int = 256           # pids.max and the hard RLIMIT_NPROC: processes and threads
    memory: int = 1 << 30          # bytes, the kernel's page cache and tmpfs pages included
    cpus: float = 1.0              # CPU quota in CPUs; every student has the same share below it
    tmp: int = 256 << 20           # size of the private /tmp and of /var/tmp (each)
    shm: int = 64 << 20            # size of the private /dev/shm

    @classmethod
    def from_env(cls, env=os.environ) -> "Limits":
        d = cls()
        try:
            procs = int(env.get("FORKLAB_LIMIT_PROCS", d.processes))
            cpus = float(env.get("FORKLAB_LIMIT_CPU", d.cpus))
        except ValueError as e:
            raise ValueError(f"FORKLAB_LIMIT_PROCS must be a whole number, FORKLAB_LIMIT_CPU a number of CPUs: {e}")
        if procs < 32:
            raise ValueError(f"FORKLAB_LIMIT_PROCS={procs}: a JupyterLab server and one kernel need about 32 threads")
        if cpus <= 0:
            raise ValueError(f"FORKLAB_LIMIT_CPU={cpus}: must be more than zero (0.5 = half a CPU)")
        size = lambda name, default: parse_size(env[name], name) if name in env else default  # noqa: E731
        return cls(procs, size("FORKLAB_LIMIT_MEMORY", d.memory), cpus,
                   size("FORKLAB_LIMIT_TMP", d.tmp), size("FORKLAB_LIMIT_SHM", d.shm))

    def __str__(self):
        mb = lambda n: f"{n >> 20} MB"  # noqa: E731
        return (f"{self.processes} processes/threads, {mb(self.memory)} memory, {self.cpus:g} CPU, "
                f"/tmp and /var/tmp {mb(self.tmp)} each, /dev/shm {mb(self.shm)}")


# --- the cgroup -----------------------------------------------------------------------------------

def _own_cgroups() -> dict[str, str]:
    """controller (or '' for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    found = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            found[name] = path
    return found


def _v1_mounts() -> dict[str, Path]:
    """controller -> where its v1 hierarchy is mounted (from /proc/self/mountinfo)."""
    mounts = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        fstype, _, options = right.split()[:3]
        if fstype == "cgroup":
            for opt in options.split(","):
                if opt in V1_CONTROLLERS:
                    mounts[opt] = Path(left.split()[4])
    return mounts


def cgroup_version() -> int:
    """2 where /sys/fs/cgroup is the unified hierarchy, 1 where the v1 controllers we need are mounted, 0: none."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return 2
    return 1 if {"pids", "memory"} <= set(_v1_mounts()) else 0


class Cgroup:
    """One student's cgroup: made (or emptied and reused) under the hub's own, removed when their server stops."""

    def __init__(self, name: str, dirs: dict[str, Path], version: int):
        self.name, self.version = name, version
        self.dirs = dirs       # controller -> its directory (v1); '' -> the one directory (v2)

    @classmethod
    def locate(cls, name: str) -> "Cgroup":
        """Where the cgroup `name` is (or would be), under this process's own cgroup."""
        version = cgroup_version()
        if version == 2:
            return cls(name, {"": _v2_parent() / name}, 2)
        if version == 1:
            own, mounts = _own_cgroups(), _v1_mounts()
            return cls(name, {c: mounts[c] / own.get(c, "/").lstrip("/") / name for c in V1_CONTROLLERS if c in mounts}, 1)
        raise OSError("no cgroup controllers for pids and memory are mounted")

    @classmethod
    def existing(cls, name: str) -> "Cgroup | None":
        """The cgroup `name` if it exists (a hub restarted after a crash finds its students' groups this way)."""
        try:
            group = cls.locate(name)
        except OSError:
            return None
        return group if any(d.exists() for d in group.dirs.values()) else None

    @classmethod
    def make(cls, name: str, limits: Limits) -> "Cgroup":
        """Raises OSError if this machine gives root no writable cgroups (then the rlimits are the only floor)."""
        group = cls.locate(name)
        if any(d.exists() for d in group.dirs.values()):   # a hub that died left it: nothing of before may stay
            group.remove()
        for d in group.dirs.values():
            d.mkdir()
        group._write_limits(limits)
        return group

    def _file(self, controller_file: str) -> Path | None:
        d = self.dirs.get("" if self.version == 2 else controller_file.split(".")[0])
        return d / controller_file if d and (d / controller_file).exists() else None

    def _set(self, controller_file: str, value, required=True):
        path = self._file(controller_file)
        if path is None:
            if required:
                raise OSError(f"{controller_file} is missing in {sorted(map(str, self.dirs.values()))}: "
                          "that cgroup controller is not enabled")
            return
        path.write_text(str(value))

    def _write_limits(self, limits: Limits):
        period = 100_000
        quota = max(1000, int(limits.cpus * period))
        if self.version == 2:
            self._set("pids.max", limits.processes)
            self._set("memory.max", limits.memory)
            self._set("memory.swap.max", 0, required=False)     # no swap to spill into where there is swap
            self._set("cpu.max", f"{quota} {period}")
            self._set("cpu.weight", 100)
        else:
            self._set("pids.max", limits.processes)
            self._set("memory.limit_in_bytes", limits.memory)
            self._set("memory.memsw.limit_in_bytes", limits.memory, required=False)   # memory + swap, if accounted
            self._set("cpu.cfs_period_us", period, required=False)
            self._set("cpu.cfs_quota_us", quota, required=False)
            self._set("cpu.shares", 1024, required=False)

    def procs_files(self) -> list[str]:
        """What a process writes its pid into to join (every v1 hierarchy, or the one v2 group)."""
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def pids(self) -> set[int]:
        found = set()
        for d in self.dirs.values():
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except FileNotFoundError:
                pass
        return found

    def read(self, controller_file: str) -> str | None:
        path = self._file(controller_file)
        return path.read_text().strip() if path else None

    def kill_all(self, timeout: float = 30.0) -> int:
        """SIGKILL everything inside, a fork bomb included (frozen first, so nothing forks while we kill). Returns how many."""
        killed = set()
        deadline = time.monotonic() + timeout
        if self._file("cgroup.kill"):   # v2, Linux 5.14: the kernel kills the whole group at once
            killed = self.pids()
            self._file("cgroup.kill").write_text("1")
        freezer = None if self.version == 2 else self._file("freezer.state")
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return len(killed)
            if freezer:
                freezer.write_text("FROZEN")
            for pid in pids - killed if not freezer else pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
                except ProcessLookupError:
                    pass
            if freezer:
                freezer.write_text("THAWED")    # a frozen process cannot die: thaw, and SIGKILL takes it
            time.sleep(0.05)
        raise TimeoutError(f"cgroup {self.name}: processes {sorted(self.pids())[:10]} survived SIGKILL for {timeout} s")

    def remove(self, timeout: float = 30.0):
        """Kill what is left and remove the cgroup (an empty cgroup's directory is removed with rmdir)."""
        self.kill_all(timeout)
        for d in self.dirs.values():
            deadline = time.monotonic() + timeout
            while d.exists():
                try:
                    d.rmdir()
                except OSError:        # EBUSY while the last killed task is still being released
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def _v2_parent() -> Path:
    """Where students' cgroups go on v2: beside the hub's own, in a group with the controllers delegated to it.

    v2 lets a cgroup hand controllers to its children only if it holds no process itself ("no internal
    processes"), so the hub's group gets a child `forklab-students` with pids, memory and cpu enabled.
    """
    own = CGROUP_ROOT / _own_cgroups()[""].lstrip("/")
    parent = own / "forklab-students"
    parent.mkdir(exist_ok=True)
    wanted = {"pids", "memory", "cpu"}
    for group in (own, parent):
        available = set((group / "cgroup.controllers").read_text().split())
        if not wanted <= available:
            raise OSError(f"cgroup {group} lacks the controllers {sorted(wanted - available)}")
        if group == own and own != CGROUP_ROOT and (own / "cgroup.procs").read_text().strip():
            # the hub's group holds processes: move them into a leaf so the group may delegate
            leaf = own / "hub"
            leaf.mkdir(exist_ok=True)
            for pid in (own / "cgroup.procs").read_text().split():
                try:
                    (leaf / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
        (group / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted)))
    return parent


# --- what runs in the child, as root, between fork and exec ---------------------------------------

CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 1 << 14, 1 << 18


class Confinement:
    """Everything prepared in the parent, so that the child between fork() and exec() only makes system calls."""

    def __init__(self, limits: Limits, cgroup: Cgroup | None):
        self.limits, self.cgroup = limits, cgroup
        self.procs_files = cgroup.procs_files() if cgroup else []
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.mounts = [(b"/tmp", limits.tmp), (b"/var/tmp", limits.tmp), (b"/dev/shm", limits.shm)]
        self.mounts = [(path, f"size={size},mode=1777".encode()) for path, size in self.mounts
                       if os.path.isdir(path)]

    def _check(self, result: int, what: str):
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def apply(self):
        """Join the cgroup, set the hard rlimits, make /tmp, /var/tmp and /dev/shm private. Call as root."""
        pid = str(os.getpid())
        for path in self.procs_files:
            with open(path, "w") as f:
                f.write(pid)
        n = self.limits.processes
        resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        self._check(self.libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(CLONE_NEWNS|CLONE_NEWIPC)")
        # our mounts must not propagate back to the machine's namespace
        self._check(self.libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
        for path, options in self.mounts:
            self._check(self.libc.mount(b"tmpfs", path, b"tmpfs", MS_NOSUID | MS_NODEV, options),
                        f"mount tmpfs on {path.decode()}")


def drop_privileges(uid: int, gid: int, groups: list[int]):
    """Last step before exec: the student's groups, gid, then uid (the order setuid(2) needs)."""
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)

"""What this machine is and what it allows this process: found once, in one place.

    >>> from forklab.host.machine import machine
    >>> m = machine()
    >>> m.kernel, m.cap_sys_admin, m.seccomp_filter, m.user_namespaces      # root, on this machine
    ((6, 18, 44), True, False, True)

Everything the course's explanations, platform_report, the recorded references, the meters and the tests
need to know about the machine: the kernel, this process's capabilities and seccomp mode, which namespaces
it may make (alone, or beside a new user namespace), its cgroup's limits, transparent huge pages, ptrace
and strace, a read-only /proc/sys, whether a fresh procfs may be mounted, Landlock. Read from /proc and
/sys where a file says it; *tried* where only trying tells (a seccomp filter or a sysctl answers at the
call): those attempts run in machine_probe.py, a fresh single-threaded interpreter started with
`subprocess` (vfork + exec), which forks its own throw-away children - the caller, a multi-threaded
Jupyter kernel, is never forked. It inherits this process's credentials, seccomp filter and
no_new_privs, so what it is allowed is what this process is allowed.

Found once per process (`machine()` is cached): a seccomp filter can only be added, never removed, so a
fact read before one was added is the one thing that can go stale - call `machine.cache_clear()` then.

Only the standard library (the machine's layer is the lowest: everything else may import it).
"""
from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROBE = Path(__file__).with_name("machine_probe.py")
PROBE_TIMEOUT = 20.0

#: The namespaces Linux has, by their names in /proc/PID/ns (and the CLONE_NEW* flag's name).
NAMESPACES = ("user", "mnt", "uts", "ipc", "pid", "net", "cgroup", "time")

CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_SYS_RESOURCE = 19, 21, 24    # include/uapi/linux/capability.h

#: A test hook: FORKLAB_LANDLOCK_ABI_MAX=5 makes this kernel look like Linux 6.10-6.11 (ABI 5; 5.13-6.9 offer
#: 1-4: all without the signal scope, ABI 6, Linux 6.12), 0 like a kernel without Landlock (tools/confine's
#: landlock-abi5 profile sets it).
LANDLOCK_ABI_MAX_HOOK = "FORKLAB_LANDLOCK_ABI_MAX"

# Settings that forbid unprivileged user namespaces where they exist, and the value that does it
USERNS_SYSCTLS = (("/proc/sys/kernel/unprivileged_userns_clone", "0"),            # Debian's patch
                  ("/proc/sys/user/max_user_namespaces", "0"),                    # every kernel since 4.9
                  ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"))  # Ubuntu 23.10+


@dataclass(frozen=True)
class Machine:
    """This machine, and what it allows this process (see the module's docstring for how each is found)."""
    kernel_release: str                  # os.uname().release, e.g. "6.18.44-fc-v1300"
    kernel: tuple[int, int, int]         # its version numbers, e.g. (6, 18, 44); (0, 0, 0) if unreadable
    arch: str                            # os.uname().machine: "x86_64", "aarch64"
    euid: int
    capabilities: int                    # the effective set, /proc/self/status CapEff
    seccomp: int                         # /proc/self/status Seccomp: 0 none, 1 strict, 2 a filter
    no_new_privs: bool
    userns_sysctl: str | None            # "user.max_user_namespaces = 0" if a setting forbids user namespaces
    namespaces: frozenset[str]           # what unshare() makes here as this process is (root: all of them)
    namespaces_with_user: frozenset[str]  # what it makes beside a new user namespace (an unprivileged user's way)
    namespace_errors: tuple[tuple[str, str], ...]  # (namespace, errno name) where even that was refused
    clone3: bool                         # clone3() exists here (Linux 5.3, not refused by a seccomp filter)
    clone3_errno: str                    # what a clone3() with size 0 answered: EINVAL where it exists
    landlock_abi: int                    # Landlock's ABI version (0: none, or refused by a seccomp filter)
    ptrace: bool                         # a child of this process may be traced (PTRACE_TRACEME works)
    ptrace_errno: str                    # "OK", or why not
    strace: str | None                   # the strace program's path, None if it is not installed
    proc_sys_read_only: bool             # /proc/sys is mounted read-only (a container's runtime does that)
    ns_last_pid: tuple[str, str]         # ("works" | "refused" | "untried", errno name): writing
                                         # /proc/sys/kernel/ns_last_pid as PID 1 of new user+PID+mount namespaces
    proc_mount: tuple[str, str]          # the same for mounting a fresh procfs there
    cgroup_version: int                  # 2: unified only; 1: v1 controllers (perhaps beside a v2 mount); 0: none
    cgroup: str                          # our cgroup's path ("/" in a container with its own cgroup namespace)
    pids_max: int | None                 # the smallest pids.max on the way up from our cgroup; None: no limit
    memory_max: int | None               # the same for memory (bytes): v2 memory.max, v1 memory.limit_in_bytes
    thp: str                             # transparent huge pages: "always", "madvise", "never" or "unavailable"
    max_map_count: int | None            # /proc/sys/vm/max_map_count: mappings a process may have
    probe_error: str | None = None       # why machine_probe.py could not answer (its facts then read "refused")

    @property
    def root(self) -> bool:
        return self.euid == 0

    def has_capability(self, number: int) -> bool:
        return bool(self.capabilities >> number & 1)

    @property
    def cap_sys_admin(self) -> bool:
        """What namespaces other than the user one need (without a new user namespace beside them)."""
        return self.has_capability(CAP_SYS_ADMIN)

    @property
    def cap_sys_ptrace(self) -> bool:
        return self.has_capability(CAP_SYS_PTRACE)

    @property
    def seccomp_filter(self) -> bool:
        """A seccomp filter confines this process: a container's profile (Docker, Kubernetes), or tools/confine."""
        return self.seccomp == 2

    @property
    def user_namespaces(self) -> bool:
        """unshare(CLONE_NEWUSER) works here."""
        return "user" in self.namespaces

    def can_make(self, namespace: str) -> bool:
        """Can this process make that namespace the way the course does: alone where it holds CAP_SYS_ADMIN,
        with CLONE_NEWUSER beside it where it does not?"""
        if namespace not in NAMESPACES:
            raise ValueError(f"unknown namespace {namespace!r}; valid choices are: {', '.join(NAMESPACES)}")
        return namespace in (self.namespaces if self.cap_sys_admin or namespace == "user"
                             else self.namespaces_with_user)

    @property
    def namespaces_refused(self) -> bool:
        """Even a new UTS namespace (the simplest) is refused, the way the course makes it (can_make)."""
        return not self.can_make("uts")


# --- reading what files say ------------------------------------------------------------------------------

def kernel_version(release: str) -> tuple[int, int, int]:
    """(major, minor, patch) from a release string such as "6.18.44-fc-v1300" or "4.18.0-553.el8_10.x86_64"
    ((0, 0, 0) if it starts with no number)."""
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", release)
    return tuple(int(g or 0) for g in m.groups()) if m else (0, 0, 0)


def _status_fields() -> dict[str, str]:
    try:
        with open("/proc/self/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def _read(path) -> str | None:
    try:
        return Path(path).read_text().strip()
    except (OSError, ValueError):
        return None


def _userns_sysctl() -> str | None:
    for path, bad in USERNS_SYSCTLS:
        if _read(path) == bad:
            return f"{path.removeprefix('/proc/sys/').replace('/', '.')} = {bad}"
    return None


def _cgroups() -> tuple[int, str, dict[str, Path]]:
    """(version, our cgroup's path, controller -> the folder of our cgroup in its hierarchy); "" names v2's."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return 0, "", {}
    folders, v1, path_v2 = {}, False, None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            path_v2 = path
            for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
                if Path(root, "cgroup.controllers").exists():
                    folders[""] = Path(root) / path.lstrip("/")
                    break
        else:
            v1 = True
            for c in controllers.split(","):
                if c in ("pids", "memory"):
                    folders[c] = Path("/sys/fs/cgroup", c) / path.lstrip("/")
    version = 1 if v1 else 2 if path_v2 is not None else 0
    ours = path_v2 if version == 2 else next((ln.split(":", 2)[2] for ln in lines
                                              if "memory" in ln.split(":", 2)[1].split(",")), path_v2 or "")
    return version, ours, folders


def _up(folder: Path | None):
    """Our cgroup's folder, then its parents up to its hierarchy's root (or our cgroup namespace's)."""
    while folder is not None and (folder / "cgroup.procs").exists():
        yield folder
        folder = folder.parent


def _smallest_limit(folder: Path | None, name: str) -> int | None:
    """The smallest limit in `name` from our cgroup up (a parent's limit holds for its children too);
    None where none limits. v1's "no limit" is a huge number, v2's is "max"."""
    found = [int(v) for v in (_read(f / name) for f in _up(folder)) if v and v.isdigit() and int(v) < 1 << 60]
    return min(found) if found else None


def _thp() -> str:
    text = _read("/sys/kernel/mm/transparent_hugepage/enabled")
    chosen = [w.strip("[]") for w in (text or "").split() if w.startswith("[")]
    return chosen[0] if chosen else "unavailable"


def _proc_sys_read_only() -> bool:
    try:
        return bool(os.statvfs("/proc/sys").f_flag & os.ST_RDONLY)
    except OSError:
        return True


# --- what only trying tells --------------------------------------------------------------------------------

def _probe() -> tuple[dict, str | None]:
    """machine_probe.py's answers, and why there are none if it could not answer."""
    try:
        out = subprocess.run([sys.executable, "-I", "-S", str(PROBE)], capture_output=True, text=True,
                             timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
        return json.loads(out.stdout.strip().splitlines()[-1]), None
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as e:
        return {}, f"{PROBE.name} did not answer ({type(e).__name__}: {e})"


@lru_cache(maxsize=None)
def machine() -> Machine:
    """This machine and what it allows this process, found on the first call (see the module's docstring)."""
    uname = os.uname()
    status = _status_fields()
    facts, probe_error = _probe()
    unshare = facts.get("unshare", {})
    with_user = facts.get("unshare_with_user", {})
    errors = tuple((ns, with_user.get(ns, unshare.get(ns, "no answer"))) for ns in NAMESPACES
                   if unshare.get(ns) != "OK" and with_user.get(ns) != "OK")
    abi = int(facts.get("landlock_abi", 0))
    cap = os.environ.get(LANDLOCK_ABI_MAX_HOOK, "")
    if cap.isdigit():
        abi = min(abi, int(cap))
    version, cgroup, folders = _cgroups()
    try:
        caps = int(status.get("CapEff", "").split()[0], 16)
    except (ValueError, IndexError):
        caps = -1 if os.geteuid() == 0 else 0          # no /proc/self/status: root is all-powerful
    try:
        seccomp = int(status.get("Seccomp", "0").split()[0])
    except (ValueError, IndexError):
        seccomp = 0
    max_maps = _read("/proc/sys/vm/max_map_count")
    return Machine(
        kernel_release=uname.release, kernel=kernel_version(uname.release), arch=platform.machine(),
        euid=os.geteuid(), capabilities=caps, seccomp=seccomp,
        no_new_privs=status.get("NoNewPrivs", "0").strip() == "1", userns_sysctl=_userns_sysctl(),
        namespaces=frozenset(ns for ns, e in unshare.items() if e == "OK"),
        namespaces_with_user=frozenset(ns for ns, e in with_user.items() if e == "OK"),
        namespace_errors=errors,
        clone3=facts.get("clone3_errno") == "EINVAL", clone3_errno=facts.get("clone3_errno", "no answer"),
        landlock_abi=abi,
        ptrace=facts.get("ptrace") == "OK", ptrace_errno=facts.get("ptrace", "no answer"),
        strace=shutil.which("strace"), proc_sys_read_only=_proc_sys_read_only(),
        ns_last_pid=tuple(facts.get("ns_last_pid", ("untried", "no answer"))),
        proc_mount=tuple(facts.get("proc_mount", ("untried", "no answer"))),
        cgroup_version=version, cgroup=cgroup,
        pids_max=_smallest_limit(folders.get("pids", folders.get("")), "pids.max"),
        memory_max=_smallest_limit(folders.get("memory"), "memory.limit_in_bytes") if "memory" in folders
        else _smallest_limit(folders.get(""), "memory.max"),
        thp=_thp(), max_map_count=int(max_maps) if max_maps and max_maps.isdigit() else None,
        probe_error=probe_error)


def memory_room() -> int | None:
    """Bytes our memory cgroup still allows now (its limit less what it uses), None where none limits.
    A reading, not a fact: what the cgroup uses changes, so this is read at each call."""
    _, _, folders = _cgroups()
    if "memory" in folders:
        limit_name, usage_name, folder = "memory.limit_in_bytes", "memory.usage_in_bytes", folders["memory"]
    elif "" in folders:
        limit_name, usage_name, folder = "memory.max", "memory.current", folders[""]
    else:
        return None
    rooms = []
    for f in _up(folder):
        limit, usage = _read(f / limit_name), _read(f / usage_name)
        if limit and limit.isdigit() and int(limit) < 1 << 60 and usage and usage.isdigit():
            rooms.append(max(int(limit) - int(usage), 0))
    return min(rooms) if rooms else None

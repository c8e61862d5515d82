"""Autograde students' code as an unprivileged grading account, under a student's limits, away from the gradebook.

`nbgrader autograde` runs every submitted notebook in a kernel of its own process, with the instructor's
rights: a student's cell could read (or rewrite) the gradebook, other students' submissions and other
courses, or fork until the machine stops. With FORKLAB_GRADING_COMMAND set, nbgrader_config.py puts
GradingExecute in place of nbgrader's Execute, and each notebook's kernel is started in three steps:

1. as the instructor (this file, --connection-file): pack the notebook's folder (what nbgrader copied for
   this submission) and the kernel's connection details, and hand them to the launcher through sudo's stdin;
2. as root (this file, --as-grader ACCOUNT, a root-owned copy that a sudoers rule names exactly, see
   docs/instructors.md): a cgroup of its own with the students' limits, hard rlimits, a private /tmp and
   /dev/shm (deploy/forklab_limits.py), then down to ACCOUNT;
3. as ACCOUNT: unpack into a fresh folder in that private /tmp and exec the kernel there.

When the kernel ends - or the instructor's side goes away (EOF on the pipe) - the launcher kills whatever is
left in the cgroup (a fork bomb's orphans too) and removes it. Interrupts travel as messages (the instructor
may not signal the grading account's processes).
"""
from __future__ import annotations

import argparse
import base64
import ctypes
import io
import json
import os
import pwd
import re
import select
import shlex
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

MAX_FOLDER = 64 << 20      # bytes of a submission's folder the launcher accepts
PR_SET_CHILD_SUBREAPER = 36

if __name__ == "__main__":      # the launcher (and the instructor's side of the pipe) need neither
    AsyncKernelManager = Execute = object
else:                           # imported by nbgrader_config.py, in nbgrader
    from jupyter_client import AsyncKernelManager
    from nbgrader.preprocessors import Execute


class GradingKernelManager(AsyncKernelManager):
    """Starts the kernel through the launcher (FORKLAB_GRADING_COMMAND, run with sudo -n)."""

    def format_kernel_cmd(self, extra_arguments=None):
        command = shlex.split(os.environ["FORKLAB_GRADING_COMMAND"])
        return [sys.executable, os.path.abspath(__file__), "--connection-file", self.connection_file,
                "--", "sudo", "-n", *command]

    async def interrupt_kernel(self):
        # the kernel belongs to the grading account: a signal from the instructor would be EPERM
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)


class GradingExecute(Execute):
    """nbgrader's Execute, with each kernel run as the grading account (GradingKernelManager)."""

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = GradingKernelManager
        super().__init__(*args, **kwargs)


# --- 1. the instructor's side ---------------------------------------------------------------------

def hand_over(connection_file: str, launcher: list[str]) -> int:
    with open(connection_file) as f:
        connection = json.load(f)
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        for name in sorted(os.listdir(".")):          # nbgrader starts us in the submission's folder
            tar.add(name)
    if packed.tell() > MAX_FOLDER:
        sys.exit(f"grading_kernel: the submission's folder is {packed.tell() >> 20} MB packed; at most "
                 f"{MAX_FOLDER >> 20} MB is handed to the grading account")
    proc = subprocess.Popen(launcher, stdin=subprocess.PIPE)
    # the student whose notebook this is (forklab_nbgrader.StudentIdentity): sudo keeps no environment, so it
    # travels with the request, and the kernel grades that student's variant (forklab.course.variant)
    proc.stdin.write(json.dumps({"connection": connection, "student": os.environ.get("FORKLAB_STUDENT"),
                                 "folder": base64.b64encode(packed.getvalue()).decode()}).encode() + b"\n")
    proc.stdin.flush()
    # the pipe stays open while we live: when nbgrader ends us, the launcher sees EOF and cleans up
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: proc.stdin.close())
    while True:
        try:
            return proc.wait()
        except (InterruptedError, ValueError):
            continue


def unpack(packed: bytes, folder: str):
    """Files and folders only, inside `folder` (what tarfile's "data" filter does; Debian 12's 3.11.2 lacks it)."""
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
        for member in tar:
            path = os.path.normpath(member.name)
            if path.startswith(("/", "..")) or not (member.isfile() or member.isdir()):
                raise ValueError(f"refused in a submission's folder: {member.name!r}")
            target = os.path.join(folder, path)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    dst.write(src.read())


# --- 2. and 3. the launcher, as root, then as the grading account ------------------------------------

def launch(account: str, pythonpath: str, limit_settings: list[str]) -> int:
    if os.geteuid() != 0:
        sys.exit("grading_kernel --as-grader runs as root, through the sudo rule in docs/instructors.md")
    grader = pwd.getpwnam(account)
    if grader.pw_uid == 0 or str(grader.pw_uid) == os.environ.get("SUDO_UID"):
        sys.exit(f"grading_kernel: {account} must be an account of its own, neither root nor the instructor")
    here = os.path.dirname(os.path.realpath(__file__))
    sys.path.insert(0, os.path.dirname(here))                 # deploy/: forklab_limits
    from forklab_limits import Cgroup, Confinement, Limits, drop_privileges

    limits = Limits.from_env({f"FORKLAB_LIMIT_{k.upper()}": v for k, v in (s.split("=", 1) for s in limit_settings)})
    request = json.loads(sys.stdin.buffer.readline(4 * MAX_FOLDER))
    try:
        cgroup = Cgroup.make(f"forklab-grading-{os.getpid()}", limits)
    except OSError as e:
        print(f"grading_kernel: no cgroup ({e}): rlimits only", file=sys.stderr)
        cgroup = None
    confinement = Confinement(limits, cgroup)
    # orphans of the kernel (its bench server, a bomb's processes) come back to us, to be reaped here
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    child = os.fork()
    if child == 0:
        try:
            confinement.apply()
            drop_privileges(grader.pw_uid, grader.pw_gid, [])
            os.umask(0o077)
            work = tempfile.mkdtemp(prefix="grading-")       # in the private /tmp: gone with the kernel
            unpack(base64.b64decode(request["folder"]), work)
            conn = os.path.join(work, ".kernel.json")
            with open(conn, "w") as f:
                json.dump(request["connection"], f)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.chdir(work)
            env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin", "HOME": work,
                   "LANG": "C.UTF-8", "USER": account, "LOGNAME": account}
            if pythonpath:
                env["PYTHONPATH"] = pythonpath
            student = request.get("student")
            if isinstance(student, str) and re.fullmatch(r"[\w.@+-]{1,128}", student):   # an nbgrader id, nothing else
                env["FORKLAB_STUDENT"] = student
            os.execve(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", conn,
                                       "--HistoryManager.hist_file=:memory:"], env)
        except BaseException as e:       # noqa: BLE001 - the child must never return into the launcher
            print(f"grading_kernel: could not start the kernel as {account}: {e}", file=sys.stderr)
        os._exit(127)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGHUP, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    status = 0
    try:
        while not stop:
            done, status = os.waitpid(child, os.WNOHANG)
            if done:
                break
            readable, _, _ = select.select([0], [], [], 0.5)
            if readable and not os.read(0, 4096):         # the instructor's side is gone
                break
    finally:
        if cgroup is not None:
            cgroup.remove()
        else:
            kill_everything_of(grader)
        reap_all(timeout=30)
    return os.waitstatus_to_exitcode(status) if status else 0


def kill_everything_of(account: pwd.struct_passwd):
    """Without a cgroup: SIGKILL every process of the grading account (kill(-1) as that uid; kill(2))."""
    killer = os.fork()
    if killer == 0:
        try:
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.kill(-1, signal.SIGKILL)      # every process this uid may signal: the account's own
        finally:
            os._exit(0)
    os.waitpid(killer, 0)


def reap_all(timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.05)
        except ChildProcessError:
            return


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--connection-file", help="(instructor's side) the kernel's connection file")
    p.add_argument("--as-grader", metavar="ACCOUNT", help="(root, through sudo) run the kernel as ACCOUNT")
    p.add_argument("--pythonpath", default="", help="PYTHONPATH of the grading kernel")
    p.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                   help="PROCS, MEMORY, CPU, TMP or SHM (as FORKLAB_LIMIT_*), e.g. --limit MEMORY=512M")
    p.add_argument("launcher", nargs="*", help="(instructor's side) after --: the sudo command line")
    a = p.parse_args(argv)
    if a.as_grader:
        return launch(a.as_grader, a.pythonpath, a.limit)
    if a.connection_file and a.launcher:
        return hand_over(a.connection_file, a.launcher)
    p.error("give --connection-file FILE -- LAUNCHER... (instructor's side) or --as-grader ACCOUNT (root)")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The sandbox's soak: random experiments from several threads while the sandbox is attacked, every
verdict checked against the kernel's rules, and everything counted that could leak.

    python tools/soak.py                       # 2,000 experiments, 4 threads (make soak)
    python tools/soak.py --experiments 200     # the short version lib/tests/test_soak.py runs

Meanwhile a chaos thread, at random moments, sends the process a real SIGINT (what Jupyter's interrupt
button sends: a KeyboardInterrupt in the main thread, which runs experiments too), SIGKILLs the bench
server or a bench, or SIGSTOPs one of them (and SIGCONTs it later, through a pidfd, so a recycled pid is
never signalled). Every Observation that comes back is checked against lib/tests/kernel_rules.py - a
table of the kernel's rules written for the tests from the kernel's source, not forklab's explain.py or
its answers. An interrupted or killed experiment may fail (KeyboardInterrupt, BenchServerLost,
ExperimentCrashed, ExperimentTimeout): counted, never a verdict. Wrong = a verdict, a refusal or an
acceptance the rules contradict.

Leaks, after the server is stopped: processes (anything left in this soak's own session), fds and threads
of this process, System V semaphores (exact in a private IPC namespace, where one can be made), files in
/dev/shm, in this run's private TMPDIR and new ones in /tmp, and mounts. Figures, not a timed test: run
it under `flock /tmp/forklab-heavy.lock` on a shared machine.
"""
from __future__ import annotations

import argparse
import ctypes
import errno
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARING = ["CLONE_VM", "CLONE_FILES", "CLONE_FS", "CLONE_SIGHAND", "CLONE_THREAD", "CLONE_SYSVSEM",
           "CLONE_IO", "CLONE_PARENT", "CLONE_VFORK"]
NAMESPACES = ["CLONE_NEWUTS", "CLONE_NEWIPC", "CLONE_NEWNS", "CLONE_NEWPID"]
CLONE_NEWIPC = 0x08000000


def in_own_session() -> None:
    """Run in a session of our own, so that every process this soak starts (the server, benches,
    experiments - none of them calls setsid) can be found afterwards by its session id."""
    if os.getsid(0) == os.getpid():
        return
    try:
        os.setsid()
    except PermissionError:                     # a process group leader cannot: start again as a new one
        sys.exit(subprocess.run([sys.executable, *sys.argv], start_new_session=True).returncode)


def private_ipc() -> bool:
    """A System V IPC namespace of our own (root can), so every semaphore in it is ours."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.unshare(CLONE_NEWIPC) == 0


def semaphores(uid: int) -> set[int]:
    with open("/proc/sysvipc/sem") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return {int(r[1]) for r in rows if int(r[4]) == uid}


def owned_entries(folder: str, uid: int) -> set[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return set()
    found = set()
    for name in names:
        try:
            if os.lstat(os.path.join(folder, name)).st_uid == uid:
                found.add(name)
        except OSError:
            pass
    return found


def mounts() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def in_session(sid: int) -> list[int]:
    from forklab.host.procstat import all_processes
    return [p for p, st in all_processes().items() if st.session == sid and p != os.getpid() and st.state != "Z"]


def snapshot(uid: int) -> dict:
    return {"fds": len(os.listdir("/proc/self/fd")), "threads": len(os.listdir("/proc/self/task")),
            "sems": semaphores(uid), "shm": owned_entries("/dev/shm", uid), "tmp": owned_entries("/tmp", uid),
            "mounts": mounts()}


class Soak:
    def __init__(self, args):
        import forklab
        self.forklab = forklab
        self.args = args
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.outcomes: Counter = Counter()
        self.chaos: Counter = Counter()
        self.wrong: list[str] = []
        self.unknown: Counter = Counter()
        self.left = args.experiments
        self.in_run = False              # the main thread is inside forklab.run (SIGINT is meant for it)
        self.done = threading.Event()
        from forklab.host.machine import machine
        # clone3 answers ENOSYS before Linux 5.3 and under Docker's seccomp profile, and namespaces may be
        # refused: a platform's refusal, not a rule of the kernel's, so the soak leaves them out there
        self.privileged = machine().cap_sys_admin
        self.namespaces = not machine().namespaces_refused
        self.clone3 = machine().clone3

    # --- one experiment ------------------------------------------------------------------------
    def pick(self, rng):
        primitive = rng.choice(["fork", "vfork", "clone", "clone", "clone", "clone3" if self.clone3 else "clone"])
        if primitive in ("fork", "vfork"):
            return primitive, [], "SIGCHLD", None
        flags = [f for f in SHARING if rng.random() < 0.3]
        if self.namespaces and rng.random() < 0.15:
            flags += [f for f in NAMESPACES if rng.random() < 0.5] or ["CLONE_NEWUTS"]
            if not self.privileged:
                flags.append("CLONE_NEWUSER")
        exit_signal = None if rng.random() < 0.2 else "SIGCHLD"
        action = rng.choices([None, "hang", "crash"], [0.94, 0.03, 0.03])[0]
        return primitive, flags, exit_signal, action

    def one(self, rng, main: bool) -> None:
        from kernel_rules import refusal, wrong_verdicts
        fl = self.forklab
        primitive, flags, exit_signal, action = self.pick(rng)
        timeout = 0.5 if action == "hang" else 3.0
        what = f"{primitive}({'|'.join(f.removeprefix('CLONE_') for f in flags) or '-'}, {exit_signal}, {action})"
        expected_errno = refusal(primitive, flags, exit_signal)
        try:
            if main:
                self.in_run = True
            try:
                obs = fl.run(primitive, flags, exit_signal=exit_signal, timeout=timeout, child_action=action)
            finally:
                if main:
                    self.in_run = False
        except KeyboardInterrupt:
            return self.count("interrupted (SIGINT)")
        except fl.CloneRefused as e:
            if e.errno != expected_errno:
                return self.bad(f"{what}: refused with {e.errno_name}, the rules say "
                                f"{'accepted' if expected_errno is None else errno.errorcode[expected_errno]}")
            return self.count("refused by the kernel (as the rules say)")
        except fl.ExperimentTimeout:
            return self.count("timed out (hang asked)" if action == "hang" else "timed out (chaos)")
        except fl.ExperimentCrashed as e:
            return self.count("crashed (crash asked)" if action == "crash" else "crashed (chaos: bench killed/stopped)")
        except fl.BenchFailed as e:
            return self.count(f"lost: {type(e).__name__}")
        if expected_errno is not None:
            return self.bad(f"{what}: accepted, the rules say {errno.errorcode[expected_errno]}")
        if action == "hang":
            return self.bad(f"{what}: a hanging child gave an Observation")
        problems = wrong_verdicts(obs, primitive, flags)
        if obs.primitive != primitive or set(obs.flags) != set(flags):
            problems.append(f"the observation is of {obs.primitive}({obs.flags})")
        if problems:
            return self.bad(f"{what}: {'; '.join(problems)}")
        for name in getattr(obs, "unknown", ()):      # (an older forklab has no "unknown")
            self.unknown[name] += 1
        self.count("observed, every verdict right")

    def count(self, key: str) -> None:
        with self.lock:
            self.outcomes[key] += 1

    def bad(self, text: str) -> None:
        with self.lock:
            self.wrong.append(text)
            self.outcomes["wrong"] += 1

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def worker(self, seed: int, main: bool) -> None:
        rng = random.Random(seed)
        while True:
            try:
                if not self.take():
                    return
                self.one(rng, main)
            except KeyboardInterrupt:               # arrived between two experiments' bookkeeping
                self.count("interrupted (SIGINT)")

    # --- the attacker ------------------------------------------------------------------------------
    def on_sigint(self, signum, frame):
        if self.in_run:
            raise KeyboardInterrupt
        self.chaos["SIGINT outside run (ignored)"] += 1

    def attacker(self) -> None:
        from forklab.engine import benchserver
        from forklab.host.procstat import children_of
        rng = random.Random(self.args.seed + 1)
        stopped: list[tuple[float, int]] = []         # (when to continue, pidfd)
        kinds = ["sigint", "kill server", "kill bench", "stop server", "stop bench"]
        weights = [4, 1, 2, 0 if self.args.no_stops else 0.5, 0 if self.args.no_stops else 1]
        while not self.done.wait(rng.expovariate(1 / self.args.chaos_every)):
            for item in [s for s in stopped if s[0] <= time.monotonic()]:
                stopped.remove(item)
                self._signal_pidfd(item[1], signal.SIGCONT)
                os.close(item[1])
            kind = rng.choices(kinds, weights)[0]
            if kind == "sigint":
                os.kill(os.getpid(), signal.SIGINT)
                self.chaos["SIGINT"] += 1
                continue
            server = benchserver.server_pid()
            if server is None:
                continue
            target = server
            if kind.endswith("bench"):
                benches = children_of(server)
                if not benches:
                    continue
                target = rng.choice(benches)
            sig = signal.SIGKILL if kind.startswith("kill") else signal.SIGSTOP
            try:
                fd = os.pidfd_open(target)          # from here on, a recycled pid cannot be hit
            except (OSError, AttributeError):
                # No pidfd (Linux < 5.3): only the server, our own child, and only while waitid says
                # it is not reaped (pids are handed out cyclically: one freed this instant is not reused).
                # A stopped server is never continued: the client ends it when it does not answer.
                if target == server and self._my_unreaped_child(server):
                    os.kill(server, sig)
                    self.chaos[f"{kind} (no pidfd)"] += 1
                continue
            if self._signal_pidfd(fd, sig):
                self.chaos[kind] += 1
            if sig == signal.SIGSTOP:
                stopped.append((time.monotonic() + rng.uniform(0.1, 4.0), fd))
            else:
                os.close(fd)
        for _, fd in stopped:
            self._signal_pidfd(fd, signal.SIGCONT)
            os.close(fd)

    @staticmethod
    def _my_unreaped_child(pid: int) -> bool:
        try:
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            return True
        except ChildProcessError:
            return False

    @staticmethod
    def _signal_pidfd(fd: int, sig) -> bool:
        try:
            signal.pidfd_send_signal(fd, sig)
            return True
        except ProcessLookupError:
            return False

    def run(self) -> dict:
        threads = [threading.Thread(target=self.worker, args=(self.args.seed * 100 + i, False), daemon=True)
                   for i in range(self.args.threads - 1)]
        chaos = threading.Thread(target=self.attacker, daemon=True)
        signal.signal(signal.SIGINT, self.on_sigint)
        start = time.monotonic()
        for t in threads:
            t.start()
        if not self.args.no_chaos:
            chaos.start()
        self.worker(self.args.seed * 100 + 99, True)           # the main thread is the fourth
        for t in threads:
            t.join()
        self.done.set()
        if chaos.is_alive():
            chaos.join()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return {"seconds": time.monotonic() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--chaos-every", type=float, default=0.25, help="mean seconds between attacks")
    parser.add_argument("--no-stops", action="store_true", help="no SIGSTOPs (each costs its timeout)")
    parser.add_argument("--no-chaos", action="store_true")
    args = parser.parse_args()

    in_own_session()
    ipc_private = private_ipc()
    tmpdir = tempfile.mkdtemp(prefix="forklab-soak-")
    os.environ["TMPDIR"] = tempfile.tempdir = tmpdir
    sys.path[:0] = [str(ROOT / "lib" / "tests")]
    uid = os.getuid()
    before = snapshot(uid)

    soak = Soak(args)
    figures = soak.run()
    from forklab.engine import benchserver
    benchserver.stop_server()
    time.sleep(1.0)
    after = snapshot(uid)
    deadline = time.monotonic() + 3               # another user's experiment may hold one a moment
    while time.monotonic() < deadline and (after["sems"] - before["sems"] or in_session(os.getsid(0))):
        time.sleep(0.1)
        after = snapshot(uid)
    try:
        os.waitpid(-1, os.WNOHANG)
        zombies = 1
    except ChildProcessError:
        zombies = 0
    leaks = {
        "processes": len(in_session(os.getsid(0))) + zombies,
        "fds": after["fds"] - before["fds"],
        "threads": after["threads"] - before["threads"],
        "semaphores": len(after["sems"] - before["sems"]),
        "/dev/shm": len(after["shm"] - before["shm"]),
        "TMPDIR": len(os.listdir(tmpdir)),
        "mounts": int(after["mounts"] != before["mounts"]),
    }
    new_tmp = sorted(after["tmp"] - before["tmp"])
    os.rmdir(tmpdir) if not leaks["TMPDIR"] else None

    n = sum(soak.outcomes.values())
    print(f"forklab soak: {n} experiments from {args.threads} threads in {figures['seconds']:.1f} s "
          f"({n / figures['seconds']:.0f}/s), seed {args.seed}, uid {uid}, namespaces "
          f"{'tried' if soak.namespaces else 'refused here'}, clone3 {'tried' if soak.clone3 else 'refused here'}, "
          "semaphores counted "
          f"{'in a private IPC namespace (exact)' if ipc_private else 'machine-wide for this uid'}")
    print("  attacks: " + (", ".join(f"{k} {v}" for k, v in sorted(soak.chaos.items())) or "none"))
    for key, count in sorted(soak.outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {count:6d}  {key}")
    if soak.unknown:
        print("  unknown verdicts (a probe failed; never counted as a verdict): "
              + ", ".join(f"{k} {v}" for k, v in soak.unknown.items()))
    print(f"  wrong: {len(soak.wrong)}")
    for line in soak.wrong[:20]:
        print(f"    {line}")
    print("  leaks: " + ", ".join(f"{k} {v}" for k, v in leaks.items()) + f"  -> total {sum(leaks.values())}")
    if new_tmp:
        print(f"  (new entries in /tmp owned by uid {uid}, maybe another run's on a shared machine: "
              f"{', '.join(new_tmp[:10])})")
    return 1 if soak.wrong or sum(leaks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

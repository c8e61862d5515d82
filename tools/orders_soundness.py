#!/usr/bin/env python3
"""Proof that forklab's output-order model is right (issue 22, part 3): real programs, run many times under
randomised scheduling, never print an order the model says is impossible.

    python tools/orders_soundness.py                   # 13 programs, 500 runs each (make orders-soundness)
    python tools/orders_soundness.py --runs 20 --only two_children,pipe,vfork_exec

For each program: compile it, model it from 3 traced runs (forklab.course.happens_before.orders), check that its
named impossible order is rejected and that it has at least two possible orders; then run it N times WITHOUT
tracing, each run with its own seed (every process sleeps a random 0-999 microseconds before each output and
after each fork, so the processes interleave differently), half the runs pinned to one CPU (only one process
runs at a time: the scheduler's choices then decide everything) and half free. Each run's output lines are
one observed order. Soundness: the share of runs whose order the model allows (must be 100%). Coverage:
distinct observed orders the model allows / possible orders. Figures, not a timed test: on a shared machine run it under
`flock /tmp/forklab-heavy.lock`.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from forklab.course.happens_before import orders

PRELUDE = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The run's seed (argv[1]); each process mixes in its pid, so each sleeps its own random times. */
static unsigned seed;
static void jitter(void) { usleep(rand_r(&seed) % 1000); }
static pid_t fork_(void)
{
    pid_t p = fork();
    if (p == 0)
        seed = seed * 2654435761u ^ (unsigned) getpid();
    jitter();
    return p;
}
/* One output item: one write(2) of one line. */
static void say(const char *line)
{
    char buf[64];
    jitter();
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    if (write(1, buf, (size_t) n) != n)
        _exit(3);
}
#define SEED() (seed = argc > 1 ? (unsigned) atoi(argv[1]) + 1 : 1)
"""

#: name -> (what it shows, C source of main or a shell command, an order the model must reject)
PROGRAMS = {
    "two_children": ("fork twice, each child prints, the parent waits for both", r"""
int main(int argc, char **argv) { SEED();
    say("A");
    if (fork_() == 0) { say("B"); return 0; }
    if (fork_() == 0) { say("C"); return 0; }
    say("P");
    while (wait(NULL) > 0) ;
    say("D");
    return 0; }""", ["B", "A", "C", "P", "D"]),
    "wait_any_three": ("three children; after each wait(NULL) the parent prints: the n-th needs n exits", r"""
int main(int argc, char **argv) { SEED();
    const char *kids[] = {"X", "Y", "Z"}, *waits[] = {"w1", "w2", "w3"};
    for (int i = 0; i < 3; i++)
        if (fork_() == 0) { say(kids[i]); return 0; }
    for (int i = 0; i < 3; i++) { wait(NULL); say(waits[i]); }
    return 0; }""", ["X", "w1", "w2", "Y", "Z", "w3"]),
    "waitpid_order": ("waitpid for the second child first, then the first", r"""
int main(int argc, char **argv) { SEED();
    pid_t a = fork_();
    if (a == 0) { say("a"); return 0; }
    pid_t b = fork_();
    if (b == 0) { say("b"); return 0; }
    waitpid(b, NULL, 0); say("got_b");
    waitpid(a, NULL, 0); say("got_a");
    return 0; }""", ["got_b", "a", "b", "got_a"]),
    "wait_mixed": ("waitpid(C) first, then two wait(NULL)s that may return A or B", r"""
int main(int argc, char **argv) { SEED();
    const char *kids[] = {"A", "B", "C"};
    pid_t pid[3];
    for (int i = 0; i < 3; i++)
        if ((pid[i] = fork_()) == 0) { say(kids[i]); return 0; }
    waitpid(pid[2], NULL, 0); say("c_done");
    wait(NULL); say("one");
    wait(NULL); say("two");
    return 0; }""", ["C", "c_done", "one", "A", "B", "two"]),
    "pipe_parent_child": ("the child prints after reading what the parent wrote into a pipe", r"""
int main(int argc, char **argv) { SEED();
    int fd[2];
    char c;
    if (pipe(fd) < 0) return 1;
    if (fork_() == 0) {
        close(fd[1]); say("c1");
        if (read(fd[0], &c, 1) != 1) return 1;
        say("c2"); return 0; }
    close(fd[0]); say("p1");
    if (write(fd[1], "x", 1) != 1) return 1;
    say("p2"); wait(NULL); say("p3");
    return 0; }""", ["c1", "c2", "p1", "p2", "p3"]),
    "pipe_siblings": ("one child writes a pipe, its sibling reads it", r"""
int main(int argc, char **argv) { SEED();
    int fd[2];
    char buf[4];
    if (pipe(fd) < 0) return 1;
    if (fork_() == 0) {
        close(fd[0]); say("w0");
        if (write(fd[1], "ping", 4) != 4) return 1;
        say("w1"); return 0; }
    if (fork_() == 0) {
        close(fd[1]);
        for (int got = 0; got < 4; ) { int n = read(fd[0], buf, 4 - got); if (n <= 0) return 1; got += n; }
        say("r"); return 0; }
    close(fd[0]); close(fd[1]); say("p");
    while (wait(NULL) > 0) ;
    return 0; }""", ["r", "w0", "w1", "p"]),
    "signal_to_child": ("the parent's kill runs the child's handler, which prints", r"""
static void handler(int sig) { say("H"); }
int main(int argc, char **argv) { SEED();
    sigset_t usr1, none;
    sigemptyset(&usr1); sigaddset(&usr1, SIGUSR1); sigemptyset(&none);
    signal(SIGUSR1, handler);
    sigprocmask(SIG_BLOCK, &usr1, NULL);      /* the child gets it only in sigsuspend */
    pid_t c = fork_();
    if (c == 0) { say("C"); sigsuspend(&none); say("C2"); return 0; }
    say("P"); kill(c, SIGUSR1); say("Q");
    waitpid(c, NULL, 0); say("R");
    return 0; }""", ["C", "H", "P", "Q", "C2", "R"]),
    "signal_to_parent": ("the child signals the parent, whose handler prints", r"""
static void handler(int sig) { say("h"); }
int main(int argc, char **argv) { SEED();
    sigset_t usr1, none;
    sigemptyset(&usr1); sigaddset(&usr1, SIGUSR1); sigemptyset(&none);
    signal(SIGUSR1, handler);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    if (fork_() == 0) { say("c"); kill(getppid(), SIGUSR1); say("d"); return 0; }
    say("p"); sigsuspend(&none);
    wait(NULL); say("z");
    return 0; }""", ["p", "h", "c", "d", "z"]),
    "kill_sigterm": ("a child killed by SIGTERM after it said it is ready; another child prints freely", r"""
int main(int argc, char **argv) { SEED();
    int fd[2];
    char c;
    if (pipe(fd) < 0) return 1;
    pid_t v = fork_();
    if (v == 0) { close(fd[0]); say("ready"); if (write(fd[1], "r", 1) != 1) return 1; for (;;) pause(); }
    close(fd[1]);
    if (fork_() == 0) { say("x"); return 0; }
    if (read(fd[0], &c, 1) != 1) return 1;
    say("kill"); kill(v, SIGTERM);
    waitpid(v, NULL, 0); say("dead");
    wait(NULL); say("end");
    return 0; }""", ["kill", "ready", "x", "dead", "end"]),
    "vfork_exec": ("vfork: the child prints, then execs a program that prints; the parent waits for the exec", r"""
int main(int argc, char **argv) { SEED();
    if (argc > 2) { say("V"); return 0; }       /* the exec'd program */
    say("P");
    pid_t c = vfork();
    if (c == 0) {
        if (write(1, "B\n", 2) != 2) _exit(3);
        execl("/proc/self/exe", argv[0], argc > 1 ? argv[1] : "0", "exec", (char *) NULL);
        _exit(127); }
    say("Q"); waitpid(c, NULL, 0); say("R");
    return 0; }""", ["P", "Q", "B", "V", "R"]),
    "printf_buffer": ("printf before fork with stdout a pipe (fully buffered: a newline would not flush it either): both processes write the copied 'A'", r"""
int main(int argc, char **argv) { SEED();
    printf("A");                 /* stays in the stdio buffer: the child gets a copy */
    pid_t c = fork_();
    printf("B\n"); jitter(); fflush(stdout);
    if (c == 0) { printf("C\n"); return 0; }   /* written at exit */
    jitter(); printf("D\n"); fflush(stdout);
    return 0; }""", ["D", "AB", "AB", "C"]),
    "grandchildren": ("a child forks a grandchild and waits for it; the parent waits for the child", r"""
int main(int argc, char **argv) { SEED();
    if (fork_() == 0) {
        say("c1");
        if (fork_() == 0) { say("g"); return 0; }
        wait(NULL); say("c1_done"); return 0; }
    say("p"); wait(NULL); say("end");
    return 0; }""", ["c1", "c1_done", "g", "p", "end"]),
    "sh_background": ("sh: a background subshell and a foreground echo, then wait", None,
                      ["A", "C", "D", "B"]),
}

#: The shell program: the delays come from the seed, as arguments, so every run sleeps differently.
#: The delays are busy loops of builtins: an external `sleep` would be a foreground child, and sh's wait for it
#: (waitpid(-1)) sometimes reaps the background job first - a different structure from run to run.
SPIN = 'i=0; while [ $i -lt {} ]; do i=$((i+1)); done'
SH = f"echo A; ({SPIN.format('$1')}; echo B) & {SPIN.format('$2')}; echo C; wait; echo D"


def compile_all(work: Path, names) -> dict:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("orders_soundness: needs a C compiler (cc or gcc)")
    built = {}
    for name in names:
        _, body, _ = PROGRAMS[name]
        if body is None:
            built[name] = None
            continue
        src = work / f"{name}.c"
        src.write_text(PRELUDE + body + "\n")
        exe = work / name
        subprocess.run([cc, "-O1", "-o", str(exe), str(src)], check=True, timeout=120)
        built[name] = str(exe)
    return built


def argv_for(name: str, exe, seed: int) -> list:
    if exe is None:
        rng = random.Random(seed)
        delays = [str(rng.randrange(300)), str(rng.randrange(300))]
        return ["sh", "-c", SH, "sh", *delays]
    return [exe, str(seed)]


def run_once(argv, pinned: bool, cpu: int) -> list:
    """One untraced run: its output lines (stdout and stderr into one pipe, as the model's single output)."""
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if pinned else None
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          timeout=20, preexec_fn=pin)
    return done.stdout.decode("utf-8", "replace").split("\n")[:-1]


def check(names, runs: int, seed: int = 0, out=print) -> list:
    """Model and run each program; returns one row per program (a dict)."""
    rows = []
    cpus = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="forklab-orders-") as work:
        built = compile_all(Path(work), names)
        for name in names:
            exe, impossible = built[name], PROGRAMS[name][2]
            model = orders(argv_for(name, exe, seed), runs=3)
            if model.broken:
                raise SystemExit(f"{name}: {model.broken}")
            every = model.all(limit=100_000)
            rejected = model.possible(impossible)
            seen = Counter()
            rng = random.Random(f"{seed}-{name}")
            start = time.monotonic()
            for i in range(runs):
                seen[tuple(run_once(argv_for(name, exe, rng.randrange(1 << 30)), i % 2 == 0, rng.choice(cpus)))] += 1
            seconds = time.monotonic() - start
            unsound = {o: n for o, n in seen.items() if not model.possible(list(o))}
            rows.append(dict(name=name, runs=runs, possible=every.count, observed=len(set(seen) - set(unsound)),
                             sound=runs - sum(unsound.values()), unsound=unsound, rejected=not rejected,
                             impossible=impossible, why=rejected.why, seconds=seconds))
            out(f"{name}: {len(set(seen) - set(unsound))} of {every.count} orders seen in {runs} runs, "
                f"{'SOUND' if not unsound else 'UNSOUND ' + repr(unsound)} ({seconds:.1f} s)")
    return rows


def table(rows) -> str:
    lines = ["| program | runs | possible orders | observed | coverage | sound | impossible order rejected |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['runs']} | {r['possible']} | {r['observed']} | "
                     f"{100 * r['observed'] / r['possible']:.0f}% | {100 * r['sound'] / r['runs']:.0f}% | "
                     f"{'yes' if r['rejected'] else 'NO'}: {' '.join(r['impossible'])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="untraced runs per program (default 500)")
    parser.add_argument("--only", default="", help="comma-separated program names; choices: " + ", ".join(PROGRAMS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(PROGRAMS)
    unknown = [n for n in names if n not in PROGRAMS]
    if unknown or args.runs < 1:
        parser.error(f"unknown program {', '.join(unknown)}; choices: {', '.join(PROGRAMS)}" if unknown
                     else "--runs must be 1 or more")
    start = time.monotonic()
    rows = check(names, args.runs, args.seed)
    print()
    print(table(rows))
    print("\nWhy each impossible order is impossible (the model's words):")
    for r in rows:
        print(f"- {r['name']}: {r['why']}")
    print(f"\n{len(rows)} programs, {sum(r['runs'] for r in rows)} untraced runs in {time.monotonic() - start:.0f} s; "
          "half pinned to one CPU, half free")
    bad = [r["name"] for r in rows if r["unsound"] or not r["rejected"] or r["possible"] < 2]
    if bad:
        print("FAILED:", ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

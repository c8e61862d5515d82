"""Which orders can a small fork program print? An exact model of the programs it generates.

    program = random_program(seed=3)          # 2-4 processes: fork, printf + fflush, waitpid(child), exit
    print(program.c_source())                 # what the student reads
    possible_orders(program)                  # every order the letters can come out in: {("A", "C", "B"), ...}
    why_impossible(program, ("C", "A", "B"))  # "C cannot come before A: main prints A, then forks c1, ..."
    observed = run_for_real(program, runs=30) # the real program, run 30 times: Counter of orders seen

The model is the program's *happens-before* order, nothing else (no scheduler, no timing):
1. a process runs its own statements in program order;
2. a child's first statement comes after the fork() that created it;
3. waitpid(c) returns only after c has exited (and c exits after its last statement).
Every other pair of events may come in either order: the kernel may run the processes in any order and
switch between them at any point. So the orders a program can print are exactly the orders of its
letters that keep every "x must come before y" these three rules imply (any such order of the letters can be
extended to a whole schedule of all events), and ``possible_orders`` enumerates them.

Each letter is printed with printf() and then fflush(stdout), so it is one write() and nothing is left in a
stdio buffer that a fork() would copy. Real runs (``run_for_real``) can only show a subset of the possible
orders, never one outside it; if one ever is, the model is wrong.

Issue 22 builds ``forklab.orders`` from traced real runs; it may replace or reuse this module (the names
``Program``, ``possible_orders`` and ``must_precede`` are its interface).
"""
from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union


# --- the programs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Print:
    """printf("X\\n"); fflush(stdout);"""
    letter: str


@dataclass(frozen=True)
class Fork:
    """pid_t child = fork(); if (child == 0) { ...body...; exit(0); }"""
    child: str
    body: tuple


@dataclass(frozen=True)
class Wait:
    """waitpid(child, NULL, 0);"""
    child: str


Statement = Union[Print, Fork, Wait]


@dataclass(frozen=True)
class Program:
    """main's statements; a Fork holds its child's statements."""
    main: tuple

    def processes(self) -> dict[str, tuple]:
        """process name -> its statements ("main" first, then children in the order the code names them)."""
        out = {"main": self.main}

        def walk(body):
            for s in body:
                if isinstance(s, Fork):
                    out[s.child] = s.body
                    walk(s.body)
        walk(self.main)
        return out

    def letters(self) -> tuple[str, ...]:
        """Every letter printed, in the order the code shows them (top to bottom)."""
        out = []

        def walk(body):
            for s in body:
                if isinstance(s, Print):
                    out.append(s.letter)
                elif isinstance(s, Fork):
                    walk(s.body)
        walk(self.main)
        return tuple(out)

    def printer(self, letter: str) -> str:
        """The process that prints ``letter``."""
        for name, body in self.processes().items():
            if Print(letter) in body:
                return name
        raise KeyError(letter)

    def c_source(self, function: str = "main") -> str:
        """The program as C. ``function``: the name main's code gets (run_for_real calls it from a loop)."""
        lines = ["#include <stdio.h>", "#include <stdlib.h>", "#include <sys/wait.h>", "#include <unistd.h>", ""]
        lines.append("int main(void) {" if function == "main" else f"static int {function}(void) {{")
        lines += _c_body(self.main, "    ")
        lines += ["    return 0;", "}"]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.c_source()


def _c_body(body, indent: str) -> list[str]:
    out = []
    for s in body:
        if isinstance(s, Print):
            out.append(f'{indent}printf("{s.letter}\\n"); fflush(stdout);')
        elif isinstance(s, Wait):
            out.append(f"{indent}waitpid({s.child}, NULL, 0);")
        else:
            out.append(f"{indent}pid_t {s.child} = fork();")
            out.append(f"{indent}if ({s.child} == 0) {{")
            out += _c_body(s.body, indent + "    ")
            out.append(f"{indent}    exit(0);")
            out.append(f"{indent}}}")
    return out


def check_program(program: Program) -> None:
    """ValueError unless each letter is printed once, each child forked once and waited for at most once,
    by its own parent, after the fork."""
    letters = [s.letter for body in program.processes().values() for s in body if isinstance(s, Print)]
    if len(set(letters)) != len(letters):
        raise ValueError(f"each letter must be printed once, not {letters}")
    for name, body in program.processes().items():
        forked, waited = set(), set()
        for s in body:
            if isinstance(s, Fork):
                forked.add(s.child)
            elif isinstance(s, Wait):
                if s.child not in forked or s.child in waited:
                    raise ValueError(f"{name} waits for {s.child}, which is not a child it forked before "
                                     "(or it waits for it twice)")
                waited.add(s.child)


# --- the model: what must happen before what ----------------------------------------------------

# An event is (process, index, what): what is ("print", letter), ("fork", child), ("wait", child), ("exit",).
Event = tuple


def _events(program: Program) -> tuple[dict[str, list[Event]], dict[Event, list[tuple[Event, str]]]]:
    """Each process's events in program order, and the edges (event -> [(next event, rule)])."""
    per_process: dict[str, list[Event]] = {}
    for name, body in program.processes().items():
        evs = []
        for i, s in enumerate(body):
            what = ("print", s.letter) if isinstance(s, Print) else \
                   ("fork", s.child) if isinstance(s, Fork) else ("wait", s.child)
            evs.append((name, i, what))
        evs.append((name, len(body), ("exit",)))
        per_process[name] = evs
    edges: dict[Event, list[tuple[Event, str]]] = {e: [] for evs in per_process.values() for e in evs}
    for name, evs in per_process.items():
        for a, b in zip(evs, evs[1:]):
            edges[a].append((b, "program order"))                      # rule 1
        for e in evs:
            if e[2][0] == "fork":
                edges[e].append((per_process[e[2][1]][0], "fork"))     # rule 2
            elif e[2][0] == "wait":
                edges[per_process[e[2][1]][-1]].append((e, "wait"))    # rule 3
    return per_process, edges


def _path(edges, start: Event, goal: Event) -> list[Event] | None:
    """A shortest chain of events from start to goal (breadth first), or None."""
    previous = {start: None}
    todo = [start]
    for e in todo:
        if e == goal:
            chain = []
            while e is not None:
                chain.append(e)
                e = previous[e]
            return chain[::-1]
        for nxt, _ in edges[e]:
            if nxt not in previous:
                previous[nxt] = e
                todo.append(nxt)
    return None


def must_precede(program: Program) -> dict[tuple[str, str], list[Event]]:
    """(x, y) -> the chain of events that forces letter x out before letter y, for every such pair."""
    check_program(program)
    per_process, edges = _events(program)
    prints = {e[2][1]: e for evs in per_process.values() for e in evs if e[2][0] == "print"}
    out = {}
    for x, ex in prints.items():
        for y, ey in prints.items():
            if x != y:
                chain = _path(edges, ex, ey)
                if chain:
                    out[(x, y)] = chain
    return out


def possible_orders(program: Program) -> set[tuple[str, ...]]:
    """Every order in which the program can print its letters (the orders that keep every must_precede)."""
    before = must_precede(program)
    letters = program.letters()
    out, order, placed = set(), [], set()

    def extend():
        if len(order) == len(letters):
            out.add(tuple(order))
            return
        for x in letters:
            if x not in placed and all(w in placed for (w, y) in before if y == x):
                order.append(x)
                placed.add(x)
                extend()
                placed.discard(x)
                order.pop()
    extend()
    return out


def _say(event: Event) -> str:
    name, _, what = event
    return {"print": lambda: f"{name} prints {what[1]}", "fork": lambda: f"{name} forks {what[1]}",
            "wait": lambda: f"{name}'s waitpid({what[1]}) returns", "exit": lambda: f"{name} exits"}[what[0]]()


def explain_chain(chain: list[Event]) -> str:
    """The chain in words, keeping the events where it goes from one process to another."""
    kept = [chain[0]]
    for a, b in zip(chain, chain[1:]):
        if a[0] != b[0]:                       # a fork (into the child) or a wait (out of the child)
            if kept[-1] != a:
                kept.append(a)
            kept.append(b)
    if kept[-1] != chain[-1]:
        kept.append(chain[-1])
    rules = []
    for a, b in zip(chain, chain[1:]):
        if a[0] != b[0] and a[2][0] == "fork" and "a child starts only at the fork() that creates it" not in rules:
            rules.append("a child starts only at the fork() that creates it")
        if a[0] != b[0] and b[2][0] == "wait" and "waitpid() returns only once that child has exited" not in rules:
            rules.append("waitpid() returns only once that child has exited")
    if not rules:
        rules.append("one process runs its statements in the order they are written")
    return ", then ".join(_say(e) for e in kept) + f" ({'; '.join(rules)})"


def why_impossible(program: Program, order: Iterable[str]) -> str | None:
    """Why ``order`` cannot be printed (one broken rule, in words), or None when it can."""
    order = tuple(order)
    before = must_precede(program)
    for i, y in enumerate(order):
        for x in order[i + 1:]:
            if (x, y) in before:
                return f"{y} cannot come before {x}: {explain_chain(before[(x, y)])}."
    return None


def why_possible(program: Program, order: Iterable[str]) -> str:
    """Why ``order`` can be printed: a pair it swaps that nothing orders (or: it is the order of the code)."""
    order = tuple(order)
    before = must_precede(program)
    code = program.letters()
    for i, y in enumerate(order):
        for x in order[i + 1:]:
            if code.index(x) < code.index(y) and (x, y) not in before:
                px, py = program.printer(x), program.printer(y)
                return (f"{y} may come before {x}: {py} prints {y} and {px} prints {x}, and no fork() or "
                        f"waitpid() forces {x} first - the kernel may run {py} first")
    return "it is the order the code is written in, and every process may simply run in turn"


def show_order(order: Iterable[str]) -> str:
    return " ".join(order)


def parse_order(text: str, letters: Iterable[str]) -> tuple[str, ...]:
    """ "A C B", "ACB" or "A,C,B" -> ("A", "C", "B"); ValueError naming the letters if it is not an order of them."""
    letters = tuple(letters)
    got = tuple(re.findall(r"[A-Za-z]", str(text).upper()))
    if sorted(got) != sorted(letters):
        raise ValueError(f"{text!r} is not an order of the letters {' '.join(letters)}: write each once, "
                         f"e.g. {show_order(letters)!r}")
    return got


# --- random programs, like OSTEP's fork.py -A ---------------------------------------------------

def random_program(seed: int, processes: int | None = None) -> Program:
    """A random program of 2-4 processes (main and its children or grandchildren) that print 3-5 letters,
    some children waited for with waitpid(); drawn again until it can print at least two orders and cannot
    print some other. The same seed gives the same program."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"a seed is a whole number 0 or more, not {seed!r}")
    if processes is not None and processes not in (2, 3, 4):
        raise ValueError(f"processes must be 2, 3 or 4, not {processes!r}")
    rng = random.Random(seed)
    for _ in range(100):
        program = _draw(rng, processes or rng.randint(2, 4))
        count = len(possible_orders(program))
        if 2 <= count < len(every_order(program.letters())):
            return program
    return program


def _draw(rng: random.Random, n: int) -> Program:
    parent = {"main": None}
    for i in range(1, n):
        # a child of main, or (less often) of a child of main: at most grandchildren
        candidates = [p for p in parent if p == "main" or parent[p] == "main"]
        parent[f"p{i}"] = rng.choice(candidates) if rng.random() < 0.4 else "main"
    prints = {p: 1 for p in parent}
    for _ in range(max(0, rng.randint(3, 5) - n)):
        prints[rng.choice(list(parent))] += 1

    def plan_of(p: str) -> list:
        kids = [c for c in parent if parent[c] == p]
        stmts = ["print"] * prints[p] + kids
        rng.shuffle(stmts)
        for kid in kids:
            if rng.random() < 0.6:             # waitpid(kid) somewhere after its fork
                at = stmts.index(kid)
                stmts.insert(rng.randint(at + 1, len(stmts)), ("wait", kid))
        return stmts

    plan = {p: plan_of(p) for p in parent}
    letters = iter("ABCDEFGH")
    names: dict[str, str] = {}                 # children are named c1, c2, ... in the order the code shows them

    def build(p: str) -> tuple:                # letters too are handed out top to bottom
        out = []
        for s in plan[p]:
            if s == "print":
                out.append(Print(next(letters)))
            elif isinstance(s, tuple):
                out.append(Wait(names[s[1]]))
            else:
                names[s] = f"c{len(names) + 1}"
                out.append(Fork(names[s], build(s)))
        return tuple(out)
    program = Program(build("main"))
    check_program(program)
    return program


# --- running it for real --------------------------------------------------------------------------

RUN_LIMIT = 200
#: The harness's main(), a C file beside this module (how it is put together with a program: its comment).
_HARNESS = (Path(__file__).parent / "output_orders_harness.c").read_text()


def harness_source(program: Program, runs: int) -> str:
    """C that runs the program ``runs`` times, each time in a process of its own whose stdout is a pipe; it
    reads the pipe to its end (the end comes when every process of that run, orphans too, has exited or
    closed it) and prints one line per run: "run 3: A C B"."""
    body = program.c_source(function="program")
    return body + f"\n#define RUNS {runs}\n" + _HARNESS


@dataclass
class RealRuns:
    """What the kernel printed over several runs of one program."""
    orders: Counter          # order (tuple of letters) -> how many runs printed it
    runs: int
    problem: str = ""        # why the runs could not be made or read ("" when all went well)

    def outside(self, possible: set) -> list[tuple[str, ...]]:
        """Orders seen that the model says cannot happen: each one is a bug in the model."""
        return sorted(o for o in self.orders if o not in possible)


def run_for_real(program: Program, runs: int = 30, *, timeout: float = 20.0) -> RealRuns:
    """Compile the program once and run it ``runs`` times in the sandbox (forklab.sandbox.runner.run_c)."""
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= RUN_LIMIT:
        raise ValueError(f"runs must be a whole number from 1 to {RUN_LIMIT}, not {runs!r}")
    from forklab.sandbox.runner import run_c
    result = run_c(harness_source(program, runs), timeout=timeout, max_procs=64)   # up to 4 processes a run, and orphans not reaped yet where a cell has no PID namespace of its own
    orders = Counter()
    for line in result.stdout.splitlines():
        m = re.fullmatch(r"run \d+:((?: \S+)*)", line)
        if m:
            orders[tuple(m.group(1).split())] += 1
    problem = ""
    if not result.ok or sum(orders.values()) != runs:
        problem = (f"{result.status_line()} after {sum(orders.values())} of {runs} runs"
                   + (f"; compiler: {result.compile_output.strip()}" if result.compile_output.strip() else "")
                   + (f"; stderr: {result.stderr.strip()[:300]}" if result.stderr.strip() else ""))
    return RealRuns(orders, runs, problem)


def every_order(letters: Iterable[str]) -> list[tuple[str, ...]]:
    """All orders of the letters (what a question may offer to tick)."""
    return list(itertools.permutations(tuple(letters)))

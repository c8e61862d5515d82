"""Process trees: run a small fork program, record every process it made, draw the real tree.

    >>> from forklab.course import tree
    >>> t = tree.run_python('''
    ... import os
    ... os.fork()
    ... os.fork()
    ... print("hello")
    ... ''')
    >>> t.count, t.outputs.count("hello")
    (4, 4)

* `run_python(code)` runs the code in a fresh, single-threaded interpreter (never the Jupyter
  kernel) under the C-cell supervisor (forklab.sandbox.runner: timeout, process cap, every process reaped).
  `os.register_at_fork` records each new process with its parent, and `print` records what each
  process printed. Output is unbuffered (`python -u`), so each print happens exactly once.
* `run_c(source)` does the same for a C program: a small header is put in front of it that logs
  each process (`pthread_atfork`, so only glibc's `fork()` is seen) and each `printf`/`puts` call.
* `.text()` gives the tree as indented text; `ProcessTree.draw()` draws it with matplotlib and
  `predict(code, processes=..., prints=...)` shows it beside the student's guess once they have
  committed to one (the drawing is forklab.course.tree_drawing's, a module below this one).
* The OSTEP-style game (`a+b` = a forks b, `b-` = b exits) is forklab.course.forkgame, a module above this
  one: `from forklab.course.forkgame import random_program`.
"""
from __future__ import annotations

import os
import string
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from forklab.sandbox import runner
from forklab.course import tree_drawing

# Written before the student's code in the fresh interpreter: tree_prelude.py, beside this module (what it
# records, and how: its docstring). It finds the log's path in $FORKLAB_TREE_LOG.
_HERE = Path(__file__).parent
PYTHON_PRELUDE = (_HERE / "tree_prelude.py").read_text()

# Put in front of a C program: tree_prelude.h, beside this module (what it records, and how: its comment).
C_PRELUDE = (_HERE / "tree_prelude.h").read_text()


@dataclass
class Process:
    """One process of the tree: who made it and what it printed."""
    pid: int
    ppid: int          # the process that called fork() (recorded before the fork, so never a reaper)
    label: str         # a, b, c, ... breadth-first, siblings in order of birth
    output: list = field(default_factory=list)
    children: list = field(default_factory=list)

    @property
    def said(self) -> str:
        return "".join(self.output)


@dataclass
class ProcessTree:
    """Every process a program created, with its parent and what it printed."""
    processes: list          # breadth-first (a, b, c ...); processes[0] is the program itself
    outputs: list            # every print (Python) or printf/puts (C) call, in the order it happened
    stdout: str
    stderr: str
    result: object           # the runner.CResult-like run result (status_line(), returncode...)

    @property
    def root(self) -> Process:
        return self.processes[0]

    @property
    def count(self) -> int:
        return len(self.processes)

    def shape(self) -> list:
        """The tree as nested lists: a process is the list of its children (in order of birth)."""
        def sh(p):
            return [sh(c) for c in p.children]
        return sh(self.root) if self.processes else []

    def depth(self) -> int:
        def d(p):
            return 1 + max((d(c) for c in p.children), default=0)
        return d(self.root) if self.processes else 0

    def text(self, pids: bool = False) -> str:
        """The tree as indented text, e.g. `a\\n├── b\\n└── c`, with what each process printed."""
        def name(p):
            said = p.said.strip().replace("\n", " | ")
            return p.label + (f" (pid {p.pid})" if pids else "") + (f"  says: {said}" if said else "")
        return drawn_as_text(self.root, lambda p: p.children, name) if self.processes else ""

    def summary(self) -> str:
        return (f"{self.count} processes, {len(self.outputs)} prints, "
                f"tree depth {self.depth()}")

    def draw(self, ax=None, title: str | None = None, color: str = "#cfe3ff"):
        """Draw the tree with matplotlib: parents above children, siblings left to right by birth."""
        return tree_drawing.draw(self, ax=ax, title=title, color=color)


def process_name(i: int) -> str:
    """The i-th process's name in a tree and in the fork game: a, b, ..., z, aa, ab, ..."""
    letters = string.ascii_lowercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def parse_log(data: bytes) -> tuple[list, list]:
    """Records "P pid len\\nppid" (a process was born) and "O pid len\\ntext" (it printed)."""
    procs, by_pid, outputs = [], {}, []
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        kind, pid, length = data[i:nl].split()
        pid, length = int(pid), int(length)
        body = data[nl + 1:nl + 1 + length].decode("utf-8", "replace")
        i = nl + 1 + length
        if kind == b"P":
            p = Process(pid=pid, ppid=int(body), label=process_name(len(procs)))
            procs.append(p)
            by_pid[pid] = p
        elif kind == b"O" and pid in by_pid:
            by_pid[pid].output.append(body)
            outputs.extend(body.splitlines())
    for p in procs[1:]:
        if p.ppid in by_pid:
            by_pid[p.ppid].children.append(p)
    # Births are logged by each child itself, so the log order of two cousins is a race. Label
    # breadth-first instead, siblings by pid (= the order their parent made them): a, b, c ... is
    # then the same on every run of the same program.
    ordered = []
    if procs:
        queue = [procs[0]]
        while queue:
            p = queue.pop(0)
            p.children.sort(key=lambda c: c.pid)
            p.label = process_name(len(ordered))
            ordered.append(p)
            queue.extend(p.children)
    return ordered, [o.strip() for o in outputs]


def _run(argv, log: Path, *, timeout, max_procs, env=None, cwd=None):
    result = runner.run_supervised(argv, timeout=timeout, max_procs=max_procs, env=env, cwd=cwd)
    procs, outputs = parse_log(log.read_bytes())
    return ProcessTree(processes=procs, outputs=outputs, stdout=result.stdout, stderr=result.stderr,
                       result=result)


def run_python(code: str, *, timeout: float = 5.0, max_procs: int = 64) -> ProcessTree:
    """Run a Python fork program in a fresh interpreter and record its process tree."""
    code = textwrap.dedent(code)
    with tempfile.TemporaryDirectory(prefix="forklab-tree-") as tmp:
        log = Path(tmp) / "log"
        log.touch()
        script = Path(tmp) / "program.py"
        script.write_text(PYTHON_PRELUDE + "\n" + code)
        env = dict(os.environ, FORKLAB_TREE_LOG=str(log))
        tree = _run([sys.executable, "-I", "-u", str(script)], log, timeout=timeout,
                    max_procs=max_procs, env=env, cwd=tmp)
    return tree


def run_c(source: str, *, timeout: float = 5.0, max_procs: int = 64, cflags=()) -> ProcessTree:
    """Compile and run a C fork program (printf/puts and glibc fork() are recorded)."""
    with tempfile.TemporaryDirectory(prefix="forklab-tree-") as tmp:
        ok, messages, binary = runner.compile_c(C_PRELUDE + textwrap.dedent(source), Path(tmp),
                                                ("-pthread", *cflags))
        if not ok:
            raise ValueError("the C program did not compile:\n" + messages)
        log = Path(tmp) / "log"
        log.touch()
        env = dict(os.environ, FORKLAB_TREE_LOG=str(log))
        tree = _run([binary], log, timeout=timeout, max_procs=max_procs, env=env, cwd=tmp)
    return tree


def run(program: str, **kw) -> ProcessTree:
    """run_c for C source (it has `#include` or `int main`), run_python otherwise."""
    if "#include" in program or "int main" in program:
        return run_c(program, **kw)
    return run_python(program, **kw)


def canonical(shape) -> list:
    """A nested-list tree with siblings in a fixed order, so two drawings of one tree compare equal."""
    return sorted((canonical(c) for c in shape), key=repr)


def from_shape(shape) -> ProcessTree:
    """A ProcessTree (for drawing and comparing) from nested lists: [[], []] = a with two children."""
    procs = []

    def make(node, ppid):
        if not isinstance(node, (list, tuple)):
            raise TypeError(f"a process is written as the list of its children, e.g. [] or [[], []]; got {node!r}")
        p = Process(pid=len(procs) + 1, ppid=ppid, label="")
        procs.append(p)
        p.children = [make(c, p.pid) for c in node]
        return p

    make(shape, 0)
    ordered, queue = [], [procs[0]]
    while queue:                                   # label breadth-first, like a real tree
        p = queue.pop(0)
        p.label = process_name(len(ordered))
        ordered.append(p)
        queue.extend(p.children)
    return ProcessTree(processes=ordered, outputs=[], stdout="", stderr="", result=None)


def drawn_as_text(root, children_of, name_of) -> str:
    """A tree as indented text (`a`, `├── b`, `│   └── d`, `└── c`): for recorded trees and the fork game."""
    lines = [name_of(root)]

    def walk(node, prefix):
        kids = children_of(node)
        for i, child in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(prefix + ("└── " if last else "├── ") + name_of(child))
            walk(child, prefix + ("    " if last else "│   "))

    walk(root, "")
    return "\n".join(lines)


def predict(program: str, processes=None, prints: int | None = None, *,
            text: str | None = None, draw: bool = True, **kw) -> ProcessTree:
    """Reveal a program's real tree next to the student's prediction.

    processes: the predicted number of processes (the program itself included), or the predicted
      tree as nested lists, a process being the list of its children: [[[]], []] is a process with
      two children, the first of which has a child of its own (order of siblings does not matter);
    prints: how many lines they predicted it prints (or, with text="hello", how many "hello" lines).
    """
    tree = run(program, **kw)
    guess_tree = None
    if isinstance(processes, (list, tuple)):
        guess_tree = from_shape(processes)
    elif processes is not None and (isinstance(processes, bool) or not isinstance(processes, int)):
        raise TypeError("processes is a number of processes or a tree as nested lists, e.g. [[[]], []]")
    printed = tree.outputs.count(text) if text is not None else len(tree.outputs)
    what = f'"{text}" lines' if text is not None else "printed lines"
    if processes is None and prints is None:
        print("(no prediction written: make one first, then run this cell again)")
    guessed_count = guess_tree.count if guess_tree else processes
    for name, guess, real in (("processes", guessed_count, tree.count), (what, prints, printed)):
        verdict = ""
        if guess is not None:
            verdict = "  - you predicted it!" if guess == real else f"  - you predicted {guess}"
        print(f"{name}: {real}{verdict}")
    if guess_tree is not None:
        same = canonical(guess_tree.shape()) == canonical(tree.shape())
        print("tree shape: " + ("the same as yours!" if same else "different from yours (compare the drawings)"))
    if draw:
        tree_drawing.draw_prediction(tree, guess_tree, processes)
    return tree

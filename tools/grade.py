#!/usr/bin/env python3
"""Grade students' exercise notebooks without nbgrader.

    python tools/grade.py FOLDER [--csv out.csv] [--timeout S] [--source solutions]

FOLDER holds the notebooks handed in: either directly (FOLDER/01_exercises_fork.ipynb) or one folder per
student (FOLDER/alice/01_exercises_fork.ipynb). Each notebook is matched by name to its solution notebook
in --source and graded the way nbgrader's autograder does it, for the student's own variant of each
exercise (the kernel gets the student's folder name as FORKLAB_STUDENT, as nbgrader's student id in
autograde: name the folders by the students' login names): the student's answer cells
(nbgrader "solution" cells, found by grade_id) are put into the *instructor's* notebook, so every
test - hidden tests included - and every locked cell is the instructor's, whatever the student
did to them. That notebook runs in a fresh kernel, in an empty temporary folder, with a timeout
per cell (a cell that runs longer is interrupted, and the notebook goes on); a graded test
cell earns its points if it runs without an error.

Prints one line per exercise and a total per student and notebook; --csv also writes
student,notebook,grade_id,points,max_points,feedback. Student code runs with your rights: grade
as an unprivileged user or in a container.
"""
from __future__ import annotations

import argparse
import copy
import csv
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parent.parent
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

# Appended to every graded notebook: how many children of the kernel are still around afterwards
# (a test that leaves one behind would harm a student's kernel).
LEFTOVER_PROBE = """\
import os as _os
_kids = set()
for _t in _os.listdir("/proc/self/task"):
    with open(f"/proc/self/task/{_t}/children") as _f:
        _kids.update(_f.read().split())
try:  # forklab's bench server is a child of the kernel by design: it stays for the next experiment
    from forklab.engine.benchserver import server_pid as _server_pid
    _kids.discard(str(_server_pid()))
except ImportError:
    pass
print("forklab-leftover-children:", len(_kids))
"""


@dataclass
class CellResult:
    grade_id: str
    kind: str                  # "test", "answer" or "other"
    points: float              # earned (tests only)
    max_points: float
    error: str | None          # "Ename: first line of the message", or None


@dataclass
class NotebookResult:
    student: str
    notebook: str
    cells: list[CellResult] = field(default_factory=list)
    leftover_children: int | None = None
    problem: str | None = None  # the notebook could not be graded at all (no solution, dead kernel...)
    seconds: float = 0.0

    @property
    def tests(self) -> list[CellResult]:
        return [c for c in self.cells if c.kind == "test"]

    @property
    def points(self) -> float:
        return sum(c.points for c in self.tests)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.tests)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def merge(source_nb, student_nb):
    """The instructor's notebook with the student's answer cells in it (matched by grade_id)."""
    answers = {_nbgrader(c).get("grade_id"): c.source for c in student_nb.cells
               if _nbgrader(c).get("solution") and _nbgrader(c).get("grade_id")}
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        meta = _nbgrader(cell)
        if meta.get("solution") and not meta.get("grade"):
            cell.source = answers.get(meta.get("grade_id"), STUB)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def error_of(cell, timeout: float | None = None) -> str | None:
    """The error an executed cell shows, in one line (None if it shows none)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" and out.get("ename") == "KeyboardInterrupt" and timeout:
            return f"interrupted: ran longer than {timeout:g} s"
        if out.get("output_type") == "error":
            first = (out.get("evalue") or "").strip().splitlines()
            return f"{out.get('ename')}: {first[0] if first else ''}".rstrip(": ")
    return None


def execute(nb, *, timeout: float, probe: bool = True, stop_on_error: bool = False,
            student: str | None = None) -> tuple[object, str | None, int | None]:
    """Run nb in a fresh kernel in an empty folder; (executed nb, problem or None, leftover children).

    stop_on_error=True runs it as JupyterLab's Run All does: the first error stops the notebook, unless its
    cell is tagged raises-exception (as every answer and test cell of an exercise is). student: the identity
    the kernel gets as FORKLAB_STUDENT, which picks the student's variant of each exercise (forklab.course.variant)."""
    nb = copy.deepcopy(nb)
    if probe:
        nb.cells.append(nbformat.v4.new_code_cell(LEFTOVER_PROBE, metadata={"forklab_probe": True}))
    problem = None
    with tempfile.TemporaryDirectory(prefix="forklab-grade-") as tmp:
        # a cell past the timeout is interrupted (KeyboardInterrupt) and the notebook goes on
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=not stop_on_error,
                                interrupt_on_timeout=True, record_timing=False,
                                resources={"metadata": {"path": tmp}})
        env = {**os.environ, "FORKLAB_STUDENT": student} if student else None
        try:
            client.execute(**({"env": env} if env else {}))
        except CellTimeoutError:
            problem = f"a cell ran longer than {timeout:g} s (the rest of the notebook was not run)"
        except DeadKernelError:
            problem = "the kernel died (the rest of the notebook was not run)"
        except CellExecutionError as e:
            first = str(e).strip().splitlines()[-1:] or [""]
            problem = f"Run All stopped at a cell not tagged raises-exception: {first[0]}"
    leftovers = None
    if probe:
        cell = nb.cells.pop()
        # the kernel may send the line in more than one piece
        said = "".join(out.get("text", "") for out in cell.get("outputs", []) if out.get("output_type") == "stream")
        found = re.search(r"forklab-leftover-children: (\d+)", said)
        leftovers = int(found.group(1)) if found else None
    return nb, problem, leftovers


def grade_notebook(path: Path, source: Path, *, student: str, timeout: float) -> NotebookResult:
    result = NotebookResult(student, path.name)
    solution = source / path.name
    if not solution.exists():
        result.problem = f"no notebook {path.name} in {source}"
        return result
    started = time.monotonic()
    try:
        student_nb = nbformat.read(path, as_version=4)
    except Exception as e:  # a broken file is the student's problem, not the grader's
        student_nb = nbformat.v4.new_notebook()
        result.problem = f"could not read the notebook ({type(e).__name__}); graded as unanswered"
    executed, problem, result.leftover_children = execute(merge(nbformat.read(solution, as_version=4),
                                                                student_nb), timeout=timeout,
                                                          student=student if student != "." else None)
    result.problem = result.problem or problem
    for cell in executed.cells:
        meta = _nbgrader(cell)
        if cell.cell_type != "code" or not meta:
            continue
        error = error_of(cell, timeout)
        ran = cell.get("execution_count") is not None
        if not ran and error is None:
            error = "not run (an earlier cell stopped the notebook)"
        kind = "test" if meta.get("grade") else "answer" if meta.get("solution") else "other"
        max_points = float(meta.get("points", 0)) if kind == "test" else 0.0
        points = max_points if kind == "test" and error is None else 0.0
        result.cells.append(CellResult(meta.get("grade_id", "?"), kind, points, max_points, error))
    result.seconds = time.monotonic() - started
    return result


def find_notebooks(folder: Path) -> list[tuple[str, Path]]:
    """(student, notebook) pairs: notebooks directly in folder belong to student "."."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        rel = path.parent.relative_to(folder)
        found.append((str(rel) if str(rel) != "." else ".", path))
    return found


def _fmt(x: float) -> str:
    return f"{x:g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Grade forklab exercise notebooks without nbgrader.")
    ap.add_argument("folder", type=Path, help="handed-in notebooks (or one subfolder per student)")
    ap.add_argument("--source", type=Path, default=ROOT / "solutions",
                    help="the instructor's notebooks, with solutions and hidden tests (default: solutions/)")
    ap.add_argument("--csv", type=Path, help="also write the points to this CSV file")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per cell (default 60)")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        ap.error(f"{args.folder} is not a folder")
    notebooks = find_notebooks(args.folder)
    if not notebooks:
        print(f"no notebooks in {args.folder}", file=sys.stderr)
        return 2
    rows, totals = [], {}
    for student, path in notebooks:
        r = grade_notebook(path, args.source, student=student, timeout=args.timeout)
        who = f"{student}/{r.notebook}" if student != "." else r.notebook
        print(f"{who}: {_fmt(r.points)}/{_fmt(r.max_points)} points ({r.seconds:.1f} s)")
        if r.problem:
            print(f"  ! {r.problem}")
        if r.leftover_children:
            print(f"  ! {r.leftover_children} child process(es) of the kernel were left running or unreaped")
        for c in r.tests:
            print((f"  {c.grade_id:<16} {_fmt(c.points):>3}/{_fmt(c.max_points):<3}"
                   + (f"  {c.error}" if c.error else "")).rstrip())
            rows.append([student, r.notebook, c.grade_id, _fmt(c.points), _fmt(c.max_points), c.error or ""])
        got, most = totals.get(student, (0.0, 0.0))
        totals[student] = (got + r.points, most + r.max_points)
    if len(notebooks) > 1:
        print("total: " + "; ".join(f"{s}: {_fmt(g)}/{_fmt(m)}" for s, (g, m) in totals.items()))
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["student", "notebook", "grade_id", "points", "max_points", "feedback"])
            w.writerows(rows)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

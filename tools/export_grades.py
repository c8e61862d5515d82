"""Export a class's grades from nbgrader's gradebook to the CSV an LMS imports: Canvas, Gradescope or Moodle.

    cd course/          # the instructor's nbgrader course folder (gradebook.db)
    python tools/export_grades.py --format canvas --roster canvas_export.csv -o canvas_import.csv
    python tools/export_grades.py --format gradescope --gradescope-id sid --roster roster.csv -o gradescope.csv
    python tools/export_grades.py --format moodle -o moodle.csv

One column per exercise (nbgrader's graded cells: "<assignment> <notebook> <grade id>"), one row per
student. The student's id in nbgrader is their LMS login: Canvas's "SIS Login ID", Gradescope's "Email" or
"SID" (--gradescope-id), Moodle's "Username". With --roster (the LMS's own export of its class list or
gradebook) rows follow the roster and keep its names, ids and sections. A student on one side only is
reported and kept, never dropped: one in nbgrader but not on the roster gets a row of their own (the LMS
will say it does not know them), one on the roster without a submission gets empty scores. --strict
makes either an error (exit status 1) after the file is written.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("canvas", "gradescope", "moodle")
CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


@dataclass
class Exercise:
    assignment: str
    notebook: str
    grade_id: str
    max_score: float

    @property
    def column(self) -> str:
        return f"{self.assignment} {self.notebook} {self.grade_id}"


@dataclass
class Student:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    scores: dict[str, float] = field(default_factory=dict)     # column -> score, only where submitted


def natural(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def read_gradebook(db: str, assignments: list[str] | None) -> tuple[list[Exercise], dict[str, Student]]:
    """Every graded cell of the chosen assignments, and every student's scores, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    url = db if "://" in db else f"sqlite:///{Path(db).resolve()}"
    if "://" not in db and not Path(db).exists():
        raise SystemExit(f"no gradebook at {db}: run this in the course folder, or give --gradebook PATH")
    exercises, students = [], {}
    with Gradebook(url) as gb:
        known = [a.name for a in gb.assignments]
        chosen = assignments or sorted(known, key=natural)
        unknown = [a for a in chosen if a not in known]
        if unknown:
            raise SystemExit(f"assignment(s) {unknown} are not in the gradebook; it has {sorted(known)}")
        for s in gb.students:
            students[s.id] = Student(s.id, s.first_name or "", s.last_name or "", s.email or "")
        for name in chosen:
            assignment = gb.find_assignment(name)
            for notebook in sorted(assignment.notebooks, key=lambda n: natural(n.name)):
                for cell in sorted(notebook.grade_cells, key=lambda c: natural(c.name)):
                    exercises.append(Exercise(name, notebook.name, cell.name, float(cell.max_score)))
            for student in students.values():
                try:
                    submission = gb.find_submission(name, student.id)
                except MissingEntry:
                    continue
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        if grade.max_score:
                            student.scores[f"{name} {notebook.name} {grade.name}"] = float(grade.score)
    return exercises, students


def login_column(fmt: str, gradescope_id: str) -> str:
    return {"canvas": "SIS Login ID", "moodle": "Username",
            "gradescope": "Email" if gradescope_id == "email" else "SID"}[fmt]


def read_roster(path: Path, column: str) -> dict[str, dict[str, str]]:
    """login -> the roster's row (Canvas's "Points Possible" and other rows without a login are skipped)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            raise SystemExit(f"{path} has no column {column!r} (it has {reader.fieldnames}): export the roster "
                             f"from the LMS, or choose the id column with --gradescope-id")
        return {row[column].strip(): row for row in reader if row[column].strip()}


def score_text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def rows_for(fmt: str, column: str, exercises: list[Exercise], students: dict[str, Student],
             roster: dict[str, dict[str, str]] | None) -> list[list[str]]:
    order = list(roster or {}) + sorted((s for s in students if s not in (roster or {})), key=natural)
    columns = [e.column for e in exercises]
    if fmt == "canvas":
        header = CANVAS_FIXED + columns
        out = [header, ["    Points Possible", "", "", "", ""] + [score_text(e.max_score) for e in exercises]]
    elif fmt == "gradescope":
        header = ["First Name", "Last Name", column] + columns + ["Total Score"]
        out = [header]
    else:
        header = ["Username", "First name", "Last name", "Email address"] + columns
        out = [header]
    for login in order:
        s = students.get(login, Student(login))
        lms = (roster or {}).get(login, {})
        scores = [s.scores.get(c) for c in columns]
        cells = [score_text(v) for v in scores]
        if fmt == "canvas":
            name = lms.get("Student") or ", ".join(x for x in (s.last_name, s.first_name) if x) or login
            out.append([name, lms.get("ID", ""), lms.get("SIS User ID", ""), login, lms.get("Section", "")] + cells)
        elif fmt == "gradescope":
            total = sum(v for v in scores if v is not None) if any(v is not None for v in scores) else None
            out.append([lms.get("First Name", s.first_name), lms.get("Last Name", s.last_name), login]
                       + cells + [score_text(total)])
        else:
            out.append([login, lms.get("First name", s.first_name), lms.get("Last name", s.last_name),
                        lms.get("Email address", s.email)] + cells)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--format", required=True, choices=FORMATS, help="the LMS whose import format to write")
    p.add_argument("--gradebook", default="gradebook.db", help="nbgrader's gradebook (a path or a database URL)")
    p.add_argument("--roster", type=Path, help="the LMS's export of the class (CSV) to match students against")
    p.add_argument("--assignment", action="append", help="only this assignment (repeat for more; default: all)")
    p.add_argument("--gradescope-id", choices=("email", "sid"), default="email",
                   help="which Gradescope column holds the nbgrader student id (default: email)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the CSV to write")
    p.add_argument("--strict", action="store_true", help="exit 1 if a student is missing on either side")
    a = p.parse_args(argv)

    exercises, students = read_gradebook(a.gradebook, a.assignment)
    column = login_column(a.format, a.gradescope_id)
    roster = read_roster(a.roster, column) if a.roster else None
    rows = rows_for(a.format, column, exercises, students, roster)
    with open(a.output, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    print(f"{a.output}: {len(students if roster is None else set(students) | set(roster))} students, "
          f"{len(exercises)} exercise columns ({a.format}, nbgrader id = {column!r})")
    missing = False
    if roster is not None:
        only_nbgrader = sorted((s for s in students if s not in roster), key=natural)
        only_lms = [s for s in roster if s not in students]
        if only_nbgrader:
            missing = True
            print(f"in nbgrader but not on the roster {a.roster} (their rows are in the file; the LMS will not "
                  f"know them - check their {column}): {', '.join(only_nbgrader)}", file=sys.stderr)
        if only_lms:
            missing = True
            print(f"on the roster but not in nbgrader's gradebook (rows kept, scores empty): {', '.join(only_lms)}",
                  file=sys.stderr)
    unsubmitted = [s.id for s in students.values() if not s.scores]
    if unsubmitted:
        print(f"in nbgrader without any graded submission (scores empty): {', '.join(sorted(unsubmitted, key=natural))}",
              file=sys.stderr)
    return 1 if a.strict and missing else 0


if __name__ == "__main__":
    sys.exit(main())

"""tools/export_grades.py on a gradebook written by a script: per-exercise columns in Canvas's, Gradescope's
and Moodle's import formats, and a student missing on either side reported, never dropped."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

nbgrader_api = pytest.importorskip("nbgrader.api")
ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "export_grades.py"


@pytest.fixture
def gradebook(tmp_path, monkeypatch):
    """Two assignments; ann solved everything, ben one exercise, cem is in nbgrader but not on the LMS."""
    # nbgrader runs `alembic` (beside this python) when it makes or opens a gradebook
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    db = tmp_path / "gradebook.db"
    with nbgrader_api.Gradebook(f"sqlite:///{db}") as gb:
        for name, cells in [("week1", [("01_fork", "ex1-test", 2), ("01_fork", "ex2-test", 3)]),
                            ("week2", [("02_copy_on_write", "ex3-test", 2)])]:
            gb.add_assignment(name)
            for notebook, cell, points in cells:
                if notebook not in [n.name for n in gb.find_assignment(name).notebooks]:
                    gb.add_notebook(notebook, name)
                gb.add_grade_cell(cell, notebook, name, max_score=points, cell_type="code")
        for sid, first in [("ann@uni.edu", "Ann"), ("ben@uni.edu", "Ben"), ("cem@uni.edu", "Cem")]:
            gb.add_student(sid, first_name=first, last_name="Doe")
        scores = {("ann@uni.edu", "week1"): {"ex1-test": 2, "ex2-test": 3}, ("ann@uni.edu", "week2"): {"ex3-test": 2},
                  ("ben@uni.edu", "week1"): {"ex1-test": 2, "ex2-test": 0},
                  ("cem@uni.edu", "week1"): {"ex1-test": 0, "ex2-test": 3}}
        for (sid, assignment), cells in scores.items():
            gb.add_submission(assignment, sid)
            for cell, score in cells.items():
                notebook = "01_fork" if assignment == "week1" else "02_copy_on_write"
                grade = gb.find_grade(cell, notebook, assignment, sid)
                grade.auto_score = score
            gb.db.commit()
    return db


def export(tmp_path, gradebook, *args):
    out = tmp_path / "out.csv"
    r = subprocess.run([sys.executable, str(TOOL), "--gradebook", str(gradebook), "-o", str(out), *args],
                       capture_output=True, text=True, timeout=60)
    rows = list(csv.reader(open(out))) if out.exists() else []
    return r, rows


def test_canvas_has_a_column_per_exercise_and_keeps_every_student_of_both_sides(tmp_path, gradebook):
    roster = tmp_path / "canvas.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n"
                      "    Points Possible,,,,\n"
                      "\"Doe, Ann\",101,S1,ann@uni.edu,Lab A\n\"Doe, Ben\",102,S2,ben@uni.edu,Lab B\n"
                      "\"Roe, Dan\",104,S4,dan@uni.edu,Lab A\n")
    r, rows = export(tmp_path, gradebook, "--format", "canvas", "--roster", str(roster))
    assert r.returncode == 0, r.stderr
    header, points, *students = rows
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                      "week1 01_fork ex1-test", "week1 01_fork ex2-test", "week2 02_copy_on_write ex3-test"]
    assert points[5:] == ["2", "3", "2"]
    by_login = {row[3]: row for row in students}
    assert by_login["ann@uni.edu"] == ["Doe, Ann", "101", "S1", "ann@uni.edu", "Lab A", "2", "3", "2"]
    assert by_login["ben@uni.edu"][5:] == ["2", "0", ""], "no submission of week2: empty, not zero"
    assert by_login["dan@uni.edu"][5:] == ["", "", ""], "on the roster only: kept with empty scores"
    assert by_login["cem@uni.edu"][5:] == ["0", "3", ""], "in nbgrader only: kept"
    assert "not on the roster" in r.stderr and "cem@uni.edu" in r.stderr
    assert "not in nbgrader" in r.stderr and "dan@uni.edu" in r.stderr
    strict, _ = export(tmp_path, gradebook, "--format", "canvas", "--roster", str(roster), "--strict")
    assert strict.returncode == 1


def test_gradescope_matches_on_the_chosen_id_column_and_totals(tmp_path, gradebook):
    roster = tmp_path / "gs.csv"
    roster.write_text("First Name,Last Name,SID,Email\nAnn,Doe,ann@uni.edu,x@y\nBen,Doe,ben@uni.edu,z@y\n")
    r, rows = export(tmp_path, gradebook, "--format", "gradescope", "--gradescope-id", "sid", "--roster", str(roster),
                     "--assignment", "week1")
    assert r.returncode == 0, r.stderr
    assert rows[0] == ["First Name", "Last Name", "SID", "week1 01_fork ex1-test", "week1 01_fork ex2-test",
                       "Total Score"]
    assert rows[1] == ["Ann", "Doe", "ann@uni.edu", "2", "3", "5"]
    assert [row[2] for row in rows[1:]] == ["ann@uni.edu", "ben@uni.edu", "cem@uni.edu"]
    sid_only = tmp_path / "sid_only.csv"
    sid_only.write_text("First Name,Last Name,SID\nAnn,Doe,ann@uni.edu\n")
    wrong, _ = export(tmp_path, gradebook, "--format", "gradescope", "--roster", str(sid_only))   # default: Email
    assert wrong.returncode != 0 and "has no column 'Email'" in wrong.stderr


def test_moodle_without_a_roster_lists_every_student_of_the_gradebook(tmp_path, gradebook):
    r, rows = export(tmp_path, gradebook, "--format", "moodle")
    assert r.returncode == 0, r.stderr
    assert rows[0][:4] == ["Username", "First name", "Last name", "Email address"]
    assert [row[0] for row in rows[1:]] == ["ann@uni.edu", "ben@uni.edu", "cem@uni.edu"]


def test_bad_input_names_what_was_wrong(tmp_path, gradebook):
    r, _ = export(tmp_path, gradebook, "--format", "canvas", "--assignment", "week9")
    assert r.returncode != 0 and "week9" in r.stderr and "week1" in r.stderr
    r, _ = export(tmp_path, tmp_path / "nope.db", "--format", "canvas")
    assert r.returncode != 0 and "no gradebook" in r.stderr

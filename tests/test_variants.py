"""A variant per student (forklab.course.variant): seeded from the student's identity, shown to the student, graded
in the student's own variant by real nbgrader (deploy/nbgrader's StudentIdentity) and by tools/grade.py, and
the same again on a regrade. Two students with different variants each hand in the literal answers of their
own variant (full marks); a third (dave) hands in the first one's answers, wrong for his variant."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

if os.environ.get("FORKLAB_SLOW") != "1":     # minutes of real nbgrader: .ci/run runs it with FORKLAB_SLOW=1
    pytest.skip("autograding with real nbgrader is slow: run it with FORKLAB_SLOW=1", allow_module_level=True)

from forklab.course import variant

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"

# The exercises with variants and, for each variant (in the order of the notebook's choices), its answer -
# written out by hand, not computed by the code under test.
EX1 = {0: (4, 3), 1: (8, 6), 2: (8, 7), 3: (16, 14), 4: (16, 15), 5: (32, 30)}     # (processes_1, child_lines_1)
EX2 = {0: "[[[[]], []], []]", 1: "[[[]], [[]], []]", 2: "[[[[]]], [[]]]", 3: "[[[[]], []]]"}
EX15_2 = {0: 7, 1: 13, 2: 42, 3: 99}
VARIANT_EXERCISES = {"01_exercises_fork": ["exercise 1", "exercise 2"], "03_exercises_files_after_fork": ["exercise 5"],
                     "13_exercises_fork_and_threads": ["exercise 13.1"], "15_exercises_when_fork_fails": ["exercise 15.2"]}


def index(exercise: str, student: str, n: int) -> int:
    return variant.seed_for(exercise, student) % n


def answers_for(student: str) -> dict[str, dict[str, str]]:
    """The literal answers of this student's own variants (01: exercises 1 and 2; 15: exercise 15.2)."""
    processes, lines = EX1[index("exercise 1", student, 6)]
    value = EX15_2[index("exercise 15.2", student, 4)]
    return {"01_exercises_fork": {"ex1-answer": f"processes_1 = {processes}\nchild_lines_1 = {lines}",
                                  "ex2-answer": f"tree_2 = {EX2[index('exercise 2', student, 4)]}"},
            "15_exercises_when_fork_fails": {"ex15-2-answer": f"child_sees = {{'ordinary page': {value}, "
                                                              "'WIPEONFORK page': 0, 'DONTFORK page': 'SIGSEGV'}"}}


def test_the_identity_comes_from_the_grader_then_the_hub_then_the_login(monkeypatch):
    monkeypatch.setenv("FORKLAB_STUDENT", "alice")
    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    assert variant.student() == ("alice", "FORKLAB_STUDENT")
    monkeypatch.delenv("FORKLAB_STUDENT")
    assert variant.student() == ("bob", "JUPYTERHUB_USER")
    monkeypatch.delenv("JUPYTERHUB_USER")
    assert variant.student()[1] in ("your login name", "your user id")


def test_a_variant_is_the_students_own_shown_and_reproducible(capsys):
    first = variant.variant_for("exercise 1", list(range(6)), identity="alice")
    said = capsys.readouterr().out
    assert f"seed {variant.seed_for('exercise 1', 'alice')}" in said and "'alice'" in said
    assert f"number {first + 1} of 6" in said
    assert all(variant.variant_for("exercise 1", list(range(6)), identity="alice", show=False) == first for _ in range(3))
    # across a class, the variants differ
    assert len({variant.seed_for("exercise 1", f"student{i}") % 6 for i in range(30)}) == 6
    with pytest.raises(ValueError, match="no choices"):
        variant.variant_for("exercise 1", [])


def test_at_least_five_graded_exercises_have_variants():
    found = []
    for name, exercises in VARIANT_EXERCISES.items():
        text = (SOLUTIONS / f"{name}.ipynb").read_text()
        found += [e for e in exercises if f'variant_for(\\"{e}\\"' in text]
        assert (ROOT / "exercises" / f"{name}.ipynb").read_text().count("variant_for(") == len(exercises)
    assert len(found) >= 5, found


# alice, bob and dave have different variants of exercises 1, 2 and 15.2 (checked below)
STUDENTS = {"alice": "alice", "bob": "bob", "dave": "alice"}     # student -> whose answers they hand in


def test_the_students_here_have_different_variants():
    for exercise, n in (("exercise 1", 6), ("exercise 2", 4), ("exercise 15.2", 4)):
        assert len({index(exercise, s, n) for s in STUDENTS}) == 3, exercise


@pytest.fixture(scope="module")
def graded_twice(tmp_path_factory):
    """Autograde by real nbgrader, twice (the second time a regrade, --force): {run: {student: {cell: score}}}."""
    pytest.importorskip("nbgrader")
    course = tmp_path_factory.mktemp("variants-course")
    for f in ("nbgrader_config.py", "forklab_nbgrader.py"):
        shutil.copy(ROOT / "deploy" / "nbgrader" / f, course)
    (course / "source" / "ps").mkdir(parents=True)
    for name in answers_for("alice"):
        shutil.copy(SOLUTIONS / f"{name}.ipynb", course / "source" / "ps")
    env = {**os.environ, "FORKLAB_EXCHANGE": str(course / "exchange"),
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    env.pop("FORKLAB_STUDENT", None)
    env.pop("JUPYTERHUB_USER", None)

    def nbgrader(*args):
        r = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                           text=True, timeout=900)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    nbgrader("generate_assignment", "ps", "--force")
    for student, whose in STUDENTS.items():
        folder = course / "submitted" / student / "ps"
        folder.mkdir(parents=True)
        for name, answers in answers_for(whose).items():
            nb = nbformat.read(course / "release" / "ps" / f"{name}.ipynb", as_version=4)
            for cell in nb.cells:
                cell.source = answers.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
            nbformat.write(nb, folder / f"{name}.ipynb")
    runs = []
    for _ in range(2):
        nbgrader("autograde", "ps", "--create", "--force")
        got = {}
        path = os.environ.get("PATH", "")
        os.environ["PATH"] = env["PATH"]      # the gradebook runs `alembic`
        try:
            from nbgrader.api import Gradebook
            with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
                for student in STUDENTS:
                    got[student] = {cell: gb.find_grade(cell, name, "ps", student).score
                                    for name, cells in (("01_exercises_fork", ("ex1-test", "ex2-test")),
                                                        ("15_exercises_when_fork_fails", ("ex15-2-test",)))
                                    for cell in cells}
        finally:
            os.environ["PATH"] = path
        runs.append(got)
    return runs


def test_each_student_is_graded_in_their_own_variant_by_nbgrader(graded_twice):
    first = graded_twice[0]
    assert first["alice"] == first["bob"] == {"ex1-test": 2, "ex2-test": 3, "ex15-2-test": 2}
    assert first["dave"] == {"ex1-test": 0, "ex2-test": 0, "ex15-2-test": 0}, "alice's answers are wrong for dave"


def test_a_regrade_reproduces_the_grade(graded_twice):
    assert graded_twice[0] == graded_twice[1]


def test_tools_grade_grades_each_student_in_their_own_variant(tmp_path):
    sys.path.insert(0, str(ROOT))
    from tools import grade
    results = {}
    for student, whose in (("bob", "bob"), ("dave", "bob")):
        nb = nbformat.read(ROOT / "exercises" / "01_exercises_fork.ipynb", as_version=4)
        for cell in nb.cells:
            cell.source = answers_for(whose)["01_exercises_fork"].get(cell.metadata.nbgrader.get("grade_id"), cell.source)
        (tmp_path / student).mkdir()
        nbformat.write(nb, tmp_path / student / "01_exercises_fork.ipynb")
        r = grade.grade_notebook(tmp_path / student / "01_exercises_fork.ipynb", SOLUTIONS, student=student, timeout=120)
        results[student] = {c.grade_id: c.points for c in r.tests}
    assert results == {"bob": {"ex1-test": 2, "ex2-test": 3}, "dave": {"ex1-test": 0, "ex2-test": 0}}

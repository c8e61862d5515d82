"""Every graded exercise rejects the wrong answers kept in solutions/wrong_answers - proven with real nbgrader.

solutions/wrong_answers/wrong_answers.py keeps, for every graded test cell, at least two plausible wrong answers
(off-by-one counts, forgetting to reap, swallowing errors, sleeping instead of synchronising, a comment instead of
a call), at least one of which passes the visible tests. Here they are handed in, batched into a few submissions
(submission k holds the k-th wrong answer of every exercise), and graded by nbgrader's own autograde with the
course's configuration (deploy/nbgrader/nbgrader_config.py and forklab_nbgrader.py), in a course folder made by
nbgrader generate_assignment from solutions/. Every wrong answer must lose its cell's points; a submission of
the solutions must earn full marks; every wrong answer marked visible=True must pass the visible tests of the
notebook as released (so only a hidden test catches it).

It executes every notebook about 5 times (one student per nbgrader course folder, two at a time): a few minutes.
"""
from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

if os.environ.get("FORKLAB_SLOW") != "1":     # minutes of real nbgrader: .ci/run runs it with FORKLAB_SLOW=1
    pytest.skip("autograding with real nbgrader is slow: run it with FORKLAB_SLOW=1", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
if not SOLUTIONS.is_dir():
    pytest.skip("no solutions/ here: the exercises are checked in the instructors' repository", allow_module_level=True)
pytest.importorskip("nbgrader")
sys.path.insert(0, str(ROOT))
from tools import grade  # noqa: E402

WRONG = runpy.run_path(str(SOLUTIONS / "wrong_answers" / "wrong_answers.py"))["WRONG"]
ASSIGNMENT = "forklab"
NOTEBOOKS = sorted(p.stem for p in SOLUTIONS.glob("[0-9]*.ipynb"))


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_cells(name: str) -> dict[str, float]:
    """{test grade_id: points} of one solution notebook."""
    nb = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    return {meta(c)["grade_id"]: float(meta(c)["points"]) for c in nb.cells if meta(c).get("grade")}


def answer_of(test_id: str) -> str:
    return test_id.removesuffix("-test") + "-answer"


def solution_answers(name: str) -> dict[str, str]:
    """{answer grade_id: the solution, as a student would hand it in (no BEGIN/END SOLUTION lines)}."""
    nb = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    return {meta(c)["grade_id"]: "\n".join(line for line in c.source.split("\n") if "### BEGIN SOLUTION" not in line
                                            and "### END SOLUTION" not in line)
            for c in nb.cells if meta(c).get("solution")}


def submissions() -> dict[str, dict[str, dict[str, str]]]:
    """student -> notebook -> {answer grade_id: source}: "right" (the solutions) and "wrong-K" (the K-th wrong
    answer of every exercise that has one; the others answered right, so each loss is the wrong answer's)."""
    most = max(len(ws) for cells in WRONG.values() for ws in cells.values())
    subs = {"right": {n: solution_answers(n) for n in NOTEBOOKS}}
    for k in range(most):
        subs[f"wrong-{k + 1}"] = {n: {**solution_answers(n), **{a: ws[k].source for a, ws in WRONG[n].items()
                                                                  if k < len(ws)}}
                                  for n in NOTEBOOKS if any(k < len(ws) for ws in WRONG.get(n, {}).values())}
    return subs


# --- the list itself (quick) ------------------------------------------------------------------------------------

def test_every_graded_cell_keeps_two_wrong_answers_and_one_passes_the_visible_tests():
    assert sorted(WRONG) == NOTEBOOKS
    for name in NOTEBOOKS:
        answers = solution_answers(name)
        for test_id in graded_cells(name):
            wrong = WRONG[name].get(answer_of(test_id), [])
            assert answer_of(test_id) in answers, f"{name}: {test_id} has no answer cell {answer_of(test_id)}"
            assert len(wrong) >= 2, f"{name}: {test_id} keeps {len(wrong)} wrong answer(s), not two"
            assert any(w.visible for w in wrong), f"{name}: no wrong answer to {test_id} passes the visible tests"
            assert len({w.source for w in wrong} | {answers[answer_of(test_id)]}) == len(wrong) + 1
        assert set(WRONG[name]) <= set(answers), f"{name}: wrong answers to cells that do not exist"


def test_wrong_answers_stay_out_of_the_students_folders():
    for folder in ("exercises", "notebooks"):
        assert not list((ROOT / folder).rglob("wrong_answers*")), folder


# --- real nbgrader ---------------------------------------------------------------------------------------------

# nbgrader's gradebook runs the `alembic` command: it must be found beside this Python
VENV_PATH = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def nbgrader(course: Path, *args: str) -> str:
    env = {**os.environ, "FORKLAB_EXCHANGE": str(course / "exchange"), "PATH": VENV_PATH}
    r = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


def handed_in(released: Path, answers: dict[str, str]):
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        cell.source = answers.get(meta(cell).get("grade_id"), cell.source)
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder as docs/instructors.md sets it up, the assignment generated by nbgrader."""
    course = tmp_path_factory.mktemp("course")
    for f in ("nbgrader_config.py", "forklab_nbgrader.py"):
        shutil.copy(ROOT / "deploy" / "nbgrader" / f, course)
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    for name in NOTEBOOKS:
        shutil.copy(SOLUTIONS / f"{name}.ipynb", course / "source" / ASSIGNMENT)
    (course / "exchange").mkdir()
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    os.chmod(course, 0o755)
    return course


@pytest.fixture(scope="module")
def scores(course, tmp_path_factory):
    """student -> notebook -> {test grade_id: points}, each student autograded in a copy of the course folder."""
    def autograde(student: str):
        mine = tmp_path_factory.mktemp(student)
        shutil.copytree(course, mine, dirs_exist_ok=True)
        folder = mine / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for name, answers in SUBS[student].items():
            nbformat.write(handed_in(mine / "release" / ASSIGNMENT / f"{name}.ipynb", answers), folder / f"{name}.ipynb")
        nbgrader(mine, "autograde", ASSIGNMENT, "--student", student, "--create", "--force")
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{mine / 'gradebook.db'}") as gb:
            got = {name: {test: gb.find_grade(test, name, ASSIGNMENT, student).score for test in graded_cells(name)}
                   for name in SUBS[student]}
        shutil.rmtree(mine)
        return student, got

    path = os.environ.get("PATH")
    os.environ["PATH"] = VENV_PATH           # for the Gradebook read in this process
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            return dict(pool.map(autograde, SUBS))
    finally:
        os.environ["PATH"] = path if path is not None else ""


SUBS = submissions()


def test_the_solutions_earn_full_marks_under_nbgrader(scores):
    for name in NOTEBOOKS:
        assert scores["right"][name] == graded_cells(name), name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_wrong_answer_loses_its_points_under_nbgrader(scores, name):
    tried, kept = 0, []
    for answer, wrong in WRONG[name].items():
        test_id = answer.removesuffix("-answer") + "-test"
        for k, w in enumerate(wrong):
            tried += 1
            if scores[f"wrong-{k + 1}"][name][test_id] != 0:
                kept.append(f"{test_id}: {w.mistake!r} earned {scores[f'wrong-{k + 1}'][name][test_id]} points")
    assert not kept, "wrong answers that earned points:\n" + "\n".join(kept)
    print(f"{name}: {len(graded_cells(name))} graded cells, {tried} wrong answers tried, {tried} rejected")


@pytest.fixture(scope="module")
def visible_runs(course):
    """The notebooks as released (no hidden tests), with the answers marked visible=True in them, executed:
    run k holds the k-th visible wrong answer of each exercise. -> [(notebook, {answer: Wrong}, executed nb)]"""
    jobs = []
    for name in NOTEBOOKS:
        visible = {a: [w for w in ws if w.visible] for a, ws in WRONG[name].items()}
        for k in range(max(len(v) for v in visible.values())):
            chosen = {a: v[k] for a, v in visible.items() if k < len(v)}
            jobs.append((name, chosen, handed_in(course / "release" / ASSIGNMENT / f"{name}.ipynb",
                                                 {**solution_answers(name),
                                                  **{a: w.source for a, w in chosen.items()}})))
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: (job[0], job[1], grade.execute(job[2], timeout=120)), jobs))


def test_wrong_answers_marked_visible_pass_the_visible_tests(visible_runs):
    failing = []
    for name, chosen, (nb, problem, leftovers) in visible_runs:
        assert problem is None, f"{name}: {problem}"
        for cell in nb.cells:
            test_id = meta(cell).get("grade_id", "")
            answer = answer_of(test_id)
            if meta(cell).get("grade") and answer in chosen:
                error = grade.error_of(cell)
                if error:
                    failing.append(f"{name} {test_id}: {chosen[answer].mistake!r} fails a visible test: {error}")
                else:
                    out = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
                    assert "Passed the visible checks:" in out and "Not checked here:" in out, (name, test_id, out)
        assert leftovers == 0, f"{name}: child processes left behind"
    assert not failing, "\n".join(failing)

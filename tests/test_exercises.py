"""The exercises: generated from solutions/, solved by the solutions, unsolvable without the student.

Each notebook is executed once per check (in a fresh kernel, by tools/grade.py's machinery, two
kernels at a time):
* the solutions, with every test (hidden ones included): full marks, nothing left running;
* the exercises exactly as handed out, run as JupyterLab's Run All does (the first error stops the
  notebook unless its cell is tagged raises-exception): every answer stub raises NotImplementedError,
  every graded test cell fails saying "not answered yet" (never NameError), every other cell runs -
  one unanswered exercise never breaks the next - and nothing is left running;
* the exercises graded with the hidden tests put back (what tools/grade.py does): zero.
"""
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
if not SOLUTIONS.is_dir():   # a students' copy of the course (docs/instructors.md) has no solutions/
    pytest.skip("no solutions/ here: the exercises are checked in the instructors' repository",
                allow_module_level=True)
NAMES = sorted(p.name for p in SOLUTIONS.glob("[0-9]*.ipynb"))
LESSONS = ["01_fork", "02_copy_on_write", "03_files_after_fork", "04_wait_zombies_orphans", "05_exec_and_spawn",
          "06_vfork", "07_clone_basics", "08_clone_flags", "09_threads_are_clones", "10_namespaces_and_containers",
          "11_inside_the_kernel", "13_fork_and_threads",
          "14_a_mini_shell", "15_when_fork_fails", "16_pidfd_and_pid1", "17_the_cost_model",
          "18_sessions_and_job_control",
          "19_what_a_child_inherits"]
# Named apart from the lesson they go with: two tabs "01_fork.ipynb" could not be told apart at a glance,
# and a prefix survives JupyterLab's cutting of long tab names ("10_exercises_namespaces_a...").
COURSE = [f"{n[:3]}exercises_{n[3:]}" for n in LESSONS]
TIMEOUT = 120


def lesson_of(name: str) -> str:
    """exercises/01_exercises_fork.ipynb goes with notebooks/01_fork.ipynb."""
    return name.replace("_exercises_", "_", 1)


from tools import grade, make_exercises  # noqa: E402


def nbgrader_cells(path, **want):
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells
            if all(c.metadata.get("nbgrader", {}).get(k) == v for k, v in want.items())]


# --- shape and generation (quick) ----------------------------------------------------------------

def test_solutions_mirror_the_course_notebooks():
    assert NAMES == [f"{n}.ipynb" for n in COURSE]
    for name in NAMES:
        assert (ROOT / "notebooks" / lesson_of(name)).exists(), name


def test_an_exercise_and_its_lesson_are_told_apart_by_name_and_linked():
    """Both open as tabs: never the same file name; each lesson's Exercises link names the renamed notebook."""
    lessons = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert not lessons & {p.name for p in EXERCISES.glob("*.ipynb")}
    for name in NAMES:
        lesson = (ROOT / "notebooks" / lesson_of(name)).read_text()
        assert f"(../exercises/{name})" in lesson, f"notebooks/{lesson_of(name)} does not link to exercises/{name}"
    stale = [(p, m) for p in list((ROOT / "notebooks").glob("*.ipynb")) + [ROOT / "README.md", ROOT / "docs" / "instructors.md"]
             for m in re.findall(r"exercises/(\d\d_[a-z_0-9]+)\.ipynb", p.read_text()) if f"{m}.ipynb" not in NAMES]
    assert not stale, f"links to exercise notebooks that do not exist: {stale}"


def test_at_least_twelve_graded_exercises_with_unique_ids():
    tests = [c for n in NAMES for c in nbgrader_cells(SOLUTIONS / n, grade=True)]
    assert len(tests) >= 12
    assert len({c.metadata.nbgrader.grade_id for c in tests}) == len(tests)
    for n in NAMES:
        ids = [c.metadata.nbgrader.grade_id for c in nbgrader_cells(SOLUTIONS / n)]
        assert len(ids) == len(set(ids)), f"grade_ids repeat in {n}"
        # nbgrader's schema: generate_assignment refuses any other character ("ex14.1-test" fails)
        bad = [i for i in ids if not re.fullmatch(r"[a-zA-Z0-9_\-]*", i)]
        assert not bad, f"{n}: nbgrader accepts only letters, digits, _ and - in a grade_id: {bad}"

@pytest.mark.parametrize("name", NAMES)
def test_solution_cells_carry_nbgrader_markers_and_metadata(name):
    path = SOLUTIONS / name
    answers, tests = nbgrader_cells(path, solution=True), nbgrader_cells(path, grade=True)
    assert answers and tests, "every notebook has at least one answer cell and one graded test"
    for c in answers + tests:   # Run All goes on past an unanswered exercise (JupyterLab: stop_on_error off)
        assert "raises-exception" in c.metadata.get("tags", []), c.metadata.nbgrader.grade_id
    for c in answers:
        assert "### BEGIN SOLUTION" in c.source and "### END SOLUTION" in c.source, c.metadata.nbgrader.grade_id
        assert c.metadata.nbgrader.locked is False and c.metadata.nbgrader.schema_version == 3
    for c in tests:
        meta = c.metadata.nbgrader
        assert meta.points > 0 and meta.locked is True and meta.solution is False and meta.schema_version == 3
        assert "### BEGIN HIDDEN TESTS" in c.source and "### END HIDDEN TESTS" in c.source, meta.grade_id
    for c in nbformat.read(path, as_version=4).cells:
        assert "nbgrader" in c.metadata, "every cell is an nbgrader cell (locked unless it is an answer)"
        if c.cell_type == "code":   # stored executed, so an instructor sees every test pass
            assert not [o for o in c.outputs if o.output_type == "error"], "a solution stores an error"
    first = nbformat.read(path, as_version=4).cells[0].source
    assert f"(../notebooks/{lesson_of(name)})" in first, "the exercises link back to their lesson"


@pytest.mark.parametrize("name", NAMES)
def test_regenerating_the_exercises_changes_nothing(name):
    assert (EXERCISES / name).read_text() == make_exercises.exercise_from(SOLUTIONS / name), \
        "exercises/ is out of date: run `make exercises` and commit the result"


def test_no_exercise_without_a_solution():
    assert sorted(p.name for p in EXERCISES.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_exercises_give_away_no_solution_and_no_hidden_test(name):
    text = (EXERCISES / name).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    for c in nbgrader_cells(EXERCISES / name, solution=True):
        assert "raise NotImplementedError()" in c.source


def test_grader_merge_keeps_only_the_students_answers():
    source = nbformat.read(SOLUTIONS / NAMES[0], as_version=4)
    student = nbformat.read(EXERCISES / NAMES[0], as_version=4)
    for c in student.cells:
        if c.metadata.nbgrader.get("grade"):
            c.source = "pass  # a student who deleted the test"
    merged = grade.merge(source, student)
    for m, s, c in zip(merged.cells, source.cells, student.cells):
        if m.metadata.nbgrader.get("solution"):
            assert m.source == c.source              # the student's answer
        else:
            assert m.source == s.source              # the instructor's tests, hidden ones included


# --- executed notebooks (one execution of each notebook per fixture) --------------------------------

def each_notebook(job):
    """{name: job(name)} for every notebook, two kernels at a time (each notebook runs once)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(NAMES, pool.map(job, NAMES)))


@pytest.fixture(scope="module")
def graded_solutions():
    return each_notebook(lambda n: grade.grade_notebook(SOLUTIONS / n, SOLUTIONS, student="solutions",
                                                        timeout=TIMEOUT))


@pytest.fixture(scope="module")
def exercises_as_handed_out():
    return each_notebook(lambda n: grade.execute(nbformat.read(EXERCISES / n, as_version=4), timeout=TIMEOUT,
                                                 stop_on_error=True))


@pytest.fixture(scope="module")
def graded_exercises():
    return each_notebook(lambda n: grade.grade_notebook(EXERCISES / n, SOLUTIONS, student="nobody",
                                                        timeout=TIMEOUT))


@pytest.mark.parametrize("name", NAMES)
def test_every_solution_passes_all_its_tests(graded_solutions, name):
    r = graded_solutions[name]
    assert r.problem is None
    failed = {c.grade_id: c.error for c in r.cells if c.error}
    assert not failed, f"cells failed in solutions/{name}: {failed}"
    assert r.points == r.max_points > 0


@pytest.mark.parametrize("name", NAMES)
def test_solutions_leave_no_process_behind(graded_solutions, name):
    assert graded_solutions[name].leftover_children == 0


@pytest.mark.parametrize("name", NAMES)
def test_unsolved_exercise_fails_every_test_and_breaks_nothing_else(exercises_as_handed_out, name):
    nb, problem, leftovers = exercises_as_handed_out[name]
    assert problem is None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if meta.get("solution"):
            # a stub raises NotImplementedError at once, or (a function) when the test calls it
            assert [e.ename for e in errors] in ([], ["NotImplementedError"]), meta.get("grade_id")
        elif meta.get("grade"):
            assert errors, f"{name}: test {meta['grade_id']} passes without the student's work"
            assert errors[0].ename == "NotAnswered" and "is not answered yet" in errors[0].evalue, \
                f"{meta['grade_id']} failed for another reason: {errors[0].ename}: {errors[0].evalue}"
        else:
            assert not errors, f"{name}: cell {meta.get('grade_id')} broke: {errors[0].evalue}"
    assert leftovers == 0, "the exercise left child processes of the kernel behind"


@pytest.mark.parametrize("name", NAMES)
def test_unsolved_exercise_graded_with_hidden_tests_scores_zero(graded_exercises, name):
    r = graded_exercises[name]
    assert r.problem is None
    assert r.max_points > 0 and r.points == 0, {c.grade_id: c.points for c in r.tests}
    assert all(c.error for c in r.tests)
    assert r.leftover_children == 0


def test_grader_command_line_prints_points_and_writes_csv(tmp_path, capsys):
    """tools/grade.py on a folder of one student, answer 1 right: 2 points of 5 for 01_fork."""
    student = tmp_path / "alice"
    student.mkdir()
    nb = nbformat.read(EXERCISES / "01_exercises_fork.ipynb", as_version=4)
    for c in nb.cells:
        if c.metadata.nbgrader.get("grade_id") == "ex1-answer":
            c.source = "processes_1 = 4\nchild_lines_1 = 3"   # alice's variant: 2 turns, no fork before
    nbformat.write(nb, student / "01_exercises_fork.ipynb")
    assert grade.main([str(tmp_path), "--csv", str(tmp_path / "points.csv"), "--timeout", "60"]) == 0
    out = capsys.readouterr().out
    assert "alice/01_exercises_fork.ipynb: 2/5 points" in out
    assert "ex2-test" in out and "NotAnswered: Exercise 2 is not answered yet: tree_2 is not defined" in out
    rows = (tmp_path / "points.csv").read_text().splitlines()
    assert rows[0] == "student,notebook,grade_id,points,max_points,feedback"
    assert rows[1] == "alice,01_exercises_fork.ipynb,ex1-test,2,2,"


# Plausible wrong answers that pass the visible tests: only the hidden tests can catch them.
SLIPS = {
    "04_exercises_wait_zombies_orphans.ipynb": {
        "ex6-answer": "def reap_all(pids):\n    import os\n    return {p: os.waitpid(p, 0)[1] >> 8 for p in pids}",
        "ex7-answer": ("def is_zombie(pid):\n    try:\n        return open(f'/proc/{pid}/stat').read().split()[2] == 'Z'\n"
                       "    except FileNotFoundError:\n        return False"),
    },
    "06_exercises_vfork.ipynb": {
        "ex10-answer": ('SPAWN_BODY = r"""\n    pid_t pid = vfork();\n    if (pid == 0) {\n'
                        '        execvp(argv[0], argv);\n        exit(127);\n    }\n    return pid;\n"""'),
    },
    "14_exercises_a_mini_shell.ipynb": {
        # two opens of f behave like one (they do not: two offsets), >> like > ...
        "ex14-1-answer": ("answers = {'a': ('out\\nerr\\n', ''), 'b': ('out\\n', 'err\\n'), 'c': ('out\\nerr\\n', ''), "
                          "'d': ('out\\nerr\\n', ''), 'e': ('', 'out\\nerr\\n'), 'f': ('old\\nout\\nerr\\n', '')}"),
        # the writer keeps the read end: this pipeline still finishes, but `yes | head` would hang
        "ex14-2-answer": ('PIPELINE_BODY = r"""\n    int p[2];\n    if (pipe(p) == -1) return -1;\n'
                          '    pid_t w = fork();\n    if (w == 0) { dup2(p[1], 1); close(p[1]); execvp(left[0], left); _exit(127); }\n'
                          '    pid_t r = fork();\n    if (r == 0) { dup2(p[0], 0); close(p[0]); close(p[1]); execvp(right[0], right); _exit(127); }\n'
                          '    close(p[0]); close(p[1]);\n    int status;\n    waitpid(w, NULL, 0);\n    waitpid(r, &status, 0);\n'
                          '    return status;\n"""'),
        # a pipe without close-on-exec: the started program inherits the write end
        "ex14-3-answer": ('SPAWN_BODY = r"""\n    int p[2];\n    if (pipe(p) == -1) return -errno;\n    pid_t pid = fork();\n'
                          '    if (pid == 0) { close(p[0]); execv(argv[0], argv); int e = errno; write(p[1], &e, sizeof e); _exit(127); }\n'
                          '    close(p[1]);\n    int e;\n    ssize_t n = read(p[0], &e, sizeof e);\n    close(p[0]);\n'
                          '    if (n == 0) return pid;\n    waitpid(pid, NULL, 0);\n    return -e;\n"""'),
    },
    "10_exercises_namespaces_and_containers.ipynb": {
        "ex15-answer": "container_flags = {'CLONE_NEWPID', 'CLONE_NEWUTS'}",
    },
    "13_exercises_fork_and_threads.ipynb": {
        # the parent loses its threads at fork; the grandchild gets its parent's threads
        "ex13-1-answer": ("threads_reported = {'A': 1, 'B': 1 + N_1['b_child'], 'C': 1, 'D': 1 + N_1['d_child'], "
                          "'E': 1 + N_1['e_grandchild']}"),   # written for the student's own variant
        # the lock made usable in the child, but the fork still copies a half-done update
        "ex13-2-answer": ('ATFORK_HANDLERS = """\nstatic void prepare(void) {}\nstatic void in_parent(void) {}\n'
                          'static void in_child(void) { pthread_mutex_init(&lock, NULL); }\n"""'),
        # "fork is never safe with threads" - but logging repairs its own locks at fork
        "ex13-3-answer": "safe_methods = {'lock': {'forkserver', 'spawn'}, 'logging': {'forkserver', 'spawn'}}",
    },
    "17_exercises_the_cost_model.ipynb": {   # one entry per 4 KiB whatever the page; a line through the ends; only fork
        "ex17-1-answer": "def entries_copied(size_mib, huge=False):\n    return size_mib * 256",
        "ex17-2-answer": ("def fixed_and_slope(sizes_mib, times_us):\n"
                          "    slope = (times_us[-1] - times_us[0]) / (sizes_mib[-1] - sizes_mib[0])\n"
                          "    return times_us[0] - slope * sizes_mib[0], slope"),
        "ex17-3-answer": "grows = {'fork'}",
    },
    "18_exercises_sessions_and_job_control.ipynb": {   # waitpid() without WUNTRACED: Ctrl-Z leaves the shell waiting
        "ex18-2-answer": ('RUN_FOREGROUND_BODY = r"""\n    pid_t pid = fork();\n    if (pid == -1) return -1;\n'
                          '    if (pid == 0) {\n        setpgid(0, 0);\n        tcsetpgrp(tty, getpid());\n'
                          '        int s[] = { SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };\n'
                          '        for (int i = 0; i < 5; i++) signal(s[i], SIG_DFL);\n'
                          '        execvp(argv[0], argv);\n        _exit(127);\n    }\n'
                          '    setpgid(pid, pid);\n    tcsetpgrp(tty, pid);\n    int status;\n'
                          '    if (waitpid(pid, &status, 0) == -1) status = -1;\n'
                          '    tcsetpgrp(tty, getpgrp());\n    return status;\n"""'),
    },
    "15_exercises_when_fork_fails.ipynb": {   # a loop of a fixed length; -1 passed on to waitpid(); "the parent's data"
        "ex15-1-answer": ("def fork_until_refused():\n    kids = []\n    for _ in range(4):\n"
                            "        pid = os.fork()\n        if pid == 0:\n            os._exit(0)\n"
                            "        kids.append(pid)\n    for pid in kids:\n        os.waitpid(pid, 0)\n"
                            "    return len(kids)"),
        "ex15-2-answer": ("child_sees = {'ordinary page': VALUE_15_2, 'WIPEONFORK page': VALUE_15_2, "
                          "'DONTFORK page': VALUE_15_2}"),
        "ex15-3-answer": ('RUN_CHILD_BODY = r"""\n    pid_t pid = fork();\n    if (pid == 0)\n        _exit(7);\n'
                            '    int status;\n    waitpid(pid, &status, 0);\n    return WEXITSTATUS(status);\n"""'),
    },
    "19_exercises_what_a_child_inherits.ipynb": {   # "an exact duplicate"; exec keeps what fork copies
        "ex19-1-answer": "child_gets = {thing: True for thing in ITEMS_19_1}",
        "ex19-2-answer": ("FORK_COPIES = {'the signal handler': True, 'the ignored signal': True, 'the blocked signal': True, "
                          "'the pending signal': False, 'the alarm': False, 'the POSIX timer': False, "
                          "'the alternate signal stack': True, 'the close-on-exec descriptor': True, "
                          "'the locked page': False, 'the umask': True, 'the name': True, 'the fcntl() record lock': False}\n"
                          "exec_keeps = {thing: FORK_COPIES[thing] for thing in ITEMS_19_2}"),
    },
    "16_exercises_pidfd_and_pid1.ipynb": {
        # "SIGTERM cannot reach PID 1" even with a handler; waiting for the main child only (orphans stay
        # zombies, a death by signal comes back as 0); a stop() that signals by PID where pidfds exist
        "ex16-1-answer": ("pid1_fate = {'SIGTERM from inside': 'survives', 'SIGKILL from inside': 'survives', "
                          "'SIGTERM from outside': 'survives', 'SIGKILL from outside': 'dies'}"),
        "ex16-2-answer": ('REAP_UNTIL_BODY = r"""\n    int status;\n    waitpid(main_child, &status, 0);\n'
                          '    return WEXITSTATUS(status);\n"""'),
        "ex16-3-answer": ("def stop(pid, grace):\n    os.kill(pid, signal.SIGTERM)\n    deadline = time.monotonic() + grace\n"
                          "    while time.monotonic() < deadline:\n        done, status = os.waitpid(pid, os.WNOHANG)\n"
                          "        if done:\n            return how_it_ended(status)\n        time.sleep(0.01)\n"
                          "    os.kill(pid, signal.SIGKILL)\n    return how_it_ended(os.waitpid(pid, 0)[1])"),
    },
}


@pytest.mark.parametrize("name", sorted(SLIPS))
def test_hidden_tests_catch_answers_that_pass_the_visible_ones(tmp_path, name):
    nb = nbformat.read(EXERCISES / name, as_version=4)
    for cell in nb.cells:
        cell.source = SLIPS[name].get(cell.metadata.nbgrader.get("grade_id"), cell.source)
    nbformat.write(nb, tmp_path / name)
    r = grade.grade_notebook(tmp_path / name, SOLUTIONS, student="slip", timeout=TIMEOUT)
    caught = {c.grade_id.replace("-test", "-answer"): c.error for c in r.tests}
    for answer in SLIPS[name]:
        assert caught[answer], f"{answer}: a wrong answer earned the points"
        assert caught[answer].startswith("AssertionError: "), "the failure is explained in a sentence"
    assert r.leftover_children == 0


# --- the visible tests: whole answers checked, what was checked said, the answer never given away ---------------

def test_a_failing_visible_test_does_not_give_the_answer_away(tmp_path):
    """processes_1 = 3 (the kernel ran 4): the failure names the answer given, never the one expected."""
    nb = nbformat.read(EXERCISES / "01_exercises_fork.ipynb", as_version=4)
    for c in nb.cells:
        if c.metadata.nbgrader.get("grade_id") == "ex1-answer":
            c.source = "processes_1 = 3\nchild_lines_1 = 3"
    executed, problem, _ = grade.execute(nb, timeout=TIMEOUT, student="alice")   # alice's variant: 4 processes
    test = next(c for c in executed.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1-test")
    error = next(o for o in test.outputs if o.output_type == "error")
    assert "you predicted 3" in error.evalue and "4" not in error.evalue, error.evalue


def test_expect_keeps_the_expected_value_unsaid_unless_told():
    from forklab.course.grading import expect
    with pytest.raises(AssertionError) as hidden:
        expect(4, 8, "Processes", got_is="you predicted")
    assert str(hidden.value) == "Processes: you predicted 4 - that does not match."
    with pytest.raises(AssertionError) as shown:
        expect(4, 3, "Exit status", expected_is="sh -c 'exit 3' exits with", got_is="spawn() returned", reveal=True)
    assert str(shown.value) == "Exit status: sh -c 'exit 3' exits with 3, spawn() returned 4."


@pytest.mark.parametrize("name", NAMES)
def test_a_passing_visible_test_says_what_it_checked_and_what_it_did_not(name):
    """The solutions are stored executed: each graded cell printed what its visible part checked."""
    for c in nbgrader_cells(SOLUTIONS / name, grade=True):
        said = "".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
        if "cannot be checked on this platform" in said:
            continue
        assert "Passed the visible checks:" in said and "Not checked here:" in said, c.metadata.nbgrader.grade_id


def test_validate_on_an_unanswered_notebook_says_not_answered_yet(tmp_path):
    """nbgrader validate (the Validate button) on an exercise as handed out: no NameError, "not answered yet"."""
    pytest.importorskip("nbgrader")
    import shutil
    import subprocess
    import sys
    shutil.copy(EXERCISES / NAMES[0], tmp_path)
    r = subprocess.run([sys.executable, "-m", "nbgrader", "validate", NAMES[0]], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    out = r.stdout + r.stderr
    assert "NameError" not in out, out[-2000:]
    assert "is not answered yet" in out, out[-2000:]

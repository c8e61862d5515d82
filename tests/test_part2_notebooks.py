"""Course part 2 (notebooks 06-11): the three examples of the clone() tutorial the course grew from keep their promised results in
the committed outputs, and every notebook (part 3 from 13 on too) keeps the course's shape (navigation,
predictions, summary link)."""
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PART2 = ["06_vfork", "07_clone_basics", "08_clone_flags", "09_threads_are_clones",
         "10_namespaces_and_containers", "11_inside_the_kernel"]
PART3 = ["13_fork_and_threads", "14_a_mini_shell", "15_when_fork_fails", "16_pidfd_and_pid1",
         "17_the_cost_model", "18_sessions_and_job_control"]          # fork in real programs: the same shape


def _nb(name):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _outputs_of_c_cells(name):
    """The stored stdout of each %%c cell, in order."""
    found = []
    for cell in _nb(name).cells:
        if cell.cell_type == "code" and cell.source.startswith("%%c"):
            found.append("".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout"))
    return found


def _c_output_containing(name, needle):
    matches = [out for out in _outputs_of_c_cells(name) if needle in out]
    assert matches, f"no %%c cell output in {name} contains {needle!r}"
    return matches[0]


def test_example_1_basic_clone_child_runs_and_parent_waits():
    out = _c_output_containing("07_clone_basics", "creating a child with clone()")
    assert re.search(r"\[child\]\s+my PID differs from my parent's: yes; my parent is the caller: yes; "
                     r"message: 'hello from clone'", out)
    assert "exit status 0" in out


def test_example_2_clone_files_off_keeps_the_fd_open_and_on_closes_it():
    out = _c_output_containing("08_clone_flags", "=== without CLONE_FILES ===")
    without, with_files = out.split("=== with CLONE_FILES ===")
    assert "OPEN" in without and "(CLONE_FILES OFF)" in without and "CLOSED" not in without
    assert "CLOSED" in with_files and "(CLONE_FILES ON)" in with_files


def test_example_3_sigusr1_exit_signal_needs_wclone_and_yields_42():
    out = _c_output_containing("07_clone_basics", "__WCLONE")
    # columns: a plain waitpid(), __WCLONE, __WALL - a plain wait cannot see a clone child, __WCLONE sees only those
    assert re.search(r"^SIGCHLD\s+\| status 42\s+ECHILD\s+status 42", out, re.M)
    assert re.search(r"^SIGUSR1\s+\| ECHILD\s+status 42\s+status 42", out, re.M)
    assert re.search(r"^0\s+\| ECHILD\s+status 42\s+status 42", out, re.M)      # exit signal 0
    assert "SIGUSR1 arrived once per SIGUSR1 child: yes" in out


@pytest.mark.parametrize("name", PART2 + PART3)
def test_shape_navigation_prediction_and_summary_link(name):
    nb = _nb(name)
    first, last = nb.cells[0].source, nb.cells[-1].source
    assert first == last and "[Contents](00_start_here.ipynb)" in first
    sources = [c.source for c in nb.cells]
    assert any(s.startswith("## Overview") or "\n## Overview" in s for s in sources)
    assert any(c.cell_type == "code" and c.source.startswith("prediction = None") for c in nb.cells)
    summary = next(s for s in sources if "## Summary" in s)
    assert f"../exercises/{name[:3]}exercises_{name[3:]}.ipynb" in summary


@pytest.mark.parametrize("name", PART2 + PART3)
def test_no_stored_output_is_an_error(name):
    for cell in _nb(name).cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{name}: a cell stored a traceback"
            assert "Traceback" not in "".join(out.get("text", "")), f"{name}: a traceback in the output"

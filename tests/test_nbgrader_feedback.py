"""deploy/nbgrader/forklab_nbgrader.py on real tracebacks: feedback names no hidden test, untouched test
cells raise no checksum warning. (The whole nbgrader exchange runs in tests/test_hub.py, FORKLAB_SLOW=1.)"""
import copy
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("nbgrader")
sys.path.insert(0, str(ROOT / "deploy" / "nbgrader"))
import forklab_nbgrader as fn  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

TEST_CELL = """\
x = answer()
assert x > 0, f"visible: got {x}"
### BEGIN HIDDEN TESTS
secret_case = 41
assert x == secret_case + 1, f"hidden: {x} is not the secret"
### END HIDDEN TESTS"""


def executed(answer_source: str):
    """A two-cell notebook (answer, test with hidden tests) run in a real kernel, as autograde does."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(answer_source),
                nbformat.v4.new_code_cell(TEST_CELL, metadata={"nbgrader": {
                    "grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "t",
                    "schema_version": 3}})]
    NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=60).execute()
    return nb


def feedback_of(nb):
    return fn.HideHiddenTestsInFeedback().preprocess_cell(copy.deepcopy(nb.cells[1]), {}, 1)[0]


def test_a_hidden_failure_becomes_one_sentence():
    cell = feedback_of(executed("def answer():\n    return 7"))
    text = cell.source + str(cell.outputs)
    assert "secret_case" not in text and "hidden:" not in text and "BEGIN HIDDEN" not in text
    assert [o.evalue for o in cell.outputs if o.output_type == "error"] == [fn.HIDDEN_FAILURE]
    assert cell.source == "x = answer()\nassert x > 0, f\"visible: got {x}\""


def test_a_visible_failure_keeps_its_traceback_without_hidden_lines():
    nb = executed("def answer():\n    return -1")
    assert "secret_case" in "".join(nb.cells[1].outputs[0].traceback)   # IPython quotes the lines around it
    cell = feedback_of(nb)
    error = [o for o in cell.outputs if o.output_type == "error"][0]
    assert error.evalue == "visible: got -1"
    shown = "\n".join(error.traceback)
    assert "assert x > 0" in shown and "secret_case" not in shown and "hidden:" not in shown


def test_released_is_the_cell_as_generate_assignment_hands_it_out():
    cell = nbformat.v4.new_code_cell(TEST_CELL, metadata={"nbgrader": {"grade": True, "grade_id": "t"}})
    assert fn.released(cell).source == "x = answer()\nassert x > 0, f\"visible: got {x}\""
    assert fn.hidden_line_numbers(TEST_CELL) == {3, 4, 5, 6}

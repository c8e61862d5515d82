"""A prediction is answered by what the experiment printed, never by a value the author typed: in the notebooks
listed here, no check_prediction(prediction, ACTUAL, ...) has a literal as ACTUAL, nor a name the same cell sets to
a literal. (Chapters 13 and 14 once compared with constants; add a chapter here once its checks read the output.)"""
import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHECKED = ["07_clone_basics", "08_clone_flags", "13_fork_and_threads", "14_a_mini_shell", "15_when_fork_fails",
           "16_pidfd_and_pid1", "17_the_cost_model", "18_sessions_and_job_control"]


def _is_literal(node) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def _checks(name):
    """(cell index, the cell's syntax tree, the ACTUAL argument) of every check_prediction call."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "check_prediction" not in cell.source:
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "check_prediction":
                yield i, tree, node.args[1]


@pytest.mark.parametrize("name", CHECKED)
def test_every_prediction_is_checked_against_what_was_printed(name):
    checks = list(_checks(name))
    assert checks, f"{name} has no check_prediction"
    for i, tree, actual in checks:
        assert not _is_literal(actual), f"{name} cell {i}: compares with a constant: {ast.unparse(actual)}"
        if isinstance(actual, ast.Name):
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [actual.id]:
                    assert not _is_literal(node.value), \
                        f"{name} cell {i}: {actual.id} is a constant: {ast.unparse(node.value)}"

"""Predict, then see, in the committed notebooks: every cell that answers a prediction is tagged and hidden, so a
student who opens a notebook (JupyterLab, Binder, the image, the hub) sees no answer before predicting.

Reads the notebooks only (no kernel). tools/reveal_cells.py makes it so; tests/test_predict_then_see.py checks
it in a real browser."""
import copy
import json
import re
from pathlib import Path

import nbformat
import pytest

from tools import reveal_cells
from tools.reveal_cells import COVER, EXPLAIN_LEAD

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def _read(path):
    return nbformat.read(path, as_version=4)


def test_all_notebooks_are_here():
    assert len(NOTEBOOKS) == 20


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_check_prediction_cell_is_tagged_reveal_and_hidden(path):
    nb = _read(path)
    checks = [c for c in nb.cells if c.cell_type == "code" and "check_prediction(" in c.source]
    assert checks, f"{path.name} checks no prediction"
    for cell in checks:
        assert "reveal" in cell.metadata.get("tags", []), f"{path.name}: not tagged reveal:\n{cell.source[:200]}"
        assert cell.metadata.get("jupyter", {}).get("outputs_hidden") is True, f"{path.name}: output not hidden"
        assert cell.metadata.get("collapsed") is True
        for out in cell.outputs[:1]:
            text = out.get("text") or out.get("data", {}).get("text/html") or out.get("data", {}).get("text/plain")
            assert text.startswith(COVER + "\n"), f"{path.name}: JupyterLab's placeholder would show {text[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_prediction_is_asked_in_a_tagged_cell_without_output(path):
    asks = [c for c in _read(path).cells if c.cell_type == "code" and reveal_cells.ASK.search(c.source)]
    assert asks
    for cell in asks:
        assert "predict" in cell.metadata.get("tags", []) and not cell.get("outputs")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_tool_finds_nothing_to_hide(path):
    """tools/reveal_cells.py --check: nothing a student would see too early (re-run the tool after a merge)."""
    assert reveal_cells.problems(_read(path)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_tool_is_idempotent(path):
    nb = _read(path)
    again = copy.deepcopy(nb)
    reveal_cells.apply(again)
    assert nbformat.writes(again) == nbformat.writes(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_explanations_are_collapsed_and_their_first_line_says_nothing(path):
    """JupyterLab shows the first line of a collapsed markdown cell; an explanation never runs on into the next
    section or question (those must stay visible)."""
    explains = [c for c in _read(path).cells if "explain" in c.metadata.get("tags", [])]
    assert explains, f"{path.name}: no explanation tagged"
    for cell in explains:
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True
        assert cell.source.splitlines()[0] == EXPLAIN_LEAD
        assert not re.search(r"^#{1,2} |\*\*Predict", cell.source, re.M), cell.source[:300]


def test_the_check_finds_an_answer_in_plain_view():
    """The checker itself: a check cell shown with its output, or an explanation left open, is reported."""
    nb = _read(NOTEBOOKS[0])
    assert reveal_cells.problems(nb) == []
    check = next(c for c in nb.cells if "check_prediction(" in c.source)
    check.metadata["jupyter"]["outputs_hidden"] = False
    check.outputs[0]["text"] = reveal_cells.uncover(check.outputs[0]["text"])
    explain = next(c for c in nb.cells if "explain" in c.metadata.get("tags", []))
    del explain.metadata["jupyter"]
    found = reveal_cells.problems(nb)
    assert any("not hidden" in p for p in found) and any("cover" in p for p in found)
    assert any("not collapsed" in p for p in found)
    reveal_cells.apply(nb)
    assert reveal_cells.problems(nb) == []


def test_a_new_prediction_is_tagged_by_the_tool():
    """After a merge adds a prediction, one run of the tool tags it, hides its reveal and splits off the prose that
    answers it from the next question."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("**Predict:** 1 or 7?"),
                nbformat.v4.new_code_cell("prediction = None"),
                nbformat.v4.new_code_cell("print(7)\nforklab.check_prediction(prediction, 7)",
                                          outputs=[nbformat.v4.new_output("stream", text="7\n")]),
                nbformat.v4.new_markdown_cell("Seven, because ...\n\n## Next\n\n**Predict:** again?")]
    reveal_cells.apply(nb)
    assert [c.metadata.get("tags") for c in nb.cells] == [None, ["predict"], ["reveal"], ["explain"], None]
    assert nb.cells[2].outputs[0].text == COVER + "\n7\n"
    assert nb.cells[3].source == EXPLAIN_LEAD + "\n\nSeven, because ..."
    assert nb.cells[4].source.startswith("## Next")
    assert reveal_cells.problems(nb) == []
    json.dumps(nb)


# --- the explanation of a check is not in the reveal cell's source ----------------------------------------------
# A student reads the reveal cell's code while predicting (it sits right under the prediction), so a why="..."
# written there would answer the question. The explanations live in lib/src/forklab/course/explanations.json, keyed by
# the question, and are looked up when the check runs (forklab.course.prediction.explanation_for).

def _checks(path):
    """(cell id, about, has why=) for every check_prediction call in a notebook's code cells."""
    import ast
    found = []
    for cell in _read(path).cells:
        if cell.cell_type != "code" or "check_prediction" not in cell.source:
            continue
        source = "\n".join("" if line.startswith("%") else line for line in cell.source.splitlines())
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "check_prediction":
                kw = {k.arg: k.value for k in node.keywords}
                about = kw.get("about")
                if isinstance(about, ast.BinOp):      # "question" + (" (recorded)" if ... else "")
                    about = about.left
                found.append((cell.id, about.value if isinstance(about, ast.Constant) else None, "why" in kw))
    return found


EXPLANATIONS = json.loads((ROOT / "lib/src/forklab/course/explanations.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_reveal_cell_states_its_explanation_in_its_source(path):
    written_out = [cell_id for cell_id, _, has_why in _checks(path) if has_why]
    assert not written_out, f"why=... written in the source of {written_out}: move it to forklab/course/explanations.json"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_check_has_its_explanation(path):
    missing = [(cell_id, about) for cell_id, about, _ in _checks(path) if about not in EXPLANATIONS]
    assert not missing, f"no explanation in forklab/course/explanations.json for {missing}"


def test_every_explanation_belongs_to_a_question_of_the_course():
    asked = {about for path in NOTEBOOKS for _, about, _ in _checks(path)}
    assert not set(EXPLANATIONS) - asked, f"explanations no notebook asks: {sorted(set(EXPLANATIONS) - asked)}"

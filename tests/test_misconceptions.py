"""tools/misconceptions.py on a scripted class: three students' notebooks with known answers -> a known report.

One notebook is executed in a real kernel, so the record is what forklab.check_prediction really leaves in a
saved notebook; the others are written from the same records, as nbgrader's submitted/ would hold them."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import misconceptions  # noqa: E402

import forklab  # noqa: E402


def answered(*checks):
    """A notebook with one executed cell per check, its output as Jupyter saves check_prediction's result."""
    nb = nbformat.v4.new_notebook()
    for check in checks:
        data, metadata = check._repr_mimebundle_()
        nb.cells.append(nbformat.v4.new_code_cell("forklab.check_prediction(...)", outputs=[
            nbformat.v4.new_output("execute_result", data=data, metadata=metadata, execution_count=1)]))
    return nb


def test_a_check_records_itself_in_the_saved_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('import forklab\nforklab.check_prediction(4, 8, about="processes")')]
    NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    record = misconceptions.records(nbformat.reads(nbformat.writes(nb), as_version=4))
    assert len(record) == 1
    assert {k: record[0][k] for k in ("question", "predicted", "actual", "right")} == \
        {"question": "processes", "predicted": 4, "actual": 8, "right": False}
    assert record[0]["when"][:4].isdigit()


@pytest.fixture
def submitted(tmp_path):
    """nbgrader's layout: submitted/<student>/<assignment>/<notebook>.ipynb; dave handed in nothing of 02."""
    cp = forklab.check_prediction
    plan = {
        "alice": {"01_fork": [cp(8, 8, about="processes"), cp(7, 7, about="child lines")],
                  "02_copy_on_write": [cp(False, False, about="parent sees 7")]},
        "bob": {"01_fork": [cp(4, 8, about="processes"), cp(8, 7, about="child lines")],
                "02_copy_on_write": [cp(True, False, about="parent sees 7")]},
        "carol": {"01_fork": [cp(4, 8, about="processes"), cp(None, 7, about="child lines")],
                  "02_copy_on_write": [cp(True, False, about="parent sees 7")]},
        "dave": {"01_fork": [cp(6, 8, about="processes")]},
    }
    for student, notebooks in plan.items():
        for name, checks in notebooks.items():
            folder = tmp_path / "submitted" / student / "exercises"
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(answered(*checks), folder / f"{name}.ipynb")
    (tmp_path / "submitted" / "alice" / "exercises" / ".ipynb_checkpoints").mkdir()
    return tmp_path / "submitted"


def test_the_report_counts_right_wrong_and_not_at_all(submitted, tmp_path, capsys):
    out_csv, out_html = tmp_path / "m.csv", tmp_path / "m.html"
    assert misconceptions.main([str(submitted), "--csv", str(out_csv), "--html", str(out_html)]) == 0
    rows = {(r["chapter"], r["question"]): r for r in csv.DictReader(out_csv.open())}
    assert set(rows) == {("01_fork", "processes"), ("01_fork", "child lines"), ("02_copy_on_write", "parent sees 7")}
    def counts(key):
        r = rows[key]
        return (int(r["students"]), int(r["right"]), int(r["wrong"]), int(r["not_at_all"]), r["most_common_wrong"],
                int(r["most_common_wrong_count"]), r["kernel_answer"])
    assert counts(("01_fork", "processes")) == (4, 1, 3, 0, "4", 2, "8")
    # carol ran the check without predicting, dave never ran it: both "not at all"
    assert counts(("01_fork", "child lines")) == (4, 1, 1, 2, "8", 1, "7")
    assert counts(("02_copy_on_write", "parent sees 7")) == (3, 1, 2, 0, "true", 2, "false")
    page = out_html.read_text()
    assert page.count("<svg") == 2 and "<h2>01_fork</h2>" in page and "<h2>02_copy_on_write</h2>" in page
    assert "4 students, 2 notebooks, 3 questions" in capsys.readouterr().out


def test_a_folder_without_notebooks_is_refused_clearly(tmp_path, capsys):
    assert misconceptions.main([str(tmp_path), "--csv", str(tmp_path / "c"), "--html", str(tmp_path / "h")]) == 2
    assert "no notebooks in" in capsys.readouterr().err


def test_the_course_stores_no_prediction_record_of_its_own_runs():
    """tools/execute_notebooks.py stores the lessons' outputs: a record of the author's run (and its time) would
    change on every run and be counted as a student's answer; the student's own runs keep theirs."""
    from tools.stored_notebooks import drop_run_metadata
    nb = answered(forklab.check_prediction(None, 8, about="processes"))
    assert misconceptions.records(nb)
    drop_run_metadata(nb, keep_widget_state=True)
    assert misconceptions.records(nb) == [] and nb.cells[0].outputs[0].data["text/plain"]

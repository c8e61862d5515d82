"""The course on the platforms students really meet (tools/confine): Docker's default (Kubernetes' RuntimeDefault)
seccomp profile, a 4.18 kernel. A refusal there is explained - what is forbidden, why, and the output
recorded where it is allowed - never raised. The recordings stay in step with the notebooks."""
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from tools.reveal_cells import uncover

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
RECORDINGS = json.loads((ROOT / "lib" / "src" / "forklab" / "course" / "references.json").read_text())
NAME = re.compile(r"""reference_if_forbidden\(\s*["']([^"']+)["']|^%%c\b.*--reference[ =](\S+)""", re.M)


def named_cells():
    """{reference name: (notebook, cell)} for every cell of the course that names a recording."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                for a, b in NAME.findall(cell.source):
                    assert (a or b) not in found, f"the reference name {a or b!r} is used twice"
                    found[a or b] = (path.name, cell)
    return found


def test_every_reference_named_in_a_notebook_is_recorded_as_root_and_as_a_student():
    named = named_cells()
    assert len(named) >= 10
    recorded = RECORDINGS["references"]
    assert sorted(named) == sorted(recorded), "run tools/record_references.py (as root) and commit the result"
    for name, (notebook, _) in named.items():
        assert recorded[name]["notebook"] == notebook
        assert recorded[name]["root"].strip() and recorded[name]["student"].strip()
        assert "Forbidden here" not in recorded[name]["root"] + recorded[name]["student"]
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", RECORDINGS["kernel"]) and re.fullmatch(r"\d{4}-\d\d-\d\d", RECORDINGS["date"])


def _shape(text):
    return re.sub(r"\d+", "N", text).strip()


def test_the_student_recordings_match_the_stored_outputs():
    """The stored outputs are made as a student, like the student recordings: a cell edited without
    re-recording (tools/record_references.py) shows here."""
    for name, (notebook, cell) in named_cells().items():
        stored = "".join(o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "") + "\n"
                         for o in cell.outputs)
        stored = uncover(stored)            # the line tools/reveal_cells.py puts in front, not printed by the code
        assert _shape(stored) == _shape(RECORDINGS["references"][name]["student"]), \
            f"{notebook}: the recording {name!r} is stale - run tools/record_references.py"


def run_confined(profile, name):
    """Execute one notebook under tools/confine PROFILE (allowing errors) and return it."""
    code = ("import sys, nbformat\nfrom nbclient import NotebookClient\n"
            "nb = nbformat.read(sys.argv[1], as_version=4)\n"
            "NotebookClient(nb, timeout=300, startup_timeout=180, kernel_name='python3', allow_errors=True,"
            " resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
            "nbformat.write(nb, sys.stdout)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib" / "src"))
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "confine"), profile, "--",
                           sys.executable, "-c", code, str(NOTEBOOKS / name), str(NOTEBOOKS)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return nbformat.reads(proc.stdout, as_version=4)


CASES = [("docker", "10_namespaces_and_containers.ipynb"), ("docker", "11_inside_the_kernel.ipynb")]


@pytest.fixture(scope="module")
def confined_runs():
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(lambda case: run_confined(*case), CASES)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1][:2]}")
def test_a_platform_refusal_is_explained_not_raised(confined_runs, case):
    nb = confined_runs[case]
    errors = [(i, o.ename, o.evalue) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Forbidden here: " in text and "seccomp filter" in text
    assert "Reference output, recorded on Linux" in text and "not measured here" in text


# --- what a reader sees before running anything ------------------------------------------------------

STORED = sorted(NOTEBOOKS.glob("[0-9]*.ipynb")) + sorted((ROOT / "solutions").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("path", STORED, ids=lambda p: f"{p.parent.name}/{p.stem[:2]}")
def test_stored_outputs_are_complete_and_free_of_errors(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip():
            assert cell.execution_count is not None, f"an unexecuted cell: {cell.source[:60]!r} (make notebooks)"
            assert not [o for o in cell.outputs if o.output_type == "error"], f"a stored error: {cell.source[:60]!r}"


def test_stored_outputs_were_made_as_an_unprivileged_student():
    """make notebooks executes as nobody: what a reader sees first is what a student gets."""
    nb = nbformat.read(NOTEBOOKS / "00_start_here.ipynb", as_version=4)
    report = next(o for c in nb.cells if c.cell_type == "code" and "platform_report()" in c.source for o in c.outputs
                  if o.output_type == "execute_result")["data"]["text/plain"]
    assert "(not root), without CAP_SYS_ADMIN" in report and "under a seccomp filter" not in report


@pytest.mark.parametrize("name", ["08_clone_flags.ipynb", "12_flag_explorer.ipynb"])
def test_the_explorer_notebooks_keep_their_widget_state_and_picture(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    views = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for c in nb.cells
             if c.cell_type == "code" for o in c.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views and all(v in state for v in views), "a widget view whose model is not in the saved state"
    # The explorer's outputs (not the "ask me another" practice widgets beside them) carry a still picture.
    explorers = [o["data"] for c in nb.cells if c.cell_type == "code" for o in c.outputs
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
                 and str(o["data"].get("text/plain", "")).startswith("<FlagExplorer")]
    assert explorers, "no explorer output in the notebook"
    assert all("memory" in data.get("text/html", "") for data in explorers), \
        "the explorer's still picture (text/html) is missing"


def test_only_the_widgets_an_output_draws_are_saved():
    from tools import execute_notebooks as tool
    view = lambda m: {"output_type": "display_data", "metadata": {},  # noqa: E731
                      "data": {"application/vnd.jupyter.widget-view+json": {"model_id": m}, "text/plain": "x"}}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("w", outputs=[view("a")])]
    model = lambda name, **state: {"model_name": name, "state": state}  # noqa: E731
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "state": {
        "a": model("VBoxModel", children=["IPY_MODEL_b"], layout="IPY_MODEL_c"),
        "b": model("ButtonModel", description="go"),
        "c": model("LayoutModel", width=None, height="10px"),
        "d": model("ButtonModel", description="never drawn")}}}
    tool.keep_drawn_widgets(nb)
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert sorted(state) == ["a", "b", "c"] and state["c"]["state"] == {"height": "10px"}
    nb.cells[0].outputs = []
    tool.keep_drawn_widgets(nb)
    assert "widgets" not in nb.metadata

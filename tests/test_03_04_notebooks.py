"""Chapters 03 (files after fork) and 04 (wait, zombies, orphans): every prediction is answered, the notebooks end
the course's way, and the committed outputs keep the results their prose relies on."""
import re
from pathlib import Path

import nbformat
import pytest

from tools.reveal_cells import uncover

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["03_files_after_fork", "04_wait_zombies_orphans"]


def _nb(name):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _output_containing(name, needle):
    for cell in _nb(name).cells:
        text = "".join(uncover(o.get("text", "") or o.get("data", {}).get("text/plain", ""))   # as the code printed it
                       for o in cell.get("outputs", []))
        if needle in text:
            return text
    raise AssertionError(f"no stored output in {name} contains {needle!r}")


@pytest.mark.parametrize("name", NAMES)
def test_every_prediction_is_checked_and_shows_no_prediction_feedback(name):
    cells = _nb(name).cells
    predictions = [i for i, c in enumerate(cells) if c.cell_type == "code" and c.source.startswith("prediction = None")]
    assert len(predictions) == {"03_files_after_fork": 5, "04_wait_zombies_orphans": 5}[name]
    for i in predictions:
        following = [c for c in cells[i + 1:] if c.cell_type == "code"][:2]
        checks = [c for c in following if "check_prediction(prediction" in c.source]
        assert checks, f"{name}: nothing answers {cells[i].source!r}"
        shown = "".join(o.get("data", {}).get("text/plain", "") for o in checks[0].outputs)
        assert "You have not predicted yet" in shown


@pytest.mark.parametrize("name", NAMES)
def test_summary_exercises_and_navigation_end_the_notebook(name):
    cells = _nb(name).cells
    last, before = cells[-1], cells[-2]
    assert last.cell_type == "markdown" and len(last.source.strip().splitlines()) == 1
    assert re.fullmatch(r"\[< 0\d [^]]+\]\(0\d_\w+\.ipynb\) \| \[Contents\]\(00_start_here\.ipynb\) \| "
                        r"\[0\d [^]]+ >\]\(0\d_\w+\.ipynb\)", last.source.strip())
    assert before.source.startswith("## Summary") and "\n- " in before.source
    exercise = f"{name[:3]}exercises_{name[3:]}"
    assert f"## Exercises\n\n[exercises/{exercise}.ipynb](../exercises/{exercise}.ipynb)" in before.source


def test_03_open_file_description_is_defined_before_it_is_used():
    sources = [c.source for c in _nb("03_files_after_fork").cells]
    first_use = next(i for i, s in enumerate(sources) if "open file description" in s)
    assert "record of one `open()`" in sources[first_use] and "offset" in sources[first_use]
    layers = next(s for s in sources if s.startswith("## Three layers"))
    assert "struct file" in layers and "`dup(fd)`" in layers


def test_03_inherited_descriptor_shares_the_offset_and_dup2_drops_close_on_exec():
    out = _output_containing("03_files_after_fork", "offset seen by the parent")
    assert "after the child's write: 6" in out and "holds\nchild\nparent\n" in out
    assert _output_containing("03_files_after_fork", "first program").startswith("first program\nsecond program\n")
    out = _output_containing("03_files_after_fork", "after exec:")
    assert "fd 10 open" in out and "fd 11 open" in out and "fd 12 closed" in out


def test_04_orphan_goes_to_the_nearest_subreaper():
    out = _output_containing("04_wait_zombies_orphans", "after b ended")
    assert "a is an ordinary process: c's parent was b: yes; after b ended: the sandbox supervisor" in out
    assert "a is a subreaper: c's parent was b: yes; after b ended: a\n" in out
    assert "a reaped a process it never forked: yes" in out

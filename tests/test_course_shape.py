"""The whole course keeps one shape, so a student always knows where they are: every notebook has a numbered
title, answers every prediction it asks for with a check against what the kernel did, ends with a Summary, an
Exercises section and a navigation line to its neighbours, and both course maps (README and 00) list it.

These read the committed notebooks only (no kernel runs): cheap enough to run on every change."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FURTHER = "further_reading.md"


def cells(name):
    return json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]


def text(cell):
    return "".join(cell["source"])


def title(name):
    """The notebook's numbered title without its number: '# 06 · vfork: ...' -> 'vfork: ...'."""
    for cell in cells(name)[:3]:
        for line in text(cell).splitlines():
            if line.startswith("# "):
                return line
    return None


def test_the_course_is_numbered_without_gaps():
    assert [n[:2] for n in NOTEBOOKS] == [f"{i:02d}" for i in range(len(NOTEBOOKS))]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_numbered_title(name):
    assert title(name) and title(name).startswith(f"# {name[:2]} · "), title(name)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_prediction_is_checked_against_the_kernel(name):
    """A `prediction... = None` cell asks; a later code cell must hand that variable to check_prediction."""
    code = [text(c) for c in cells(name) if c["cell_type"] == "code"]
    for i, source in enumerate(code):
        for var in re.findall(r"^(prediction\w*)\s*=\s*None\b", source, re.M):
            later = "\n".join(code[i + 1:])
            assert re.search(rf"check_prediction\(\s*{var}\b", later), \
                f"{name}: `{var} = None` is never checked (forklab.check_prediction({var}, ...))"


def nav_line(name):
    prev = f"[< {NOTEBOOKS[NOTEBOOKS.index(name) - 1][:2]} " if name != NOTEBOOKS[0] else None
    nxt = (f"({NOTEBOOKS[NOTEBOOKS.index(name) + 1]}.ipynb)" if name != NOTEBOOKS[-1] else f"({FURTHER})")
    return prev, nxt


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_summary_then_exercises_then_navigation_to_the_neighbours(name):
    body = "\n".join(text(c) for c in cells(name) if c["cell_type"] == "markdown")
    summary, exercises = body.rfind("## Summary"), body.rfind("## Exercises")
    assert 0 <= summary < exercises, f"{name}: ends with ## Summary, then ## Exercises"
    if (ROOT / "solutions" / f"{name}.ipynb").exists():
        assert f"exercises/{name}.ipynb" in body[exercises:], f"{name}: the Exercises section links its exercises"
    last = text(cells(name)[-1]).strip().splitlines()[-1]
    targets = re.findall(r"\]\(([^)]+)\)", last)
    assert all((ROOT / "notebooks" / t).is_file() for t in targets), f"{name}: a navigation link goes nowhere: {targets}"
    prev, nxt = nav_line(name)
    if prev:
        assert prev in last, f"{name}: the last line links the previous notebook: {last}"
    assert nxt in last, f"{name}: the last line links the next page {nxt}: {last}"


def test_further_reading_follows_the_last_chapter():
    page = (ROOT / "notebooks" / FURTHER).read_text()
    assert f"({NOTEBOOKS[-1]}.ipynb)" in page.strip().splitlines()[-1]


@pytest.mark.parametrize("course_map", ["README.md", "notebooks/00_start_here.ipynb"])
def test_both_course_maps_list_every_notebook(course_map):
    source = (ROOT / course_map).read_text()
    if course_map.endswith(".ipynb"):
        source = "\n".join(text(c) for c in json.loads(source)["cells"])
    rows = re.findall(r"^\| (\d\d) \|", source, re.M)
    assert rows == [n[:2] for n in NOTEBOOKS], f"{course_map}: course map rows {rows}"
    for name in NOTEBOOKS[1:]:
        assert f"{name}.ipynb)" in source, f"{course_map} does not link {name}"

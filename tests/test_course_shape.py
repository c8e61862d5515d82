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
    exercise = f"{name[:3]}exercises_{name[3:]}"      # 01_fork -> 01_exercises_fork: two tabs told apart
    if (ROOT / "solutions" / f"{exercise}.ipynb").exists():
        assert f"exercises/{exercise}.ipynb" in body[exercises:], f"{name}: the Exercises section links its exercises"
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


def _map(course_map):
    source = (ROOT / course_map).read_text()
    if course_map.endswith(".ipynb"):
        source = "\n".join(text(c) for c in json.loads(source)["cells"])
    return source


@pytest.mark.parametrize("course_map", ["README.md", "notebooks/00_start_here.ipynb"])
def test_both_course_maps_give_a_time_per_chapter_and_a_core_path_for_a_2_hour_lab(course_map):
    """An instructor can assign the course: each chapter's time (core / all), and a 2-hour path through the cores
    whose times add up to about two hours."""
    source = _map(course_map)
    rows = {m[0]: m[1:] for m in re.findall(r"^\| (\d\d) \|.*\| (★ )?(\d+)(?: / (\d+))? min \|$", source, re.M)}
    assert sorted(rows) == [n[:2] for n in NOTEBOOKS], f"{course_map}: a time for every chapter"
    for n, (star, core, whole) in rows.items():
        assert int(core) <= int(whole or core), f"{course_map} {n}: core {core} min is more than all {whole} min"
    lab = re.search(r"\*\*A 2-hour lab\*\* \(★, about (\d+) min\): the core of ([\d →]+)", source)
    assert lab, f"{course_map}: no core path for a 2-hour lab"
    path = lab[2].split(" → ")
    assert [n for n, (star, *_) in rows.items() if star] == [p.strip() for p in path], "★ marks the path's chapters"
    minutes = sum(int(rows[p.strip()][1]) for p in path)
    assert minutes == int(lab[1]) and 90 <= minutes <= 125, f"{course_map}: the 2-hour lab takes {minutes} min"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_chapter_says_what_is_core_and_what_goes_deeper(name):
    """The Overview names the chapter's core sections and the deeper ones, by their headings; its minutes agree
    with the course map's."""
    overview = next(text(c) for c in cells(name) if "## Overview" in text(c))
    line = next((l for l in overview.splitlines() if l.startswith("**Core and deeper.**")), None)
    assert line, f"{name}: the Overview has no '**Core and deeper.**' line"
    headings = [l[3:] for c in cells(name) for l in text(c).splitlines() if l.startswith("## ")]
    named = re.findall(r"\*([^*]+)\*", line.replace("**Core and deeper.**", ""))
    for section in named:
        assert any(h.startswith(section) for h in headings), f"{name}: '{section}' is not a section of the chapter"
    times = re.findall(r"about (\d+) min", line)
    row = re.search(rf"^\| {name[:2]} \|.*\| (?:★ )?(\d+)(?: / (\d+))? min \|$", _map("README.md"), re.M)
    assert times and int(times[0]) == int(row[1]), f"{name}: core time differs from the course map's"
    if name != NOTEBOOKS[0]:
        assert "Deeper (about" in line and int(times[0]) + int(times[1]) == int(row[2]), \
            f"{name}: core + deeper minutes differ from the course map's"

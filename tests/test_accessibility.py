"""Accessibility in JupyterLab, checked with axe-core (Deque's, from npm) in Debian's Chromium.

What a student meets: every notebook opened fresh (its stored outputs as JupyterLab renders them, before
anything runs), then the flag explorer running in notebook 12. Only the course's outputs are checked, not
JupyterLab's own interface (its editor and cell buttons have findings of their own, upstream's to fix). No violation that axe rates serious or
critical may be left (the site's pages: tests/test_site.py). The explorer used to fail `aria-required-children`
(critical) on its 17 rows.

    pytest tests/test_accessibility.py     # skipped without Chromium or npm, unless CI=true
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from conftest import axe_violations
from tests.test_browser import IDLE, LAPTOP, start_lab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.fixture(scope="module")
def course_lab():
    with start_lab(NOTEBOOKS) as lab:
        yield lab


def _shut_kernels(base: str, token: str) -> None:
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as r:
        for session in json.loads(r.read()):
            req = urllib.request.Request(f"{base}/api/sessions/{session['id']}?token={token}", method="DELETE")
            urllib.request.urlopen(req, timeout=30).close()


def _open(page, base: str, token: str, name: str) -> None:
    page.goto(f"{base}/lab/tree/{name}?reset&token={token}")      # reset: only this notebook open
    page.wait_for_function(f"document.querySelector('#jp-main-statusbar')?.innerText.includes({IDLE!r})")
    page.wait_for_selector(".jp-Notebook .jp-Cell")


def _visible_outputs(notebook: Path) -> list:
    """The stored outputs a student sees on opening: those of cells whose outputs are not hidden until run
    (a reveal's output is: tools/reveal_cells.py)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [o for c in cells if not c.get("metadata", {}).get("jupyter", {}).get("outputs_hidden")
            for o in c.get("outputs", [])]


# Not yet accessible: matplotlib plots. JupyterLab renders an image/png output as an <img> without alt (and reads
# no alt from the output's metadata), so axe reports image-alt (critical). The numbers are printed beside each plot
# (the tree as text, the tables), but the picture itself is unnamed: the plotting helpers must show it as HTML with
# an alt, or the cells name it. A plot in a reveal cell is hidden on opening (and not checked here); one in plain
# view is expected to fail, strictly: this test says so when it is fixed.
def _shows_a_plot(notebook: Path) -> bool:
    return any("image/png" in o.get("data", {}) for o in _visible_outputs(notebook))


def _marked(notebook: Path):
    if _shows_a_plot(notebook):
        return pytest.param(notebook, id=notebook.stem, marks=pytest.mark.xfail(
            strict=True, reason="image-alt: JupyterLab shows matplotlib plots as <img> without alt (issue 24, open)"))
    return pytest.param(notebook, id=notebook.stem)


@pytest.mark.parametrize("notebook", [_marked(n) for n in NOTEBOOKS])
def test_a_notebook_opened_fresh_has_no_serious_accessibility_violation(browser, axe, course_lab, notebook):
    base, token = course_lab
    page = browser.new_page(viewport=LAPTOP)
    page.set_default_timeout(60000)
    try:
        _open(page, base, token, notebook.name)
        visible = _visible_outputs(notebook)
        if visible:
            page.wait_for_selector(".jp-OutputArea-output", state="attached")
        problems = axe_violations(page, axe, ".jp-OutputArea-output") if visible else []
        assert problems == [], f"{notebook.name}'s outputs in JupyterLab:\n" + "\n".join(problems)
    finally:
        page.close()
        _shut_kernels(base, token)


def test_the_running_flag_explorer_has_no_serious_accessibility_violation(browser, axe, course_lab):
    base, token = course_lab
    page = browser.new_page(viewport=LAPTOP)
    page.set_default_timeout(60000)
    try:
        _open(page, base, token, "12_flag_explorer.ipynb")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        explorer = page.locator(".forklab-explorer .forklab-view .fl-row").first
        explorer.wait_for(timeout=120000)
        page.wait_for_function(f"document.querySelector('#jp-main-statusbar')?.innerText.includes({IDLE!r})")
        page.locator(".forklab-explorer .forklab-flag-CLONE_VM button").first.click()     # a changed row too
        page.wait_for_selector(".forklab-explorer .fl-flipped")
        problems = axe_violations(page, axe, ".forklab-explorer")
        assert problems == [], "the flag explorer:\n" + "\n".join(problems)
        problems = axe_violations(page, axe, ".jp-OutputArea-output")
        assert problems == [], "notebook 12's outputs after running:\n" + "\n".join(problems)
    finally:
        page.close()
        _shut_kernels(base, token)

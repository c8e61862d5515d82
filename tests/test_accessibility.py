"""Accessibility in JupyterLab, checked with axe-core (Deque's, from npm) in Debian's Chromium.

What a student meets: every notebook opened fresh (its stored outputs as JupyterLab renders them, before
anything runs), then the flag explorer running in notebook 12. Only the course's outputs are checked, not
JupyterLab's own interface (its editor and cell buttons have findings of their own, upstream's to fix). No violation that axe rates serious or
critical may be left (the site's pages: tests/test_site.py). The explorer used to fail `aria-required-children`
(critical) on its 17 rows.

Every plot (the process trees of 01, the copy-on-write and fork-cost plots of 02 and 17) is shown by
forklab.figure as an <img> whose alt says what it shows, from the data: after running the reveal cell that draws
it, its alt is the plot's words (what nbval compares as its text/plain), and axe finds nothing serious; before,
neither the picture nor its alt is on screen or in what a screen reader reads.

make test checks a sample (SAMPLE: two notebooks opened fresh, the first plot of 02, the running explorer); the
sweep over every notebook and every plot runs in CI (.ci/run) with FORKLAB_SLOW=1 (~2 min more).

    pytest tests/test_accessibility.py                     # skipped without Chromium or npm, unless CI=true
    FORKLAB_SLOW=1 flock /tmp/forklab-heavy.lock pytest tests/test_accessibility.py     # all of them
"""
from __future__ import annotations

import configparser
import json
import os
import re
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


SLOW = os.environ.get("FORKLAB_SLOW") == "1"
SAMPLE = {"00_start_here", "02_copy_on_write"}       # opened fresh in every make test; all notebooks in CI
SAMPLE_PLOT = ("02_copy_on_write", 0)                # the first plot of 02 (a quick measurement) in every make test


def _sampled(ids, sample=None) -> list:
    return [pytest.param(*params, id=name, marks=() if SLOW or keep else pytest.mark.skip(
                reason="the full sweep runs in CI: set FORKLAB_SLOW=1")) for params, name, keep in ids]


def _plot_cells(notebook: Path) -> list[int]:
    """The cells whose stored outputs are a plot shown with its alt (forklab.figure)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [i for i, c in enumerate(cells) for o in c.get("outputs", [])
            if "<img alt=" in "".join(o.get("data", {}).get("text/html", ""))]


PLOTS = [((n, i), f"{n.stem}-cell{i}", (n.stem, k) == SAMPLE_PLOT)
         for n in NOTEBOOKS for k, i in enumerate(_plot_cells(n))]


def _sanitized(text: str) -> str:
    """What nbval compares: the text with tests/nbval_sanitize.cfg's replacements (times, pids, the cover line)."""
    rules = configparser.ConfigParser()
    rules.read(ROOT / "tests" / "nbval_sanitize.cfg")
    for section in rules.sections():
        text = re.sub(rules[section]["regex"], rules[section]["replace"], text)
    return text


@pytest.mark.parametrize("notebook", _sampled([((n,), n.stem, n.stem in SAMPLE) for n in NOTEBOOKS], SAMPLE))
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


_CELL_IMG = """(i) => {
    const w = window.jupyterapp.shell.currentWidget.content.widgets[i];
    const img = w.node.querySelector('.jp-OutputArea-output img');
    return {hidden: w.outputHidden, img: !!img, shown: !!img && img.checkVisibility(), alt: img ? img.alt : null};
}"""


def _scroll_to(page, cell: int):
    """The cell, scrolled into view (the notebook renders only the cells near the view) and marked to be found."""
    page.evaluate("""(i) => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        return Promise.resolve(nb.scrollToItem(i, 'start')).then(() => {
            nb.widgets[i].node.setAttribute('data-forklab-plot-cell', '');
        });
    }""", cell)
    found = page.locator("[data-forklab-plot-cell]")
    found.wait_for(state="attached")
    return found


def _accessible_name(page, selector: str) -> str:
    """The element's name in Chromium's own accessibility tree (what a screen reader is given; Playwright's aria
    snapshot leaves long names out)."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        ax = cdp.send("Accessibility.getPartialAXTree", {"nodeId": node, "fetchRelatives": False})["nodes"]
        return next((n.get("name", {}).get("value", "") for n in ax if not n.get("ignored")), "")
    finally:
        cdp.detach()


@pytest.mark.parametrize("notebook,cell", _sampled(PLOTS))
def test_a_revealed_plot_has_a_text_equivalent_and_none_before(browser, axe, course_lab, notebook, cell):
    base, token = course_lab
    stored = json.loads(notebook.read_text(encoding="utf-8"))["cells"][cell]
    words = next("".join(o["data"]["text/plain"]) for o in stored["outputs"]
                 if "<img alt=" in "".join(o.get("data", {}).get("text/html", "")))
    page = browser.new_page(viewport=LAPTOP)
    page.set_default_timeout(60000)
    try:
        _open(page, base, token, notebook.name)
        page.wait_for_function(f"() => window.jupyterapp.shell.currentWidget?.content?.widgets?.length > {cell}")
        before = page.evaluate(_CELL_IMG, cell)
        assert before["hidden"] and not before["shown"], f"{notebook.name} cell {cell}: the plot is on screen unrun"
        shown_cell = _scroll_to(page, cell)
        assert words[:40] not in shown_cell.aria_snapshot(), "the plot's words reach a screen reader unrun"

        page.evaluate(f"""() => {{
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = {cell};
            return window.jupyterapp.commands.execute('notebook:run-all-above')
                .then(() => window.jupyterapp.commands.execute('notebook:run-cell'));
        }}""")
        page.wait_for_function(f"""() => {{
            const w = window.jupyterapp.shell.currentWidget.content.widgets[{cell}];
            return w.model.executionCount !== null && !w.outputHidden &&
                   w.node.querySelector('.jp-OutputArea-output img') !== null;
        }}""", timeout=300000)
        after = page.evaluate(_CELL_IMG, cell)
        assert after["shown"] and after["alt"].strip(), f"{notebook.name} cell {cell}: a plot without alt"
        assert _sanitized(after["alt"]) == _sanitized(words), \
            f"the alt does not say what was measured:\n  {after['alt']}\n  stored: {words}"
        _scroll_to(page, cell)
        name = _accessible_name(page, "[data-forklab-plot-cell] .jp-OutputArea-output img")
        assert name == after["alt"], f"what a screen reader gets for the plot: {name!r}"
        problems = axe_violations(page, axe, ".jp-OutputArea-output")
        assert problems == [], f"{notebook.name}'s outputs after the plot:\n" + "\n".join(problems)
    finally:
        page.close()
        _shut_kernels(base, token)

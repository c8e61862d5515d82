"""An exercise notebook as handed out, in a real browser: JupyterLab's Run All goes past every unanswered exercise.

Uploads exercises/01_exercises_fork.ipynb (unanswered) to a JupyterLab on a loopback port (tests/test_browser.py's
`lab`), clicks Run All, and waits until every code cell has run: the answer cells raise NotImplementedError and
the tests say "not answered yet", but - each such cell being tagged raises-exception, so JupyterLab sends it with
stop_on_error false - the kernel never drops the cells after them (PROGRAM_2 is defined; exercise 2's test says
"not answered yet", not NameError). Without the tags Run All stops at the first answer cell.
"""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from test_browser import IDLE, lab  # noqa: F401 - the JupyterLab fixture

ROOT = Path(__file__).resolve().parent.parent
EXERCISE = ROOT / "exercises" / "01_exercises_fork.ipynb"


def upload(base: str, token: str, path: Path) -> None:
    body = json.dumps({"type": "notebook", "format": "json", "content": json.loads(path.read_text())}).encode()
    req = urllib.request.Request(f"{base}/api/contents/{path.name}?token={token}", data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()


def test_run_all_goes_past_unanswered_exercises_in_jupyterlab(browser, lab):  # noqa: F811
    base, token = lab
    upload(base, token, EXERCISE)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60000)
    try:
        page.goto(f"{base}/lab/tree/{EXERCISE.name}?token={token}")
        page.wait_for_function(f"document.querySelector('#jp-main-statusbar')?.innerText.includes({IDLE!r})")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function("""() => {
            const nb = window.jupyterapp.shell.currentWidget?.content;
            const cells = nb?.model ? Array.from(nb.model.cells).filter(c => c.type === 'code') : [];
            return cells.length > 0 && cells.every(c => c.executionCount !== null);
        }""", timeout=120000)
        outputs = page.evaluate("""() => Array.from(window.jupyterapp.shell.currentWidget.content.model.cells)
            .filter(c => c.type === 'code')
            .map(c => ({id: (c.getMetadata('nbgrader') || {}).grade_id,
                        text: JSON.stringify(c.toJSON().outputs)}))""")
        said = {o["id"]: o["text"] for o in outputs}
        assert "Exercise 1 is not answered yet" in said["ex1-test"]
        assert "Exercise 2 is not answered yet" in said["ex2-test"] and "NameError" not in said["ex2-test"]
        assert "Your variant of exercise 2" in said["ex2-program"], "the cell after an unanswered exercise ran"
    finally:
        page.close()

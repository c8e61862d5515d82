"""Predict, then see, in a real browser: JupyterLab on a loopback port, Debian's Chromium driven by Playwright.

For EVERY notebook, opened fresh (a copy of the committed file, as a student gets it from the repository, Binder,
the image or the hub): no stored output of a reveal cell and no explanation is on screen, only their collapsed
placeholders, whose words say nothing (tools/reveal_cells.py: COVER, EXPLAIN_LEAD). Then, in the notebooks of
RUN, runs everything up to the first check: its output is on screen at once, and the explanation opens with a
click. One JupyterLab server for all; each notebook's kernel is shut down before the next one opens.

    flock /tmp/forklab-heavy.lock .venv/bin/python -m pytest tests/test_predict_then_see.py
    FORKLAB_RUN_ALL_REVEALS=1 ...      # run a reveal in every notebook, not only in RUN (slower: ~3 min more)

Skipped if Chromium is missing, unless CI=true.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import IDLE, _get, start_lab
from tools.reveal_cells import COVER, EXPLAIN_LEAD, uncover

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUN = {"00_start_here", "01_fork", "03_files_after_fork", "05_exec_and_spawn", "09_threads_are_clones",
       "12_flag_explorer"}


def _squash(text: str) -> str:
    return " ".join(text.split())


def _stored_lines(cells) -> list[str]:
    lines = []
    for cell in cells:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain") or ""
            text = uncover("".join(text) if isinstance(text, list) else text)
            lines += [_squash(line) for line in text.splitlines() if line.strip() and "\x1b" not in line]
    return lines


def _tagged(cell, tag) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def _answers(nb) -> tuple[list[str], list[str]]:
    """What must not be on screen before running: the reveal outputs' lines that nothing else on the page shows
    (code, other outputs), and each explanation's first sentence."""
    cells = nb["cells"]
    elsewhere = " ".join([_squash("".join(c["source"])) for c in cells if not _tagged(c, "explain")]
                         + _stored_lines([c for c in cells if not _tagged(c, "reveal")]))
    outputs = [line for line in _stored_lines([c for c in cells if _tagged(c, "reveal")])
               if len(line) > 8 and line not in elsewhere]
    sentences = []
    for c in cells:
        if _tagged(c, "explain"):
            body = "".join(c["source"]).replace(EXPLAIN_LEAD, "").strip()
            first = next((p for p in body.split("\n\n") if p.strip() and p[0].isalpha()), "")
            words = _squash(first.replace("*", "").replace("`", ""))[:50]
            if len(words) > 25 and "[" not in words and words not in elsewhere:
                sentences.append(words)
    return outputs, sentences


@pytest.fixture(scope="module")
def lab():
    """JupyterLab as tests/test_browser.py starts it (throw-away HOME, no news), serving copies of all notebooks,
    with every cell rendered (no windowing), so that the page's text is all a student could scroll to."""
    with start_lab(NOTEBOOKS, settings={"notebook-extension/tracker": {"windowingMode": "none"}}) as served:
        yield served


def _shut_kernels(base, token) -> None:
    try:
        for k in _get(f"{base}/api/kernels?token={token}") or []:
            req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={token}", method="DELETE")
            urllib.request.urlopen(req, timeout=10).close()
    except OSError:
        pass


@pytest.fixture(scope="module")
def page(browser, lab):
    p = browser.new_page(viewport={"width": 1366, "height": 768})
    p.set_default_timeout(60000)
    yield p
    p.close()


_STATE = """() => {
    const nb = window.jupyterapp.shell.currentWidget?.content;
    return nb.widgets.map(w => ({tags: w.model.getMetadata('tags') || [], type: w.model.type,
                                 outputHidden: w.model.type === 'code' ? w.outputHidden : null,
                                 inputHidden: w.inputHidden}));
}"""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_answer_on_screen_before_the_student_predicts(page, lab, path, capsys):
    base, token = lab
    nb = json.loads(path.read_text(encoding="utf-8"))
    outputs, sentences = _answers(nb)
    start = time.monotonic()
    page.goto(f"{base}/lab/tree/{path.name}?token={token}&reset")
    page.wait_for_function(f"document.querySelector('#jp-main-statusbar')?.innerText.includes({IDLE!r})")
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget?.content?.widgets?.length > 0")
    state = page.evaluate(_STATE)
    assert len(state) == len(nb["cells"])
    for i, cell in enumerate(state):
        if "reveal" in cell["tags"]:
            assert cell["outputHidden"], f"{path.name} cell {i}: the reveal's output is shown on opening"
        if "explain" in cell["tags"]:
            assert cell["inputHidden"], f"{path.name} cell {i}: the explanation is open on opening"
    text = _squash(page.locator(".jp-Notebook").first.inner_text())
    assert COVER in text and EXPLAIN_LEAD in text, "the placeholders say what is behind them"
    seen = [line for line in outputs if line in text]
    assert not seen, f"{path.name}: stored reveal output on screen before running: {seen[:3]}"
    told = [words for words in sentences if words in text]
    assert not told, f"{path.name}: an explanation is on screen before running: {told[:3]}"
    assert outputs or sentences, f"{path.name}: nothing to look for"

    if path.stem in RUN or os.environ.get("FORKLAB_RUN_ALL_REVEALS") == "1":
        check = next(i for i, c in enumerate(nb["cells"]) if "check_prediction(" in "".join(c["source"]))
        page.evaluate(f"""() => {{
            const panel = window.jupyterapp.shell.currentWidget;
            panel.content.activeCellIndex = {check};
            return window.jupyterapp.commands.execute('notebook:run-all-above')
                .then(() => window.jupyterapp.commands.execute('notebook:run-cell'));
        }}""")
        page.wait_for_function(f"""() => {{
            const w = window.jupyterapp.shell.currentWidget.content.widgets[{check}];
            return w.model.executionCount !== null && !w.outputHidden &&
                   w.node.querySelector('.jp-OutputArea')?.innerText.includes('the kernel did');
        }}""", timeout=120000)
        shown = _squash(page.locator(".jp-Notebook .jp-Cell").nth(check).inner_text())
        assert "the kernel did" in shown and COVER not in shown, f"{path.name}: the reveal's output after running"
        explain = check + 1
        if "explain" in nb["cells"][explain].get("metadata", {}).get("tags", []):
            page.locator(".jp-Notebook .jp-Cell").nth(explain).locator(".jp-InputPlaceholder").click()
            page.wait_for_function(f"() => !window.jupyterapp.shell.currentWidget.content.widgets[{explain}]"
                                   ".inputHidden")
            opened = _squash(page.locator(".jp-Notebook .jp-Cell").nth(explain).inner_text())
            assert len(opened) > len(EXPLAIN_LEAD) + 20, f"{path.name}: the explanation opens with a click"
    page.evaluate("() => { window.jupyterapp.shell.currentWidget.context.model.dirty = false; }")  # leave unsaved
    _shut_kernels(base, token)
    with capsys.disabled():
        print(f"\n{path.stem}: {len(outputs)} output lines and {len(sentences)} explanations not on screen"
              + (", reveal run" if path.stem in RUN else "") + f" ({time.monotonic() - start:.1f} s)", end="")

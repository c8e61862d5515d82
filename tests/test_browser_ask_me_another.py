"""'Ask me another' in a real browser: the output-order and flag-set widgets, used from the keyboard only.

A throw-away notebook with the two widgets is served by JupyterLab (tests/test_browser.py's start_lab) and
driven in Debian's Chromium: the answer is not on the page before the prediction; ticks and choices are made
with Tab/Space/Enter on controls found by their accessible names; the verdict is announced by a role="status"
line; and axe-core finds no serious or critical violation in either widget after the check.

    flock /tmp/forklab-heavy.lock .venv/bin/python -m pytest tests/test_browser_ask_me_another.py
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbformat
import pytest

from conftest import axe_violations
from test_browser import CATCH_UP_MS, IDLE, LAPTOP, open_notebook, start_lab


def _shot(locator, name: str) -> None:
    """A picture of the widget for a person to look at, when FORKLAB_ASK_SHOTS names a folder."""
    folder = os.environ.get("FORKLAB_ASK_SHOTS")
    if folder:
        locator.screenshot(path=str(Path(folder, name)))


@pytest.fixture(scope="module")
def ask_lab():
    folder = Path(tempfile.mkdtemp(prefix="forklab-ask-browser-"))
    path = folder / "ask_me_another.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('from forklab.course.ask_me_another import ask_me_another\n'
                                          'ask_me_another("output order", seed=13)'),
                nbformat.v4.new_code_cell('ask_me_another("flag set", seed=6)')]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)
    try:
        with start_lab([path]) as (base, token):
            yield base, token, path.name
    finally:
        path.unlink()
        folder.rmdir()


def test_both_widgets_from_the_keyboard_answer_only_after_the_prediction(browser, axe, ask_lab):
    from playwright.sync_api import expect
    base, token, name = ask_lab
    page = open_notebook(browser, base, token, name, LAPTOP)
    try:
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        order = page.locator(".forklab-ask-order")
        flags = page.locator(".forklab-ask-flags")
        order.get_by_role("checkbox").first.wait_for(timeout=120000)
        flags.get_by_role("button", name="accepted").wait_for(timeout=CATCH_UP_MS)
        page.wait_for_function(f"document.querySelector('#jp-main-statusbar')?.innerText.includes({IDLE!r})")

        # output order: nothing answers before the check
        text = order.inner_text()
        assert "seed 13" in text and "waitpid(c2, NULL, 0);" in text
        for word in ("cannot happen", "can happen:", "Every order", "WRONG"):
            assert word not in text
        assert order.get_by_role("checkbox").count() == 5
        ticked = order.get_by_role("checkbox", name="B A D C E")      # a box is found by its order, as read out
        ticked.focus()
        page.keyboard.press("Space")
        expect(ticked).to_be_checked()
        check = order.get_by_role("button", name="Check my ticks")
        check.focus()
        page.keyboard.press("Enter")
        status = order.locator('[role="status"]')
        expect(status).to_contain_text("wrong", timeout=CATCH_UP_MS)   # one right tick of three possible
        expect(order).to_contain_text("cannot happen", timeout=CATCH_UP_MS)
        run = order.get_by_role("button", name="Run it 30 times for real")
        expect(run).to_be_enabled(timeout=CATCH_UP_MS)
        run.focus()
        page.keyboard.press("Enter")
        expect(status).to_contain_text("none that the model calls impossible", timeout=60000)
        assert order.get_by_role("table").count() == 1
        _shot(order, "output_order.png")
        problems = axe_violations(page, axe, ".forklab-ask-order")
        assert problems == [], "the output-order widget:\n" + "\n".join(problems)

        # flag set: the group and each row are named for a screen reader; nothing runs before a prediction
        assert "seed 6" in flags.inner_text() and "CLONE_VM | CLONE_SIGHAND" in flags.inner_text()
        assert flags.locator(".fl-row").count() == 0 and "EINVAL" not in flags.inner_text()
        assert flags.get_by_role("group", name="Does the kernel accept this call?").count() == 1
        accepted = flags.get_by_role("button", name="accepted")
        accepted.focus()
        page.keyboard.press("Space")
        expect(accepted).to_have_attribute("aria-pressed", "true", timeout=CATCH_UP_MS)
        for row, word in (("memory (address space)", "shared"), ("signal handlers", "shared"),
                          ("file descriptor table", "copied"), ("working directory and umask", "copied"),
                          ("thread group (PID)", "own")):
            button = flags.get_by_role("group", name=f"{row}:").get_by_role("button", name=word)
            button.focus()
            page.keyboard.press("Space")
            expect(button).to_have_attribute("aria-pressed", "true", timeout=CATCH_UP_MS)
        check = flags.get_by_role("button", name="Check: run it on the kernel")
        check.focus()
        page.keyboard.press("Enter")
        expect(flags.locator('[role="status"]')).to_contain_text("Right: every row", timeout=CATCH_UP_MS)
        expect(flags.locator('.fl-row[data-resource="memory"]')).to_have_attribute("data-word", "shared",
                                                                                    timeout=CATCH_UP_MS)
        _shot(flags, "flag_set.png")
        problems = axe_violations(page, axe, ".forklab-ask-flags")
        assert problems == [], "the flag-set widget:\n" + "\n".join(problems)
    finally:
        page.close()

#!/usr/bin/env python3
"""The README's picture of the flag explorer (docs/img/flag_explorer.png), from a real run in Chromium.

    flock /tmp/forklab-heavy.lock .venv/bin/python tools/screenshot_explorer.py [OUT.png]     (make screenshots)

Predict, then see: the README is what a student reads first, so its picture gives no verdict away. It shows the
explorer as notebook 12 starts it (Run All, nothing toggled: the flags, the primitive, the picture's rows), with
every verdict of the picture greyed out - each row's boxes (their colour and shape tell shared from copied), its
arrow ("copied at clone"), its word - and the status line, which reports the last run. The README's caption says they are hidden on purpose.

The lab is the one the browser tests start (tests/test_browser.py: a throw-away HOME and copy of the notebook).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from tests.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.test_browser import IDLE, NOTEBOOK, start_lab  # noqa: E402

OUT = ROOT / "docs" / "img" / "flag_explorer.png"
# what answers a prediction: each row's drawing (its boxes' colour and shape tell shared from copied), arrow and word,
# and the status line
VERDICTS = (".forklab-view .fl-row .fl-obj", ".forklab-view .fl-row .fl-arrow", ".forklab-view .fl-row .fl-word",
            ".forklab-status")
GREY = "#c8c8c8"


def shoot(out: Path) -> Path:
    from playwright.sync_api import sync_playwright
    with start_lab([NOTEBOOK]) as (base, token), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})   # the whole widget on screen
            page.set_default_timeout(60000)
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}&reset")
            page.wait_for_function(f"document.querySelector('#jp-main-statusbar')?.innerText.includes({IDLE!r})")
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.locator(".forklab-explorer .forklab-view .fl-row").first.wait_for(timeout=120000)
            page.wait_for_function(f"document.querySelector('#jp-main-statusbar')?.innerText.includes({IDLE!r})")
            page.evaluate("document.querySelector('#jp-left-stack')?.offsetParent && "
                          "window.jupyterapp.commands.execute('application:toggle-left-area')")
            explorer = page.locator(".forklab-explorer").first
            explorer.scroll_into_view_if_needed()
            assert explorer.locator(".fl-flipped, .fl-refusal").count() == 0, "nothing may be toggled yet"
            page.wait_for_timeout(300)
            out.parent.mkdir(parents=True, exist_ok=True)
            explorer.screenshot(path=str(out), mask=[page.locator(s) for s in VERDICTS], mask_color=GREY,
                                animations="disabled")
        finally:
            browser.close()
    return out


if __name__ == "__main__":
    print(shoot(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))

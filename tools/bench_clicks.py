"""make bench, in a real browser: a click on a flag toggle of the flag explorer until the sharing picture shows
the new verdict, beside a trivial ipywidgets round trip (a button that sets a label), in the same Chromium run.

    python tools/bench_clicks.py [--clicks 50]

JupyterLab on a loopback port (tests/test_browser.py's start_lab and open_notebook), Debian's Chromium driven by
Playwright. One notebook holds both widgets; the clicks alternate between them (trivial, explorer, trivial, ...)
so both see the same load. Each time runs in the page, from the click's event to the change in the page (a
MutationObserver): the label shows the new count; the explorer's memory row shows the new verdict ("shared"
with CLONE_VM, "copied" without). Prints the first click and the p50/p95 of all clicks for each, and the ratio
(issue 23's target: within 1.5x the trivial widget's). A figure, not an assertion. Skipped, saying why, when
Chromium or Playwright is missing. Heavy: it takes /tmp/forklab-heavy.lock (the lock `flock` takes) first.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "lib" / "src"))
from forklab.meters.benchmark import percentile  # noqa: E402  (one percentile for every bench figure)

HEAVY_LOCK = "/tmp/forklab-heavy.lock"
CELLS = [
    # the trivial round trip: a click goes to the kernel, the kernel sets the label, the label is redrawn
    "import ipywidgets as widgets\n"
    "trivial_button, trivial_label = widgets.Button(description='count'), widgets.Label('0')\n"
    "trivial_button.add_class('bench-trivial-button'); trivial_label.add_class('bench-trivial-label')\n"
    "trivial_button.on_click(lambda _: setattr(trivial_label, 'value', str(int(trivial_label.value) + 1)))\n"
    "widgets.HBox([trivial_button, trivial_label])",
    "from forklab.explorer.widgets import explore\nexplore()",
]

# In the page: arm a timer for one click on `target` (a CSS selector) that stops when `done()` is true.
ARM = """([target, watched, done]) => {
    const t = document.querySelector(target), w = document.querySelector(watched);
    const isDone = new Function('w', 'return ' + done);
    window.__bench = {t0: null, t1: null};
    t.addEventListener('click', () => { window.__bench.t0 ??= performance.now(); }, {capture: true, once: true});
    const obs = new MutationObserver(() => {
        if (isDone(w)) { window.__bench.t1 ??= performance.now(); obs.disconnect(); }
    });
    obs.observe(w, {childList: true, subtree: true, characterData: true, attributes: true});
}"""


# Before the page loads: note when each websocket message (to and from the kernel) is sent and arrives.
WIRE = """(() => {
    window.__wire = {sent: [], got: [], made: []};
    // when the kernel made a message: its header's date (the kernel's clock, ms; the same machine's). The
    // v1 websocket protocol frames it as offsets, then channel, header, ...; a plain text frame is JSON.
    const made = data => {
        try {
            if (typeof data === 'string') return Date.parse(JSON.parse(data).header.date);
            const v = new DataView(data), offset = i => Number(v.getBigUint64(8 * (i + 1), true));
            const header = new TextDecoder().decode(new Uint8Array(data, offset(1), offset(2) - offset(1)));
            return Date.parse(JSON.parse(header).date);
        } catch (e) { return NaN; }
    };
    const WS = window.WebSocket;
    const Wired = function (...args) {
        const ws = new WS(...args);
        ws.addEventListener('message', event => {
            const t = performance.now();
            window.__wire.got.push(t);
            window.__wire.made.push(made(event.data) - performance.timeOrigin);
        });
        const send = ws.send.bind(ws);
        ws.send = data => { window.__wire.sent.push(performance.now()); return send(data); };
        return ws;
    };
    Wired.prototype = WS.prototype;
    Object.setPrototypeOf(Wired, WS);
    window.WebSocket = Wired;
})()"""

# After a click: the click's way in three parts - until the browser sent the message to the kernel, until the
# last message that came back before the redraw arrived, from then until the page showed it.
PARTS = """() => {
    const {t0, t1} = window.__bench, {sent, got, made} = window.__wire;
    const out = sent.find(t => t >= t0), back = got.filter(t => t >= out && t <= t1);
    if (out === undefined || back.length === 0) return null;
    const last = back[back.length - 1], kernel = made[got.lastIndexOf(last)];
    return {to_kernel: out - t0, kernel_and_back: last - out, drawing: t1 - last, messages_back: back.length,
            until_made: kernel - out, made_to_browser: last - kernel};
}"""


def _click(page, target: str, watched: str, done: str, parts: list) -> float:
    page.evaluate(ARM, [target, watched, done])
    page.locator(target).click()
    page.wait_for_function("window.__bench.t0 !== null && window.__bench.t1 !== null", timeout=30000)
    parts.append(page.evaluate(PARTS))
    return page.evaluate("window.__bench.t1 - window.__bench.t0")


class _Wired:
    """A browser for open_notebook() whose pages note their websocket messages (WIRE)."""

    def __init__(self, browser) -> None:
        self.browser = browser

    def new_page(self, viewport: dict):
        context = self.browser.new_context(viewport=viewport)
        context.add_init_script(WIRE)
        return context.new_page()


def _notebook(folder: Path) -> Path:
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [],
              "source": source} for i, source in enumerate(CELLS)]
    path = folder / "bench_clicks.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {"kernelspec": {
        "display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    return path


def measure(clicks: int) -> tuple[dict[str, list[float]], dict[str, list[dict | None]]]:
    from playwright.sync_api import sync_playwright
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.test_browser import IDLE, LAPTOP, open_notebook, start_lab
    times: dict[str, list[float]] = {"trivial widget": [], "flag explorer": []}
    parts: dict[str, list[dict | None]] = {name: [] for name in times}
    with tempfile.TemporaryDirectory(prefix="forklab-bench-clicks-") as tmp, \
            start_lab([_notebook(Path(tmp))]) as (base, token), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = open_notebook(_Wired(browser), base, token, "bench_clicks.ipynb",
                                 {"width": LAPTOP["width"], "height": 2400})
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.locator(".forklab-explorer .forklab-flag-CLONE_VM").wait_for(timeout=120000)
            page.locator(".bench-trivial-button").wait_for()
            page.wait_for_function(f"document.querySelector('#jp-main-statusbar')?.innerText.includes({IDLE!r})")
            memory = '.forklab-explorer .forklab-view .fl-row[data-resource="memory"]'
            page.locator(memory).wait_for()
            for i in range(clicks):
                n = int(page.locator(".bench-trivial-label").inner_text()) + 1
                times["trivial widget"].append(_click(
                    page, ".bench-trivial-button", ".bench-trivial-label", f"w.innerText.trim() === '{n}'",
                    parts["trivial widget"]))
                word = "shared" if i % 2 == 0 else "copied"
                times["flag explorer"].append(_click(
                    page, ".forklab-explorer .forklab-flag-CLONE_VM button", ".forklab-explorer .forklab-view",
                    f"w.querySelector('.fl-row[data-resource=\"memory\"]')?.dataset.word === '{word}'",
                    parts["flag explorer"]))
        finally:
            browser.close()
    return times, parts


def missing() -> str | None:
    """Why the browser bench cannot run here, or None."""
    from tests.conftest import CHROMIUM
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=50)
    args = parser.parse_args(argv)
    why = missing()
    if why:
        print(f"clicks in a real browser: skipped ({why})")
        return 0
    with open(HEAVY_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # one heavy run at a time on the shared machine
        start = time.monotonic()
        times, parts = measure(args.clicks)
    print(f"clicks in Chromium (JupyterLab, Playwright), {args.clicks} of each, alternating, click -> redrawn "
          f"({time.monotonic() - start:.0f} s):")
    trivial = times["trivial widget"]
    for name, t in times.items():
        print(f"  {name:<15} first {t[0]:6.1f} ms   p50 {percentile(t, 50):6.1f} ms   p95 {percentile(t, 95):6.1f} ms"
              + ("" if t is trivial else
                 f"   (x trivial: first {t[0] / trivial[0]:.2f}, p95 "
                 f"{percentile(t, 95) / percentile(trivial, 95):.2f}; target <= 1.5)"))
    print("  where it goes (median ms): to the kernel's socket | kernel and back (last message before the "
          "redraw) | drawing")
    for name, got in parts.items():
        got = [p for p in got if p]
        if got:
            m = {k: percentile([p[k] for p in got], 50) for k in got[0]}
            print(f"  {name:<15} {m['to_kernel']:6.1f} | {m['kernel_and_back']:6.1f} | {m['drawing']:6.1f}   "
                  f"({m['messages_back']:.0f} messages back; the last one made by the kernel "
                  f"{m['until_made']:.1f} ms after the click's message left, then {m['made_to_browser']:.1f} ms "
                  "on its way)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

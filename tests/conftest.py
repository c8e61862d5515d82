"""Course-level test options; the repository on sys.path, so that tests import the scripts as tools.NAME."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pytest_addoption(parser):
    parser.addoption("--screenshots", action="store_true", default=False,
                     help="save the browser test's screenshot of the flag explorer to docs/img/ (for the README)")


# --- a real browser, for tests/test_browser.py (JupyterLab) and tests/test_site.py (the website) ---------
import os  # noqa: E402

import pytest  # noqa: E402

CHROMIUM = os.environ.get("FORKLAB_CHROMIUM", "/usr/bin/chromium")     # Debian's: apt-get install chromium
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]   # only local pages are opened; no calls home


def missing_browser(what: str):
    """In CI a missing browser is a failure; on a laptop, a skip that says how to get it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: the browser test must run; .ci/run installs chromium)")
    pytest.skip(f"{what}; install it with: apt-get install chromium")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Python Playwright (whose own browser download is not used)."""
    if not Path(CHROMIUM).exists():
        missing_browser(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser("Python Playwright is not installed (pip install -r requirements-dev.txt)")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception:
        pw.stop()
        raise
    try:
        yield b
    finally:
        b.close()
        pw.stop()

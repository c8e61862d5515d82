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


# --- axe-core, the accessibility checker, for tests/test_accessibility.py and tests/test_site.py ----------
AXE_CORE = "axe-core@4.14.1"        # from npm; installed once into the user's own cache, never a shared /tmp name


def _axe_folder() -> Path:
    import hashlib
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "forklab" / ("axe-" + hashlib.sha256(AXE_CORE.encode()).hexdigest()[:8])


@pytest.fixture(scope="session")
def axe() -> str:
    """axe.min.js (Deque's axe-core) as text, to inject into a page: npm install into the user's cache."""
    import shutil
    import subprocess
    import tempfile
    folder, private = _axe_folder(), None
    script = folder / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if shutil.which("npm") is None:
            missing_browser("npm is missing, so axe-core cannot be installed (apt-get install npm)")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:                       # a HOME we may not write: a private folder for this run
            folder = private = Path(tempfile.mkdtemp(prefix="forklab-axe-"))
            script = folder / "node_modules" / "axe-core" / "axe.min.js"
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder), AXE_CORE],
                       check=True, timeout=300)
    try:
        yield script.read_text(encoding="utf-8")
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


def axe_violations(page, axe_source: str, context="document", impacts=("serious", "critical")) -> list[str]:
    """Run axe-core in ``page`` over ``context`` (a CSS selector, or the document); one line per violation
    of the given impacts: rule, impact, how many elements, the first element's selector and what to fix."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    result = page.evaluate("""async (context) => {
        const ctx = context === 'document' ? document : {include: [[context]]};
        return await axe.run(ctx, {resultTypes: ['violations']});
    }""", context)
    return [f"{v['id']} ({v['impact']}) on {len(v['nodes'])} element(s), e.g. {v['nodes'][0]['target']}: "
            f"{v['nodes'][0]['failureSummary'].splitlines()[-1].strip()}"
            for v in result["violations"] if v["impact"] in impacts]

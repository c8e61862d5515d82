"""The course as a website (make site): built from the committed outputs, links checked, read in a real browser.

The site is built once, into a temporary folder (site/build.py --out), and checked as a reader meets it:
every notebook in teaching order with previous/next, the stored outputs shown verbatim (nothing re-executed),
the flag explorer's sharing picture, exercises without their solutions, no broken link; then Chromium opens
three pages over HTTP on 127.0.0.1 and clicks through them.

    pytest tests/test_site.py      # the browser part is skipped without Chromium, unless CI=true
"""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
import time
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
EXERCISES = sorted(p.stem for p in (ROOT / "exercises").glob("*.ipynb"))
SOLUTIONS = ROOT / "solutions"
EXPLORER_PAGES = ["notebooks/08_clone_flags.html", "notebooks/12_flag_explorer.html"]    # the flag explorer


from tools import check_links  # noqa: E402
from tools.reveal_cells import EXPLAIN_LEAD, uncover  # noqa: E402


class _Text(HTMLParser):
    """A page's visible text (scripts and styles left out), whitespace collapsed."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _squash(text: str) -> str:
    return " ".join(text.split())


@functools.lru_cache(maxsize=None)
def _page_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return _squash("".join(parser.parts))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The built site's folder (where index.html is)."""
    out = tmp_path_factory.mktemp("site")
    start = time.monotonic()
    run = subprocess.run([sys.executable, str(ROOT / "site" / "build.py"), "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"make site failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    print(f"\nsite built in {time.monotonic() - start:.1f} s")
    return out / "html"


def test_every_notebook_and_exercise_has_a_page_in_teaching_order(site):
    """index -> 00 ... the last chapter -> further reading -> exercises -> instructors -> library; each next is the
    following prev."""
    order = (["index"] + [f"notebooks/{n}" for n in NOTEBOOKS] + ["notebooks/further_reading", "exercises/index"]
             + [f"exercises/{n}" for n in EXERCISES] + ["docs/instructors", "lib/README"])
    assert len(NOTEBOOKS) >= 13 and len(EXERCISES) >= 11
    for before, after in zip(order, order[1:]):
        page = site / f"{before}.html"
        nxt = re.search(r'<link rel="next" title="[^"]*" href="([^"]+)"', page.read_text(encoding="utf-8"))
        assert nxt, f"{before}.html has no next page"
        assert os.path.normpath(os.path.join(os.path.dirname(before), nxt[1])) == f"{after}.html"
        prev = re.search(r'<link rel="prev" title="[^"]*" href="([^"]+)"',
                         (site / f"{after}.html").read_text(encoding="utf-8"))
        assert prev and os.path.normpath(os.path.join(os.path.dirname(after), prev[1])) == f"{before}.html"


def _committed_output_lines(notebook: Path):
    """Every line the notebook's stored outputs print (stream output and text results)."""
    yield from _committed_output_lines_of(json.loads(notebook.read_text(encoding="utf-8")))


def _committed_output_lines_of(nb: dict):
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                text = out["text"]
            elif out["output_type"] == "execute_result" and set(out["data"]) <= {"text/plain"}:
                text = out["data"]["text/plain"]
            else:
                continue
            for line in uncover("".join(text)).splitlines():      # the cover line is JupyterLab's only
                if line.strip() and "\x1b" not in line:
                    yield _squash(line)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_page_shows_the_committed_outputs_verbatim(site, name):
    """Nothing is re-executed: the page prints exactly what is stored, PIDs and timings included."""
    text = _page_text(site / "notebooks" / f"{name}.html")
    lines = list(_committed_output_lines(ROOT / "notebooks" / f"{name}.ipynb"))
    assert lines, f"notebooks/{name}.ipynb has no stored outputs (make notebooks stores them)"
    missing = [line for line in lines if line not in text]
    assert not missing, f"{len(missing)} of {len(lines)} stored output lines are not on the page, e.g. {missing[:3]}"


class _Toggles(HTMLParser):
    """The text a reader sees without opening anything, and each <details>' summary and its hidden text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.plain, self.toggles, self._depth, self._in_summary, self._skip = [], [], 0, False, 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")
        if tag == "details":
            self._depth += 1
            if self._depth == 1:
                self.toggles.append({"summary": "", "inside": [], "class": dict(attrs).get("class") or ""})
        elif tag == "summary" and self._depth:
            self._in_summary = True

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0
        if tag == "details" and self._depth:
            self._depth -= 1
        elif tag == "summary":
            self._in_summary = False

    def handle_data(self, data):
        if self._skip:
            return
        if not self._depth:
            self.plain.append(data)
        elif self._in_summary:
            self.toggles[-1]["summary"] += data
        else:
            self.toggles[-1]["inside"].append(data)


def _tagged(name, tag):
    return [c for c in json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
            if tag in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_what_the_kernel_did_is_behind_a_named_toggle(site, name):
    """Predict, then see: every reveal's stored output and every explanation is on the page, but only inside a
    <details> whose <summary> says "Show what the kernel did" - never in the text a reader sees unopened."""
    page = _Toggles()
    page.feed((site / "notebooks" / f"{name}.html").read_text(encoding="utf-8"))
    plain = _squash("".join(page.plain))
    cells = [t for t in page.toggles if {"hide", "forklab-explain"} & set(t["class"].split())]   # not the theme's
    assert cells, f"{name}: no reveal behind a toggle (site/conf.py puts them there)"
    assert all(_squash(t["summary"]) for t in cells), f"{name}: a toggle whose <summary> has no name"
    revealed = " ".join(_squash("".join(t["inside"])) for t in cells
                        if _squash(t["summary"]).startswith("Show what the kernel did"))
    reveals, explains = _tagged(name, "reveal"), _tagged(name, "explain")
    assert reveals, f"{name}: no cell tagged reveal (tools/reveal_cells.py tags them)"
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
    elsewhere = " ".join([_squash("".join(c["source"])) for c in nb["cells"]] + list(_committed_output_lines_of(
        {"cells": [c for c in nb["cells"] if "reveal" not in c.get("metadata", {}).get("tags", [])]})))
    checked = 0
    for line in _committed_output_lines_of({"cells": reveals}):
        assert line in revealed, f"{name}: a reveal's output is not behind a toggle: {line!r}"
        if line not in elsewhere:         # a line that code or another output also shows proves nothing here
            assert line not in plain, f"{name}: a reveal's output is in plain view: {line!r}"
            checked += 1
    assert checked, f"{name}: no reveal output line of its own to check"
    explained = [t for t in cells if "forklab-explain" in t["class"].split()]
    assert len(explained) == len(explains), f"{name}: {len(explains)} explanations, {len(explained)} behind toggles"
    plain = _plain_quotes(plain)
    for cell in explains:
        words = _squash(_first_sentence("".join(cell["source"]).replace(EXPLAIN_LEAD, "")))[:40]
        if len(words) > 20:
            assert words not in plain, f"{name}: an explanation is in plain view: {words!r}"


def _plain_quotes(text: str) -> str:
    return text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))


def _first_sentence(md: str) -> str:
    """The first plain sentence of some markdown, without its marks (enough to find it on the page)."""
    first = next((p for p in md.split("\n\n") if p.strip() and not p.lstrip().startswith(("#", "|", "-", "`", "*",
                                                                                            "```", "1."))), "")
    return re.sub(r"[`*]|\[([^]]*)\]\([^)]*\)", lambda m: m[1] or "", first).split(". ")[0]


@pytest.mark.parametrize("page", EXPLORER_PAGES)
def test_flag_explorer_pages_show_the_sharing_picture(site, page):
    """The explorer needs a kernel; the site shows its still picture (the text/html beside the widget view)."""
    html = (site / page).read_text(encoding="utf-8")
    m = re.search(r'<div class="forklab-still">(.*?)</table>', html, re.S)
    assert m, (f"{page} has no still picture of the flag explorer: the stored output carries only the widget "
               "view and text/plain (the explorer's text/html picture has not been stored yet: make notebooks)")
    picture = _squash(re.sub(r"<[^>]+>", " ", m[1]))
    assert "memory" in picture and "shared" in picture and "copied" in picture, picture
    assert "widget-state+json" not in html, "the page carries saved widget state that nothing on it can use"


def test_the_site_is_made_from_what_is_committed_not_the_working_tree(tmp_path):
    """A student's saved answers (an uncommitted notebook) once showed up on the site: site/build.py stages HEAD."""
    build = _load_build()
    repo = tmp_path / "repo"
    for path in set(build.PAGES.values()) | {f"{folder}/a.ipynb" for folder, _ in build.FOLDERS.values()} \
            | {"notebooks/00_start.ipynb", "site/conf.py"}:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("committed\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "course"], check=True)
    (repo / "notebooks" / "00_start.ipynb").write_text("my saved answers\n")     # saved, not committed
    (repo / "notebooks" / "01_new.ipynb").write_text("a new notebook of mine\n")

    build.stage(tmp_path / "src", build.committed(repo, tmp_path / "head"))
    assert (tmp_path / "src" / "notebooks" / "00_start.ipynb").read_text() == "committed\n"
    assert not (tmp_path / "src" / "notebooks" / "01_new.ipynb").exists()
    assert sorted(build.uncommitted(repo)) == ["notebooks/00_start.ipynb", "notebooks/01_new.ipynb"]
    build.stage(tmp_path / "src", repo)           # what it used to do: the working tree
    assert (tmp_path / "src" / "notebooks" / "00_start.ipynb").read_text() == "my saved answers\n"


def _load_build():
    import importlib.util
    spec = importlib.util.spec_from_file_location("site_build", ROOT / "site" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exercise_pages_carry_the_stubs_and_no_solution(site):
    for name in EXERCISES:
        text = _page_text(site / "exercises" / f"{name}.html")
        assert "raise NotImplementedError" in text, name
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
            assert marker not in text, f"exercises/{name}.html shows '{marker}'"
    assert not list(site.rglob("*solutions*")), "a file of solutions/ made it into the site"


def _solution_only_lines() -> set[str]:
    """Lines written only in solutions/ (inside solution or hidden-test regions, in no handed-out notebook)."""
    handed_out = _squash("\n".join("".join(cell["source"])
                                    for folder in ("notebooks", "exercises")
                                    for p in (ROOT / folder).glob("*.ipynb")
                                    for cell in json.loads(p.read_text(encoding="utf-8"))["cells"]))
    found = set()
    for nb in SOLUTIONS.glob("*.ipynb"):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                if re.match(r"\s*(###|//|/\*)\s*BEGIN (SOLUTION|HIDDEN TESTS)", line):
                    inside = True
                elif re.match(r"\s*(###|//|/\*)\s*END (SOLUTION|HIDDEN TESTS)", line):
                    inside = False
                elif inside and len(line.strip()) >= 16:
                    found.add(_squash(line))
    return {line for line in found if line not in handed_out}


@pytest.mark.skipif(not SOLUTIONS.is_dir(), reason="no solutions/ here (a students' copy of the course)")
def test_no_solution_line_anywhere_in_the_site(site):
    lines = _solution_only_lines()
    assert len(lines) >= 10, "found too few solution lines to make this check mean something"
    everything = _squash("\n".join(p.read_text(encoding="utf-8", errors="replace")
                                   for p in site.rglob("*") if p.is_file() and p.suffix in
                                   (".html", ".ipynb", ".md", ".txt", ".js", ".c")))
    leaked = [line for line in lines if line in everything]
    assert not leaked, f"solution lines on the site: {leaked[:3]}"


def test_no_broken_link_or_anchor_in_the_site(site):
    problems, _external = check_links.check_site(site)
    assert problems == []


def test_no_markdown_or_notebook_links_to_a_missing_file():
    problems, _external = check_links.check_repo(ROOT)
    assert problems == []


def test_link_checker_finds_missing_files_and_anchors(tmp_path):
    """The checker itself: it must report each kind of broken link, and nothing that is fine."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<h1 id="top">t</h1><a href="#top">ok</a><a href="sub/page.html#there">ok</a><a href="sub/">ok</a>'
        '<a href="sub/page.html#nowhere">bad anchor</a><a href="gone.html">bad file</a><img src="gone.png">'
        '<a href="https://example.org/x">external</a><a href="http://no host here">malformed</a>'
        '<a href="/index.html">absolute</a>')
    (tmp_path / "sub" / "page.html").write_text('<p id="there">x</p><a href="../index.html#top">ok</a>')
    (tmp_path / "sub" / "index.html").write_text('<a href="../index.html">ok</a>')
    problems, external = check_links.check_site(tmp_path)
    assert sorted(p.split(" - ")[0] for p in problems) == [
        "index.html: /index.html", "index.html: gone.html", "index.html: gone.png",
        "index.html: http://no host here", "index.html: sub/page.html#nowhere"]
    assert external == {"https://example.org/x", "http://no host here"}

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "[ok](../index.html) [bad](missing.md) ![bad](img/nope.png) <a href=\"gone/\">bad</a>\n\n"
        "```\n[not a link](in-a-code-block.md)\n```\n")
    (tmp_path / "n.ipynb").write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["[ok](docs/a.md#a-heading) [bad](../nowhere.ipynb)"]},
        {"cell_type": "code", "source": ["# [not markdown](x.ipynb)"], "outputs": []}]}))
    problems, _ = check_links.check_repo(tmp_path, [tmp_path / "docs" / "a.md", tmp_path / "n.ipynb"])
    assert sorted(p.split(" - ")[0] for p in problems) == [
        "docs/a.md: gone/", "docs/a.md: img/nope.png", "docs/a.md: missing.md", "n.ipynb: ../nowhere.ipynb"]


def test_link_checker_finds_the_documents_of_a_copy_without_git(tmp_path):
    """A downloaded copy has no .git: the checker still finds every markdown file and notebook, minus build output."""
    for name in ("README.md", "docs/a.md", "notebooks/n.ipynb", "build/site/src/x.md", ".venv/lib/y.md",
                 "site/pages/index.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = check_links.repository_documents(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in found) == ["README.md", "docs/a.md", "notebooks/n.ipynb"]


# --- in a real browser ----------------------------------------------------------------------------------------

class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    """The built site over HTTP on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_reading_the_site_in_a_real_browser(browser, served, capsys, tmp_path):
    """Landing page -> lesson 11 -> next: the flag explorer's picture; an exercise shows its stub, no solution."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.set_default_timeout(30000)
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    shots = []
    try:
        # 1. the landing page: the course map and the sidebar list every lesson in order
        page.goto(f"{served}/index.html")
        assert "watch the Linux kernel create processes" in page.locator("h1").first.inner_text()
        sidebar = page.locator("nav.bd-docs-nav")
        lessons = sidebar.locator('a[href^="notebooks/"]')
        assert [lessons.nth(i).get_attribute("href") for i in range(lessons.count())] == \
            [f"notebooks/{n}.html" for n in NOTEBOOKS] + ["notebooks/further_reading.html"]
        shots.append(tmp_path / "site_index.png")
        page.screenshot(path=str(shots[-1]))
        page.locator("article").get_by_role("link", name="Inside the kernel").first.click()
        page.wait_for_url("**/notebooks/11_inside_the_kernel.html")

        # 2. previous/next: "next" from lesson 11 is the flag explorer, whose sharing picture is on the page
        page.locator("a.right-next").click()
        page.wait_for_url("**/notebooks/12_flag_explorer.html")
        assert "flag explorer" in page.locator("article h1").first.inner_text()
        picture = page.locator(".forklab-still").first
        assert picture.is_visible(), "the flag explorer's still picture is not on the page"
        memory = picture.locator("tr", has_text="memory").first
        assert memory.is_visible() and re.search(r"\b(shared|copied)\b", memory.inner_text())
        words = picture.inner_text()
        assert "shared" in words and "copied" in words
        page.set_viewport_size({"width": 1300, "height": 2200})    # the whole picture, clear of the sticky header
        picture.evaluate("e => e.scrollIntoView({block: 'center'})")
        shots.append(tmp_path / "site_flag_explorer.png")
        picture.screenshot(path=str(shots[-1]))
        page.set_viewport_size({"width": 1300, "height": 1000})
        page.locator("a.left-prev").click()
        page.wait_for_url("**/notebooks/11_inside_the_kernel.html")

        # 3. an exercise: the stub is there, the solution is not; its link leads back to the lesson
        page.goto(f"{served}/exercises/08_exercises_clone_flags.html")
        body = page.locator("article").inner_text()
        assert "BEGIN SOLUTION" not in body and "BEGIN HIDDEN TESTS" not in body
        stub = page.locator("div.cell", has_text="raise NotImplementedError").first
        stub.evaluate("e => e.scrollIntoView({block: 'center'})")
        assert stub.is_visible() and "YOUR CODE HERE" in stub.inner_text()
        shots.append(tmp_path / "site_exercise.png")
        stub.screenshot(path=str(shots[-1]))
        page.locator("article").get_by_role("link", name=re.compile("Back to the lesson")).first.click()
        page.wait_for_url("**/notebooks/08_clone_flags.html")
        assert page.locator(".forklab-still").first.is_visible()

        outside = [u for u in requested if not u.startswith(served) and not u.startswith("data:")]
        assert outside == [], f"the site fetched from elsewhere (it must work offline): {outside[:5]}"
        for shot in shots:
            assert shot.stat().st_size > 5000
        with capsys.disabled():
            print(f"\nsite in Chromium: {len(requested)} requests, all to 127.0.0.1; screenshots "
                  + ", ".join(map(str, shots)))
    finally:
        page.close()


def test_no_serious_accessibility_violation_on_any_page(browser, axe, served, site):
    """axe-core on every page (the theme's files under _static/ are fragments, not pages): it found a
    <summary> without a name (the sidebar's expander) and a search button named "Search" that shows
    "Search Ctrl+K" on every page; site/conf.py names both."""
    from conftest import axe_violations
    pages = sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                   if not str(p.relative_to(site)).startswith(("_static/", "_sources/")))
    assert len(pages) >= len(NOTEBOOKS) + len(EXERCISES)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    problems = {}
    try:
        for name in pages:
            page.goto(f"{served}/{name}")
            found = axe_violations(page, axe)
            if found:
                problems[name] = found
    finally:
        page.close()
    assert problems == {}, "\n".join(f"{name}: {line}" for name, lines in problems.items() for line in lines)

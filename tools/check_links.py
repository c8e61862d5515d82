#!/usr/bin/env python3
"""Check the course's links: the built website's, and the repository's own markdown and notebooks.

    python tools/check_links.py [--site build/site/html] [--repo]

--site DIR  every internal link and image of every page of the built site (`make site`) must reach a file that
            exists, and a link with `#anchor` must reach an element with that id on the page it names.
--repo      every relative link and image in the repository's markdown files and notebook markdown cells must
            reach a file or folder that exists (code blocks are not links and are skipped).
With neither, both are checked. External links (http, https, mailto) are NOT fetched - this machine, like CI,
reaches no outside site: they are only checked to be well-formed, and listed so a person can look at them.
Exits 1 on any broken link.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL_SCHEMES = {"http", "https", "mailto"}
IGNORED_SCHEMES = {"data", "javascript", "attachment"}     # not links to anything a checker could reach


class _Page(HTMLParser):
    """The ids a page defines, and the links (href, src) it makes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) is not None and not (tag == "link" and a.get("rel") in ("preconnect", "dns-prefetch")):
                self.links.append(a[key])


def _parse_html(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _external_problem(url: str) -> str | None:
    """Why an external link is malformed, or None. It is not fetched."""
    parts = urlsplit(url)
    if parts.scheme == "mailto":
        return None if "@" in parts.path else "mailto without an address"
    host = parts.hostname or ""
    if not host or ("." not in host and host != "localhost") or " " in url:
        return "not a well-formed URL"
    return None


def _classify(url: str) -> str:
    """'external', 'ignored' or 'internal'."""
    scheme = urlsplit(url).scheme.lower()
    if url.startswith("//") or scheme in EXTERNAL_SCHEMES:
        return "external"
    if scheme in IGNORED_SCHEMES or (scheme and scheme not in ("file",)):
        return "ignored"
    return "internal"


def check_site(html_dir: Path) -> tuple[list[str], set[str]]:
    """Broken links in a built site (as 'page: link - why'), and the external links it makes."""
    html_dir = html_dir.resolve()
    # _static/ holds the theme's files, among them Jinja templates named .html: not pages of the site
    pages = {p: _parse_html(p.read_text(encoding="utf-8", errors="replace")) for p in html_dir.rglob("*.html")
             if "_static" not in p.relative_to(html_dir).parts}
    problems, external = [], set()
    for page, parsed in sorted(pages.items()):
        where = page.relative_to(html_dir)
        for url in parsed.links:
            kind = _classify(url)
            if kind == "ignored":
                continue
            if kind == "external":
                external.add(url)
                if why := _external_problem(url):
                    problems.append(f"{where}: {url} - {why}")
                continue
            parts = urlsplit(url)
            if parts.scheme == "file" or url.startswith("/"):
                problems.append(f"{where}: {url} - an absolute path, which breaks once the site is moved")
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(html_dir):
                problems.append(f"{where}: {url} - leads outside the site")
            elif not target.is_file():
                problems.append(f"{where}: {url} - no such file")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where}: {url} - no element with id '{unquote(parts.fragment)}' there")
    return problems, external


def _markdown_links(text: str) -> list[str]:
    """Link and image targets of a markdown text, including raw-HTML href/src; code is not looked at."""
    found = []

    def walk(tokens):
        for t in tokens:
            if t.type == "link_open":
                found.append(t.attrGet("href"))
            elif t.type == "image":
                found.append(t.attrGet("src"))
            elif t.type in ("html_inline", "html_block"):
                found.extend(_parse_html(t.content).links)
            if t.children:
                walk(t.children)
    walk(MarkdownIt("commonmark").parse(text))
    return [f for f in found if f]


def repository_documents(root: Path) -> list[Path]:
    """Markdown files and notebooks of the repository: what git knows of (tracked, or new and not ignored);
    without git (a downloaded copy), every one outside hidden folders and build output."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z",
                              "*.md", "*.ipynb"], cwd=root, check=True, capture_output=True, text=True).stdout
        names = [name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(root)) for pattern in ("*.md", "*.ipynb") for p in root.rglob(pattern)
                 if not any(part.startswith(".") or part == "build" for part in p.relative_to(root).parts)]
    # site/pages/ are written for the website's layout, not the repository's: check_site checks them, once built
    return sorted({root / name for name in names if not name.startswith("site/pages/") and (root / name).is_file()})


def check_repo(root: Path, documents: list[Path] | None = None) -> tuple[list[str], set[str]]:
    """Broken relative links in the repository's markdown and notebooks, and the external links they make."""
    problems, external = [], set()
    for doc in documents if documents is not None else repository_documents(root):
        if doc.suffix == ".ipynb":
            cells = json.loads(doc.read_text(encoding="utf-8"))["cells"]
            texts = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
        else:
            texts = [doc.read_text(encoding="utf-8")]
        where = doc.relative_to(root)
        for url in (u for text in texts for u in _markdown_links(text)):
            kind = _classify(url)
            if kind == "external":
                external.add(url)
                if why := _external_problem(url):
                    problems.append(f"{where}: {url} - {why}")
            elif kind == "internal":
                path = unquote(urlsplit(url).path)
                if path and not (doc.parent / path).exists():
                    problems.append(f"{where}: {url} - no such file or folder")
    return problems, external


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, help="a built site's folder (make site: build/site/html)")
    ap.add_argument("--repo", action="store_true", help="the repository's markdown files and notebooks")
    args = ap.parse_args(argv)
    if args.site is None and not args.repo:
        args.site, args.repo = ROOT / "build" / "site" / "html", True
    problems, external = [], set()
    if args.site is not None:
        if not (args.site / "index.html").is_file():
            print(f"no built site in {args.site} (run: make site)", file=sys.stderr)
            return 1
        p, e = check_site(args.site)
        problems += p
        external |= e
    if args.repo:
        p, e = check_repo(ROOT)
        problems += p
        external |= e
    for line in problems:
        print("BROKEN", line)
    print(f"{len(external)} external link(s), well-formed is all that was checked (not fetched):")
    for url in sorted(external):
        print("  ", url)
    print(f"{len(problems)} broken link(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

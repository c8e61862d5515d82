"""Build the course as a static website, for reading before or without running it.

    python site/build.py               # (make site) -> build/site/html/index.html
    python site/build.py --out DIR     # -> DIR/html/index.html (the tests build into a temporary folder)

The pages come from what is committed: the notebooks with their stored outputs (never executed here), the
generated exercises (never solutions/), docs/instructors.md and the library's README. They are copied into a
staging folder laid out like the site, so a link that works in the repository (`../exercises/01_exercises_fork.ipynb`)
works on the site too, and nothing else of the repository can leak in. Sphinx (with MyST-NB) then renders it;
any warning - a link to a missing page, a bad include - fails the build.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"                       # conf.py; pages/: the pages that exist only on the site
BUILD = ROOT / "build" / "site"            # src/ (the staged pages), html/ (the site), doctrees/ (Sphinx's cache)

# site path -> repository path: everything the site is made of.
PAGES = {
    "index.md": SITE / "pages" / "index.md",
    "README.md": ROOT / "README.md",             # only included by index.md, for its intro and course map
    "exercises/index.md": SITE / "pages" / "exercises.md",
    "docs/instructors.md": ROOT / "docs" / "instructors.md",
    "lib/README.md": ROOT / "lib" / "README.md",
    "notebooks/further_reading.md": ROOT / "notebooks" / "further_reading.md",   # after the last chapter
}
FOLDERS = {                                      # site folder -> (repository folder, which files)
    "notebooks": (ROOT / "notebooks", "[0-9]*.ipynb"),
    "exercises": (ROOT / "exercises", "*.ipynb"),
    "docs/img": (ROOT / "docs" / "img", "*"),
}


def stage(into: Path) -> None:
    shutil.rmtree(into, ignore_errors=True)
    for dest, src in PAGES.items():
        (into / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, into / dest)
    for dest, (folder, pattern) in FOLDERS.items():
        (into / dest).mkdir(parents=True, exist_ok=True)
        for f in sorted(folder.glob(pattern)):
            if f.is_file():
                shutil.copy2(f, into / dest / f.name)


def build_site(out: Path = BUILD) -> Path:
    """Stage and render the whole site into ``out``; returns the folder of index.html. Raises on any warning."""
    from sphinx.cmd.build import build_main

    html, doctrees = out / "html", out / "doctrees"
    for old in (html, doctrees):            # a fresh build every time: no stale page survives
        shutil.rmtree(old, ignore_errors=True)
    stage(out / "src")
    status = build_main(["-b", "html", "-c", str(SITE), "-d", str(doctrees), "-W", "--keep-going", "-q",
                         str(out / "src"), str(html)])
    if status != 0:
        raise SystemExit(f"the site did not build (Sphinx exit status {status}; its warnings are above)")
    return html


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=BUILD, help=f"where to build (default: {BUILD.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    start = time.monotonic()
    html = build_site(args.out.resolve())
    print(f"site built in {time.monotonic() - start:.1f} s: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

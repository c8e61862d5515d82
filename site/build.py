"""Build the course as a static website, for reading before or without running it.

    python site/build.py               # (make site) -> build/site/html/index.html
    python site/build.py --out DIR     # -> DIR/html/index.html (the tests build into a temporary folder)

The pages come from what is committed (HEAD, taken with `git archive`, so a student's saved answers or any
other uncommitted change never reach the site; a copy without git is used as it is): the notebooks with their
stored outputs (never executed here), the generated exercises (never solutions/), docs/instructors.md and the
library's README. They are copied into a staging folder laid out like the site, so a link that works in the
repository (`../exercises/01_exercises_fork.ipynb`) works on the site too, and nothing else of the repository can leak in.
Sphinx (with MyST-NB) then renders it, with the committed site/conf.py; any warning - a link to a missing page,
a bad include - fails the build.
"""
from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"                       # conf.py; pages/: the pages that exist only on the site
BUILD = ROOT / "build" / "site"            # src/ (the staged pages), html/ (the site), doctrees/ (Sphinx's cache)

# site path -> path in the repository: everything the site is made of.
PAGES = {
    "index.md": "site/pages/index.md",
    "README.md": "README.md",                    # only included by index.md, for its intro and course map
    "exercises/index.md": "site/pages/exercises.md",
    "docs/instructors.md": "docs/instructors.md",
    "lib/README.md": "lib/README.md",
    "notebooks/further_reading.md": "notebooks/further_reading.md",   # after the last chapter
}
FOLDERS = {                                      # site folder -> (repository folder, which files)
    "notebooks": ("notebooks", "[0-9]*.ipynb"),
    "exercises": ("exercises", "*.ipynb"),
    "docs/img": ("docs/img", "*"),
}


def committed(repo: Path, into: Path) -> Path:
    """The repository as committed (HEAD) in ``into``, or ``repo`` itself when it is not a git checkout."""
    git = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", "HEAD"], capture_output=True)
    if git.returncode != 0:
        if (repo / ".git").exists():
            raise SystemExit(f"git archive HEAD failed in {repo}: {git.stderr.decode(errors='replace').strip()}")
        return repo                                 # a downloaded copy: its files are what there is
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(git.stdout)) as tar:
        try:
            tar.extractall(into, filter="data")
        except TypeError:                           # a Python without extraction filters (before 3.10.12)
            tar.extractall(into)
    return into


def uncommitted(repo: Path) -> list[str]:
    """The site's sources that differ from HEAD in ``repo`` (what the site leaves out)."""
    paths = list(PAGES.values()) + [folder for folder, _ in FOLDERS.values()] + ["site"]
    git = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", *paths],
                         capture_output=True, text=True)
    return [line[3:] for line in git.stdout.splitlines()] if git.returncode == 0 else []


def stage(into: Path, source: Path = ROOT) -> None:
    shutil.rmtree(into, ignore_errors=True)
    for dest, src in PAGES.items():
        (into / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / src, into / dest)
    for dest, (folder, pattern) in FOLDERS.items():
        (into / dest).mkdir(parents=True, exist_ok=True)
        for f in sorted((source / folder).glob(pattern)):
            if f.is_file():
                shutil.copy2(f, into / dest / f.name)


def build_site(out: Path = BUILD, repo: Path = ROOT) -> Path:
    """Stage what ``repo`` has committed and render the whole site into ``out``; returns the folder of
    index.html. Raises on any warning."""
    from sphinx.cmd.build import build_main

    html, doctrees = out / "html", out / "doctrees"
    for old in (html, doctrees):            # a fresh build every time: no stale page survives
        shutil.rmtree(old, ignore_errors=True)
    source = committed(repo, out / "head")
    stage(out / "src", source)
    status = build_main(["-b", "html", "-c", str(source / "site"), "-d", str(doctrees), "-W", "--keep-going", "-q",
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
    print(f"site built in {time.monotonic() - start:.1f} s from what is committed: {html / 'index.html'}")
    left_out = uncommitted(ROOT)
    if left_out:
        print(f"not on the site (not committed): {', '.join(left_out[:8])}" + (" ..." if len(left_out) > 8 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tests write only into private temporary folders, never into fixed names under /tmp.

On a shared machine (a lab PC, a hub node) a fixed name such as /tmp/forklab_flag_explorer.png belongs to
whoever ran the tests first, and every other user's `make test` then fails with PermissionError. A private
folder (pytest's tmp_path, tempfile.mkdtemp) is each user's own. This check reads the test code.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("tests", "lib/tests")

# A name joined onto the shared temporary folder, or a literal path inside /tmp.
FIXED = re.compile(r"""gettempdir\(\)\s*(?:,|/)\s*f?["']"""        # Path(gettempdir(), "x") / gettempdir() / "x"
                   r"""|(?<![\w.])["']/tmp/[^"'\s]""")              # "/tmp/x" (dir="/tmp" is fine: mkdtemp's)

# Fixed on purpose, with the reason.
ALLOWED = {
    ("lib/tests/test_cell_walls.py", 'snprintf(path, sizeof path, "/tmp/%s", argv[1]);'):
        "attack 10 of issue 17: a cell's program leaves a file in /tmp itself (a random name, uuid4), and the "
        "test checks that the cell cleans it up - /tmp is the point",
}


def fixed_temporary_names(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if FIXED.search(line)]


def test_no_test_writes_a_fixed_name_under_tmp():
    found = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if path.name == Path(__file__).name:
                continue
            found += [f"{rel}: {line}" for line in fixed_temporary_names(path.read_text(encoding="utf-8"))
                      if (rel, line) not in ALLOWED]
    assert found == [], "use pytest's tmp_path or tempfile.mkdtemp():\n" + "\n".join(found)


def test_the_check_finds_the_fixed_names_it_is_about():
    """What the tests used to write (issue 21): each is found; private folders are not."""
    bad = ['shot = Path(tempfile.gettempdir(), "forklab_flag_explorer.png")',
           'shots.append(Path(tempfile.gettempdir(), "forklab_site_index.png"))',
           "p = tempfile.gettempdir() / 'x.png'",
           'log = open("/tmp/forklab.log", "w")',
           "os.path.join(tempfile.gettempdir(), f'forklab_{name}.png')"]
    good = ['work = Path(tempfile.mkdtemp(prefix="forklab-binder-", dir="/tmp"))',
            'shot = tmp_path / "flag_explorer.png"',
            'assert "/tmp" not in r.compile_output']
    assert [len(fixed_temporary_names(line)) for line in bad] == [1] * len(bad)
    assert [len(fixed_temporary_names(line)) for line in good] == [0] * len(good)

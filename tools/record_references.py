#!/usr/bin/env python3
"""Record the reference outputs that cells show where a platform forbids their experiment.

    python tools/record_references.py            (as root, on a machine that allows everything)

A cell that may meet a forbidding platform (a container's seccomp filter, an older kernel) names a
recording: `with forklab.reference_if_forbidden("NAME"):` or `%%c --needs ... --reference NAME`.
This tool executes every notebook that names one, in a fresh kernel, twice - as root and as an
unprivileged user (tools/as_student) - and stores what each such cell printed, with the kernel
version and the date, in lib/src/forklab/course/references.json (shipped in the package). Run it after
changing such a cell; tests/test_references.py checks that every name used has a recording.

It refuses to record where anything is forbidden: a reference must show the experiment working.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "lib" / "src" / "forklab" / "course" / "references.json"
NAME = re.compile(r"""reference_if_forbidden\(\s*["']([^"']+)["']|^%%c\b.*--reference[ =](\S+)""", re.M)


def names_in(cell) -> list[str]:
    return [a or b for a, b in NAME.findall(cell.source)] if cell.cell_type == "code" else []


def notebooks() -> list[Path]:
    return [p for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
            if any(names_in(c) for c in nbformat.read(p, as_version=4).cells)]


def cell_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data") and "text/plain" in out.data:
            parts.append(out.data["text/plain"] + "\n")
        elif out.output_type == "error":
            raise SystemExit(f"record_references: a cell failed ({out.ename}: {out.evalue}); fix it first")
    return "".join(parts)


def collect(paths: list[Path]) -> dict[str, dict]:
    """Execute each notebook (in a fresh kernel) and return {name: {"text", "notebook"}}."""
    found = {}
    for path in paths:
        print(f"  executing {path.name} as uid {os.getuid()}", flush=True)
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        for cell in nb.cells:
            for name in names_in(cell):
                if name in found:
                    raise SystemExit(f"record_references: the name {name!r} is used twice")
                found[name] = {"text": cell_text(cell), "notebook": path.name}
    return found


def everything_allowed() -> list[str]:
    from forklab.host.machine import machine
    from forklab.course.references import NEEDS, forbidden_needs
    problems = [f"{what}: {because}" for what, because in forbidden_needs(NEEDS)]
    if machine().seccomp_filter:
        problems.append("this process runs under a seccomp filter")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--collect", type=Path, help=argparse.SUPPRESS)   # the unprivileged half: write JSON here
    args = ap.parse_args(argv)
    problems = everything_allowed()
    if problems:
        print("record_references: this platform forbids what the references must show:\n  "
              + "\n  ".join(problems), file=sys.stderr)
        return 1
    if args.collect:
        args.collect.write_text(json.dumps(collect(notebooks())))
        return 0
    if os.geteuid() != 0:
        print("record_references: run it as root (it records as root, then as an unprivileged user)",
              file=sys.stderr)
        return 2
    paths = notebooks()
    root = collect(paths)
    with tempfile.TemporaryDirectory(prefix="forklab-refs-") as tmp:
        os.chmod(tmp, 0o777)
        target = Path(tmp) / "student.json"
        subprocess.run([str(ROOT / "tools" / "as_student"), "python", "tools/record_references.py",
                        "--collect", str(target)], check=True)
        student = json.loads(target.read_text())
    if set(root) != set(student):
        raise SystemExit(f"record_references: root and student recorded different names: {set(root) ^ set(student)}")
    data = {
        "about": "Outputs of notebook cells on a machine that allows every experiment, shown where a platform "
                 "forbids one (forklab.course.references). Made by tools/record_references.py; do not edit.",
        "kernel": os.uname().release.split("-")[0],
        "machine": os.uname().machine,
        "date": datetime.date.today().isoformat(),
        "references": {name: {"notebook": root[name]["notebook"], "root": root[name]["text"],
                              "student": student[name]["text"]} for name in sorted(root)},
    }
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(root)} references from {len(paths)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())

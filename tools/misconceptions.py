#!/usr/bin/env python3
"""What a class misunderstands: a report from the students' own notebooks.

    python tools/misconceptions.py SUBMITTED_DIR [--html misconceptions.html] [--csv misconceptions.csv]

Every prediction a student checks with ``forklab.check_prediction`` is recorded in that cell's output, in the
student's own notebook (``{"forklab": {"prediction": {question, predicted, actual, right, when}}}`` in the
output's metadata; nothing leaves the student's machine). Hand this command the notebooks the students handed
in - nbgrader's ``submitted/`` (SUBMITTED_DIR/<student>/<assignment>/<notebook>.ipynb), or any folder with one
subfolder per student - and it counts, for every question of every chapter, how many students predicted it
right, wrong, or not at all (no record: never predicted, or the cell was never run), and the most common wrong
answer. It writes a CSV (one row per question) and one HTML page with a bar chart per chapter, and prints a
summary. It reads notebooks only; it runs nothing.
"""
from __future__ import annotations

import argparse
import csv
import html
import json
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

COLUMNS = ["chapter", "question", "students", "right", "wrong", "not_at_all", "most_common_wrong",
           "most_common_wrong_count", "kernel_answer"]


@dataclass
class Question:
    chapter: str
    question: str
    right: set = field(default_factory=set)          # students
    wrong: dict = field(default_factory=dict)        # student -> their answer (as JSON text)
    unanswered: set = field(default_factory=set)     # students who ran the check without predicting
    actual: Counter = field(default_factory=Counter)  # the kernel's answers (JSON text): usually one

    def row(self, students: int) -> dict:
        common = Counter(self.wrong.values()).most_common(1)
        answered = len(self.right) + len(self.wrong)
        return {"chapter": self.chapter, "question": self.question, "students": students,
                "right": len(self.right), "wrong": len(self.wrong), "not_at_all": students - answered,
                "most_common_wrong": common[0][0] if common else "", "most_common_wrong_count": common[0][1] if common else 0,
                "kernel_answer": self.actual.most_common(1)[0][0] if self.actual else ""}


def records(nb) -> list[dict]:
    """The prediction records saved in a notebook's outputs, in cell order."""
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            record = out.get("metadata", {}).get("forklab", {}).get("prediction")
            if isinstance(record, dict) and "question" in record:
                found.append(record)
    return found


def student_notebooks(folder: Path) -> list[tuple[str, Path]]:
    """(student, notebook) for every notebook below folder: the student is the first folder under it."""
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        rel = path.relative_to(folder)
        if ".ipynb_checkpoints" in rel.parts or len(rel.parts) < 2:
            continue
        found.append((rel.parts[0], path))
    return found


def _text(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def collect(folder: Path) -> tuple[dict, dict]:
    """({(chapter, question): Question}, {chapter: students who handed in that chapter's notebook})."""
    questions: dict = {}
    handed_in: dict = defaultdict(set)
    for student, path in student_notebooks(folder):
        chapter = path.stem
        handed_in[chapter].add(student)
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as e:  # noqa: BLE001 - one unreadable file must not hide the class's report
            print(f"skipped {path}: not a readable notebook ({type(e).__name__})", file=sys.stderr)
            continue
        for record in records(nb):
            key = (chapter, str(record["question"]) or "(no question named)")
            q = questions.setdefault(key, Question(*key))
            for bucket in (q.right, q.unanswered):   # a later record of the same question replaces an earlier one
                bucket.discard(student)
            q.wrong.pop(student, None)
            q.actual[_text(record.get("actual"))] += 1
            if record.get("right") is True:
                q.right.add(student)
            elif record.get("right") is False:
                q.wrong[student] = _text(record.get("predicted"))
            else:
                q.unanswered.add(student)
    return questions, handed_in


def report_rows(questions: dict, handed_in: dict) -> list[dict]:
    return [questions[key].row(len(handed_in[key[0]])) for key in sorted(questions)]


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)


def _chart(rows: list[dict]) -> str:
    """A horizontal stacked bar per question: right, wrong, not at all (an SVG a screen reader gets as a table)."""
    bar, label_w, row_h = 360, 330, 26
    height = row_h * len(rows) + 10
    parts = [f'<svg role="img" aria-hidden="true" width="{label_w + bar + 150}" height="{height}" '
             'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">']
    for i, r in enumerate(rows):
        y, total = 5 + i * row_h, max(r["students"], 1)
        x = label_w
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{html.escape(r["question"][:48])}</text>')
        for key, colour in (("right", "#2e7d32"), ("wrong", "#c62828"), ("not_at_all", "#9e9e9e")):
            w = bar * r[key] / total
            if w:
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 6}" fill="{colour}">'
                             f'<title>{key.replace("_", " ")}: {r[key]}</title></rect>')
            x += w
        parts.append(f'<text x="{label_w + bar + 6}" y="{y + 15}">{r["right"]} / {r["wrong"]} / {r["not_at_all"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_html(rows: list[dict], path: Path, source: Path) -> None:
    by_chapter: dict = defaultdict(list)
    for r in rows:
        by_chapter[r["chapter"]].append(r)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>What the class misunderstands - forklab</title>",
           "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
           "table{border-collapse:collapse;margin:.5rem 0 2rem}td,th{border:1px solid #ccc;padding:.2rem .5rem;"
           "text-align:left}td.n{text-align:right}code{white-space:pre-wrap}</style></head><body>",
           "<h1>What the class misunderstands</h1>",
           f"<p>From the notebooks in <code>{html.escape(str(source))}</code>: for each prediction, how many students "
           "predicted it <strong>right</strong> (green), <strong>wrong</strong> (red), or <strong>not at all</strong> "
           "(grey: no prediction, or the cell never run), and the most common wrong answer.</p>"]
    if not rows:
        out.append("<p>No predictions were recorded in these notebooks.</p>")
    for chapter, chapter_rows in sorted(by_chapter.items()):
        out.append(f"<h2>{html.escape(chapter)}</h2>")
        out.append(_chart(chapter_rows))
        out.append(f"<table><caption>{html.escape(chapter)}: predictions</caption><thead><tr><th>question</th>"
                   "<th>right</th><th>wrong</th><th>not at all</th><th>most common wrong answer</th>"
                   "<th>the kernel's answer</th></tr></thead><tbody>")
        for r in chapter_rows:
            common = (f"<code>{html.escape(r['most_common_wrong'])}</code> ({r['most_common_wrong_count']})"
                      if r["most_common_wrong"] else "")
            out.append(f"<tr><td>{html.escape(r['question'])}</td><td class=n>{r['right']}</td>"
                       f"<td class=n>{r['wrong']}</td><td class=n>{r['not_at_all']}</td><td>{common}</td>"
                       f"<td><code>{html.escape(r['kernel_answer'])}</code></td></tr>")
        out.append("</tbody></table>")
    out.append("</body></html>")
    path.write_text("\n".join(out) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("submitted", type=Path, help="the handed-in notebooks: one folder per student (nbgrader's submitted/)")
    ap.add_argument("--html", type=Path, default=Path("misconceptions.html"), help="default: misconceptions.html")
    ap.add_argument("--csv", type=Path, default=Path("misconceptions.csv"), help="default: misconceptions.csv")
    args = ap.parse_args(argv)
    if not args.submitted.is_dir():
        ap.error(f"{args.submitted} is not a folder (give nbgrader's submitted/, or one folder per student)")
    questions, handed_in = collect(args.submitted)
    if not handed_in:
        print(f"no notebooks in {args.submitted} (expected SUBMITTED_DIR/<student>/.../<notebook>.ipynb)", file=sys.stderr)
        return 2
    rows = report_rows(questions, handed_in)
    write_csv(rows, args.csv)
    write_html(rows, args.html, args.submitted)
    students = set().union(*handed_in.values())
    print(f"{len(students)} students, {len(handed_in)} notebooks, {len(rows)} questions with a prediction")
    for r in rows:
        common = f"; most common wrong answer {r['most_common_wrong']} ({r['most_common_wrong_count']})" \
            if r["most_common_wrong"] else ""
        print(f"  {r['chapter']}: {r['question']}: right {r['right']}, wrong {r['wrong']}, "
              f"not at all {r['not_at_all']}{common}")
    print(f"wrote {args.csv} and {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

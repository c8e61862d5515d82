#!/usr/bin/env python3
"""Predict, then see: tag the cells of each prediction and hide what answers it until the student has predicted.

    python tools/reveal_cells.py notebooks/*.ipynb            # tag and hide, in place (idempotent)
    python tools/reveal_cells.py --check notebooks/*.ipynb    # exit 1 and name each cell that is not

A prediction in the course is three kinds of cells, found from the code alone and tagged in the cell's metadata:

- ``predict``: the code cell ``prediction = None`` where the student writes an answer;
- ``reveal``:  every code cell after it, up to and including the one that hands that variable to
  ``check_prediction`` (the experiment prints the answer, the check compares);
- ``explain``: the markdown cells right after the check, up to the next ``## `` section or the next
  ``**Predict``: the prose that says why. A markdown cell that runs on into the next section is split in two.

What hides them (docs/architecture.md, "Predict, then see", says why this way):

- a reveal cell's outputs are collapsed (``jupyter.outputs_hidden``, and the older ``collapsed``); JupyterLab
  shows them again as soon as the cell runs. Its collapsed placeholder shows the first line of the first output,
  so that line is COVER, put in front of the stored output here (nbval's sanitize file removes it again);
- an explain cell's source is collapsed (``jupyter.source_hidden``); its placeholder shows the cell's first
  line, so that line is EXPLAIN_LEAD, which says what is inside without saying it.

Run it after re-executing a notebook (tools/execute_notebooks.py does) and after merging notebook changes.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

COVER = "What the kernel did - predict first, then run this cell to see it."
EXPLAIN_LEAD = "What happened, and why: open this once you have run the check above."
PREDICT, REVEAL, EXPLAIN = "predict", "reveal", "explain"
ASK = re.compile(r"^(prediction\w*)\s*=\s*None\b", re.M)
# Where an explanation ends: a new section, or the paragraph that asks the next question.
SECTION = re.compile(r"(?:^|\n\n)(?=#{1,2} |[^\n]*(?:\n[^\n]+)*?\*\*Predict)")


def _section_start(source: str) -> int | None:
    m = SECTION.search(source)
    return None if m is None else m.end()


def _tags(cell) -> list:
    return cell.metadata.setdefault("tags", [])


def _set_tag(cell, tag: str, on: bool) -> None:
    tags = _tags(cell)
    if on and tag not in tags:
        tags.append(tag)
    elif not on and tag in tags:
        tags.remove(tag)
    if not tags:
        del cell.metadata["tags"]


def _checks(source: str, var: str) -> bool:
    return re.search(rf"check_prediction\(\s*{var}\b", source) is not None


def _split_explanations(nb) -> None:
    """A markdown cell of an explanation that goes on into a new section or question is split where that starts."""
    explaining, i = False, 0
    while i < len(nb.cells):
        cell = nb.cells[i]
        if cell.cell_type == "code":
            if ASK.search(cell.source):
                explaining = False
            elif "check_prediction" in cell.source:
                explaining = True
        elif explaining:
            body = cell.source.replace(EXPLAIN_LEAD + "\n\n", "", 1)
            at = _section_start(body)
            if at is not None:
                explaining = False
                if at > 0:
                    cell.source = body[:at].rstrip("\n")
                    new = nbformat.v4.new_markdown_cell(body[at:])
                    new.id = (cell.get("id", "cell") + "-next")[-64:]
                    nb.cells.insert(i + 1, new)
                    i += 1
        i += 1


def roles(nb) -> dict[int, str]:
    """Cell index -> predict / reveal / explain, from the code alone."""
    role: dict[int, str] = {}
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        for var in ASK.findall(cell.source):
            role[i] = PREDICT
            for j in range(i + 1, len(cells)):
                if cells[j].cell_type != "code":
                    continue
                role[j] = REVEAL
                if _checks(cells[j].source, var):
                    # after the check, up to the next section or question: the prose that explains (and the code
                    # it introduces, whose output shows the answer again)
                    k = j + 1
                    while k < len(cells) and not ASK.search(cells[k].source if cells[k].cell_type == "code" else ""):
                        if cells[k].cell_type == "markdown":
                            if _section_start(cells[k].source.replace(EXPLAIN_LEAD + "\n\n", "", 1)) == 0:
                                break
                            role[k] = EXPLAIN
                        else:
                            role[k] = REVEAL
                        k += 1
                    break
            else:
                raise ValueError(f"`{var} = None` (cell {i}) is never checked with check_prediction({var}, ...)")
    return role


def _first_text(output) -> tuple[str, str] | None:
    """(where, text) of what JupyterLab's placeholder shows for this output: a stream's text, or the first textual
    mime type in JupyterLab's order (text/html before text/plain)."""
    if output.output_type == "stream":
        return "text", output.text
    for mime in ("text/html", "text/markdown", "text/plain"):
        if mime in output.get("data", {}):
            return mime, output.data[mime]
    return None


def _covered(output) -> bool:
    found = _first_text(output)
    return found is None or found[1].startswith(COVER + "\n")


def _cover(output) -> None:
    found = _first_text(output)
    if found and not found[1].startswith(COVER + "\n"):
        where, text = found
        if where == "text":
            output.text = COVER + "\n" + text
        else:
            output.data[where] = COVER + "\n" + text


def uncover(text: str) -> str:
    """The stored text without the cover line (what the code printed)."""
    return text[len(COVER) + 1:] if text.startswith(COVER + "\n") else text


def apply(nb) -> None:
    """Tag every cell by its role and hide what answers a prediction. Idempotent."""
    _split_explanations(nb)
    role = roles(nb)
    for i, cell in enumerate(nb.cells):
        for tag in (PREDICT, REVEAL, EXPLAIN):
            _set_tag(cell, tag, role.get(i) == tag)
        jupyter = cell.metadata.get("jupyter", {})
        if role.get(i) == REVEAL:
            jupyter["outputs_hidden"] = True
            cell.metadata["collapsed"] = True              # the same, for frontends older than JupyterLab
            if cell.get("outputs"):
                _cover(cell.outputs[0])
        elif cell.cell_type == "code":
            jupyter.pop("outputs_hidden", None)
            cell.metadata.pop("collapsed", None)
        if role.get(i) == EXPLAIN:
            jupyter["source_hidden"] = True
            if not cell.source.startswith(EXPLAIN_LEAD):
                cell.source = EXPLAIN_LEAD + "\n\n" + cell.source
        elif cell.cell_type == "markdown":
            jupyter.pop("source_hidden", None)
            if cell.source.startswith(EXPLAIN_LEAD):
                cell.source = cell.source[len(EXPLAIN_LEAD):].lstrip("\n")
        if jupyter:
            cell.metadata["jupyter"] = jupyter
        else:
            cell.metadata.pop("jupyter", None)


def problems(nb) -> list[str]:
    """What a student would see too early: each reveal or explain cell that is not hidden, or not tagged."""
    found, role_of = [], roles(nb)
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        hidden = cell.metadata.get("jupyter", {})
        role = role_of.get(i)
        if role and role not in tags:
            found.append(f"cell {i} is a {role} cell but not tagged {role!r}")
        if role == REVEAL:
            if not hidden.get("outputs_hidden"):
                found.append(f"cell {i} (reveal): its outputs are not hidden (jupyter.outputs_hidden)")
            if cell.get("outputs") and not _covered(cell.outputs[0]):
                found.append(f"cell {i} (reveal): its first output line is not the cover, JupyterLab would show it")
        if role == EXPLAIN:
            if not hidden.get("source_hidden"):
                found.append(f"cell {i} (explain): not collapsed (jupyter.source_hidden)")
            if not cell.source.startswith(EXPLAIN_LEAD):
                found.append(f"cell {i} (explain): its first line is not EXPLAIN_LEAD, JupyterLab would show it")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a cell is not tagged or hidden")
    ap.add_argument("notebooks", nargs="+", type=Path)
    args = ap.parse_args(argv)
    bad = 0
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        if args.check:
            for p in problems(nb):
                print(f"{path}: {p}")
                bad += 1
        else:
            before = nbformat.writes(nb)
            apply(nb)
            if nbformat.writes(nb) != before:
                nbformat.write(nb, path)
                print(f"{path}: tagged and hidden")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

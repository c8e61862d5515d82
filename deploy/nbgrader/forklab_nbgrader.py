"""Two nbgrader preprocessors that keep forklab's hidden tests hidden and its autograde log honest.

nbgrader_config.py (beside this file) puts them in place:

* ``RestoreHiddenTests`` replaces nbgrader's ``OverwriteCells`` in ``autograde``. nbgrader stores
  each test cell in its database *with* its hidden tests (SaveCells runs before ClearHiddenTests in
  generate_assignment), with the checksum of that full source; students receive the cell without
  them. The stock OverwriteCells compares the submitted cell with the full checksum, so every
  untouched test cell with hidden tests is reported as "Attribute 'checksum' ... has changed!"
  (jupyter/nbgrader#1961), and a student who really edited a test cell is lost in that noise.
  Here a test cell that is exactly what was released gets its hidden tests back silently; only a
  cell the student changed is reported (and, as before, overwritten with the instructor's).
* ``HideHiddenTestsInFeedback`` runs in ``generate_feedback``. The autograded notebook holds every
  test cell with its hidden tests and their tracebacks, which nbgrader would render into the
  feedback HTML - students who get feedback would learn the hidden tests. Each test cell is shown as
  the student received it; a failure inside the hidden part becomes one sentence that names no
  test; a failure in the visible part keeps its traceback, minus any line it quotes from the
  hidden part. (What a test cell prints is kept: hidden tests must not print what they check.)
* ``StudentIdentity`` runs first in ``autograde``: it hands the student id to the kernel about to run the
  notebook (``FORKLAB_STUDENT``), so each exercise with variants (forklab.course.variant) is graded in the student's
  own variant - the one the student saw while working under the same name on the hub - and a regrade
  picks the same one.
"""
from __future__ import annotations

import copy
import os
import re

from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor, OverwriteCells

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_FRAME = re.compile(r"^(?:Cell In ?\[(\d+)\]|Input In ?\[(\d+)\]), line (\d+)")
CODE_LINE = re.compile(r"^(?:\s*|-+> ?)(\d+)( |$)")   # "      5 code" / "----> 9 code"

HIDDEN_FAILURE = ("A hidden test of this exercise failed: your answer passes the tests you can see, but not "
                  "the instructor's further checks. Read the statement again for the cases the visible "
                  "tests do not try.")


def released(cell):
    """The cell as the student received it: its hidden tests removed (what generate_assignment does)."""
    cell = copy.deepcopy(cell)
    ClearHiddenTests(enforce_metadata=False)._remove_hidden_test_region(cell)
    return cell


def hidden_line_numbers(source: str) -> set[int]:
    """1-based numbers of the lines of source from BEGIN HIDDEN TESTS to END HIDDEN TESTS (both included)."""
    clear = ClearHiddenTests()
    numbers, inside = set(), False
    for n, line in enumerate(source.split("\n"), 1):
        if clear.begin_test_delimeter in line:
            inside = True
        if inside:
            numbers.add(n)
        if clear.end_test_delimeter in line:
            inside = False
    return numbers


class RestoreHiddenTests(OverwriteCells):
    """OverwriteCells that knows a test cell was released without its hidden tests."""

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_grade(cell):
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source_cell = None   # OverwriteCells reports it
            if source_cell is not None and source_cell.locked and source_cell.cell_type == cell.cell_type:
                original = copy.deepcopy(cell)
                original.source = source_cell.source
                if released(original).source == cell.source:
                    cell.source = source_cell.source   # untouched: put the hidden tests back, nothing to report
        return super().preprocess_cell(cell, resources, cell_index)


class HideHiddenTestsInFeedback(NbGraderPreprocessor):
    """Feedback shows test cells as released and never quotes a hidden test."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        hidden = hidden_line_numbers(cell.source)
        if not hidden:
            return cell, resources
        cell.source = released(cell).source
        cell.outputs = [self._scrub(out, hidden, cell.get("execution_count")) for out in cell.outputs]
        return cell, resources

    def _scrub(self, output, hidden: set[int], execution_count):
        if output.get("output_type") != "error":
            return output
        frames = [ANSI.sub("", entry) for entry in output.get("traceback", [])]
        failing_line, kept = None, []
        for entry in frames:
            lines = entry.split("\n")
            match = CELL_FRAME.match(lines[0].strip())
            this_cell = match and int(match.group(1) or match.group(2)) == execution_count
            if this_cell:
                line = int(match.group(3))
                failing_line = line if failing_line is None else failing_line   # the outermost frame
                if line in hidden:
                    lines = []   # a frame inside the hidden part: nothing of it may be shown
                lines = [ln for ln in lines if not self._quotes_hidden(ln, hidden)]
            kept.append("\n".join(lines))
        if failing_line is None or failing_line in hidden:
            # raised by a hidden line (or we cannot tell where): one sentence, no test quoted
            return NotebookNode(output_type="error", ename="AssertionError", evalue=HIDDEN_FAILURE,
                                traceback=[f"AssertionError: {HIDDEN_FAILURE}"])
        output = copy.deepcopy(output)
        output["traceback"] = [k for k in kept if k.strip()]
        return output

    @staticmethod
    def _quotes_hidden(line: str, hidden: set[int]) -> bool:
        match = CODE_LINE.match(line)
        return bool(match) and int(match.group(1)) in hidden


class StudentIdentity(NbGraderPreprocessor):
    """Give the kernel that autograde starts next the student's id, as FORKLAB_STUDENT (forklab.course.variant)."""

    def preprocess(self, nb, resources):
        student = resources.get("nbgrader", {}).get("student")
        if student:
            # autograde converts one notebook at a time and starts its kernel from this process's environment
            os.environ["FORKLAB_STUDENT"] = str(student)
        else:
            os.environ.pop("FORKLAB_STUDENT", None)
        return nb, resources

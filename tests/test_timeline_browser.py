"""A timeline in a real browser: JupyterLab runs forklab.timeline on a small fork program, and a student who
hovers an event - or reaches it with the keyboard - reads its system call line (issue 22).

The SVG needs no script: each mark is a focusable <g class="ev"> with a <title> and a CSS tooltip band (.tip)
that shows on :hover and :focus. This test checks that JupyterLab keeps all of that when it renders the output.
"""
from __future__ import annotations

import nbformat
import pytest

from tests.test_browser import LAPTOP, open_notebook, start_lab

PROGRAM = r'''
from forklab import timeline_c
timeline_c(r"""
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t child = fork();
    if (child == 0) { printf("child\n"); return 3; }
    waitpid(child, NULL, 0);
    printf("parent\n");
    return 0;
}
""")
'''


@pytest.fixture(scope="module")
def timeline_lab(tmp_path_factory):
    notebook = tmp_path_factory.mktemp("timeline") / "timeline.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PROGRAM)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebook)
    with start_lab([notebook]) as (base, token):
        yield base, token, notebook.name


def test_hovering_or_focusing_an_event_shows_its_system_call(browser, timeline_lab):
    from playwright.sync_api import expect
    base, token, name = timeline_lab
    page = open_notebook(browser, base, token, name, LAPTOP)
    try:
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        picture = page.locator(".jp-OutputArea-output svg.fltl, .jp-OutputArea-output .fltl svg").first
        picture.wait_for(timeout=120000)
        events = page.locator(".jp-OutputArea-output .fltl g.ev")
        assert events.count() >= 5      # the fork, the child's write and exit, the wait, the parent's write
        titles = [events.nth(i).locator("title").first.text_content() for i in range(events.count())]
        fork = next(i for i, t in enumerate(titles) if "fork" in t or "clone" in t)
        wait = next(i for i, t in enumerate(titles) if "wait4" in t)
        assert "exit status 3" in titles[wait], titles[wait]

        # hover: the band shows this mark's line, and only while the pointer is on it
        tip = events.nth(fork).locator(".tip").first
        expect(tip).to_be_hidden()
        events.nth(fork).locator(".hit").first.hover()
        expect(tip).to_be_visible()
        assert ("fork" in tip.text_content() or "clone" in tip.text_content())
        page.mouse.move(0, 0)
        expect(tip).to_be_hidden()

        # the keyboard: the mark is focusable and says the same to a screen reader
        mark = events.nth(wait)
        assert mark.get_attribute("tabindex") == "0"
        assert mark.get_attribute("aria-label") == titles[wait]
        mark.focus()
        expect(mark.locator(".tip").first).to_be_visible()
        assert "wait4" in mark.locator(".tip").first.text_content()
    finally:
        page.close()

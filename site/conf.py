# Sphinx + MyST-NB settings for the course as a website (`make site`; see README.md beside this file).
# The pages are rendered from the outputs committed in the notebooks: nothing is executed here.

project = "forklab"
author = "the forklab authors"
copyright = "forklab authors, MIT licence"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["README.md"]    # the repository README is only included, for its course map

# No kernel at build time: the site shows what `make notebooks` stored, exactly as committed.
nb_execution_mode = "off"
# The flag explorer's output carries a widget view (needs a live kernel) and a static HTML picture of the same
# sharing table: show the picture. Without it, fall back to the text/plain line instead of an empty widget.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
# ...and load no widget JavaScript from a CDN: the site works offline and makes no third-party requests.
nb_ipywidgets_js = {}

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3            # so `[..](#a-heading)` links in notebooks and docs resolve, and are checked

html_theme = "sphinx_book_theme"    # Jupyter Book's theme: sidebar of the course, previous/next at each page end
html_title = "forklab"
html_theme_options = {
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": True,    # each page offers its .ipynb, to run it yourself
}
html_show_sourcelink = False
html_last_updated_fmt = None
html_static_path = []


# In the repository, a link to a folder (`[exercises](../exercises/)`) opens the folder's listing; on the site that
# folder's page is its index: point such links at index.md when the site has one, so Sphinx resolves (and checks) them.
import json
from html import escape
import re
from pathlib import Path

_FOLDER_LINK = re.compile(r"\]\(([^()\s#]*/)\)")


def _folder_links_to_index(app, docname, source):
    here = Path(app.srcdir, docname).parent

    def to_index(m):
        return f"]({m[1]}index.md)" if (here / m[1] / "index.md").is_file() else m[0]
    source[0] = _FOLDER_LINK.sub(to_index, source[0])


def _drop_widget_state(app, docname, source):
    """The saved widget state (JSON for a live widget manager, ~120 kB on 08 and 12) is of no use without a kernel:
    the page shows the still picture. Dropped from what is rendered; the notebook offered for download keeps it."""
    if app.env.doc2path(docname).suffix == ".ipynb" and '"widgets"' in source[0]:
        nb = json.loads(source[0])
        if nb.get("metadata", {}).pop("widgets", None) is not None:
            source[0] = json.dumps(nb)


# Predict, then see (tools/reveal_cells.py): what answers a prediction is tagged in the notebook. On the site a reveal
# cell's output and an explanation sit behind a toggle named "Show what the kernel did", never in plain view.
SHOW, HIDE = "Show what the kernel did", "Hide what the kernel did"


def _reveals_behind_toggles(app, docname, source):
    if app.env.doc2path(docname).suffix != ".ipynb" or '"reveal"' not in source[0]:
        return
    import sys
    sys.path.insert(0, str(Path(app.confdir).parent))
    from tools.reveal_cells import EXPLAIN_LEAD, uncover
    nb = json.loads(source[0])
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "reveal" in tags and cell.get("outputs"):
            cell["metadata"]["tags"] = tags + ["hide-output"]
            cell["metadata"]["mystnb"] = {"code_prompt_show": SHOW, "code_prompt_hide": HIDE}
            first = cell["outputs"][0]
            for where in [first] + [first.get("data", {})]:       # the cover line is for JupyterLab only
                for key in ("text", "text/html", "text/markdown", "text/plain"):
                    if key in where:
                        text = "".join(where[key]) if isinstance(where[key], list) else where[key]
                        where[key] = uncover(text)
        elif "explain" in tags:
            body = "".join(cell["source"])
            body = body[len(EXPLAIN_LEAD):].lstrip("\n") if body.startswith(EXPLAIN_LEAD) else body
            cell["source"] = (f'<details class="forklab-explain">\n<summary>{SHOW}, and why</summary>\n\n'
                              f"{body}\n\n</details>")
    source[0] = json.dumps(nb)


def _visit_toggle(self, node):
    """MyST-NB's toggle, with a <summary> whose accessible name is the words it shows."""
    self.body.append(f'<details class="admonition hide {" ".join(node["classes"])}">\n'
                     f'<summary>{escape(node["prompt_show"])}</summary>\n')


def _depart_toggle(self, node):
    self.body.append("</details>\n")


def setup(app):
    from myst_nb.sphinx_ import HideCodeCellNode
    app.add_node(HideCodeCellNode, override=True, html=(_visit_toggle, _depart_toggle))
    app.connect("source-read", _folder_links_to_index)
    app.connect("source-read", _drop_widget_state)
    app.connect("source-read", _reveals_behind_toggles)
    app.connect("build-finished", _name_the_theme_controls)     # defined below


# Accessibility (axe-core, tests/test_site.py): two controls of the theme have no name that matches what they show.
# - the sidebar's expander of a section (<details><summary> holding only a chevron icon) has no name at all:
#   name it after the section it opens;
# - the search button says "Search Ctrl+K" but is named only "Search" (aria-label): voice-control users say what
#   they see, so the name is left to the visible text.
_UNNAMED_EXPANDER = re.compile(r'(<a class="[^"]*reference internal" href="[^"]*">([^<]*)</a>)<details( open="open")?><summary>')
_SEARCH_LABEL = re.compile(r'(<button class="btn search-button-field search-button__button[^"]*" title="Search") '
                           r'aria-label="Search"')


def accessible_names(html: str) -> str:
    html = _UNNAMED_EXPANDER.sub(lambda m: f'{m[1]}<details{m[3] or ""}><summary aria-label="pages of {m[2]}">',
                                 html)
    return _SEARCH_LABEL.sub(r"\1", html)


def _name_the_theme_controls(app, exception):
    if exception is None and app.builder.format == "html":
        for page in Path(app.outdir).rglob("*.html"):
            text = page.read_text(encoding="utf-8")
            fixed = accessible_names(text)
            if fixed != text:
                page.write_text(fixed, encoding="utf-8")

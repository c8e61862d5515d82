"""Two small widgets the flag explorer needs for screen readers, which stock ipywidgets 8 lack.

* `FlagToggle`: a toggle button that says whether it is pressed (``aria-pressed``), not only by
  its colour - ipywidgets' ToggleButton sets no such attribute.
* `LiveStatus`: one status line created once and then only changed (``role="status"``), so a
  screen reader announces each new sentence; a status element re-created with every redraw may
  be missed.

Both are anywidget widgets: a few lines of JavaScript shipped with the Python class, no build
step and no JupyterLab extension of our own.
"""
from __future__ import annotations

import anywidget
import traitlets

_TOGGLE_JS = """
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-button widget-toggle-button";
  button.style.width = "auto";                        // as wide as its flag's name
  const mark = document.createElement("span");
  mark.setAttribute("aria-hidden", "true");           // the mark repeats what aria-pressed says
  const label = document.createElement("span");
  button.append(mark, label);
  const show = () => {
    const on = model.get("value");
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.classList.toggle("mod-active", on);
    el.classList.toggle("mod-active", on);
    mark.textContent = on ? "\\u2713 " : "";
    label.textContent = model.get("description");
    button.title = model.get("tooltip") || "";       // the state in words, for a mouse too
    button.disabled = model.get("disabled");
  };
  button.addEventListener("click", () => {
    model.set("value", !model.get("value"));
    model.save_changes();
  });
  model.on("change", show);
  show();
  el.appendChild(button);
  return () => model.off("change", show);
}
export default { render };
"""

_STATUS_JS = """
function render({ model, el }) {
  const line = document.createElement("div");
  line.setAttribute("role", "status");                // polite: read out once the user is idle
  line.className = "forklab-status-line";
  line.style.cssText = "font-weight:600;margin:4px 0";
  const show = () => { line.textContent = model.get("text"); };
  model.on("change:text", show);
  show();
  el.appendChild(line);
  return () => model.off("change:text", show);
}
export default { render };
"""


class FlagToggle(anywidget.AnyWidget):
    """A toggle button with ``aria-pressed``; ``value`` is whether it is pressed (``tooltip``,
    ``layout`` and ``add_class`` as on any ipywidget)."""
    _esm = _TOGGLE_JS
    value = traitlets.Bool(False).tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)


class LiveStatus(anywidget.AnyWidget):
    """One line that screen readers announce whenever ``text`` changes."""
    _esm = _STATUS_JS
    text = traitlets.Unicode("").tag(sync=True)

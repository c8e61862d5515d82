"""Small widgets the flag explorer needs for screen readers, which stock ipywidgets 8 lack.

* `FlagToggle`: a toggle button that says whether it is pressed (``aria-pressed``), not only by
  its colour - ipywidgets' ToggleButton sets no such attribute.
* `ChoiceButtons`: one of a few choices (the primitive, the exit signal) as a labelled group of
  buttons, the chosen one ``aria-pressed`` - in place of ipywidgets' ToggleButtons, which say
  nothing either.
* `LiveStatus`: one status line created once and then only changed (``role="status"``), so a
  screen reader announces each new sentence; a status element re-created with every redraw may
  be missed.

* `Picture`: the sharing picture (HTML), which brings a row the last click changed into view when it
  is off screen - the explorer is taller than a laptop's screen, and a highlighted row nobody sees
  teaches nothing.

All are anywidget widgets: a few lines of JavaScript shipped with the Python class, no build
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

_CHOICE_JS = """
function render({ model, el }) {
  const group = document.createElement("div");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", model.get("label"));
  group.className = "widget-inline-hbox";
  const buttons = model.get("options").map(([label, value], i) => {
    const button = document.createElement("button");
    button.className = "jupyter-button widget-toggle-button";
    button.style.width = model.get("button_width");
    button.textContent = label;
    button.title = model.get("tooltips")[i] || "";
    button.addEventListener("click", () => { model.set("value", value); model.save_changes(); });
    group.appendChild(button);
    return [button, value];
  });
  const show = () => {
    for (const [button, value] of buttons) {
      const on = value === model.get("value");
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.classList.toggle("mod-active", on);
    }
  };
  model.on("change:value", show);
  show();
  el.appendChild(group);
  return () => model.off("change:value", show);
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


_PICTURE_JS = """
function render({ model, el }) {
  const show = () => {
    el.innerHTML = model.get("value");
    const changed = el.querySelector(".fl-flipped, .fl-refusal");
    if (!changed) return;
    // "nearest": no scroll when it is in view already, else only as far as needed - so the flag just
    // clicked stays on screen where it can
    changed.scrollIntoView({ block: "nearest" });
  };
  model.on("change:value", show);
  el.innerHTML = model.get("value");                  // the first picture: nothing changed yet
  return () => model.off("change:value", show);
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


class ChoiceButtons(anywidget.AnyWidget):
    """One of a few choices: ``options`` are (label, value) pairs, ``value`` the chosen value."""
    _esm = _CHOICE_JS
    label = traitlets.Unicode("").tag(sync=True)          # what the group is, for screen readers
    options = traitlets.List().tag(sync=True)
    tooltips = traitlets.List().tag(sync=True)
    button_width = traitlets.Unicode("auto").tag(sync=True)
    value = traitlets.Unicode("").tag(sync=True)

    @traitlets.validate("value")
    def _one_of_the_options(self, proposal):
        values = [v for _, v in self.options]
        if proposal["value"] not in values:
            raise traitlets.TraitError(f"{proposal['value']!r} is not one of {values}")
        return proposal["value"]


class LiveStatus(anywidget.AnyWidget):
    """One line that screen readers announce whenever ``text`` changes."""
    _esm = _STATUS_JS
    text = traitlets.Unicode("").tag(sync=True)


class Picture(anywidget.AnyWidget):
    """HTML that is redrawn whole; after a redraw, the first changed row (``.fl-flipped``) or the
    refusal is scrolled into view if it is off screen."""
    _esm = _PICTURE_JS
    value = traitlets.Unicode("").tag(sync=True)

"""The clone flag explorer: toggle flags, watch the kernel redraw the sharing picture.

    >>> import forklab.explorer.widgets
    >>> ex = forklab.explorer.widgets.explore()           # in a notebook: display it, then click
    >>> ex.flags = ("CLONE_VM",)                 # from code: the same as clicking CLONE_VM
    >>> ex.observation.resources["memory"].word
    'shared'
    >>> ex.flags = ("CLONE_SIGHAND",)            # the kernel refuses ...
    >>> ex.error.errno_name, ex.error.rule
    ('EINVAL', 'SIGHAND needs VM')
    >>> ex.apply_fix(); ex.flags                 # ... and the fix makes it valid
    ('CLONE_VM', 'CLONE_SIGHAND')

Every change runs one experiment with ``forklab.run`` (about a millisecond; 25 ms with CLONE_VFORK)
and redraws the picture from what was observed. What is drawn, and how, lives in
``forklab.explorer.picture``; the presets in ``forklab.explorer.presets``; how fast a toggle is, in ``forklab.meters.benchmark``.
"""
from __future__ import annotations

import time
from contextlib import contextmanager

import ipywidgets as widgets
import traitlets

from forklab.explorer import picture
from forklab.explorer.accessible import ChoiceButtons, FlagToggle, LiveStatus, Picture
from forklab.engine.errors import CloneRefused, ForklabError
from forklab.engine.explain import UNCHANGED
from forklab.engine.flags import FLAGS, names_of, parse_flags
from forklab.engine.experiment import run
from forklab.host.machine import machine
from forklab.explorer.presets import PRESETS, Preset, preset_named
from forklab.engine.request import PRIMITIVES

#: The toggles, grouped as the course teaches them (flags forklab cannot run are shown disabled).
GROUPS: dict[str, tuple[str, ...]] = {
    "sharing": ("VM", "FILES", "FS", "SIGHAND", "SYSVSEM", "IO"),
    "process": ("THREAD", "PARENT", "VFORK"),
    "namespaces": ("NEWUTS", "NEWPID", "NEWNS", "NEWNET", "NEWIPC", "NEWUSER", "NEWCGROUP"),
    "bookkeeping": ("PIDFD", "PARENT_SETTID", "CHILD_SETTID", "CHILD_CLEARTID"),
    "other": ("CLEAR_SIGHAND", "SETTLS", "INTO_CGROUP"),
}
EXIT_SIGNALS = (("SIGCHLD", "SIGCHLD"), ("none (0)", "none"))


def _flag_tooltip(name: str, privileged_process: bool, tried: bool) -> str:
    """What a flag's button says on hover. What the flag shares, its rules and whether the kernel lets
    this process use it are what the course asks students to predict: they join the tooltip only once
    the student has tried the flag (and seen the kernel's answer)."""
    f = FLAGS[name]
    text = (f"{name}: {f.does}" if tried and f.runnable else name) + f" (since Linux {f.since})."
    if f.clone3_only:
        text += " Only clone3() has room for it."
    if not f.runnable:
        return text + f" Disabled: forklab cannot try it - {f.not_runnable_why}."
    if not tried:
        return text + " Switch it on to see what the kernel does with it; then this tip says more."
    if f.rules:
        text += " Rules: " + "; ".join(f.rules) + "."
    if f.privileged and not privileged_process:
        text += (" You run without CAP_SYS_ADMIN, so the kernel answers EPERM - unless CLONE_NEWUSER is in "
                 "the same call, which gives the child that capability inside its new user namespace.")
    return text


def _normalise_flags(value) -> tuple[str, ...]:
    return names_of(parse_flags(value))


class FlagExplorer(widgets.VBox):
    """Toggle clone flags and watch which resources the child shares with its parent.

    Read or set ``.primitive``, ``.flags`` and ``.exit_signal`` (setting them is the same as
    clicking); read ``.observation`` (the Observation of the current state, None while it is
    refused), ``.error`` (the kernel's CloneRefused, or None), ``.problem`` (forklab's own refusal
    as text, or None) and ``.view`` (the view model that is drawn). ``.apply_fix()`` applies the
    refusal's fix; ``.preset("pthread_create")`` loads a preset.
    """

    primitive = traitlets.Unicode("clone")
    flags = traitlets.Any(())
    exit_signal = traitlets.Unicode("SIGCHLD", allow_none=True)

    def __init__(self, primitive: str = "clone", flags=(), exit_signal: str | None = "SIGCHLD", *,
                 preset: str | None = None, **kwargs):
        self.observation = None
        self.error: CloneRefused | None = None
        self.problem: str | None = None
        self.view: picture.View | None = None
        self.preset_loaded: Preset | None = None
        self.last_timing: dict[str, float] = {}
        self._previous = None          # the last Observation, to highlight what flipped
        self._batching = 0
        self._dirty = False
        self._syncing = False
        self._adjusting = False
        self._notes: list[str] = []
        self.privileged = machine().cap_sys_admin

        self._primitive_w = ChoiceButtons(
            label="primitive", options=[(p, p) for p in PRIMITIVES], value="clone", button_width="6em",
            # what each call takes, not what it does to the child: that is what the course asks to predict
            tooltips=["fork(): takes no flags", "vfork(): takes no flags",
                      "clone(): you choose the flags", "clone3(): clone() with a struct of arguments (Linux 5.3)"])
        self._signal_w = ChoiceButtons(
            label="exit signal", options=[list(o) for o in EXIT_SIGNALS], value="SIGCHLD", button_width="7em",
            tooltips=["exit signal SIGCHLD (what fork() uses)", "no exit signal (0)"])
        self._toggles: dict[str, FlagToggle] = {}
        self._tried: set[str] = set()      # flags the student has run: their tooltips may say what they do
        # The picture's CSS rides with the first label: sent once, not again with every redraw.
        rows = [widgets.HBox([widgets.HTML(picture.STYLE + "<b>primitive</b>", layout={"width": "8em"}),
                              self._primitive_w]),
                widgets.HBox([widgets.HTML("<b>exit signal</b>", layout={"width": "8em"}), self._signal_w])]
        self._preset_buttons = []
        for p in PRESETS.values():
            b = widgets.Button(description=p.label, tooltip=f"preset: {p.source}"
                               + (f". {p.why_different}" if p.why_different else ""),
                               layout={"width": "auto"})
            b.add_class("forklab-preset")
            b.add_class(f"forklab-preset-{p.name}")
            b.on_click(lambda _b, name=p.name: self.preset(name))
            self._preset_buttons.append(b)
        rows.append(widgets.HBox([widgets.HTML("<b>presets</b>", layout={"width": "8em"}),
                                  widgets.HBox(self._preset_buttons, layout={"flex_flow": "row wrap"})]))
        for group, shorts in GROUPS.items():
            buttons = []
            for short in shorts:
                name = "CLONE_" + short
                f = FLAGS[name]
                t = FlagToggle(value=False, description=name, layout={"width": "auto"},
                               tooltip=f"{name} is off. {_flag_tooltip(name, self.privileged, False)}",
                               disabled=not f.runnable)
                t.add_class("forklab-flag")
                t.add_class(f"forklab-flag-{name}")
                t.observe(lambda change, name=name: self._on_toggle(name, change["new"]), "value")
                self._toggles[name] = t
                buttons.append(t)
            label = widgets.HTML(f"<b>{group}</b>", layout={"width": "8em"})
            box = widgets.HBox(buttons, layout={"flex_flow": "row wrap"})
            rows.append(widgets.HBox([label, box]))
        self._fix_w = widgets.Button(description="apply the fix", button_style="warning",
                                     layout={"width": "auto", "display": "none"},
                                     tooltip="change the flags as the refusal suggests")
        self._fix_w.add_class("forklab-fix")
        self._fix_w.on_click(lambda _b: self.apply_fix())
        self._status_w = LiveStatus()       # created once: screen readers announce each new sentence
        self._status_w.add_class("forklab-status")
        self._view_w = Picture()            # brings a changed row into view when it is off screen
        self._view_w.add_class("forklab-view")
        self._primitive_w.observe(self._on_primitive_clicked, "value")
        self._signal_w.observe(self._on_signal_clicked, "value")
        super().__init__(rows + [self._fix_w, self._status_w, self._view_w], **kwargs)
        self.add_class("forklab-explorer")
        with self._batch():
            self._dirty = True              # run once at the start, even with the default state
            if preset is not None:
                self.preset(preset)
            else:
                self.primitive, self.flags, self.exit_signal = primitive, flags, exit_signal

    # --- the state ----------------------------------------------------------------------------

    @traitlets.validate("primitive")
    def _valid_primitive(self, proposal):
        if proposal["value"] not in PRIMITIVES:
            raise ValueError(f"unknown primitive {proposal['value']!r}; valid choices are: {', '.join(PRIMITIVES)}")
        return proposal["value"]

    @traitlets.validate("flags")
    def _valid_flags(self, proposal):
        return _normalise_flags(proposal["value"])

    @traitlets.validate("exit_signal")
    def _valid_signal(self, proposal):
        v = proposal["value"]
        if v in (None, 0, "none", "None", "0", ""):
            return None
        if isinstance(v, str) and v.upper() in ("SIGCHLD", "CHLD"):
            return "SIGCHLD"
        raise ValueError(f"the explorer's exit signal is 'SIGCHLD' or None, not {v!r} "
                         "(any other signal would be sent to the parent and could kill it)")

    def _set(self, **values):
        with self._batch():
            for k, v in values.items():
                setattr(self, k, v)

    @traitlets.observe("primitive", "flags", "exit_signal")
    def _changed(self, change):
        with self._batch():             # however many traits change here: one run, one redraw
            self._dirty = True
            if self._adjusting:
                return
            self._adjusting = True
            try:
                self._keep_consistent(change["name"])
            finally:
                self._adjusting = False

    def _keep_consistent(self, changed: str):
        # fork() and vfork() take no flags and always use SIGCHLD
        if not (self.primitive in ("fork", "vfork") and (self.flags or self.exit_signal is None)):
            return
        if changed == "primitive":
            self._notes.append(f"{self.primitive}() takes no flags and always uses SIGCHLD, so the "
                               "explorer cleared the flags.")
            self.flags, self.exit_signal = (), "SIGCHLD"
        else:
            self._notes.append(f"{self.primitive}() takes no flags, so the explorer switched to clone(), "
                               "which does.")
            self.primitive = "clone"

    @contextmanager
    def _batch(self):
        """Make several changes, then run and redraw once."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching and self._dirty:
                self._dirty = False
                self.refresh()

    # --- clicks ---------------------------------------------------------------------------------

    def _on_toggle(self, name: str, on: bool):
        if self._syncing:
            return
        flags = set(self.flags)
        flags.add(name) if on else flags.discard(name)
        self.flags = tuple(flags)

    def _on_primitive_clicked(self, change):
        if not self._syncing:
            self.primitive = change["new"]

    def _on_signal_clicked(self, change):
        if not self._syncing:
            self.exit_signal = None if change["new"] == "none" else "SIGCHLD"

    # --- actions --------------------------------------------------------------------------------

    def apply_fix(self) -> None:
        """Apply the fix the kernel's refusal suggests (ValueError when there is none)."""
        if self.error is None or self.error.fix is None:
            raise ValueError("there is no refusal with a fix to apply" if self.error is None else
                             f"this refusal has no single fix: {self.error.reason}")
        fix = self.error.fix
        values = {"flags": names_of(fix.apply_to_mask(parse_flags(self.flags)))}
        if fix.exit_signal != UNCHANGED:
            values["exit_signal"] = fix.exit_signal
        if fix.primitive:
            values["primitive"] = fix.primitive
        self._notes.append(f"Applied the fix: {fix}.")
        self._set(**values)

    def preset(self, name: str) -> Preset:
        """Load a preset (``"fork"``, ``"vfork"``, ``"posix_spawn"``, ``"pthread_create"``,
        ``"linuxthreads"``, ``"container"``, ``"demo_clone"``) and run it."""
        p = preset_named(name)
        self.preset_loaded = p
        self._notes.append(f"Preset {p.label}: {p.source}.")
        if p.why_different:
            self._notes.append(f"The real call is {p.real_call}; {p.why_different}.")
        with self._batch():
            self._dirty = True          # run even if nothing changed: the notes are new
            self.primitive, self.flags, self.exit_signal = p.primitive, p.flags, p.exit_signal
        return p

    def refresh(self) -> None:
        """Run the current experiment and redraw (what every change does)."""
        start = time.perf_counter()
        experiment = 0.0
        notes, self._notes = tuple(self._notes), []
        self.error = self.problem = None
        self.observation = None
        try:
            t = time.perf_counter()
            try:
                obs = run(self.primitive, self.flags, exit_signal=self.exit_signal)
            finally:
                experiment = time.perf_counter() - t
        except CloneRefused as e:
            self.error = e
            refusal = picture.Refusal("kernel", e.reason, e.errno, e.errno_name, e.rule,
                                      str(e.fix) if e.fix is not None else None)
            view = picture.view_of(self.primitive, self.flags, self.exit_signal, refusal=refusal, notes=notes)
        except (ForklabError, ValueError, TypeError) as e:
            self.problem = str(e)
            view = picture.view_of(self.primitive, self.flags, self.exit_signal,
                                   refusal=picture.Refusal("forklab", str(e)), notes=notes)
        else:
            self.observation = obs
            view = picture.view_of(self.primitive, self.flags, self.exit_signal, observation=obs,
                                   previous=self._previous, notes=notes)
            self._previous = obs
        self.view = view
        # Each change below is a message of its own to the browser, and each waits for the ones before it
        # (the kernel's output channel, the Jupyter server, the websocket): the picture, which the student
        # waits for, goes first; the status line and the controls' marks and tooltips follow.
        self._view_w.value = picture.render(view)
        self._status_w.text = view.status
        self._tried.update(self.flags)         # the kernel's answer is on screen: their tips may say more
        self._sync_controls()
        total = time.perf_counter() - start
        self.last_timing = {"total_ms": total * 1000, "experiment_ms": experiment * 1000,
                            "beyond_ms": (total - experiment) * 1000}

    def _sync_controls(self):
        self._syncing = True
        try:
            self._primitive_w.value = self.primitive
            self._signal_w.value = "SIGCHLD" if self.exit_signal else "none"
            on = set(self.flags)
            for name, t in self._toggles.items():
                if t.value != (name in on):
                    t.value = name in on     # the button shows a mark and sets aria-pressed from it
                tooltip = (f"{name} is {'on' if name in on else 'off'}. "
                           + _flag_tooltip(name, self.privileged, name in self._tried))
                if t.tooltip != tooltip:     # and the state in words, for a mouse user too
                    t.tooltip = tooltip
            fix = self.error.fix if self.error is not None else None
            if fix is not None:
                self._fix_w.description = f"apply the fix: {fix}"
                self._fix_w.layout.display = None
            elif self._fix_w.layout.display != "none":
                self._fix_w.layout.display = "none"
        finally:
            self._syncing = False

    def __repr__(self) -> str:
        status = self.view.status if self.view else "nothing run yet"
        return f"<FlagExplorer {picture.c_call_for(self.primitive, self.flags, self.exit_signal).splitlines()[-1]} {status}>"

    def _repr_mimebundle_(self, **kwargs):
        # Beside the live view, a still picture as text/html: what GitHub, nbviewer, a static site
        # and a JupyterLab that has not run the notebook show (an untrusted notebook renders the
        # safe text/html; once the cell runs, JupyterLab prefers the widget).
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None and self.view is not None:
            bundle["text/html"] = picture.still_html(self.view)
        return bundle

    def text(self) -> str:
        """What the picture shows, as plain text."""
        return picture.text(self.view) if self.view else ""


def explore(preset: str | None = None, **kwargs) -> FlagExplorer:
    """A new FlagExplorer (``forklab.explore()``), optionally starting from a preset."""
    return FlagExplorer(preset=preset, **kwargs)

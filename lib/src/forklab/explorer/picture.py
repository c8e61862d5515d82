"""The sharing picture: what the flag explorer draws, as a view model and as HTML.

Kept apart from the widget so it can be tested (and timed) without a browser:

    view = picture.view_of(state, observation=obs, previous=prev_obs)   # a View: rows, C call, refusal
    html = picture.render(view)                                         # one HTML string, styled by STYLE

Drawing rules: parent on the left, child on the right, one row per resource. A *shared* resource is
one object that both point to; a *copied* one is two objects, the child's made from the parent's; a
*new, empty* one (the System V undo list) or a *new* one that keeps only the parent's I/O priority
(the I/O context) is the child's own, made fresh (dotted, "not copied") - nothing was copied into it; a
*new namespace* is the child's own, marked NEW. Every row also says its word (verdicts.WORDS) in text and
carries a sentence for screen readers, so nothing depends on colour. Colours are from the Okabe-Ito
palette, which stays distinguishable for the common kinds of colour blindness.
"""
from __future__ import annotations

import html as _html
from dataclasses import dataclass

from forklab.engine.flags import FLAGS
from forklab.engine.c_call import c_call_of
from forklab.engine.experiment import Observation
from forklab.engine.resources import RESOURCES

#: Okabe-Ito colours (Okabe & Ito 2008), each paired with a border style so colour is never alone.
COLOURS = {
    "shared": "#0072B2",          # blue, solid border
    "copied": "#E69F00",          # orange, double border
    "new namespace": "#009E73",   # bluish green, dashed border
    "new, empty": "#CC79A7",      # reddish purple, dotted border
    "new, same priority": "#CC79A7",
    "new": "#CC79A7",
    "own": "#E69F00",
    "refused": "#D55E00",         # vermillion
    "flipped": "#F0E442",         # yellow background
}


@dataclass(frozen=True)
class Row:
    resource: str
    title: str
    word: str               # one of verdicts.WORDS: "shared" / "copied" / "new, empty" / ... / "own"
    shared: bool
    kind: str               # sharing / process / namespace
    flag: str | None
    evidence: str
    kcmp: bool | None
    flipped: bool = False
    was: str | None = None  # the word before, when flipped

    @property
    def sentence(self) -> str:
        """What a screen reader says for the row."""
        if self.word == "unknown":
            return f"{self.title}: unknown; nothing was measured, a probe failed ({self.evidence})."
        if self.kind == "namespace":
            what = ("the child is in a new one of its own" if not self.shared
                    else "parent and child are in the same one")
        elif self.kind == "process":
            what = {"thread_group": "the child is a thread in the parent's thread group (same PID)",
                    "parent": "the child has the caller's parent: it is the caller's sibling"}[self.resource] \
                if self.shared else {"thread_group": "the child is a process of its own (its own PID)",
                                     "parent": "the caller is the child's parent"}[self.resource]
        elif self.shared:
            what = "parent and child point to one and the same object"
        elif self.word == "new, empty":
            what = "the child got a new, empty one of its own: nothing was copied from the parent"
        elif self.word == "new, same priority":
            what = "the child got a new one of its own, which carries only the parent's I/O priority"
        elif self.word == "new":
            what = "the child got a new one of its own: nothing was copied from the parent"
        else:
            what = "parent and child each have their own copy"
        changed = f" Changed: it was {self.was}." if self.flipped and self.was else ""
        return f"{self.title}: {self.word}; {what}.{changed}"


@dataclass(frozen=True)
class Refusal:
    """A refusal, by the kernel (errno) or by forklab itself (errno None)."""
    by: str                  # "kernel" or "forklab"
    message: str             # the rule / reason in plain words
    errno: int | None = None
    errno_name: str | None = None
    rule: str | None = None
    fix: str | None = None   # str(Fix) when a fix exists


@dataclass(frozen=True)
class View:
    primitive: str
    flags: tuple[str, ...]
    exit_signal: str | None
    c_call: str
    rows: tuple[Row, ...] = ()
    refusal: Refusal | None = None
    notes: tuple[str, ...] = ()
    status: str = ""         # one line that says what happened (the live announcement)

    @property
    def flipped(self) -> tuple[str, ...]:
        return tuple(r.resource for r in self.rows if r.flipped)

    def row(self, resource: str) -> Row:
        for r in self.rows:
            if r.resource == resource:
                return r
        raise KeyError(resource)


def flipped_rows(previous: Observation | None, current: Observation | None) -> dict[str, str]:
    """resource -> the word it had before, for every row whose word changed."""
    if previous is None or current is None:
        return {}
    return {name: previous.resources[name].word for name, v in current.resources.items()
            if name in previous.resources and previous.resources[name].word != v.word}


def c_call_for(primitive: str, flags: tuple[str, ...], exit_signal: str | None) -> str:
    """The C call for a request that was not run (a refused one)."""
    mask = 0
    for n in flags:
        mask |= FLAGS[n].value
    return c_call_of(primitive, mask, exit_signal)


def view_of(primitive: str, flags: tuple[str, ...], exit_signal: str | None, *,
            observation: Observation | None = None, previous: Observation | None = None,
            refusal: Refusal | None = None, notes: tuple[str, ...] = ()) -> View:
    """The view model of one state of the explorer."""
    if observation is None:
        if refusal is None:
            status = "Nothing run yet."
        elif refusal.by == "kernel":
            status = (f"The kernel refused {primitive}() with {refusal.errno_name}"
                      + (f": {refusal.rule}. Fix: {refusal.fix}." if refusal.fix else
                         f": {refusal.rule}." if refusal.rule else "."))
        else:
            status = "forklab will not run this (see why below)."
        return View(primitive, flags, exit_signal, c_call_for(primitive, flags, exit_signal),
                    refusal=refusal, notes=notes, status=status)
    was = flipped_rows(previous, observation)
    rows = tuple(
        Row(name, RESOURCES[name].title, v.word, v.shared, RESOURCES[name].kind, v.flag, v.evidence, v.kcmp,
            flipped=name in was, was=was.get(name))
        for name, v in observation.resources.items())
    shared = [r.resource for r in rows if r.shared and r.kind != "namespace"]
    new_ns = [r.resource for r in rows if r.kind == "namespace" and not r.shared]
    status = (f"{primitive}() ran: shared {', '.join(shared) or 'nothing but namespaces'}"
              + (f"; new namespaces: {', '.join(new_ns)}" if new_ns else "")
              + (f"; changed: {', '.join(f'{n} ({was[n]} to {observation.resources[n].word})' for n in was)}"
                 if was else "") + ".")
    notes = tuple(notes) + tuple(observation.notes)
    if observation.parent_was_suspended:
        notes += (f"The parent was suspended until the child ended (it waited "
                  f"{observation.parent_blocked_ms:.0f} ms): CLONE_VFORK.",)
    return View(primitive, observation.flags, observation.exit_signal, observation.c_call, rows,
                None, notes, status)


# --- HTML -------------------------------------------------------------------------------------

#: The picture's CSS: sent once with the widget, not with every redraw.
STYLE = """
<style>
.fl-x{font-family:var(--jp-ui-font-family,sans-serif);font-size:13px;line-height:1.35;color:var(--jp-ui-font-color1,#111);max-width:980px}
.fl-x .fl-sr{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
.fl-x .fl-head,.fl-x .fl-row{display:grid;grid-template-columns:14em 6.5em 11.5em 6.5em 16em minmax(6em,1fr);align-items:center;column-gap:4px}
.fl-x .fl-head{font-weight:700;border-bottom:1px solid #888;padding-bottom:2px}
.fl-x .fl-row{padding:0;line-height:1.25;border-bottom:1px solid rgba(128,128,128,.25)}
.fl-x .fl-row.fl-flipped{background:#F0E442;outline:2px solid #000;color:#000}
.fl-x .fl-obj{border-radius:4px;padding:0 6px;line-height:1.1;text-align:center;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.fl-x .fl-shared .fl-obj{border:2px solid #0072B2;background:rgba(0,114,178,.15)}
.fl-x .fl-copied .fl-obj,.fl-x .fl-own .fl-obj{border:3px double #E69F00;background:rgba(230,159,0,.12)}
.fl-x .fl-newns .fl-obj.fl-child{border:2px dashed #009E73;background:rgba(0,158,115,.15);font-weight:700}
.fl-x .fl-newns .fl-obj.fl-parent,.fl-x .fl-fresh .fl-obj.fl-parent{border:1px solid #888}
.fl-x .fl-fresh .fl-obj.fl-child{border:3px dotted #CC79A7;background:rgba(204,121,167,.15);font-weight:700}
.fl-x .fl-arrow{text-align:center;font-weight:700}
.fl-x .fl-shared .fl-arrow{color:#0072B2}
.fl-x .fl-word{font-weight:700;padding-left:4px}
.fl-x .fl-shared .fl-word{color:#0072B2}.fl-x .fl-copied .fl-word,.fl-x .fl-own .fl-word{color:#9a6a00}
.fl-x .fl-newns .fl-word{color:#007a5a}.fl-x .fl-fresh .fl-word{color:#9b4f7a}
.fl-x .fl-flipped .fl-word{color:#000}
.fl-x details{font-size:11px;line-height:1.2}
.fl-x details summary{cursor:pointer}
.fl-x .fl-c{font-family:var(--jp-code-font-family,monospace);background:rgba(128,128,128,.12);padding:3px 6px;user-select:all;white-space:pre-wrap;margin:2px 0}
.fl-x .fl-refusal{border:3px solid #D55E00;border-left-width:10px;padding:6px 10px;margin:6px 0;background:rgba(213,94,0,.08)}
.fl-x .fl-refusal h4{margin:0 0 4px 0;color:#D55E00}
.fl-x .fl-notes{margin:4px 0;padding-left:1.2em}
.fl-x .fl-legend{font-size:12px;margin:2px 0}
.fl-x .fl-legend span{display:inline-block;margin-right:10px;padding:0 4px}
.forklab-explorer .jupyter-button{height:24px;line-height:22px;margin-top:1px;margin-bottom:1px}
.forklab-explorer .widget-html,.forklab-explorer .widget-html-content{height:auto;min-height:0;line-height:24px}
.forklab-explorer>.widget-inline-hbox,.forklab-explorer .widget-inline-hbox .widget-inline-hbox{margin-top:0;margin-bottom:0}
</style>"""


#: What the one shared object is called in the middle of a row.
OBJECTS = {"memory": "address space", "fd_table": "fd table", "file_offset": "open file", "fs": "cwd and umask",
           "signal_handlers": "handler table", "signal_mask": "signal mask", "sysvsem_undo": "undo list",
           "io_context": "I/O context", "thread_group": "thread group", "parent": "parent process",
           "uts_ns": "UTS ns", "pid_ns": "PID ns", "mnt_ns": "mount ns", "net_ns": "network ns",
           "ipc_ns": "IPC ns", "user_ns": "user ns", "cgroup_ns": "cgroup ns"}


def _e(text) -> str:
    return _html.escape(str(text), quote=True)


def _row_html(r: Row, flags_on: frozenset[str] = frozenset()) -> str:
    cls = {"shared": "fl-shared", "copied": "fl-copied", "new, empty": "fl-fresh", "new, same priority": "fl-fresh",
           "new": "fl-fresh", "new namespace": "fl-newns", "own": "fl-own", "unknown": "fl-unknown"}[r.word]
    short = r.title.split(" (")[0]
    if r.word == "unknown":     # a probe failed: draw no verdict at all (verdicts.Verdict.errno says why)
        parent = '<div class="fl-obj fl-parent" aria-hidden="true">parent\'s ?</div>'
        middle = '<div class="fl-arrow" aria-hidden="true">not measured</div>'
        child = '<div class="fl-obj fl-child" aria-hidden="true">child\'s ?</div>'
    elif r.shared:
        parent = '<div class="fl-arrow" aria-hidden="true">parent &#x2501;&#x25B6;</div>'
        middle = f'<div class="fl-obj fl-one" aria-hidden="true" title="{_e(r.title)}">one {_e(OBJECTS.get(r.resource, short))}</div>'
        child = '<div class="fl-arrow" aria-hidden="true">&#x25C0;&#x2501; child</div>'
    elif r.kind == "namespace":
        parent = '<div class="fl-obj fl-parent" aria-hidden="true">parent\'s</div>'
        middle = '<div class="fl-arrow" aria-hidden="true">&#x2260;</div>'
        child = '<div class="fl-obj fl-child" aria-hidden="true">NEW</div>'
    elif cls == "fl-fresh":     # made fresh for the child, not copied from the parent's
        parent = '<div class="fl-obj fl-parent" aria-hidden="true">parent\'s</div>'
        middle = '<div class="fl-arrow" aria-hidden="true">not copied</div>'
        child = ('<div class="fl-obj fl-child" aria-hidden="true">'
                 + ("empty" if r.word == "new, empty" else "new")
                 + '</div>')
    else:
        parent = '<div class="fl-obj fl-parent" aria-hidden="true">parent\'s</div>'
        middle = '<div class="fl-arrow" aria-hidden="true">' + \
                 ("copied at clone" if r.kind == "sharing" else "separate") + '</div>'
        child = '<div class="fl-obj fl-child" aria-hidden="true">child\'s</div>'
    flipped = " fl-flipped" if r.flipped else ""
    mark = f' <span aria-hidden="true">(was {_e(r.was)})</span>' if r.flipped else ""
    kcmp = "" if r.kcmp is None else f" kcmp(2) says: {'same object' if r.kcmp else 'different objects'}."
    # Which flag controls a row is what the course asks students to predict: the picture names it only
    # while that flag is on (the experiment has just shown it), never beforehand.
    cause = f" {_e(r.flag)} is on." if r.flag and r.flag in flags_on else ""
    # ARIA: a row owns only cells (the drawing is aria-hidden); the evidence sits in a cell of its own, and
    # its summary's name starts with the word it shows ("evidence"), so voice control finds it by that word.
    return (f'<div class="fl-row {cls}{flipped}" role="row" data-resource="{r.resource}" data-word="{_e(r.word)}">'
            f'<div role="rowheader">{_e(r.title)}<span class="fl-sr"> {_e(r.sentence)}</span></div>'
            f'{parent}{middle}{child}<div class="fl-word" role="cell">{_e(r.word)}{mark}</div>'
            f'<div class="fl-ev" role="cell"><details><summary>evidence<span class="fl-sr"> for {_e(short)}'
            f'</span></summary>{_e(r.evidence)}.{_e(kcmp)}{cause}</details></div></div>')


def render(view: View) -> str:
    """The whole picture as HTML (styled by STYLE): refusal panel, diagram, C call, notes. The status
    line is not in it: the explorer shows ``view.status`` in a live region of its own."""
    out = ['<div class="fl-x">']
    if view.refusal is not None:
        r = view.refusal
        title = (f"The kernel refused: {r.errno_name} ({r.errno})" if r.by == "kernel"
                 else "forklab will not run this")
        out.append(f'<div class="fl-refusal" role="alert" data-errno="{_e(r.errno_name or "")}">'
                   f'<h4>{_e(title)}</h4>'
                   + (f'<div><b>Rule:</b> {_e(r.rule)}</div>' if r.rule else "")
                   + f'<div>{_e(r.message)}</div>'
                   + (f'<div><b>Fix:</b> {_e(r.fix)} (the button below the flags applies it)</div>'
                      if r.fix else "<div>No single change fixes this: remove flags one at a time.</div>"
                      if r.by == "kernel" else "")
                   + '</div>')
    out.append('<div class="fl-c" tabindex="0" aria-label="the equivalent C call">' + _e(view.c_call) + '</div>')
    if view.rows:
        out.append('<div class="fl-legend" aria-hidden="true">'
                   '<span style="border:2px solid #0072B2">shared: one object, two arrows</span>'
                   '<span style="border:3px double #E69F00">copied: two objects</span>'
                   '<span style="border:3px dotted #CC79A7">new, empty / new: made fresh, nothing copied</span>'
                   '<span style="border:2px dashed #009E73">new namespace: NEW</span>'
                   '<span style="background:#F0E442;outline:2px solid #000;color:#000">changed by your last click</span>'
                   '</div>')
        out.append('<div role="table" aria-label="what the child shares with its parent, one row per resource">'
                   '<div class="fl-head" role="row"><div role="columnheader">resource</div>'
                   '<div role="columnheader">parent</div><div aria-hidden="true"></div>'
                   '<div role="columnheader">child</div><div role="columnheader">verdict</div>'
                   '<div role="columnheader">evidence</div></div>')
        on = frozenset(view.flags)
        out.extend(_row_html(r, on) for r in view.rows)
        out.append('</div>')
    if view.notes:
        out.append('<ul class="fl-notes">' + "".join(f"<li>{_e(n)}</li>" for n in view.notes) + "</ul>")
    out.append("</div>")
    return "".join(out)


#: How each verdict looks in the still picture: a border and a background, beside the word itself.
_STILL_STYLE = {
    "shared": "border:2px solid #0072B2;background:#dcebf5",
    "copied": "border:3px double #E69F00;background:#fbf0d9",
    "own": "border:3px double #E69F00;background:#fbf0d9",
    "new, empty": "border:3px dotted #CC79A7;background:#f5e4ee",
    "new, same priority": "border:3px dotted #CC79A7;background:#f5e4ee",
    "new": "border:3px dotted #CC79A7;background:#f5e4ee",
    "new namespace": "border:2px dashed #009E73;background:#d9f0e9",
    "unknown": "border:2px dashed #767676;background:#eeeeee",
}


def still_html(view: View) -> str:
    """The picture as static HTML: one table, no scripts, no classes that need our CSS.

    What GitHub, nbviewer, a static site or a JupyterLab that has not run the notebook show in
    place of the live widget. Only what is the same on every run on one kernel goes in - no PIDs,
    inode numbers, evidence or timings - so stored outputs compare equal under nbval. Every row
    says its verdict in words; colour and border only repeat it. Which flag controls each row is
    left out: the course asks students to predict it, and this picture is on screen before they do.
    """
    out = ['<div class="forklab-still">',
           '<p><b>The clone flag explorer</b> (a still picture: run the notebook to toggle flags)</p>',
           f'<p>{_e(view.status)}</p>',
           f'<pre>{_e(view.c_call)}</pre>']
    if view.refusal is not None:
        r = view.refusal
        out.append(f'<p style="border-left:8px solid #D55E00;padding:4px 8px"><b>'
                   + (f"The kernel refused: {_e(r.errno_name)}" if r.by == "kernel" else "forklab will not run this")
                   + "</b>" + (f" [{_e(r.rule)}]" if r.rule else "") + f" {_e(r.message)}"
                   + (f" Fix: {_e(r.fix)}." if r.fix else "") + "</p>")
    if view.rows:
        out.append('<table>'
                   "<caption>What the child shares with its parent, one row per resource</caption>"
                   f'<thead><tr><th scope="col">resource</th>'
                   f'<th scope="col">verdict</th>'
                   f'<th scope="col">what it means</th></tr></thead><tbody>')
        for r in view.rows:
            meaning = r.sentence.split("; ", 1)[1]
            out.append(f'<tr><th scope="row">{_e(r.title)}</th>'
                       f'<td><span style="{_STILL_STYLE[r.word]};padding:0 6px">'
                       f"{_e(r.word)}</span></td>"
                       f'<td>{_e(meaning)}</td></tr>')
        out.append("</tbody></table>")
    out.append("</div>")
    return "".join(out)


def text(view: View) -> str:
    """The view as plain text (for a repr, a test, or a reader without HTML)."""
    lines = [view.status, view.c_call]
    if view.refusal:
        r = view.refusal
        lines.append(f"refused by the {r.by}" + (f": {r.errno_name}" if r.errno_name else "")
                     + (f" [{r.rule}]" if r.rule else "") + f" - {r.message}"
                     + (f" Fix: {r.fix}." if r.fix else ""))
    for r in view.rows:
        lines.append(f"  {r.resource:<16} {r.word}" + (f"  (was {r.was})" if r.flipped else ""))
    return "\n".join(lines)

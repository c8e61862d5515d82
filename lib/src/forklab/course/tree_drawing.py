"""Process trees drawn with matplotlib, and a student's prediction drawn beside the real tree.

* `draw(tree)` (what `ProcessTree.draw()` calls): layered, a parent above its children, siblings
  left to right in order of birth; `alt_text(tree)` says the same in words.
* `draw_prediction(tree, guess_tree, processes)` (what `tree.predict()` shows): the student's guess
  beside the real tree.

A tree here is any forklab.course.tree.ProcessTree (processes, root, count, depth()); this module draws
and does not run anything, so forklab.course.tree imports it, never the other way round.
"""
from __future__ import annotations

import textwrap

from forklab import figure


def draw(tree, ax=None, title: str | None = None, color: str = "#cfe3ff"):
    """Draw the tree with matplotlib: parents above children, siblings left to right by birth. Shown with its text
    equivalent (alt_text; forklab.figure) unless drawn into the caller's `ax`."""
    import matplotlib.pyplot as plt
    shown_here = ax is None
    if ax is None:
        leaves = sum(1 for p in tree.processes if not p.children)
        _, ax = plt.subplots(figsize=(max(3.0, 1.1 * max(1, leaves)), 0.9 + 1.0 * tree.depth()))
    pos = {}
    next_x = [0]

    def place(p, depth):
        if not p.children:
            x = next_x[0]
            next_x[0] += 1
        else:
            xs = [place(c, depth + 1) for c in p.children]
            x = (xs[0] + xs[-1]) / 2
        pos[p.pid] = (x, -depth)
        return x

    if tree.processes:
        place(tree.root, 0)
    for p in tree.processes:
        for c in p.children:
            (x0, y0), (x1, y1) = pos[p.pid], pos[c.pid]
            ax.plot([x0, x1], [y0, y1], color="#555555", zorder=1)
    for p in tree.processes:
        x, y = pos[p.pid]
        said = textwrap.shorten(p.said, 24)
        label = p.label + ("\n" + said if said else "")
        ax.text(x, y, label, ha="center", va="center", zorder=2, fontsize=9,
                bbox=dict(boxstyle="round,pad=0.35", fc=color, ec="#333333"))
    ax.set_xlim(-0.7, max(0.7, next_x[0] - 0.3))
    ax.set_ylim(-tree.depth() + 0.5, 0.5)
    ax.axis("off")
    ax.set_title(title or f"the real tree: {tree.count} processes")
    if shown_here:
        figure.show(ax.figure, alt_text(tree, title))
    return ax


def alt_text(tree, title: str | None = None) -> str:
    """The drawing in words, for a screen reader: who is whose parent, and what each process printed."""
    title = title or f"the real tree: {tree.count} processes"
    if not tree.processes:
        return f"Drawing of a process tree, {title}: no process."
    parents = [f"{p.label} is the parent of {_and(c.label for c in p.children)}"
               for p in tree.processes if p.children]
    said = [f"{p.label}: {p.said.strip().replace(chr(10), ' | ')}" for p in tree.processes if p.said.strip()]
    return (f"Drawing of a process tree, {title}, each parent above its children: "
            + ("; ".join(parents) if parents else f"{tree.root.label} alone, no child")
            + (". What each printed - " + "; ".join(said) if said else "") + ".")


def _and(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def draw_prediction(tree, guess_tree=None, processes=None) -> None:
    """The real tree beside the student's guess: their tree (guess_tree, drawn the same way in another
    colour) or, when they guessed only a number of processes, a row of that many boxes; with neither,
    the real tree alone. What tree.predict() shows once the student has committed to a guess."""
    import matplotlib.pyplot as plt
    two = processes is not None
    depth = max(tree.depth(), guess_tree.depth() if guess_tree else 1)
    fig, axes = plt.subplots(1, 2 if two else 1, figsize=(9 if two else 5, 1 + depth), squeeze=False)
    if guess_tree is not None:
        draw(guess_tree, ax=axes[0][0], title=f"your tree: {guess_tree.count} processes", color="#ffe9b3")
    elif two:
        _draw_guess(axes[0][0], processes)
    draw(tree, ax=axes[0][1] if two else axes[0][0])
    for ax in axes[0]:
        ax.set_ylim(-depth + 0.5, 0.5)        # one level per row in both drawings
    fig.tight_layout()
    guess = (alt_text(guess_tree, f"your tree: {guess_tree.count} processes") if guess_tree is not None
             else f"Your guess: {processes} processes, drawn as a row of boxes." if two else "")
    if not figure.show(fig, " ".join(filter(None, [guess, alt_text(tree)]))):
        plt.show()


def _draw_guess(ax, n: int) -> None:
    """The student's guess as a row of n boxes (they guessed a number, not a shape)."""
    for i in range(n):
        ax.text(i, 0, "?", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.35", fc="#ffe9b3", ec="#333333"))
    ax.set_xlim(-0.7, max(0.7, n - 0.3))
    ax.set_ylim(-1, 1)
    ax.axis("off")
    ax.set_title(f"your guess: {n} processes")

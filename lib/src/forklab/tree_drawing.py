"""Process trees drawn with matplotlib, and a student's prediction drawn beside the real tree.

* `draw(tree)` (what `ProcessTree.draw()` calls): layered, a parent above its children, siblings
  left to right in order of birth.
* `predict(code, processes=..., prints=...)`: the student commits to a number of processes (or a
  tree, as nested lists) first, then sees the real tree beside their guess.
"""
from __future__ import annotations

import textwrap

from . import figure
from .tree import ProcessTree, canonical, from_shape, run


def draw(tree: ProcessTree, ax=None, title: str | None = None, color: str = "#cfe3ff"):
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


def alt_text(tree: ProcessTree, title: str | None = None) -> str:
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


def predict(program: str, processes=None, prints: int | None = None, *,
            text: str | None = None, draw: bool = True, **kw) -> ProcessTree:
    """Reveal a program's real tree next to the student's prediction.

    processes: the predicted number of processes (the program itself included), or the predicted
      tree as nested lists, a process being the list of its children: [[[]], []] is a process with
      two children, the first of which has a child of its own (order of siblings does not matter);
    prints: how many lines they predicted it prints (or, with text="hello", how many "hello" lines).
    """
    tree = run(program, **kw)
    guess_tree = None
    if isinstance(processes, (list, tuple)):
        guess_tree = from_shape(processes)
    elif processes is not None and (isinstance(processes, bool) or not isinstance(processes, int)):
        raise TypeError("processes is a number of processes or a tree as nested lists, e.g. [[[]], []]")
    printed = tree.outputs.count(text) if text is not None else len(tree.outputs)
    what = f'"{text}" lines' if text is not None else "printed lines"
    if processes is None and prints is None:
        print("(no prediction written: make one first, then run this cell again)")
    guessed_count = guess_tree.count if guess_tree else processes
    for name, guess, real in (("processes", guessed_count, tree.count), (what, prints, printed)):
        verdict = ""
        if guess is not None:
            verdict = "  - you predicted it!" if guess == real else f"  - you predicted {guess}"
        print(f"{name}: {real}{verdict}")
    if guess_tree is not None:
        same = canonical(guess_tree.shape()) == canonical(tree.shape())
        print("tree shape: " + ("the same as yours!" if same else "different from yours (compare the drawings)"))
    if draw:
        import matplotlib.pyplot as plt
        two = processes is not None
        depth = max(tree.depth(), guess_tree.depth() if guess_tree else 1)
        fig, axes = plt.subplots(1, 2 if two else 1, figsize=(9 if two else 5, 1 + depth), squeeze=False)
        if guess_tree is not None:
            guess_tree.draw(ax=axes[0][0], title=f"your tree: {guess_tree.count} processes", color="#ffe9b3")
        elif two:
            _draw_guess(axes[0][0], processes)
        tree.draw(ax=axes[0][1] if two else axes[0][0])
        for ax in axes[0]:
            ax.set_ylim(-depth + 0.5, 0.5)        # one level per row in both drawings
        fig.tight_layout()
        guess = (alt_text(guess_tree, f"your tree: {guess_tree.count} processes") if guess_tree is not None
                 else f"Your guess: {processes} processes, drawn as a row of boxes." if two else "")
        if not figure.show(fig, " ".join(filter(None, [guess, alt_text(tree)]))):
            plt.show()
    return tree


def _draw_guess(ax, n: int) -> None:
    """The student's guess as a row of n boxes (they guessed a number, not a shape)."""
    for i in range(n):
        ax.text(i, 0, "?", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.35", fc="#ffe9b3", ec="#333333"))
    ax.set_xlim(-0.7, max(0.7, n - 0.3))
    ax.set_ylim(-1, 1)
    ax.axis("off")
    ax.set_title(f"your guess: {n} processes")

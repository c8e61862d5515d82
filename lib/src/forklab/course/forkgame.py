"""The fork game, after OSTEP's fork.py: predict the process tree a list of actions leaves.

    game = random_program(seed=2)     # from forklab.course.forkgame import random_program
    print(game)                       # the actions: "a forks b", "b EXITS", ...
    print(game.answer())              # each action followed by the tree it leaves

Actions are `a+b` (a forks b) and `b-` (b exits). As on Linux, the children of a process that
exits are not lost: they are reparented - here to `a`, which plays init (it never exits). That is
the game's simplification: Linux gives an orphan to its nearest subreaper ancestor, else to PID 1
of its PID namespace (notebook 04), not to whichever process started the program.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from forklab.course.tree import drawn_as_text, process_name


@dataclass
class ForkExercise:
    """A random sequence of actions: `a+b` (a forks b) and `b-` (b exits; its children go to a)."""
    actions: list
    seed: int | None

    def __str__(self) -> str:
        lines = ["Process tree:  a  (a plays init: it never exits, and adopts every orphan)", "Actions:"]
        lines += [f"  {describe(a)}" for a in self.actions]
        return "\n".join(lines)

    def final_tree(self) -> dict:
        """parent -> children after every action, orphans reparented to a (the init of the game)."""
        return simulate(self.actions)[-1]

    def answer(self) -> str:
        """Each action followed by the tree it leaves (what OSTEP's fork.py -c prints)."""
        out = []
        for action, state in zip(self.actions, simulate(self.actions)[1:]):
            out.append(f"{describe(action)}\n{_indent(render(state))}")
        return "\n".join(out)


def describe(action: str) -> str:
    if action.endswith("-"):
        return f"{action[:-1]} EXITS"
    a, b = action.split("+")
    return f"{a} forks {b}"


def act(tree: dict, action: str) -> None:
    """Apply one action to the tree (parent -> list of children), in place."""
    if action.endswith("-"):
        gone = action[:-1]
        parent = next(p for p, kids in tree.items() if gone in kids)
        tree[parent].remove(gone)
        tree["a"].extend(tree.pop(gone))   # orphans are adopted by a, the init of this game
    else:
        parent, child = action.split("+")
        tree[parent].append(child)
        tree[child] = []


def simulate(actions) -> list:
    """The tree after each action (dicts parent -> list of children), starting with {'a': []}."""
    tree = {"a": []}
    states = [_copy(tree)]
    for action in actions:
        act(tree, action)
        states.append(_copy(tree))
    return states


def render(tree: dict, node: str = "a") -> str:
    """The game's tree as indented text."""
    return drawn_as_text(node, lambda n: tree.get(n, []), str)


def random_program(seed: int | None = None, actions: int = 5, fork_percentage: float = 0.7) -> ForkExercise:
    """A random exercise like OSTEP's fork.py: predict the final tree, then look at .answer()."""
    rng = random.Random(seed)
    tree = {"a": []}
    names = iter(process_name(i) for i in range(1, 1000))
    out = []
    while len(out) < actions:
        exitable = [p for p in tree if p != "a"]
        if exitable and rng.random() >= fork_percentage:
            action = f"{rng.choice(exitable)}-"
        else:
            action = f"{rng.choice(list(tree))}+{next(names)}"
        act(tree, action)
        out.append(action)
    return ForkExercise(actions=out, seed=seed)


def _copy(tree: dict) -> dict:
    return {k: list(v) for k, v in tree.items()}


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())

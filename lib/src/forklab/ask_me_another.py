"""Ask me another: a new random instance of a question with one click, like OSTEP's ``fork.py -s SEED``.

    from forklab.ask_me_another import ask_me_another
    ask_me_another("fork tree")          # the fork game (forklab.forkgame): predict the tree
    ask_me_another("fork loop", seed=3)  # how many processes, how many lines: a fork() in a loop

The widget shows a question and its seed; "Show the answer" reveals the answer (never before: predict, then
see); "Ask me another" draws a new seed and a new question, its answer hidden again. The same seed always
gives the same question, so a student can say "seed 4172" to a classmate or a teacher.
"""
from __future__ import annotations

import html
import random
from dataclasses import dataclass
from typing import Callable

from .tree import random_program   # (forkgame's; imported through tree, which imports forkgame)


@dataclass(frozen=True)
class Question:
    kind: str
    seed: int
    question: str
    answer: str


def fork_tree_question(seed: int) -> Question:
    """The fork game: a few random forks and exits; predict the final tree (orphans go to a)."""
    game = random_program(seed=seed)
    return Question("fork tree", seed, f"{game}\n\nWhat is the process tree at the end?", game.answer())


def fork_loop_question(seed: int) -> Question:
    """A fork() in a loop, maybe with one fork before it: how many processes, and how many lines?"""
    rng = random.Random(seed)
    loops, first = rng.randint(2, 4), rng.random() < 0.5
    program = "import os\n" + ("os.fork()\n" if first else "") + \
        f"for i in range({loops}):\n    if os.fork() == 0:\n        print('child', i)\n"
    processes = 2 ** (loops + first)
    lines = 2 ** first * (2 ** loops - 1)
    reason = (f"every process alive at a fork is copied, so each of the {loops + first} forks doubles them "
              f"({processes}); a line is printed once per birth in the loop: "
              + " + ".join(str(2 ** first * 2 ** i) for i in range(loops)) + f" = {lines}")
    return Question("fork loop", seed, f"{program}\nHow many processes run this program (the original included), "
                    "and how many lines does it print?", f"{processes} processes, {lines} lines: {reason}.")


KINDS: dict[str, Callable[[int], Question]] = {"fork tree": fork_tree_question, "fork loop": fork_loop_question}


def question(kind: str, seed: int) -> Question:
    if kind not in KINDS:
        raise ValueError(f"no question of the kind {kind!r}; the kinds are: {', '.join(sorted(KINDS))}")
    return KINDS[kind](seed)


class AskMeAnother:
    """The widget: a question, "Show the answer", "Ask me another". ``.widget`` is what Jupyter displays."""

    def __init__(self, kind: str = "fork tree", seed: int | None = None, *, rng: random.Random | None = None):
        import ipywidgets as w
        question(kind, 0)                                  # a wrong kind is refused before anything is drawn
        self.kind, self._rng = kind, rng or random.Random()
        self.heading = w.HTML()
        self.shown = w.HTML()
        self.answer_box = w.HTML()
        self.reveal = w.Button(description="Show the answer", tooltip="Predict first, then look",
                               layout=w.Layout(width="auto"))
        self.another = w.Button(description="Ask me another", tooltip="A new random question (a new seed)",
                                layout=w.Layout(width="auto"))
        self.reveal.on_click(lambda _: self.show_answer())
        self.another.on_click(lambda _: self.ask(None))
        self.widget = w.VBox([self.heading, self.shown, w.HBox([self.reveal, self.another]), self.answer_box])
        self.current: Question
        self.ask(seed)

    def ask(self, seed: int | None) -> Question:
        """Show a new question (a random seed unless one is given), its answer hidden."""
        seed = self._rng.randrange(1_000_000) if seed is None else seed
        self.current = question(self.kind, seed)
        self.heading.value = (f"<b>{html.escape(self.kind)}</b>, seed {seed} "
                              f"(the same seed gives the same question: <code>ask_me_another({self.kind!r}, "
                              f"seed={seed})</code>)")
        self.shown.value = f"<pre>{html.escape(self.current.question)}</pre>"
        self.answer_box.value = ""
        self.reveal.disabled = False
        return self.current

    def show_answer(self) -> None:
        self.answer_box.value = f"<pre>{html.escape(self.current.answer)}</pre>"
        self.reveal.disabled = True

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


def ask_me_another(kind: str = "fork tree", seed: int | None = None) -> AskMeAnother:
    """The "ask me another" widget for one kind of question ("fork tree" or "fork loop")."""
    return AskMeAnother(kind, seed)

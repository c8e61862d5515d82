"""Ask me another: a new random instance of a question with one click, like OSTEP's ``fork.py -s SEED``.

    from forklab.course.ask_me_another import ask_me_another
    ask_me_another("fork tree")          # the fork game (forklab.course.forkgame): predict the tree
    ask_me_another("fork loop", seed=3)  # how many processes, how many lines: a fork() in a loop
    ask_me_another("output order")       # a fork/printf/waitpid program: tick the orders it can print
    ask_me_another("flag set")           # a clone() flag set: accepted? then shared or copied, row by row

The widget shows a question and its seed; "Show the answer" reveals the answer (never before: predict, then
see); "Ask me another" draws a new seed and a new question, its answer hidden again. The same seed always
gives the same question, so a student can say "seed 4172" to a classmate or a teacher.

The last two kinds take the prediction in the widget itself (ticks, choices) and check it: "output order"
against forklab.course.output_orders' model of the program, then runs the program for real 30 times to show which
orders the kernel printed; "flag set" runs the call with forklab.run and compares row by row. Nothing in a
widget's first state (nor in a notebook's stored copy of it) holds the answer.
"""
from __future__ import annotations

import html
import random
from dataclasses import dataclass
from typing import Callable

from forklab.course import output_orders as oo
from forklab.engine.explain import einval_rule, fix_for
from forklab.engine.flags import FLAGS, parse_flags
from forklab.course.forkgame import random_program
from forklab.course.prediction import check_prediction


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


# --- output order: which orders can a small fork program print? ----------------------------------

CANDIDATES = 5   # orders offered to tick


def order_candidates(program: oo.Program, seed: int) -> tuple[tuple[str, ...], ...]:
    """The orders a question offers to tick: some possible, some not - preferring impossible orders one
    swap away from a possible one (the plausible mistakes). The same seed gives the same candidates."""
    rng = random.Random(f"candidates {seed}")
    possible = sorted(oo.possible_orders(program))
    impossible = [o for o in oo.every_order(program.letters()) if o not in set(possible)]
    near = [o for o in impossible if any(o[:i] + (o[i + 1], o[i]) + o[i + 2:] in possible
                                          for i in range(len(o) - 1))]
    far = [o for o in impossible if o not in near]
    rng.shuffle(near)
    rng.shuffle(far)
    take_possible = min(len(possible), rng.randint(1, 3))
    chosen = rng.sample(possible, take_possible) + (near + far)[:CANDIDATES - take_possible]
    rng.shuffle(chosen)
    return tuple(chosen)


def order_answer(program: oo.Program, candidates) -> str:
    """Each candidate: can it happen, and why (not); then every order the program can print."""
    possible = oo.possible_orders(program)
    lines = []
    for order in candidates:
        why = oo.why_impossible(program, order)
        lines.append(f"{oo.show_order(order)}: " + (f"cannot happen. {why}" if why else
                                                   f"can happen: {oo.why_possible(program, order)}."))
    every = sorted(possible)
    lines.append(f"Every order it can print ({len(every)}): " + "; ".join(oo.show_order(o) for o in every))
    return "\n".join(lines)


def output_order_question(seed: int) -> Question:
    """A random fork/printf/waitpid program (forklab.course.output_orders): which of a few orders can it print?"""
    program = oo.random_program(seed)
    candidates = order_candidates(program, seed)
    return Question("output order", seed,
                    f"{program.c_source()}\nWhich of these orders can it print (one letter per line)? "
                    + " | ".join(oo.show_order(o) for o in candidates),
                    order_answer(program, candidates))


# --- flag set: a clone() flag set - accepted? shared or copied? ---------------------------------

#: The flags a flag set is drawn from, each with its chance (CLONE_THREAD less often: the fix of a refused
#: set adds CLONE_SIGHAND and CLONE_VM, so every thread would bring a whole pthread_create()-like set).
FLAG_POOL = {"CLONE_VM": 0.5, "CLONE_FS": 0.4, "CLONE_FILES": 0.45, "CLONE_SIGHAND": 0.35, "CLONE_THREAD": 0.2}
#: The rows of the sharing picture a flag set question asks about, each with its two answers.
ROWS = {"memory": ("shared", "copied"), "fd_table": ("shared", "copied"), "fs": ("shared", "copied"),
        "signal_handlers": ("shared", "copied"), "thread_group": ("shared", "own")}
ROW_MEANS = {"thread_group": "shared: the child is a thread of the caller (same PID); own: a process of its own"}


def random_flag_set(seed: int) -> tuple[str, ...]:
    """A random set of FLAG_POOL's flags: mostly one the kernel accepts, about one time in four one it
    refuses (CLONE_SIGHAND without CLONE_VM, or CLONE_THREAD without CLONE_SIGHAND). forklab.engine.explain knows
    the rules; the widget asks the kernel."""
    _check_seed(seed)
    rng = random.Random(f"flag set {seed}")
    names = {f for f, chance in FLAG_POOL.items() if rng.random() < chance}
    mask = parse_flags(sorted(names))
    if rng.random() < 0.25:
        if einval_rule(mask, "clone", "SIGCHLD") is None:
            if rng.random() < 0.5:
                names = (names | {"CLONE_SIGHAND"}) - {"CLONE_VM", "CLONE_THREAD"}
            else:
                names = (names | {"CLONE_THREAD"}) - {"CLONE_SIGHAND"}
    else:
        fix = fix_for(mask, "clone", "SIGCHLD", privileged=True)
        if fix is not None:
            names = (names | set(fix.add)) - set(fix.remove)
    return tuple(f for f in FLAGS if f in names)


def flag_set_c_call(flags) -> str:
    from forklab.explorer.picture import c_call_for
    return c_call_for("clone", tuple(flags), "SIGCHLD")


def flag_set_question(seed: int) -> Question:
    """The question as text; its answer here is what forklab's rules expect - the widget asks the kernel."""
    flags = random_flag_set(seed)
    rule = einval_rule(parse_flags(list(flags)), "clone", "SIGCHLD")
    expected = (f"refused with EINVAL: {rule.reason}" if rule else
                "accepted; " + ", ".join(f"{row}: {ROWS[row][0] if _controls(row) in flags else ROWS[row][1]}"
                                         for row in ROWS))
    return Question("flag set", seed,
                    f"{flag_set_c_call(flags)}\nDoes the kernel accept this call? If it does, which of "
                    f"{', '.join(ROWS)} does the child share with its parent?",
                    f"forklab's rules expect: {expected} (ask_me_another('flag set') runs it on the kernel).")


def _controls(row: str) -> str:
    from forklab.engine.resources import RESOURCES
    return RESOURCES[row].flag


KINDS: dict[str, Callable[[int], Question]] = {"fork tree": fork_tree_question, "fork loop": fork_loop_question,
                                               "output order": output_order_question,
                                               "flag set": flag_set_question}


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"a seed is a whole number 0 or more (like fork.py -s 4172), not {seed!r}")
    return seed


def question(kind: str, seed: int) -> Question:
    if kind not in KINDS:
        raise ValueError(f"no question of the kind {kind!r}; the kinds are: {', '.join(sorted(KINDS))}")
    return KINDS[kind](_check_seed(seed))


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


def _heading(kind: str, seed: int) -> str:
    return (f"<b>{html.escape(kind)}</b>, seed {seed} (the same seed gives the same question: "
            f"<code>ask_me_another({kind!r}, seed={seed})</code>)")


def _new_seed(rng: random.Random, seed) -> int:
    return rng.randrange(1_000_000) if seed is None else _check_seed(seed)


def _mark(ok: bool) -> str:
    return "right" if ok else "WRONG"


class OutputOrderAsk:
    """Which orders can this program print? Tick them, check (against forklab.course.output_orders' model), then
    run the program for real and see which orders the kernel printed. ``.widget`` is what Jupyter shows."""

    kind = "output order"

    def __init__(self, seed: int | None = None, *, rng: random.Random | None = None, runs: int = 30):
        import ipywidgets as w
        from forklab.explorer.accessible import LiveStatus
        if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= oo.RUN_LIMIT:
            raise ValueError(f"runs must be a whole number from 1 to {oo.RUN_LIMIT}, not {runs!r}")
        self._rng, self.runs = rng or random.Random(), runs
        self.heading, self.code, self.prompt = w.HTML(), w.HTML(), w.HTML()
        self.ticks = w.VBox()
        self.check_button = w.Button(description="Check my ticks", layout=w.Layout(width="auto"),
                                     tooltip="Compare your ticks with what the program can print")
        self.run_button = w.Button(description=f"Run it {runs} times for real", layout=w.Layout(width="auto"),
                                   tooltip="Compile the program and run it in the sandbox (after your check)")
        self.another = w.Button(description="Ask me another", layout=w.Layout(width="auto"),
                                tooltip="A new random program (a new seed)")
        self.status = LiveStatus()              # one line a screen reader announces after each click
        self.answer_box, self.runs_box = w.HTML(), w.HTML()
        self.check_button.on_click(lambda _: self.check())
        self.run_button.on_click(lambda _: self.run())
        self.another.on_click(lambda _: self.ask(None))
        self.widget = w.VBox([self.heading, self.code, self.prompt, self.ticks,
                              w.HBox([self.check_button, self.run_button, self.another]),
                              self.status, self.answer_box, self.runs_box])
        self.widget.add_class("forklab-ask-order")
        self.ask(seed)

    def ask(self, seed: int | None) -> oo.Program:
        """A new program (a random seed unless one is given), nothing ticked, no answer shown."""
        import ipywidgets as w
        self.seed = _new_seed(self._rng, seed)
        self.program = oo.random_program(self.seed)
        self.candidates = order_candidates(self.program, self.seed)
        self.checked = None
        self.heading.value = _heading(self.kind, self.seed)
        self.code.value = f"<pre>{html.escape(self.program.c_source())}</pre>"
        self.prompt.value = ("Each letter is printed on a line of its own. <b>Which of these orders can the "
                             "program print?</b> Tick every one that can happen (maybe one, maybe several), "
                             "then press <b>Check my ticks</b>.")
        self.boxes = [w.Checkbox(value=False, description=oo.show_order(o), indent=False)
                      for o in self.candidates]
        self.ticks.children = self.boxes
        self.check_button.disabled, self.run_button.disabled = False, True
        self.status.text = ""
        self.answer_box.value = self.runs_box.value = ""
        return self.program

    def tick(self, *orders: str) -> None:
        """Tick these orders (each like "A C B") and untick the others - what clicking the boxes does."""
        if self.checked is not None:
            raise RuntimeError("this question was checked already: ask(None) (Ask me another) draws a new one")
        wanted = {oo.parse_order(o, self.program.letters()) for o in orders}
        offered = ", ".join(repr(oo.show_order(o)) for o in self.candidates)
        for o in wanted:
            if o not in self.candidates:
                raise ValueError(f"{oo.show_order(o)!r} is not one of the orders offered: {offered}")
        for box, o in zip(self.boxes, self.candidates):
            box.value = o in wanted

    def ticked(self) -> tuple[tuple[str, ...], ...]:
        return tuple(o for box, o in zip(self.boxes, self.candidates) if box.value)

    def check(self):
        """Compare the ticks with the model: each wrong tick (or missing one) is named, with why."""
        possible = oo.possible_orders(self.program)
        ticked = set(self.ticked())
        actual = {oo.show_order(o) for o in self.candidates if o in possible}
        self.checked = check_prediction({oo.show_order(o) for o in ticked}, actual,
                                        about="the orders of those offered that it can print")
        lines, wrong = [], []
        for o in self.candidates:
            can = o in possible
            why = (f"can happen: {oo.why_possible(self.program, o)}." if can
                   else f"cannot happen. {oo.why_impossible(self.program, o)}")
            said = "ticked" if o in ticked else "not ticked"
            ok = (o in ticked) == can
            if not ok:
                wrong.append(oo.show_order(o))
            lines.append(f"<li><b>{oo.show_order(o)}</b> ({said}, {_mark(ok)}): {html.escape(why)}</li>")
        every = sorted(possible)
        self.answer_box.value = (
            "<ul>" + "".join(lines) + "</ul>"
            + f"<p>Every order it can print ({len(every)}): "
            + "; ".join(f"<code>{oo.show_order(o)}</code>" for o in every) + "</p>"
            + "<p>The rules: one process prints in the order its code says; a child starts only at the fork() "
              "that creates it; waitpid(c) returns only after c has exited. Anything else the kernel may "
              "schedule in any order. Now run it for real: the kernel shows some of these orders, never "
              "another.</p>")
        self.status.text = ("Right: you ticked exactly the orders it can print." if not wrong else
                            f"Not quite: {len(wrong)} of {len(self.candidates)} wrong: " + "; ".join(wrong)
                            + ". Why is below each order.")
        for box in self.boxes:
            box.disabled = True
        self.check_button.disabled, self.run_button.disabled = True, False
        return self.checked

    def run(self) -> oo.RealRuns:
        """Run the program for real ``runs`` times (after the check: predict, then see)."""
        if self.checked is None:
            raise RuntimeError("tick your answer and check it first (predict, then see): call check()")
        possible = oo.possible_orders(self.program)
        self.status.text = f"Running the program {self.runs} times..."
        runs = oo.run_for_real(self.program, self.runs)
        outside = runs.outside(possible)
        rows = "".join(
            f"<tr><td><code>{oo.show_order(o)}</code></td><td>{n}</td><td>"
            + ("one the model allows" if o in possible else "<b>NOT one the model allows</b>") + "</td></tr>"
            for o, n in runs.orders.most_common())
        text = (f"<table><caption>What the kernel printed in {runs.runs} runs</caption><thead><tr>"
                '<th scope="col">order</th><th scope="col">runs</th><th scope="col">the model</th></tr>'
                f"</thead><tbody>{rows}</tbody></table>")
        if runs.problem:
            text += f"<p>The runs did not all finish: {html.escape(runs.problem)}</p>"
        if outside:
            text += ('<div role="alert" style="border:3px solid #D55E00;padding:6px"><b>The model is wrong:</b> '
                     "the kernel printed " + ", ".join(oo.show_order(o) for o in outside)
                     + ", which forklab.course.output_orders says cannot happen. Please report it with the seed "
                     f"{self.seed}.</div>")
            self.status.text = (f"BUG IN THE MODEL: the kernel printed an order the model calls impossible "
                                f"({', '.join(oo.show_order(o) for o in outside)}).")
        else:
            seen, total = len(runs.orders), len(possible)
            text += (f"<p>{seen} different order{'s' if seen != 1 else ''} in {runs.runs} runs, each one the model "
                     f"allows; the model allows {total}. The ones that did not turn up are possible too, only "
                     "rarer here: which appear depends on the number of cores, the load and the scheduler "
                     "(run it again, or on another machine).</p>")
            self.status.text = (f"The kernel printed {seen} of the {total} possible orders in {runs.runs} runs, "
                                "and none that the model calls impossible.")
        self.runs_box.value = text
        return runs

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


class FlagSetAsk:
    """A clone() call with a random flag set: predict whether the kernel accepts it and, row by row, what the
    child shares; "Check" runs it with forklab.run and compares. ``.widget`` is what Jupyter shows."""

    kind = "flag set"

    def __init__(self, seed: int | None = None, *, rng: random.Random | None = None):
        import ipywidgets as w
        from forklab.explorer.accessible import LiveStatus, Picture
        self._rng = rng or random.Random()
        self.heading, self.call, self.prompt = w.HTML(), w.HTML(), w.HTML()
        self.choices_box = w.VBox()
        self.check_button = w.Button(description="Check: run it on the kernel", layout=w.Layout(width="auto"),
                                     tooltip="Run this clone() call for real and compare with your prediction")
        self.another = w.Button(description="Ask me another", layout=w.Layout(width="auto"),
                                tooltip="A new random flag set (a new seed)")
        self.status = LiveStatus()
        self.answer_box = w.HTML()
        self.picture = Picture()
        self.check_button.on_click(lambda _: self.check())
        self.another.on_click(lambda _: self.ask(None))
        self.widget = w.VBox([self.heading, self.call, self.prompt, self.choices_box,
                              w.HBox([self.check_button, self.another]), self.status, self.answer_box,
                              self.picture])
        self.widget.add_class("forklab-ask-flags")
        self.ask(seed)

    def ask(self, seed: int | None) -> tuple[str, ...]:
        """A new flag set (a random seed unless one is given), nothing chosen, nothing run."""
        import ipywidgets as w
        from forklab.explorer.accessible import ChoiceButtons
        from forklab.engine.resources import RESOURCES
        self.seed = _new_seed(self._rng, seed)
        self.flags = random_flag_set(self.seed)
        self.observation = self.refusal = self.checked = None
        self.heading.value = _heading(self.kind, self.seed)
        self.call.value = f"<pre>{html.escape(flag_set_c_call(self.flags))}</pre>"
        self.prompt.value = ("<b>Predict:</b> does the kernel accept this call? If it does, what does the child "
                             "share with its parent? Choose for each row, then press <b>Check</b>.")
        self.accept = ChoiceButtons(label="Does the kernel accept this call?",
                                    options=[["accepted", "accepted"], ["refused", "refused"]],
                                    tooltips=["the kernel creates the child", "the kernel refuses the call"])
        self.rows = {}
        lines = [w.HBox([w.HTML("the call:", layout=w.Layout(width="16em")), self.accept])]
        for row, words in ROWS.items():
            title = RESOURCES[row].title
            self.rows[row] = ChoiceButtons(label=f"{title}: {' or '.join(words)}?",
                                           options=[[x, x] for x in words],
                                           tooltips=[ROW_MEANS.get(row, "")] * 2)
            lines.append(w.HBox([w.HTML(html.escape(title), layout=w.Layout(width="16em")), self.rows[row]]))
        self.choices_box.children = lines
        self.check_button.disabled = False
        self.status.text = ""
        self.answer_box.value = self.picture.value = ""
        return self.flags

    def predict(self, prediction) -> None:
        """"refused", or {row: word} for the call accepted - what clicking the buttons does."""
        if prediction == "refused":
            self.accept.value = "refused"
            return
        if not isinstance(prediction, dict):
            raise ValueError(f"a prediction is 'refused' or a dict of rows, e.g. {{'memory': 'shared', "
                             f"'fd_table': 'copied'}}; the rows are: {', '.join(ROWS)}; not {prediction!r}")
        for row, word in prediction.items():
            if row not in ROWS:
                raise ValueError(f"no row {row!r}; the rows are: {', '.join(ROWS)}")
            if word not in ROWS[row]:
                raise ValueError(f"{row} is {' or '.join(repr(x) for x in ROWS[row])}, not {word!r}")
        self.accept.value = "accepted"
        for row, word in prediction.items():
            self.rows[row].value = word

    def prediction(self):
        if self.accept.value != "accepted":
            return self.accept.value or None
        return {row: box.value or None for row, box in self.rows.items()}

    def check(self):
        """Run the call for real and compare it with the prediction (nothing is run before one is made)."""
        from forklab.engine.errors import CloneRefused, ForklabError
        from forklab.engine.experiment import run
        from forklab.explorer.picture import STYLE, render, view_of
        predicted = self.prediction()
        if predicted is None:
            self.status.text = ("Predict first: choose accepted or refused (and, for accepted, shared or not "
                                "for each row), then press Check.")
            return None
        try:
            self.observation = run("clone", self.flags)
        except CloneRefused as e:
            self.refusal = e
        except ForklabError as e:
            self.status.text = f"This call could not be tried here: {e}"
            return None
        flag_words = " | ".join(self.flags) or "no flags"
        if self.refusal is not None:
            e = self.refusal
            actual = "refused"
            detail = (f"<p>The kernel refused clone({html.escape(flag_words)}) with {e.errno_name}"
                      + (f" (rule: {html.escape(e.rule)})" if e.rule else "") + f": {html.escape(e.reason)}"
                      + (f" Fix: {html.escape(str(e.fix))}." if e.fix else "") + "</p>")
        else:
            res = self.observation.resources
            actual = {row: res[row].word for row in ROWS}
            items = []
            for row in ROWS:
                v, flag = res[row], _controls(row)
                said = predicted.get(row) if isinstance(predicted, dict) else None
                cause = f"{flag} ({FLAGS[flag].does}) is {'in' if flag in self.flags else 'not in'} the set"
                mark = "" if not isinstance(predicted, dict) else \
                    " (not predicted)" if said is None else f" (you said {said}, {_mark(said == v.word)})"
                items.append(f"<li><b>{html.escape(row)}</b>: {html.escape(v.word)}{mark} - {html.escape(cause)}</li>")
            detail = "<ul>" + "".join(items) + "</ul>"
            view = view_of("clone", self.flags, "SIGCHLD", observation=self.observation)
            self.picture.value = STYLE + render(view)
        self.checked = check_prediction(predicted, actual, about=f"clone({flag_words})")
        if predicted == "refused" or actual == "refused":
            why = "" if self.checked.right else (
                " The kernel refuses CLONE_SIGHAND without CLONE_VM and CLONE_THREAD without CLONE_SIGHAND; "
                "this set breaks neither rule." if actual != "refused" else
                " You predicted it accepted; the kernel refused it.")
            self.status.text = ("Right: " if self.checked.right else "Not quite: ") + (
                f"the kernel {'refused' if actual == 'refused' else 'accepted'} it." + why)
        else:
            wrong = [r for r in ROWS if predicted.get(r) != actual[r]]
            self.status.text = ("Right: every row as you predicted." if not wrong else
                                f"Not quite: {len(wrong)} of {len(ROWS)} rows differ: {', '.join(wrong)}.")
        self.answer_box.value = detail
        self.check_button.disabled = True
        return self.checked

    def _ipython_display_(self):
        from IPython.display import display
        display(self.widget)


def ask_me_another(kind: str = "fork tree", seed: int | None = None):
    """The "ask me another" widget for one kind of question: "fork tree", "fork loop" (Show the answer),
    "output order" (tick the orders a program can print, then run it) or "flag set" (predict a clone()
    call's verdicts, then run it)."""
    question(kind, 0 if seed is None else seed)     # a wrong kind or seed is refused before anything is drawn
    if kind == "output order":
        return OutputOrderAsk(seed)
    if kind == "flag set":
        return FlagSetAsk(seed)
    return AskMeAnother(kind, seed)

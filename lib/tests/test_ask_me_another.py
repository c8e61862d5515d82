"""forklab.course.ask_me_another: a new random question with one click, its answer hidden until asked for."""
import random

import pytest

pytest.importorskip("ipywidgets")
from forklab.course import ask_me_another as am# noqa: E402
from forklab.course.forkgame import random_program  # noqa: E402


def test_the_same_seed_gives_the_same_question_like_fork_py_s():
    for kind in am.KINDS:
        assert am.question(kind, 4172) == am.question(kind, 4172)
    assert len({am.question("fork loop", s).question for s in range(40)}) > 3


def test_a_fork_tree_question_is_the_fork_game():
    q = am.question("fork tree", 7)
    game = random_program(seed=7)
    assert str(game) in q.question and q.answer == game.answer()


@pytest.mark.parametrize("seed", range(12))
def test_a_fork_loop_answer_is_what_the_kernel_does(seed):
    """The answer's counts, checked by running the program for real (outside this process)."""
    from forklab.course import tree
    q = am.question("fork loop", seed)
    program = q.question.split("\nHow many")[0].replace("print('child', i)", "print('child', i, flush=True)")
    run = tree.run_python(program)
    assert q.answer.startswith(f"{run.count} processes, {len(run.outputs)} lines")


def test_the_widget_hides_the_answer_until_asked_and_asks_another_with_one_click():
    ask = am.AskMeAnother("fork loop", seed=3, rng=random.Random(1))
    assert "seed 3" in ask.heading.value and ask.answer_box.value == ""
    first = ask.current
    ask.reveal.click()
    assert ask.answer_box.value and "processes" in ask.answer_box.value and ask.reveal.disabled
    ask.another.click()
    assert ask.current.seed != 3 and ask.current != first
    assert ask.answer_box.value == "" and not ask.reveal.disabled, "a new question's answer is hidden again"
    assert f"seed {ask.current.seed}" in ask.heading.value


def test_a_wrong_kind_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="fork loop, fork tree"):
        am.ask_me_another("fork order")


# --- "output order" and "flag set": the prediction is made in the widget ------------------------

def _every_text(widget) -> str:
    """Every string a widget and its descendants hold (what the page and a stored notebook carry)."""
    import ipywidgets
    out = []
    todo = [widget]
    while todo:
        w = todo.pop()
        for name, value in w.get_state().items():
            if isinstance(value, str) and not value.startswith("IPY_MODEL_"):
                out.append(value)
            elif isinstance(value, list):
                out.extend(str(v) for v in value)
        for name in w.keys:
            value = getattr(w, name)
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, ipywidgets.Widget):
                    todo.append(v)
    return "\n".join(out)


def test_an_output_order_question_hides_its_answer_until_checked():
    ask = am.ask_me_another("output order", seed=5)
    shown = _every_text(ask.widget)
    assert "seed 5" in shown and "waitpid" in shown
    for answer_word in ("can happen:", "cannot happen", "Every order", "WRONG", "ticked, ", "Right"):
        assert answer_word not in shown, f"{answer_word!r} is on screen before the student ticked anything"
    assert ask.run_button.disabled, "the real runs (an answer) come after the check"
    with pytest.raises(RuntimeError, match="predict, then see"):
        ask.run()


def test_a_wrong_tick_is_named_with_its_reason():
    from forklab.course import output_orders as oo
    ask = am.ask_me_another("output order", seed=5)
    possible = oo.possible_orders(ask.program)
    impossible = next(o for o in ask.candidates if o not in possible)
    right = [oo.show_order(o) for o in ask.candidates if o in possible]
    ask.tick(*right, oo.show_order(impossible))
    result = ask.check()
    assert result.right is False
    assert oo.show_order(impossible) in ask.status.text and "1 of 5 wrong" in ask.status.text
    assert f"<b>{oo.show_order(impossible)}</b> (ticked, WRONG): cannot happen." in ask.answer_box.value
    assert all(b.disabled for b in ask.boxes) and ask.check_button.disabled and not ask.run_button.disabled
    with pytest.raises(RuntimeError, match="checked already"):
        ask.tick(*right)

    again = am.ask_me_another("output order", seed=5)
    again.tick(*right)
    assert again.check().right is True and again.status.text.startswith("Right")


def test_the_real_runs_are_shown_and_agree_with_the_model():
    ask = am.OutputOrderAsk(seed=7, runs=10)
    ask.check()
    runs = ask.run()
    assert sum(runs.orders.values()) == 10 and "none that the model calls impossible" in ask.status.text
    assert "NOT one the model allows" not in ask.runs_box.value


def test_an_order_the_model_forbids_is_reported_loudly(monkeypatch):
    from collections import Counter
    from forklab.course import output_orders as oo
    ask = am.OutputOrderAsk(seed=7, runs=3)
    impossible = next(o for o in oo.every_order(ask.program.letters()) if o not in oo.possible_orders(ask.program))
    monkeypatch.setattr(oo, "run_for_real", lambda program, runs: oo.RealRuns(Counter({impossible: 3}), 3))
    ask.check()
    ask.run()
    assert ask.status.text.startswith("BUG IN THE MODEL") and 'role="alert"' in ask.runs_box.value


def test_ask_another_order_question_starts_afresh():
    ask = am.OutputOrderAsk(seed=5, rng=random.Random(2))
    first = ask.candidates
    ask.tick(ask.boxes[0].description)
    ask.check()
    ask.another.click()
    assert ask.seed != 5 and f"seed {ask.seed}" in ask.heading.value
    assert ask.answer_box.value == "" and ask.status.text == "" and ask.run_button.disabled
    assert not any(b.value or b.disabled for b in ask.boxes) and (ask.candidates != first or ask.seed != 5)
    assert am.OutputOrderAsk(seed=ask.seed).candidates == ask.candidates, "a seed names its question"


def test_bad_ticks_and_seeds_name_the_valid_choices():
    ask = am.OutputOrderAsk(seed=5)
    letters = " ".join(ask.program.letters())
    with pytest.raises(ValueError, match=f"letters {letters}"):
        ask.tick("A A")
    not_offered = next(o for o in __import__("itertools").permutations(ask.program.letters())
                       if o not in ask.candidates)
    with pytest.raises(ValueError, match="not one of the orders offered: 'A B D C E'"):
        ask.tick(" ".join(not_offered))
    for seed in (-1, "7", 2.5, True):
        with pytest.raises(ValueError, match="whole number 0 or more"):
            am.ask_me_another("output order", seed=seed)
    with pytest.raises(ValueError, match="flag set, fork loop, fork tree, output order"):
        am.ask_me_another("output orders")


@pytest.mark.parametrize("seed", range(10))
def test_a_flag_set_is_refused_by_the_kernel_exactly_when_forklab_s_rules_say(seed):
    import forklab
    from forklab.engine.explain import einval_rule
    flags = am.random_flag_set(seed)
    assert flags == am.random_flag_set(seed)
    rule = einval_rule(forklab.parse_flags(list(flags)), "clone", "SIGCHLD")
    try:
        obs = forklab.run("clone", flags)
    except forklab.CloneRefused as e:
        assert rule is not None and e.rule == rule.name
    else:
        assert rule is None
        for row in am.ROWS:
            assert obs.resources[row].shared == (forklab.RESOURCES[row].flag in flags)


def test_flag_sets_are_mostly_accepted_sometimes_refused():
    import forklab
    from forklab.engine.explain import einval_rule
    refused = sum(einval_rule(forklab.parse_flags(list(am.random_flag_set(s))), "clone", "SIGCHLD") is not None
                  for s in range(200))
    assert 20 <= refused <= 80
    assert len({am.random_flag_set(s) for s in range(200)}) >= 15


def test_a_flag_set_question_runs_nothing_and_shows_no_verdict_before_a_prediction(monkeypatch):
    import forklab.engine.experiment
    ran = []
    monkeypatch.setattr(forklab.engine.experiment, "run", lambda *a, **k: ran.append(a))
    ask = am.ask_me_another("flag set", seed=1)
    shown = _every_text(ask.widget)
    assert "seed 1" in shown and "clone(child_fn" in shown
    for answer_word in ("EINVAL", "refused with", "is in the set", "Right", "Not quite"):
        assert answer_word not in shown
    assert ask.picture.value == "" and ask.answer_box.value == ""
    assert ask.check() is None and "Predict first" in ask.status.text and ran == []


def _rules_answer(flags):
    return {row: words[0] if __import__("forklab").RESOURCES[row].flag in flags else words[1]
            for row, words in am.ROWS.items()}


def test_a_flag_set_prediction_is_checked_row_by_row_against_the_kernel():
    seed = next(s for s in range(50) if "CLONE_VM" in am.random_flag_set(s) and "CLONE_FS" not in
                am.random_flag_set(s) and __import__("forklab").engine.explain.einval_rule(
                    __import__("forklab").parse_flags(list(am.random_flag_set(s))), "clone", "SIGCHLD") is None)
    ask = am.FlagSetAsk(seed=seed)
    answer = _rules_answer(ask.flags)
    ask.predict(dict(answer, fs="shared"))
    result = ask.check()
    assert result.right is False and "rows differ: fs" in ask.status.text
    assert "<b>fs</b>: copied (you said shared, WRONG)" in ask.answer_box.value
    assert 'data-resource="memory" data-word="shared"' in ask.picture.value, "the explorer's picture"
    assert ask.check_button.disabled

    ask.another.click()
    assert ask.picture.value == "" and ask.answer_box.value == "" and not ask.check_button.disabled
    assert ask.accept.value == "" and all(b.value == "" for b in ask.rows.values())
    ask.ask(seed)
    ask.predict(answer)
    assert ask.check().right is True and ask.status.text.startswith("Right")


def test_a_refused_flag_set_says_the_rule():
    import forklab
    seed = next(s for s in range(50) if forklab.engine.explain.einval_rule(
        forklab.parse_flags(list(am.random_flag_set(s))), "clone", "SIGCHLD") is not None)
    ask = am.FlagSetAsk(seed=seed)
    ask.predict(_rules_answer(ask.flags))
    assert ask.check().right is False and "the kernel refused it" in ask.status.text
    assert "EINVAL" in ask.answer_box.value and "Fix:" in ask.answer_box.value
    ask.ask(seed)
    ask.predict("refused")
    assert ask.check().right is True


def test_a_bad_flag_set_prediction_names_the_choices():
    ask = am.FlagSetAsk(seed=3)
    with pytest.raises(ValueError, match="the rows are: memory, fd_table, fs, signal_handlers, thread_group"):
        ask.predict({"memroy": "shared"})
    with pytest.raises(ValueError, match="thread_group is 'shared' or 'own', not 'copied'"):
        ask.predict({"thread_group": "copied"})
    with pytest.raises(ValueError, match="'refused' or a dict of rows"):
        ask.predict("accepted")

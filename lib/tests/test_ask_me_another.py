"""forklab.ask_me_another: a new random question with one click, its answer hidden until asked for."""
import random

import pytest

pytest.importorskip("ipywidgets")
from forklab import ask_me_another as am  # noqa: E402
from forklab.forkgame import random_program  # noqa: E402


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
    from forklab import tree
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

"""Predict, then see: a prediction is answered, forgivingly about form, strictly about substance."""
import pytest

from forklab import check_prediction


def test_no_prediction_says_how_to_make_one_and_reveals():
    c = check_prediction(None, 7, about="x in the parent")
    assert c.right is None and not c
    assert "x in the parent" in str(c) and "7" in str(c) and "set `prediction`" in str(c)


@pytest.mark.parametrize("predicted, actual", [
    (7, 7), ("  Parent ", "parent"), ([1, 2], (1, 2)), (["b", "a"], {"a", "b"}),
    ({"child": 0, "parent": "PID"}, {"child": 0, "parent": "pid"}), (True, True),
])
def test_same_substance_in_another_form_is_right(predicted, actual):
    c = check_prediction(predicted, actual, why="never said")
    assert c.right is True and c
    assert "right" in str(c) and "never said" not in str(c)


@pytest.mark.parametrize("predicted, actual", [(1, 7), ("child", "parent"), (1, True), ([1, 2], (2, 1)),
                                               ({"a"}, {"a", "b"})])
def test_a_wrong_prediction_gets_the_idea_it_missed(predicted, actual):
    c = check_prediction(predicted, actual, about="order", why="The parent is already on the CPU.")
    assert c.right is False
    assert str(c).startswith("order: you predicted") and str(c).endswith("The parent is already on the CPU.")


def test_own_comparison_and_unexpected_shapes():
    close = lambda p, a: abs(p - a) <= 1  # noqa: E731
    assert check_prediction(9, 10, same=close).right is True
    c = check_prediction("lots", 10, same=close)
    assert c.right is False and "could not be compared" in str(c)


def test_the_explanation_comes_from_the_course_not_the_cell():
    from forklab.course.prediction import explanation_for
    check = check_prediction(1, 1, about="x in the parent after fork()")
    assert check.why and "copy" in check.why
    # an entry that depends on the kernel's answer, and the " (recorded)" a recording adds to a question
    assert "scheduler" in explanation_for("who came first most of the time", "parent")
    assert "idle core" in explanation_for("who came first most of the time", "neither")
    assert explanation_for("the calls accepted as written (recorded)", []) == explanation_for("the calls accepted as written", [])
    assert explanation_for("a question the course never asks", 1) is None
    assert check_prediction(1, 2, about="x in the parent after fork()", why="given here").why == "given here"

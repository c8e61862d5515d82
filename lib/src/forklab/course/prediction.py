"""Predict, then see: one way for every notebook to answer a student's prediction.

A notebook asks before it reveals::

    prediction = None   # your answer: 1 or 7?

and the cell that reveals compares it with what the kernel did::

    forklab.check_prediction(prediction, 7 if memory.shared else 1, about="x in the parent after clone(CLONE_VM)")

The answer is the last line of the cell, so Jupyter shows it. Comparison forgives what a student
should not be marked down for: case and surrounding spaces in words, list versus tuple, a set
given as a list. Anything finer (a tolerance, one of several answers) goes in ``same``.

The explanation said after a check (``why``) is not written in the reveal cell: a student reads that cell's
source while predicting, so a sentence there would give the answer away. The course's explanations live in
``explanations.json`` beside this module, keyed by the question (``about``; a trailing " (recorded)" is
ignored), and are looked up when the check runs; an entry may depend on the kernel's answer
(``{"parent": "...", "*": "..."}``). Passing ``why=`` still works, for questions made up at run time.

Each check shown as a cell's result also records itself in that output's metadata
(``{"forklab": {"prediction": {question, predicted, actual, right, when}}}``): the record is saved in the
student's own notebook and nowhere else, and tools/misconceptions.py reads a class's handed-in notebooks.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Callable


@lru_cache(maxsize=1)
def _explanations() -> dict:
    return json.loads(resources.files(__package__).joinpath("explanations.json").read_text(encoding="utf-8"))


def explanation_for(about: str, actual: Any) -> str | None:
    """The course's explanation of a question (None if it has none), for the kernel's answer ``actual``."""
    entry = _explanations().get(about.removesuffix(" (recorded)"))
    if isinstance(entry, dict):
        return entry.get(str(actual), entry.get("*"))
    return entry


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, dict):
        return {_normal(k): _normal(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return frozenset(_normal(v) for v in value)
    if isinstance(value, (list, tuple)):
        return tuple(_normal(v) for v in value)
    return value


def _matches(predicted: Any, actual: Any) -> bool:
    p, a = _normal(predicted), _normal(actual)
    if isinstance(a, frozenset) and isinstance(p, tuple):
        p = frozenset(p)          # a set written as a list
    if isinstance(p, bool) or isinstance(a, bool):
        return type(p) is type(a) and p == a   # True is not 1 here: the question asked for a yes/no
    return p == a


@dataclass(frozen=True, repr=False)
class PredictionCheck:
    """A prediction compared with what the kernel did. ``right`` is None when nothing was predicted."""
    about: str
    predicted: Any
    actual: Any
    right: bool | None
    why: str | None = None
    when: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __bool__(self) -> bool:
        return self.right is True

    def __str__(self) -> str:
        subject = f"{self.about}: " if self.about else ""
        if self.right is None:
            return (f"{subject}the kernel did {self.actual!r}. You have not predicted yet: set `prediction` "
                    "in the cell above, run it, then run this cell again to check yourself.")
        if self.right:
            return f"{subject}you predicted {self.predicted!r} - right, the kernel did {self.actual!r}."
        text = f"{subject}you predicted {self.predicted!r}, the kernel did {self.actual!r}."
        return text + (f" {self.why}" if self.why else "")

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))

    def record(self) -> dict:
        """This answer as JSON: the question, the student's answer, the kernel's, whether right (None: no
        prediction made), and when."""
        return {"question": self.about, "predicted": _jsonable(self.predicted), "actual": _jsonable(self.actual),
                "right": self.right, "when": self.when}

    def _repr_mimebundle_(self, include=None, exclude=None):
        # Jupyter saves an output's metadata in the notebook: the record stays in the student's own file.
        return {"text/plain": str(self)}, {"forklab": {"prediction": self.record()}}


def _jsonable(value: Any) -> Any:
    """value in JSON: sets as sorted lists, tuples as lists; anything else JSON cannot hold as its repr()."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def check_prediction(prediction: Any, actual: Any, *, about: str = "", why: str | None = None,
                     same: Callable[[Any, Any], bool] | None = None) -> PredictionCheck:
    """Compare a student's ``prediction`` (None: not made) with ``actual``, what the kernel did.

    about: what was predicted, e.g. "x in the parent" (starts the sentence)
    why:   one sentence said only when the prediction was wrong: the idea the student missed
    same:  a comparison of your own, same(prediction, actual) -> bool
    """
    if why is None:
        why = explanation_for(about, actual)
    if prediction is None:
        return PredictionCheck(about, None, actual, None, why)
    try:
        right = bool(same(prediction, actual)) if same else _matches(prediction, actual)
    except Exception as e:      # a prediction of an unexpected shape is simply not right
        return PredictionCheck(about, prediction, actual, False,
                               f"(Your answer could not be compared: {e}.) " + (why or ""))
    return PredictionCheck(about, prediction, actual, right, why)

"""How every exercise checker judges an answer: one :class:`Verdict` per question, and :func:`judge` for the message.

A checker works out the exact answer from the student's own run and describes it as a Verdict: the question, the
truth, how to read the answer (a whole number, a number rounded to 2 decimals, or one of a few names), why the right
answer is right, a general hint, and the typical wrong answers with a hint of their own. :func:`judge` turns a
Verdict and an answer into the message the notebook prints; it never states the answer in a "Not quite" message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

YES_NO = ("yes", "no")
"""The names of a yes-or-no question (``True`` and ``False`` are read as yes and no)."""

_PLURALS = {"metastasis": "metastases"}
"""Class names whose plural is not the name plus ``s``."""


class _AnswerKey:
    """The type of :data:`ANSWER_KEY`."""

    def __repr__(self) -> str:
        return "exercises.ANSWER_KEY"


ANSWER_KEY = _AnswerKey()
"""Pass ``answer=exercises.ANSWER_KEY`` to a checker to get this run's answer (``"Answer: ..."``): the teacher's key
(docs/teaching.md)."""


@dataclass(frozen=True)
class Verdict:
    """What a checker compares: the exact answer, how to read and compare the student's, and what to say."""

    question: str
    truth: Any
    """The exact answer: a float ("decimal2"); an int or a tuple of the ints accepted ("count"); the tuple of the
    names accepted ("name", more than one where the run cannot tell them apart, e.g. tied values)."""
    kind: str  # "count" (whole number), "decimal2" (rounded to 2 decimals) or "name" (one of ``names``)
    why: str  # said after "Right:"
    hint: str  # said after "Not quite:"
    names: tuple[str, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()
    """Other spellings of the names: (spelling, name), e.g. ``("inconclusive", "contains 0")``."""
    mistakes: tuple[tuple[Any, str], ...] = ()
    """Typical wrong answers and the hint each gets: (the value such a mistake gives, what to say). A value that is
    also right is never used."""


def judge(answer: Any, verdict: Verdict) -> str:
    """The message for ``answer``: fill in, right (with why), not quite (with a hint), or the key."""
    if answer is None:
        return f"Fill in your answer (replace None): {verdict.question}"
    if answer is ANSWER_KEY:
        return f"Answer: {_stated(verdict)}. {verdict.why}"
    given = _read(answer, verdict)
    if given is None:
        wanted = {
            "count": "a whole number, e.g. 12",
            "decimal2": "a number, e.g. 0.25",
            "name": f"one of {list(verdict.names)}",
        }[verdict.kind]
        return f"Not quite: {answer!r} is not {wanted}. Hint: {verdict.hint}"
    if _matches(given, verdict.truth, verdict.kind):
        return f"Right: {given if verdict.kind != 'decimal2' else format(verdict.truth, '.2f')}. {verdict.why}"
    for value, hint in verdict.mistakes:
        if _matches(given, value, verdict.kind):
            return f"Not quite: {answer!r} is not it. {hint}"
    return f"Not quite: {answer!r} is not it. Hint: {verdict.hint}"


def _stated(verdict: Verdict) -> str:
    """The right answer as the key states it: the first accepted value, then the others ("also right")."""
    if verdict.kind == "decimal2":
        return f"{verdict.truth:.2f}"
    accepted = verdict.truth if isinstance(verdict.truth, tuple) else (verdict.truth,)
    others = f" (also right: {', '.join(str(a) for a in accepted[1:])})" if len(accepted) > 1 else ""
    return f"{accepted[0]}{others}"


def _matches(given: Any, truth: Any, kind: str) -> bool:
    """Whether the read answer ``given`` is ``truth`` (one value, or a tuple of accepted values)."""
    if kind == "decimal2":
        return abs(given - truth) <= 0.005 + 1e-9
    return given in truth if isinstance(truth, tuple) else given == truth


def _read(answer: Any, verdict: Verdict) -> Any:
    """The answer as the kind asked for (int, float or one of the names), or None if it cannot be one."""
    if verdict.kind == "name":
        return _read_name(answer, verdict)
    if isinstance(answer, (bool, np.bool_)):
        return None
    try:
        number = float(answer)
    except (TypeError, ValueError):
        return None
    if verdict.kind == "count":
        return int(number) if number.is_integer() else None
    return number if np.isfinite(number) else None


def _read_name(answer: Any, verdict: Verdict) -> str | None:
    """One of ``verdict.names``: in any case, in the plural, with ``-``, ``_`` or spaces alike, or an alias."""
    if isinstance(answer, (bool, np.bool_)):
        return ("yes" if answer else "no") if verdict.names == YES_NO else None
    spellings = {_normal(_plural(n)): n for n in verdict.names}
    spellings |= {_normal(spelling): name for spelling, name in verdict.aliases}
    spellings |= {_normal(n): n for n in verdict.names}
    return spellings.get(_normal(str(answer)))


def _normal(text: str) -> str:
    """Lower case, with ``-`` and ``_`` as spaces and runs of spaces as one: ``"CNN_AUG"`` -> ``"cnn aug"``."""
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


def _plural(name: str) -> str:
    return _PLURALS.get(name, f"{name}s")


def within(values: Mapping[Any, float], best: float, resolution: float) -> tuple:
    """The keys whose value is within ``resolution`` of ``best``: the answers a table or chart cannot tell apart."""
    return tuple(key for key, value in values.items() if abs(value - best) <= resolution + 1e-12)


def unless_right(mistakes: Iterable[tuple[Any, str]], truth: Any, kind: str) -> tuple[tuple[Any, str], ...]:
    """The mistakes whose value is not also a right answer (and is known: not None or NaN)."""
    kept = []
    for value, hint in mistakes:
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            continue
        if not _matches(value, truth, kind):
            kept.append((value, hint))
    return tuple(kept)

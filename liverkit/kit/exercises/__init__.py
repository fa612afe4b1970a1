"""Checks for the notebooks' exercises whose answer is a number, a name or a choice: write your answer, get a verdict.

Each checker takes what it needs explicitly (the lesions, the run folder, a trained GAN, a table the notebook
shows) and an ``answer``, and returns a short message: ``"Right: ..."`` with why, ``"Not quite: ..."`` with a hint
(never the answer; a typical wrong answer gets a hint of its own), or ``"Fill in your answer ..."`` while
``answer`` is None. The answer is worked out from your own run, so it holds for whatever profile, data and seed you
ran with. :func:`check` finds a checker by notebook and exercise number::

    exercises.check("01", 3, answer=17, lesions=lesions, fold_of=fold_of)
    exercises.check_01_class_in_fold(lesions, fold_of, answer=17)  # the same

Numbers asked "rounded to 2 decimals" count as right within 0.005 of the exact value; names may be given in any
case, with ``-``, ``_`` or spaces alike, and class names in the plural (``"Metastases"``). Where a table or chart
cannot tell two answers apart (tied values), each is right. A teacher gets this run's answer with
``answer=exercises.ANSWER_KEY`` (docs/teaching.md has the model answers and discussion points).

The checkers live by notebook: :mod:`~liverkit.kit.exercises.data_classic` (01, 02), :mod:`~liverkit.kit.exercises.gans`
(03, 04), :mod:`~liverkit.kit.exercises.augmentation` (05), :mod:`~liverkit.kit.exercises.maps_quality` (06, 07) and
:mod:`~liverkit.kit.exercises.visual_test` (08); :mod:`~liverkit.kit.exercises.verdict` judges every answer.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from liverkit.errors import LiverkitError
from liverkit.kit.exercises.augmentation import check_05_class_gain, check_05_dcgan_p_value
from liverkit.kit.exercises.data_classic import (
    check_01_class_in_fold,
    check_01_largest_k,
    check_02_dropout_group,
    check_02_groups_chosen,
    check_02_paper_group,
    exercise_01_class,
)
from liverkit.kit.exercises.gans import (
    CHART_RESOLUTION,
    check_03_least_varied_class,
    check_03_most_varied_epoch,
    check_04_class_head_accuracy,
    check_04_most_varied_epoch,
)
from liverkit.kit.exercises.maps_quality import (
    check_06_better_separated,
    check_06_gan_class_agreement,
    check_07_kid_interval,
    check_07_lower_recall,
)
from liverkit.kit.exercises.verdict import ANSWER_KEY
from liverkit.kit.exercises.visual_test import (
    check_08_better_than_guessing,
    check_08_same_seed_kappa,
    check_08_test_length,
)

CHECKERS: dict[tuple[str, int], Callable[..., str]] = {
    ("01", 2): check_01_largest_k,
    ("01", 3): check_01_class_in_fold,
    ("02", 1): check_02_paper_group,
    ("02", 2): check_02_groups_chosen,
    ("02", 3): check_02_dropout_group,
    ("03", 2): check_03_least_varied_class,
    ("03", 4): check_03_most_varied_epoch,
    ("04", 2): check_04_class_head_accuracy,
    ("04", 4): check_04_most_varied_epoch,
    ("05", 1): check_05_class_gain,
    ("05", 2): check_05_dcgan_p_value,
    ("06", 1): check_06_better_separated,
    ("06", 3): check_06_gan_class_agreement,
    ("07", 1): check_07_kid_interval,
    ("07", 2): check_07_lower_recall,
    ("08", 1): check_08_better_than_guessing,
    ("08", 2): check_08_test_length,
    ("08", 3): check_08_same_seed_kappa,
}
"""The checkable exercises: (notebook number, exercise number) -> checker."""


def exercise_table() -> pd.DataFrame:
    """The checkable exercises: notebook, exercise, checker and what it needs besides the answer."""
    rows = []
    for (notebook, number), checker in CHECKERS.items():
        rows.append(
            {"notebook": notebook, "exercise": number, "checker": checker.__name__, "needs": ", ".join(_needs(checker))}
        )
    return pd.DataFrame(rows)


def _needs(checker: Callable[..., str]) -> list[str]:
    """The inputs a checker needs besides the answer (those without a default)."""
    parameters = inspect.signature(checker).parameters.values()
    return [p.name for p in parameters if p.name != "answer" and p.default is inspect.Parameter.empty]


def check(notebook: str | int, exercise: int, answer: Any = None, **inputs: Any) -> str:
    """Check ``answer`` to exercise ``exercise`` of ``notebook`` (``"01"``, ``"01_data"`` or ``1``).

    Args:
        inputs: what that exercise's checker needs, by name (see :func:`exercise_table`), e.g. ``run=run``.

    Raises:
        LiverkitError: for an exercise that has no checker, or missing or unknown inputs.
    """
    key = (_notebook_number(notebook), exercise)
    if key not in CHECKERS:
        known = ", ".join(f"{n}/{e}" for n, e in CHECKERS)
        raise LiverkitError(f"notebook {key[0]} has no checkable exercise {exercise!r}; checkable: {known}.")
    checker = CHECKERS[key]
    try:
        bound = inspect.signature(checker).bind(answer=answer, **inputs)
    except TypeError as error:
        raise LiverkitError(f"exercise {key[0]}/{exercise} needs {_needs(checker)} as keywords ({error}).") from None
    return checker(*bound.args, **bound.kwargs)


def _notebook_number(notebook: str | int) -> str:
    """``"01"`` from ``"01"``, ``"01_data"``, ``"01_data.ipynb"`` or ``1``."""
    match = re.match(r"\d+", str(notebook))
    if match is None:
        raise LiverkitError(f"notebook {notebook!r} is not a notebook number or name like '01' or '01_data'.")
    return f"{int(match.group()):02d}"


__all__ = [
    "ANSWER_KEY",
    "CHART_RESOLUTION",
    "CHECKERS",
    "check",
    "exercise_01_class",
    "exercise_table",
    *sorted(checker.__name__ for checker in CHECKERS.values()),
]

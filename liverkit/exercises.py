"""Checks for the notebooks' exercises whose answer is a number or a name: write your answer, get a verdict.

Each checker takes what it needs explicitly (the lesions, the run folder, a trained GAN) and an ``answer``, and
returns a short message: ``"Right: ..."`` with why, ``"Not quite: ..."`` with a hint (never the answer), or
``"Fill in your answer ..."`` while ``answer`` is None. The answer is worked out from your own run, so it holds
for whatever profile, data and seed you ran with. :func:`check` finds a checker by notebook and exercise number::

    exercises.check("01", 3, answer=17, lesions=lesions, fold_of=fold_of)
    exercises.check_01_class_in_fold(lesions, fold_of, answer=17)  # the same

Numbers asked "rounded to 2 decimals" count as right within 0.005 of the exact value; class names may be given
in any case and in the plural (``"Metastases"``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.runs import RunFolder
from liverkit.train.gan import TrainedGAN

_PLURALS = {"metastasis": "metastases"}
"""Class names whose plural is not the name plus ``s``."""


@dataclass(frozen=True)
class _Verdict:
    """What a checker compares: the exact answer, how to read and compare the student's, and what to say."""

    question: str
    truth: Any  # the exact answer; for "name", the tuple of names accepted
    kind: str  # "count" (whole number), "decimal2" (rounded to 2 decimals) or "name" (one of ``names``)
    why: str  # said after "Right:"
    hint: str  # said after "Not quite:"
    names: tuple[str, ...] = ()
    mistakes: tuple[tuple[Any, str], ...] = ()
    """Typical wrong answers and the hint each gets: (the value such a mistake gives, what to say)."""


def _judge(answer: Any, verdict: _Verdict) -> str:
    """The message for ``answer``: fill in, right (with why) or not quite (with a hint)."""
    if answer is None:
        return f"Fill in your answer (replace None): {verdict.question}"
    given = _read(answer, verdict)
    if given is None:
        wanted = {
            "count": "a whole number, e.g. 12",
            "decimal2": "a number, e.g. 0.25",
            "name": f"one of {list(verdict.names)}",
        }[verdict.kind]
        return f"Not quite: {answer!r} is not {wanted}. Hint: {verdict.hint}"
    right, shown = _compare(given, verdict)
    if right:
        return f"Right: {shown}. {verdict.why}"
    for value, hint in verdict.mistakes:
        if _compare(given, _Verdict("", value, verdict.kind, "", "", verdict.names))[0]:
            return f"Not quite: {answer!r} is not it. {hint}"
    return f"Not quite: {answer!r} is not it. Hint: {verdict.hint}"


def _compare(given: Any, verdict: _Verdict) -> tuple[bool, str]:
    """(is it right, the answer as the verdict states it); a ``name`` verdict's truth is the tuple of names accepted."""
    if verdict.kind == "decimal2":
        return abs(given - verdict.truth) <= 0.005 + 1e-9, f"{verdict.truth:.2f}"
    if verdict.kind == "name":
        return given in verdict.truth, given
    return given == verdict.truth, f"{verdict.truth}"


def _read(answer: Any, verdict: _Verdict) -> Any:
    """The answer as the kind asked for (int, float or a canonical class name), or None if it cannot be one."""
    if isinstance(answer, (bool, np.bool_)):
        return None
    if verdict.kind == "name":
        text = str(answer).strip().lower()
        return next((n for n in verdict.names if text in (n.lower(), _plural(n).lower())), None)
    try:
        number = float(answer)
    except (TypeError, ValueError):
        return None
    if verdict.kind == "count":
        return int(number) if number.is_integer() else None
    return number if np.isfinite(number) else None


def _plural(name: str) -> str:
    return _PLURALS.get(name, f"{name}s")


# ---------------------------------------------------------------------------------------------- the checkers
def exercise_01_class(lesions: LesionSet) -> str:
    """The class notebook 01's exercise 3 asks about: the data's second class (the phantom's metastases), or its
    only class. Chosen from the class list alone, so every run on the same data asks the same question."""
    names = lesions.class_names
    return names[1] if len(names) > 1 else names[0]


def check_01_class_in_fold(
    lesions: LesionSet, fold_of: np.ndarray, answer: Any = None, fold: int = 1, class_name: str | None = None
) -> str:
    """Notebook 01, exercise 3: how many lesions of class ``class_name`` are in fold ``fold``'s test set?

    Args:
        class_name: one of ``lesions.class_names``; None asks about :func:`exercise_01_class` (on the phantom:
            metastasis), so the exercise fits whatever data the run loaded.
    """
    fold_of = np.asarray(fold_of)
    if fold not in set(fold_of.tolist()):
        raise LiverkitError(f"there is no fold {fold}; the folds are {sorted(set(fold_of.tolist()))}.")
    name = exercise_01_class(lesions) if class_name is None else class_name
    if name not in lesions.class_names:
        raise LiverkitError(
            f"class_name {name!r} is not a class of these lesions; choose one of {list(lesions.class_names)}."
        )
    in_fold = fold_of == fold
    truth = int((lesions.labels[in_fold] == lesions.class_names.index(name)).sum())
    verdict = _Verdict(
        question=f"how many lesions of class {name!r} are in fold {fold}'s test set?",
        truth=truth,
        kind="count",
        why=f"Fold {fold} tests on {int(in_fold.sum())} lesions; every patient's lesions are all in it or all out.",
        hint="the fold table above counts the lesions of every class in each fold (a fold is its own test set).",
    )
    return _judge(answer, verdict)


def check_02_paper_group(run: RunFolder, answer: Any = None) -> str:
    """Notebook 02, exercise 1: which classic group (training samples per fold) did the paper's choice pick?"""
    metrics = run.read_metrics("02_classic_augmentation")
    verdict = _Verdict(
        question="which classic group (training samples per fold) did the paper's choice pick?",
        truth=int(metrics["paper_group"]),
        kind="count",
        why="The paper's choice takes the group with the best pooled test accuracy (ties: the smaller group), so "
        "the test folds themselves picked it.",
        hint="in the sweep table, find the group with the highest pooled accuracy (on a tie, the smaller group).",
    )
    return _judge(answer, verdict)


CHART_RESOLUTION = 0.01
"""Differences of collapse ratios below this cannot be read off notebook 03's chart: such classes count as tied."""


def check_03_least_varied_class(run: RunFolder, answer: Any = None) -> str:
    """Notebook 03, exercise 2: which class's DCGANs end training with the lowest collapse ratio?"""
    ratios = run.read_metrics("03_dcgan")["collapse_ratio_by_class"]
    low = min(ratios.values())
    # the chart cannot tell 0.8005 from 0.8006: every class within its resolution of the lowest is a right answer
    lowest = tuple(name for name, ratio in ratios.items() if ratio <= low + CHART_RESOLUTION)
    tied = f" (within {CHART_RESOLUTION} of it, so as low on the chart: {', '.join(lowest)})" if len(lowest) > 1 else ""
    verdict = _Verdict(
        question="which class's DCGANs end training with the lowest collapse ratio (least varied samples), "
        "averaged over the folds?",
        truth=lowest,
        kind="name",
        names=tuple(ratios),
        why=f"Its ratio is {low:.3f}{tied} (1 = as varied as the real lesions); look at its samples in the epoch "
        "scrubber: do they repeat each other?",
        hint="in the mode-collapse chart, read each class's ratio at the last epoch and average it over the folds, "
        "or print run.read_metrics('03_dcgan').",
    )
    return _judge(answer, verdict)


def check_04_class_head_accuracy(gan: TrainedGAN | Mapping[str, TrainedGAN], answer: Any = None) -> str:
    """Notebook 04, exercise 2: how often did the ACGAN's class head name the class of a generated image in its
    last epoch (``acc_fake``, averaged over that epoch's steps, rounded to 2 decimals)?

    Args:
        gan: the ACGAN (a TrainedGAN), or a fold's ``{class name: TrainedGAN}`` such as ``trained[0]``.
    """
    gan = next(iter(gan.values())) if isinstance(gan, Mapping) else gan
    if "acc_fake" not in gan.history.columns or gan.history.empty:
        raise LiverkitError("this GAN has no class head accuracy (acc_fake): pass an ACGAN from notebook 04.")
    last = gan.history[gan.history.epoch == gan.history.epoch.max()]
    truth = float(last.acc_fake.mean())
    chance = 1 / len(gan.class_names)
    verdict = _Verdict(
        question="in its last epoch, how often did the ACGAN's class head name the right class of a generated "
        "image (acc_fake, averaged over the epoch's steps, rounded to 2 decimals)?",
        truth=truth,
        kind="decimal2",
        why=f"Chance with {len(gan.class_names)} classes is {chance:.2f}: "
        + ("the generated images carry their class." if truth > chance else "the class does not show (yet)."),
        hint="the bottom panel of the training curves is the class head's accuracy; the `history` table holds "
        "the numbers, one row per step, with an `epoch` column.",
    )
    return _judge(answer, verdict)


def check_05_dcgan_p_value(run: RunFolder, answer: Any = None) -> str:
    """Notebook 05, exercise 2: the adjusted p-value of the primary comparison of the DCGAN arm (against the
    same-size control at the same size), rounded to 2 decimals."""
    numbers = run.read_metrics("05_gan_augmentation")
    primary = numbers["primary"]["dcgan"]
    p_value = float(primary["p_adjusted"])
    meaning = (
        "Below 0.05: the family-adjusted test rejects, and the verdict says so."
        if p_value < 0.05
        else "0.05 or more: the adjusted test does not reject, so the verdict is 'inconclusive': this run neither "
        "shows that DCGAN lesions beat extra classic variants nor that they do not."
    )
    secondary = numbers["comparisons"].get("dcgan_vs_classic_control_honest", {})
    mistakes = ((float(primary["p_value"]), "That is the unadjusted p-value: use the one adjusted for the family."),)
    if secondary.get("p_adjusted") is not None:
        mistakes += (
            (
                float(secondary["p_adjusted"]),
                "That is the secondary comparison (each arm at its own size): read "
                "the primary one, both arms at the same size.",
            ),
        )
    verdict = _Verdict(
        question="what was the adjusted p-value of the primary comparison, classic + DCGAN against the same-size "
        "control at the same size, rounded to 2 decimals?",
        truth=p_value,
        kind="decimal2",
        why=meaning,
        hint="the printout of the paired comparisons starts with the [primary] ones; the adjusted p is in brackets.",
        mistakes=tuple((v, h) for v, h in mistakes if abs(v - p_value) > 0.005),
    )
    return _judge(answer, verdict)


# ---------------------------------------------------------------------------------------------- by number
CHECKERS: dict[tuple[str, int], Callable[..., str]] = {
    ("01", 3): check_01_class_in_fold,
    ("02", 1): check_02_paper_group,
    ("03", 2): check_03_least_varied_class,
    ("04", 2): check_04_class_head_accuracy,
    ("05", 2): check_05_dcgan_p_value,
}
"""The checkable exercises: (notebook number, exercise number) -> checker."""


def exercise_table() -> pd.DataFrame:
    """The checkable exercises: notebook, exercise, checker and what it needs besides the answer."""
    rows = []
    for (notebook, number), checker in CHECKERS.items():
        needs = [p for p in inspect.signature(checker).parameters if p != "answer"]
        rows.append({"notebook": notebook, "exercise": number, "checker": checker.__name__, "needs": ", ".join(needs)})
    return pd.DataFrame(rows)


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
        needs = [p for p in inspect.signature(checker).parameters if p != "answer"]
        raise LiverkitError(f"exercise {key[0]}/{exercise} needs {needs} as keywords ({error}).") from None
    return checker(*bound.args, **bound.kwargs)


def _notebook_number(notebook: str | int) -> str:
    """``"01"`` from ``"01"``, ``"01_data"``, ``"01_data.ipynb"`` or ``1``."""
    match = re.match(r"\d+", str(notebook))
    if match is None:
        raise LiverkitError(f"notebook {notebook!r} is not a notebook number or name like '01' or '01_data'.")
    return f"{int(match.group()):02d}"

"""Checkers for notebook 01 (the data and its folds) and notebook 02 (classic augmentation)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from liverkit.data.folds import patients_per_class
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit.exercises.verdict import Verdict, judge, unless_right, within


# ---------------------------------------------------------------------------------------------- notebook 01
def check_01_largest_k(lesions: LesionSet, answer: Any = None) -> str:
    """Notebook 01, exercise 2: the largest number of folds ``k`` that ``folds.patient_folds`` accepts.

    Every fold needs a test patient of every class, so the answer is the patient count of the rarest class.
    """
    per_class = patients_per_class(lesions)
    rarest = min(per_class, key=per_class.get)
    fewest = per_class[rarest]
    if fewest < 2:
        raise LiverkitError(f"class '{rarest}' has {fewest} patient(s): these lesions cannot be split into folds.")
    lesions_per_class = lesions.class_counts()
    mistakes = [
        (
            max(per_class.values()),
            "That is the patients of the most common class; every class needs a test patient "
            "in every fold, so the class with the fewest patients sets the limit.",
        ),
        (
            min(lesions_per_class.values()),
            "That counts lesions; the folds are split by patient, and a patient's "
            "lesions stay together, so count patients.",
        ),
        (len(lesions.patients), "That is every patient; each fold needs a test patient of every class."),
    ]
    if fewest - 1 >= 2:
        mistakes.append(
            (fewest - 1, "The kit accepts that k, but is it the largest? Try larger ones: the error names the limit.")
        )
    verdict = Verdict(
        question="what is the largest number of folds k that folds.patient_folds accepts for these lesions?",
        truth=fewest,
        kind="count",
        why=f"Class '{rarest}' has {fewest} patients, the fewest: with more folds, some fold would test no patient "
        "of it, and its sensitivity could not be measured there.",
        hint="try folds.patient_folds(lesions, k=40): the error names the rarest class; or add up the "
        "'<class> patients' columns of folds.fold_table over the folds.",
        mistakes=unless_right(mistakes, fewest, "count"),
    )
    return judge(answer, verdict)


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
    folds = sorted(set(fold_of.tolist()))
    if fold not in folds:
        raise LiverkitError(f"there is no fold {fold}; the folds are {folds}.")
    name = exercise_01_class(lesions) if class_name is None else class_name
    if name not in lesions.class_names:
        raise LiverkitError(
            f"class_name {name!r} is not a class of these lesions; choose one of {list(lesions.class_names)}."
        )
    of_class = lesions.labels == lesions.class_names.index(name)
    in_fold = fold_of == fold
    truth = int((of_class & in_fold).sum())
    patients = len(np.unique(lesions.patient_ids[of_class & in_fold]))
    mistakes = [
        (int((of_class & (fold_of == other)).sum()), f"That is fold {other}'s count; read the row of fold {fold}.")
        for other in folds
        if other != fold
    ]
    mistakes += [
        (int(of_class.sum()), "That is the class's lesions in all folds together; read one fold's row."),
        (patients, "That counts patients; the question asks about lesions (a patient can have several)."),
    ]
    verdict = Verdict(
        question=f"how many lesions of class {name!r} are in fold {fold}'s test set?",
        truth=truth,
        kind="count",
        why=f"Fold {fold} tests on {int(in_fold.sum())} lesions; every patient's lesions are all in it or all out.",
        hint="the fold table above counts the lesions of every class in each fold (a fold is its own test set).",
        mistakes=unless_right(mistakes, truth, "count"),
    )
    return judge(answer, verdict)


# ---------------------------------------------------------------------------------------------- notebook 02
def check_02_paper_group(run: RunFolder, answer: Any = None) -> str:
    """Notebook 02, exercise 1: which classic group (training samples per fold) did the paper's choice pick?"""
    metrics = run.read_metrics("02_classic_augmentation")
    truth = int(metrics["paper_group"])
    honest = Counter(metrics.get("honest_groups", [])).most_common(1)
    mistakes = [
        (
            max(int(g) for g in metrics["groups"]),
            "That is the largest group; the paper's choice is the most accurate one, which need not be the largest.",
        )
    ]
    if honest:
        mistakes.append(
            (
                honest[0][0],
                "That is the group the honest choice picked most often (on inner splits); "
                "the paper's choice used the test folds' pooled accuracy.",
            )
        )
    verdict = Verdict(
        question="which classic group (training samples per fold) did the paper's choice pick?",
        truth=truth,
        kind="count",
        why="The paper's choice takes the group with the best pooled test accuracy (ties: the smaller group), so "
        "the test folds themselves picked it.",
        hint="in the sweep table, find the group with the highest pooled accuracy (on a tie, the smaller group).",
        mistakes=unless_right(mistakes, truth, "count"),
    )
    return judge(answer, verdict)


def check_02_groups_chosen(run: RunFolder, answer: Any = None) -> str:
    """Notebook 02, exercise 2: how many different groups did the honest choice pick over all repeats and folds?"""
    metrics = run.read_metrics("02_classic_augmentation")
    if "honest_groups" not in metrics:
        raise LiverkitError("this run made no honest choice (no inner folds): set inner_folds >= 2 and rerun 02.")
    chosen = [int(g) for g in metrics["honest_groups"]]
    truth = len(set(chosen))
    mistakes = [
        (len(metrics["groups"]), "That is how many groups the sweep tried; count the groups the choice picked."),
        (len(chosen), "That counts every (repeat, fold); count each different group once."),
    ]
    meaning = (
        "The same group every time: whichever patients were held out, the inner validation preferred it."
        if truth == 1
        else "The choice moved between (repeat, fold)s: the groups score close to each other on the inner splits, "
        "and which one wins is partly the luck of the split."
    )
    verdict = Verdict(
        question="how many different groups did the honest choice pick, over all repeats and folds of the choice "
        "table?",
        truth=truth,
        kind="count",
        why=f"{meaning} (Each repeat draws its own folds: fold 0 of two repeats holds different patients.)",
        hint="the choice table has one cell per (fold, repeat); count the different group sizes in it.",
        mistakes=unless_right(mistakes, truth, "count"),
    )
    return judge(answer, verdict)


def check_02_dropout_group(with_dropout: pd.DataFrame, without_dropout: pd.DataFrame, answer: Any = None) -> str:
    """Notebook 02, exercise 3: which group's pooled accuracy falls most when the CNN trains without dropout?

    Args:
        with_dropout: the notebook's sweep table (``table``: columns ``group`` and ``accuracy``).
        without_dropout: ``experiment.sweep_table`` of the same sweep trained with ``dropout=0.0``.
    """
    before = _accuracy_by_group(with_dropout, "with_dropout")
    after = _accuracy_by_group(without_dropout, "without_dropout")
    if set(before) != set(after):
        raise LiverkitError(
            f"the two sweep tables have different groups ({sorted(before)} and {sorted(after)}); train the sweep "
            "without dropout on the same groups (cfg.classic_groups)."
        )
    drop = {g: before[g] - after[g] for g in before}
    largest = max(drop.values())
    truth = within(drop, largest, 1e-9)
    mistakes = [
        (
            min(after, key=after.get),
            "That group has the lowest accuracy without dropout; the question is which "
            "lost most: accuracy with dropout minus without, per group.",
        ),
        (
            min(drop, key=drop.get),
            "That group changed least (or gained); subtract the other way round: with dropout minus without.",
        ),
    ]
    g = truth[0]
    change = (
        f"Group {g}: {before[g]:.3f} with dropout, {after[g]:.3f} without."
        if largest > 0
        else f"No group lost accuracy without dropout in this run; group {g} gained least ({before[g]:.3f} with "
        f"dropout, {after[g]:.3f} without)."
    )
    verdict = Verdict(
        question="which group's pooled accuracy falls most when the CNN trains without dropout?",
        truth=truth,
        kind="count",
        why=f"{change} Dropout fights overfitting, which is worst where a model sees few distinct images; compare "
        "the drop with the groups' interval widths before calling it real.",
        hint="subtract, group by group, the accuracy without dropout from the accuracy with it; the largest "
        "difference answers.",
        mistakes=unless_right(mistakes, truth, "count"),
    )
    return judge(answer, verdict)


def _accuracy_by_group(table: pd.DataFrame, name: str) -> dict[int, float]:
    """``{group: pooled accuracy}`` from a sweep table (``experiment.sweep_table``)."""
    if not {"group", "accuracy"} <= set(table.columns):
        raise LiverkitError(
            f"{name} needs the columns 'group' and 'accuracy' (experiment.sweep_table); it has {list(table.columns)}."
        )
    return {int(g): float(a) for g, a in zip(table["group"], table["accuracy"], strict=True)}

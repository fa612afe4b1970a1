"""Patient-level stratified cross-validation folds (notebook 01; used by every experiment).

All lesions of a patient fall into the same fold, so no test patient's anatomy, scanner noise or
lesion can reach augmentation, GAN training or model choice. Lesions with identical pixels (the same image
listed twice, often under two patient ids in public sets) also share a fold. Folds are balanced over the
classes as far as this grouping allows (scikit-learn's StratifiedGroupKFold). :func:`check_splittable` says
before any training whether the data can be split at all.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError


def patient_folds(lesions: LesionSet, k: int = 3, seed: int = 0) -> np.ndarray:
    """Assign every lesion to one of ``k`` folds, grouped by patient and stratified by class.

    Lesions with identical images are kept in one fold: the patients they belong to are treated as one patient
    for the split (:func:`split_groups`), so a duplicated image cannot be both trained on and tested. Data
    without duplicates (the phantom) is split exactly by patient.

    Args:
        lesions: the data set to split.
        k: number of folds (the paper uses 3).
        seed: shuffles patients before stratification; the same seed gives the same folds.

    Returns:
        An int array with one fold number in ``range(k)`` per lesion.
    """
    _check_foldable(lesions, k)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    fold_of = np.full(len(lesions), -1, dtype=np.int64)
    dummy_x = np.zeros((len(lesions), 1))
    for fold, (_, test_index) in enumerate(splitter.split(dummy_x, lesions.labels, groups=split_groups(lesions))):
        fold_of[test_index] = fold
    return fold_of


def _check_foldable(lesions: LesionSet, k: int) -> None:
    """Refuse splits that cannot give every fold a test patient of every class."""
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise LiverkitError(f"the number of folds k must be an integer >= 2, got {k!r}.")
    _refuse_thin_classes(patients_per_class(lesions), k, "k")


def _refuse_thin_classes(counts: dict[str, int], k: int, setting: str) -> None:
    """Refuse a class with fewer patients than folds: every fold needs a test patient of every class.

    The message names the rarest class (the fewest patients; the first of a tie) and the largest number of folds
    the data allows, which is that class's patient count: naming the first class that fails instead would
    suggest a ``k`` that fails again on a rarer class.

    Args:
        counts: split groups (patients) per class name.
        k: the number of folds.
        setting: how the user sets the number of folds (``k`` in code, ``--set n_folds`` for a run).
    """
    for name, count in counts.items():
        if count == 0:
            raise LiverkitError(f"class '{name}' has no lesions; drop it from class_names or add lesions of it.")
    rarest = min(counts, key=counts.get)
    fewest = counts[rarest]
    if fewest >= k:
        return
    if fewest >= 2:
        remedy = f"It is the rarest class: use at most {fewest} folds ({setting}={fewest}), the most this data allows"
    else:
        remedy = "It is the rarest class, and no split works while a class has fewer than 2 patients"
    raise LiverkitError(
        f"the split needs a test patient of every class in each of its {k} folds, but class '{rarest}' has "
        f"{fewest} patient(s). {remedy}; or add patients of class '{rarest}'."
    )


def patients_per_class(lesions: LesionSet) -> dict[str, int]:
    """How many split groups (patients, merged over duplicate images) hold lesions of each class: the most folds
    the data allows is the smallest of them (notebook 01, exercise 2)."""
    groups = split_groups(lesions)
    return {name: len(np.unique(groups[lesions.labels == k])) for k, name in enumerate(lesions.class_names)}


def check_splittable(lesions: LesionSet, n_folds: int, inner_folds: int | None = None) -> None:
    """Refuse data that cannot be split into ``n_folds`` outer and ``inner_folds`` inner folds, before any training.

    Every outer fold needs a test patient of every class; the inner split (model choice inside each outer
    training fold, :func:`liverkit.experiment.classic_sweep.inner_splits`) needs ``inner_folds`` patients of every class
    among the outer training patients, of which a class keeps at least ``patients - ceil(patients / n_folds)``.

    Args:
        lesions: the data set.
        n_folds: outer folds (the profile's ``n_folds``).
        inner_folds: inner folds (the profile's ``inner_folds``); None or < 2 means no inner split.
    """
    present = sorted(set(lesions.labels.tolist()))
    if len(present) < 2:
        names = [lesions.class_names[k] for k in present]
        raise LiverkitError(
            f"the data has lesions of {len(present)} class(es) {names}; a classifier needs at least 2. "
            "Add lesions of another class."
        )
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise LiverkitError(f"n_folds must be an integer >= 2, got {n_folds!r}; set it with --set n_folds=3.")
    counts = patients_per_class(lesions)
    fewest = min(counts.values())
    _refuse_thin_classes(counts, n_folds, "--set n_folds")
    if inner_folds is None or inner_folds < 2:
        return
    kept = {name: count - math.ceil(count / n_folds) for name, count in counts.items()}
    name = min(kept, key=kept.get)
    if kept[name] < inner_folds:
        raise LiverkitError(
            f"the inner split (model choice inside each training fold) needs {inner_folds} patients of every class "
            f"among a fold's training patients, but class '{name}' has {counts[name]} patient(s), of which a "
            f"training fold of the {n_folds}-fold split keeps as few as {kept[name]}. Use fewer inner folds "
            f"(--set inner_folds={max(2, kept[name])}) or outer folds (--set n_folds=...), or add data "
            f"(the smallest class has {fewest} patient(s))."
        )


def split_groups(lesions: LesionSet) -> np.ndarray:
    """The group each lesion is split by: its patient id, with patients that share an identical image merged.

    A merged group is named by its smallest patient id, so data without duplicates gets its patient ids back.
    """
    groups = lesions.patient_ids
    duplicates = _duplicate_indices(lesions)
    if not duplicates:
        return groups
    parent = {patient: patient for patient in np.unique(groups).tolist()}

    def root(patient: str) -> str:
        while parent[patient] != patient:
            patient = parent[patient]
        return patient

    for index in duplicates:
        roots = sorted({root(str(groups[i])) for i in index})
        for other in roots[1:]:
            parent[other] = roots[0]
    return np.array([root(str(patient)) for patient in groups])


def _duplicate_indices(lesions: LesionSet) -> list[np.ndarray]:
    """Indices of lesions whose images are byte-identical, one array per group of two or more, in first order."""
    digests = [
        hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest() for image in lesions.images
    ]
    by_digest: dict[bytes, list[int]] = {}
    for i, digest in enumerate(digests):
        by_digest.setdefault(digest, []).append(i)
    return [np.array(index) for index in by_digest.values() if len(index) > 1]


def duplicate_images(lesions: LesionSet) -> list[list[str]]:
    """Groups of lesion ids whose images are identical (exact match of the pixels, by hashing their bytes).

    Public sets sometimes hold one image twice; in two folds it would be trained on and tested, and with two
    labels it cannot be classified. :func:`patient_folds` keeps each group in one fold.
    """
    return [lesions.ids[index].tolist() for index in _duplicate_indices(lesions)]


def duplicates_report(lesions: LesionSet, fold_of: np.ndarray) -> pd.DataFrame:
    """One row per group of identical images: ids, labels, folds, whether it spans folds, whether labels conflict."""
    fold_of = np.asarray(fold_of)
    rows = []
    for index in _duplicate_indices(lesions):
        labels = [lesions.class_names[k] for k in lesions.labels[index]]
        folds = fold_of[index].tolist()
        rows.append(
            {
                "ids": lesions.ids[index].tolist(),
                "labels": labels,
                "folds": folds,
                "across_folds": len(set(folds)) > 1,
                "labels_conflict": len(set(labels)) > 1,
            }
        )
    return pd.DataFrame(rows, columns=["ids", "labels", "folds", "across_folds", "labels_conflict"])


def split(lesions: LesionSet, fold_of: np.ndarray, test_fold: int) -> tuple[LesionSet, LesionSet]:
    """The (training, test) LesionSets for one fold, checked to share no patient."""
    fold_of = np.asarray(fold_of)
    if fold_of.shape != (len(lesions),):
        raise LiverkitError(f"fold array has shape {fold_of.shape}; expected one fold per lesion ({len(lesions)},).")
    if test_fold not in set(fold_of.tolist()):
        raise LiverkitError(f"fold {test_fold} does not exist; folds are {sorted(set(fold_of.tolist()))}.")
    train, test = lesions.subset(fold_of != test_fold), lesions.subset(fold_of == test_fold)
    check_disjoint(train.patient_ids, test.patient_ids, "the training and the test folds", "rebuild the folds.")
    return train, test


def check_disjoint(patients, other_patients, what: str, remedy: str) -> None:
    """The kit's one leak guard: no patient may be in both groups (training data and what it is judged on, a GAN's
    training set and the test fold, a quality reference and its held-out set).

    Args:
        patients, other_patients: patient ids of the two groups.
        what: the two groups, for the message ("the training and the test folds").
        remedy: what to do, for the message.
    """
    shared = sorted(set(np.asarray(patients).tolist()) & set(np.asarray(other_patients).tolist()))
    if shared:
        raise LiverkitError(f"patients {shared[:5]} are in both {what}; {remedy}")


def patients_in_several_folds(lesions: LesionSet, fold_of: np.ndarray) -> list[str]:
    """Patients whose lesions fall into more than one fold: empty for a patient-level split."""
    table = pd.DataFrame({"patient": lesions.patient_ids, "fold": np.asarray(fold_of)})
    folds_per_patient = table.groupby("patient")["fold"].nunique()
    return sorted(folds_per_patient.index[folds_per_patient > 1].tolist())


def fold_table(lesions: LesionSet, fold_of: np.ndarray) -> pd.DataFrame:
    """Lesions and patients per class in each fold: the table notebook 01 shows.

    Columns: the lesions of each class (named by the class), ``lesions`` (all classes), the patients with a
    lesion of each class (``<class> patients``), and ``patients`` (all; a patient with lesions of two classes
    counts once here and once in each of those classes' columns).
    """
    fold_of = np.asarray(fold_of)
    rows = []
    for fold in sorted(set(fold_of.tolist())):
        sel = fold_of == fold
        row: dict[str, object] = {"fold": fold}
        counts = np.bincount(lesions.labels[sel], minlength=len(lesions.class_names))
        row.update({name: int(c) for name, c in zip(lesions.class_names, counts, strict=True)})
        row["lesions"] = int(sel.sum())
        for k, name in enumerate(lesions.class_names):
            row[f"{name} patients"] = len(np.unique(lesions.patient_ids[sel & (lesions.labels == k)]))
        row["patients"] = len(np.unique(lesions.patient_ids[sel]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("fold")

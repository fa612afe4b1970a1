"""Patient-level stratified cross-validation folds (notebook 01; used by every experiment).

All lesions of a patient fall into the same fold, so no test patient's anatomy, scanner noise or
lesion can reach augmentation, GAN training or model choice. Folds are balanced over the classes as far
as the patient grouping allows (scikit-learn's StratifiedGroupKFold).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError


def patient_folds(lesions: LesionSet, k: int = 3, seed: int = 0) -> np.ndarray:
    """Assign every lesion to one of ``k`` folds, grouped by patient and stratified by class.

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
    for fold, (_, test_index) in enumerate(splitter.split(dummy_x, lesions.labels, groups=lesions.patient_ids)):
        fold_of[test_index] = fold
    return fold_of


def _check_foldable(lesions: LesionSet, k: int) -> None:
    """Refuse splits that cannot give every fold a test patient of every class."""
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise LiverkitError(f"the number of folds k must be an integer >= 2, got {k!r}.")
    for label, name in enumerate(lesions.class_names):
        patients = np.unique(lesions.patient_ids[lesions.labels == label])
        if len(patients) == 0:
            raise LiverkitError(f"class '{name}' has no lesions; drop it from class_names or add data.")
        if len(patients) < k:
            raise LiverkitError(
                f"class '{name}' has {len(patients)} patient(s), fewer than the {k} folds: every fold needs a "
                f"test patient of every class. Use fewer folds (k={max(2, len(patients))}) or add patients."
            )


def split(lesions: LesionSet, fold_of: np.ndarray, test_fold: int) -> tuple[LesionSet, LesionSet]:
    """The (training, test) LesionSets for one fold, checked to share no patient."""
    fold_of = np.asarray(fold_of)
    if fold_of.shape != (len(lesions),):
        raise LiverkitError(f"fold array has shape {fold_of.shape}; expected one fold per lesion ({len(lesions)},).")
    if test_fold not in set(fold_of.tolist()):
        raise LiverkitError(f"fold {test_fold} does not exist; folds are {sorted(set(fold_of.tolist()))}.")
    train, test = lesions.subset(fold_of != test_fold), lesions.subset(fold_of == test_fold)
    shared = set(train.patient_ids.tolist()) & set(test.patient_ids.tolist())
    if shared:
        raise LiverkitError(f"patients {sorted(shared)[:5]} appear in both training and test folds; rebuild the folds.")
    return train, test


def patients_in_several_folds(lesions: LesionSet, fold_of: np.ndarray) -> list[str]:
    """Patients whose lesions fall into more than one fold: empty for a patient-level split."""
    table = pd.DataFrame({"patient": lesions.patient_ids, "fold": np.asarray(fold_of)})
    folds_per_patient = table.groupby("patient")["fold"].nunique()
    return sorted(folds_per_patient.index[folds_per_patient > 1].tolist())


def fold_table(lesions: LesionSet, fold_of: np.ndarray) -> pd.DataFrame:
    """Lesions per class per fold, with patients and totals: the table notebook 01 shows."""
    fold_of = np.asarray(fold_of)
    rows = []
    for fold in sorted(set(fold_of.tolist())):
        sel = fold_of == fold
        row: dict[str, object] = {"fold": fold}
        counts = np.bincount(lesions.labels[sel], minlength=len(lesions.class_names))
        row.update({name: int(c) for name, c in zip(lesions.class_names, counts, strict=True)})
        row["lesions"] = int(sel.sum())
        row["patients"] = len(np.unique(lesions.patient_ids[sel]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("fold")

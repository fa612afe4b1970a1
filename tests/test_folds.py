"""Patient-level folds: no patient in two folds, classes balanced, clear refusals."""

import numpy as np
import pytest
from helpers import make_set

from liverkit import LiverkitError
from liverkit.data import folds


def _clinic(seed=0):
    """60 lesions, 3 classes, patients with 1-3 lesions of one class."""
    rng = np.random.default_rng(seed)
    labels, patients = [], []
    for p in range(30):
        cls = p % 3
        for _ in range(rng.integers(1, 4)):
            labels.append(cls)
            patients.append(f"P{p:02d}")
    return make_set(labels, patients=patients)


def test_no_patient_in_two_folds_and_every_lesion_assigned():
    s = _clinic()
    fold_of = folds.patient_folds(s, k=3, seed=0)
    assert fold_of.shape == (len(s),) and set(fold_of.tolist()) == {0, 1, 2}
    assert folds.patients_in_several_folds(s, fold_of) == []
    for f in range(3):
        train, test = folds.split(s, fold_of, f)
        assert len(train) + len(test) == len(s)
        assert not set(train.patient_ids) & set(test.patient_ids)


def test_folds_are_balanced_over_classes():
    s = _clinic()
    table = folds.fold_table(s, folds.patient_folds(s, k=3, seed=0))
    for name in s.class_names:
        per_fold = table[name].to_numpy()
        assert per_fold.min() >= 1
        assert per_fold.max() - per_fold.min() <= 4  # 20 lesions of a class in groups of 1-3
    assert table["lesions"].sum() == len(s)


def test_same_seed_same_folds_other_seed_differs():
    s = _clinic()
    a = folds.patient_folds(s, k=3, seed=0)
    assert np.array_equal(a, folds.patient_folds(s, k=3, seed=0))
    assert not np.array_equal(a, folds.patient_folds(s, k=3, seed=1))


def test_detects_a_patient_split_across_folds():
    s = make_set([0, 0, 1, 1], patients=["a", "a", "b", "c"])
    assert folds.patients_in_several_folds(s, np.array([0, 1, 0, 1])) == ["a"]
    with pytest.raises(LiverkitError, match=r"patients \['a'\] appear in both"):
        folds.split(s, np.array([0, 1, 0, 1]), 0)


def test_refuses_class_with_fewer_patients_than_folds():
    s = make_set([0, 0, 0, 1, 1, 2, 2, 2], patients=["a", "b", "c", "d", "d", "e", "f", "g"])
    with pytest.raises(LiverkitError, match="class 'b' has 1 patient"):
        folds.patient_folds(s, k=3)


def test_refuses_empty_class_and_bad_k():
    s = make_set([0, 0, 0, 1, 1, 1], class_names=("a", "b", "c"))
    with pytest.raises(LiverkitError, match="class 'c' has no lesions"):
        folds.patient_folds(s, k=3)
    with pytest.raises(LiverkitError, match="integer >= 2"):
        folds.patient_folds(s, k=1)
    with pytest.raises(LiverkitError, match="fold 7 does not exist"):
        folds.split(s, np.zeros(6, int), 7)

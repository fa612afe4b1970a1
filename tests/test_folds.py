"""Patient-level folds: no patient in two folds, classes balanced, clear refusals."""

import numpy as np
import pytest
from helpers import make_set
from sklearn.model_selection import StratifiedGroupKFold

from liverkit import LiverkitError
from liverkit.data import LesionSet, PhantomConfig, folds, make_phantom
from liverkit.data.folds import check_splittable, duplicate_images, duplicates_report, patient_folds, split_groups


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
    with pytest.raises(LiverkitError, match=r"patients \['a'\] are in both the training and the test folds"):
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


def _with_duplicates():
    """Eight lesions of eight patients: 0 and 3 share one image with opposite labels, 1 and 4 one with equal labels."""
    lesions = make_set([0, 0, 0, 1, 0, 1, 1, 1], class_names=("a", "b"))
    images = lesions.images.copy()
    images[3], images[4] = images[0], images[1]
    return LesionSet(
        images, lesions.labels, lesions.class_names, lesions.patient_ids, lesions.diameters_mm, lesions.ids, "test"
    )


def test_duplicate_images_are_grouped_and_reported():
    lesions = _with_duplicates()
    assert duplicate_images(lesions) == [["item-0", "item-3"], ["item-1", "item-4"]]
    report = duplicates_report(lesions, np.array([0, 1, 0, 1, 0, 1, 0, 1]))
    assert report["labels"].tolist() == [["a", "b"], ["a", "a"]]
    assert report["labels_conflict"].tolist() == [True, False]
    assert report["across_folds"].tolist() == [True, True]
    assert duplicates_report(make_set([0, 1, 2]), np.zeros(3)).empty


def test_patient_folds_keep_identical_images_in_one_fold():
    lesions = _with_duplicates()
    assert split_groups(lesions).tolist() == ["p0", "p1", "p2", "p0", "p1", "p5", "p6", "p7"]
    for seed in range(5):
        fold_of = patient_folds(lesions, k=2, seed=seed)
        assert fold_of[0] == fold_of[3] and fold_of[1] == fold_of[4]


def test_folds_without_duplicates_are_the_plain_patient_split():
    lesions = make_phantom(PhantomConfig(n_cyst=9, n_metastasis=8, n_hemangioma=7), seed=3)
    assert duplicate_images(lesions) == []
    for seed in (0, 1):
        plain = np.full(len(lesions), -1)
        splitter = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=seed)
        for fold, (_, test) in enumerate(splitter.split(np.zeros(len(lesions)), lesions.labels, lesions.patient_ids)):
            plain[test] = fold
        np.testing.assert_array_equal(patient_folds(lesions, k=3, seed=seed), plain)


def test_check_splittable_accepts_what_the_splits_can_do():
    lesions = make_set([0] * 6 + [1] * 6, class_names=("a", "b"))
    check_splittable(lesions, 3, 4)  # 6 patients per class: a training fold keeps 4
    check_splittable(lesions, 6, None)
    with pytest.raises(LiverkitError, match=r"inner split .* needs 5 .*--set inner_folds=4"):
        check_splittable(lesions, 3, 5)
    with pytest.raises(LiverkitError, match=r"split .* 7 folds, but class 'a' has 6 .*--set n_folds=6"):
        check_splittable(lesions, 7, None)


def _uneven(patients_per_class=(10, 6, 4)):
    """One lesion per patient; class a, b, c with the given numbers of patients (c the rarest by default)."""
    labels = np.repeat(np.arange(len(patients_per_class)), patients_per_class)
    return make_set(labels)


def test_a_too_large_k_names_the_rarest_class_and_a_k_that_works():
    lesions = _uneven()  # b (6 patients) fails first for k=8, but c (4) is the rarest
    with pytest.raises(LiverkitError, match=r"class 'c' has 4 patient\(s\)\. It is the rarest class: .*\(k=4\)"):
        folds.patient_folds(lesions, k=8)
    fold_of = folds.patient_folds(lesions, k=4)  # the suggested k is accepted
    assert set(fold_of.tolist()) == {0, 1, 2, 3}
    with pytest.raises(LiverkitError, match=r"class 'c' has 4 patient\(s\)"):
        folds.patient_folds(lesions, k=5)
    with pytest.raises(LiverkitError, match=r"class 'b' has 3 .*--set n_folds=3"):
        check_splittable(_uneven((5, 3, 4)), 6, None)  # the rarest is b here, not the first class


def test_a_class_with_one_patient_gets_no_k_suggested():
    with pytest.raises(LiverkitError, match=r"class 'b' has 1 patient\(s\)\. .*no split works") as caught:
        folds.patient_folds(_uneven((5, 1, 4)), k=3)
    assert "k=" not in str(caught.value)


def test_fold_table_counts_patients_per_class():
    # patients p0 (2 lesions of a), p1 (a), p2 (b and c), p3 (c); folds: p0, p2 in fold 0; p1, p3 in fold 1
    lesions = make_set([0, 0, 0, 1, 2, 2], patients=["p0", "p0", "p1", "p2", "p2", "p3"])
    table = folds.fold_table(lesions, np.array([0, 0, 1, 0, 0, 1]))
    assert table.loc[0, ["a", "b", "c", "lesions"]].tolist() == [2, 1, 1, 4]
    assert table.loc[0, ["a patients", "b patients", "c patients", "patients"]].tolist() == [1, 1, 1, 2]
    assert table.loc[1, ["a", "b", "c", "lesions"]].tolist() == [1, 0, 1, 2]
    assert table.loc[1, ["a patients", "b patients", "c patients", "patients"]].tolist() == [1, 0, 1, 2]
    clinic = _clinic()  # every patient has one class: the classes' patients add up to the fold's patients
    table = folds.fold_table(clinic, folds.patient_folds(clinic, k=3, seed=0))
    per_class = table[[f"{name} patients" for name in clinic.class_names]].sum(axis=1)
    assert per_class.tolist() == table["patients"].tolist() and table["patients"].sum() == 30

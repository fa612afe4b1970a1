"""The protocol's per-repeat outer folds and the leak guard between a repeat's GANs and its test folds."""

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import make_set

from liverkit import LiverkitError
from liverkit.augment.classic import AugmentConfig
from liverkit.data.folds import patient_folds
from liverkit.experiment import jobs
from liverkit.experiment.jobs import CNNJob, SweepInputs
from liverkit.experiment.protocol import repeat_folds
from liverkit.train.classifier import ClassifierConfig

LABELS = np.repeat([0, 1, 2], 20)
PATIENTS = np.array([f"p{i // 2}" for i in range(60)])  # two lesions per patient, one class each
LESIONS = make_set(LABELS, PATIENTS)
FOLD_OF = patient_folds(LESIONS, k=3, seed=5)


def test_repeat_zero_keeps_notebook_01s_folds_and_the_others_redraw_them():
    assert repeat_folds(LESIONS, FOLD_OF, 5, 0) is not None
    np.testing.assert_array_equal(repeat_folds(LESIONS, FOLD_OF, 5, 0), FOLD_OF)
    draws = [repeat_folds(LESIONS, FOLD_OF, 5, r) for r in (1, 2)]
    assert not np.array_equal(draws[0], FOLD_OF) and not np.array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(draws[0], repeat_folds(LESIONS, FOLD_OF, 5, 1))  # deterministic
    for fold_of in draws:
        assert sorted(set(fold_of.tolist())) == [0, 1, 2]
        for patient in set(PATIENTS):
            assert len(set(fold_of[PATIENTS == patient].tolist())) == 1  # a patient is never split
        counts = np.array([[np.sum((fold_of == f) & (LABELS == k)) for k in range(3)] for f in range(3)])
        assert counts.min() >= 6 and counts.max() <= 8  # stratified: 20 lesions of a class over 3 folds


def test_sweep_inputs_split_each_repeat_on_its_own_folds():
    inputs = SweepInputs(LESIONS, FOLD_OF, AugmentConfig(n_rot=1), seed=5, inner_folds=None)
    config = ClassifierConfig(channels=(2, 2, 2), hidden=4, epochs=1)
    for repeat in (0, 1):
        job = CNNJob(repeat, 0, None, 0, config, 1)
        data = jobs.job_data(job, inputs)
        expected = np.flatnonzero(repeat_folds(LESIONS, FOLD_OF, 5, repeat) == 0)
        np.testing.assert_array_equal(data.judged_index, expected)
        assert not set(data.train.patient_ids) & set(data.judged.patient_ids)


def test_a_gan_that_saw_a_test_patient_of_its_repeat_is_refused():
    """Repeat 1's fold 0 tests other patients than repeat 0's: a repeat-0 GAN reused there would have seen some."""
    repeat0_train = set(LESIONS.patient_ids[FOLD_OF != 0])
    leaky = SimpleNamespace(data={"patient_ids": sorted(repeat0_train)})
    gans = {"dcgan": {(1, 0): dict.fromkeys(("a", "b", "c"), leaky)}}
    inputs = SweepInputs(LESIONS, FOLD_OF, AugmentConfig(n_rot=1), 5, None, gans=gans, synthetic_per_class=2)
    job = CNNJob(1, 0, None, 0, ClassifierConfig(channels=(2, 2, 2), hidden=4, epochs=1), 1, arm="dcgan")
    with pytest.raises(LiverkitError, match=r"the dcgan of class 'a' for \(repeat 1, fold 0\).*its own folds"):
        jobs.job_data(job, inputs)

"""The orientation check (liverkit.augment.invariance): training patients only, a null from randomly turned copies, a
planted cue found and named, data without a cue left alone, and the composed turns the null relies on."""

from dataclasses import replace

import numpy as np
import pytest
from helpers import make_set, two_class_set

from liverkit import LiverkitError
from liverkit.augment import invariance
from liverkit.augment.classic import FLIPS, AugmentConfig, AugmentPlan, resample
from liverkit.data import LesionSet, make_phantom
from liverkit.data.folds import patient_folds


@pytest.fixture(scope="module")
def phantom():
    """A small phantom (24 lesions per class) and its patient-level folds."""
    lesions = make_phantom(seed=0, n_cyst=24, n_metastasis=24, n_hemangioma=24)
    return lesions, patient_folds(lesions, k=3, seed=0)


def _spot(lesions: LesionSet, classes: list[int], amount: float = 0.4) -> LesionSet:
    """``lesions`` with a bright 8 x 8 spot left of centre on every lesion of ``classes``."""
    images = lesions.images.copy()
    chosen = np.isin(lesions.labels, classes)
    images[chosen, 0, 28:36, 10:18] = np.minimum(1.0, images[chosen, 0, 28:36, 10:18] + amount)
    return replace(lesions, images=images)


def test_a_planted_perfectly_predictive_side_cue_on_one_class_is_found_and_named(phantom):
    lesions, fold_of = phantom
    cyst = lesions.class_names.index("cyst")
    check = invariance.orientation_check(_spot(lesions, [cyst]), fold_of, AugmentConfig())
    by_class = check.set_index("class")
    assert by_class.loc["cyst", "cue"] and by_class.loc["cyst", "drop"] > by_class.loc["cyst", "null_high"]
    assert not by_class.drop(index="cyst")["cue"].any()
    advice = invariance.orientation_advice(check, AugmentConfig())
    assert advice.startswith("WARNING: the rotations in [0, 180] degrees and 3 flip(s)")
    assert "class 'cyst'" in advice and "metastasis" not in advice
    numbers = invariance.orientation_metrics(check)
    assert numbers["orientation_cue"] == {"cyst": True, "metastasis": False, "hemangioma": False}
    # rotations of at most 15 degrees and no flips keep the spot on its side: nothing to erase, nothing flagged
    small = AugmentConfig(rot_range_deg=(0.0, 15.0), n_flip=0)
    kept = invariance.orientation_check(_spot(lesions, [cyst]), fold_of, small)
    assert not kept["cue"].any()


@pytest.mark.parametrize("planted", ["none", "every class"])
def test_data_without_an_orientation_cue_is_not_flagged(phantom, planted):
    lesions, fold_of = phantom
    data = lesions if planted == "none" else _spot(lesions, [0, 1, 2])  # a spot all classes share is no class cue
    check = invariance.orientation_check(data, fold_of, AugmentConfig())
    assert not check["cue"].any()
    assert (check["null_low"] <= check["null_high"]).all()
    advice = invariance.orientation_advice(check, AugmentConfig())
    assert advice.startswith("No sign of an orientation cue at this scale") and "safe" not in advice


def test_test_patients_never_reach_the_check(phantom, monkeypatch):
    lesions, fold_of = phantom
    seen = []
    original = invariance._fold_statistics

    def spy(train, *args, **kwargs):
        seen.append(set(train.patient_ids.tolist()))
        return original(train, *args, **kwargs)

    monkeypatch.setattr(invariance, "_fold_statistics", spy)
    check = invariance.orientation_check(lesions, fold_of, AugmentConfig(), null_draws=5)
    assert len(seen) == 3
    for fold, patients in enumerate(seen):
        assert patients == set(lesions.patient_ids[fold_of != fold].tolist())  # exactly the training patients
    # fold 0's drop does not change whatever fold 0's test lesions look like
    noisy = lesions.images.copy()
    noisy[fold_of == 0] = np.random.default_rng(1).uniform(0, 1, noisy[fold_of == 0].shape)
    other = invariance.orientation_check(replace(lesions, images=noisy), fold_of, AugmentConfig(), null_draws=5)
    assert other["fold_0"].tolist() == check["fold_0"].tolist()
    assert other["fold_1"].tolist() != check["fold_1"].tolist()


def test_the_check_is_deterministic_and_refuses_no_null(phantom):
    lesions, fold_of = phantom
    a = invariance.orientation_check(lesions, fold_of, AugmentConfig(), seed=3, null_draws=20)
    b = invariance.orientation_check(lesions, fold_of, AugmentConfig(), seed=3, null_draws=20)
    assert a.equals(b)
    assert list(a.columns[:8]) == ["class", "lesions", "accuracy", "accuracy_transformed", "drop", "null_low"] + [
        "null_high",
        "cue",
    ]
    with pytest.raises(LiverkitError, match="null_draws"):
        invariance.orientation_check(lesions, fold_of, AugmentConfig(), null_draws=0)
    with pytest.raises(LiverkitError, match="orientation_check"):
        invariance.orientation_advice(invariance.orientation_cue(lesions, AugmentConfig()), AugmentConfig())


def _smooth_image() -> np.ndarray:
    """One 1 x 1 x 64 x 64 ROI of two smooth blobs off centre (no symmetry a turn could hide)."""
    yy, xx = np.mgrid[:64, :64]
    blob = 0.3 * np.exp(-((yy - 22) ** 2 + (xx - 40) ** 2) / 60.0) + 0.1 * np.exp(
        -((yy - 45) ** 2 + (xx - 25) ** 2) / 30
    )
    return (0.5 + blob).astype(np.float32)[None, None]


def _plan(angle: float, flip_x: bool, flip_y: bool) -> AugmentPlan:
    """The plan of one rotation (degrees) and flip of one ROI, as the augmentation draws them."""
    one = np.ones(1)
    return AugmentPlan(
        parent=np.zeros(1, dtype=np.int64),
        angle_deg=angle * one,
        flip_x=np.array([flip_x]),
        flip_y=np.array([flip_y]),
        shift_px=np.zeros((1, 2)),
        scale=one,
        kind=np.zeros(1, dtype=np.int64),
        interpolation="bicubic",
    )


@pytest.mark.parametrize("config", [AugmentConfig(), AugmentConfig(rot_range_deg=(10.0, 40.0), n_flip=2)])
def test_composed_turns_match_turning_twice(config):
    """The null's copy turned by g, then by the check's transform t, is one resampling at the composed element."""
    image = _smooth_image()
    keys, compose = invariance._closure(invariance._transforms(config))
    bank = invariance._turned(image, keys, "bicubic")[:, 0, 0]  # E x 64 x 64
    flips = [(False, False), *FLIPS[: config.n_flip]]  # after each angle, in the check's order
    transforms = [(angle, fx, fy) for angle in np.linspace(*config.rot_range_deg, 12) for fx, fy in flips]
    centre = np.arange(64) - 31.5
    disc = np.hypot(centre[:, None], centre[None, :]) < 26  # away from the mirrored corners of a double turn
    rng = np.random.default_rng(0)
    for g, t in rng.integers(len(transforms), size=(12, 2)):
        once = resample(image, _plan(*transforms[g]), None, "cpu", 1, None).numpy()
        twice = resample(once, _plan(*transforms[t]), None, "cpu", 1, None).numpy()[0, 0]
        assert np.abs(twice - bank[compose[g + 1, t + 1]])[disc].max() < 0.01  # two interpolations vs one
        direct = resample(image, _plan(*transforms[t]), None, "cpu", 1, None).numpy()[0, 0]
        assert np.abs(direct - bank[compose[0, t + 1]]).max() < 1e-5  # the transform alone: the same resampling


def test_one_class_has_nothing_to_confuse():
    lesions = make_set(np.zeros(9), class_names=("a",))
    check = invariance.orientation_check(lesions, np.arange(9) % 3, AugmentConfig(), null_draws=5)
    assert check["drop"].tolist() == [0.0] and not check["cue"].any()
    assert "no other class" in invariance.orientation_advice(check, AugmentConfig())


def test_orientation_cue_measures_a_side_cue_under_flips_and_rotations():
    cue = invariance.orientation_cue(two_class_set("side"), AugmentConfig())
    assert cue["class"].tolist() == ["a", "b"] and cue["lesions"].tolist() == [20, 20]
    assert cue["accuracy"].tolist() == [1.0, 1.0]  # as they are, every lesion is nearest its own class's mean
    assert (cue["drop"] > 0.4).all()  # turned and flipped, about half land nearer the other class's mean
    kept = invariance.orientation_cue(two_class_set("side"), AugmentConfig(rot_range_deg=(0.0, 15.0), n_flip=0))
    assert (kept["drop"] < 0.05).all()  # small turns and no flips keep the side
    quiet = invariance.orientation_cue(two_class_set("symmetric"), AugmentConfig())
    assert (quiet["drop"].abs() < 0.05).all() and (quiet["accuracy"] == 1.0).all()


def test_orientation_check_flags_both_classes_of_a_two_class_side_cue():
    lesions = two_class_set("side", n=12)
    check = invariance.orientation_check(lesions, np.arange(24) % 3, AugmentConfig(), null_draws=40)
    assert check["cue"].all()
    assert "classes 'a' and 'b'" in invariance.orientation_advice(check, AugmentConfig())


def test_orientation_cue_draws_per_class():
    cue = invariance.orientation_cue(two_class_set("side", n=30), AugmentConfig(), per_class=8)
    assert cue["lesions"].tolist() == [8, 8]


def test_the_advice_calls_a_rise_a_rise_not_the_largest_drop():
    import pandas as pd

    table = pd.DataFrame(
        {"class": ["a", "b"], "drop": [-0.05, -0.02], "null_low": -0.1, "null_high": 0.1, "cue": False}
    )
    advice = invariance.orientation_advice(table, AugmentConfig())
    assert "no class dropped; smallest rise: class 'b', -0.020" in advice and "largest drop" not in advice
    advice = invariance.orientation_advice(table.assign(drop=[0.03, -0.02]), AugmentConfig())
    assert "largest drop: class 'a', +0.030" in advice

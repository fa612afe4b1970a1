"""Synthetic-image quality: FID/KID wiring against a direct computation, PRDC by hand, the no-duplicate draws, the
quality table against held-out real test lesions, the paired KID difference and its patient bootstrap over folds,
the recorded numbers, and the memorization audit on planted copies (its chance rate: test_memorization.py).
A tiny random CNN (fixed seed) is the feature extractor throughout."""

import base64
import dataclasses
import io
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from helpers import make_set
from PIL import Image
from torchmetrics.image.fid import FrechetInceptionDistance

from liverkit import LiverkitError
from liverkit.data import LesionSet
from liverkit.evaluate import feature_metrics, memorization, quality
from liverkit.kit import plots
from liverkit.kit.figure_check import legibility_problems
from liverkit.nets import LesionCNN
from liverkit.train.classifier import embed_lesions


@pytest.fixture(scope="module")
def model() -> LesionCNN:
    torch.manual_seed(0)
    return LesionCNN(n_classes=3, channels=(4, 8, 8), hidden=16)


def _scaled(lesions: LesionSet, factor: float) -> LesionSet:
    """The same lesions with intensities multiplied by ``factor`` (a shifted distribution)."""
    return dataclasses.replace(lesions, images=(lesions.images * factor).astype(np.float32))


def _frechet_numpy(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of two Gaussians fitted to a and b, via symmetric square roots (not torchmetrics' route)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


# ---------------------------------------------------------------------------------------------- FID and KID
def test_torchmetrics_with_cnn_features_matches_a_direct_frechet_distance(model):
    real = make_set(np.arange(60) % 3, seed=1)
    fake = _scaled(make_set(np.arange(50) % 3, seed=2), 0.8)
    metric = FrechetInceptionDistance(feature=feature_metrics.CNNFeatures(model))  # the extractor wired straight in
    metric.update(torch.from_numpy(real.images), real=True)
    metric.update(torch.from_numpy(fake.images), real=False)
    direct = metric.compute()
    assert direct.dtype == torch.float64
    expected = _frechet_numpy(
        embed_lesions(model, real).astype(np.float64), embed_lesions(model, fake).astype(np.float64)
    )
    assert expected > 0.1  # a real difference, so the comparison below means something
    assert float(direct) == pytest.approx(expected, rel=1e-6)
    assert feature_metrics.fid_kid(model, real, fake)["fid"] == pytest.approx(expected, rel=1e-6)


def test_cnn_features_leave_the_model_as_it_was(model):
    model.train()
    features = feature_metrics.CNNFeatures(model)(torch.rand(5, 1, 64, 64))
    assert features.shape == (5, 16) and features.dtype == torch.float64
    assert model.training and model.mean_image.dtype == torch.float32
    model.eval()


def test_identical_sets_score_zero_and_shifted_sets_score_far(model):
    real = make_set(np.arange(60) % 3, seed=1)
    same_distribution = make_set(np.arange(60) % 3, seed=2)
    shifted = _scaled(same_distribution, 0.3)
    identical = feature_metrics.fid_kid(model, real, real)
    baseline = feature_metrics.fid_kid(model, real, same_distribution)
    far = feature_metrics.fid_kid(model, real, shifted)
    trace = float(np.trace(np.cov(embed_lesions(model, real), rowvar=False)))
    assert abs(identical["fid"]) < 1e-9 * (1 + trace)
    assert far["fid"] > 100 * baseline["fid"] > 0
    assert abs(identical["kid_mean"]) < 0.01 * far["kid_mean"]  # the unbiased MMD of a set with itself is ~0
    features = embed_lesions(model, real)
    same = feature_metrics.prdc(features, features)
    assert (same["precision"], same["recall"], same["coverage"]) == (1.0, 1.0, 1.0)
    apart = feature_metrics.prdc(features, embed_lesions(model, shifted))
    assert apart["precision"] <= 0.02 and apart["coverage"] <= 0.02


def test_kid_subset_size_adapts_to_small_sets():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(12, 4)), rng.normal(size=(7, 4))
    small = feature_metrics.fid_kid_from_features(real, fake, kid_subsets=20)
    assert small["kid_subset_size"] == 7 and (small["n_real"], small["n_fake"]) == (12, 7)
    assert small["kid_std"] > 0  # the real side is still resampled
    capped = feature_metrics.fid_kid_from_features(real, fake, kid_subsets=20, kid_subset_size=5)
    assert capped["kid_subset_size"] == 5
    again = feature_metrics.fid_kid_from_features(real, fake, kid_subsets=20, kid_subset_size=5)
    assert again["kid_mean"] == capped["kid_mean"]  # seeded subsets


# ---------------------------------------------------------------------------------------------- PRDC
def test_prdc_by_hand_on_a_line():
    # k = 1. Real points 2, 7, 15, 16: ball radii (nearest other real) 5, 5, 1, 1.
    # Fake points 5.5, 8.5, 19.5: radii (nearest other fake) 3, 3, 11.
    # 5.5 lies in the balls of 2 (3.5 <= 5) and 7 (1.5); 8.5 in that of 7 (1.5); 19.5 in none (3.5 > 1 from 16).
    #   precision = 2/3, density = (2 + 1 + 0) / (1 x 3) = 1.
    # Real 2 is 3.5 from 5.5 (radius 3): not recalled; 7 is 1.5 from 5.5: recalled; 15 and 16 lie in 19.5's
    #   wide ball (4.5, 3.5 <= 11): recalled. recall = 3/4.
    # Coverage: nearest fakes of 2, 7 lie within 5; those of 15 (4.5) and 16 (3.5) are outside radius 1: 2/4.
    real = np.array([[2.0, 0], [7, 0], [15, 0], [16, 0]])
    fake = np.array([[5.5, 0], [8.5, 0], [19.5, 0]])
    got = feature_metrics.prdc(real, fake, k=1)
    assert got == pytest.approx({"precision": 2 / 3, "recall": 3 / 4, "density": 1.0, "coverage": 0.5})
    # Balls are closed: fake 2 lies exactly on the ball of real 1 (radius 1), fake 5 in no ball.
    assert feature_metrics.prdc([[0.0], [1.0]], [[2.0], [5.0]], k=1)["precision"] == 0.5


def test_prdc_of_far_apart_gaussians_is_zero():
    rng = np.random.default_rng(0)
    got = feature_metrics.prdc(rng.normal(size=(50, 2)), rng.normal(size=(40, 2)) + 100.0)
    assert got == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


# ---------------------------------------------------------------------------------------------- errors
def test_too_small_sets_say_how_many_are_needed():
    rng = np.random.default_rng(0)
    with pytest.raises(LiverkitError, match=r"FID needs at least 2 images per set, got 1 real and 5 fake"):
        feature_metrics.fid_kid_from_features(rng.normal(size=(1, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(LiverkitError, match=r"PRDC with k=5 needs at least 6 images per set, got 10 real and 5 fake"):
        feature_metrics.prdc(rng.normal(size=(10, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(LiverkitError, match="different widths"):
        feature_metrics.prdc(rng.normal(size=(10, 3)), rng.normal(size=(10, 4)))


# ---------------------------------------------------------------------------------------------- bootstrap
def test_direct_fid_and_kid_agree_with_torchmetrics():
    rng = np.random.default_rng(0)
    for n_a, n_b, dim in ((12, 9, 16), (80, 60, 4)):  # fewer vectors than dimensions (singular), then more
        a = torch.from_numpy(rng.normal(size=(n_a, dim)))
        b = torch.from_numpy(rng.normal(size=(n_b, dim)) * 1.3 + 0.2)
        expected = feature_metrics.fid_kid_from_features(a, b, kid_subsets=2)["fid"]
        assert feature_metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    a, b = torch.from_numpy(rng.normal(size=(15, 4))), torch.from_numpy(rng.normal(size=(15, 4)) + 0.5)
    whole_sets = feature_metrics.fid_kid_from_features(
        a, b, kid_subsets=3, kid_subset_size=15
    )  # every subset = the set
    assert feature_metrics.unbiased_mmd(a, b) == pytest.approx(whole_sets["kid_mean"], rel=1e-9)
    origin, rng = np.arange(15), np.random.default_rng(0)
    assert quality._draw_kid(a, b, origin, origin, subset_size=15, rng=rng) == feature_metrics.unbiased_mmd(
        a, b
    )  # whole sets
    subsets = quality._draw_kid(a, b, origin, origin, subset_size=10, rng=rng)  # sets larger than the subset size
    assert np.isfinite(subsets) and subsets != feature_metrics.unbiased_mmd(a, b)


def test_prdc_does_not_count_a_resampled_copy_as_a_neighbour():
    rng = np.random.default_rng(1)
    real, fake = torch.from_numpy(rng.normal(size=(20, 3))), torch.from_numpy(rng.normal(size=(15, 3)) + 0.5)
    twice = torch.cat([real, real])  # every real lesion drawn twice, as in a bootstrap resample
    origin = np.concatenate([np.arange(20), np.arange(20)])
    plain = feature_metrics.prdc(real, fake, k=1)
    resampled = feature_metrics.prdc_unchecked(twice, fake, 1, real_origin=origin)
    for metric in ("precision", "recall", "coverage"):  # the same balls, so the same fractions
        assert resampled[metric] == pytest.approx(plain[metric]), metric
    assert feature_metrics.prdc(twice, fake, k=1)["precision"] < plain["precision"]  # copies as neighbours: radius 0


# ---------------------------------------------------------------------------------------------- the table
def _held_out(labels, prefix: str, seed: int, class_names=("a", "b", "c"), per_patient: int = 1, source="test"):
    """A LesionSet whose patients (``prefix`` + number, ``per_patient`` lesions each) no other set shares."""
    patients = [f"{prefix}{i // per_patient}" for i in range(len(labels))]
    return make_set(labels, patients=patients, class_names=class_names, seed=seed, source=source)


def test_fold_quality_refuses_other_classes(model):
    train, test = _held_out(np.arange(30) % 3, "tr", 1), _held_out(np.arange(24) % 3, "te", 2)
    odd = make_set(np.arange(12) % 3, class_names=("a", "b", "x"), seed=3)
    with pytest.raises(LiverkitError, match=r"set 'dcgan' has classes \['a', 'b', 'x'\].*\['a', 'b', 'c'\]"):
        quality.fold_quality(model, train, test, {"dcgan": odd})
    torch.manual_seed(0)
    two_class_model = LesionCNN(n_classes=2, channels=(4, 8, 8), hidden=16)
    with pytest.raises(LiverkitError, match=r"model has 2 outputs.*3 classes \['a', 'b', 'c'\]"):
        quality.fold_quality(two_class_model, train, test, {})
    with pytest.raises(LiverkitError, match="'real train' and 'real test' name the real sets"):
        quality.fold_quality(model, train, test, {"real test": test})


def test_fold_quality_refuses_a_reference_that_shares_patients_with_training(model):
    train = _held_out(np.arange(30) % 3, "p", 1)
    test = _held_out(np.arange(24) % 3, "q", 2)
    stray = dataclasses.replace(train.subset([4]), ids=["train-4"])  # one training patient's lesion ...
    leaky = LesionSet.concat([test, stray])  # ... in the reference
    with pytest.raises(LiverkitError, match=r"patients \['p4'\] are in both real_train and real_test.*held out"):
        quality.fold_quality(model, train, leaky, {})


def test_fold_quality_needs_the_overall_rows(model):
    train, tiny_test = _held_out(np.arange(30) % 3, "tr", 1), _held_out([0, 1, 2], "te", 2)
    with pytest.raises(LiverkitError, match=r"PRDC with k=5 needs .* got 3 real test and 3 real train.*fewer folds"):
        quality.fold_quality(model, train, tiny_test, {}, kid_subsets=5)
    test, few = _held_out(np.arange(24) % 3, "te", 2), make_set([0, 1, 2, 0], seed=3, source="dcgan")
    with pytest.raises(LiverkitError, match=r"got 24 real test and 4 dcgan.*give set 'dcgan' at least 6 lesions"):
        quality.fold_quality(model, train, test, {"dcgan": few}, kid_subsets=5)


def test_fold_quality_has_the_baseline_and_class_rows_and_no_intervals(model):
    train = _held_out(np.arange(60) % 3, "tr", 1, per_patient=3)
    test = _held_out(np.arange(24) % 3, "te", 2, per_patient=2)  # 8 per class, 12 patients
    dcgan = _scaled(make_set(np.arange(60) % 3, seed=3, source="dcgan"), 0.5)
    acgan = make_set([0] * 20 + [1] * 20 + [2], seed=4, source="acgan")  # one lesion of class c
    result = quality.fold_quality(model, train, test, {"dcgan": dcgan, "acgan": acgan}, fold=2, kid_subsets=10)
    table = result.table
    comparisons = ["real train vs real test", "dcgan vs real test", "acgan vs real test"]
    assert table["comparison"].unique().tolist() == comparisons
    columns = ["fold", "comparison", "class", "metric", "value", "baseline", "n_a", "n_b", "note"]
    assert table.columns.tolist() == columns  # point estimates: no ci_low / ci_high
    assert (table["fold"] == 2).all()
    assert len(table) == 3 * 4 * len(quality.METRICS)  # comparisons x (all + 3 classes) x metrics
    assert set(table["class"]) == {"all", "a", "b", "c"}
    dc = table[table["comparison"] == "dcgan vs real test"].set_index(["class", "metric"])
    base = table[table["comparison"] == "real train vs real test"].set_index(["class", "metric"])
    assert dc["baseline"].to_numpy() == pytest.approx(base["value"].to_numpy())
    assert base["baseline"].isna().all()
    for rows in (dc, base):  # the reference is the test set; the compared set is drawn to its size
        assert rows.loc[("all", "fid"), "n_a"] == 24 and rows.loc[("a", "fid"), "n_a"] == 8
        assert rows.loc[("all", "fid"), "n_b"] == 24 and rows.loc[("b", "fid"), "n_b"] == 8
    assert dc.loc[("all", "fid"), "value"] > 10 * dc.loc[("all", "fid"), "baseline"]  # darker lesions are far
    assert dc.loc[("a", "kid_mean"), "note"].startswith("KID subset size 8")
    acgan_rows = table[table["comparison"] == "acgan vs real test"].set_index(["class", "metric"])
    assert acgan_rows.loc[("all", "fid"), "n_b"] == 17  # 8 + 8 + the one lesion of class c
    assert acgan_rows.loc[("all", "fid"), "note"].startswith("17 acgan for 24 test lesions: n differs")
    missing = table[(table["comparison"] == "acgan vs real test") & (table["class"] == "c")]
    assert missing["value"].isna().all() and missing["note"].str.contains("at least").all()
    assert np.isfinite(table.drop(missing.index)["value"]).all()
    # What the paired bootstrap resamples: the overall rows' sets, as drawn, and the baseline's patients.
    assert list(result.compared) == ["real train", "dcgan", "acgan"]
    assert len(result.test) == 24 and len(result.compared["real train"]) == 24 and len(result.compared["acgan"]) == 17
    assert set(result.baseline_patients) <= set(train.patient_ids) and len(result.baseline_patients) == 24


def test_the_compared_sets_are_drawn_without_duplicates():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 30 + [1] * 12 + [2] * 3)
    reference = np.array([0] * 10 + [1] * 12 + [2] * 5)
    for label in (None, 0, 1, 2):
        index = quality.matched_sample(labels, reference, label, rng)
        assert len(np.unique(index)) == len(index)  # no lesion twice: FID sees no repeats
        assert np.all(np.diff(index) > 0)
        wanted = {0: 10, 1: 12, 2: 3}  # the reference's count, or all of a class that has fewer
        for one in (0, 1, 2) if label is None else (label,):
            assert np.sum(labels[index] == one) == wanted[one], (label, one)
        if label is not None:
            assert (labels[index] == label).all()
    draws = {tuple(quality.matched_sample(labels, reference, 0, rng)) for _ in range(5)}
    assert len(draws) > 1  # a random subset, not the first ten


def test_the_reference_is_the_test_set_and_never_a_training_image(model):
    train = _scaled(_held_out(np.arange(24) % 3, "tr", 1), 0.9)  # as many per class as the test set: no draw
    test = _held_out(np.arange(24) % 3, "te", 2)
    sets = {"copy of train": train, "copy of test": test}
    table = quality.fold_quality(model, train, test, sets, kid_subsets=5).table
    rows = table.set_index(["comparison", "class", "metric"])
    test_features, train_features = (
        feature_metrics.CNNFeatures(model).embed_set(test),
        feature_metrics.CNNFeatures(model).embed_set(train),
    )
    direct = feature_metrics.fid_kid_from_features(test_features, train_features, kid_subsets=5)
    assert rows.loc[("real train vs real test", "all", "fid"), "value"] == pytest.approx(direct["fid"], rel=1e-9)
    forward, backward = (
        feature_metrics.prdc(test_features, train_features),
        feature_metrics.prdc(train_features, test_features),
    )
    assert forward["precision"] != backward["precision"]  # so the next line tells which set was the reference
    assert rows.loc[("real train vs real test", "all", "precision"), "value"] == forward["precision"]
    # A synthetic set equal to the training set scores exactly the baseline (same draws) ...
    baseline = table[table["comparison"] == "real train vs real test"].drop(columns=["comparison", "baseline"])
    copy = table[table["comparison"] == "copy of train vs real test"].drop(columns=["comparison", "baseline"])
    pd.testing.assert_frame_equal(baseline.reset_index(drop=True), copy.reset_index(drop=True))
    # ... and one equal to the test set, the reference itself, is perfect: FID 0, precision and recall 1.
    same = rows.loc["copy of test vs real test"]
    trace = float(np.trace(np.cov(test_features.numpy(), rowvar=False)))
    assert abs(same.loc[("all", "fid"), "value"]) < 1e-9 * (1 + trace)
    for cls in ("all", "a", "b", "c"):
        assert (same.loc[(cls, "precision"), "value"], same.loc[(cls, "recall"), "value"]) == (1.0, 1.0)


@pytest.mark.parametrize(
    "class_names",
    [("cyst", "hemangioma"), tuple(f"Klasse {i}" if i % 2 else f"lésion-{i}" for i in range(11))],
    ids=["2 classes", "11 classes"],
)
def test_fold_quality_works_for_any_classes(class_names):
    n_classes = len(class_names)
    torch.manual_seed(0)
    model = LesionCNN(n_classes=n_classes, channels=(4, 8, 8), hidden=16)
    labels = np.arange(6 * n_classes) % n_classes
    train = _held_out(labels, "tr", 1, class_names, per_patient=2)
    test = _held_out(labels[: 4 * n_classes], "te", 2, class_names)  # 4 per class: too few for PRDC per class
    test = dataclasses.replace(test, diameters_mm=np.full(len(test), np.nan, np.float32))  # no diameters
    gan = make_set(np.arange(5 * n_classes) % n_classes, class_names=class_names, seed=3, source="gan")
    table = quality.fold_quality(model, train, test, {"gan": gan}, kid_subsets=5).table
    assert len(table) == 2 * (1 + n_classes) * len(quality.METRICS)
    assert table["class"].unique().tolist() == ["all", *class_names]
    overall = table[table["class"] == "all"]
    assert np.isfinite(overall["value"]).all() and (overall["n_a"] == 4 * n_classes).all()
    per_class = table[table["class"] == class_names[-1]].set_index(["comparison", "metric"])
    assert np.isfinite(per_class.loc[("gan vs real test", "fid"), "value"])
    assert np.isnan(per_class.loc[("gan vs real test", "precision"), "value"])
    assert (
        "PRDC with k=5 needs at least 6 images per set, got 4 real test and 4 gan"
        in per_class.loc[("gan vs real test", "precision"), "note"]
    )


# ---------------------------------------------------------------------------------------------- paired KID
def _fold(model, fold: int, n_folds: int, synthetic: dict, per_patient: int = 2, n: int = 30, seed: int = 0):
    """Fold ``fold`` of ``n_folds`` hand-made folds: test patients f<fold>-*, real training lesions from the other
    folds' patients, and the given synthetic sets (a function of the real training set, or a LesionSet)."""
    folds = [_held_out(np.arange(n) % 3, f"f{o}-", 10 + o + seed, per_patient=per_patient) for o in range(n_folds)]
    folds = [dataclasses.replace(lesions, ids=[f"f{o}-{i}" for i in range(n)]) for o, lesions in enumerate(folds)]
    test = folds[fold]
    train = LesionSet.concat([lesions for o, lesions in enumerate(folds) if o != fold])
    sets = {name: make(train) if callable(make) else make for name, make in synthetic.items()}
    return quality.fold_quality(model, train, test, sets, fold=fold, kid_subsets=5, seed=seed)


def test_a_copy_of_real_training_lesions_differs_by_zero_and_a_far_set_by_more(model):
    far = _scaled(make_set(np.arange(60) % 3, seed=3, source="far"), 0.3)
    result = _fold(model, 0, 2, {"copy": lambda train: train, "far": far}, n=60, seed=1)  # fold 1: training only
    kid = quality.kid_differences([result], n_boot=200, seed=0).set_index(["fold", "synthetic"])
    copy, far_row = kid.loc[(0, "copy")], kid.loc[(0, "far")]
    assert (
        copy["difference"] == 0.0 and copy["kid_synthetic"] == copy["kid_real_train"]
    )  # the same lesions, drawn alike
    assert copy["ci_low"] < 0 < copy["ci_high"] and copy["reading"] == "inconclusive"
    assert far_row["ci_low"] > 0 and far_row["reading"] == "synthetic further"
    assert far_row["ci_low"] < far_row["difference"] < far_row["ci_high"]
    assert (kid["valid_draws"] == 200).all() and kid.attrs == {"n_boot": 200, "ci_level": quality.CI_LEVEL}
    table = result.table.set_index(["comparison", "class", "metric"])  # the table's KID is the same number
    kid_far = table.loc[("far vs real test", "all", "kid_mean"), "value"]
    kid_base = table.loc[("real train vs real test", "all", "kid_mean"), "value"]
    assert far_row["difference"] == pytest.approx(kid_far - kid_base, rel=1e-9)
    assert "synthetic further" not in quality.kid_reading(quality.kid_differences([result], n_boot=0))


def test_the_difference_is_paired_on_the_test_draw(model):
    # Both terms move with the drawn test patients; the difference moves less than either term.
    result = _fold(model, 0, 2, {"other": make_set(np.arange(30) % 3, seed=7, source="g")}, n=30)
    draw, test_codes, baseline_codes = quality._patient_draw([result])
    rng, terms = np.random.default_rng(0), []
    for _ in range(200):
        counts = draw(rng)
        kids = quality._fold_kids(result, counts[test_codes[0]], counts[baseline_codes[0]], rng)
        terms.append((kids["other"], kids["real train"]))
    other, base = np.array(terms).T
    assert np.corrcoef(other, base)[0, 1] > 0.3  # the shared test draw ties the two terms together
    assert np.var(other - base) < np.var(other) + np.var(base)


def test_each_draw_resamples_every_fold_s_test_patients_once(model):
    results = [_fold(model, f, 3, {"copy": lambda train: train}, per_patient=3, n=30) for f in range(3)]
    draw, test_codes, baseline_codes = quality._patient_draw(results)
    rng = np.random.default_rng(0)
    for _ in range(20):
        counts = draw(rng)
        for f, result in enumerate(results):
            per_patient = counts[test_codes[f]].reshape(-1, 3)  # 3 lesions per patient, in order
            assert (per_patient == per_patient[:, :1]).all()  # a patient comes with all its lesions
            assert per_patient[:, 0].sum() == 10  # as many patients as the fold has, with replacement
            # fold f's training lesions are the other folds' test patients: they follow the same draw
            for code, patient in zip(baseline_codes[f], result.baseline_patients, strict=True):
                owner = int(patient.split("-")[0][1:])
                assert owner != f
                assert counts[code] == counts[test_codes[owner][list(results[owner].test_patients).index(patient)]]
    with pytest.raises(LiverkitError, match="test sets of folds 0 and 0|more than once"):
        quality.kid_differences([results[0], results[0]], n_boot=2)


def test_every_fold_and_their_mean_are_reported_and_recorded(model):
    shifted = lambda train: _scaled(train, 0.5)  # noqa: E731
    results = [_fold(model, f, 3, {"dcgan": shifted, "acgan": lambda train: train}) for f in range(3)]
    kid = quality.kid_differences(results, n_boot=100, seed=0)
    assert kid["fold"].tolist() == [0, 0, 1, 1, 2, 2, quality.POOLED, quality.POOLED]
    pooled = kid[kid["fold"] == quality.POOLED].set_index("synthetic")
    per_fold = kid[kid["fold"] != quality.POOLED]
    for name in ("dcgan", "acgan"):
        mean = per_fold.loc[per_fold["synthetic"] == name, "difference"].mean()
        assert pooled.loc[name, "difference"] == pytest.approx(mean, rel=1e-12)
    assert pooled.loc["dcgan", "ci_low"] > 0 and "dcgan: KID difference" in quality.kid_reading(kid)
    values = quality.fold_values(results, decimals=8)
    assert values.index.get_level_values("fold").tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [quality.POOLED] * 3
    memorization = {"dcgan": {"fold 0": {"n_flagged": 0}}}
    numbers = quality.key_numbers(results, kid, memorization)
    assert set(numbers) == {
        "n_folds", "reference", "baseline", "ci", "kid_difference", "per_fold", "mean_over_folds", "memorization"
    }  # fmt: skip
    assert numbers["n_folds"] == 3 and list(numbers["per_fold"]) == ["fold 0", "fold 1", "fold 2"]
    assert list(numbers["kid_difference"]["dcgan"]) == ["fold 0", "fold 1", "fold 2", "mean over folds"]
    assert numbers["ci"] == {"level": quality.CI_LEVEL, "n_boot": 100}
    fold_1 = numbers["per_fold"]["fold 1"]["dcgan vs real test"]
    assert set(fold_1) == set(quality.METRICS)
    row = results[1].table.set_index(["comparison", "class", "metric"])
    assert fold_1["fid"] == pytest.approx(row.loc[("dcgan vs real test", "all", "fid"), "value"], abs=1e-5)
    assert numbers["mean_over_folds"]["real train vs real test"]["fid"] == pytest.approx(
        values.loc[(quality.POOLED, "real train vs real test"), "fid"], abs=1e-5
    )
    assert numbers["kid_difference"]["dcgan"]["fold 2"]["value"] == pytest.approx(
        per_fold.set_index(["fold", "synthetic"]).loc[(2, "dcgan"), "difference"], abs=1e-5
    )
    assert numbers["memorization"] is memorization
    json.dumps(numbers, allow_nan=False)  # recordable as it is


# ---------------------------------------------------------------------------------------------- memorization
def _planted(train: LesionSet) -> LesionSet:
    """Candidates: an exact copy of train[7], a lightly noised copy of train[23], then 20 fresh random images."""
    rng = np.random.default_rng(5)
    noised = np.clip(train.images[23] + rng.normal(0, 0.01, train.images[23].shape), 0, 1).astype(np.float32)
    fresh = make_set(np.arange(20) % 3, seed=6).images
    images = np.concatenate([train.images[[7]], noised[None], fresh])
    n = len(images)
    return LesionSet(
        images=images,
        labels=np.arange(n) % 3,
        class_names=train.class_names,
        patient_ids=[f"g{i}" for i in range(n)],
        diameters_mm=np.full(n, np.nan),
        ids=[f"gan-{i}" for i in range(n)],
        sources="dcgan",
    )


def test_memorization_flags_planted_copies_and_not_fresh_images(model):
    train = make_set(np.arange(40) % 3, seed=1)
    candidates, reference = _planted(train), make_set(np.arange(30) % 3, seed=2)
    audit = memorization.memorization_audit(train, candidates, model=model, reference=reference)
    assert audit["flagged"].tolist() == [True, True] + [False] * 20
    assert audit["nearest_index"][:2].tolist() == [7, 23] and audit["nearest_id"][0] == "item-7"
    assert audit["pixel_distance"][0] == 0.0 and 0.005 < audit["pixel_distance"][1] < 0.012
    assert audit["feature_nearest_index"][0] == 7 and audit["feature_distance"][0] == 0.0
    assert audit["feature_flagged"][0]
    flat_ref, flat_train = reference.images.reshape(30, -1), train.images.reshape(40, -1)
    ref_nn = np.sqrt(((flat_ref[:, None] - flat_train[None]) ** 2).sum(-1)).min(1) / 64  # brute force, numpy
    assert audit.attrs["pixel_threshold"] == pytest.approx(max(np.quantile(ref_nn, 0.01), 0.02), rel=1e-6)
    summary = memorization.memorization_summary(audit)
    assert (summary["n_flagged"], summary["n_candidates"]) == (2, 22)
    assert summary["median_pixel_distance"] == pytest.approx(summary["reference_median_pixel_distance"], rel=0.05)


def test_memorization_without_reference_uses_epsilon():
    train = make_set(np.arange(40) % 3, seed=1)
    audit = memorization.memorization_audit(train, _planted(train))
    assert audit.attrs["pixel_threshold"] == 0.02 and np.isnan(audit.attrs["feature_threshold"])
    assert audit["flagged"].tolist() == [True, True] + [False] * 20
    assert "feature_distance" not in audit.columns


def test_memorization_finds_the_right_neighbours():
    train = make_set(np.arange(50) % 3, seed=1)
    order = np.random.default_rng(2).permutation(50)[:15]
    noise = np.random.default_rng(3).normal(0, 0.05, (15, 1, 64, 64))
    near = dataclasses.replace(
        make_set(np.arange(15) % 3, seed=4), images=np.clip(train.images[order] + noise, 0, 1).astype(np.float32)
    )
    audit = memorization.memorization_audit(train, near)
    assert audit["nearest_index"].tolist() == order.tolist()
    with pytest.raises(LiverkitError, match=r"quantile must lie in \[0, 1\], got 5"):
        memorization.memorization_audit(train, near, quantile=5)


def test_closest_pairs_figure_shows_the_copies_first():
    train = make_set(np.arange(40) % 3, seed=1)
    candidates = _planted(train)
    audit = memorization.memorization_audit(train, candidates)
    fig = plots.closest_pairs_figure(audit, train, candidates, n=4)
    assert isinstance(fig, go.Figure) and len(fig.data) == 4  # one pair per subplot
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "#1: d = 0.000 FLAG" and "FLAG" not in titles[2]
    assert fig.data[0].hovertemplate.startswith("left: gan-0<br>right: item-7")
    picture = Image.open(io.BytesIO(base64.b64decode(fig.data[0].source.split(",", 1)[1])))
    assert picture.size == (2 * 64 + 2, 64) and picture.mode == "L"  # candidate, a 2-pixel gap, its nearest lesion
    assert legibility_problems(fig) == []

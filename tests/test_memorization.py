"""The memorization audit's chance rate (its null reference: the same rule applied to real held-out lesions), the
summaries over folds, and the words that go with them. Planted copies and neighbours: test_quality.py."""

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import make_set

from liverkit import LiverkitError
from liverkit.evaluate import memorization
from liverkit.nets import LesionCNN


def test_chance_rate_by_hand():
    # Distances 1..10, one patient each, quantile 0.1. Leaving lesion i out, the threshold is the 0.1 quantile of
    # the other nine (numpy's linear rule: the smallest + 0.8 x the gap to the next):
    #   i = 1: others 2..10 -> 2.8, and 1 <= 2.8: flagged;  i = 2: others 1, 3.. -> 1 + 0.8 x 2 = 2.6: flagged;
    #   i = 3: others 1, 2, 4.. -> 1.8: not flagged; larger i: 1.8, not flagged.  2 of 10.
    distances = np.arange(1.0, 11.0)
    patients = np.array([f"p{i}" for i in range(10)])
    assert memorization.held_out_flag_rate(distances, patients, 0.1) == pytest.approx(0.2)
    assert memorization.held_out_flag_rate(distances, patients, 0.1, floor=5.0) == pytest.approx(0.5)  # 1..5
    # Lesions 1 and 2 of one patient: both are judged against 3..10 only (0.1 quantile 3 + 0.7 = 3.7) and flagged;
    # lesion 3's threshold, from 1, 2, 4..10, is 1.8: not flagged. 2 of 10 again ...
    together = np.array(["p0", "p0", *[f"p{i}" for i in range(2, 10)]])
    assert memorization.held_out_flag_rate(distances, together, 0.1) == pytest.approx(0.2)
    # ... while with quantile 0 (the smallest other distance) lesion 1 alone is flagged, unless it shares a patient
    # with lesion 2: then both are judged against 3 and both are flagged.
    assert memorization.held_out_flag_rate(distances, patients, 0.0) == pytest.approx(0.1)
    assert memorization.held_out_flag_rate(distances, together, 0.0) == pytest.approx(0.2)
    assert np.isnan(memorization.held_out_flag_rate(distances, np.array(["one"] * 10), 0.1))


def test_the_audit_records_the_chance_rate_of_its_reference():
    torch.manual_seed(0)
    model = LesionCNN(n_classes=3, channels=(4, 8, 8), hidden=16)
    train, reference = make_set(np.arange(40) % 3, seed=1), make_set(np.arange(30) % 3, seed=2)
    candidates = make_set(np.arange(20) % 3, seed=3, source="dcgan")
    audit = memorization.memorization_audit(train, candidates, model=model, reference=reference, quantile=0.05)
    flat_ref, flat_train = reference.images.reshape(30, -1), train.images.reshape(40, -1)
    ref_nn = np.sqrt(((flat_ref[:, None] - flat_train[None]) ** 2).sum(-1)).min(1) / 64  # brute force, numpy
    expected = memorization.held_out_flag_rate(ref_nn, reference.patient_ids, 0.05, floor=0.02)
    assert audit.attrs["chance_rate"] == pytest.approx(expected)
    assert 0 < audit.attrs["feature_chance_rate"] < 0.2  # features: the quantile alone, no floor
    summary = memorization.memorization_summary(audit)
    assert summary["expected_flagged"] == pytest.approx(20 * summary["chance_rate"])
    assert summary["expected_feature_flagged"] == pytest.approx(20 * summary["feature_chance_rate"])
    no_reference = memorization.memorization_summary(memorization.memorization_audit(train, candidates))
    assert np.isnan(no_reference["chance_rate"]) and np.isnan(no_reference["expected_flagged"])


def test_summaries_add_up_over_folds_and_read_as_what_they_show():
    fold = {"n_candidates": 50, "n_flagged": 1, "expected_flagged": 1.5, "chance_rate": 0.03}
    pooled = memorization.pooled_summary([fold, fold | {"n_flagged": 2}])
    assert pooled == {"n_candidates": 100, "n_flagged": 3, "expected_flagged": 3.0}  # no feature columns in both
    calm = memorization.audit_reading("dcgan, all folds", pooled)
    assert calm.startswith("dcgan, all folds, pixels: 3 of 100 flagged, 3.0 expected by chance")
    assert "no sign of copying" in calm and "cannot rule out" in calm and "CNN features" not in calm
    many = memorization.audit_reading("acgan", pooled | {"n_flagged": 12})
    assert "unlikely by chance alone" in many and "not a proven copy" in many
    with pytest.raises(LiverkitError, match="at least one"):
        memorization.pooled_summary([])


def test_the_fold_shown_is_the_one_with_most_flags_then_the_closest_pair():
    def audit(flags: list[bool], feature_flags: list[bool], closest: float) -> pd.DataFrame:
        distances = [closest] + [0.5] * (len(flags) - 1)
        return pd.DataFrame({"flagged": flags, "feature_flagged": feature_flags, "pixel_distance": distances})

    quiet, loud = audit([False] * 3, [False] * 3, 0.01), audit([False] * 3, [True, True, False], 0.2)
    assert memorization.fold_to_show({0: quiet, 1: loud, 2: quiet}) == 1  # feature flags count too
    assert memorization.fold_to_show({0: audit([False] * 3, [False] * 3, 0.3), 1: quiet}) == 1  # tie: closest pair
    with pytest.raises(LiverkitError, match="at least one"):
        memorization.fold_to_show({})

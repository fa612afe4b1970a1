"""Metric formulas against hand-computed confusion matrices, and the bootstrap CIs."""

import numpy as np
import pytest

from liverkit import LiverkitError, metrics


def test_confusion_and_per_class_by_hand():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
    matrix = metrics.confusion(y_true, y_pred, 3)
    assert matrix.tolist() == [[3, 1, 0], [0, 2, 1], [1, 0, 2]]
    table = metrics.per_class(matrix)
    # class 0: TP 3, P 4 -> 0.75; N 6, FP 1 -> TN 5 -> 5/6
    assert table.sensitivity.tolist() == pytest.approx([3 / 4, 2 / 3, 2 / 3])
    assert table.specificity.tolist() == pytest.approx([5 / 6, 6 / 7, 6 / 7])
    summary = metrics.summary(y_true, y_pred, ("cyst", "met", "hem"))
    assert summary["accuracy"] == pytest.approx(0.7)
    assert summary["sensitivity_macro"] == pytest.approx((3 / 4 + 4 / 3) / 3)
    assert summary["specificity_cyst"] == pytest.approx(5 / 6)


def test_bootstrap_ci_brackets_the_estimate_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small_true = rng.integers(0, 3, 60)
    small_pred = np.where(rng.random(60) < 0.7, small_true, (small_true + 1) % 3)
    est, low, high = metrics.bootstrap_ci(small_true, small_pred, metrics.accuracy, n_boot=500)
    assert low < est < high
    assert 0.08 < high - low < 0.35  # ~ 2 x 1.96 x sqrt(0.7 x 0.3 / 60) = 0.23
    big_true = np.tile(small_true, 10)
    big_pred = np.tile(small_pred, 10)
    _, low2, high2 = metrics.bootstrap_ci(big_true, big_pred, metrics.accuracy, n_boot=500)
    assert high2 - low2 < (high - low) / 2


def test_repeats_are_averaged_and_kept_paired():
    y_true = np.array([0, 1, 2, 0])
    y_pred = np.array([[0, 1, 2, 0], [0, 1, 0, 1]])  # 100% and 50%
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(0.75)
    est, low, high = metrics.bootstrap_ci(y_true, y_pred, metrics.accuracy, n_boot=200)
    assert est == pytest.approx(0.75) and 0.5 <= low <= est <= high <= 1.0


def test_class_metrics_with_repeats():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([[0, 1, 1, 1], [0, 0, 1, 0]])
    assert metrics.class_metric("sensitivity", 0)(y_true, y_pred) == pytest.approx(3 / 4)
    assert metrics.class_metric("specificity", 0)(y_true, y_pred) == pytest.approx(3 / 4)
    table = metrics.metrics_table(y_true, y_pred, ("a", "b"), n_boot=50)
    assert table.shape == (5, 5)
    assert table.set_index(["metric", "class"]).loc[("accuracy", "all"), "estimate"] == pytest.approx(0.75)


def test_shape_errors():
    with pytest.raises(LiverkitError, match="same shape"):
        metrics.confusion(np.array([0, 1]), np.array([0]), 2)
    with pytest.raises(LiverkitError, match="bootstrap_ci needs"):
        metrics.bootstrap_ci(np.array([0, 1]), np.array([0, 1, 1]), metrics.accuracy)

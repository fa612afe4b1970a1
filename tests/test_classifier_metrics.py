"""Metric formulas against hand-computed confusion matrices, and the bootstrap CIs."""

import numpy as np
import pytest

from liverkit import LiverkitError
from liverkit.evaluate import classifier_metrics


def test_confusion_and_per_class_by_hand():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0])
    matrix = classifier_metrics.confusion(y_true, y_pred, 3)
    assert matrix.tolist() == [[3, 1, 0], [0, 2, 1], [1, 0, 2]]
    table = classifier_metrics.per_class(matrix)
    # class 0: TP 3, P 4 -> 0.75; N 6, FP 1 -> TN 5 -> 5/6
    assert table.sensitivity.tolist() == pytest.approx([3 / 4, 2 / 3, 2 / 3])
    assert table.specificity.tolist() == pytest.approx([5 / 6, 6 / 7, 6 / 7])
    summary = classifier_metrics.summary(y_true, y_pred, ("cyst", "met", "hem"))
    assert summary["accuracy"] == pytest.approx(0.7)
    assert summary["sensitivity_macro"] == pytest.approx((3 / 4 + 4 / 3) / 3)
    assert summary["specificity_cyst"] == pytest.approx(5 / 6)
    assert summary["sensitivity_weighted"] == pytest.approx(summary["accuracy"])  # the paper's summary sensitivity
    assert summary["specificity_weighted"] == pytest.approx((6 * 5 / 6 + 7 * 6 / 7 + 7 * 6 / 7) / 20)


def test_bootstrap_ci_brackets_the_estimate_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small_true = rng.integers(0, 3, 60)
    small_pred = np.where(rng.random(60) < 0.7, small_true, (small_true + 1) % 3)
    est, low, high = classifier_metrics.bootstrap_ci(small_true, small_pred, classifier_metrics.accuracy, n_boot=500)
    assert low < est < high
    assert 0.08 < high - low < 0.35  # ~ 2 x 1.96 x sqrt(0.7 x 0.3 / 60) = 0.23
    big_true = np.tile(small_true, 10)
    big_pred = np.tile(small_pred, 10)
    _, low2, high2 = classifier_metrics.bootstrap_ci(big_true, big_pred, classifier_metrics.accuracy, n_boot=500)
    assert high2 - low2 < (high - low) / 2


def test_repeats_are_averaged_and_kept_paired():
    y_true = np.array([0, 1, 2, 0])
    y_pred = np.array([[0, 1, 2, 0], [0, 1, 0, 1]])  # 100% and 50%
    assert classifier_metrics.accuracy(y_true, y_pred) == pytest.approx(0.75)
    est, low, high = classifier_metrics.bootstrap_ci(y_true, y_pred, classifier_metrics.accuracy, n_boot=200)
    assert est == pytest.approx(0.75) and 0.5 <= low <= est <= high <= 1.0


def test_class_metrics_with_repeats():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([[0, 1, 1, 1], [0, 0, 1, 0]])
    assert classifier_metrics.class_metric("sensitivity", 0)(y_true, y_pred) == pytest.approx(3 / 4)
    assert classifier_metrics.class_metric("specificity", 0)(y_true, y_pred) == pytest.approx(3 / 4)
    table = classifier_metrics.metrics_table(y_true, y_pred, ("a", "b"), n_boot=50)
    assert table.shape == (5, 5)
    assert table.set_index(["metric", "class"]).loc[("accuracy", "all"), "estimate"] == pytest.approx(0.75)


def test_shape_errors():
    with pytest.raises(LiverkitError, match="same shape"):
        classifier_metrics.confusion(np.array([0, 1]), np.array([0]), 2)
    with pytest.raises(LiverkitError, match="bootstrap_ci needs"):
        classifier_metrics.bootstrap_ci(np.array([0, 1]), np.array([0, 1, 1]), classifier_metrics.accuracy)


def test_bootstrap_ci_without_clusters_is_unchanged():
    # the lesion bootstrap draws rng.integers(0, L, L) per sample, as before clusters existed
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 3, 40)
    y_pred = np.where(rng.random((2, 40)) < 0.7, y_true, (y_true + 1) % 3)
    draw_rng = np.random.default_rng(5)
    draws = []
    for _ in range(300):
        index = draw_rng.integers(0, 40, 40)
        draws.append(classifier_metrics.accuracy(y_true[index], y_pred[:, index]))
    expected = np.nanquantile(draws, [0.025, 0.975])
    _, low, high = classifier_metrics.bootstrap_ci(y_true, y_pred, classifier_metrics.accuracy, n_boot=300, seed=5)
    assert (low, high) == (expected[0], expected[1])


def _clustered_outcomes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """30 patients x 6 lesions, all right (20 patients) or all wrong (10 patients) within a patient."""
    patients = np.repeat([f"p{i:02d}" for i in range(30)], 6)
    y_true = np.repeat(np.arange(30) % 2, 6)  # each patient's lesions share a class
    y_pred = np.where(np.repeat(np.arange(30) < 20, 6), y_true, 1 - y_true)
    return y_true, y_pred, patients


def test_cluster_bootstrap_is_wider_when_outcomes_cluster_by_patient():
    y_true, y_pred, patients = _clustered_outcomes()
    est, low, high = classifier_metrics.bootstrap_ci(
        y_true, y_pred, classifier_metrics.accuracy, n_boot=1000, clusters=patients
    )
    est2, low2, high2 = classifier_metrics.bootstrap_ci(
        y_true, y_pred, classifier_metrics.accuracy, n_boot=1000, clusters=np.arange(180).astype(str)
    )
    assert est == est2 == pytest.approx(2 / 3)
    assert low < est < high and low2 < est2 < high2
    assert (high - low) / (high2 - low2) > 1.5  # ~ sqrt(6) = 2.45: 30 independent units, not 180


def test_singleton_clusters_match_the_lesion_bootstrap():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, 120)
    y_pred = np.where(rng.random(120) < 0.7, y_true, (y_true + 1) % 3)
    ids = rng.permutation(120).astype(str)  # shuffled string ids, one per lesion
    _, low, high = classifier_metrics.bootstrap_ci(y_true, y_pred, classifier_metrics.accuracy, n_boot=2000, seed=1)
    _, low2, high2 = classifier_metrics.bootstrap_ci(
        y_true, y_pred, classifier_metrics.accuracy, n_boot=2000, seed=2, clusters=ids
    )
    assert (high2 - low2) == pytest.approx(high - low, rel=0.15)


def test_cluster_resampling_keeps_patients_and_repeats_together():
    # metric sees every drawn patient whole: lesions of patient "a" are labelled 0, of "b" 1; two repeats
    y_true = np.array([0, 0, 0, 1, 1])
    y_pred = np.array([[0, 0, 0, 1, 1], [0, 0, 0, 1, 1]])
    sizes = []

    def metric(t: np.ndarray, p: np.ndarray) -> float:
        assert p.shape == (2, len(t)) and (p == t).all()
        sizes.append((np.sum(t == 0), np.sum(t == 1)))
        return float(np.mean(t))

    classifier_metrics.bootstrap_ci(y_true, y_pred, metric, n_boot=50, clusters=["a", "a", "a", "b", "b"])
    assert set(sizes) <= {(3, 2), (6, 0), (0, 4)} and len(set(sizes)) == 3


def test_metrics_table_passes_clusters_through():
    y_true, y_pred, patients = _clustered_outcomes()
    plain = classifier_metrics.metrics_table(y_true, y_pred, ("a", "b"), n_boot=300)
    clustered = classifier_metrics.metrics_table(y_true, y_pred, ("a", "b"), n_boot=300, clusters=patients)
    width = lambda t: (t.ci_high - t.ci_low)[0]  # noqa: E731  accuracy row
    assert width(clustered) > 1.5 * width(plain)


def test_wrong_clusters_length_is_named():
    with pytest.raises(LiverkitError, match="clusters has 2 entries but there are 3 lesions"):
        classifier_metrics.bootstrap_ci(
            np.array([0, 1, 1]), np.array([0, 1, 0]), classifier_metrics.accuracy, clusters=["a", "b"]
        )
    with pytest.raises(LiverkitError, match="clusters has 4 entries but there are 3 lesions"):
        classifier_metrics.paired_difference_ci(
            np.array([0, 1, 1]), np.array([0, 1, 0]), np.array([0, 1, 1]), clusters=[1] * 4
        )


def test_paired_difference_ci():
    y_true, y_pred, patients = _clustered_outcomes()
    pred_b = y_pred.copy()
    pred_b[:30] = 1 - pred_b[:30]  # b loses patients p00-p04 (all right under a)...
    pred_b[-18:] = y_true[-18:]  # ... and gains p27-p29
    diff, low, high = classifier_metrics.paired_difference_ci(y_true, y_pred, pred_b, clusters=patients, n_boot=500)
    assert diff == pytest.approx((18 - 30) / 180)
    assert low < diff < high
    assert classifier_metrics.paired_difference_ci(y_true, y_pred, y_pred, clusters=patients, n_boot=100) == (0, 0, 0)
    repeats = np.stack([y_pred, pred_b])  # (R, L) arm: half of a's accuracy change
    diff2, _, _ = classifier_metrics.paired_difference_ci(y_true, y_pred, repeats, n_boot=100)
    assert diff2 == pytest.approx(diff / 2)


@pytest.mark.parametrize(("gained", "lost"), [(7, 1), (5, 5), (9, 3), (16, 0), (1, 0)])
def test_permutation_test_with_one_lesion_per_patient_is_exact_mcnemar(gained, lost):
    scipy_stats = pytest.importorskip("scipy.stats")
    n = gained + lost + 5  # 5 concordant lesions contribute nothing
    y_true = np.zeros(n, dtype=int)
    pred_a = np.array([1] * gained + [0] * lost + [0, 0, 0, 1, 1])
    pred_b = np.array([0] * gained + [1] * lost + [0, 0, 0, 1, 1])
    p = classifier_metrics.paired_permutation_test(y_true, pred_a, pred_b, clusters=np.arange(n))
    assert p == pytest.approx(scipy_stats.binomtest(gained, gained + lost, 0.5).pvalue, abs=1e-12)
    if (gained, lost) == (7, 1):
        assert p == 0.0703125  # 2 x (1 + 8) / 256


def test_permutation_test_three_patients_by_hand():
    # patient d = (+2, +1, -1): |T*| over 8 sign patterns = 4,2,2,0,0,2,2,4; T_obs = 2 -> 6/8
    y_true = np.zeros(5, dtype=int)
    pred_a = np.array([1, 1, 1, 0, 1])
    pred_b = np.array([0, 0, 0, 1, 1])
    clusters = ["x", "x", "y", "z", "z"]
    assert classifier_metrics.paired_permutation_test(y_true, pred_a, pred_b, clusters) == 0.75
    # the same with two repeats in b that agree: averaging over repeats changes nothing
    assert classifier_metrics.paired_permutation_test(y_true, pred_a, np.stack([pred_b, pred_b]), clusters) == 0.75


def test_permutation_test_clustering_matters():
    y_true = np.zeros(10, dtype=int)
    pred_a, pred_b = np.ones(10, dtype=int), np.zeros(10, dtype=int)  # b gains all 10 lesions
    assert classifier_metrics.paired_permutation_test(y_true, pred_a, pred_b, clusters=["p"] * 10) == 1.0
    assert classifier_metrics.paired_permutation_test(y_true, pred_a, pred_b, clusters=np.arange(10)) == 2 / 1024
    assert classifier_metrics.paired_permutation_test(y_true, pred_a, pred_a, clusters=np.arange(10)) == 1.0


def test_permutation_test_monte_carlo_beyond_16_patients():
    y_true = np.zeros(40, dtype=int)
    pred_a = np.array([1] * 25 + [0] * 15)
    pred_b = np.zeros(40, dtype=int)
    pred_b[25:35] = 1  # 25 gained, 10 lost over 35 patients: exact McNemar p = 0.0167
    p = classifier_metrics.paired_permutation_test(y_true, pred_a, pred_b, clusters=np.arange(40), n_perm=20000)
    assert p == pytest.approx(0.0167, abs=0.004)
    assert p >= 1 / 20001


def test_holm_by_hand():
    assert classifier_metrics.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert classifier_metrics.holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # monotone, 0.4 x 2 = 0.8, 0.5 x 1 < 0.8
    assert classifier_metrics.holm([0.9, 0.6]) == [1.0, 1.0]  # capped at 1
    adjusted = classifier_metrics.holm([0.01, float("nan"), 0.04])
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    assert classifier_metrics.holm([]) == []


def test_bootstrap_bounds_and_p_value_never_disagree():
    rng = np.random.default_rng(3)
    for trial in range(300):
        draws = rng.normal(rng.uniform(-0.1, 0.1), 0.04, size=int(rng.integers(20, 400)))
        if trial % 3 == 0:
            draws = np.round(draws, 2)  # ties at zero
        p = classifier_metrics.bootstrap_p_value(draws)
        for alpha in (0.05, 0.025, 0.05 / 3):
            low, high = classifier_metrics.bootstrap_bounds(draws, alpha)
            assert low <= high
            assert (low > 0 or high < 0) == (p < alpha), (trial, alpha, p, low, high)


def test_crossed_bootstrap_with_one_repeat_is_the_patient_bootstrap():
    rng = np.random.default_rng(0)
    gain = rng.choice([-1.0, 0.0, 1.0], size=(1, 90), p=[0.2, 0.5, 0.3])
    patients = np.repeat(np.arange(30), 3)
    draws = classifier_metrics.crossed_bootstrap(gain, patients, n_boot=4000, seed=1)
    per_patient = gain[0].reshape(30, 3).mean(axis=1)
    assert draws.mean() == pytest.approx(gain.mean(), abs=0.01)
    assert draws.std() == pytest.approx(per_patient.std() / np.sqrt(30), rel=0.1)  # the SE of a cluster mean


def test_crossed_bootstrap_counts_the_spread_between_repeats():
    """Repeats that disagree (a GAN that helps in one repeat and hurts in another) widen the interval; patients alone
    would not see it."""
    patients = np.arange(60)
    same = np.tile(np.where(np.arange(60) % 2 == 0, 1.0, 0.0), (4, 1))  # every repeat +50 points
    split = np.array([np.full(60, v) for v in (1.0, 0.0, 1.0, 0.0)])  # repeats +100, 0, +100, 0: mean +50
    steady = classifier_metrics.crossed_bootstrap(same, patients, n_boot=2000)
    varied = classifier_metrics.crossed_bootstrap(split, patients, n_boot=2000)
    assert steady.mean() == pytest.approx(0.5, abs=0.02) and varied.mean() == pytest.approx(0.5, abs=0.03)
    assert varied.std() > 3 * steady.std()
    assert classifier_metrics.bootstrap_p_value(varied) > 0.05 > classifier_metrics.bootstrap_p_value(steady)


def test_bonferroni():
    assert classifier_metrics.bonferroni([0.01, 0.04, 0.5]) == pytest.approx([0.03, 0.12, 1.0])

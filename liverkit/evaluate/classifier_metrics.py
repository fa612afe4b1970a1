"""Numbers about a classifier's predictions: accuracy, confusion, sensitivity and specificity, with CIs.

As in the paper, sensitivity of class k is TP/P and specificity TN/N with the other classes as negatives.
Confidence intervals are percentile bootstraps: by default over lesions (resampling the test lesions with all
their repeats together, so repeated runs stay paired, and recomputing the metric); when ``clusters`` (patient
ids) are given, over patients instead, each drawn patient bringing all its lesions, since lesions of one patient
are correlated and the patient is the independent unit. Two classifiers are compared on the same lesions with a
paired bootstrap CI of the accuracy difference and a patient-level sign-flip permutation test, or, over repeats
and patients together, with :func:`crossed_bootstrap` and the p-value and bounds that invert it;
``bonferroni`` and ``holm`` adjust a family of p-values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import pandas as pd

from liverkit.errors import LiverkitError

CI_METHOD = "patient_cluster_bootstrap"
"""How the experiment notebooks' intervals are made (recorded in their metrics as ``ci_method``)."""


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class (n_classes x n_classes)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise LiverkitError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have the same shape.")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class(matrix: np.ndarray) -> pd.DataFrame:
    """Sensitivity TP/P and specificity TN/N per class from a confusion matrix (NaN where P or N is 0)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    total = matrix.sum()
    tp = np.diag(matrix)
    positives = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    tn = total - positives - predicted + tp
    negatives = total - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({"sensitivity": tp / positives, "specificity": tn / negatives})


def summary(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    """Accuracy, per-class sensitivity/specificity, and two summaries of each: the macro average (every class
    alike) and the prevalence-weighted one the paper reports (its summary sensitivity, so weighted, equals its
    accuracy: 78.6% and 78.6%), as a flat dict."""
    matrix = confusion(y_true, y_pred, len(class_names))
    table = per_class(matrix)
    out = {"accuracy": float(np.trace(matrix) / max(matrix.sum(), 1))}
    for k, name in enumerate(class_names):
        out[f"sensitivity_{name}"] = float(table.sensitivity[k])
        out[f"specificity_{name}"] = float(table.specificity[k])
    out["sensitivity_macro"] = float(np.nanmean(table.sensitivity))
    out["specificity_macro"] = float(np.nanmean(table.specificity))
    positives, negatives = matrix.sum(axis=1), matrix.sum() - matrix.sum(axis=1)
    out["sensitivity_weighted"] = float(np.nansum(table.sensitivity * positives) / max(positives.sum(), 1))
    out["specificity_weighted"] = float(np.nansum(table.specificity * negatives) / max(negatives.sum(), 1))
    return out


def _check_lesions(y_true: np.ndarray, y_pred: np.ndarray, name: str) -> None:
    """Raise unless ``y_true`` is (L,) with L > 0 and ``y_pred`` is (L,) or (R, L)."""
    if y_true.ndim != 1 or y_pred.ndim not in (1, 2) or y_pred.shape[-1] != len(y_true):
        raise LiverkitError(f"{name} needs y_true (L,) and y_pred (L,) or (R, L); got {y_true.shape}, {y_pred.shape}.")
    if len(y_true) == 0:
        raise LiverkitError(f"{name} got no lesions.")


def _cluster_codes(clusters: Sequence[Hashable] | np.ndarray, n_lesions: int) -> np.ndarray:
    """Integer codes 0..C-1, one per lesion, for any hashable cluster ids; checks the length."""
    codes, _ = pd.factorize(pd.Series(list(clusters), dtype=object))
    if len(codes) != n_lesions:
        raise LiverkitError(
            f"clusters has {len(codes)} entries but there are {n_lesions} lesions; give one cluster id per lesion."
        )
    if (codes < 0).any():
        raise LiverkitError("clusters contains missing ids (None/NaN); give every lesion a cluster id.")
    return codes


def cluster_resampler(
    n_lesions: int, clusters: Sequence[Hashable] | np.ndarray | None
) -> Callable[[np.random.Generator], np.ndarray]:
    """A function drawing one bootstrap sample of lesion indices: lesions, or whole clusters, with replacement.

    ``draw(rng)`` returns the indices of the drawn lesions; with ``clusters``, as many clusters as there are are
    drawn with replacement, each bringing all its lesions (so a sample's size varies). Shared by every patient-level
    bootstrap of this module's intervals.
    """
    if clusters is None:
        return lambda rng: rng.integers(0, n_lesions, n_lesions)
    codes = _cluster_codes(clusters, n_lesions)
    order = np.argsort(codes, kind="stable")  # lesions grouped by cluster
    counts = np.bincount(codes)
    starts = np.cumsum(counts) - counts

    def draw(rng: np.random.Generator) -> np.ndarray:
        drawn = rng.integers(0, len(counts), len(counts))
        lengths = counts[drawn]
        offsets = np.repeat(starts[drawn] - (np.cumsum(lengths) - lengths), lengths)
        return order[np.arange(lengths.sum()) + offsets]

    return draw


def _bootstrap(
    statistic: Callable[[np.ndarray], float],
    n_lesions: int,
    clusters: Sequence[Hashable] | np.ndarray | None,
    n_boot: int,
    seed: int,
    level: float,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(lesion_index)`` over bootstrap samples of lesions or clusters."""
    draw = cluster_resampler(n_lesions, clusters)
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(draw(rng)) for _ in range(n_boot)], dtype=np.float64)
    alpha = (1 - level) / 2
    low, high = np.nanquantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
) -> tuple[float, float, float]:
    """(estimate, low, high): a metric and its percentile bootstrap CI over lesions, or over patients.

    Lesions of one patient are correlated (same liver, same scanner, often the same lesion type), so
    resampling lesions as if independent makes the interval too narrow. With ``clusters`` the patient is
    the unit of resampling: patients are drawn with replacement, each bringing all its lesions (and all
    repeats of them), and the metric is recomputed on their concatenation. Without ``clusters`` lesions are
    resampled, with the same random draws as before clusters existed.

    Args:
        y_true: true labels, one per lesion (L,).
        y_pred: predictions, L or R x L (R repeats of the same lesions; resampled together, kept paired).
        metric: ``metric(y_true, y_pred)`` with the same shapes.
        n_boot: number of bootstrap samples.
        seed: seed of the random generator.
        level: coverage of the interval (0.95 for a 95% CI).
        clusters: one cluster id (e.g. patient id, any hashable) per lesion, or None to resample lesions.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    _check_lesions(y_true, y_pred, "bootstrap_ci")
    low, high = _bootstrap(
        lambda index: metric(y_true[index], y_pred[..., index]), len(y_true), clusters, n_boot, seed, level
    )
    return float(metric(y_true, y_pred)), low, high


def _lesion_gain(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, name: str) -> np.ndarray:
    """Per lesion: fraction of repeats correct by b minus fraction correct by a (values in [-1, 1])."""
    y_true, pred_a, pred_b = np.asarray(y_true), np.asarray(pred_a), np.asarray(pred_b)
    _check_lesions(y_true, pred_a, name)
    _check_lesions(y_true, pred_b, name)
    correct_a = np.atleast_2d(pred_a == y_true).mean(axis=0)
    correct_b = np.atleast_2d(pred_b == y_true).mean(axis=0)
    return correct_b - correct_a


def paired_difference_ci(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(difference, low, high): accuracy(b) - accuracy(a) with its paired percentile bootstrap CI.

    Both arms are scored on the same resampled lesions (or patients, with ``clusters``) in every bootstrap
    sample, so the interval reflects the variability of the difference, not of each accuracy separately.

    Args:
        y_true: true labels, one per lesion (L,).
        pred_a: predictions of the reference arm, (L,) or (R, L).
        pred_b: predictions of the compared arm, (L,) or (R', L); R' may differ from R.
        clusters: one cluster id (e.g. patient id) per lesion, or None to resample lesions.
        n_boot: number of bootstrap samples.
        seed: seed of the random generator.
        level: coverage of the interval.
    """
    gain = _lesion_gain(y_true, pred_a, pred_b, "paired_difference_ci")
    low, high = _bootstrap(lambda index: gain[index].mean(), len(gain), clusters, n_boot, seed, level)
    return float(gain.mean()), low, high


def _sign_flip_sums(d: np.ndarray, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """|sum of d with signs flipped|: all 2^m patterns when m <= 16, else n_perm random patterns."""
    m = len(d)
    if m <= 16:
        bits = (np.arange(2**m)[:, None] >> np.arange(m)) & 1
        return np.abs((1 - 2 * bits) @ d)
    sums = [np.abs((1 - 2 * rng.integers(0, 2, (min(4096, n_perm - i), m))) @ d) for i in range(0, n_perm, 4096)]
    return np.concatenate(sums)


def paired_permutation_test(
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    clusters: Sequence[Hashable] | np.ndarray | None,
    n_perm: int = 10000,
    seed: int = 0,
) -> float:
    """Two-sided p-value of a patient-level sign-flip permutation test of accuracy(b) = accuracy(a).

    Per patient i, d_i = lesions correct by b minus lesions correct by a (each lesion's correctness averaged
    over repeats when predictions are R x L); the statistic is T = sum_i d_i (the accuracy difference times
    L). Under H0 the two arms are exchangeable within a patient, so each d_i's sign is equally likely + or -.
    Patients with d_i = 0 contribute nothing. With m patients having d_i != 0, all 2^m sign patterns are
    enumerated when m <= 16 (exact p = #{|T*| >= |T|} / 2^m); otherwise ``n_perm`` random patterns give
    p = (1 + #{|T*| >= |T|}) / (1 + n_perm). Returns 1.0 when every d_i is 0.

    The p-value is exact only when m <= 16; above that it is a Monte Carlo estimate. With one lesion per patient
    and one repeat the test is McNemar's exact (binomial) test on the discordant lesions; with several lesions per
    patient or fractional d_i (averaged over repeats) it is a clustered sign-flip test, not McNemar's. It is
    conditional on the trained models: it resamples patients, not what the repeats vary. Sign-flip
    (randomisation) tests for paired data go back to Fisher (1935, The Design of Experiments) and Pitman (1937,
    JRSS Suppl. 4:119-130); for clustered binary data compare Obuchowski (1998, Statistics in Medicine
    17:1495-1507), who adjusts McNemar's statistic for clustering.

    Args:
        y_true: true labels, one per lesion (L,).
        pred_a: predictions of the reference arm, (L,) or (R, L).
        pred_b: predictions of the compared arm, (L,) or (R', L).
        clusters: one patient id per lesion; None treats every lesion as its own patient.
        n_perm: number of random sign patterns when there are more than 16 informative patients.
        seed: seed of the random generator (unused by the exact enumeration).
    """
    gain = _lesion_gain(y_true, pred_a, pred_b, "paired_permutation_test")
    codes = np.arange(len(gain)) if clusters is None else _cluster_codes(clusters, len(gain))
    d = np.bincount(codes, weights=gain)
    d = d[np.abs(d) > 1e-12]
    if len(d) == 0:
        return 1.0
    observed = abs(d.sum()) - 1e-9 * max(1.0, np.abs(d).sum())  # tolerance for float sums
    flipped = _sign_flip_sums(d, n_perm, np.random.default_rng(seed))
    hits = int(np.sum(flipped >= observed))
    return hits / len(flipped) if len(d) <= 16 else (1 + hits) / (1 + len(flipped))


def crossed_bootstrap(
    gain: np.ndarray, clusters: Sequence[Hashable] | np.ndarray, n_boot: int = 4000, seed: int = 0
) -> np.ndarray:
    """Bootstrap draws of a mean per-lesion gain, resampling repeats and patients independently.

    Every repeat of the experiment draws its own folds and trains its own models and GANs,
    and every patient is tested once per repeat: repeats and patients are *crossed* sources of chance. A draw takes
    R repeats with replacement and P patients with replacement (each patient with all its lesions) and averages the
    gain over every drawn (repeat, patient) cell: the pigeonhole bootstrap for crossed random effects (Owen 2007,
    Annals of Applied Statistics 1:556-581), which is slightly conservative. With one repeat it is the
    patient-cluster bootstrap.

    Args:
        gain: per repeat and lesion, correct by the compared arm minus correct by the reference (R, L).
        clusters: one patient id per lesion (L,).
        n_boot: number of bootstrap draws.
        seed: seed of the random generator.
    """
    gain = np.atleast_2d(np.asarray(gain, dtype=np.float64))
    codes = _cluster_codes(clusters, gain.shape[1])
    n_patients, n_repeats = int(codes.max()) + 1, gain.shape[0]
    per_cell = np.stack([np.bincount(codes, weights=row, minlength=n_patients) for row in gain])  # (R, P)
    lesions = np.bincount(codes, minlength=n_patients).astype(np.float64)  # (P,)
    rng = np.random.default_rng(seed)
    repeat_counts = rng.multinomial(n_repeats, np.full(n_repeats, 1 / n_repeats), size=n_boot)  # (B, R)
    patient_counts = rng.multinomial(n_patients, np.full(n_patients, 1 / n_patients), size=n_boot)  # (B, P)
    total = np.einsum("br,rp,bp->b", repeat_counts, per_cell, patient_counts)
    return total / (n_repeats * (patient_counts @ lesions))


def bootstrap_p_value(draws: np.ndarray) -> float:
    """Two-sided p-value of "the difference is 0" by inverting the percentile bootstrap: twice the share of draws
    on the far side of zero (capped at 1). :func:`bootstrap_bounds` with ``alpha`` = a excludes 0 exactly when
    this p-value is below a, so an interval and its test never disagree."""
    draws = np.asarray(draws, dtype=np.float64)
    far_side = min(int(np.sum(draws <= 0)), int(np.sum(draws >= 0)))
    return min(1.0, 2 * far_side / len(draws))


def bootstrap_bounds(draws: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """The percentile interval of ``draws`` at level 1 - ``alpha``, as order statistics (no interpolation) matched
    to :func:`bootstrap_p_value`: the lower bound is above 0 iff fewer than alpha / 2 of the draws are <= 0, the
    upper bound below 0 iff fewer than alpha / 2 are >= 0.

    Args:
        draws: bootstrap draws of the statistic.
        alpha: two-sided error rate (0.05 for a 95% interval; alpha / m for Bonferroni over m comparisons).
    """
    ordered = np.sort(np.asarray(draws, dtype=np.float64))
    k = max(int(np.ceil(alpha * len(ordered) / 2 - 1e-9)), 1)
    return float(ordered[k - 1]), float(ordered[len(ordered) - k])


def bonferroni(p_values: Sequence[float]) -> list[float]:
    """Bonferroni-adjusted p-values (each times the family's size, capped at 1). Unlike Holm's step-down it has
    simultaneous intervals that agree with it: the intervals at level 1 - alpha / m (``alpha / m`` given to
    :func:`bootstrap_bounds`)."""
    p = np.asarray(p_values, dtype=np.float64)
    return np.minimum(1.0, p * len(p)).tolist()


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the input order.

    The k-th smallest of m p-values is multiplied by m - k + 1, then a running maximum keeps the adjusted
    values in the order of the raw ones. NaN stays NaN and does not count in m.

    Args:
        p_values: raw p-values of a family of tests.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    scaled = p[order] * (len(order) - np.arange(len(order)))
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out.tolist()


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction correct, averaged over repeats when ``y_pred`` is R x L."""
    return float(np.mean(np.asarray(y_pred) == np.asarray(y_true)))


def class_metric(kind: str, k: int) -> Callable[[np.ndarray, np.ndarray], float]:
    """A metric function for sensitivity (``kind="sensitivity"``) or specificity of class ``k`` (one-vs-rest)."""

    def metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        y_pred = np.atleast_2d(y_pred)
        positive = y_true == k
        if kind == "sensitivity":
            return float(np.mean(y_pred[:, positive] == k)) if positive.any() else np.nan
        return float(np.mean(y_pred[:, ~positive] != k)) if (~positive).any() else np.nan

    return metric


def metrics_table(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    n_boot: int = 2000,
    seed: int = 0,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Accuracy and per-class sensitivity/specificity with 95% bootstrap CIs: one row per metric.

    Args:
        y_true: true labels (L,).
        y_pred: predictions (L,) or repeats x lesions (R, L).
        class_names: class names, in label order.
        n_boot: number of bootstrap samples per metric.
        seed: seed of the random generator (the same for every metric).
        clusters: one patient id per lesion to resample patients (see :func:`bootstrap_ci`), or None.
    """
    rows = [("accuracy", "all", accuracy)]
    for k, name in enumerate(class_names):
        rows += [
            ("sensitivity", name, class_metric("sensitivity", k)),
            ("specificity", name, class_metric("specificity", k)),
        ]
    records = []
    for metric_name, cls, fn in rows:
        estimate, low, high = bootstrap_ci(y_true, y_pred, fn, n_boot=n_boot, seed=seed, clusters=clusters)
        records.append({"metric": metric_name, "class": cls, "estimate": estimate, "ci_low": low, "ci_high": high})
    return pd.DataFrame(records)

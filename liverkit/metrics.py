"""Numbers about a classifier's predictions: accuracy, confusion, sensitivity and specificity, with CIs.

As in the paper, sensitivity of class k is TP/P and specificity TN/N with the other classes as negatives.
Confidence intervals are percentile bootstraps over lesions: resampling the test lesions (with all their
repeats together, so repeated runs stay paired) and recomputing the metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from liverkit.errors import LiverkitError


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
    """Accuracy, per-class sensitivity/specificity and their macro averages, as a flat dict."""
    matrix = confusion(y_true, y_pred, len(class_names))
    table = per_class(matrix)
    out = {"accuracy": float(np.trace(matrix) / max(matrix.sum(), 1))}
    for k, name in enumerate(class_names):
        out[f"sensitivity_{name}"] = float(table.sensitivity[k])
        out[f"specificity_{name}"] = float(table.specificity[k])
    out["sensitivity_macro"] = float(np.nanmean(table.sensitivity))
    out["specificity_macro"] = float(np.nanmean(table.specificity))
    return out


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(estimate, low, high): a metric and its percentile bootstrap CI over lesions.

    Args:
        y_true: true labels, one per lesion (L,).
        y_pred: predictions, L or R x L (R repeats of the same lesions; resampled together, kept paired).
        metric: ``metric(y_true, y_pred)`` with the same shapes.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.shape[-1] != len(y_true):
        raise LiverkitError(
            f"bootstrap_ci needs y_true (L,) and y_pred (L,) or (R, L); got {y_true.shape}, {y_pred.shape}."
        )
    if len(y_true) == 0:
        raise LiverkitError("bootstrap_ci got no lesions.")
    rng = np.random.default_rng(seed)
    estimate = metric(y_true, y_pred)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        index = rng.integers(0, len(y_true), len(y_true))
        draws[b] = metric(y_true[index], y_pred[..., index])
    alpha = (1 - level) / 2
    low, high = np.nanquantile(draws, [alpha, 1 - alpha])
    return float(estimate), float(low), float(high)


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
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Accuracy and per-class sensitivity/specificity with 95% bootstrap CIs: one row per metric.

    Args:
        y_true: true labels (L,).
        y_pred: predictions (L,) or repeats x lesions (R, L).
    """
    rows = [("accuracy", "all", accuracy)]
    for k, name in enumerate(class_names):
        rows += [
            ("sensitivity", name, class_metric("sensitivity", k)),
            ("specificity", name, class_metric("specificity", k)),
        ]
    records = []
    for metric_name, cls, fn in rows:
        estimate, low, high = bootstrap_ci(y_true, y_pred, fn, n_boot=n_boot, seed=seed)
        records.append({"metric": metric_name, "class": cls, "estimate": estimate, "ci_low": low, "ci_high": high})
    return pd.DataFrame(records)

"""What a result covers and what it cannot show: notebook 02's scope paragraph and the reference lines of the
accuracy charts (the chance level and the paper's numbers).

A student who reads "59.7% -> 60.3%" needs three more numbers to read it: what always guessing the most frequent
class scores, what the paper measured, and how much the two ends could differ by chance. Every sentence here is
computed from the run, so it stays true for any data, profile and seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liverkit.errors import LiverkitError
from liverkit.evaluate.classifier_metrics import bootstrap_bounds, crossed_bootstrap
from liverkit.experiment.classic_sweep import ClassicSweep, prediction_matrix

PAPER_NO_AUGMENTATION = 0.57
"""The paper's accuracy without augmentation (about 57%, 182 lesions, 3 classes, its CNN trained 150 epochs)."""
PAPER_CLASSIC = 0.786
"""The paper's accuracy at its classic optimum (5,000 augmented samples per fold)."""
PAPER_DCGAN = 0.857
"""The paper's accuracy with 1,000 DCGAN lesions per class added to the classic optimum."""


def chance_level(predictions: pd.DataFrame) -> float:
    """The accuracy of always answering the most frequent class of the test lesions (one repeat's lesions: every
    repeat tests each lesion once)."""
    first = predictions
    if "repeat" in predictions:
        first = predictions[predictions["repeat"] == predictions["repeat"].min()]
    if first.empty:
        raise LiverkitError("chance_level needs prediction rows with a y_true column; these are empty.")
    return float(first["y_true"].value_counts(normalize=True).max())


def references(chance: float, stage: str) -> dict[str, float]:
    """The horizontal reference lines of an accuracy chart: the chance level and the paper's numbers for ``stage``.

    Args:
        chance: :func:`chance_level` of the run's test lesions.
        stage: ``"classic"`` (notebook 02) or ``"gan"`` (notebook 05).
    """
    paper = {
        "classic": {"paper: no augmentation": PAPER_NO_AUGMENTATION, "paper: classic optimum": PAPER_CLASSIC},
        "gan": {"paper: classic optimum": PAPER_CLASSIC, "paper: classic + DCGAN": PAPER_DCGAN},
    }
    if stage not in paper:
        raise LiverkitError(f"stage must be 'classic' or 'gan', got {stage!r}.")
    return {"always the most frequent class": chance} | paper[stage]


def group_difference(sweep: ClassicSweep, n_boot: int = 4000) -> tuple[float, float, float]:
    """The largest group's accuracy minus group 0's (the original ROIs), with a 95% interval that resamples patients
    and repeats (crossed, as in notebook 05): (difference, low, high), as fractions."""
    first, last = min(sweep.groups), max(sweep.groups)
    parts = [sweep.predictions[sweep.predictions.group == g] for g in (first, last)]
    (index_a, y_true, pred_a, patients), (index_b, _, pred_b, _) = (prediction_matrix(p) for p in parts)
    if not np.array_equal(index_a, index_b):
        raise LiverkitError("the groups were not tested on the same lesions; rerun notebook 02's sweep.")
    gain = (pred_b == y_true).astype(float) - (pred_a == y_true).astype(float)  # (repeats, lesions)
    low, high = bootstrap_bounds(crossed_bootstrap(gain, patients, n_boot=n_boot, seed=0))
    return float(gain.mean()), low, high


def _points(fraction: float) -> str:
    return f"{100 * fraction:+.1f}"


def classic_scope_text(sweep: ClassicSweep, table: pd.DataFrame, what: str) -> str:
    """Notebook 02's reading of its curve: what the run covers, the two ends of the curve with the interval of their
    difference, the chance level and the paper's numbers beside them, and what the result cannot show.

    Args:
        sweep: notebook 02's sweep.
        table: its :func:`~liverkit.experiment.classic_sweep.sweep_table`.
        what: the data and profile in words (e.g. ``"phantom, quick profile"``).
    """
    rows = sweep.predictions[sweep.predictions.repeat == sweep.predictions.repeat.min()]
    rows = rows[rows.group == min(sweep.groups)]
    chance = chance_level(sweep.predictions)
    start, end = table.iloc[0], table.iloc[-1]
    difference, low, high = group_difference(sweep)
    return (
        f"What this run covers: {len(rows)} test lesions of {rows.patient.nunique()} patients ({what}), "
        f"{sweep.predictions.repeat.nunique()} repeats of {rows.fold.nunique()} folds, a CNN trained "
        f"{int(table.epochs.max())} epochs per model, groups of up to {int(max(sweep.groups)):,} images per fold "
        f"(the paper: up to 15,000, its optimum at 5,000). Accuracy went from {100 * start.accuracy:.1f}% "
        f"[{100 * start.ci_low:.1f}, {100 * start.ci_high:.1f}] with the original ROIs to {100 * end.accuracy:.1f}% "
        f"[{100 * end.ci_low:.1f}, {100 * end.ci_high:.1f}] with {int(end.group):,} images: a difference of "
        f"{_points(difference)} points, 95% interval {_points(low)} to {_points(high)} (patients and repeats "
        f"resampled; descriptive: this notebook fixes no comparison in advance and tests none). Always answering "
        f"the most frequent class scores {100 * chance:.1f}%; the paper went from about "
        f"{100 * PAPER_NO_AUGMENTATION:.0f}% to {100 * PAPER_CLASSIC:.1f}%. What this cannot show: how a paper-sized "
        f"CNN trained 150 epochs on 5,000 images per fold would do, nor which of the extra images or the extra "
        f"steps made a difference (the step-matched model below separates the two)."
    )

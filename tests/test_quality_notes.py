"""Notebook 07's note on reading precision, recall, density and KID: every sentence follows the run's numbers."""

import pandas as pd

from liverkit.evaluate.quality import FoldQuality
from liverkit.evaluate.quality_notes import reading_notes


def _fold(fold: int, n_test: int, values: dict[str, dict[str, float]]) -> FoldQuality:
    """A FoldQuality whose table holds only the overall rows: ``values[set name][metric]``."""
    rows = [
        {
            "fold": fold,
            "comparison": f"{name} vs real test",
            "class": "all",
            "metric": metric,
            "value": value,
            "n_a": n_test,
            "n_b": n_test,
        }
        for name, metrics in values.items()
        for metric, value in metrics.items()
    ]
    return FoldQuality(fold, pd.DataFrame(rows), None, None, {}, None, 1000)


def _values(dcgan_precision=1.0, acgan_precision=1.0, densities=(0.97, 1.13, 1.2), baseline_kid=-0.00003):
    names = ("real train", "dcgan", "acgan")
    precision = (0.91, dcgan_precision, acgan_precision)
    kid = (baseline_kid, 0.0093, 0.0093)
    return {
        name: {"precision": precision[i], "recall": (0.96, 0.0, 0.1)[i], "density": densities[i], "kid_mean": kid[i]}
        for i, name in enumerate(names)
    }


def test_saturated_precision_density_above_1_and_negative_kid_are_named():
    notes = reading_notes([_fold(0, 61, _values()), _fold(1, 60, _values(baseline_kid=0.0002))])
    precision, density, kid = notes.split("\n\n")
    assert "k = 5 on 60 real test lesions per fold (60-61)" in precision  # mean 60.5 shown as 60
    assert "real train (baseline) 0.910, dcgan 1.000, acgan 1.000" in precision
    assert "Every generator is at the ceiling (0.99 or more), so here precision cannot rank them" in precision
    assert "Recall (mean over folds): real train (baseline) 0.960, dcgan 0.000, acgan 0.100." in precision
    assert "dcgan 1.130, acgan 1.200. Above 1 here: dcgan, acgan." in density
    assert "Negative here: real train (baseline) in fold 0 (-0.00003)." in kid


def test_unsaturated_precision_density_below_1_and_no_negative_kid():
    values = _values(dcgan_precision=0.7, densities=(0.97, 0.8, 0.9), baseline_kid=0.001)
    notes = reading_notes([_fold(0, 40, values)], k=3)
    assert "k = 3 on 40 real test lesions per fold." in notes and "lesion's k-th nearest" in notes
    assert "at the ceiling" not in notes and "Read each generator's value beside the baseline's." in notes
    assert "None is above 1 in this run." in notes and "No KID in this run is negative." in notes

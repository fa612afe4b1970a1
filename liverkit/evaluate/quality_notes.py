"""How to read notebook 07's precision, recall, density and KID on a few dozen lesions, in sentences computed from
the run (so that every claim holds for whatever data, profile and seed the run had).

Three properties of these metrics surprise on small sets, and a student meets all three in notebook 07:

- **Precision saturates.** A synthetic lesion counts as precise when it lies inside at least one real test
  lesion's k-NN ball (the ball reaching that lesion's k-th nearest real neighbour). With few reference lesions each
  ball is large (its k-th neighbour is far away), so almost any sample lands in one: precision reaches 1.000 for
  generators that look very different.
- **Density can exceed 1.** Density (Naeem et al. 2020) counts the real balls a sample falls in, divided by k, and
  averages over the samples: about 1 for samples spread like the real lesions, above 1 where they crowd into the
  region where many real balls overlap. It is not a share.
- **KID can be negative.** KID is an unbiased estimate of the squared MMD, a quantity that is never negative; when
  the two sets are close, the true value is near 0, and an estimate that is right only on average can land below 0.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from liverkit.evaluate.quality import BASELINE, REFERENCE, FoldQuality

SATURATED = 0.99
"""Precision at or above this, for every synthetic set, is read as the ceiling: it cannot rank the generators."""


def reading_notes(results: Iterable[FoldQuality], k: int = 5) -> str:
    """Three short paragraphs on reading precision and recall, density, and KID in this run, with its numbers.

    Args:
        results: :func:`liverkit.evaluate.quality.fold_quality` of each fold (their overall rows are read).
        k: the PRDC neighbourhood size the results were computed with (``fold_quality``'s default is 5).
    """
    rows = pd.concat([result.table for result in results], ignore_index=True)
    rows = rows[rows["class"] == "all"]
    means = rows.pivot_table(index="comparison", columns="metric", values="value", aggfunc="mean", sort=False)
    return "\n\n".join([_precision_note(rows, means, k), _density_note(means, k), _kid_note(rows)])


def _name(comparison: str) -> str:
    """``"dcgan"`` from ``"dcgan vs real test"``; the baseline as ``"real train (baseline)"``."""
    name = comparison.removesuffix(f" vs {REFERENCE}")
    return f"{name} (baseline)" if name == BASELINE else name


def _precision_note(rows: pd.DataFrame, means: pd.DataFrame, k: int) -> str:
    """Precision and recall: the size of the reference, the values, and whether precision is at its ceiling."""
    per_fold = rows.drop_duplicates("fold")["n_a"]
    sizes = f"{per_fold.mean():.0f} real test lesions per fold" + (
        f" ({per_fold.min()}-{per_fold.max()})" if per_fold.min() != per_fold.max() else ""
    )
    synthetic = [c for c in means.index if not c.startswith(BASELINE)]
    values = ", ".join(f"{_name(c)} {means.loc[c, 'precision']:.3f}" for c in means.index)
    ceiling = all(means.loc[c, "precision"] >= SATURATED for c in synthetic)
    reading = (
        f"Every generator is at the ceiling ({SATURATED} or more), so here precision cannot rank them, however "
        "different their samples look: compare recall and the KID difference instead."
        if synthetic and ceiling
        else "Read each generator's value beside the baseline's."
    )
    recalls = ", ".join(f"{_name(c)} {means.loc[c, 'recall']:.3f}" for c in means.index)
    return (
        f"Precision and recall with k = {k} on {sizes}. A synthetic lesion is precise when it lies inside the ball "
        "of some real test lesion, the ball reaching that lesion's k-th nearest real neighbour; the fewer the "
        f"reference lesions, the farther that neighbour and the larger the ball, so the easier precision gets. "
        f"Precision (mean over folds): {values}. {reading} Recall turns it round (is each real lesion inside the "
        f"ball of some synthetic one?): near-identical samples have tiny balls, so a generator that repeats itself "
        f"gets low recall however precise it is. Recall (mean over folds): {recalls}."
    )


def _density_note(means: pd.DataFrame, k: int) -> str:
    """Density: what it counts, why it can exceed 1, and which sets do here."""
    values = ", ".join(f"{_name(c)} {means.loc[c, 'density']:.3f}" for c in means.index)
    above = [_name(c) for c in means.index if means.loc[c, "density"] > 1]
    here = f"Above 1 here: {', '.join(above)}." if above else "None is above 1 in this run."
    return (
        f"Density (Naeem et al. 2020) counts the real balls each synthetic lesion lies in, divided by k = {k}, "
        "averaged over the lesions: about 1 when the samples are spread like the real lesions, above 1 when they "
        "crowd where many real balls overlap (the dense middle of the real lesions). It is not a share, so it "
        f"has no ceiling of 1. Density (mean over folds): {values}. {here}"
    )


def _kid_note(rows: pd.DataFrame) -> str:
    """KID: an unbiased estimate of a quantity that is never negative, so near 0 it can be; where it is here."""
    kid = rows[rows["metric"] == "kid_mean"]
    negative = [f"{_name(r.comparison)} in fold {r.fold} ({r.value:.5f})" for r in kid.itertuples() if r.value < 0]
    here = f"Negative here: {', '.join(negative)}." if negative else "No KID in this run is negative."
    return (
        "KID is an unbiased estimate of the squared MMD between the two sets' feature distributions. The squared "
        "MMD itself is never negative, but an unbiased estimate is right only on average, so when the true value "
        "is near 0 (two close sets) a single estimate can land below 0: a negative KID means that this many "
        f"lesions show no difference, not that the sets are closer than identical. {here}"
    )

"""Checkers for notebook 06 (feature maps) and notebook 07 (synthetic quality)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from liverkit.errors import LiverkitError
from liverkit.evaluate.quality import POOLED
from liverkit.experiment.run_folder import RunFolder
from liverkit.kit.exercises.verdict import Verdict, judge, unless_right, within

MODELS = {"cnn_aug": "CNN-AUG", "cnn_aug_gan": "CNN-AUG-GAN"}
"""Notebook 06's two classifiers: the key in its recorded numbers, and the name its titles use."""
_MODEL_ALIASES = (("classic", "CNN-AUG"), ("classic only", "CNN-AUG"), ("classic + dcgan", "CNN-AUG-GAN"))
GANS = {"dcgan": "DCGAN", "acgan": "ACGAN"}
"""The two generators: the key in the recorded numbers, and the name a student writes (any case)."""
TABLE_RESOLUTION = 0.0005
"""Differences below this cannot be read off notebook 06's tables (3 decimals): such values count as tied."""


# ---------------------------------------------------------------------------------------------- notebook 06
def check_06_better_separated(run: RunFolder, answer: Any = None) -> str:
    """Notebook 06, exercise 1: in which model's features are the real test lesions' classes further apart, by
    the silhouette of the real lesions (``pool_silhouette`` of the ``real`` rows)?"""
    numbers = run.read_metrics("06_feature_maps")
    silhouette = {MODELS[m]: numbers[m]["real"]["pool_silhouette"] for m in MODELS}
    agreement = {MODELS[m]: numbers[m]["real"]["class_agreement"] for m in MODELS}
    if any(v is None for v in silhouette.values()):
        raise LiverkitError("the real lesions' silhouette is undefined (fewer than 2 classes in the test fold).")
    truth = within(silhouette, max(silhouette.values()), TABLE_RESOLUTION)
    mistakes = [
        (
            max(agreement, key=agreement.get),
            "That model's real lesions have the higher class agreement "
            "(their nearest neighbours share their class); the question asks about the silhouette, which also "
            "weighs how far the other classes are.",
        )
    ]
    values = ", ".join(f"{name} {value:.3f}" for name, value in silhouette.items())
    verdict = Verdict(
        question="in which model's features are the real test lesions' classes further apart, by the silhouette "
        "of the real rows (pool_silhouette): CNN-AUG or CNN-AUG-GAN?",
        truth=truth,
        kind="name",
        names=tuple(MODELS.values()),
        aliases=_MODEL_ALIASES,
        why=f"The real rows' silhouettes: {values} (+1: classes far apart, 0: overlapping). One fold and one "
        "training each: a difference in the second decimal is within what another fold or seed could give.",
        hint="the pool_silhouette column of the 'real' rows, in the two tables under 'The numbers behind the maps'.",
        mistakes=unless_right(mistakes, truth, "name"),
    )
    return judge(answer, verdict)


def check_06_gan_class_agreement(run: RunFolder, answer: Any = None) -> str:
    """Notebook 06, exercise 3: in CNN-AUG's features (the first table), whose synthetic lesions have the higher
    class agreement (the share of their nearest real lesions of their own class): DCGAN's or ACGAN's?"""
    numbers = run.read_metrics("06_feature_maps")
    first = {GANS[g]: numbers["cnn_aug"][g]["class_agreement"] for g in GANS}
    second = {GANS[g]: numbers["cnn_aug_gan"][g]["class_agreement"] for g in GANS}
    mixing = {GANS[g]: numbers["cnn_aug"][g]["real_neighbours"] for g in GANS}
    truth = within(first, max(first.values()), TABLE_RESOLUTION)
    mistakes = [
        (
            max(second, key=second.get),
            "That is in CNN-AUG-GAN's features (the second table), a model that trained "
            "on DCGAN lesions; read the first table, CNN-AUG's.",
        ),
        (
            max(mixing, key=mixing.get),
            "That GAN's lesions have more real neighbours (they mix in with real "
            "lesions); class agreement asks whether the nearest real lesions are of the same class.",
        ),
    ]
    values = ", ".join(f"{name} {value:.3f}" for name, value in first.items())
    chance = numbers["cnn_aug"]["real"]["class_agreement"]
    verdict = Verdict(
        question="in CNN-AUG's features (the first table), whose synthetic lesions have the higher class "
        "agreement (the 'all' rows): DCGAN's or ACGAN's?",
        truth=truth,
        kind="name",
        names=tuple(GANS.values()),
        why=f"Class agreement in CNN-AUG's features: {values}; real test lesions reach {chance:.3f} (the "
        "baseline). Near the baseline, a GAN's lesions sit among real lesions of their own class.",
        hint="the class_agreement column of the dcgan and acgan 'all' rows in the first table (CNN-AUG).",
        mistakes=unless_right(mistakes, truth, "name"),
    )
    return judge(answer, verdict)


# ---------------------------------------------------------------------------------------------- notebook 07
READINGS = {"synthetic further": "above 0", "synthetic closer": "below 0", "inconclusive": "contains 0"}
"""``quality.kid_differences``' readings as the exercise's three answers."""
_READING_ALIASES = (
    ("above", "above 0"),
    ("> 0", "above 0"),
    ("< 0", "below 0"),
    (">0", "above 0"),
    ("positive", "above 0"),
    ("further", "above 0"),
    ("synthetic further", "above 0"),
    ("below", "below 0"),
    ("<0", "below 0"),
    ("negative", "below 0"),
    ("closer", "below 0"),
    ("synthetic closer", "below 0"),
    ("contains", "contains 0"),
    ("includes 0", "contains 0"),
    ("inconclusive", "contains 0"),
    ("contains zero", "contains 0"),
    ("covers 0", "contains 0"),
)
_MEANING = {
    "above 0": "the synthetic lesions are further from the test lesions than real training lesions are, by more "
    "than the patients and samples drawn explain: the generator misses something real lesions have.",
    "below 0": "the synthetic lesions are closer to the test lesions than the real training lesions are. That is "
    "no proof of better-than-real lesions: the feature space's CNN trained on those very training lesions.",
    "contains 0": "this run cannot tell whether the synthetic lesions are further from the test lesions than real "
    "lesions are: both are compatible with the data.",
}


def check_07_kid_interval(run: RunFolder, gan: str, answer: Any = None) -> str:
    """Notebook 07, exercise 1: is the 95% interval of ``gan``'s KID difference (the mean-over-folds row) above 0,
    below 0, or does it contain 0?

    Args:
        gan: ``"dcgan"`` or ``"acgan"``.
    """
    kid = run.load_table("quality_kid_differences")
    own = kid[kid["synthetic"] == gan]
    if own.empty:
        raise LiverkitError(f"gan must be one of {sorted(set(kid['synthetic']))}, got {gan!r}.")
    pooled = own[own["fold"].astype(str) == POOLED].iloc[0]
    if pd.isna(pooled["ci_low"]):
        raise LiverkitError("the KID differences have no intervals (n_boot=0): rerun notebook 07 with n_boot > 0.")
    truth = READINGS[pooled["reading"]]
    mistakes = []
    if pooled["difference"] != 0:
        sign = "above 0" if pooled["difference"] > 0 else "below 0"
        mistakes.append((sign, "The difference itself is " + sign + ", but its interval reaches 0: read both ends."))
    for row in own[own["fold"].astype(str) != POOLED].itertuples():
        mistakes.append(
            (
                READINGS[row.reading],
                f"That is what fold {row.fold}'s interval says; the question asks about the 'mean over folds' row.",
            )
        )
    verdict = Verdict(
        question=f"is the 95% interval of {gan}'s KID difference (the 'mean over folds' row) above 0, below 0, or "
        "does it contain 0?",
        truth=truth,
        kind="name",
        names=tuple(_MEANING),
        aliases=_READING_ALIASES,
        why=f"[{pooled['ci_low']:.4f}, {pooled['ci_high']:.4f}]: {_MEANING[truth]}",
        hint="find the 'mean over folds' row of this GAN in the KID table: compare ci_low and ci_high with 0.",
        mistakes=unless_right(mistakes, truth, "name"),
    )
    return judge(answer, verdict)


def check_07_lower_recall(run: RunFolder, answer: Any = None) -> str:
    """Notebook 07, exercise 2: which GAN has the lower recall, averaged over the folds (realistic lesions, but
    too few kinds of them)?"""
    means = run.read_metrics("07_synthetic_quality")["mean_over_folds"]
    recall = {GANS[g]: means[f"{g} vs real test"]["recall"] for g in GANS}
    precision = {GANS[g]: means[f"{g} vs real test"]["precision"] for g in GANS}
    truth = within(recall, min(recall.values()), 0.00005)
    mistakes = [
        (
            min(precision, key=precision.get),
            "That GAN has the lower precision (fewer of its lesions look "
            "like some real lesion); 'too few kinds' is recall: how much of the real variety its lesions "
            "cover.",
        )
    ]
    baseline = means["real train vs real test"]
    values = ", ".join(f"{name} {recall[name]:.3f} (precision {precision[name]:.3f})" for name in recall)
    verdict = Verdict(
        question="which GAN has the lower recall, averaged over the folds (the 'mean over folds' rows)?",
        truth=truth,
        kind="name",
        names=tuple(GANS.values()),
        why=f"Recall over folds: {values}; the real baseline: {baseline['recall']:.3f} (precision "
        f"{baseline['precision']:.3f}). Realistic but too few kinds is high precision with low recall; read "
        "precision with the note on saturation above.",
        hint="the recall column of the 'mean over folds' rows in the first quality table.",
        mistakes=unless_right(mistakes, truth, "name"),
    )
    return judge(answer, verdict)

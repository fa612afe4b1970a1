"""Does orientation or side tell the classes apart? The check of the classic augmentation's invariances (notebook 02).

The paper's augmentation (:mod:`liverkit.augment.classic`: rotations to 180 degrees, three flips) assumes that a
lesion's class does not depend on its orientation or side. :func:`orientation_cue` measures, per class, how much
the augmentation's rotations and flips move lesions away from their own class's average lesion (the ``drop``).
:func:`orientation_check` measures it on each fold's training patients only and compares it with a null
reference: the same statistic on randomly turned copies of the same lesions, where orientation carries no class.
:func:`orientation_advice` says in words what that means and how to change the augmentation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liverkit.augment.classic import FLIPS, AugmentConfig, AugmentPlan, resample
from liverkit.data.folds import split
from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.errors import LiverkitError
from liverkit.seeds import derive

_CUE_ANGLES = 12
"""Rotation angles, evenly spaced over ``rot_range_deg``, at which the check turns each lesion."""

_CUE_POOL = 4
"""The check compares images after 4 x 4 block averaging (16 x 16): a lesion's layout, not its pixel noise."""

_DISC_RADIUS_PX = 30.0
"""Only pixels within this radius of the ROI's centre are compared: every rotation maps that disc onto itself, so
no turned image is compared on the mirrored border content that rotations bring into the corners."""

_centre = np.arange(ROI_SIZE) - (ROI_SIZE - 1) / 2
_DISC = (np.hypot(_centre[:, None], _centre[None, :]) <= _DISC_RADIUS_PX).astype(np.float32)  # 64 x 64

NULL_DRAWS = 199
"""Randomly turned copies of the data that make :func:`orientation_check`'s null reference (enough to place the
interval's ends for up to about 10 classes)."""

NULL_LEVEL = 0.95
"""The null interval holds this share of the null draws, widened for the number of classes (Bonferroni)."""

_STREAM = 101
"""The check's random stream: ``derive(seed, fold, _STREAM)`` (lesions drawn per class, the null's turns)."""


def orientation_cue(lesions: LesionSet, config: AugmentConfig, per_class: int = 100, seed: int = 0) -> pd.DataFrame:
    """Per class, how often a lesion is nearest its own class's mean image, before and after the augmentation's
    rotations and flips, on the lesions given (pass training lesions only; :func:`orientation_check` does).

    Where orientation is a class cue (organs on CT sit on one side of the body, say), a turned or flipped lesion
    looks like another class's average lesion, and training on such variants teaches the CNN to ignore the cue.
    Each lesion is compared with every class mean, its own leaving it out, after 4 x 4 block averaging, on the
    ROI's central disc (radius ``_DISC_RADIUS_PX``; rotations keep it inside the ROI).

    Args:
        lesions: the lesions to measure (a fold's training lesions).
        config: the augmentation in use: its ``rot_range_deg`` (12 evenly spaced angles) and its ``n_flip`` flips,
            each flip applied after each angle, as the augmentation composes them.
        per_class: at most this many lesions per class (drawn with ``seed``) make the class means and are turned.
        seed: draws the lesions when a class has more than ``per_class``.

    Returns:
        One row per class: ``lesions``, ``accuracy`` (share nearest their own class mean as they are),
        ``accuracy_transformed`` (the same, averaged over the transforms) and ``drop`` (the difference).
    """
    table, _ = _fold_statistics(lesions, config, per_class, np.random.default_rng(seed), draws=0)
    return table


def orientation_check(
    lesions: LesionSet,
    fold_of: np.ndarray,
    config: AugmentConfig,
    per_class: int = 100,
    seed: int = 0,
    null_draws: int = NULL_DRAWS,
) -> pd.DataFrame:
    """:func:`orientation_cue` on each fold's training patients, against a null reference (notebook 02).

    The null: every training lesion replaced by a copy turned by one of the augmentation's own transforms, drawn
    at random, so that orientation carries no class the augmentation could erase; the same statistic on those
    copies, ``null_draws`` times. Each turned copy is one resampling of the original, as each variant is.
    The drop averaged over folds is compared with the null's interval (``NULL_LEVEL`` of the draws, Bonferroni
    over the classes); a class whose drop lies above it is flagged (``cue``). Test patients are never used.

    Args:
        lesions, fold_of: all lesions and their patient-level folds (notebook 01's).
        config: the augmentation in use.
        per_class: at most this many training lesions per class and fold are used.
        seed: the run's seed (draws of lesions and of the null's turns, per fold).
        null_draws: randomly turned copies of each fold's training lesions.

    Returns:
        One row per class: ``lesions`` (used, summed over folds), ``accuracy``, ``accuracy_transformed`` and
        ``drop`` (means over folds), ``null_low`` and ``null_high`` (the null's interval for the drop), ``cue``
        (drop above ``null_high``) and ``fold_<f>`` (each fold's drop).
    """
    if null_draws < 1:
        raise LiverkitError(f"null_draws must be at least 1, got {null_draws}.")
    fold_of = np.asarray(fold_of)
    tables, nulls = [], []
    for fold in sorted(set(fold_of.tolist())):
        train, _ = split(lesions, fold_of, fold)  # the test patients stop here
        rng = np.random.default_rng(derive(seed, fold, _STREAM))
        table, null = _fold_statistics(train, config, per_class, rng, null_draws)
        tables.append(table.assign(fold=fold))
        nulls.append(null)  # draws x classes
    return _summary(pd.concat(tables), np.mean(nulls, axis=0))


def _summary(per_fold: pd.DataFrame, null: np.ndarray) -> pd.DataFrame:
    """Per class: means over folds, the null's interval and each fold's drop.

    Args:
        per_fold: :func:`orientation_cue`'s rows of every fold, with a ``fold`` column.
        null: the null's drops averaged over folds, draws x classes.
    """
    means = per_fold.groupby("class", sort=False)[["accuracy", "accuracy_transformed", "drop"]].mean()
    table = per_fold.groupby("class", sort=False)[["lesions"]].sum().join(means).reset_index()
    tail = (1 - NULL_LEVEL) / 2 / max(len(table), 1)
    table["null_low"] = np.nanquantile(null, tail, axis=0)
    table["null_high"] = np.nanquantile(null, 1 - tail, axis=0)
    table["cue"] = table["drop"] > table["null_high"]
    wide = per_fold.pivot(index="class", columns="fold", values="drop").add_prefix("fold_")
    return table.join(wide, on="class")


def _fold_statistics(
    lesions: LesionSet, config: AugmentConfig, per_class: int, rng: np.random.Generator, draws: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """The per-class table of :func:`orientation_cue` on ``lesions``, and the drops of ``draws`` null copies.

    Args:
        lesions: the lesions to measure (a fold's training lesions).
        config: the augmentation in use.
        per_class: at most this many lesions per class are used (drawn with ``rng``).
        rng: draws the lesions, then the null's turns.
        draws: null copies to measure (0: none).

    Returns:
        The table (one row per class) and the null's drops (draws x classes).
    """
    n_classes = len(lesions.class_names)
    counts = np.bincount(lesions.labels, minlength=n_classes)
    chosen = np.concatenate(
        [
            np.sort(rng.choice(np.flatnonzero(lesions.labels == k), min(per_class, counts[k]), False))
            for k in range(n_classes)
        ]
    )
    labels = lesions.labels[chosen]
    keys, compose = _closure(_transforms(config))
    turned = _turned(lesions.images[chosen], keys, config.interpolation)[:, :, 0] * _DISC  # E x M x 64 x 64
    bank = _Bank(_block_mean(turned), labels, n_classes)
    before, after = bank.accuracies(compose[np.zeros(len(chosen), dtype=np.int64)])
    table = pd.DataFrame({"class": lesions.class_names, "lesions": np.bincount(labels, minlength=n_classes)})
    table["accuracy"], table["accuracy_transformed"] = before, after
    table["drop"] = table["accuracy"] - table["accuracy_transformed"]
    null = np.empty((draws, n_classes))
    for d in range(draws):
        turns = rng.integers(1, len(compose), size=len(chosen))  # one of the transforms per lesion, at random
        null_before, null_after = bank.accuracies(compose[turns])
        null[d] = null_before - null_after
    return table, null


class _Bank:
    """Every chosen lesion under every element of :func:`_closure`, block-averaged, with the dot products that
    nearest-class-mean decisions need (computed once, so each null draw is a few small matrix products).

    Args:
        images: E x M x h x w (element, lesion).
        labels: the lesions' classes (M,).
        n_classes: the number of classes.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, n_classes: int) -> None:
        e, m = images.shape[:2]
        self.flat = images.reshape(e, m, -1).astype(np.float64)  # E x M x P
        self.norms = (self.flat**2).sum(axis=-1)  # E x M
        self.gram = np.einsum("emp,fmp->mef", self.flat, self.flat)  # M x E x E: one lesion's elements
        self.labels, self.n_classes = labels, n_classes

    def accuracies(self, elements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per class, the share of lesions nearest their own class mean as they are, and after every transform.

        Args:
            elements: M x (T + 1): the element each lesion is as it is (column 0; the class means are made of
                these), then after each transform.
        """
        m, labels = len(self.labels), self.labels
        index = np.arange(m)
        start = elements[:, 0]
        onehot = np.eye(self.n_classes)[labels]  # M x C
        sums = onehot.T @ self.flat[start, index]  # C x P
        counts = onehot.sum(axis=0)  # C
        dots = self.flat @ sums.T  # E x M x C: every element with every class sum
        scale = np.maximum(counts, 1)
        distance = self.norms[..., None] - 2 * dots / scale + (sums**2).sum(axis=-1) / scale**2  # E x M x C
        own_count = counts[labels] - 1  # M: the own class without the lesion
        own_sum_dot = dots[:, index, labels] - self.gram[index, :, start].T  # E x M
        own_norm = (sums[labels] ** 2).sum(axis=-1) - 2 * dots[start, index, labels] + self.norms[start, index]  # M
        keep = np.maximum(own_count, 1)
        own = self.norms - 2 * own_sum_dot / keep + own_norm / keep**2  # E x M
        distance[:, index, labels] = np.where(own_count > 0, own, np.inf)
        nearest = distance.argmin(axis=2) == labels  # E x M
        before = nearest[start, index]  # M
        after = nearest[elements[:, 1:].T, index].mean(axis=0)  # M
        by_class = [labels == k for k in range(self.n_classes)]
        return (
            np.array([before[c].mean() if c.any() else np.nan for c in by_class]),
            np.array([after[c].mean() if c.any() else np.nan for c in by_class]),
        )


def _transforms(config: AugmentConfig) -> np.ndarray:
    """The check's transforms as 2 x 2 sampling matrices (output -> input, as :mod:`liverkit.augment.classic` builds
    them): ``_CUE_ANGLES`` angles evenly spaced over ``rot_range_deg``, each kept as it is and under each flip in use.
    T x 2 x 2."""
    matrices = []
    for angle in np.deg2rad(np.linspace(*config.rot_range_deg, _CUE_ANGLES)):
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        for fx, fy in [(False, False), *FLIPS[: config.n_flip]]:
            matrices.append(rotation @ np.diag([-1.0 if fx else 1.0, -1.0 if fy else 1.0]))
    return np.stack(matrices)


def _closure(transforms: np.ndarray) -> tuple[list[tuple[float, bool]], np.ndarray]:
    """Every element the check needs, once: a lesion turned by ``g`` (the identity or a transform), then by ``t``.

    Turning by ``g`` and then by ``t`` samples the original at ``G @ T`` (one resampling, as the augmentation makes
    each variant). Each element is named (angle in degrees, mirrored), the plan's rotation and left-right flip.

    Returns:
        The elements' names (E,) and ``compose`` ((T + 1) x (T + 1)): the element of (g, t), index 0 of either
        being the identity.
    """
    both = np.concatenate([np.eye(2)[None], transforms])  # T + 1 x 2 x 2
    keys: dict[tuple[float, bool], int] = {}
    compose = np.empty((len(both), len(both)), dtype=np.int64)
    for g, first in enumerate(both):
        for t, then in enumerate(both):
            key = _element(first @ then)
            compose[g, t] = keys.setdefault(key, len(keys))
    return list(keys), compose


def _element(matrix: np.ndarray) -> tuple[float, bool]:
    """(angle in degrees, mirrored) of an orthogonal 2 x 2 sampling matrix: ``rotation(angle) @ diag(-1, 1)`` when
    mirrored, else ``rotation(angle)``."""
    mirrored = bool(np.linalg.det(matrix) < 0)
    rotation = matrix @ np.diag([-1.0, 1.0]) if mirrored else matrix
    angle = np.rad2deg(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return round(float(angle) % 360.0, 6) % 360.0, mirrored


def _turned(images: np.ndarray, keys: list[tuple[float, bool]], interpolation: str) -> np.ndarray:
    """``images`` (M x 1 x 64 x 64) under every element ``keys`` names, one resampling each (``interpolation``, the
    augmentation's): E x M x 1 x 64 x 64."""
    m, e = len(images), len(keys)
    plan = AugmentPlan(
        parent=np.tile(np.arange(m), e),
        angle_deg=np.repeat([angle for angle, _ in keys], m),
        flip_x=np.repeat([mirrored for _, mirrored in keys], m),
        flip_y=np.zeros(m * e, dtype=bool),
        shift_px=np.zeros((m * e, 2)),
        scale=np.ones(m * e),
        kind=np.zeros(m * e, dtype=np.int64),
        interpolation=interpolation,
    )
    return resample(images, plan, None, "cpu", 512, None).numpy().reshape(e, m, 1, ROI_SIZE, ROI_SIZE)


def _block_mean(images: np.ndarray) -> np.ndarray:
    """Average ``_CUE_POOL`` x ``_CUE_POOL`` pixel blocks of the last two axes (64 x 64 -> 16 x 16)."""
    shape = (*images.shape[:-2], ROI_SIZE // _CUE_POOL, _CUE_POOL, ROI_SIZE // _CUE_POOL, _CUE_POOL)
    return images.reshape(shape).mean(axis=(-3, -1))


def orientation_advice(check: pd.DataFrame, config: AugmentConfig) -> str:
    """What :func:`orientation_check`'s table says about the augmentation in use, in words, with how to change it.

    Args:
        check: from :func:`orientation_check`.
        config: the augmentation it was measured with.
    """
    if "cue" not in check.columns:
        raise LiverkitError("orientation_advice reads orientation_check's table (with its null interval).")
    low, high = config.rot_range_deg
    used = f"rotations in [{low:g}, {high:g}] degrees and {config.n_flip} flip(s)"
    if len(check) < 2:
        return f"With one class there is no other class to confuse it with: nothing to check for the {used}."
    flagged = check[check["cue"]]
    if flagged.empty:
        worst = check.loc[check["drop"].idxmax()]
        # a negative drop is a rise: the turned lesions matched their own class more often than the originals
        largest = "largest drop" if worst["drop"] > 0 else "no class dropped; smallest rise"
        return (
            f"No sign of an orientation cue at this scale: on each fold's training patients, the {used} move every "
            f"class's lesions from their own class's average lesion no more than randomly turned copies of the same "
            f"lesions do ({largest}: class {worst['class']!r}, {worst['drop']:+.3f}, null interval "
            f"[{worst['null_low']:.3f}, {worst['null_high']:.3f}]). The check compares the ROI's central disc in "
            f"{_CUE_POOL} x {_CUE_POOL} pixel blocks with class averages; a finer cue, one outside the disc, or one "
            "too weak for this many lesions can escape it."
        )
    named = "; ".join(
        f"class {row['class']!r}: drop {row['drop']:.3f}, above the null interval "
        f"[{row['null_low']:.3f}, {row['null_high']:.3f}]"
        for _, row in flagged.iterrows()
    )
    return (
        f"WARNING: the {used} move more training lesions away from their own class's average lesion than they move "
        f"randomly turned copies of the same lesions ({named}). Orientation or side looks like a cue for "
        f"{_names(flagged['class'])} in this data, and this augmentation teaches the CNN to ignore it. Try small "
        "rotations and no flips: for one run `liverkit run ... --set augment.n_flip=0 --set "
        "'augment.rot_range_deg=[0, 15]'` (or `overrides` in the parameters cell); for every run on this data, "
        "`augment: {rot_range_deg: [0, 15], n_flip: 0}` in its manifest entry. Then compare this notebook's "
        "accuracy with and without."
    )


def _names(classes: pd.Series) -> str:
    """The flagged classes in words: ``class 'a'``, or ``classes 'a' and 'b'``."""
    quoted = [repr(str(c)) for c in classes]
    if len(quoted) == 1:
        return f"class {quoted[0]}"
    return f"classes {', '.join(quoted[:-1])} and {quoted[-1]}"


def orientation_metrics(check: pd.DataFrame) -> dict:
    """The numbers notebook 02 records about the check: per class the drop, the null interval and the flag.

    Args:
        check: from :func:`orientation_check`.
    """
    names = [str(c) for c in check["class"]]
    return {
        "orientation_drop": {c: round(float(d), 4) for c, d in zip(names, check["drop"], strict=True)},
        "orientation_null": {
            c: [round(float(lo), 4), round(float(hi), 4)]
            for c, lo, hi in zip(names, check["null_low"], check["null_high"], strict=True)
        },
        "orientation_cue": {c: bool(cue) for c, cue in zip(names, check["cue"], strict=True)},
    }

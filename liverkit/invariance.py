"""Does orientation or side tell the classes apart? The check of the classic augmentation's invariances (notebook 02).

The paper's augmentation (:mod:`liverkit.augment`: rotations to 180 degrees, three flips) assumes that a
lesion's class does not depend on its orientation or side. :func:`orientation_cue` measures, per class, how much
the augmentation's rotations and flips move lesions away from their own class's average lesion, and
:func:`orientation_advice` says in words what that means and how to change the augmentation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from liverkit.augment import FLIPS, AugmentConfig, AugmentPlan, resample
from liverkit.data.lesionset import ROI_SIZE, LesionSet

ORIENTATION_WARNING = 0.15
"""The :func:`orientation_cue` drop at or above which notebook 02 warns: the augmentation's rotations and flips
make at least 15 in 100 of a class's lesions look more like another class's average lesion than their own."""

_CUE_ANGLES = 12
"""Rotation angles, evenly spaced over ``rot_range_deg``, at which :func:`orientation_cue` turns each lesion."""

_CUE_POOL = 4
""":func:`orientation_cue` compares images after 4 x 4 block averaging (16 x 16): a lesion's layout, not its
pixel noise."""


def orientation_cue(lesions: LesionSet, config: AugmentConfig, per_class: int = 100, seed: int = 0) -> pd.DataFrame:
    """Per class, how often a lesion is nearest its own class's mean image, before and after the augmentation's
    rotations and flips (notebook 02).

    The paper's augmentation (rotations to 180 degrees, three flips) assumes that a lesion's class does not depend
    on its orientation or side. Where it does (organs on CT sit on one side of the body, say), a turned or flipped
    lesion looks like another class's average lesion, and training on such variants teaches the CNN to ignore the
    cue. A class mean keeps what its lesions share in layout; each lesion is compared with the class means left
    out of (leave-one-out), after 4 x 4 block averaging. Both accuracies are measured on the same lesions, so
    their difference (``drop``) is what the transforms took away.

    Args:
        lesions: the data set.
        config: the augmentation in use: its ``rot_range_deg`` (12 evenly spaced angles) and its ``n_flip`` flips,
            each flip applied after each angle, as the augmentation composes them.
        per_class: at most this many lesions per class are turned (drawn with ``seed``); every lesion makes the
            class means.

    Returns:
        One row per class: ``lesions`` (turned), ``accuracy`` (share nearest their own class mean as they are),
        ``accuracy_transformed`` (the same, averaged over the transforms) and ``drop`` (the difference). A drop
        near 0: orientation does not tell this class apart; 0.15 or more: it does, and the augmentation erases it.
    """
    pooled = _block_mean(lesions.images[:, 0])  # N x 16 x 16
    n_classes = len(lesions.class_names)
    counts = np.bincount(lesions.labels, minlength=n_classes)
    sums = np.stack([pooled[lesions.labels == k].sum(axis=0) for k in range(n_classes)])  # C x 16 x 16
    rng = np.random.default_rng(seed)
    chosen = np.concatenate(
        [
            np.sort(rng.choice(np.flatnonzero(lesions.labels == k), min(per_class, counts[k]), replace=False))
            for k in range(n_classes)
        ]
    )
    turned = _block_mean(_transformed(lesions.images[chosen], config)[:, :, 0])  # T x M x 16 x 16
    before = _nearest_mean(pooled[chosen][None], pooled[chosen], lesions.labels[chosen], sums, counts)  # 1 x M
    after = _nearest_mean(turned, pooled[chosen], lesions.labels[chosen], sums, counts)  # T x M
    labels = lesions.labels[chosen]
    table = pd.DataFrame({"class": lesions.class_names, "lesions": np.bincount(labels, minlength=n_classes)})
    table["accuracy"] = [before[0, labels == k].mean() if (labels == k).any() else np.nan for k in range(n_classes)]
    table["accuracy_transformed"] = [
        after[:, labels == k].mean() if (labels == k).any() else np.nan for k in range(n_classes)
    ]
    table["drop"] = table["accuracy"] - table["accuracy_transformed"]
    return table


def _nearest_mean(
    images: np.ndarray, originals: np.ndarray, labels: np.ndarray, sums: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Whether each image (T x M x h x w) is nearest its own class's mean, that mean leaving out the lesion's
    original (``originals``, M x h x w); a class with one lesion has no mean left for it, so it never wins."""
    own_count = counts[labels] - 1  # M
    own_mean = (sums[labels] - originals) / np.maximum(own_count, 1)[:, None, None]  # M x h x w
    means = sums / np.maximum(counts, 1)[:, None, None]  # C x h x w
    distance = ((images[:, :, None] - means[None, None]) ** 2).mean(axis=(-2, -1))  # T x M x C
    own = ((images - own_mean[None]) ** 2).mean(axis=(-2, -1))  # T x M
    distance[:, np.arange(len(labels)), labels] = np.where(own_count > 0, own, np.inf)[None]
    return distance.argmin(axis=2) == labels[None]


def _transformed(images: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """``images`` (M x 1 x 64 x 64) under every rotation angle and flip :func:`orientation_cue` uses:
    T x M x 1 x 64 x 64."""
    angles = np.linspace(*config.rot_range_deg, _CUE_ANGLES)
    flips = [(False, False), *FLIPS[: config.n_flip]]
    transforms = [(angle, fx, fy) for angle in angles for fx, fy in flips]
    m, t = len(images), len(transforms)
    plan = AugmentPlan(
        parent=np.tile(np.arange(m), t),
        angle_deg=np.repeat([a for a, _, _ in transforms], m),
        flip_x=np.repeat([fx for _, fx, _ in transforms], m),
        flip_y=np.repeat([fy for _, _, fy in transforms], m),
        shift_px=np.zeros((m * t, 2)),
        scale=np.ones(m * t),
        kind=np.zeros(m * t, dtype=np.int64),
        interpolation=config.interpolation,
    )
    return resample(images, plan, None, "cpu", 512, None).numpy().reshape(t, m, 1, ROI_SIZE, ROI_SIZE)


def _block_mean(images: np.ndarray) -> np.ndarray:
    """Average ``_CUE_POOL`` x ``_CUE_POOL`` pixel blocks of the last two axes (64 x 64 -> 16 x 16)."""
    shape = (*images.shape[:-2], ROI_SIZE // _CUE_POOL, _CUE_POOL, ROI_SIZE // _CUE_POOL, _CUE_POOL)
    return images.reshape(shape).mean(axis=(-3, -1))


def orientation_advice(cue: pd.DataFrame, config: AugmentConfig) -> str:
    """What :func:`orientation_cue`'s table says about the augmentation in use, in words, with how to change it."""
    low, high = config.rot_range_deg
    used = f"rotations in [{low:g}, {high:g}] degrees and {config.n_flip} flip(s)"
    if len(cue) < 2:
        return f"With one class there is no other class to confuse it with: nothing to check for the {used}."
    worst = cue.loc[cue["drop"].idxmax()]
    share = f"{worst['accuracy']:.2f} -> {worst['accuracy_transformed']:.2f}"
    if worst["drop"] < ORIENTATION_WARNING:
        return (
            f"The {used} leave every class's lesions about as close to their own class's average lesion as before "
            f"(largest drop: class {worst['class']!r}, {share}, below {ORIENTATION_WARNING}): orientation and side "
            "do not look like class cues in this data, so the augmentation's invariances look safe."
        )
    return (
        f"WARNING: after the {used}, fewer lesions of class {worst['class']!r} are nearest their own class's "
        f"average lesion ({share}; warning at a drop of {ORIENTATION_WARNING}). Orientation or side looks like a "
        "class cue in this data, and this augmentation teaches the CNN to ignore it. Try small rotations and no "
        "flips: for one run `liverkit run ... --set augment.n_flip=0 --set 'augment.rot_range_deg=[0, 15]'` (or "
        "`overrides` in the parameters cell); for every run on this data, `augment: {rot_range_deg: [0, 15], "
        "n_flip: 0}` in its manifest entry. Then compare this notebook's accuracy with and without."
    )

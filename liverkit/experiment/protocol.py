"""The fold-safe protocol's building blocks: each repeat's outer folds, each (repeat, fold)'s splits, augmentation
pools and model seeds.

Every repeat draws its own patient-level outer folds (repeat 0 keeps notebook 01's), so the repeats vary which
patients are tested together as well as the pools, inner splits, seeds and (when retrained) the GANs: the
intervals of notebook 05 then cover the partition too.

Both sweeps (the classic one of notebook 02 and the GAN one of notebook 05) and the GAN notebooks cut their
training data with these functions, so a model of one sweep can be rebuilt exactly by another: the same split,
pool, nested order and seed, from the run seed and :class:`~liverkit.seeds.Stream`. A test fold's lesions are
split off before anything is augmented, and :func:`~liverkit.data.folds.check_disjoint` guards every training
set against the lesions it is judged on.
"""

from __future__ import annotations

import numpy as np
import torch

from liverkit.augment import classic
from liverkit.augment.classic import AugmentConfig
from liverkit.data.folds import patient_folds, split
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.seeds import Stream, derive


def repeat_folds(lesions: LesionSet, fold_of: np.ndarray, seed: int, repeat: int) -> np.ndarray:
    """The outer folds of ``repeat``: notebook 01's ``fold_of`` for repeat 0, and for every other repeat a fresh
    patient-level split, stratified by class, into as many folds (:func:`~liverkit.data.folds.patient_folds`).

    Args:
        lesions, fold_of: all lesions and notebook 01's folds (repeat 0's).
        seed: the run seed; repeat r > 0 splits with ``derive(seed, r, Stream.OUTER_FOLDS)``.
    """
    fold_of = np.asarray(fold_of)
    if repeat == 0:
        return fold_of
    n_folds = int(fold_of.max()) + 1
    return patient_folds(lesions, k=n_folds, seed=derive(seed, repeat, Stream.OUTER_FOLDS))


def model_seed(seed: int, repeat: int, fold: int, inner_fold: int | None = None) -> int:
    """The one model seed of every CNN of (repeat, fold), all groups and arms alike (common random numbers).

    Inner models of inner fold ``k`` share their own seed. Groups and arms then differ only in their training data.
    """
    if inner_fold is None:
        return derive(seed, repeat, fold, Stream.OUTER_MODEL)
    return derive(seed, repeat, fold, Stream.INNER_MODEL, inner_fold)


def _pool(train: LesionSet, aug: AugmentConfig, rng: np.random.Generator):
    plan = classic.plan_pool(train, aug, rng)
    return plan, classic.nested_order(plan, rng)


def outer_pool(train: LesionSet, aug: AugmentConfig, seed: int, repeat: int, fold: int):
    """The augmentation pool and nested order that the sweep's outer models of (repeat, fold) were cut from.

    The GAN notebooks use it to rebuild exactly the classic group the chosen CNN was trained on.
    """
    return _pool(train, aug, np.random.default_rng(derive(seed, repeat, fold, Stream.OUTER_POOL)))


def inner_splits(train: LesionSet, inner_folds: int | None, seed: int, repeat: int, fold: int):
    """[(inner training, inner validation)] of (repeat, fold): each of ``inner_folds`` patient groups held out once.

    The honest choices of notebooks 02 (classic group) and 05 (synthetic size) both use these splits; ``None`` or
    fewer than 2 inner folds gives no splits (then only the ``paper`` choice is possible).
    """
    if inner_folds is None or inner_folds < 2:
        return []
    inner_fold_of = patient_folds(train, k=inner_folds, seed=derive(seed, repeat, fold, Stream.INNER_SPLIT))
    return [split(train, inner_fold_of, k) for k in range(inner_folds)]


def inner_pool(inner_train: LesionSet, aug: AugmentConfig, seed: int, repeat: int, fold: int, inner_fold: int = 0):
    """The augmentation pool and nested order that the inner models of (repeat, fold, inner_fold) were cut from."""
    rng = np.random.default_rng(derive(seed, repeat, fold, Stream.INNER_POOL, inner_fold))
    return _pool(inner_train, aug, rng)


def control_variants(
    train: LesionSet, plan, order: np.ndarray, group_size: int, per_class: int, device: str | torch.device = "cpu"
) -> LesionSet:
    """The control arm's extra classic variants: the first ``per_class`` of every class in the pool's nested order
    after the classic group (for group 0, the originals, from the start), so they never repeat a group member.

    Args:
        train, plan, order: the training lesions and the pool the classic group was cut from.
        group_size: the classic group's size (0 = the original ROIs).
        per_class: variants per class (the largest added size).
    """
    rest = order[group_size:]
    labels = train.labels[plan.parent[rest]]
    picks = [rest[labels == k][:per_class] for k in range(len(train.class_names))]
    short = [train.class_names[k] for k, p in enumerate(picks) if len(p) < per_class]
    if short:
        raise LiverkitError(
            f"the augmentation pool has fewer than {per_class} unused variants of class(es) {short} for the control "
            "arm; use smaller synthetic sizes or more rotations (AugmentConfig.n_rot)."
        )
    chosen = np.concatenate(picks)
    return classic.make_group(train, plan, chosen, len(chosen), device)  # in pool order within each class: nested


def first_per_class(lesions: LesionSet, n: int) -> LesionSet:
    """The first ``n`` lesions of every class (a smaller group is inside every larger one)."""
    rank = np.zeros(len(lesions), dtype=np.int64)
    for k in range(len(lesions.class_names)):
        members = np.flatnonzero(lesions.labels == k)
        rank[members] = np.arange(len(members))
    return lesions.subset(np.flatnonzero(rank < n))

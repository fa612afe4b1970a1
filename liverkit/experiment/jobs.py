"""The sweeps as data: a frozen description of each CNN to train, and one pure function that trains and scores it.

A :class:`CNNJob` names everything that decides one model: its (repeat, fold) and, for the honest choice, inner
fold; the classic group it is cut from; what an arm adds (extra classic variants, or one GAN kind's lesions, per
class); its config and its seed. :func:`run_cnn_job` rebuilds that training set from :class:`SweepInputs` (the
lesions, folds, augmentation settings, run seed and, for the GAN sweep, the generators), trains, and returns a
plain record: test predictions for an outer model, inner-validation counts for an inner one. Nothing depends on
the order in which jobs run, or where: :mod:`liverkit.experiment.executors` runs them one by one, fused on a GPU
(:func:`run_cnn_jobs_fused`) or on a Dask cluster, and the records are the same.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from liverkit.augment import classic
from liverkit.augment.classic import AugmentConfig
from liverkit.data.folds import check_disjoint, split
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.experiment.protocol import (
    control_variants,
    first_per_class,
    inner_pool,
    inner_splits,
    model_seed,
    outer_pool,
    repeat_folds,
)
from liverkit.experiment.synthesis import fold_samples
from liverkit.seeds import Stream, derive
from liverkit.train.checkpoints import save_classifier
from liverkit.train.classifier import (
    ClassifierConfig,
    TrainedClassifier,
    predict,
    train_classifier,
)

CLASSIC = "classic"
"""The arm that trains on the classic group alone (every job of the classic sweep)."""
CONTROL = "classic_control"
"""The same-size control arm: the classic group plus extra classic variants instead of synthetic lesions."""
MEMO_SIZE = 24
"""Splits, pools, groups and synthetic sets kept per process (jobs of one (repeat, fold) reuse them)."""


@dataclass(frozen=True)
class CNNJob:
    """One CNN of a sweep: the recipe of its training set, its config and its seed."""

    repeat: int
    fold: int
    """The test fold; its lesions are split off before anything else."""
    inner_fold: int | None
    """None for an outer model (judged on the fold's test lesions); k for an inner model of the honest choice
    (trained without inner fold k of the training patients, judged on it)."""
    classic_group: int
    """The classic group's size (0: the original ROIs)."""
    config: ClassifierConfig
    seed: int
    """The model seed (initial weights, batch order, dropout): one per (repeat, fold, inner fold)."""
    arm: str = CLASSIC
    """``classic``, ``classic_control`` or a GAN kind."""
    added_per_class: int = 0
    """Images per class the arm adds to the classic group."""
    save_to: str | None = None
    """A file to write the trained model to (the GAN sweep keeps its chosen models)."""

    @property
    def stage(self) -> str:
        """``outer``, or ``inner<k>``."""
        return "outer" if self.inner_fold is None else f"inner{self.inner_fold}"

    @property
    def key(self) -> str:
        """The job's name within its (repeat, fold), as the run-folder caches record it."""
        return f"{self.arm}-{self.added_per_class}-{self.stage}"


def make_job(
    inputs: SweepInputs, config: ClassifierConfig, repeat: int, fold: int, inner_fold: int | None, group: int, **recipe
) -> CNNJob:
    """A job with the model seed that every job of (repeat, fold, inner fold) shares (common random numbers)."""
    seed = model_seed(inputs.seed, repeat, fold, inner_fold)
    return CNNJob(repeat, fold, inner_fold, group, config, seed, **recipe)


@dataclass
class SweepInputs:
    """What every job of a sweep reads; sent once to each worker of a cluster.

    Args:
        lesions, fold_of: all real lesions and notebook 01's patient-level folds (repeat 0's; every other repeat
            draws its own, :meth:`folds`).
        aug: the classic augmentation settings (pools).
        seed: the run seed (splits, pools, synthetic samples).
        inner_folds: inner folds of the honest choice (None: no inner models).
        gans: ``{kind: {(repeat, fold): generators}}`` for the GAN arms (empty for the classic sweep).
        synthetic_per_class: synthetic (and control) images per class drawn for each (repeat, fold): the largest
            added size; smaller sizes are the first ones of every class (nested).
    """

    lesions: LesionSet
    fold_of: np.ndarray
    aug: AugmentConfig
    seed: int
    inner_folds: int | None
    gans: dict[str, dict] = field(default_factory=dict)
    synthetic_per_class: int = 0
    _memo: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def folds(self, repeat: int) -> np.ndarray:
        """The outer folds of ``repeat`` (:func:`~liverkit.experiment.protocol.repeat_folds`: repeat 0's are
        ``fold_of``)."""
        return self.remember(("folds", repeat), lambda: repeat_folds(self.lesions, self.fold_of, self.seed, repeat))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_memo": OrderedDict()}  # a worker builds its own

    def remember(self, key: tuple, build) -> Any:
        """``build()``, computed once per key and kept for the next jobs (at most :data:`MEMO_SIZE` entries)."""
        if key not in self._memo:
            self._memo[key] = build()
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        self._memo.move_to_end(key)
        return self._memo[key]


@dataclass
class JobData:
    """A job's training set and the lesions it is judged on."""

    train: LesionSet
    judged: LesionSet
    judged_index: np.ndarray | None
    """Positions of the judged (test) lesions in the full LesionSet; None for inner validation."""
    shared_images: int
    """Size of the classic group, the part every arm of (repeat, fold) shares."""


def job_data(job: CNNJob, inputs: SweepInputs, device: str | torch.device = "cpu") -> JobData:
    """Rebuild a job's training set: split, pool, classic group, and what its arm adds."""
    r, f, k = job.repeat, job.fold, job.inner_fold
    base, judged = inputs.remember(("split", r, f, k), lambda: _split(inputs, r, f, k))
    plan, order = inputs.remember(("pool", r, f, k), lambda: _pool(inputs, base, r, f, k))
    if k is not None and job.classic_group > len(plan):
        raise LiverkitError(f"group {job.classic_group} exceeds the inner pool ({len(plan)}); drop it or raise n_rot.")
    group_key = ("group", r, f, k, job.classic_group)
    classic_set = inputs.remember(group_key, lambda: classic.make_group(base, plan, order, job.classic_group, device))
    train = classic_set
    if job.arm != CLASSIC:
        added = inputs.remember(
            ("added", r, f, k, job.classic_group, job.arm), lambda: _added(job, inputs, base, plan, order, device)
        )
        train = LesionSet.concat([classic_set, first_per_class(added, job.added_per_class)])
    index = np.flatnonzero(inputs.folds(r) == f) if k is None else None
    what = f"the training and the judged lesions of job {job.key} (repeat {r}, fold {f})"
    check_disjoint(train.patient_ids, judged.patient_ids, what, "this is a bug, please report it.")
    return JobData(train, judged, index, len(classic_set))


def _split(inputs: SweepInputs, repeat: int, fold: int, inner_fold: int | None):
    """(training lesions, judged lesions): the fold's test lesions, or inner fold ``inner_fold`` of its training."""
    train, test = split(inputs.lesions, inputs.folds(repeat), fold)
    if inner_fold is None:
        return train, test
    return inner_splits(train, inputs.inner_folds, inputs.seed, repeat, fold)[inner_fold]


def _pool(inputs: SweepInputs, base: LesionSet, repeat: int, fold: int, inner_fold: int | None):
    if inner_fold is None:
        return outer_pool(base, inputs.aug, inputs.seed, repeat, fold)
    return inner_pool(base, inputs.aug, inputs.seed, repeat, fold, inner_fold)


def _added(job: CNNJob, inputs: SweepInputs, base: LesionSet, plan, order, device) -> LesionSet:
    """The largest set the arm adds: extra classic variants (control) or the (repeat, fold)'s synthetic lesions."""
    top = inputs.synthetic_per_class
    if job.arm == CONTROL:
        return control_variants(base, plan, order, job.classic_group, top, device)
    if job.arm not in inputs.gans:
        raise LiverkitError(f"job {job.key} adds '{job.arm}' lesions, but the sweep has no {job.arm} generators.")
    return inputs.remember(("synthetic", job.repeat, job.fold, job.arm), lambda: _synthetic(job, inputs))


def fold_generators(gans: dict[str, dict], kind: str, repeat: int, fold: int):
    """The generators of (repeat, fold) (every repeat trains its own: its folds are its own)."""
    return gans[kind][(repeat, fold)]


def _synthetic(job: CNNJob, inputs: SweepInputs) -> LesionSet:
    """The (repeat, fold)'s synthetic lesions of one GAN kind: the same for outer and inner models."""
    generators = fold_generators(inputs.gans, job.arm, job.repeat, job.fold)
    _, test = inputs.remember(("split", job.repeat, job.fold, None), lambda: _split(inputs, job.repeat, job.fold, None))
    for name, generator in generators.items():
        check_disjoint(
            generator.data["patient_ids"],
            test.patient_ids,
            f"the {job.arm} of class '{name}' for (repeat {job.repeat}, fold {job.fold}) and that fold's test lesions",
            "every repeat has its own folds: train its GANs on them (notebooks 03 and 04 of this kit) into a new run "
            "folder.",
        )
    position = list(inputs.gans).index(job.arm)
    seed = derive(inputs.seed, job.repeat, job.fold, Stream.SYNTHETIC, position)
    return fold_samples(generators, inputs.lesions.class_names, inputs.synthetic_per_class, seed)


def run_cnn_job(job: CNNJob, inputs: SweepInputs, device: str | torch.device = "cpu") -> dict:
    """Train and score one job: the pure function every executor maps over the jobs.

    Returns a plain record (JSON-ready): ``arm``, ``synthetic`` (added per class), ``stage``, ``seconds``,
    ``training_images``, ``shared_images``, ``images_per_second``, ``epochs_trained`` and ``steps`` (counted by the
    training loop, not copied from the config) and ``history`` (one dict per epoch), plus test
    ``index`` and ``y_pred`` for an outer model, ``val_correct`` and ``val_lesions`` for an inner one.
    """
    data = job_data(job, inputs, device)
    trained = train_classifier(data.train, job.config, seed=job.seed, device=device)
    return score(job, data, trained, device)


def run_cnn_jobs_fused(jobs: list[CNNJob], inputs: SweepInputs, device: str | torch.device = "cuda") -> list[dict]:
    """Train the jobs as one fused model (:mod:`liverkit.train.fused`) and score each; records as
    :func:`run_cnn_job` gives them, up to float rounding. All jobs must share one config."""
    from liverkit.train.fused import train_classifiers_fused

    configs = {job.config for job in jobs}
    if len(configs) != 1:
        raise LiverkitError(f"fused jobs must share one classifier config; got {len(configs)} different ones.")
    data = [job_data(job, inputs, device) for job in jobs]
    trained = train_classifiers_fused([d.train for d in data], jobs[0].config, [j.seed for j in jobs], device)
    return [score(job, d, t, device) for job, d, t in zip(jobs, data, trained, strict=True)]


def score(job: CNNJob, data: JobData, trained: TrainedClassifier, device: str | torch.device) -> dict:
    """A trained job's record: predictions on its judged lesions; its model saved when the job asks."""
    y_pred = predict(trained.model, data.judged, device)
    record = {
        "arm": job.arm,
        "synthetic": job.added_per_class,
        "stage": job.stage,
        "seconds": round(trained.seconds, 3),
        "training_images": len(data.train),
        "shared_images": data.shared_images,
        "images_per_second": trained.images_per_second,
        "epochs_trained": len(trained.history),
        "steps": int(trained.history.steps.iloc[-1]) if len(trained.history) else 0,
        "history": trained.history.to_dict("records"),
    }
    if job.inner_fold is None:
        record |= {"index": [int(i) for i in data.judged_index], "y_pred": [int(p) for p in y_pred]}
    else:
        record |= {"val_correct": int((y_pred == data.judged.labels).sum()), "val_lesions": len(data.judged)}
    if job.save_to is not None:
        save_classifier(trained.model, job.config, data.train.class_names, Path(job.save_to))
    return record

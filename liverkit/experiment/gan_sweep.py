"""The synthetic-augmentation experiment (CNN-AUG-GAN, notebook 05): training and testing every arm.

For every repeat and patient-level fold, the CNN is trained on the fold's chosen classic group (notebook 02) plus
{100, 500, ...} lesions per class of one kind, and tested on the fold's real test lesions only. The arms:

- ``classic``: the chosen classic group alone;
- ``classic_control``: the same group plus as many *extra classic variants* per class (drawn from the same
  augmentation pool, beyond the group) as a GAN arm adds synthetic lesions: the same-size control that answers
  "is a GAN lesion worth more than one more classically augmented one?";
- ``dcgan`` / ``acgan``: the group plus synthetic lesions from that (repeat, fold)'s GANs (notebooks 03 and 04;
  every repeat has its own folds, :func:`~liverkit.experiment.protocol.repeat_folds`, and so its own GANs).

One budget rule for all: every model trains ``ClassifierConfig.epochs`` full passes over its own training set, so
an added image never takes a pass away from the classic group that all arms share. Common random numbers: within
a (repeat, fold) every model has the same seed (initial weights, dropout, order generator) and the same classic
pool and group; arms differ only in what is added. The added size per arm is chosen per (repeat, fold) by the
honest inner cross-validation of notebook 02 (every inner fold held out once; arms alike), or on the test folds
(``paper``, optimistic; :mod:`liverkit.experiment.gan_verdict` reads both).

Caveat of the honest choice: the GANs were trained on the whole training fold, inner validation patients included,
so their samples may resemble the validation lesions; this can favour larger GAN sizes in the choice. The primary
comparison gives the control the GAN arm's size, so it cannot favour a GAN arm over its control there; the test
fold stays untouched either way.

Every finished model is cached in the run folder (``gan_sweep_r<repeat>_f<fold>.json``, written atomically after
each model), so a rerun skips it and an interrupted run resumes; a cache made with other settings is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from liverkit.augment.classic import AugmentConfig
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.experiment.classic_sweep import inner_scores
from liverkit.experiment.executors import Executor, default_executor
from liverkit.experiment.job_cache import JobCache, run_missing
from liverkit.experiment.jobs import CLASSIC, CONTROL, CNNJob, SweepInputs, make_job
from liverkit.experiment.run_folder import RunFolder
from liverkit.experiment.synthesis import GAN_KINDS, gan_folder
from liverkit.progress import tqdm
from liverkit.train.checkpoints import load_dcgans, load_generator
from liverkit.train.classifier import ClassifierConfig, config_dict

ARMS = (CLASSIC, CONTROL, *GAN_KINDS)
"""Every arm of the sweep; all but ``classic`` add ``synthetic`` images per class to the classic group."""
_NOT_CACHED = ("history", "images_per_second")
"""Record fields the sweep's cache files leave out (the GAN sweep reports neither)."""


@dataclass
class GanSweep:
    """What the CNN-AUG-GAN sweep produced: tidy tables, one row per test prediction / inner score / model."""

    predictions: pd.DataFrame
    """repeat, fold, arm, synthetic (added per class), classic_group, index, id, patient, y_true, y_pred."""
    inner: pd.DataFrame
    """repeat, fold, inner_fold, arm, synthetic, val_correct, val_lesions: the honest choice's inner scores."""
    timing: pd.DataFrame
    """repeat, fold, arm, synthetic, stage (outer/inner), inner_fold (-1 for outer models), seconds, training_images,
    shared_images (the classic group's size), epochs and steps (both as counted by the training loop)."""
    class_names: tuple[str, ...]
    sizes: tuple[int, ...]
    """Images per class added on top of the classic group (synthetic, or extra classic for the control)."""
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSettings:
    """Everything that decides a sweep's models; a cache made with other settings is refused."""

    sizes: tuple[int, ...]
    aug: AugmentConfig
    clf: ClassifierConfig
    seed: int
    inner_folds: int
    data_fingerprint: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", check_sizes(self.sizes))  # checked and sorted once, here

    def record(self) -> dict[str, Any]:
        return json.loads(
            json.dumps(
                {
                    "sizes": list(self.sizes),
                    "augment": self.aug.__dict__,
                    "classifier": config_dict(self.clf),
                    "seed": self.seed,
                    "inner_folds": self.inner_folds,
                    "data_fingerprint": self.data_fingerprint,
                }
            )
        )


def load_fold_gans(run: RunFolder, kind: str, fold: int, device: str | torch.device = "cpu", repeat: int = 0):
    """Fold ``fold``'s generator(s) of ``kind`` (of ``repeat``, for profiles that retrain the GANs per repeat) from
    the run folder (notebook 03 or 04 writes them), as ``{class name: generator}`` (an ACGAN under every name)."""
    folder = gan_folder(run, kind, fold, repeat)
    if not folder.is_dir():
        raise LiverkitError(
            f"'{folder}' is missing: run notebook {'03' if kind == 'dcgan' else '04'} ({kind}) on this run folder "
            "first; the experiment adds that fold's synthetic lesions."
        )
    if kind == "dcgan":
        return load_dcgans(folder, device)
    acgan = load_generator(folder / "generator.pt", device)
    return dict.fromkeys(acgan.class_names, acgan)  # one model for every class, as train_fold_gans returns it


def load_all_gans(
    run: RunFolder,
    fold_of: np.ndarray,
    device: str | torch.device = "cpu",
    repeats: int = 1,
    kinds: tuple[str, ...] = GAN_KINDS,
) -> dict[str, dict]:
    """``{kind: {(repeat, fold): generators}}`` for the GAN kinds, every repeat and every fold, as
    :func:`run_gan_sweep` takes them (every repeat has its own outer folds, so its own GANs)."""
    folds = sorted(set(np.asarray(fold_of).tolist()))
    keys = [(r, f) for r in range(repeats) for f in folds]
    return {kind: {(r, f): load_fold_gans(run, kind, f, device, r) for r, f in keys} for kind in kinds}


def check_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Synthetic sizes per class, sorted; each a positive integer (0, the classic arm, is always added)."""
    bad = [s for s in sizes if not isinstance(s, (int, np.integer)) or s <= 0]
    if not sizes or bad:
        raise LiverkitError(f"synthetic sizes must be positive integers per class, got {list(sizes)}.")
    return tuple(sorted(int(s) for s in sizes))


def run_gan_sweep(
    lesions: LesionSet,
    fold_of: np.ndarray,
    choice: pd.DataFrame,
    gans: dict[str, dict[int, Any]],
    settings: SweepSettings,
    repeats: int = 1,
    device: str | torch.device = "cpu",
    run: RunFolder | None = None,
    progress: bool = True,
    fused: str = "auto",
    executor: Executor | None = None,
    workers: int = 1,
) -> GanSweep:
    """Train and test the CNN of every (repeat, fold, arm, size): classic, the same-size control, each GAN kind.

    Args:
        lesions, fold_of: all real lesions and their patient-level folds (notebook 01).
        choice: the chosen classic group per (repeat, fold) (notebook 02's ``classic_choice``; a repeat missing
            from it uses repeat 0's group).
        gans: ``{kind: {(repeat, fold): generators}}``, as :func:`load_all_gans` returns them.
        settings: sizes, augmentation, classifier, seed and inner folds (see :class:`SweepSettings`).
        repeats: independent repetitions (new pools, inner splits, samples and seeds; the same for all arms).
        run: where finished models are cached and the chosen models saved; None keeps nothing.
        fused: train many CNNs as one (``on``; ``auto`` is off for now: see ``liverkit.train.fused_check.use_fused``).
        executor: where the jobs run (:mod:`liverkit.experiment.executors`); None: this process (or ``workers``
            one-thread processes on a CPU), or the cluster that ``liverkit run --executor`` names.
        workers: one-thread processes for the jobs on a CPU (``Profile.workers``); 1 runs them here.
    """
    folds = sorted(set(np.asarray(fold_of).tolist()))
    _check_gans(gans, folds, repeats)
    inputs = SweepInputs(
        lesions,
        np.asarray(fold_of),
        settings.aug,
        settings.seed,
        settings.inner_folds,
        gans=gans,
        synthetic_per_class=max(settings.sizes),
    )
    groups = {(r, f): _classic_size(choice, r, f) for r in range(repeats) for f in folds}
    caches = {key: sweep_cache(run, *key, settings, group) for key, group in groups.items()}
    n_jobs = len(groups) * (1 + (1 + len(gans)) * len(settings.sizes))
    inner_jobs = [job for key, group in groups.items() for job in _inner_jobs(inputs, *key, group, settings)]
    bar = tqdm(total=n_jobs + len(inner_jobs), desc="CNN-AUG-GAN sweep", disable=not progress)
    executor = executor or default_executor(device, fused, workers)

    def cache_of(job: CNNJob) -> tuple[JobCache, str]:
        return caches[job.repeat, job.fold], job.key

    run_missing(inner_jobs, inputs, executor, cache_of, bar.update, _NOT_CACHED)  # they decide what is saved
    outer_jobs = []
    for (r, f), group in groups.items():
        inner = [caches[r, f].get(job.key) for job in inner_jobs if (job.repeat, job.fold) == (r, f)]
        chosen = _honest_sizes(inner) if inner else {arm: settings.sizes[0] for arm in (CONTROL, *gans)}
        saved = {CLASSIC: 0, **chosen} if r == 0 and run is not None else {}
        outer_jobs += _outer_jobs(inputs, settings, r, f, group, saved, run)
    run_missing(outer_jobs, inputs, executor, cache_of, bar.update, _NOT_CACHED)
    bar.close()
    in_fold_order = sorted([*inner_jobs, *outer_jobs], key=lambda j: (j.repeat, j.fold))  # stable: inner first
    records = [
        {**caches[j.repeat, j.fold].get(j.key), "repeat": j.repeat, "fold": j.fold, "classic_group": j.classic_group}
        for j in in_fold_order
    ]
    return _collect(records, lesions, settings)


def _inner_jobs(inputs: SweepInputs, r: int, f: int, group: int, settings: SweepSettings) -> list[CNNJob]:
    """The honest choice's models of (repeat, fold): per inner fold, every added arm at every size."""
    if len(settings.sizes) == 1:  # one size: nothing to choose, no inner models
        return []
    arms = (CONTROL, *inputs.gans)
    n_inner = settings.inner_folds if settings.inner_folds >= 2 else 0
    return [
        make_job(inputs, settings.clf, r, f, k, group, arm=arm, added_per_class=s)
        for k in range(n_inner)
        for arm in arms
        for s in settings.sizes
    ]


def _outer_jobs(
    inputs: SweepInputs, settings: SweepSettings, r: int, f: int, group: int, saved: dict, run
) -> list[CNNJob]:
    """The test models of (repeat, fold): the classic group alone, then every added arm at every size. The model
    of an arm at the size in ``saved`` (``{arm: size}``) is written to the run folder."""
    recipes = [(CLASSIC, 0)] + [(arm, s) for arm in (CONTROL, *inputs.gans) for s in settings.sizes]
    return [
        make_job(
            inputs,
            settings.clf,
            r,
            f,
            None,
            group,
            arm=arm,
            added_per_class=s,
            save_to=str(model_path(run, arm, f)) if saved.get(arm) == s else None,
        )
        for arm, s in recipes
    ]


def _check_gans(gans: dict[str, dict], folds: list[int], repeats: int) -> None:
    unknown = [k for k in gans if k not in GAN_KINDS]
    if unknown or not gans:
        raise LiverkitError(f"GAN kinds must be among {list(GAN_KINDS)}, got {list(gans)}.")
    for kind, per_fold in gans.items():
        missing = [(r, f) for r in range(repeats) for f in folds if (r, f) not in per_fold]
        if missing:
            raise LiverkitError(
                f"no {kind} generators for (repeat, fold) {missing}; train them in notebook "
                f"{'03' if kind == 'dcgan' else '04'} first (every repeat trains its own)."
            )


def _classic_size(choice: pd.DataFrame, repeat: int, fold: int) -> int:
    rows = choice[choice.fold == fold]
    if "repeat" in rows:
        rows = rows[rows.repeat == (repeat if (rows.repeat == repeat).any() else 0)]
    if rows.empty:
        raise LiverkitError(f"the classic choice table has no group for fold {fold}; rerun notebook 02.")
    return int(rows.group.iloc[0])


# ---------------------------------------------------------------------------------------------- choices
def _honest_sizes(inner_records: list[dict]) -> dict[str, int]:
    """Per added arm, the size with the best accuracy over all inner validation lesions (ties: the smaller)."""
    scores = inner_scores(pd.DataFrame(inner_records))  # the same pooled score as notebook 02's choice
    ranked = scores.sort_values(["arm", "val_accuracy", "synthetic"], ascending=[True, False, True])
    return {arm: int(part.synthetic.iloc[0]) for arm, part in ranked.groupby("arm")}


# ---------------------------------------------------------------------------------------------- the cache
SWEEP_CACHE_FILE = "gan_sweep_r{repeat}_f{fold}.json"
"""The run-folder file (in ``artifacts/``) that caches one (repeat, fold)'s finished models."""
MODEL_FILE = "cnn_{arm}_fold{fold}.pt"
"""The chosen model of an arm in a fold (repeat 0), kept for notebooks 06 and 07."""
SWEEP_TABLES = ("predictions", "inner", "timing")
"""The sweep's tables, kept as ``artifacts/gan_<name>.csv``."""


def sweep_cache(run: RunFolder | None, repeat: int, fold: int, settings: SweepSettings, group: int) -> JobCache:
    """The finished models of one (repeat, fold) in :data:`SWEEP_CACHE_FILE`; refuses other settings."""
    path = run.artifact(SWEEP_CACHE_FILE.format(repeat=repeat, fold=fold)) if run is not None else None
    return JobCache(path, {**settings.record(), "classic_group": group}, "the GAN sweep's cache")


def model_path(run: RunFolder, arm: str, fold: int) -> Path:
    """Where the chosen model of ``arm`` in ``fold`` (repeat 0) is saved (notebooks 06 and 07 read it)."""
    return run.artifact(MODEL_FILE.format(arm=arm, fold=fold))


def sweep_files() -> tuple[str, ...]:
    """The run-folder files (relative paths; ``{fold}`` stands for every fold) that notebook 05 leaves."""
    tables = tuple(f"artifacts/gan_{name}.csv" for name in SWEEP_TABLES)
    return (*tables, *(f"artifacts/{MODEL_FILE.format(arm=arm, fold='{fold}')}" for arm in ARMS))


def save_sweep(run: RunFolder, sweep: GanSweep) -> None:
    """Keep notebook 05's tables in the run folder (the chosen models are saved as they are trained)."""
    for name in SWEEP_TABLES:
        run.save_table(f"gan_{name}", getattr(sweep, name))


def load_sweep(run: RunFolder, class_names: tuple[str, ...], sizes: tuple[int, ...]) -> GanSweep:
    """Notebook 05's sweep read back from the tables :func:`save_sweep` kept (for scripts and later notebooks)."""
    tables = {name: run.load_table(f"gan_{name}") for name in SWEEP_TABLES}
    return GanSweep(tables["predictions"], tables["inner"], tables["timing"], tuple(class_names), check_sizes(sizes))


def _collect(records: list[dict], lesions: LesionSet, settings: SweepSettings) -> GanSweep:
    rows, inner, timing = [], [], []
    for rec in records:
        key = {"repeat": rec["repeat"], "fold": rec["fold"], "arm": rec["arm"], "synthetic": rec["synthetic"]}
        stage = "outer" if rec["stage"] == "outer" else "inner"
        inner_fold = -1 if stage == "outer" else int(rec["stage"][5:])
        images = rec["training_images"]
        budget = {"epochs": rec["epochs_trained"], "steps": rec["steps"]}  # as trained, not as configured
        timing.append(
            {
                **key,
                "stage": stage,
                "inner_fold": inner_fold,
                "seconds": rec["seconds"],
                "training_images": images,
                "shared_images": rec["shared_images"],
                **budget,
            }
        )
        if stage == "inner":
            inner.append(
                {**key, "inner_fold": inner_fold, "val_correct": rec["val_correct"], "val_lesions": rec["val_lesions"]}
            )
            continue
        for i, p in zip(rec["index"], rec["y_pred"], strict=True):
            rows.append(
                {
                    **key,
                    "classic_group": rec["classic_group"],
                    "index": i,
                    "id": lesions.ids[i],
                    "patient": lesions.patient_ids[i],
                    "y_true": int(lesions.labels[i]),
                    "y_pred": p,
                }
            )
    return GanSweep(
        pd.DataFrame(rows),
        pd.DataFrame(inner),
        pd.DataFrame(timing),
        lesions.class_names,
        settings.sizes,
        meta=settings.record(),
    )

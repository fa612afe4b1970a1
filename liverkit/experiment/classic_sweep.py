"""The fold-safe protocol: the classic-augmentation sweep (CNN-AUG) and the choice of its best group (notebook 02).

For every repeat and every patient-level fold, the augmentation pool is drawn from that fold's training lesions
only, the nested groups are cut from it, one CNN is trained per group, and it is tested on the fold's test
lesions. Every model trains the same number of full passes over its own training set (the budget rule, see
``ClassifierConfig.epochs``), and within a (repeat, fold) every model starts from the same seed (common random
numbers: the same initial weights, dropout stream and order generator). Groups therefore differ in their data and,
through it, in their optimiser steps: under equal epochs a larger group means more images *and* more steps.
:func:`run_step_matched` trains the original ROIs (group 0) for as many steps as the largest group, a descriptive
extra that shows how much of the curve is steps; it takes no part in the choice of a group.

The best group is then chosen in one of two ways:

- ``honest`` (the default): by cross-validation inside the training lesions, per (repeat, fold): the training
  patients are split into ``inner_folds`` parts, each part is held out once while a model is trained on the rest,
  and the group with the best accuracy over all held-out inner lesions wins. The test lesions play no part;
- ``paper``: the group with the best cross-validated test accuracy, as the paper did; this reuses the test
  folds for model choice, so its number is optimistic and carries no p-value.

Confidence intervals resample patients (a patient's lesions are not independent): see
:func:`liverkit.evaluate.classifier_metrics.bootstrap_ci`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from liverkit.augment.classic import AugmentConfig
from liverkit.data.folds import patient_folds
from liverkit.data.lesionset import LesionSet
from liverkit.data.manifest import load
from liverkit.errors import LiverkitError
from liverkit.evaluate.classifier_metrics import CI_METHOD, accuracy, bootstrap_ci, confusion, metrics_table
from liverkit.experiment.executors import Executor, default_executor
from liverkit.experiment.job_cache import JobCache, run_missing
from liverkit.experiment.jobs import CNNJob, SweepInputs, make_job
from liverkit.experiment.run_folder import RunFolder
from liverkit.progress import tqdm
from liverkit.train.classifier import ClassifierConfig

SELECTION_MODES = ("honest", "paper")


@dataclass
class ClassicSweep:
    """What a sweep produced: tidy tables, one row per test prediction / inner score / epoch."""

    predictions: pd.DataFrame
    """repeat, fold, group, index (position in the LesionSet), id, patient, y_true, y_pred."""
    inner: pd.DataFrame
    """repeat, fold, inner_fold, group, val_correct, val_lesions: the honest choice's inner-validation scores."""
    history: pd.DataFrame
    """repeat, fold, group, epoch, steps, loss, train_accuracy: training curves of the outer models."""
    timing: pd.DataFrame
    """repeat, fold, group, stage (outer/inner), training_images, epochs, steps, seconds, images_per_second."""
    class_names: tuple[str, ...]
    groups: tuple[int, ...]
    meta: dict = field(default_factory=dict)


HISTORY_COLUMNS = ("epoch", "steps", "loss", "train_accuracy")
"""The per-epoch columns of a classifier's training history (:func:`liverkit.train.classifier.train_classifier`)."""


def run_classic_sweep(
    lesions: LesionSet,
    fold_of: np.ndarray,
    groups: tuple[int, ...],
    aug: AugmentConfig,
    clf: ClassifierConfig,
    seed: int = 0,
    repeats: int = 1,
    device: str = "cpu",
    inner_folds: int | None = 4,
    progress: bool = True,
    fused: str = "auto",
    executor: Executor | None = None,
    run: RunFolder | None = None,
    workers: int = 1,
) -> ClassicSweep:
    """Train and test one CNN per (repeat, fold, group), and score every group on an inner split for ``honest``.

    Args:
        lesions: all lesions; ``fold_of`` assigns each to a patient-level fold.
        groups: classic-augmentation group sizes (0 = no augmentation).
        aug, clf: augmentation and classifier settings.
        seed: the run's seed; repeats use seeds derived from it.
        repeats: independent repetitions (new pools, orders and initialisations).
        inner_folds: the honest mode validates on 1 / inner_folds of the training patients; None skips the
            inner models (then only the ``paper`` choice is available).
        fused: train many CNNs as one (``on``; ``auto`` is off for now: see ``liverkit.train.fused_check.use_fused``).
        executor: where the jobs run (:mod:`liverkit.experiment.executors`); None: this process, or the cluster that
            ``liverkit run --executor`` names.
        run: where each finished model's record is cached (``classic_sweep_r<r>_f<f>.json``), so that a rerun
            or an interrupted sweep resumes; None keeps nothing.
        workers: one-thread processes for the jobs on a CPU (``Profile.workers``); 1 runs them here.
    """
    inputs = SweepInputs(lesions, np.asarray(fold_of), aug, seed, inner_folds)
    jobs = classic_jobs(inputs, clf, groups, repeats)
    header = {
        "augment": asdict(aug),
        "classifier": asdict(clf),
        "seed": seed,
        "inner_folds": inner_folds,
        "data_fingerprint": lesions.fingerprint(),
    }
    caches = {(j.repeat, j.fold): sweep_cache(run, j.repeat, j.fold, header) for j in jobs}

    def cache_of(job: CNNJob) -> tuple[JobCache, str]:
        return caches[job.repeat, job.fold], f"group{job.classic_group}-{job.stage}"

    bar = tqdm(total=len(jobs), desc="CNN-AUG sweep", disable=not progress)
    run_missing(jobs, inputs, executor or default_executor(device, fused, workers), cache_of, bar.update)
    bar.close()
    records = [cache.get(key) for cache, key in map(cache_of, jobs)]
    return _collect(jobs, records, lesions, tuple(groups), seed)


SWEEP_CACHE_FILE = "classic_sweep_r{repeat}_f{fold}.json"
"""The run-folder file (in ``artifacts/``) that caches one (repeat, fold)'s finished models."""


def sweep_cache(run: RunFolder | None, repeat: int, fold: int, header: dict) -> JobCache:
    """The finished models of one (repeat, fold) in :data:`SWEEP_CACHE_FILE`; refuses other settings."""
    path = run.artifact(SWEEP_CACHE_FILE.format(repeat=repeat, fold=fold)) if run is not None else None
    return JobCache(path, json.loads(json.dumps(header)), "the classic sweep's cache")


def classic_jobs(inputs: SweepInputs, clf: ClassifierConfig, groups: tuple[int, ...], repeats: int) -> list[CNNJob]:
    """The sweep's jobs: per (repeat, fold), every group's outer model, then every group's inner models."""
    folds = sorted(set(inputs.fold_of.tolist()))
    n_inner = inputs.inner_folds if inputs.inner_folds is not None and inputs.inner_folds >= 2 else 0
    jobs = []
    for r in range(repeats):
        for f in folds:
            jobs += [make_job(inputs, clf, r, f, None, size) for size in groups]
            jobs += [make_job(inputs, clf, r, f, k, size) for k in range(n_inner) for size in groups]
    return jobs


def _collect(jobs: list[CNNJob], records: list[dict], lesions: LesionSet, groups, seed: int) -> ClassicSweep:
    """The sweep's tidy tables from its jobs' records."""
    predictions, inner, history, timing = [], [], [], []
    for job, rec in zip(jobs, records, strict=True):
        key = {"repeat": job.repeat, "fold": job.fold}
        timing.append(
            {
                **key,
                "group": job.classic_group,
                "stage": "outer" if job.inner_fold is None else "inner",
                "training_images": rec["training_images"],
                "epochs": job.config.epochs,
                "steps": job.config.steps_for(rec["training_images"]),
                "seconds": rec["seconds"],
                "images_per_second": rec["images_per_second"],
            }
        )
        if job.inner_fold is not None:
            inner.append(
                {
                    **key,
                    "inner_fold": job.inner_fold,
                    "group": job.classic_group,
                    "val_correct": rec["val_correct"],
                    "val_lesions": rec["val_lesions"],
                }
            )
            continue
        history += [
            {**{c: row[c] for c in HISTORY_COLUMNS}, **key, "group": job.classic_group} for row in rec["history"]
        ]
        for i, p in zip(rec["index"], rec["y_pred"], strict=True):
            predictions.append(
                {
                    **key,
                    "group": job.classic_group,
                    "index": i,
                    "id": lesions.ids[i],
                    "patient": lesions.patient_ids[i],
                    "y_true": int(lesions.labels[i]),
                    "y_pred": p,
                }
            )
    frames = [pd.DataFrame(rows) for rows in (predictions, inner, history, timing)]
    return ClassicSweep(*frames, class_names=lesions.class_names, groups=groups, meta={"seed": seed})


# ---------------------------------------------------------------------------------------------- reading results
def prediction_matrix(predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(lesion index (L,), y_true (L,), y_pred (R, L), patient (L,)) from the rows of one group, arm or choice."""
    if "patient" not in predictions.columns:
        raise LiverkitError("these prediction rows have no 'patient' column; rerun the notebook that made them.")
    wide = predictions.pivot_table(index="index", columns="repeat", values="y_pred", aggfunc="first").sort_index()
    first = predictions.groupby("index")[["y_true", "patient"]].first().loc[wide.index]
    return wide.index.to_numpy(), first.y_true.to_numpy(), wide.to_numpy().T, first.patient.astype(str).to_numpy()


def sweep_table(sweep: ClassicSweep, n_boot: int = 1000) -> pd.DataFrame:
    """Per group: pooled accuracy (mean over repeats) with a patient-cluster bootstrap CI, each fold's accuracy, and
    the training budget (mean training images, epochs and optimiser steps of the outer models).

    Under equal epochs the groups differ in images and in steps (:func:`budget_sentence` says by how much), so a
    row-to-row difference is the effect of more images and more steps together.
    """
    outer = sweep.timing[sweep.timing.stage == "outer"]
    budget = outer.groupby("group").agg(
        training_images=("training_images", "mean"), epochs=("epochs", "first"), steps=("steps", "mean")
    )
    rows = []
    for size in sweep.groups:
        part = sweep.predictions[sweep.predictions.group == size]
        _, y_true, y_pred, patients = prediction_matrix(part)
        estimate, low, high = bootstrap_ci(y_true, y_pred, accuracy, n_boot=n_boot, seed=size, clusters=patients)
        row = {
            "group": size,
            "training_images": float(budget.training_images[size]),
            "epochs": int(budget.epochs[size]),
            "steps": float(budget.steps[size]),
            "accuracy": estimate,
            "ci_low": low,
            "ci_high": high,
        }
        for f, fold_part in part.groupby("fold"):
            row[f"fold_{f}"] = float((fold_part.y_true == fold_part.y_pred).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def inner_scores(inner: pd.DataFrame) -> pd.DataFrame:
    """Inner-validation accuracy per (repeat, fold, group): correct over all held-out inner lesions of every inner
    fold (so each training patient validates once), with the inner folds' count."""
    keys = [c for c in ("repeat", "fold", "arm", "group", "synthetic") if c in inner.columns]
    summed = inner.groupby(keys, as_index=False).agg(
        val_correct=("val_correct", "sum"), val_lesions=("val_lesions", "sum"), inner_folds=("val_lesions", "size")
    )
    return summed.assign(val_accuracy=summed.val_correct / summed.val_lesions)


def choose_groups(sweep: ClassicSweep, mode: str = "honest") -> pd.DataFrame:
    """The chosen group per (repeat, fold): by inner cross-validation (``honest``) or by test accuracy (``paper``).

    Ties go to the smaller group (less augmentation, cheaper).
    """
    if mode not in SELECTION_MODES:
        raise LiverkitError(f"unknown model-choice mode '{mode}'; use one of {list(SELECTION_MODES)}.")
    if mode == "paper":
        table = sweep_table(sweep, n_boot=1)
        best = int(table.sort_values(["accuracy", "group"], ascending=[False, True]).group.iloc[0])
        keys = sweep.predictions[["repeat", "fold"]].drop_duplicates()
        return keys.assign(group=best).reset_index(drop=True)
    if sweep.inner.empty:
        raise LiverkitError(
            "this sweep ran without inner validation (inner_folds=None): only mode='paper' is possible."
        )
    scores = inner_scores(sweep.inner)
    ranked = scores.sort_values(["repeat", "fold", "val_accuracy", "group"], ascending=[True, True, False, True])
    return ranked.groupby(["repeat", "fold"], as_index=False).first()[["repeat", "fold", "group", "val_accuracy"]]


def choice_stability(choice: pd.DataFrame, column: str = "group") -> pd.DataFrame:
    """The chosen value as a fold x repeat table: how stable the honest choice is across repeats."""
    table = choice.pivot_table(index="fold", columns="repeat", values=column, aggfunc="first")
    return table.rename(columns=lambda r: f"repeat {r}")


def chosen_predictions(sweep: ClassicSweep, mode: str = "honest") -> pd.DataFrame:
    """The test predictions of the chosen group's model in every (repeat, fold)."""
    chosen = choose_groups(sweep, mode)[["repeat", "fold", "group"]]
    return sweep.predictions.merge(chosen, on=["repeat", "fold", "group"])


def results_table(sweep: ClassicSweep, n_boot: int = 1000) -> pd.DataFrame:
    """The paper's table for classic augmentation: no augmentation and the chosen optimum (both modes).

    One row per (setting, metric, class) with the estimate and its 95% patient-cluster bootstrap CI.
    """
    settings = {
        "no augmentation": sweep.predictions[sweep.predictions.group == 0],
        "classic optimum (honest choice)": chosen_predictions(sweep, "honest") if not sweep.inner.empty else None,
        "classic optimum (paper's choice, optimistic)": chosen_predictions(sweep, "paper"),
    }
    frames = []
    for name, part in settings.items():
        if part is None or part.empty:
            continue
        frames.append(setting_metrics(part, sweep.class_names, n_boot).assign(setting=name))
    columns = ["setting", "metric", "class", "estimate", "ci_low", "ci_high"]
    return pd.concat(frames)[columns].reset_index(drop=True)


def setting_metrics(predictions: pd.DataFrame, class_names: tuple[str, ...], n_boot: int = 1000) -> pd.DataFrame:
    """Accuracy and per-class sensitivity/specificity of one setting's predictions, CIs resampling patients."""
    _, y_true, y_pred, patients = prediction_matrix(predictions)
    return metrics_table(y_true, y_pred, class_names, n_boot=n_boot, clusters=patients)


def pooled_confusion(predictions: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Confusion counts summed over folds and repeats."""
    return confusion(predictions.y_true.to_numpy(), predictions.y_pred.to_numpy(), n_classes)


# ---------------------------------------------------------------------------------------------- steps made visible
def budget_sentence(table: pd.DataFrame) -> str:
    """What :func:`sweep_table`'s budget columns say, in words: the steps each group trained under equal epochs.

    Args:
        table: from :func:`sweep_table`.
    """
    groups = "/".join(str(int(g)) for g in table.group)
    steps = "/".join(f"{s:g}" for s in table.steps.round(1))
    epochs = "/".join(sorted({str(int(e)) for e in table.epochs}))
    sentence = (
        f"Under equal epochs (every model trains {epochs} epochs over its own training set), groups {groups} trained "
        f"{steps} SGD steps per model (mean over folds and repeats)"
    )
    if len(table) < 2 or table.steps.max() == table.steps.min():
        return sentence + "."
    low, high = table.loc[table.steps.idxmin()], table.loc[table.steps.idxmax()]
    return (
        f"{sentence}: comparing groups compares more images and more steps together (group {int(high.group)} "
        f"trained {high.steps / low.steps:.1f}x the steps of group {int(low.group)})."
    )


STEP_MATCHED_FILE = "classic_step_matched_r{repeat}_f{fold}.json"
"""The run-folder file (in ``artifacts/``) that caches one (repeat, fold)'s step-matched group-0 model."""


def step_matched_jobs(sweep: ClassicSweep, inputs: SweepInputs, clf: ClassifierConfig) -> list[CNNJob]:
    """Per (repeat, fold) of ``sweep``: group 0 (the original ROIs) with its epochs raised so that its SGD steps reach
    those of the largest group's outer model (``ceil(steps / batches per epoch)`` epochs: at least as many steps,
    equal when they divide). The same model seed as the sweep's models of that (repeat, fold). Empty when the
    sweep has no group 0 or no larger group.

    Args:
        sweep: the classic sweep (its outer models' training images and steps).
        inputs: the sweep's inputs (lesions, folds, augmentation, seed).
        clf: the sweep's classifier config; only ``epochs`` changes.
    """
    largest = max(sweep.groups)
    if 0 not in sweep.groups or largest == 0:
        return []
    outer = sweep.timing[sweep.timing.stage == "outer"]
    steps = outer.pivot_table(index=["repeat", "fold"], columns="group", values=["steps", "training_images"])
    jobs = []
    for (repeat, fold), row in steps.iterrows():
        per_epoch = math.ceil(row["training_images", 0] / clf.batch_size)  # group 0's batches per epoch
        config = replace(clf, epochs=math.ceil(row["steps", largest] / per_epoch))
        jobs.append(make_job(inputs, config, int(repeat), int(fold), None, 0))
    return jobs


def run_step_matched(
    sweep: ClassicSweep,
    lesions: LesionSet,
    fold_of: np.ndarray,
    aug: AugmentConfig,
    clf: ClassifierConfig,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    fused: str = "auto",
    executor: Executor | None = None,
    run: RunFolder | None = None,
    workers: int = 1,
) -> ClassicSweep | None:
    """Train group 0 for as many steps as the sweep's largest group, per (repeat, fold) (:func:`step_matched_jobs`).

    Descriptive only: these models take no part in the choice of a group, the saved sweep or what follows.

    Args:
        sweep: the classic sweep (its largest group's steps per (repeat, fold) are the target).
        lesions, fold_of, aug, clf, seed: as given to :func:`run_classic_sweep`.
        device, progress, fused, executor: as for :func:`run_classic_sweep`.
        run: where each finished model's record is cached (:data:`STEP_MATCHED_FILE`); None keeps nothing.
        workers: one-thread processes for the jobs on a CPU (``Profile.workers``).

    Returns:
        The models' tables (group 0; ``timing`` holds each model's epochs and steps), or None when the sweep has no
        group 0 or no larger group.
    """
    inputs = SweepInputs(lesions, np.asarray(fold_of), aug, seed, None)
    jobs = step_matched_jobs(sweep, inputs, clf)
    if not jobs:
        return None
    header = {
        "augment": asdict(aug),
        "classifier": asdict(clf),
        "seed": seed,
        "matched_to_group": max(sweep.groups),
        "data_fingerprint": lesions.fingerprint(),
    }
    caches = {}
    for job in jobs:
        path = run.artifact(STEP_MATCHED_FILE.format(repeat=job.repeat, fold=job.fold)) if run is not None else None
        caches[job.repeat, job.fold] = JobCache(path, json.loads(json.dumps(header)), "the step-matched models' cache")

    def cache_of(job: CNNJob) -> tuple[JobCache, str]:
        return caches[job.repeat, job.fold], f"group0-outer-{job.config.epochs}epochs"

    bar = tqdm(total=len(jobs), desc="step-matched group 0", disable=not progress)
    run_missing(jobs, inputs, executor or default_executor(device, fused, workers), cache_of, bar.update)
    bar.close()
    records = [cache.get(key) for cache, key in map(cache_of, jobs)]
    return _collect(jobs, records, lesions, (0,), seed)


def step_matched_table(sweep: ClassicSweep, matched: ClassicSweep | None, n_boot: int = 1000) -> pd.DataFrame:
    """Group 0, group 0 trained for the largest group's steps, and the largest group: training images, epochs and
    SGD steps (means over folds and repeats), and pooled accuracy with its patient-cluster bootstrap CI.

    Args:
        sweep: the classic sweep.
        matched: from :func:`run_step_matched`; None gives an empty table.
        n_boot: bootstrap resamples of each interval.
    """
    columns = ["setting", "group", "training_images", "epochs", "steps", "accuracy", "ci_low", "ci_high"]
    if matched is None:
        return pd.DataFrame(columns=columns)
    largest = max(sweep.groups)
    table = sweep_table(sweep, n_boot).set_index("group")
    extra = sweep_table(matched, n_boot).iloc[0].copy()
    extra["epochs"] = float(matched.timing.epochs.mean())
    rows = [
        table.loc[0].rename("group 0 (original ROIs)"),
        extra.rename(f"group 0, trained for group {largest}'s steps"),
        table.loc[largest].rename(f"group {largest}"),
    ]
    out = pd.DataFrame(rows).rename_axis("setting").reset_index()
    out["group"] = [0, 0, largest]
    return out[columns]


def step_matched_summary(table: pd.DataFrame) -> str:
    """:func:`step_matched_table` in words: how the gap between group 0 and the largest group splits into the part
    that more steps alone give and the part that more images give at (about) equal steps.

    Args:
        table: from :func:`step_matched_table`.
    """
    if table.empty:
        return "This sweep has no group 0 or no larger group: there are no steps to match."
    base, matched, top = (table.iloc[i] for i in range(3))
    if matched.steps == base.steps:
        return (
            f"Group 0 already trains as many SGD steps as group {int(top.group)} ({base.steps:g} per model): there "
            "are no steps to add, and the step-matched model is group 0 itself."
        )
    gap, from_steps = top.accuracy - base.accuracy, matched.accuracy - base.accuracy
    text = (
        f"Group {int(top.group)} trained {top.steps:g} SGD steps per model and group 0 {base.steps:g}. Trained for "
        f"{matched.steps:g} steps ({matched.epochs:g} epochs), group 0 scores {matched.accuracy:.3f}, against "
        f"{base.accuracy:.3f} at its own steps and {top.accuracy:.3f} for group {int(top.group)}. Of the "
        f"{gap:+.3f} difference between group {int(top.group)} and group 0, more steps alone give {from_steps:+.3f} "
        f"and more images at (about) equal steps {top.accuracy - matched.accuracy:+.3f}"
    )
    if gap > 0 and 0 <= from_steps <= gap:
        text += f": steps account for {from_steps / gap:.0%} of it"
    return text + ". These are point estimates of one model per repeat and fold; the table gives their intervals."


def step_matched_numbers(table: pd.DataFrame) -> dict:
    """What notebook 02 records about the step-matched model (empty when there is none): its accuracy with the
    95% CI, its mean steps and epochs, and the group whose steps it matched.

    Args:
        table: from :func:`step_matched_table`.
    """
    if table.empty:
        return {}
    row = table.iloc[1]
    accuracy = [round(float(row[c]), 4) for c in ("accuracy", "ci_low", "ci_high")]
    return {
        "step_matched_group0": {
            "accuracy": accuracy,
            "steps": round(float(row.steps), 1),
            "epochs": round(float(row.epochs), 2),
            "matched_to_group": int(table.iloc[2].group),
        }
    }


LESIONS_FILE = "lesions"
"""The run folder's data set (``artifacts/lesions.npz``), saved by notebook 01."""
FOLDS_FILE = "folds"
"""The run folder's patient-level fold per lesion (``artifacts/folds.npy``), saved by notebook 01."""


def save_data(run: RunFolder, lesions: LesionSet, fold_of: np.ndarray) -> None:
    """Keep the lesions and their folds in the run folder for the later notebooks (notebook 01)."""
    run.save_lesionset(LESIONS_FILE, lesions)
    run.save_array(FOLDS_FILE, fold_of)


def load_data(run: RunFolder, data: str, seed: int, n_folds: int) -> tuple[LesionSet, np.ndarray]:
    """The lesions and patient-level folds that notebook 01 left in ``run``; rebuilt and saved when it has not run."""
    if run.artifact(f"{LESIONS_FILE}.npz").is_file() and run.artifact(f"{FOLDS_FILE}.npy").is_file():
        return run.load_lesionset(LESIONS_FILE), run.load_array(FOLDS_FILE)
    lesions = load(data, seed=seed)
    fold_of = patient_folds(lesions, k=n_folds, seed=seed)
    save_data(run, lesions, fold_of)
    return lesions, fold_of


def classic_key_numbers(sweep: ClassicSweep, results: pd.DataFrame, table: pd.DataFrame, choices: dict) -> dict:
    """The numbers notebook 02 records for tests, reports and regression checks (accuracies with 95% CIs)."""
    by_setting = results[(results.metric == "accuracy")].set_index("setting")

    def accuracy_with_ci(setting: str) -> list[float]:
        row = by_setting.loc[setting]
        return [round(float(row.estimate), 4), round(float(row.ci_low), 4), round(float(row.ci_high), 4)]

    numbers = {
        "groups": list(sweep.groups),
        "sweep_accuracy": {str(g): round(float(a), 4) for g, a in zip(table.group, table.accuracy, strict=True)},
        "no_augmentation": accuracy_with_ci("no augmentation"),
        "paper_choice": accuracy_with_ci("classic optimum (paper's choice, optimistic)"),
        "paper_group": int(choices["paper"].group.iloc[0]),
        "train_seconds": round(float(sweep.timing.seconds.sum()), 1),
    }
    if "honest" in choices:
        numbers["honest_choice"] = accuracy_with_ci("classic optimum (honest choice)")
        numbers["honest_groups"] = [int(g) for g in choices["honest"].group]
    numbers |= {
        "repeats": int(sweep.predictions.repeat.nunique()),
        "ci_method": CI_METHOD,
        "epochs": int(sweep.timing.epochs.iloc[0]),
    }
    return numbers


def results_wide(results: pd.DataFrame) -> pd.DataFrame:
    """``results_table`` as one row per setting and one column per metric, cells like ``0.786 [0.72, 0.84]``."""
    cells = results.assign(
        cell=results.estimate.map("{:.3f}".format)
        + " ["
        + results.ci_low.map("{:.2f}".format)
        + ", "
        + results.ci_high.map("{:.2f}".format)
        + "]",
        column=results.metric + " " + results["class"].where(results["class"] != "all", ""),
    )
    order = list(dict.fromkeys(cells.column.str.strip()))
    wide = cells.assign(column=cells.column.str.strip()).pivot(index="setting", columns="column", values="cell")
    return wide[order].loc[list(dict.fromkeys(results.setting))]


SWEEP_TABLES = ("predictions", "inner", "history", "timing")
"""The sweep's tables, kept as ``artifacts/classic_<name>.csv``."""
CHOICE_TABLE = "classic_choice"
"""The chosen group per (repeat, fold), kept as ``artifacts/classic_choice.csv``: the GANs train on it."""


def sweep_files() -> tuple[str, ...]:
    """The run-folder files (relative paths) that :func:`save_sweep` writes."""
    return tuple(f"artifacts/{name}.csv" for name in (*(f"classic_{t}" for t in SWEEP_TABLES), CHOICE_TABLE))


def save_sweep(run: RunFolder, sweep: ClassicSweep, choice: pd.DataFrame) -> None:
    """Keep notebook 02's sweep and its chosen groups in the run folder for the later notebooks."""
    for name in SWEEP_TABLES:
        run.save_table(f"classic_{name}", getattr(sweep, name))
    run.save_table(CHOICE_TABLE, choice)


def load_sweep(run: RunFolder, class_names: tuple[str, ...]) -> ClassicSweep:
    """Notebook 02's sweep, read back from what :func:`save_sweep` wrote."""
    tables = {name: run.load_table(f"classic_{name}") for name in SWEEP_TABLES}
    groups = tuple(int(g) for g in sorted(tables["predictions"].group.unique()))
    return ClassicSweep(**tables, class_names=tuple(class_names), groups=groups)


def load_choice(run: RunFolder) -> pd.DataFrame:
    """Notebook 02's chosen classic group per (repeat, fold) (what the GANs train on).

    Raises:
        LiverkitError: notebook 02 has not run on this run folder.
    """
    if not run.artifact(f"{CHOICE_TABLE}.csv").is_file():
        raise LiverkitError(
            f"{run.artifact(f'{CHOICE_TABLE}.csv')} is missing: run notebook 02 (classic augmentation) on this run "
            "folder first; the GANs train on the classic group it chooses for each fold."
        )
    return run.load_table(CHOICE_TABLE)

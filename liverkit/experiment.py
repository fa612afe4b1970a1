"""The fold-safe protocol: the classic-augmentation sweep (CNN-AUG) and the choice of its best group (notebook 02).

For every repeat and every patient-level fold, the augmentation pool is drawn from that fold's training lesions
only, the nested groups are cut from it, one CNN is trained per group, and it is tested on the fold's test
lesions. Every model trains the same number of full passes over its own training set (the budget rule, see
``ClassifierConfig.epochs``), and within a (repeat, fold) every model starts from the same seed (common random
numbers: the same initial weights, dropout stream and order generator), so groups differ only in their data.

The best group is then chosen in one of two ways:

- ``honest`` (the default): by cross-validation inside the training lesions, per (repeat, fold): the training
  patients are split into ``inner_folds`` parts, each part is held out once while a model is trained on the rest,
  and the group with the best accuracy over all held-out inner lesions wins. The test lesions play no part;
- ``paper``: the group with the best cross-validated test accuracy, as the paper did; this reuses the test
  folds for model choice, so its number is optimistic and carries no p-value.

Confidence intervals resample patients (a patient's lesions are not independent): see
:func:`liverkit.metrics.bootstrap_ci`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from liverkit import augment
from liverkit.augment import AugmentConfig
from liverkit.data.folds import patient_folds, split
from liverkit.data.lesionset import LesionSet
from liverkit.data.manifest import load
from liverkit.errors import LiverkitError
from liverkit.metrics import CI_METHOD, accuracy, bootstrap_ci, confusion, metrics_table
from liverkit.progress import tqdm
from liverkit.runs import RunFolder
from liverkit.train.classifier import ClassifierConfig, predict, train_classifier

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


def _seed(*parts: int) -> int:
    """One 32-bit seed from several integers (repeat, fold, group...), stable across runs."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


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
    """
    folds = sorted(set(np.asarray(fold_of).tolist()))
    jobs = [(r, f) for r in range(repeats) for f in folds]
    tables: dict[str, list] = {"predictions": [], "inner": [], "history": [], "timing": []}
    stages = 1 if inner_folds is None else 1 + inner_folds
    bar = tqdm(total=len(jobs) * len(groups) * stages, desc="CNN-AUG sweep", disable=not progress)
    for r, f in jobs:
        train, test = split(lesions, fold_of, f)
        test_index = np.flatnonzero(np.asarray(fold_of) == f)
        _outer(train, test, test_index, groups, aug, clf, (seed, r, f), device, tables, bar)
        for k, (inner_train, inner_val) in enumerate(inner_splits(train, inner_folds, seed, r, f)):
            _inner(inner_train, inner_val, groups, aug, clf, (seed, r, f, k), device, tables, bar)
    bar.close()
    frames = {name: pd.DataFrame([row for rows in parts for row in rows]) for name, parts in tables.items()}
    return ClassicSweep(**frames, class_names=lesions.class_names, groups=tuple(groups), meta={"seed": seed})


def model_seed(seed: int, repeat: int, fold: int, inner_fold: int | None = None) -> int:
    """The one model seed of every CNN of (repeat, fold), all groups and arms alike (common random numbers).

    Inner models of inner fold ``k`` share their own seed. Groups and arms then differ only in their training data.
    """
    return _seed(seed, repeat, fold, 3) if inner_fold is None else _seed(seed, repeat, fold, 5, inner_fold)


def _pool(train: LesionSet, aug: AugmentConfig, rng: np.random.Generator):
    plan = augment.plan_pool(train, aug, rng)
    return plan, augment.nested_order(plan, rng)


def outer_pool(train: LesionSet, aug: AugmentConfig, seed: int, repeat: int, fold: int):
    """The augmentation pool and nested order that the sweep's outer models of (repeat, fold) were cut from.

    The GAN notebooks use it to rebuild exactly the classic group the chosen CNN was trained on.
    """
    return _pool(train, aug, np.random.default_rng(_seed(seed, repeat, fold, 2)))


def inner_splits(train: LesionSet, inner_folds: int | None, seed: int, repeat: int, fold: int):
    """[(inner training, inner validation)] of (repeat, fold): each of ``inner_folds`` patient groups held out once.

    The honest choices of notebooks 02 (classic group) and 05 (synthetic size) both use these splits; ``None`` or
    fewer than 2 inner folds gives no splits (then only the ``paper`` choice is possible).
    """
    if inner_folds is None or inner_folds < 2:
        return []
    inner_fold_of = patient_folds(train, k=inner_folds, seed=_seed(seed, repeat, fold, 1))
    return [split(train, inner_fold_of, k) for k in range(inner_folds)]


def inner_pool(inner_train: LesionSet, aug: AugmentConfig, seed: int, repeat: int, fold: int, inner_fold: int = 0):
    """The augmentation pool and nested order that the inner models of (repeat, fold, inner_fold) were cut from."""
    return _pool(inner_train, aug, np.random.default_rng(_seed(seed, repeat, fold, 4, inner_fold)))


def _train_group(train, plan, order, size, clf, seed, device, test_patients):
    """Cut one group from the pool and train on it, checking that no test patient is in it."""
    group = augment.make_group(train, plan, order, size, device)
    leaked = set(group.patient_ids.tolist()) & test_patients
    if leaked:  # cannot happen through split(); kept as a guard for future callers
        raise LiverkitError(f"test patients {sorted(leaked)[:3]} reached a training group; this is a bug, report it.")
    return train_classifier(group, clf, seed=seed, device=device)


def _outer(train, test, test_index, groups, aug, clf, key, device, tables, bar) -> None:
    """Train each group on the fold's training lesions and predict the fold's test lesions."""
    seed, r, f = key
    plan, order = outer_pool(train, aug, seed, r, f)
    rows, history, timing = [], [], []
    for size in groups:
        trained = _train_group(train, plan, order, size, clf, model_seed(seed, r, f), device, set(test.patient_ids))
        y_pred = predict(trained.model, test, device)
        rows += [
            {"repeat": r, "fold": f, "group": size, "index": int(i), "id": lid, "patient": pid, "y_true": int(t),
             "y_pred": int(p)}
            for i, lid, pid, t, p in zip(test_index, test.ids, test.patient_ids, test.labels, y_pred, strict=True)
        ]  # fmt: skip
        history.append(trained.history.assign(repeat=r, fold=f, group=size))
        timing.append(_timing(r, f, size, "outer", trained))
        bar.update()
    tables["predictions"].append(rows)
    tables["history"].append(pd.concat(history).to_dict("records"))
    tables["timing"].append(timing)


def _inner(inner_train, inner_val, groups, aug, clf, key, device, tables, bar) -> None:
    """Score each group on one inner validation part of the training lesions (the honest choice)."""
    seed, r, f, k = key
    plan, order = inner_pool(inner_train, aug, seed, r, f, k)
    rows, timing = [], []
    for size in groups:
        if size > len(plan):
            raise LiverkitError(f"group {size} exceeds the inner pool ({len(plan)}); drop it or raise n_rot.")
        val_patients = set(inner_val.patient_ids)
        trained = _train_group(inner_train, plan, order, size, clf, model_seed(seed, r, f, k), device, val_patients)
        correct = int((predict(trained.model, inner_val, device) == inner_val.labels).sum())
        rows.append({"repeat": r, "fold": f, "inner_fold": k, "group": size, "val_correct": correct,
                     "val_lesions": len(inner_val)})  # fmt: skip
        timing.append(_timing(r, f, size, "inner", trained))
        bar.update()
    tables["inner"].append(rows)
    tables["timing"].append(timing)


def _timing(r: int, f: int, size: int, stage: str, trained) -> dict:
    n = int(trained.n_images)
    return {"repeat": r, "fold": f, "group": size, "stage": stage, "training_images": n,
            "epochs": trained.config.epochs, "steps": trained.config.steps_for(n), "seconds": trained.seconds,
            "images_per_second": trained.images_per_second}  # fmt: skip


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
    the training budget (mean training images, epochs and optimiser steps of the outer models)."""
    outer = sweep.timing[sweep.timing.stage == "outer"]
    budget = outer.groupby("group").agg(training_images=("training_images", "mean"), epochs=("epochs", "first"),
                                        steps=("steps", "mean"))  # fmt: skip
    rows = []
    for size in sweep.groups:
        part = sweep.predictions[sweep.predictions.group == size]
        _, y_true, y_pred, patients = prediction_matrix(part)
        estimate, low, high = bootstrap_ci(y_true, y_pred, accuracy, n_boot=n_boot, seed=size, clusters=patients)
        row = {"group": size, "training_images": float(budget.training_images[size]),
               "epochs": int(budget.epochs[size]), "steps": float(budget.steps[size]),
               "accuracy": estimate, "ci_low": low, "ci_high": high}  # fmt: skip
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


def load_data(run: RunFolder, data: str, seed: int, n_folds: int) -> tuple[LesionSet, np.ndarray]:
    """The lesions and patient-level folds that notebook 01 left in ``run``; rebuilt and saved when it has not run."""
    if run.artifact("lesions.npz").is_file() and run.artifact("folds.npy").is_file():
        return run.load_lesionset("lesions"), run.load_array("folds")
    lesions = load(data, seed=seed)
    fold_of = patient_folds(lesions, k=n_folds, seed=seed)
    run.save_lesionset("lesions", lesions)
    run.save_array("folds", fold_of)
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
    numbers |= {"repeats": int(sweep.predictions.repeat.nunique()), "ci_method": CI_METHOD,
                "epochs": int(sweep.timing.epochs.iloc[0])}  # fmt: skip
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


def load_sweep(run: RunFolder, class_names: tuple[str, ...]) -> ClassicSweep:
    """Notebook 02's sweep, read back from the run folder's ``classic_*`` tables."""
    tables = {name: run.load_table(f"classic_{name}") for name in ("predictions", "inner", "history", "timing")}
    groups = tuple(int(g) for g in sorted(tables["predictions"].group.unique()))
    return ClassicSweep(**tables, class_names=tuple(class_names), groups=groups)

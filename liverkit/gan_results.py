"""Reading the CNN-AUG-GAN sweep (notebook 05): chosen sizes, the paper's table, paired tests and the verdict.

Everything here works on a :class:`~liverkit.gan_experiment.GanSweep` and trains nothing. The statistics follow
the kit's rules:

- the patient is the unit of resampling: every CI is a patient-cluster bootstrap (:mod:`liverkit.metrics`), and
  the paired test is a patient-level sign-flip permutation test (the clustered analogue of McNemar's test);
- a comparison rests on all repeats and patients: a lesion's correctness is averaged over repeats, and the
  bootstrap resamples patients with all their lesions and repeats;
- the honest comparisons (each added arm against classic alone, and each GAN arm against the same-size control)
  are one family: their p-values are Holm-adjusted;
- rows chosen on the test folds (the paper's choice) are labelled optimistic and carry no p-value;
- a sentence says an arm helped or hurt only when the 95% CI of the difference excludes zero; otherwise it says
  the data give no evidence either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from liverkit.errors import LiverkitError
from liverkit.experiment import inner_scores, pooled_confusion, prediction_matrix, setting_metrics
from liverkit.gan_experiment import ARMS, CONTROL, GanSweep
from liverkit.metrics import CI_METHOD, accuracy, bootstrap_ci, holm, paired_difference_ci, paired_permutation_test


def arm_label(arm: str) -> str:
    """A row name: ``classic``, ``classic + control``, ``classic + DCGAN``..."""
    return {"classic": "classic optimum", CONTROL: "classic + extra classic (control)"}.get(
        arm, f"classic + {arm.upper()}"
    )


# ---------------------------------------------------------------------------------------------- choices
def choose_sizes(sweep: GanSweep, mode: str = "honest") -> pd.DataFrame:
    """The chosen added size per (repeat, fold, arm): by inner cross-validation over all inner folds (``honest``),
    or, as the paper did, by pooled test accuracy (``paper``: one size per arm, optimistic). Ties: the smaller."""
    if mode not in ("honest", "paper"):
        raise LiverkitError(f"unknown model-choice mode '{mode}'; use 'honest' or 'paper'.")
    added = sweep.predictions[sweep.predictions.arm != "classic"]
    if mode == "honest" and sweep.inner.empty:  # a single size: nothing was chosen
        keys = added[["repeat", "fold", "arm"]].drop_duplicates()
        return keys.assign(synthetic=sweep.sizes[0]).reset_index(drop=True)
    if mode == "honest":
        scores = inner_scores(sweep.inner)
        ranked = scores.sort_values(
            ["repeat", "fold", "arm", "val_accuracy", "synthetic"], ascending=[True, True, True, False, True]
        )
        return ranked.groupby(["repeat", "fold", "arm"], as_index=False).first()[["repeat", "fold", "arm", "synthetic"]]
    table = curve_table(sweep, n_boot=1)
    table = table[table.arm != "classic"].sort_values(["arm", "accuracy", "synthetic"], ascending=[True, False, True])
    best = table.groupby("arm").synthetic.first()
    keys = sweep.predictions[["repeat", "fold"]].drop_duplicates()
    return pd.concat([keys.assign(arm=arm, synthetic=int(size)) for arm, size in best.items()], ignore_index=True)


def arm_predictions(sweep: GanSweep, arm: str, mode: str = "honest") -> pd.DataFrame:
    """Test predictions of ``arm``: the classic arm as it is, an added arm at its chosen size per (repeat, fold)."""
    rows = sweep.predictions[sweep.predictions.arm == arm]
    if rows.empty:
        raise LiverkitError(f"the sweep has no arm '{arm}'; it has {sorted(sweep.predictions.arm.unique())}.")
    if arm == "classic":
        return rows
    chosen = choose_sizes(sweep, mode)
    return rows.merge(chosen[chosen.arm == arm], on=["repeat", "fold", "arm", "synthetic"])


def arms_of(sweep: GanSweep) -> list[str]:
    """The sweep's arms in the kit's order."""
    present = set(sweep.predictions.arm)
    return [a for a in ARMS if a in present]


# ---------------------------------------------------------------------------------------------- tables
def curve_table(sweep: GanSweep, n_boot: int = 1000) -> pd.DataFrame:
    """Pooled test accuracy with a 95% patient-cluster CI per (arm, size), and the images actually trained on."""
    outer = sweep.timing[sweep.timing.stage == "outer"]
    images = outer.groupby(["arm", "synthetic"]).training_images.mean()
    rows = []
    for (arm, size), part in sweep.predictions.groupby(["arm", "synthetic"], sort=False):
        _, y_true, y_pred, patients = prediction_matrix(part)
        estimate, low, high = bootstrap_ci(y_true, y_pred, accuracy, n_boot=n_boot, seed=int(size), clusters=patients)
        rows.append(
            {
                "arm": arm,
                "synthetic": int(size),
                "training_images": float(images.loc[(arm, size)]),
                "accuracy": estimate,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(rows)


def budget_table(sweep: GanSweep) -> pd.DataFrame:
    """The training budget of every outer model, per (arm, size), averaged over repeats and folds: training images,
    the classic images all arms share, epochs, optimiser steps, and passes over the shared images (the rule keeps
    those equal across arms: adding images adds steps, never takes passes away)."""
    outer = sweep.timing[sweep.timing.stage == "outer"]
    table = outer.groupby(["arm", "synthetic"], as_index=False, sort=False).agg(
        training_images=("training_images", "mean"),
        shared_images=("shared_images", "mean"),
        epochs=("epochs", "first"),
        steps=("steps", "mean"),
        seconds=("seconds", "mean"),
    )
    added = table.training_images - table.shared_images
    return table.assign(added_share=added / table.training_images, passes_over_shared=table.epochs)


def results_table(sweep: GanSweep, no_augmentation: pd.DataFrame, n_boot: int = 1000) -> pd.DataFrame:
    """The paper's table with patient-cluster CIs: no augmentation, the classic optimum, every added arm at its
    honest size, then each added arm at the paper's (optimistic) size.

    Args:
        no_augmentation: notebook 02's test predictions of group 0 (``classic_predictions`` with group == 0).
    """
    arms = [a for a in arms_of(sweep) if a != "classic"]
    settings = {"no augmentation": no_augmentation, arm_label("classic"): arm_predictions(sweep, "classic")}
    settings |= {f"{arm_label(a)} (honest choice)": arm_predictions(sweep, a, "honest") for a in arms}
    settings |= {f"{arm_label(a)} (paper's choice, optimistic)": arm_predictions(sweep, a, "paper") for a in arms}
    frames = [setting_metrics(part, sweep.class_names, n_boot).assign(setting=name) for name, part in settings.items()]
    return pd.concat(frames)[["setting", "metric", "class", "estimate", "ci_low", "ci_high"]].reset_index(drop=True)


def fold_table(sweep: GanSweep, no_augmentation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Accuracy of every setting (honest choice) per test fold and per repeat, beside the pooled number."""
    settings = {} if no_augmentation is None else {"no augmentation": no_augmentation}
    settings |= {arm_label(a): arm_predictions(sweep, a) for a in arms_of(sweep)}
    rows = []
    for name, part in settings.items():
        correct = part.assign(right=part.y_true == part.y_pred)
        row = {"setting": name, "pooled": float(correct.right.mean())}
        row |= {f"fold {f}": float(p.right.mean()) for f, p in correct.groupby("fold")}
        row |= {f"repeat {r}": float(p.right.mean()) for r, p in correct.groupby("repeat")}
        rows.append(row)
    return pd.DataFrame(rows).set_index("setting")


def confusion_matrices(sweep: GanSweep, no_augmentation: pd.DataFrame) -> dict[str, np.ndarray]:
    """Pooled confusion counts (all folds and repeats) of no augmentation and every arm (honest choice)."""
    n = len(sweep.class_names)
    matrices = {"no augmentation": pooled_confusion(no_augmentation, n)}
    return matrices | {arm_label(a): pooled_confusion(arm_predictions(sweep, a), n) for a in arms_of(sweep)}


# ---------------------------------------------------------------------------------------------- paired comparisons
def comparison_pairs(sweep: GanSweep) -> list[tuple[str, str]]:
    """(baseline, arm) pairs of the honest family: each added arm vs classic, each GAN arm vs the control."""
    arms = arms_of(sweep)
    pairs = [("classic", a) for a in arms if a != "classic"]
    return pairs + [(CONTROL, a) for a in arms if a not in ("classic", CONTROL) and CONTROL in arms]


def compare(sweep: GanSweep, n_boot: int = 2000, n_perm: int = 10000) -> list[dict[str, Any]]:
    """Every paired comparison: the honest family with Holm-adjusted patient-level p-values, then each added arm
    against classic at the paper's (optimistic) size, with a CI and no p-value."""
    honest = [_paired(sweep, base, arm, "honest", n_boot, n_perm) for base, arm in comparison_pairs(sweep)]
    for result, adjusted in zip(honest, holm([c["p_value"] for c in honest]), strict=True):
        result["p_holm"] = adjusted
    paper = [_paired(sweep, "classic", a, "paper", n_boot, 0) for a in arms_of(sweep) if a != "classic"]
    return [{**c, "in_words": in_words(c)} for c in honest + paper]


def _paired(sweep: GanSweep, base: str, arm: str, mode: str, n_boot: int, n_perm: int) -> dict[str, Any]:
    """``arm`` against ``base`` on the same test lesions, repeats and patients."""
    b = prediction_matrix(arm_predictions(sweep, base, mode))
    a = prediction_matrix(arm_predictions(sweep, arm, mode))
    if not np.array_equal(b[0], a[0]) or b[2].shape != a[2].shape:
        raise LiverkitError(f"'{arm}' and '{base}' were not tested on the same lesions and repeats; rerun the sweep.")
    _, y_true, base_pred, patients = b
    diff, low, high = paired_difference_ci(y_true, base_pred, a[2], clusters=patients, n_boot=n_boot)
    per_repeat = ((a[2] == y_true).mean(axis=1) - (base_pred == y_true).mean(axis=1)).tolist()
    gained = ((a[2] == y_true) & (base_pred != y_true)).sum(axis=1)
    lost = ((a[2] != y_true) & (base_pred == y_true)).sum(axis=1)
    p = paired_permutation_test(y_true, base_pred, a[2], patients, n_perm=n_perm) if mode == "honest" else None
    return {
        "arm": arm,
        "baseline": base,
        "mode": mode,
        "lesions": len(y_true),
        "patients": len(set(patients.tolist())),
        "repeats": int(a[2].shape[0]),
        "gained": float(gained.mean()),
        "lost": float(lost.mean()),
        "accuracy_difference": diff,
        "ci_low": low,
        "ci_high": high,
        "per_repeat": per_repeat,
        "p_value": p,
        "p_holm": None,
    }


def p_text(p: float) -> str:
    """A p-value as a reader wants it: ``p = 0.038``, ``p = 0.0005``, or ``p < 0.0001`` (never ``p = 0.000``)."""
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.3f}" if p >= 0.01 else f"p = {p:.1g}"


def in_words(c: dict[str, Any]) -> str:
    """One comparison as sentences; "helped"/"hurt" only when the 95% CI of the difference excludes zero."""
    name, base = arm_label(c["arm"]), arm_label(c["baseline"])
    text = (
        f"{name} against {base}, over {c['repeats']} repeat(s), {c['lesions']} test lesions of {c['patients']} "
        f"patients: accuracy {100 * c['accuracy_difference']:+.1f} points (95% CI {100 * c['ci_low']:+.1f} to "
        f"{100 * c['ci_high']:+.1f}, patients resampled); per repeat "
        + ", ".join(f"{100 * d:+.1f}" for d in c["per_repeat"])
        + ". "
    )
    if c["mode"] == "paper":
        text += "Optimistic: the size was chosen on these test lesions, so no p-value is given. "
    else:
        text += f"Patient-level permutation test {p_text(c['p_value'])} (Holm-adjusted {p_text(c['p_holm'])}). "
    if c["ci_low"] > 0 or c["ci_high"] < 0:
        direction = "helped" if c["accuracy_difference"] > 0 else "hurt"
        return text + f"The interval excludes zero: on this data the added images {direction}."
    return (
        text + "The interval includes zero: this run gives no evidence that the added images help, nor that they hurt."
    )


# ---------------------------------------------------------------------------------------------- recorded numbers
def key_numbers(sweep: GanSweep, results: pd.DataFrame, comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """The numbers notebook 05 records for tests, reports and regression checks (accuracies with 95% CIs)."""
    acc = results[results.metric == "accuracy"].set_index("setting")
    honest = choose_sizes(sweep, "honest")
    folds = fold_table(sweep)
    return {
        "sizes": list(sweep.sizes),
        "arms": arms_of(sweep),
        "repeats": int(sweep.predictions.repeat.nunique()),
        "ci_method": CI_METHOD,
        "epochs": int(sweep.timing.epochs.iloc[0]),
        "accuracy": {name: [_r(row.estimate), _r(row.ci_low), _r(row.ci_high)] for name, row in acc.iterrows()},
        "per_fold": {
            name: {k: _r(v) for k, v in row.items() if k.startswith("fold")} for name, row in folds.iterrows()
        },
        "honest_sizes": {arm: [int(s) for s in part.synthetic] for arm, part in honest.groupby("arm")},
        "comparisons": {f"{c['arm']}_vs_{c['baseline']}_{c['mode']}": _comparison_numbers(c) for c in comparisons},
        "models": int(len(sweep.timing)),
        "train_seconds": round(float(sweep.timing.seconds.sum()), 1),
    }


def _comparison_numbers(c: dict[str, Any]) -> dict[str, Any]:
    numbers = {k: _r(c[k]) for k in ("gained", "lost", "accuracy_difference", "ci_low", "ci_high")}
    p_values = {k: None if c[k] is None else float(c[k]) for k in ("p_value", "p_holm")}  # unrounded: may be small
    return numbers | p_values | {"per_repeat": [_r(d) for d in c["per_repeat"]]}


def _r(value: float) -> float:
    return round(float(value), 4)

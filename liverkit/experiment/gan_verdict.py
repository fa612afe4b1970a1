"""Reading the CNN-AUG-GAN sweep (notebook 05): chosen sizes, the paper's table, the comparisons and the verdicts.

Everything here works on a :class:`~liverkit.experiment.gan_sweep.GanSweep` (and, for the per-fold GAN table, the
generators) and trains nothing. The statistics follow the kit's rules:

- one question is fixed before the run (:func:`comparison_plan`): the **primary** comparison is each GAN arm
  against the same-size control *at the size the GAN arm chose*, so the pair is matched in images and SGD steps in
  every (repeat, fold); the other honest comparisons are **secondary**, the paper's test-fold choice **descriptive**;
- an accuracy's CI resamples patients (a patient-cluster bootstrap, :mod:`liverkit.evaluate.classifier_metrics`); a
  comparison's interval resamples repeats and patients, crossed
  (:func:`~liverkit.evaluate.classifier_metrics.crossed_bootstrap`), because every repeat redraws the folds and retrains
  the GANs, and its p-value inverts that same bootstrap;
- p-values are Bonferroni-adjusted within their family and the intervals are the matching simultaneous ones, so an
  interval and its test never disagree;
- a sentence says "helped" or "hurt" only when the adjusted p is below :data:`ALPHA`; otherwise "inconclusive",
  with the range the data are compatible with and the smallest difference the test would usually detect;
  descriptive rows (chosen on the test lesions) get neither a p-value nor a verdict.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from liverkit.data.folds import split
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.evaluate.classifier_metrics import (
    CI_METHOD,
    accuracy,
    bonferroni,
    bootstrap_bounds,
    bootstrap_ci,
    bootstrap_p_value,
    crossed_bootstrap,
)
from liverkit.evaluate.quality import collapse_ratio
from liverkit.experiment.classic_sweep import inner_scores, pooled_confusion, prediction_matrix, setting_metrics
from liverkit.experiment.gan_sweep import ARMS, CONTROL, GanSweep
from liverkit.experiment.protocol import repeat_folds
from liverkit.experiment.scope import chance_level
from liverkit.experiment.synthesis import fold_samples
from liverkit.seeds import Stream, derive


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
    the classic images all arms share, epochs and optimiser steps as the training loops counted them, and the
    fewest passes any of the row's models made over the shared images (the rule keeps those equal across arms:
    adding images adds steps, never takes passes away; a model that stopped early would lower it)."""
    outer = sweep.timing[sweep.timing.stage == "outer"]
    table = outer.groupby(["arm", "synthetic"], as_index=False, sort=False).agg(
        training_images=("training_images", "mean"),
        shared_images=("shared_images", "mean"),
        epochs=("epochs", "mean"),
        steps=("steps", "mean"),
        seconds=("seconds", "mean"),
        fewest_epochs=("epochs", "min"),
    )
    added = table.training_images - table.shared_images
    # every epoch passes every training image once, shared ones included: the fewest epochs any model of the row
    # trained (counted by its training loop) is the fewest passes over the shared images
    passes = table.pop("fewest_epochs")
    return table.assign(added_share=added / table.training_images, passes_over_shared=passes)


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
ALPHA = 0.05
"""The error rate of every family of comparisons (familywise, two-sided)."""
CI_LEVELS = ("patient", "repeat")
"""What the comparisons' bootstrap resamples: patients and repeats, crossed (``metrics.crossed_bootstrap``)."""
PRIMARY, SECONDARY, DESCRIPTIVE = "primary", "secondary", "descriptive"
"""The comparison families: the one question fixed before the run, the other honest ones, the paper's choice."""


def _gan_sizes(sweep: GanSweep, kind: str) -> pd.DataFrame:
    """repeat, fold, synthetic: the size a GAN arm chose in each (repeat, fold), which its primary pair shares."""
    sizes = choose_sizes(sweep, "honest")
    return sizes[sizes.arm == kind][["repeat", "fold", "synthetic"]]


def matched_predictions(sweep: GanSweep, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The primary pair of a GAN kind: (control rows, GAN rows), both at the size the GAN arm chose on its inner
    folds in each (repeat, fold), so the two arms trained on exactly as many images with as many steps."""
    sizes = _gan_sizes(sweep, kind)
    control = sweep.predictions[sweep.predictions.arm == CONTROL].merge(sizes, on=["repeat", "fold", "synthetic"])
    return control, arm_predictions(sweep, kind, "honest")


def matched_budget(sweep: GanSweep, kind: str) -> pd.DataFrame:
    """Per (repeat, fold): the primary pair's size, and each arm's training images, epochs and steps as trained."""
    outer = sweep.timing[sweep.timing.stage == "outer"]
    sizes = _gan_sizes(sweep, kind)
    columns = ["repeat", "fold", "synthetic", "training_images", "epochs", "steps"]
    gan = outer[outer.arm == kind][columns].merge(sizes, on=["repeat", "fold", "synthetic"])
    control = outer[outer.arm == CONTROL][columns].merge(sizes, on=["repeat", "fold", "synthetic"])
    return gan.merge(control, on=["repeat", "fold", "synthetic"], suffixes=("_gan", "_control"))


def comparison_plan(sweep: GanSweep) -> list[tuple[str, str, str, str]]:
    """Every comparison as (family, baseline, arm, choice), fixed before any result is seen.

    Primary: each GAN kind against the same-size control, both at the GAN arm's honestly chosen size. Secondary:
    each added arm against classic alone, and each GAN kind against the control at the control's own chosen size.
    Descriptive: each added arm against classic at the paper's (test-fold) choice of size.
    """
    arms = arms_of(sweep)
    kinds = [a for a in arms if a not in ("classic", CONTROL)]
    added = [a for a in arms if a != "classic"]
    primary = [(PRIMARY, CONTROL, k, "matched") for k in kinds if CONTROL in arms]
    secondary = [(SECONDARY, "classic", a, "honest") for a in added]
    secondary += [(SECONDARY, CONTROL, k, "honest") for k in kinds if CONTROL in arms]
    return primary + secondary + [(DESCRIPTIVE, "classic", a, "paper") for a in added]


def compare(sweep: GanSweep, n_boot: int = 4000) -> list[dict[str, Any]]:
    """Every comparison of :func:`comparison_plan`: a difference in accuracy with a bootstrap over repeats and
    patients (:func:`~liverkit.evaluate.classifier_metrics.crossed_bootstrap`), a Bonferroni-adjusted p-value within its
    family and the simultaneous interval that agrees with it; the descriptive rows get a 95% interval and no p-value."""
    results = [
        _paired(sweep, family, base, arm, choice, n_boot) for family, base, arm, choice in comparison_plan(sweep)
    ]
    for family in (PRIMARY, SECONDARY):
        members = [c for c in results if c["family"] == family]
        for c, adjusted in zip(members, bonferroni([c["p_value"] for c in members]), strict=True):
            c["p_adjusted"], c["family_size"] = adjusted, len(members)
            c["ci_low"], c["ci_high"] = bootstrap_bounds(c.pop("draws"), ALPHA / len(members))
            c["ci_level"] = 1 - ALPHA / len(members)
            c["detectable_80"] = detectable_difference(c["ci_low"], c["ci_high"], ALPHA / len(members))
    for c in results:
        if c["family"] == DESCRIPTIVE:
            c["ci_low"], c["ci_high"] = bootstrap_bounds(c.pop("draws"), ALPHA)
            c["ci_level"] = 1 - ALPHA
    return [{**c, "verdict": verdict(c), "in_words": in_words(c)} for c in results]


def _pair_rows(sweep: GanSweep, base: str, arm: str, choice: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    if choice == "matched":
        return matched_predictions(sweep, arm)
    mode = "paper" if choice == "paper" else "honest"
    return arm_predictions(sweep, base, mode), arm_predictions(sweep, arm, mode)


def _paired(sweep: GanSweep, family: str, base: str, arm: str, choice: str, n_boot: int) -> dict[str, Any]:
    """``arm`` against ``base`` on the same test lesions, repeats and patients; ``draws`` from the crossed
    bootstrap (the family's interval is cut from them once the family's size is known)."""
    base_rows, arm_rows = _pair_rows(sweep, base, arm, choice)
    b, a = prediction_matrix(base_rows), prediction_matrix(arm_rows)
    if not np.array_equal(b[0], a[0]) or b[2].shape != a[2].shape:
        raise LiverkitError(f"'{arm}' and '{base}' were not tested on the same lesions and repeats; rerun the sweep.")
    _, y_true, base_pred, patients = b
    gain = (a[2] == y_true).astype(np.float64) - (base_pred == y_true)  # (R, L)
    draws = crossed_bootstrap(gain, patients, n_boot=n_boot)
    return {
        "family": family,
        "arm": arm,
        "baseline": base,
        "choice": choice,
        "lesions": len(y_true),
        "patients": len(set(patients.tolist())),
        "repeats": int(gain.shape[0]),
        "gained": float((gain > 0).sum(axis=1).mean()),
        "lost": float((gain < 0).sum(axis=1).mean()),
        "accuracy_difference": float(gain.mean()),
        "per_repeat": gain.mean(axis=1).tolist(),
        "per_repeat_fold": _per_repeat_fold(base_rows, arm_rows),
        "p_value": bootstrap_p_value(draws) if family != DESCRIPTIVE else None,
        "p_adjusted": None,
        "draws": draws,
    }


def _per_repeat_fold(base_rows: pd.DataFrame, arm_rows: pd.DataFrame) -> dict[str, float]:
    """Accuracy difference per (repeat, fold), keyed ``r<repeat>_f<fold>``: the spread the repeats bring."""
    keys = ["repeat", "fold", "index"]
    both = base_rows[[*keys, "y_true", "y_pred"]].merge(arm_rows[[*keys, "y_pred"]], on=keys, suffixes=("_b", "_a"))
    gain = (both.y_pred_a == both.y_true).astype(float) - (both.y_pred_b == both.y_true)
    means = gain.groupby([both.repeat, both.fold]).mean()
    return {f"r{r}_f{f}": float(v) for (r, f), v in means.items()}


def conditions(sweep: GanSweep) -> str:
    """What every interval of the sweep resamples and what it cannot, as one sentence from the sweep itself."""
    repeats = int(sweep.predictions.repeat.nunique())
    if repeats == 1:
        return (
            "With one repeat the interval resamples patients only: it holds for these folds, GANs and seeds, not for "
            "the procedure; run more repeats to cover them."
        )
    return (
        f"The interval resamples patients and the {repeats} repeats (each with its own folds, GANs, pools and "
        f"seeds); with {repeats} repeats the spread between them is itself uncertain (see the README's null "
        "simulation for how often such an interval misses)."
    )


def detectable_difference(low: float, high: float, alpha: float, power: float = 0.8) -> float:
    """The smallest true difference the test at level ``alpha`` would detect with probability ``power``, from the
    width of its interval: (z_(1 - alpha/2) + z_power) x SE, with SE = width / (2 z_(1 - alpha/2)) (a normal
    approximation to the bootstrap)."""
    z_test, z_power = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    return float((z_test + z_power) * (high - low) / (2 * z_test))


def verdict(c: dict[str, Any]) -> str | None:
    """``helped``, ``hurt`` or ``inconclusive`` from the family-adjusted p-value; None for a descriptive row."""
    if c["family"] == DESCRIPTIVE:
        return None
    if c["p_adjusted"] < ALPHA:
        return "helped" if c["accuracy_difference"] > 0 else "hurt"
    return "inconclusive"


def p_text(p: float) -> str:
    """A p-value as a reader wants it: ``p = 0.038``, ``p = 0.0005``, or ``p < 0.0001`` (never ``p = 0.000``)."""
    if p < 1e-4:
        return "p < 0.0001"
    return f"p = {p:.3f}" if p >= 0.01 else f"p = {p:.1g}"


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def in_words(c: dict[str, Any]) -> str:
    """One comparison as sentences; "helped"/"hurt" only when the family-adjusted test rejects (its simultaneous
    interval then excludes zero too); a descriptive row (size chosen on the test lesions) gets no verdict."""
    name, base = arm_label(c["arm"]), arm_label(c["baseline"])
    if c["choice"] == "matched":
        base += " at the same size"
    level = f"{100 * c['ci_level']:.4g}%"
    text = (
        f"{name} against {base}, over {c['repeats']} repeat(s), {c['lesions']} test lesions of {c['patients']} "
        f"patients: accuracy {_points(c['accuracy_difference'])} points ({level} interval "
        f"{_points(c['ci_low'])} to {_points(c['ci_high'])}); per repeat "
        + ", ".join(_points(d) for d in c["per_repeat"])
        + ". "
    )
    if c["family"] == DESCRIPTIVE:
        return text + "Descriptive only: the size was chosen on these test lesions, so no p-value and no verdict."
    adjusted = f"{p_text(c['p_adjusted'])} adjusted for the {c['family_size']} {c['family']} comparison(s)"
    text += f"Bootstrap test {p_text(c['p_value'])} ({adjusted}). "
    if verdict(c) != "inconclusive":
        return text + f"On this data the added images {verdict(c)}."
    return (
        text + f"Inconclusive: the data are compatible with {_points(c['ci_low'])} to {_points(c['ci_high'])} "
        f"points; a true difference of less than about {100 * c['detectable_80']:.1f} points either way would "
        "usually (80% of runs like this one) go undetected."
    )


FAMILY_TITLES = {
    PRIMARY: "Primary comparison (fixed before the run)",
    SECONDARY: "Secondary comparisons",
    DESCRIPTIVE: "Descriptive only (the size was chosen on the test lesions)",
}


def comparisons_table(comparisons: list[dict[str, Any]]) -> pd.DataFrame:
    """Every comparison as one row, in points: family, the two arms, the difference and its interval (at the
    family's simultaneous level), the raw and family-adjusted p-values, the verdict, and the smallest difference the
    run would usually (80%) detect. Descriptive rows have no p-value and no verdict (blank)."""
    rows = []
    for c in comparisons:
        descriptive = c["family"] == DESCRIPTIVE
        size = {"matched": " (same size)", "honest": " (its own size)"}.get(c["choice"], "")
        rows.append(
            {
                "family": c["family"],
                "compared": arm_label(c["arm"]),
                "against": arm_label(c["baseline"]) + (size if c["baseline"] == CONTROL else ""),
                "difference": round(100 * c["accuracy_difference"], 1),
                "interval": f"{_points(c['ci_low'])} to {_points(c['ci_high'])} ({100 * c['ci_level']:.4g}%)",
                "p": "" if descriptive else f"{c['p_value']:.3f}",
                "p adjusted": "" if descriptive else f"{c['p_adjusted']:.3f}",
                "verdict": verdict(c) or "",
                "detectable (80%)": "" if descriptive else f"{100 * c['detectable_80']:.1f}",
            }
        )
    return pd.DataFrame(rows)


def verdict_line(comparisons: list[dict[str, Any]]) -> str:
    """The primary comparisons' verdicts in one line: the answer to the question fixed before the run."""
    primary = [c for c in comparisons if c["family"] == PRIMARY]
    if not primary:
        return "No primary comparison: this sweep has no GAN arm."
    parts = [
        f"{arm_label(c['arm'])}: {verdict(c)} ({_points(c['accuracy_difference'])} points, "
        f"{_points(c['ci_low'])} to {_points(c['ci_high'])}, adjusted {p_text(c['p_adjusted'])})"
        for c in primary
    ]
    family = f"{len(primary)} primary comparison{'s' * (len(primary) > 1)}"
    return f"Verdict, each GAN arm against the same-size control ({family}): " + "; ".join(parts)


def comparisons_text(sweep: GanSweep, comparisons: list[dict[str, Any]]) -> str:
    """Every comparison's sentences under its family's title, then once what the intervals cover."""
    parts = []
    for family, title in FAMILY_TITLES.items():
        members = [c["in_words"] for c in comparisons if c["family"] == family]
        if members:
            parts.append(f"{title}:\n" + "\n".join(f"- {words}" for words in members))
    return "\n\n".join([*parts, conditions(sweep)])


def _span(low: int, high: int) -> str:
    return f"{low}" if low == high else f"{low}-{high}"


PAPER_DCGAN_GAIN = 0.071
"""The paper's one effect size: 78.6% -> 85.7% accuracy with DCGAN lesions added to classic augmentation (no control,
no interval, size chosen on the test folds)."""


def scope_text(sweep: GanSweep, comparisons: list[dict[str, Any]], gan_table: pd.DataFrame, what: str) -> str:
    """What this run covers and what its intervals do and do not rule out, computed from the run itself: the data,
    the chance level, the sizes and steps, and the paper's +7.1 points against this run's DCGAN-vs-classic interval.

    Args:
        sweep, comparisons, gan_table: notebook 05's sweep, :func:`compare` and :func:`gan_fold_table`.
        what: the data and profile in words (e.g. ``"phantom, quick profile"``).
    """
    rows = sweep.predictions[(sweep.predictions.arm == "classic") & (sweep.predictions.repeat == 0)]
    chance = chance_level(rows)
    steps = "; ".join(
        f"{kind.upper()} {_span(part.steps.min(), part.steps.max())} steps"
        for kind, part in gan_table.groupby("gan", sort=False)
    )
    text = (
        f"What this run covers: {len(rows)} test lesions of {rows.patient.nunique()} patients ({what}), "
        f"{sweep.predictions.repeat.nunique()} repeats of {rows.fold.nunique()} folds, a CNN trained "
        f"{int(sweep.timing.epochs.max())} epochs per model, GANs of {steps}, and {', '.join(map(str, sweep.sizes))} "
        f"added lesions per class (the paper: 100 to 4,000). Always answering the most frequent class would score "
        f"{100 * chance:.1f}%. "
    )
    versus = next(
        (c for c in comparisons if (c["arm"], c["baseline"], c["family"]) == ("dcgan", "classic", SECONDARY)), None
    )
    if versus is not None:
        inside = versus["ci_low"] <= PAPER_DCGAN_GAIN <= versus["ci_high"]
        text += (
            f"The paper's +{100 * PAPER_DCGAN_GAIN:.1f} points (DCGAN over classic) lies "
            f"{'inside' if inside else 'outside'} this run's {100 * versus['ci_level']:.4g}% DCGAN-vs-classic interval "
            f"({_points(versus['ci_low'])} to {_points(versus['ci_high'])}): this run "
            f"{'cannot rule it out' if inside else 'rules it out'} here. "
        )
    return text + (
        "What it cannot show: whether GAN lesions help a paper-sized CNN trained 150 epochs with the paper's sizes, "
        "nor, where a verdict is inconclusive, that GAN augmentation does not work: only that this run cannot "
        "tell."
    )


# ---------------------------------------------------------------------------------------------- the GANs per fold
def gan_fold_table(
    sweep: GanSweep,
    comparisons: list[dict[str, Any]],
    gans: dict[str, dict],
    lesions: LesionSet,
    fold_of: np.ndarray,
    seed: int,
    n_per_class: int = 64,
) -> pd.DataFrame:
    """Per (repeat, fold) and GAN kind, side by side: the fewest steps any of its GANs trained, the floor its config
    trusts (``GANConfig.trusted_steps``), the collapse ratio of ``n_per_class`` fresh samples per class against the
    fold's real training lesions of that class (mean over classes; near 1 = as varied as the real ones), and the
    primary comparison's accuracy difference in that (repeat, fold).

    Args:
        sweep, comparisons: notebook 05's sweep and :func:`compare`'s result.
        gans: ``{kind: {(repeat, fold): generators}}`` (:func:`~liverkit.experiment.gan_sweep.load_all_gans`).
        lesions, fold_of, seed: the real lesions, notebook 01's folds and the run seed (each repeat's folds).
    """
    primary = {c["arm"]: c["per_repeat_fold"] for c in comparisons if c["family"] == PRIMARY}
    repeats = {repeat for per_unit in gans.values() for repeat, _ in per_unit}
    folds = {repeat: repeat_folds(lesions, fold_of, seed, repeat) for repeat in repeats}
    rows = []
    for kind, per_unit in gans.items():
        for (repeat, fold), generators in sorted(per_unit.items()):
            train, _ = split(lesions, folds[repeat], fold)
            distinct = list({id(g): g for g in generators.values()}.values())
            config = distinct[0].config
            fakes = fold_samples(
                generators, lesions.class_names, n_per_class, derive(seed, repeat, fold, Stream.FOLD_CHECK)
            )
            ratios = [
                collapse_ratio(fakes.by_class(name).images, train.by_class(name).images)
                for name in lesions.class_names
                if (train.labels == lesions.class_names.index(name)).sum() >= 2
            ]
            rows.append(
                {
                    "repeat": repeat,
                    "fold": fold,
                    "gan": kind,
                    "steps": min(g.config.total_steps(g.data["n_images"]) for g in distinct),
                    "trusted_steps": config.trusted_steps,
                    "collapse_ratio": float(np.mean(ratios)),
                    "primary_difference": primary.get(kind, {}).get(f"r{repeat}_f{fold}", np.nan),
                }
            )
    return pd.DataFrame(rows)


def floor_warnings(table: pd.DataFrame) -> list[str]:
    """One line per GAN kind with (repeat, fold)s whose GANs trained fewer steps than their config trusts
    (:func:`gan_fold_table`), naming each and its steps."""
    lines = []
    for kind, part in table.groupby("gan", sort=False):
        below = part[part.trusted_steps.notna() & (part.steps < part.trusted_steps.fillna(0))]
        if below.empty:
            continue
        units = ", ".join(f"repeat {row.repeat} fold {row.fold}: {row.steps}" for row in below.itertuples())
        lines.append(
            f"Warning: in {len(below)} of {len(part)} (repeat, fold)s the {kind.upper()} trained fewer steps than the "
            f"{int(below.trusted_steps.iloc[0])} after which such GANs were found to make usable lesions ({units}): "
            "there its arm tests under-trained GANs, not GAN augmentation."
        )
    return lines


# ---------------------------------------------------------------------------------------------- recorded numbers
def key_numbers(
    sweep: GanSweep,
    results: pd.DataFrame,
    comparisons: list[dict[str, Any]],
    gan_table: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The numbers notebook 05 records for tests, reports and regression checks (accuracies with 95% CIs; the
    primary comparisons with their matched sizes and steps; every other comparison by family; with ``gan_table``
    (:func:`gan_fold_table`), each GAN kind's steps, collapse ratio and how many fell below their floor)."""
    acc = results[results.metric == "accuracy"].set_index("setting")
    honest = choose_sizes(sweep, "honest")
    folds = fold_table(sweep)
    return {
        "sizes": list(sweep.sizes),
        "arms": arms_of(sweep),
        "repeats": int(sweep.predictions.repeat.nunique()),
        "gan_repeats": int(sweep.predictions.repeat.nunique()),  # every repeat trains its own GANs
        "n_fold_partitions": fold_partitions(sweep),
        "ci_method": CI_METHOD,
        "epochs": int(sweep.timing.epochs.iloc[0]),
        "accuracy": {name: [_r(row.estimate), _r(row.ci_low), _r(row.ci_high)] for name, row in acc.iterrows()},
        "per_fold": {
            name: {k: _r(v) for k, v in row.items() if k.startswith("fold")} for name, row in folds.iterrows()
        },
        "honest_sizes": {arm: [int(s) for s in part.synthetic] for arm, part in honest.groupby("arm")},
        "primary": {c["arm"]: _primary_numbers(sweep, c) for c in comparisons if c["family"] == PRIMARY},
        "comparisons": {
            f"{c['arm']}_vs_{c['baseline']}_{c['choice']}": _comparison_numbers(c)
            for c in comparisons
            if c["family"] != PRIMARY
        },
        "models": int(len(sweep.timing)),
        "train_seconds": round(float(sweep.timing.seconds.sum()), 1),
    } | ({} if gan_table is None else {"gans": _gan_numbers(gan_table)})


def fold_partitions(sweep: GanSweep) -> int:
    """How many different splits into folds the sweep's repeats tested on (each repeat draws its own)."""
    outer = sweep.predictions[sweep.predictions.arm == "classic"]
    folds = outer.pivot_table(index="index", columns="repeat", values="fold", aggfunc="first")
    return len({tuple(folds[r].tolist()) for r in folds.columns})


def _gan_numbers(table: pd.DataFrame) -> dict[str, Any]:
    return {
        kind: {
            "steps": [int(s) for s in part.steps],
            "below_trusted_steps": int((part.steps < part.trusted_steps.fillna(0)).sum()),
            "collapse_ratio": [_r(v) for v in part.collapse_ratio],
        }
        for kind, part in table.groupby("gan", sort=False)
    }


def _primary_numbers(sweep: GanSweep, c: dict[str, Any]) -> dict[str, Any]:
    """A primary comparison's record: both arms' sizes and steps per (repeat, fold) (equal by construction)."""
    budget = matched_budget(sweep, c["arm"])
    matched = {
        name: [int(v) for v in budget[column]]
        for name, column in (
            ("repeat", "repeat"),
            ("fold", "fold"),
            ("gan_size", "synthetic"),
            ("control_size", "synthetic"),
            ("gan_steps", "steps_gan"),
            ("control_steps", "steps_control"),
        )
    }
    return {"baseline": c["baseline"], **_comparison_numbers(c), "ci_levels": list(CI_LEVELS), "matched": matched}


def _comparison_numbers(c: dict[str, Any]) -> dict[str, Any]:
    numbers = {k: _r(c[k]) for k in ("gained", "lost", "accuracy_difference", "ci_low", "ci_high")}
    if c["family"] != DESCRIPTIVE:
        numbers["detectable_80"] = _r(c["detectable_80"])
    p_values = {k: None if c[k] is None else float(c[k]) for k in ("p_value", "p_adjusted")}  # unrounded
    return (
        numbers
        | p_values
        | {
            "family": c["family"],
            "ci_level": _r(c["ci_level"]),
            "adjustment": None if c["family"] == DESCRIPTIVE else "bonferroni",
            "verdict": c["verdict"],
            "per_repeat": [_r(d) for d in c["per_repeat"]],
            "per_repeat_fold": {k: _r(v) for k, v in c["per_repeat_fold"].items()},
        }
    )


def _r(value: float) -> float:
    return round(float(value), 4)

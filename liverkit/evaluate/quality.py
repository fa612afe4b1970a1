"""How good are the synthetic lesions? Notebook 07's paired KID difference, and FID and PRDC beside a baseline.

The paper judges its GAN lesions by eye and by the classifier they help train. This module adds the standard
numbers, computed on the last hidden layer of a trained :class:`~liverkit.nets.LesionCNN` with the formulas of
:mod:`liverkit.evaluate.feature_metrics`, and asks one question of them: **is a synthetic set further from the real test
lesions than the real training lesions are?** That question is paired (both sets against the same test lesions),
so its answer is one difference with one interval:

- :func:`fold_quality` embeds one fold's sets once and gives its point estimates (FID, KID,
  precision, recall, density, coverage; per class and overall) beside the real-vs-real baseline;
- :func:`kid_differences`, the primary number: KID(synthetic, test) - KID(real train, test) per fold and its mean
  over folds, each with a paired patient-bootstrap interval;
- :func:`fold_values` and :func:`key_numbers`: the per-fold table and the numbers notebook 07 records.

Whether a generator copies its training images is a separate question: :mod:`liverkit.evaluate.memorization`.
:func:`collapse_ratio`, the mode-collapse indicator the GAN trainers record after every epoch, is here too.

The reference is held-out real lesions. A fold's GANs learn from the fold's real training lesions (classically
augmented). Scored against those same images, a generator that handed its training images back would look perfect
(FID 0, precision and recall 1): the numbers would reward memorisation. So every metric takes the fold's real
**test** lesions as the reference set, images no generator saw, and the baseline is the fold's real training
lesions (the original ROIs, without augmentation) against the same test lesions, drawn to the same n.

The feature space. Notebook 07 uses each fold's classic-only CNN (``cnn_classic_fold{fold}.pt``, notebook 05's
classic arm, repeat 0), trained on that fold's chosen classic group (its real training lesions, classically
augmented) only: never on test lesions, never on GAN output, so it favours no generator. It did see the baseline's
lesions, and a network tends to place its own training images more confidently than new ones, so the baseline may
score a little worse than new real lesions would, which flatters the generators slightly. Each fold has its own
CNN, so numbers of different folds are in different feature spaces: compare within a fold, and read a mean over
folds as an average of per-fold comparisons.

Small samples. FID fits a Gaussian to each set; with fewer images than feature dimensions the covariance is
singular and FID is biased upward, and the bias shrinks slowly with n. PRDC's recall and coverage depend on the set
sizes too. So every set is compared with the test lesions at the test set's n (drawn class by class **without
replacement**, so no lesion enters twice) and these numbers are point estimates, read beside the real-vs-real
baseline, which has the same small-sample bias. They get no intervals: a bootstrap resample repeats lesions, and
repeats bias FID further (a real-vs-real FID of 0.12 once got an "interval" of [0.18, 2.32]).

The paired KID difference. KID is the unbiased squared MMD: its within-set sums leave each lesion's pairs with
itself out, so it has no small-sample bias, and it stays unbiased under resampling when pairs of copies of one
lesion are left out as well (:func:`~liverkit.evaluate.feature_metrics.unbiased_mmd` with origins). Each bootstrap draw
(:func:`kid_differences`) resamples **patients**, once for all folds: every fold's test patients are drawn with
replacement within that fold (each drawn patient brings all its lesions), which fixes how often each patient
appears, in its own fold's test set and in the other folds' real training sets. Within a fold the draw of the
test lesions is the same for both terms of the difference (that is what makes it paired); the real training
lesions are resampled by the same patient draw, and the synthetic lesions one by one with replacement
(independently per set and fold), so the interval covers other test patients, other real training patients and
other draws of the same GANs. It does not cover training the GANs or the CNN again (one GAN and one CNN per fold).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from liverkit.data.folds import check_disjoint
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.evaluate.feature_metrics import (
    CNNFeatures,
    fid_kid_from_features,
    fid_size_problem,
    kid_size_problem,
    prdc_size_problem,
    prdc_unchecked,
    unbiased_mmd,
)
from liverkit.nets.classifier import LesionCNN
from liverkit.train.collapse import mean_pairwise_distance, random_subset

METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")
"""The metrics of :func:`fold_quality`'s table, in row order."""

REFERENCE = "real test"
"""The reference set of every comparison: the fold's real test lesions."""

BASELINE = "real train"
"""The real-vs-real comparison's compared set (its row is ``"real train vs real test"``)."""

POOLED = "mean over folds"
"""The ``fold`` of the rows that average the folds (:func:`kid_differences`, :func:`fold_values`)."""

CI_LEVEL = 0.95
"""The confidence level of :func:`kid_differences`' intervals."""

BOOT_KID_SUBSETS = 20
"""KID subsets per bootstrap draw, used only when a resampled set is larger than ``kid_subset_size``."""

_BOOT_STREAM = 21
"""The second part of the paired bootstrap's seed, ``[seed, _BOOT_STREAM]``: a random stream of its own."""


# ---------------------------------------------------------------------------------------------- one fold
@dataclass(frozen=True)
class FoldQuality:
    """One fold's point estimates, and the features :func:`kid_differences` resamples (each set embedded once).

    Attributes:
        fold: the test fold.
        table: the point estimates' rows for this fold.
        test: the fold's real test lesions' features, N x hidden float64.
        test_patients: their patient ids, N.
        compared: each compared set's features as drawn for the overall rows (to the test set's class counts,
            without replacement): :data:`BASELINE` first, then the synthetic sets, n x hidden each.
        baseline_patients: the patient ids of ``compared[BASELINE]``'s lesions.
        kid_subset_size: the largest KID subset (larger sets are scored as a mean over subsets).
    """

    fold: int
    table: pd.DataFrame
    test: torch.Tensor
    test_patients: np.ndarray
    compared: dict[str, torch.Tensor]
    baseline_patients: np.ndarray
    kid_subset_size: int


def fold_quality(
    model: LesionCNN,
    real_train: LesionSet,
    real_test: LesionSet,
    synthetic: dict[str, LesionSet],
    fold: int = 0,
    k: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> FoldQuality:
    """FID, KID and PRDC of each synthetic set against one fold's real test lesions, beside the real-vs-real baseline.

    Every comparison has the real test lesions as the reference set ("a"); no generator saw them. The compared set
    ("b") is the real training set (the baseline) or one synthetic set, drawn **without replacement**, class by
    class, to as many lesions as the test set has in the row (fewer where the set has fewer). Rows come for all
    lesions (class ``"all"``) and for each class; the values are point estimates (no intervals: see the module
    docstring). A class row whose sets are too small for a metric keeps the row with value NaN and the reason in
    ``note``; the ``"all"`` rows must be computable (LiverkitError naming the set otherwise). The draws are seeded by
    ``seed``, ``fold`` and the row's class, the same for every compared set: identical sets get identical rows.

    Args:
        model: the fold's classifier, whose last hidden layer is the feature space; it must not have been trained
            on the test lesions or on any of the synthetic sets.
        real_train: the fold's real training lesions (the original ROIs, without augmentation), the baseline.
        real_test: the fold's real test lesions, the reference; no patient may also be in ``real_train``.
        synthetic: synthetic sets by name (e.g. ``{"dcgan": ..., "acgan": ...}``), with the same class list.
        fold: the fold's number (recorded in the table).
        k: PRDC neighbourhood size.
        kid_subsets, kid_subset_size: see :func:`~liverkit.evaluate.feature_metrics.fid_kid_from_features`.
        seed: seeds the draws and the KID subsets.

    Returns:
        A :class:`FoldQuality`; its ``table`` has tidy rows ``fold``, ``comparison`` ("dcgan vs real test", "real
        train vs real test"), ``class``, ``metric`` (one of :data:`METRICS`), ``value``, ``baseline`` (the
        real-train value for the same class and metric; NaN on baseline rows), ``n_a`` (real test lesions),
        ``n_b`` (compared lesions), ``note`` (KID subset size, small-n warnings, why a value is missing).
    """
    class_names = _check_inputs(model, real_train, real_test, synthetic, k)
    extractor = CNNFeatures(model)
    test_features = extractor.embed_set(real_test)  # N_test x hidden
    groups = [("all", None), *((name, index) for index, name in enumerate(class_names))]
    settings = dict(k=k, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, seed=seed)
    rows: list[dict] = []
    compared: dict[str, torch.Tensor] = {}
    baseline_patients = np.asarray(real_train.patient_ids)[:0]
    for name, lesions in {BASELINE: real_train, **synthetic}.items():
        features = extractor.embed_set(lesions)  # N x hidden
        for group, (class_name, label) in enumerate(groups):
            rng = np.random.default_rng([seed, fold, group])  # the same stream for every compared set
            a_index = _members(real_test.labels, label)
            b_index = matched_sample(lesions.labels, real_test.labels, label, rng)
            if label is None:
                compared[name] = features[b_index]
            if label is None and name == BASELINE:
                baseline_patients = np.asarray(real_train.patient_ids)[b_index]
            metrics = _row_metrics(test_features[a_index], features[b_index], name, settings, must=label is None)
            base = {"fold": fold, "comparison": f"{name} vs {REFERENCE}", "class": class_name, "n_a": len(a_index)}
            rows += [{**base, "metric": metric, **result, "n_b": len(b_index)} for metric, result in metrics.items()]
    return FoldQuality(
        fold=fold,
        table=_with_baseline(pd.DataFrame(rows)),
        test=test_features,
        test_patients=np.asarray(real_test.patient_ids),
        compared=compared,
        baseline_patients=np.asarray(baseline_patients),
        kid_subset_size=kid_subset_size,
    )


def _check_inputs(
    model: LesionCNN, real_train: LesionSet, real_test: LesionSet, synthetic: dict[str, LesionSet], k: int
) -> tuple[str, ...]:
    """The shared class list, or LiverkitError naming the set or argument that does not fit."""
    if k < 1:
        raise LiverkitError(f"fold_quality needs k >= 1, got k={k}.")
    held_out = "the reference must be held out: pass one fold's training and test lesions (liverkit.data.folds.split)."
    check_disjoint(real_train.patient_ids, real_test.patient_ids, "real_train and real_test", held_out)
    names = real_train.class_names
    n_outputs = int(model.head[-1].out_features)
    if n_outputs != len(names):
        raise LiverkitError(
            f"the model has {n_outputs} outputs but the real training set has {len(names)} classes {list(names)}; "
            "use the classifier trained on these classes."
        )
    if BASELINE in synthetic or REFERENCE in synthetic:
        raise LiverkitError(f"'{BASELINE}' and '{REFERENCE}' name the real sets; give the synthetic set another name.")
    for set_name, lesions in {REFERENCE: real_test, **synthetic}.items():
        if lesions.class_names != names:
            raise LiverkitError(
                f"set '{set_name}' has classes {list(lesions.class_names)} but the real training set and the model "
                f"have {list(names)}; sample the generators with class_names={names}."
            )
    return names


def _members(labels: np.ndarray, label: int | None) -> np.ndarray:
    """Indices of the lesions of one class (all lesions when ``label`` is None)."""
    return np.arange(len(labels)) if label is None else np.flatnonzero(labels == label)


def matched_sample(
    labels: np.ndarray, reference_labels: np.ndarray, label: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Indices of a set drawn **without replacement**, per class, to the reference's count of that class.

    Args:
        labels: the class index of each lesion of the set to draw from.
        reference_labels: the reference's (the real test lesions') class indices.
        label: the class to draw, or None for every class (so the draw keeps the reference's class mix).
        rng: the random stream.

    Returns:
        Sorted distinct indices: a class's lesions all, in order, where it has no more than the reference.
    """
    classes = np.union1d(np.unique(labels), np.unique(reference_labels)) if label is None else [label]
    parts = []
    for one in classes:
        members, target = np.flatnonzero(labels == one), int(np.sum(reference_labels == one))
        parts.append(rng.choice(members, size=target, replace=False) if len(members) > target else members)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _row_metrics(a: torch.Tensor, b: torch.Tensor, name: str, settings: dict, must: bool) -> dict[str, dict]:
    """``value`` and ``note`` per metric for one row (a: test features, b: compared).

    With ``must`` (the overall rows), a group too small for a metric raises a LiverkitError that names the set
    and what to do; otherwise the metric is NaN with the reason in its note."""
    k, n_a, n_b, dim = settings["k"], len(a), len(b), a.shape[1]
    names = (REFERENCE, name)
    distance_problem = fid_size_problem(n_a, n_b, dim, names) or kid_size_problem(n_a, n_b, names)
    prdc_problem = prdc_size_problem(n_a, n_b, k, names)
    if must:
        for problem, minimum in ((distance_problem, 2), (prdc_problem, k + 1)):
            if problem is not None:
                raise LiverkitError(f"fold_quality, all lesions: {problem}; " + _advice(name, n_a, minimum))
    short = [f"{n_b} {name} for {n_a} test lesions: n differs from the baseline's"] if 0 < n_b < n_a else []
    notes: dict[str, list[str]] = {metric: list(short) for metric in METRICS}
    values: dict[str, float] = {}
    if distance_problem is None:
        distances = fid_kid_from_features(a, b, settings["kid_subsets"], settings["kid_subset_size"], settings["seed"])
        values |= {metric: distances[metric] for metric in ("fid", "kid_mean", "kid_std")}
        if min(n_a, n_b) <= dim:
            notes["fid"].append(f"n <= feature dimension {dim}: FID biased upward")
        for metric in ("kid_mean", "kid_std"):
            notes[metric].append(f"KID subset size {distances['kid_subset_size']}")
    else:
        values |= dict.fromkeys(("fid", "kid_mean", "kid_std"), np.nan)
        for metric in ("fid", "kid_mean", "kid_std"):
            notes[metric].append(distance_problem)
    if prdc_problem is None:
        values |= prdc_unchecked(a, b, k)
    else:
        values |= dict.fromkeys(("precision", "recall", "density", "coverage"), np.nan)
        for metric in ("precision", "recall", "density", "coverage"):
            notes[metric].append(prdc_problem)
    return {metric: {"value": values[metric], "note": "; ".join(notes[metric])} for metric in METRICS}


def _advice(name: str, n_a: int, minimum: int) -> str:
    """What to do when an overall row is too small (the test set, or the compared set ``name``)."""
    if n_a < minimum:
        return "the real test lesions are the reference: use fewer folds, so that each test fold holds more lesions."
    return f"give set '{name}' at least {minimum} lesions."


def _with_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """Add the real-train value of the same class and metric to every synthetic row."""
    is_base = table["comparison"] == f"{BASELINE} vs {REFERENCE}"
    base = table[is_base].set_index(["class", "metric"])["value"]
    keys = pd.MultiIndex.from_frame(table[["class", "metric"]])
    table["baseline"] = np.where(is_base, np.nan, base.reindex(keys).to_numpy())
    return table[["fold", "comparison", "class", "metric", "value", "baseline", "n_a", "n_b", "note"]]


# ---------------------------------------------------------------------------------------------- every fold
def fold_values(results: Iterable[FoldQuality], per_class: bool = False, decimals: int = 4) -> pd.DataFrame:
    """The folds' point estimates for reading: one row per (fold, comparison[, class]), one column per metric.

    Without ``per_class``, only the overall rows, followed by their mean over folds (``fold`` = :data:`POOLED`;
    each fold in its own CNN's feature space).

    Args:
        results: :func:`fold_quality` of each fold.
        per_class: also the class rows (and no mean).
        decimals: rounding of the shown values.
    """
    table = pd.concat([result.table for result in results], ignore_index=True)
    rows = table if per_class else table[table["class"] == "all"]
    index = ["fold", "comparison", "class"] if per_class else ["fold", "comparison"]
    wide = rows.pivot(index=index, columns="metric", values="value")[list(METRICS)]
    wide = wide.reindex(pd.MultiIndex.from_frame(rows[index].drop_duplicates())).rename_axis(columns=None)
    if not per_class:
        mean = wide.groupby(level="comparison", sort=False).mean()
        mean.index = pd.MultiIndex.from_product([[POOLED], mean.index], names=index)
        wide = pd.concat([wide, mean])
    return wide.round(decimals)


# ---------------------------------------------------------------------------------------------- paired KID
def kid_differences(results: Sequence[FoldQuality], n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """The primary number: KID(synthetic, real test) - KID(real train, real test), per fold and over folds.

    Above 0: the synthetic lesions are further from the test lesions than real training lesions are; 0: as close;
    below 0: closer. Each fold's difference is computed on the sets :func:`fold_quality` drew (the test lesions
    whole, the compared sets drawn to the test set's class counts without replacement); the row ``fold`` =
    :data:`POOLED` averages the folds' differences (each in its own fold's feature space). Intervals: percentile
    bootstrap, ``n_boot`` paired draws, patients resampled once per draw for every fold (see the module docstring:
    the test draw is shared by both terms; real training lesions follow the same patient draw; synthetic lesions
    are resampled one by one). Draws too small for KID give NaN and are left out (``valid_draws``).

    Args:
        results: :func:`fold_quality` of each fold, with the same synthetic sets; folds of one partition (no
            patient in two folds' test sets).
        n_boot: bootstrap draws (0: no intervals).
        seed: seeds the draws.

    Returns:
        One row per (fold, synthetic set), then the :data:`POOLED` rows: ``fold``, ``synthetic``,
        ``kid_synthetic``, ``kid_real_train`` (the two terms; their means on pooled rows), ``difference``, ``ci_low``,
        ``ci_high``, ``valid_draws``, ``reading`` ("synthetic further", "synthetic closer" when the interval
        excludes 0, else "inconclusive"). ``attrs``: ``n_boot``, ``ci_level``.
    """
    results = _check_folds(results, n_boot)
    names = [name for name in results[0].compared if name != BASELINE]
    rng = np.random.default_rng([seed, _BOOT_STREAM])
    draw_patients, test_codes, baseline_codes = _patient_draw(results)
    terms = [_fold_kids(result, None, None, rng) for result in results]  # point estimates
    draws = np.full((n_boot, len(results), len(names)), np.nan)
    with _one_thread():
        for i in range(n_boot):
            counts = draw_patients(rng)
            for j, result in enumerate(results):
                kids = _fold_kids(result, counts[test_codes[j]], counts[baseline_codes[j]], rng)
                draws[i, j] = [kids[name] - kids[BASELINE] for name in names]
    rows = []
    for j, result in enumerate(results):
        for m, name in enumerate(names):
            kid_s, kid_r = terms[j][name], terms[j][BASELINE]
            rows.append(_difference_row(result.fold, name, kid_s - kid_r, draws[:, j, m], kid_s, kid_r))
    for m, name in enumerate(names):
        pooled = float(np.mean([terms[j][name] - terms[j][BASELINE] for j in range(len(results))]))
        mean_s, mean_r = (float(np.mean([term[one] for term in terms])) for one in (name, BASELINE))
        rows.append(_difference_row(POOLED, name, pooled, draws[:, :, m].mean(axis=1), mean_s, mean_r))
    table = pd.DataFrame(rows)
    table.attrs = {"n_boot": n_boot, "ci_level": CI_LEVEL}
    return table


def _check_folds(results: Sequence[FoldQuality], n_boot: int) -> list[FoldQuality]:
    """The results as a list, or LiverkitError when they cannot be compared fold by fold."""
    results = list(results)
    if not results:
        raise LiverkitError("kid_differences needs the fold_quality of at least one fold.")
    if n_boot < 0:
        raise LiverkitError(f"kid_differences needs n_boot >= 0 (0: no intervals), got {n_boot}.")
    folds = [result.fold for result in results]
    if len(set(folds)) < len(folds):
        raise LiverkitError(f"kid_differences got fold(s) more than once: {folds}; pass each fold's result once.")
    names = list(results[0].compared)
    for result in results[1:]:
        if list(result.compared) != names:
            raise LiverkitError(
                f"fold {result.fold} compares {list(result.compared)} but fold {results[0].fold} {names}; "
                "pass the same synthetic sets for every fold."
            )
    return results


def _patient_draw(
    results: list[FoldQuality],
) -> tuple[Callable[[np.random.Generator], np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """A function drawing each patient's count in one bootstrap draw, and each fold's lesion -> patient codes.

    The strata are the folds' test sets (each resampled within itself, as many patients as it has, with
    replacement); real training patients of no given test fold form one more stratum."""
    stratum: dict = {}
    for j, result in enumerate(results):
        for patient in np.unique(result.test_patients).tolist():
            if stratum.setdefault(patient, j) != j:
                raise LiverkitError(
                    f"patient {patient!r} is in the test sets of folds {results[stratum[patient]].fold} and "
                    f"{result.fold}; pass the folds of one partition (liverkit.data.folds)."
                )
    for result in results:
        for patient in np.unique(result.baseline_patients).tolist():
            stratum.setdefault(patient, len(results))
    code = {patient: i for i, patient in enumerate(stratum)}
    groups = [np.flatnonzero(np.array(list(stratum.values())) == s) for s in range(len(results) + 1)]

    def draw(rng: np.random.Generator) -> np.ndarray:
        counts = np.zeros(len(code), dtype=np.int64)
        for members in groups:
            if len(members):
                counts += np.bincount(rng.choice(members, len(members)), minlength=len(code))
        return counts

    def codes(patients: np.ndarray) -> np.ndarray:
        return np.array([code[p] for p in np.asarray(patients).tolist()], dtype=np.int64)

    return draw, [codes(r.test_patients) for r in results], [codes(r.baseline_patients) for r in results]


def _fold_kids(
    result: FoldQuality, test_counts: np.ndarray | None, baseline_counts: np.ndarray | None, rng: np.random.Generator
) -> dict[str, float]:
    """KID of each compared set against the fold's test lesions: on the sets themselves (counts None), or on one
    bootstrap draw (each lesion repeated as often as its patient was drawn; synthetic lesions drawn one by one)."""
    test_index = _repeat(len(result.test), test_counts)
    a = result.test[test_index]
    out = {}
    for name, features in result.compared.items():
        if test_counts is None:
            index = np.arange(len(features))
        elif name == BASELINE:
            index = _repeat(len(features), baseline_counts)
        else:
            index = rng.integers(0, len(features), len(features))
        out[name] = _draw_kid(a, features[index], test_index, index, result.kid_subset_size, rng)
    return out


def _repeat(n: int, counts: np.ndarray | None) -> np.ndarray:
    """Indices 0..n-1, each repeated ``counts`` times (once each when ``counts`` is None)."""
    return np.arange(n) if counts is None else np.repeat(np.arange(n), counts)


def _difference_row(fold: int | str, name: str, value: float, draws: np.ndarray, kid_s: float, kid_r: float) -> dict:
    """One row of :func:`kid_differences`: the difference, its percentile interval from the finite draws, a reading."""
    valid = int(np.isfinite(draws).sum())
    low = high = np.nan
    if len(draws) and valid >= max(2, len(draws) // 2):
        tail = (1 - CI_LEVEL) / 2
        low, high = (float(q) for q in np.nanquantile(draws, [tail, 1 - tail]))
    reading = "synthetic further" if low > 0 else "synthetic closer" if high < 0 else "inconclusive"
    return {
        "fold": fold,
        "synthetic": name,
        "kid_synthetic": kid_s,
        "kid_real_train": kid_r,
        "difference": value,
        "ci_low": low,
        "ci_high": high,
        "valid_draws": valid,
        "reading": reading,
    }


def kid_reading(kid: pd.DataFrame) -> str:
    """:func:`kid_differences`' mean-over-folds rows in words, one line per synthetic set (true of the numbers).

    Args:
        kid: the table :func:`kid_differences` returned.
    """
    lines = []
    folds = kid[kid["fold"] != POOLED]
    level = f"{kid.attrs.get('ci_level', CI_LEVEL):.0%}"
    for row in kid[kid["fold"] == POOLED].itertuples():
        own = folds[folds["synthetic"] == row.synthetic]
        further = int((own["reading"] == "synthetic further").sum())
        claim = {
            "synthetic further": "further from the test lesions than real training lesions are",
            "synthetic closer": "closer to the test lesions than real training lesions are",
            "inconclusive": "the data cannot tell whether it is further from the test lesions than real training "
            "lesions are (the interval contains 0)",
        }[row.reading]
        interval = "no interval" if np.isnan(row.ci_low) else f"{level} interval [{row.ci_low:.4f}, {row.ci_high:.4f}]"
        lines.append(
            f"{row.synthetic}: KID difference {row.difference:.4f} on average over {len(own)} fold(s), {interval}: "
            f"{claim}. Interval above 0 in {further} of {len(own)} fold(s)."
        )
    return "\n".join(lines)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one thread inside the block: the draws' matrices are tiny, and on a busy 2-core machine the thread
    hand-offs cost several times the arithmetic (measured on a shared 2-core CPU: 8 s on 2 threads, 1.2 s on one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _draw_kid(
    a: torch.Tensor,
    b: torch.Tensor,
    a_origin: np.ndarray,
    b_origin: np.ndarray,
    subset_size: int,
    rng: np.random.Generator,
) -> float:
    """KID of two (possibly resampled) sets: the unbiased MMD of the whole sets, pairs of copies of one lesion left
    out, or the mean over BOOT_KID_SUBSETS subsets when one set is larger than ``subset_size`` (NaN: too small)."""
    if min(len(a), len(b)) < 2:
        return np.nan
    if max(len(a), len(b)) <= subset_size:
        return unbiased_mmd(a, b, a_origin, b_origin)
    size = min(subset_size, len(a), len(b))
    values = []
    for _ in range(BOOT_KID_SUBSETS):
        ia, ib = rng.choice(len(a), size, replace=False), rng.choice(len(b), size, replace=False)
        values.append(unbiased_mmd(a[ia], b[ib], a_origin[ia], b_origin[ib]))
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


# ---------------------------------------------------------------------------------------------- key numbers
def key_numbers(results: Sequence[FoldQuality], kid: pd.DataFrame, memorization: dict) -> dict:
    """The numbers notebook 07 records, every fold's.

    Args:
        results: :func:`fold_quality` of each fold.
        kid: :func:`kid_differences` of the same folds.
        memorization: the memorization summaries, as notebook 07 builds them.

    Returns:
        ``n_folds``; ``reference`` and ``baseline`` (the reference set's name and the baseline comparison's);
        ``ci``: ``level`` and ``n_boot`` of the KID intervals; ``kid_difference``: ``{synthetic: {"fold 0": {value,
        low, high}, ..., "mean over folds": {...}}}``; ``per_fold``: ``{"fold 0": {comparison: {metric: value}}}``
        (the overall rows); ``mean_over_folds``: ``{comparison: {metric: mean}}``; ``memorization``: as given.
    """
    results = list(results)
    kid_numbers: dict[str, dict] = {}
    for row in kid.itertuples():
        kid_numbers.setdefault(row.synthetic, {})[_fold_key(row.fold)] = {
            "value": _rounded(row.difference),
            "low": _rounded(row.ci_low),
            "high": _rounded(row.ci_high),
        }
    values = fold_values(results, decimals=5)
    per_fold = {
        _fold_key(fold): {name: {m: _rounded(v) for m, v in values.loc[(fold, name)].items()} for name in part}
        for fold, part in values.index.to_frame(index=False).groupby("fold", sort=False)["comparison"]
    }
    return {
        "n_folds": len(results),
        "reference": REFERENCE,
        "baseline": f"{BASELINE} vs {REFERENCE}",
        "ci": {"level": kid.attrs.get("ci_level"), "n_boot": kid.attrs.get("n_boot")},
        "kid_difference": kid_numbers,
        "per_fold": {key: numbers for key, numbers in per_fold.items() if key != POOLED},
        "mean_over_folds": per_fold[POOLED],
        "memorization": memorization,
    }


def _fold_key(fold: int | str) -> str:
    """``"fold 0"`` for a fold number, the pooled rows' name as it is."""
    return fold if fold == POOLED else f"fold {int(fold)}"


def _rounded(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), 5)


# ---------------------------------------------------------------------------------------------- mode collapse
# (the GAN trainers record collapse_ratio after every epoch: liverkit.train.gan)
def collapse_ratio(
    fake_images: np.ndarray | torch.Tensor, real_images: np.ndarray | torch.Tensor, max_images: int = 256, seed: int = 0
) -> float:
    """A mode-collapse indicator: mean pairwise L2 distance among generated images / among real images.

    About 1 when the samples vary as much as the real images do; it falls towards 0 as the generator collapses
    onto a few outputs (well above 1 usually means noise). Both sets must be on the same scale (e.g. [0, 1]).

    Args:
        fake_images, real_images: N x ... numpy arrays or tensors, at least 2 images each.
        max_images: at most this many images of each set enter (a random subset, fixed by ``seed``).
        seed: picks the subsets.
    """
    rng = torch.Generator().manual_seed(seed)
    spreads = []
    for name, images in (("fake_images", fake_images), ("real_images", real_images)):
        images = torch.as_tensor(images).detach()
        if len(images) < 2:
            raise LiverkitError(f"collapse_ratio needs at least 2 {name}, got {len(images)}.")
        spreads.append(mean_pairwise_distance(random_subset(images, max_images, rng)))
    return spreads[0] / spreads[1] if spreads[1] > 0 else math.nan

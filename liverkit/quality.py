"""How good are the synthetic lesions? Notebook 07's table of FID, KID and PRDC against held-out real lesions.

The paper judges its GAN lesions by eye and by the classifier they help train. This module adds the standard
numbers, computed on the last hidden layer of a trained :class:`~liverkit.nets.LesionCNN` with the formulas of
:mod:`liverkit.feature_metrics`: :func:`quality_table` gives each synthetic set's FID, KID and PRDC against the
fold's real **test** lesions, per class and overall, beside the same number for real training lesions against the
same test lesions (the baseline), each with a bootstrap confidence interval; :func:`interval_table` shows it as
"value [low, high]" and :func:`key_numbers` gives what notebook 07 records. Whether a generator copies its training
images is a separate question: :mod:`liverkit.memorization`. :func:`collapse_ratio`, the mode-collapse indicator
the GAN trainers record after every epoch, is here too: a quality number of the samples, on pixels.

The reference is held-out real lesions. A fold's GANs learn from the fold's real training lesions (classically
augmented). Scored against those same images, a generator that handed its training images back would look perfect
(FID 0, precision and recall 1): the numbers would reward memorisation. So every distribution metric takes the
fold's real test lesions as the reference set, images no generator saw, and the baseline is the fold's real
training lesions (the original ROIs, without augmentation) against the same test lesions, drawn to the same n: what
real lesions that are not the reference score at this sample size. This is in line with evaluation suites such as
StudioGAN and fid-med-eval: quality read against images the generator never saw, in a stated feature space, beside
a real-vs-real baseline. Copying is a separate question with its own reference: :mod:`liverkit.memorization` compares
each synthetic lesion with the GAN's own training images.

The feature space. Notebook 07 uses the fold's classic-only CNN (``cnn_classic_fold{fold}.pt``, notebook 05's
classic arm), trained on the fold's real training lesions (with classic augmentation) only: never on test lesions,
never on GAN output, so it favours no generator. It did see the baseline's lesions, and a network tends to place its own
training images more confidently than new ones, so the baseline may score a little worse than new real lesions
would, which flatters the generators slightly.

Small samples. FID fits a Gaussian (mean and covariance) to each set; with fewer images than feature dimensions
the covariance is singular and FID is biased upward, and the bias shrinks only slowly with n. KID is unbiased but
noisy for small sets; PRDC's recall and coverage depend on the set sizes. So :func:`quality_table` compares every
set with the test lesions at the test set's n (drawn class by class, so the overall rows share the test set's
class mix) and every number is read beside the real-vs-real baseline, which has the same small-sample bias.

Confidence intervals. Percentile bootstrap (:data:`CI_LEVEL`, ``n_boot`` draws): each draw resamples the test
lesions by patient (patients with replacement, each drawn patient brings all its lesions of the row's class) and
the compared lesions one by one with replacement, then recomputes the metric from features computed once (no
image is embedded again). Two draws of one lesion are not each other's neighbour in PRDC's k-NN radii, nor a
within-set pair in KID's unbiased sums (else a duplicate would look like a perfect match). Per draw, KID is the
unbiased MMD of the whole resampled sets, or the mean over :data:`BOOT_KID_SUBSETS` subsets when a set is larger
than ``kid_subset_size``. ``kid_std`` (a spread over KID subsets) gets no interval. A draw too small for a
metric gives NaN and is left out. The interval says how far a number would move with other test patients and
other generated lesions. It does not remove the small-sample bias, and a resample (with its repeated lesions)
carries that bias again: FID intervals sit somewhat high, and a near-zero FID can lie below its interval.

The bootstrap draws use the formulas of :mod:`liverkit.feature_metrics` computed directly, without the metric
objects (tests check that they agree with torchmetrics).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch

from liverkit.data.folds import check_disjoint
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.feature_metrics import (
    CNNFeatures,
    fid_kid_from_features,
    fid_size_problem,
    frechet_distance,
    kid_size_problem,
    prdc_size_problem,
    prdc_unchecked,
    unbiased_mmd,
)
from liverkit.metrics import cluster_resampler
from liverkit.nets.classifier import LesionCNN

METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")
"""The metrics of :func:`quality_table`, in row order."""

REFERENCE = "real test"
"""The reference set of every comparison in :func:`quality_table`: the fold's real test lesions."""

BASELINE = "real train"
"""The real-vs-real comparison's compared set in :func:`quality_table` (its row is ``"real train vs real test"``)."""

CI_LEVEL = 0.95
"""The confidence level of :func:`quality_table`'s bootstrap intervals."""

BOOT_KID_SUBSETS = 20
"""KID subsets per bootstrap draw, used only when a resampled set is larger than ``kid_subset_size``."""


# ---------------------------------------------------------------------------------------------- the table
def quality_table(
    model: LesionCNN,
    real_train: LesionSet,
    real_test: LesionSet,
    synthetic: dict[str, LesionSet],
    k: int = 5,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """FID, KID and PRDC of each synthetic set against the real test lesions, beside the real-vs-real baseline.

    Every comparison has the real test lesions as the reference set ("a"); no generator saw them, so a generator
    that copies its training images gains nothing here. The compared set ("b") is the real training set (the
    baseline: real lesions that are not the reference) or one synthetic set, drawn without replacement, class by
    class, to as many lesions as the test set has in the row (fewer where the set has fewer). Rows come for all
    lesions (class ``"all"``) and for each class. Each value gets a percentile bootstrap interval (see the module
    docstring: test patients and compared lesions resampled, features computed once). A class row whose sets are
    too small for a metric keeps the row with value NaN and the reason in ``note``; the ``"all"`` rows must be
    computable (LiverkitError naming the set otherwise).

    Random draws are seeded by ``seed`` and the row's class, the same for every compared set: two identical
    compared sets get identical rows, and all sets of a class share the test set's bootstrap resamples.

    Args:
        model: the trained classifier whose last hidden layer is the feature space; it must not have been trained
            on the test lesions or on any of the synthetic sets.
        real_train: the fold's real training lesions (the original ROIs, without augmentation), the baseline.
        real_test: the fold's real test lesions, the reference; no patient may also be in ``real_train``.
        synthetic: synthetic sets by name (e.g. ``{"dcgan": ..., "acgan": ...}``), with the same class list.
        k: PRDC neighbourhood size.
        kid_subsets, kid_subset_size: see :func:`~liverkit.feature_metrics.fid_kid_from_features` (for the
            values; the bootstrap draws use the whole resampled sets, or :data:`BOOT_KID_SUBSETS` subsets when a
            set is larger than the size).
        n_boot: bootstrap draws per row (0: no intervals).
        seed: seeds the subsampling, the bootstrap and the KID subsets.

    Returns:
        Tidy rows: ``comparison`` ("dcgan vs real test", "real train vs real test"), ``class``, ``metric`` (one of
        :data:`METRICS`), ``value``, ``ci_low``, ``ci_high`` (the :data:`CI_LEVEL` interval; NaN for ``kid_std``
        and where ``value`` is NaN), ``baseline`` (the real-train value for the same class and metric; NaN on
        baseline rows), ``n_a`` (real test lesions), ``n_b`` (compared lesions), ``note`` (KID subset size,
        small-n warnings, why a value is missing, how many draws made the interval when some were too small).
        ``attrs`` holds ``reference``, ``baseline``, ``n_boot``, ``ci_level`` and ``k``.
    """
    class_names = _check_inputs(model, real_train, real_test, synthetic, k, n_boot)
    extractor = CNNFeatures(model)
    test_features = extractor.embed_set(real_test)  # N_test x hidden
    groups = [("all", None), *((name, index) for index, name in enumerate(class_names))]
    settings = dict(k=k, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, n_boot=n_boot, seed=seed)
    rows: list[dict] = []
    for name, lesions in {BASELINE: real_train, **synthetic}.items():
        features = extractor.embed_set(lesions)  # N x hidden
        for group, (class_name, label) in enumerate(groups):
            rng = np.random.default_rng([seed, group])  # the same stream for every compared set
            a_index = _members(real_test, label)
            b_index = _matched_sample(lesions, real_test, label, rng)
            metrics = _row_metrics(
                test_features[a_index],
                features[b_index],
                real_test.patient_ids[a_index],
                name,
                rng,
                settings,
                must=label is None,
            )
            base = {"comparison": f"{name} vs {REFERENCE}", "class": class_name, "n_a": len(a_index)}
            rows += [{**base, "metric": metric, **result, "n_b": len(b_index)} for metric, result in metrics.items()]
    table = _with_baseline(pd.DataFrame(rows))
    table.attrs = {
        "reference": REFERENCE,
        "baseline": f"{BASELINE} vs {REFERENCE}",
        "n_boot": n_boot,
        "ci_level": CI_LEVEL,
        "k": k,
    }
    return table


def interval_table(table: pd.DataFrame, per_class: bool = False, decimals: int = 3) -> pd.DataFrame:
    """:func:`quality_table` for reading: one row per comparison (and class, with ``per_class``), one column per
    metric, each cell ``"value [ci_low, ci_high]"`` (just the value where there is no interval, "NaN" where
    there is no value). Without ``per_class`` only the overall rows."""
    rows = table if per_class else table[table["class"] == "all"]

    def cell(row) -> str:
        if pd.isna(row.value):
            return "NaN"
        if pd.isna(row.ci_low):
            return f"{row.value:.{decimals}f}"
        return f"{row.value:.{decimals}f} [{row.ci_low:.{decimals}f}, {row.ci_high:.{decimals}f}]"

    shown = rows.assign(shown=[cell(row) for row in rows.itertuples()])
    index = ["comparison", "class"] if per_class else ["comparison"]
    wide = shown.pivot(index=index, columns="metric", values="shown")[list(METRICS)]
    order = rows[index].drop_duplicates()  # the table's order: baseline first, "all" before the classes
    return wide.reindex(pd.MultiIndex.from_frame(order) if per_class else order["comparison"]).rename_axis(columns=None)


def _check_inputs(
    model: LesionCNN,
    real_train: LesionSet,
    real_test: LesionSet,
    synthetic: dict[str, LesionSet],
    k: int,
    n_boot: int,
) -> tuple[str, ...]:
    """The shared class list, or LiverkitError naming the set or argument that does not fit."""
    if k < 1:
        raise LiverkitError(f"quality_table needs k >= 1, got k={k}.")
    if n_boot < 0:
        raise LiverkitError(f"quality_table needs n_boot >= 0 (0: no intervals), got {n_boot}.")
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


def _members(lesions: LesionSet, label: int | None) -> np.ndarray:
    """Indices of the lesions of one class (all lesions when ``label`` is None)."""
    return np.arange(len(lesions)) if label is None else np.flatnonzero(lesions.labels == label)


def _matched_sample(lesions: LesionSet, real_test: LesionSet, label: int | None, rng: np.random.Generator):
    """Indices of ``lesions`` drawn without replacement, per class, to the test set's count of that class (all of
    a class's lesions where it has fewer); for ``label`` None every class, so the draw keeps the test's class mix."""
    labels = range(len(lesions.class_names)) if label is None else [label]
    parts = []
    for one in labels:
        members, target = np.flatnonzero(lesions.labels == one), int(np.sum(real_test.labels == one))
        parts.append(rng.choice(members, size=target, replace=False) if len(members) > target else members)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def _row_metrics(
    a: torch.Tensor,
    b: torch.Tensor,
    patients: np.ndarray,
    name: str,
    rng: np.random.Generator,
    settings: dict,
    must: bool,
) -> dict[str, dict]:
    """``value``, ``ci_low``, ``ci_high`` and ``note`` per metric for one row (a: test features, b: compared).

    With ``must`` (the overall rows), a group too small for a metric raises a LiverkitError that names the set
    and what to do; otherwise the metric is NaN with the reason in its note."""
    k, n_a, n_b, dim = settings["k"], len(a), len(b), a.shape[1]
    names = (REFERENCE, name)
    distance_problem = fid_size_problem(n_a, n_b, dim, names) or kid_size_problem(n_a, n_b, names)
    prdc_problem = prdc_size_problem(n_a, n_b, k, names)
    if must:
        for problem, minimum in ((distance_problem, 2), (prdc_problem, k + 1)):
            if problem is not None:
                raise LiverkitError(f"quality_table, all lesions: {problem}; " + _advice(name, n_a, minimum))
    values: dict[str, float] = {}
    short = [f"{n_b} {name} for {n_a} test lesions: n differs from the baseline's"] if 0 < n_b < n_a else []
    notes: dict[str, list[str]] = {metric: list(short) for metric in METRICS}
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
    wanted = [metric for metric in METRICS if metric != "kid_std" and np.isfinite(values[metric])]
    intervals = _intervals(a, b, patients, wanted, rng, settings) if settings["n_boot"] and wanted else {}
    out = {}
    for metric in METRICS:
        low, high, note = intervals.get(metric, (np.nan, np.nan, ""))
        if values[metric] < low or values[metric] > high:
            side = "below" if values[metric] < low else "above"
            note = "; ".join(filter(None, [note, f"value {side} its interval (small-n bias)"]))
        out[metric] = {
            "value": values[metric],
            "ci_low": low,
            "ci_high": high,
            "note": "; ".join([*notes[metric], note] if note else notes[metric]),
        }
    return out


def _advice(name: str, n_a: int, minimum: int) -> str:
    """What to do when an overall row is too small (the test set, or the compared set ``name``)."""
    if n_a < minimum:
        return "the real test lesions are the reference: use fewer folds, so that each test fold holds more lesions."
    return f"give set '{name}' at least {minimum} lesions."


def _intervals(
    a: torch.Tensor,
    b: torch.Tensor,
    patients: np.ndarray,
    wanted: list[str],
    rng: np.random.Generator,
    settings: dict,
) -> dict[str, tuple[float, float, str]]:
    """Percentile bootstrap interval and note per wanted metric: test lesions resampled by patient, compared
    lesions one by one, metrics recomputed from the given features (NaN draws are left out)."""
    n_boot, k, subset_size = settings["n_boot"], settings["k"], settings["kid_subset_size"]
    draws = {metric: np.full(n_boot, np.nan) for metric in wanted}
    with _one_thread():
        for i, (a_index, b_index) in enumerate(_resamples(patients, len(b), n_boot, rng)):
            for metric, value in _draw(a[a_index], b[b_index], a_index, b_index, wanted, k, subset_size, rng).items():
                draws[metric][i] = value
    tail = (1 - CI_LEVEL) / 2
    out = {}
    for metric, values in draws.items():
        valid = int(np.isfinite(values).sum())
        if valid < max(2, n_boot // 2):
            out[metric] = (np.nan, np.nan, f"no interval: only {valid} of {n_boot} resamples were large enough")
            continue
        low, high = np.nanquantile(values, [tail, 1 - tail])
        note = f"interval from {valid} of {n_boot} resamples" if valid < n_boot else ""
        out[metric] = (float(low), float(high), note)
    return out


def _resamples(
    patients: np.ndarray, n_b: int, n_boot: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``n_boot`` bootstrap draws of (reference indices, compared indices). The reference is drawn by patient: as
    many patients as there are, with replacement, each bringing all its lesions (so a draw's size varies); the
    compared set lesion by lesion, ``n_b`` with replacement."""
    draw_reference = cluster_resampler(len(patients), patients)
    for _ in range(n_boot):
        yield draw_reference(rng), rng.integers(0, n_b, n_b)


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


def _draw(
    a: torch.Tensor,
    b: torch.Tensor,
    a_origin: np.ndarray,
    b_origin: np.ndarray,
    wanted: list[str],
    k: int,
    subset_size: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """The wanted metrics of one bootstrap draw (NaN where the draw is too small for one)."""
    out: dict[str, float] = {}
    if "fid" in wanted:
        out["fid"] = frechet_distance(a, b) if min(len(a), len(b)) >= 2 else np.nan
    if "kid_mean" in wanted:
        out["kid_mean"] = _draw_kid(a, b, a_origin, b_origin, subset_size, rng)
    if "precision" in wanted:
        out |= prdc_unchecked(a, b, k, a_origin, b_origin)
    return {metric: value for metric, value in out.items() if metric in wanted}


def _draw_kid(
    a: torch.Tensor,
    b: torch.Tensor,
    a_origin: np.ndarray,
    b_origin: np.ndarray,
    subset_size: int,
    rng: np.random.Generator,
) -> float:
    """KID of one draw: the whole resampled sets, or the mean over BOOT_KID_SUBSETS subsets when one is larger
    than ``subset_size``."""
    if max(len(a), len(b)) <= subset_size:
        return unbiased_mmd(a, b, a_origin, b_origin)
    size = min(subset_size, len(a), len(b))
    values = []
    for _ in range(BOOT_KID_SUBSETS):
        ia, ib = rng.choice(len(a), size, replace=False), rng.choice(len(b), size, replace=False)
        values.append(unbiased_mmd(a[ia], b[ib], a_origin[ia], b_origin[ib]))
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def _with_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """Add the real-train value of the same class and metric to every synthetic row."""
    is_base = table["comparison"] == f"{BASELINE} vs {REFERENCE}"
    base = table[is_base].set_index(["class", "metric"])["value"]
    keys = pd.MultiIndex.from_frame(table[["class", "metric"]])
    table["baseline"] = np.where(is_base, np.nan, base.reindex(keys).to_numpy())
    return table[["comparison", "class", "metric", "value", "ci_low", "ci_high", "baseline", "n_a", "n_b", "note"]]


def key_numbers(table: pd.DataFrame, memorization: dict[str, dict[str, float]]) -> dict:
    """The numbers notebook 07 records: each comparison's overall metrics (against the real test lesions, the
    real-vs-real baseline among them), their bootstrap intervals, and each generator's memorization summary.

    Returns:
        ``overall``: ``{comparison: {metric: value}}``; ``overall_ci``: ``{comparison: {metric: {"low", "high"}}}``
        (no ``kid_std``; None where there is no interval); ``reference`` and ``baseline``: the reference set's
        name and the baseline comparison's; ``ci``: ``level`` and ``n_boot`` (from the table's ``attrs``, None
        when the table was read back from a file); ``memorization``: as given.
    """
    overall = table[table["class"] == "all"]
    numbers = {
        name: {m: _rounded(v) for m, v in zip(part.metric, part.value, strict=True)}
        for name, part in overall.groupby("comparison", sort=False)
    }
    intervals = {
        name: {
            m: {"low": _rounded(low), "high": _rounded(high)}
            for m, low, high in zip(part.metric, part.ci_low, part.ci_high, strict=True)
            if m != "kid_std"
        }
        for name, part in overall.groupby("comparison", sort=False)
    }
    return {
        "overall": numbers,
        "overall_ci": intervals,
        "reference": REFERENCE,
        "baseline": f"{BASELINE} vs {REFERENCE}",
        "ci": {"level": table.attrs.get("ci_level"), "n_boot": table.attrs.get("n_boot")},
        "memorization": memorization,
    }


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


def random_subset(images: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
    """At most ``n`` of ``images``, a random subset drawn with ``rng`` (all of them, in order, when there are few)."""
    if len(images) <= n:
        return images
    return images[torch.randperm(len(images), generator=rng)[:n].to(images.device)]


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean L2 distance over all pairs of images (flattened), in fp32."""
    return torch.pdist(images.flatten(1).float()).mean().item()

"""How good, and how new, are the synthetic lesions? Measured in the kit's own CNN feature space (notebook 07).

The paper judges its GAN lesions by eye and by the classifier they help train. This module adds the standard
numbers, computed on the last hidden layer of a trained :class:`~liverkit.nets.LesionCNN` (not Inception: an
ImageNet network has never seen a liver CT patch):

1. :class:`CNNFeatures`: a trained LesionCNN as a torchmetrics feature extractor (images -> float64 features).
2. :func:`fid_kid`: Frechet and kernel distances (FID, KID) between two LesionSets, with torchmetrics in float64.
3. :func:`prdc`: precision, recall, density and coverage (Naeem et al. 2020) from two feature arrays.
4. :func:`quality_table`: all of the above for each synthetic set against the fold's real **test** lesions, per
   class and overall, beside the same number for real training lesions against the same test lesions (the
   baseline), each with a bootstrap confidence interval; :func:`interval_table` shows it as "value [low, high]".
5. :func:`memorization_audit`, :func:`memorization_summary` and :func:`closest_pairs_figure`: does a generator
   copy its training images? Nearest training image per synthetic one, flagged against real-to-real distances.

The reference is held-out real lesions. A fold's GANs learn from the fold's real training lesions (classically
augmented). Scored against those same images, a generator that handed its training images back would look perfect
(FID 0, precision and recall 1): the numbers would reward memorisation. So every distribution metric takes the
fold's real test lesions as the reference set, images no generator saw, and the baseline is the fold's real
training lesions (the original ROIs, without augmentation) against the same test lesions, drawn to the same n: what
real lesions that are not the reference score at this sample size. This is in line with evaluation suites such as
StudioGAN and fid-med-eval: quality read against images the generator never saw, in a stated feature space, beside
a real-vs-real baseline. Copying is a separate question with its own reference: the memorization audit compares
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

How torchmetrics is used. ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` accept any ``nn.Module``
as ``feature`` and call it inside ``update(images)``; :class:`CNNFeatures` is such a module (a test checks that
torchmetrics with it gives the same FID as a direct computation). The CNN is the slow part (several ms per image
on a 2-core CPU), and torchmetrics would run it once per metric and per class, so :func:`fid_kid` and
:func:`quality_table` embed each set once with :class:`CNNFeatures` and hand the features to the two metrics
through a pass-through feature module. CNNFeatures returns float64, so torchmetrics keeps its statistics and its
result in float64 (FID's sums are float64 anyway; KID works in the features' dtype). The bootstrap draws use the
same formulas computed directly, without the metric objects (tests check that they agree with torchmetrics).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from liverkit.data.folds import check_disjoint
from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.display import fit_width
from liverkit.errors import LiverkitError
from liverkit.metrics import cluster_resampler
from liverkit.nets.classifier import LesionCNN
from liverkit.plots import display_name, image_mosaic

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


# ---------------------------------------------------------------------------------------------- features
class CNNFeatures(nn.Module):
    """A trained LesionCNN as a torchmetrics feature extractor: its last hidden layer, in eval mode, as float64.

    Works as ``FrechetInceptionDistance(feature=CNNFeatures(model))`` (``num_features`` tells torchmetrics the
    size). The model runs in its own dtype (float32, as in training) without gradients; the output is cast to
    float64. Don't call the metric's ``set_dtype`` with this module inside: ``nn.Module.type`` would convert the
    wrapped model's weights in place. The float64 output already makes torchmetrics compute in float64.
    """

    def __init__(self, model: LesionCNN):
        super().__init__()
        self.model = model
        self.num_features = int(model.hidden[0].out_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images N x 1 x 64 x 64 in [0, 1] -> features N x hidden, float64 (the model's training mode is kept)."""
        weight = self.model.mean_image
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                features = self.model.embed(images.to(device=weight.device, dtype=weight.dtype))  # N x hidden
        finally:
            self.model.train(was_training)
        return features.double().cpu()

    def embed_set(self, lesions: LesionSet, batch: int = 256) -> torch.Tensor:
        """Features of every lesion, N x hidden float64 on the CPU, in batches of ``batch`` images."""
        images = torch.from_numpy(lesions.images)  # N x 1 x 64 x 64
        parts = [self(images[i : i + batch]) for i in range(0, len(lesions), batch)]
        return torch.cat(parts) if parts else torch.zeros(0, self.num_features, dtype=torch.float64)


class _GivenFeatures(nn.Module):
    """Pass-through 'extractor' for torchmetrics when the features are already computed (N x d -> N x d float64)."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.double()


def _as_features(features: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """A feature array as an N x d float64 tensor, or LiverkitError naming the argument."""
    tensor = torch.as_tensor(features, dtype=torch.float64).cpu()
    if tensor.ndim != 2:
        raise LiverkitError(f"{name} must be an N x d feature array, got shape {tuple(tensor.shape)}.")
    if not torch.isfinite(tensor).all():
        raise LiverkitError(f"{name} contains NaN or inf; check the model and images that produced it.")
    return tensor


def _pair(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    real_t, fake_t = _as_features(real, "real_features"), _as_features(fake, "fake_features")
    if real_t.shape[1] != fake_t.shape[1]:
        raise LiverkitError(
            f"real and fake features have different widths ({real_t.shape[1]} vs {fake_t.shape[1]}); "
            "compute both with the same model."
        )
    return real_t, fake_t


# ---------------------------------------------------------------------------------------------- sizes
def _size_problem(
    metric: str, n_real: int, n_fake: int, minimum: int, hint: str = "", names: tuple[str, str] = ("real", "fake")
) -> str | None:
    """Why ``metric`` cannot be computed for these set sizes, or None when it can."""
    if n_real >= minimum and n_fake >= minimum:
        return None
    return f"{metric} needs at least {minimum} images per set, got {n_real} {names[0]} and {n_fake} {names[1]}{hint}"


def _require(problem: str | None) -> None:
    if problem is not None:
        raise LiverkitError(problem + "; give more images.")


def _fid_problem(n_real: int, n_fake: int, dim: int, names: tuple[str, str] = ("real", "fake")) -> str | None:
    hint = f" (a reliable FID needs many more than the feature dimension, {dim})"
    return _size_problem("FID", n_real, n_fake, 2, hint, names)


def _kid_problem(n_real: int, n_fake: int, names: tuple[str, str] = ("real", "fake")) -> str | None:
    return _size_problem("KID", n_real, n_fake, 2, names=names)


def _prdc_problem(n_real: int, n_fake: int, k: int, names: tuple[str, str] = ("real", "fake")) -> str | None:
    return _size_problem(f"PRDC with k={k}", n_real, n_fake, k + 1, " (k + 1; or lower k)", names)


# ---------------------------------------------------------------------------------------------- FID and KID
def fid_kid(
    model: LesionCNN,
    real: LesionSet,
    fake: LesionSet,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """FID and KID between two LesionSets in the CNN's feature space (see :func:`fid_kid_from_features`)."""
    extractor = CNNFeatures(model)
    return fid_kid_from_features(
        extractor.embed_set(real), extractor.embed_set(fake), kid_subsets, kid_subset_size, seed
    )


def fid_kid_from_features(
    real_features: np.ndarray | torch.Tensor,
    fake_features: np.ndarray | torch.Tensor,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """FID and KID (torchmetrics, float64) between two feature arrays, N x d and M x d.

    FID needs at least 2 vectors per set and is biased upward when n is small, strongly so below the feature
    dimension d (singular covariances): compare FIDs only at equal n. KID (cubic polynomial kernel, unbiased MMD)
    is averaged over ``kid_subsets`` random subsets of ``min(kid_subset_size, N, M)`` vectors per set, so small
    sets still work (at least 2 each); the subset size used is returned.

    Args:
        real_features, fake_features: the two sets' features (N x d, M x d).
        kid_subsets: number of KID subsets.
        kid_subset_size: largest KID subset size.
        seed: seeds the KID subsets (torch's global generator is left as it was).

    Returns:
        ``fid``, ``kid_mean``, ``kid_std`` (over subsets), ``kid_subset_size``, ``n_real``, ``n_fake``.
    """
    real, fake = _pair(real_features, fake_features)
    n_real, n_fake, dim = len(real), len(fake), real.shape[1]
    _require(_fid_problem(n_real, n_fake, dim))
    _require(_kid_problem(n_real, n_fake))
    fid = FrechetInceptionDistance(feature=_GivenFeatures(dim)).set_dtype(torch.float64)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    subset_size = min(kid_subset_size, n_real, n_fake)
    with warnings.catch_warnings():  # its "saves all features in a buffer" notice: ours are small
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        kid = KernelInceptionDistance(feature=_GivenFeatures(dim), subsets=kid_subsets, subset_size=subset_size)
    kid.update(real, real=True)
    kid.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {
        "fid": float(fid.compute()),
        "kid_mean": float(kid_mean),
        "kid_std": float(kid_std),
        "kid_subset_size": subset_size,
        "n_real": n_real,
        "n_fake": n_fake,
    }


# ---------------------------------------------------------------------------------------------- direct formulas
def _frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID of two float64 feature arrays (N x d, M x d; N, M >= 2), torchmetrics' formula without the metric.

    The trace of sqrt(cov_a cov_b) is the sum of the singular values of A B^T, with A and B the centred features
    divided by sqrt(n - 1) (cov_a = A^T A, so cov_a cov_b has the nonzero eigenvalues of (A B^T)(A B^T)^T): an
    N x M problem instead of d x d when the sets are smaller than the feature dimension, as bootstrap draws are.
    """
    mean_a, mean_b = a.mean(dim=0), b.mean(dim=0)
    scaled_a = (a - mean_a) / (len(a) - 1) ** 0.5  # N x d, cov_a = scaled_a^T scaled_a
    scaled_b = (b - mean_b) / (len(b) - 1) ** 0.5  # M x d
    if min(len(a), len(b)) < a.shape[1]:
        root_trace = torch.linalg.svdvals(scaled_a @ scaled_b.T).sum()  # N x M
    else:
        cov_a, cov_b = scaled_a.T @ scaled_a, scaled_b.T @ scaled_b  # d x d
        root_trace = torch.linalg.eigvals(cov_a @ cov_b).sqrt().real.sum()
    traces = scaled_a.square().sum() + scaled_b.square().sum()  # trace(cov_a) + trace(cov_b)
    return float((mean_a - mean_b).square().sum() + traces - 2 * root_trace)


def _pair_mean(kernel: torch.Tensor, origin: np.ndarray | None) -> float:
    """Mean kernel value over the pairs of one set, leaving out each point with itself and with copies of itself."""
    distinct = ~torch.eye(len(kernel), dtype=torch.bool)
    if origin is not None:
        tags = torch.from_numpy(np.asarray(origin))
        distinct = tags[:, None] != tags[None, :]
    count = int(distinct.sum())
    return float(kernel[distinct].sum() / count) if count else float("nan")


def _mmd(
    a: torch.Tensor, b: torch.Tensor, a_origin: np.ndarray | None = None, b_origin: np.ndarray | None = None
) -> float:
    """KID's unbiased squared MMD (torchmetrics' cubic kernel (x.y / d + 1)^3) of two float64 feature arrays.

    For two sets of the same size without repeats this is torchmetrics' value for one subset. ``a_origin`` and
    ``b_origin`` tag each row with the lesion it is a copy of (a bootstrap resample repeats lesions): pairs of
    copies of one lesion are left out of the within-set means, as a point with itself is. NaN when a set has no
    such pair.
    """
    gamma = 1.0 / a.shape[1]
    within_a = _pair_mean((a @ a.T * gamma + 1) ** 3, a_origin)
    within_b = _pair_mean((b @ b.T * gamma + 1) ** 3, b_origin)
    return within_a + within_b - 2 * float(((a @ b.T * gamma + 1) ** 3).mean())


# ---------------------------------------------------------------------------------------------- PRDC
def _kth_neighbour_distance(
    points: torch.Tensor, k: int, origin: np.ndarray | None = None, chunk: int = 1024
) -> torch.Tensor:
    """Distance from each point (N x d) to its k-th nearest other point, N (the point itself is not counted).

    With ``origin`` (one tag per point, the lesion a resampled point copies), copies of the same lesion are not
    counted either; a point with fewer than k others gets inf.
    """
    tags = None if origin is None else torch.from_numpy(np.asarray(origin))
    out = []
    for i in range(0, len(points), chunk):
        distance = torch.cdist(points[i : i + chunk], points)  # chunk x N
        if tags is None:
            out.append(distance.kthvalue(k + 1, dim=1).values)
            continue
        distance[tags[i : i + chunk, None] == tags[None, :]] = torch.inf
        out.append(
            distance.kthvalue(k, dim=1).values if distance.shape[1] >= k else torch.full((len(distance),), torch.inf)
        )
    return torch.cat(out)


def prdc(
    real_features: np.ndarray | torch.Tensor, fake_features: np.ndarray | torch.Tensor, k: int = 5
) -> dict[str, float]:
    """Precision, recall, density and coverage of fake features against real ones (Naeem et al. 2020).

    Each real vector gets a ball reaching its k-th nearest real neighbour (closed balls: a point at exactly that
    distance is inside). Precision: fraction of fakes inside at least one real ball. Recall: fraction of reals
    inside at least one fake ball (balls from the fakes' own k-th neighbours). Density: real balls per fake,
    divided by k (about 1 when fakes are spread like reals; above 1 when they crowd dense regions). Coverage:
    fraction of reals whose ball holds at least one fake. Needs more than k vectors per set; recall and coverage
    grow with the number of fakes, so compare at equal n.

    Args:
        real_features, fake_features: N x d and M x d.
        k: the neighbourhood size (the paper's default is 5).

    Returns:
        ``precision``, ``recall``, ``density``, ``coverage`` as floats.
    """
    real, fake = _pair(real_features, fake_features)
    if k < 1:
        raise LiverkitError(f"PRDC needs k >= 1, got k={k}.")
    _require(_prdc_problem(len(real), len(fake), k))
    return _prdc(real, fake, k)


def _prdc(
    real: torch.Tensor,
    fake: torch.Tensor,
    k: int,
    real_origin: np.ndarray | None = None,
    fake_origin: np.ndarray | None = None,
) -> dict[str, float]:
    """:func:`prdc` without the checks; with origins (see :func:`_kth_neighbour_distance`) for bootstrap draws.
    All four are NaN when some point has fewer than k neighbours that are not copies of itself."""
    real_radius = _kth_neighbour_distance(real, k, real_origin)  # N
    fake_radius = _kth_neighbour_distance(fake, k, fake_origin)  # M
    if torch.isinf(real_radius).any() or torch.isinf(fake_radius).any():
        return dict.fromkeys(("precision", "recall", "density", "coverage"), float("nan"))
    distance = torch.cdist(real, fake)  # N x M
    in_real_ball = distance <= real_radius[:, None]  # N x M: fake j inside real i's ball
    return {
        "precision": float(in_real_ball.any(dim=0).double().mean()),
        "recall": float((distance <= fake_radius[None, :]).any(dim=1).double().mean()),
        "density": float(in_real_ball.sum(dim=0).double().mean() / k),
        "coverage": float((distance.min(dim=1).values <= real_radius).double().mean()),
    }


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
        kid_subsets, kid_subset_size: see :func:`fid_kid_from_features` (for the values; the bootstrap draws use
            the whole resampled sets, or :data:`BOOT_KID_SUBSETS` subsets when a set is larger than the size).
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
    distance_problem = _fid_problem(n_a, n_b, dim, names) or _kid_problem(n_a, n_b, names)
    prdc_problem = _prdc_problem(n_a, n_b, k, names)
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
        values |= _prdc(a, b, k)
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
        out["fid"] = _frechet(a, b) if min(len(a), len(b)) >= 2 else np.nan
    if "kid_mean" in wanted:
        out["kid_mean"] = _draw_kid(a, b, a_origin, b_origin, subset_size, rng)
    if "precision" in wanted:
        out |= _prdc(a, b, k, a_origin, b_origin)
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
        return _mmd(a, b, a_origin, b_origin)
    size = min(subset_size, len(a), len(b))
    values = []
    for _ in range(BOOT_KID_SUBSETS):
        ia, ib = rng.choice(len(a), size, replace=False), rng.choice(len(b), size, replace=False)
        values.append(_mmd(a[ia], b[ib], a_origin[ia], b_origin[ib]))
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def _with_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """Add the real-train value of the same class and metric to every synthetic row."""
    is_base = table["comparison"] == f"{BASELINE} vs {REFERENCE}"
    base = table[is_base].set_index(["class", "metric"])["value"]
    keys = pd.MultiIndex.from_frame(table[["class", "metric"]])
    table["baseline"] = np.where(is_base, np.nan, base.reindex(keys).to_numpy())
    return table[["comparison", "class", "metric", "value", "ci_low", "ci_high", "baseline", "n_a", "n_b", "note"]]


# ---------------------------------------------------------------------------------------------- memorization
def _nearest(queries: torch.Tensor, pool: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest pool row per query row (Q x D against P x D): exact float64 distances Q, and indices Q.

    The search uses float32 ``torch.cdist`` in chunks of queries (fast matrix-product form); the distance to the
    chosen neighbour is then recomputed exactly, so an exact copy gets 0 rather than float32 round-off.
    """
    pool32 = pool.float()
    index = torch.cat(
        [torch.cdist(queries[i : i + chunk].float(), pool32).argmin(dim=1) for i in range(0, len(queries), chunk)]
    )
    distance = (queries.double() - pool[index].double()).norm(dim=1)  # Q
    return distance, index


def _pixels(lesions: LesionSet) -> torch.Tensor:
    return torch.from_numpy(lesions.images.reshape(len(lesions), -1))  # N x 4096


def memorization_audit(
    train: LesionSet,
    candidates: LesionSet,
    model: LesionCNN | None = None,
    reference: LesionSet | None = None,
    quantile: float = 0.01,
    epsilon: float = 0.02,
) -> pd.DataFrame:
    """For each candidate (synthetic) lesion, its nearest training lesion, flagged when it is a likely copy.

    Distances are to the nearest training lesion of any class (a copy is a copy whatever its label; both labels
    are in the table). The pixel distance is the root-mean-square intensity difference (L2 / 64, in [0, 1]
    intensity units). With a ``model``, the nearest training lesion in the CNN's feature space (Euclidean) is
    found too.

    The threshold comes from real lesions the generator never saw: the ``reference`` set (real test lesions) gets
    the same nearest-training-lesion distances, and a candidate is flagged when its distance is at most the
    ``quantile`` of those (closer to the training set than 99% of genuinely new lesions, by default), and never
    below ``epsilon`` (so exact and near-exact copies are always flagged). Without a reference the pixel
    threshold is ``epsilon`` alone and no feature flags are set (features have no absolute scale). By design
    about ``quantile`` of genuinely new lesions get flagged too: read flags as "look at these", not as proof.

    Args:
        train: the generator's training lesions.
        candidates: the lesions to audit (typically a synthetic set).
        model: optional classifier for feature distances.
        reference: optional real lesions not in ``train`` that set the thresholds.
        quantile: the reference quantile below which a candidate is flagged, in [0, 1].
        epsilon: the smallest pixel threshold (RMS intensity difference; 0.02 is about 5 of 255 grey levels).

    Returns:
        One row per candidate, in candidate order: ``candidate_index``, ``candidate_id``, ``candidate_source``,
        ``candidate_class``, ``nearest_index``, ``nearest_id``, ``nearest_class``, ``pixel_distance``, ``flagged``;
        with a model also ``feature_nearest_index``, ``feature_nearest_id``, ``feature_distance``,
        ``feature_flagged``. ``attrs`` holds ``pixel_threshold``, ``feature_threshold`` (NaN when unset),
        ``quantile``, ``epsilon``, ``n_reference`` and the reference's median distances.
    """
    _check_audit_inputs(train, candidates, reference, quantile, epsilon)
    distance, index = _nearest(_pixels(candidates), _pixels(train))
    scale = float(ROI_SIZE)  # L2 over 64 x 64 pixels / 64 = RMS difference
    reference_pixel = _nearest(_pixels(reference), _pixels(train))[0] / scale if reference is not None else None
    pixel_threshold = epsilon if reference_pixel is None else max(_quantile(reference_pixel, quantile), epsilon)
    table = pd.DataFrame(
        {
            "candidate_index": np.arange(len(candidates)),
            "candidate_id": candidates.ids,
            "candidate_source": candidates.sources,
            "candidate_class": np.asarray(candidates.class_names)[candidates.labels],
            "nearest_index": index.numpy(),
            "nearest_id": train.ids[index.numpy()],
            "nearest_class": np.asarray(train.class_names)[train.labels[index.numpy()]],
            "pixel_distance": (distance / scale).numpy(),
        }
    )
    table["flagged"] = table["pixel_distance"] <= pixel_threshold
    table.attrs = {
        "pixel_threshold": pixel_threshold,
        "feature_threshold": float("nan"),
        "quantile": quantile,
        "epsilon": epsilon,
        "n_reference": 0 if reference is None else len(reference),
        "reference_median_pixel_distance": _median(reference_pixel),
        "reference_median_feature_distance": float("nan"),
    }
    if model is not None:
        _add_feature_columns(table, model, train, candidates, reference, quantile)
    return table


def _check_audit_inputs(
    train: LesionSet, candidates: LesionSet, reference: LesionSet | None, quantile: float, epsilon: float
) -> None:
    for name, lesions in (("train", train), ("candidates", candidates), ("reference", reference)):
        if lesions is not None and len(lesions) == 0:
            raise LiverkitError(f"memorization_audit: '{name}' is empty; give at least one lesion.")
    if not 0.0 <= quantile <= 1.0:
        raise LiverkitError(f"memorization_audit: quantile must lie in [0, 1], got {quantile}.")
    if epsilon < 0:
        raise LiverkitError(f"memorization_audit: epsilon must be >= 0, got {epsilon}.")


def _quantile(values: torch.Tensor | None, q: float) -> float:
    return float("nan") if values is None else float(np.quantile(values.numpy(), q))


def _median(values: torch.Tensor | None) -> float:
    return float("nan") if values is None else float(np.median(values.numpy()))


def _add_feature_columns(
    table: pd.DataFrame,
    model: LesionCNN,
    train: LesionSet,
    candidates: LesionSet,
    reference: LesionSet | None,
    quantile: float,
) -> None:
    """The nearest training lesion in feature space, and its flag (only with a reference), added in place."""
    extractor = CNNFeatures(model)
    train_features = extractor.embed_set(train)  # N_train x hidden
    distance, index = _nearest(extractor.embed_set(candidates), train_features)
    reference_distance = _nearest(extractor.embed_set(reference), train_features)[0] if reference is not None else None
    threshold = _quantile(reference_distance, quantile)
    table["feature_nearest_index"] = index.numpy()
    table["feature_nearest_id"] = train.ids[index.numpy()]
    table["feature_distance"] = distance.numpy()
    table["feature_flagged"] = table["feature_distance"] <= threshold  # all False when the threshold is NaN
    table.attrs["feature_threshold"] = threshold
    table.attrs["reference_median_feature_distance"] = _median(reference_distance)


def memorization_summary(audit: pd.DataFrame) -> dict[str, float]:
    """Counts and medians of a :func:`memorization_audit` table, next to the real reference's medians.

    Returns:
        ``n_candidates``, ``n_flagged``, ``fraction_flagged``, ``pixel_threshold``, ``median_pixel_distance``,
        ``reference_median_pixel_distance``; with feature columns also ``n_feature_flagged``,
        ``fraction_feature_flagged``, ``feature_threshold``, ``median_feature_distance``,
        ``reference_median_feature_distance``. A synthetic median far below the reference's means the generator
        stays closer to its training images than new real lesions do.
    """
    if "pixel_threshold" not in audit.attrs or "flagged" not in audit.columns:
        raise LiverkitError("memorization_summary needs the DataFrame returned by memorization_audit (with its attrs).")
    n = len(audit)
    out = {
        "n_candidates": n,
        "n_flagged": int(audit["flagged"].sum()),
        "fraction_flagged": float(audit["flagged"].mean()) if n else float("nan"),
        "pixel_threshold": audit.attrs["pixel_threshold"],
        "median_pixel_distance": float(audit["pixel_distance"].median()),
        "reference_median_pixel_distance": audit.attrs["reference_median_pixel_distance"],
    }
    if "feature_distance" in audit.columns:
        out |= {
            "n_feature_flagged": int(audit["feature_flagged"].sum()),
            "fraction_feature_flagged": float(audit["feature_flagged"].mean()) if n else float("nan"),
            "feature_threshold": audit.attrs["feature_threshold"],
            "median_feature_distance": float(audit["feature_distance"].median()),
            "reference_median_feature_distance": audit.attrs["reference_median_feature_distance"],
        }
    return out


def closest_pairs_figure(audit: pd.DataFrame, train: LesionSet, candidates: LesionSet, n: int = 8) -> go.Figure:
    """The ``n`` candidates closest to a training lesion (pixel distance): candidate on top, its neighbour below.

    Args:
        audit: the table from :func:`memorization_audit` for these ``train`` and ``candidates``.
        train, candidates: the sets the audit was computed on (its indices point into them).
        n: number of pairs (fewer when the audit is shorter).
    """
    if n < 1:
        raise LiverkitError(f"closest_pairs_figure needs n >= 1, got {n}.")
    if len(audit) != len(candidates) or audit["nearest_index"].max() >= len(train):
        raise LiverkitError(
            f"the audit ({len(audit)} rows) does not belong to these sets ({len(candidates)} candidates, "
            f"{len(train)} training lesions); pass the sets given to memorization_audit."
        )
    top = audit.nsmallest(n, "pixel_distance")
    images = np.concatenate(
        [candidates.images[top["candidate_index"].to_numpy(), 0], train.images[top["nearest_index"].to_numpy(), 0]]
    )  # 2n x 64 x 64: candidates, then their nearest training lesions
    title = f"The {len(top)} candidates closest to a training lesion (RMS pixel distance)"
    fig = image_mosaic(images, cols=len(top), title=title, row_labels=["candidate", "nearest train"])
    ticks = [
        f"{display_name(row.candidate_id)}<br>{display_name(row.nearest_id)}<br>d={row.pixel_distance:.3f}"
        + (" FLAG" if row.flagged else "")
        for row in top.itertuples()
    ]
    step = ROI_SIZE + 2  # image_mosaic's default gap is 2 pixels
    fig.update_xaxes(showticklabels=True, tickvals=[step * c + ROI_SIZE / 2 for c in range(len(top))], ticktext=ticks)
    fig.update_layout(margin=dict(b=80), width=max(130 * len(top) + 130, 400))
    return fit_width(fig)


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
def collapse_ratio(fake_images, real_images, max_images: int = 256, seed: int = 0) -> float:
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

"""How good, and how new, are the synthetic lesions? Measured in the kit's own CNN feature space (notebook 07).

The paper judges its GAN lesions by eye and by the classifier they help train. This module adds the standard
numbers, computed on the last hidden layer of a trained :class:`~liverkit.nets.LesionCNN` (not Inception: an
ImageNet network has never seen a liver CT patch, and the kit's own classifier is the model the synthetic lesions
are meant to help):

1. :class:`CNNFeatures`: a trained LesionCNN as a torchmetrics feature extractor (images -> float64 features).
2. :func:`fid_kid`: Frechet and kernel distances (FID, KID) between two LesionSets, with torchmetrics in float64.
3. :func:`prdc`: precision, recall, density and coverage (Naeem et al. 2020) from two feature arrays.
4. :func:`quality_table`: all of the above per synthetic source and per class, each next to the same number for
   real test lesions against real training lesions (the baseline that gives the scale).
5. :func:`memorization_audit`, :func:`memorization_summary` and :func:`closest_pairs_figure`: does a generator
   copy its training images? Nearest training image per synthetic one, flagged against real-to-real distances.

Small samples. FID fits a Gaussian (mean and covariance) to each set; with fewer images than feature dimensions
the covariance is singular and FID is biased upward, and the bias shrinks only slowly with n. KID is unbiased but
noisy for small sets; PRDC's recall and coverage depend on the set sizes. So compare numbers only at equal n
(:func:`quality_table` subsamples each synthetic set to the real test set's size by default) and always read them
beside the real-vs-real baseline, which has the same small-sample bias.

How torchmetrics is used. ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` accept any ``nn.Module``
as ``feature`` and call it inside ``update(images)``; :class:`CNNFeatures` is such a module (a test checks that
torchmetrics with it gives the same FID as a direct computation). The CNN is the slow part (several ms per image
on a 2-core CPU), and torchmetrics would run it once per metric and per class, so :func:`fid_kid` and
:func:`quality_table` embed each set once with :class:`CNNFeatures` and hand the features to the two metrics
through a pass-through feature module. CNNFeatures returns float64, so torchmetrics keeps its statistics and its
result in float64 (FID's sums are float64 anyway; KID works in the features' dtype).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.errors import LiverkitError
from liverkit.nets.classifier import LesionCNN
from liverkit.plots import image_mosaic

METRICS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")
"""The metrics of :func:`quality_table`, in row order."""

BASELINE = "real test"
"""The name of the real-vs-real comparison in :func:`quality_table`."""


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
def _size_problem(metric: str, n_real: int, n_fake: int, minimum: int, hint: str = "") -> str | None:
    """Why ``metric`` cannot be computed for these set sizes, or None when it can."""
    if n_real >= minimum and n_fake >= minimum:
        return None
    return f"{metric} needs at least {minimum} images per set, got {n_real} real and {n_fake} fake{hint}"


def _require(problem: str | None) -> None:
    if problem is not None:
        raise LiverkitError(problem + "; give more images.")


def _fid_problem(n_real: int, n_fake: int, dim: int) -> str | None:
    hint = f" (a reliable FID needs many more than the feature dimension, {dim})"
    return _size_problem("FID", n_real, n_fake, 2, hint)


def _kid_problem(n_real: int, n_fake: int) -> str | None:
    return _size_problem("KID", n_real, n_fake, 2)


def _prdc_problem(n_real: int, n_fake: int, k: int) -> str | None:
    return _size_problem(f"PRDC with k={k}", n_real, n_fake, k + 1, " (k + 1; or lower k)")


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


# ---------------------------------------------------------------------------------------------- PRDC
def _kth_neighbour_distance(points: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Distance from each point (N x d) to its k-th nearest other point, N (the point itself is not counted)."""
    out = [
        torch.cdist(points[i : i + chunk], points).kthvalue(k + 1, dim=1).values for i in range(0, len(points), chunk)
    ]
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
    real_radius = _kth_neighbour_distance(real, k)  # N
    fake_radius = _kth_neighbour_distance(fake, k)  # M
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
    match_n: bool = True,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """FID, KID and PRDC of each synthetic set against the real training set, beside the real-vs-real baseline.

    Every comparison has the real training lesions as the reference set ("a"); the compared set ("b") is the real
    test set (the baseline: what unseen real lesions score) or one synthetic set. Rows come for all lesions
    (class ``"all"``) and for each class. A class row whose sets are too small for a metric keeps the row with
    value NaN and the reason in ``note``; the ``"all"`` rows must be computable (LiverkitError otherwise).

    Args:
        model: the trained classifier whose last hidden layer is the feature space.
        real_train, real_test: real lesions, with the model's class list.
        synthetic: synthetic sets by name (e.g. ``{"dcgan": ..., "acgan": ...}``), with the same class list.
        k: PRDC neighbourhood size.
        match_n: draw from each synthetic set (per row) at most as many lesions as the real test set has there,
            so synthetic and baseline numbers share n (the small-sample biases then match). Rows where the test
            set has no lesions use the whole synthetic set.
        kid_subsets, kid_subset_size: see :func:`fid_kid_from_features`.
        seed: seeds the subsampling and the KID subsets.

    Returns:
        Tidy rows: ``comparison`` ("dcgan vs real train"), ``class``, ``metric`` (one of :data:`METRICS`),
        ``value``, ``baseline`` (the real-test value for the same class and metric; NaN on baseline rows),
        ``n_a`` (real train lesions), ``n_b`` (compared lesions), ``note`` (KID subset size, small-n warnings,
        why a value is missing).
    """
    class_names = _check_classes(model, real_train, real_test, synthetic)
    extractor = CNNFeatures(model)
    train_features = extractor.embed_set(real_train)  # N_train x hidden
    groups = [("all", None), *((name, index) for index, name in enumerate(class_names))]
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for name, lesions in {BASELINE: real_test, **synthetic}.items():
        features = extractor.embed_set(lesions)  # N x hidden
        for class_name, label in groups:
            a_index = _members(real_train, label)
            b_index = _members(lesions, label)
            target = len(_members(real_test, label))
            if match_n and name != BASELINE and 0 < target < len(b_index):
                b_index = np.sort(rng.choice(b_index, size=target, replace=False))
            metrics = _group_metrics(
                train_features[a_index], features[b_index], k, kid_subsets, kid_subset_size, seed, must=label is None
            )
            base = {
                "comparison": f"{name} vs real train",
                "class": class_name,
                "n_a": len(a_index),
                "n_b": len(b_index),
            }
            rows += [
                {**base, "metric": metric, "value": value, "note": note} for metric, (value, note) in metrics.items()
            ]
    return _with_baseline(pd.DataFrame(rows))


def _check_classes(
    model: LesionCNN, real_train: LesionSet, real_test: LesionSet, synthetic: dict[str, LesionSet]
) -> tuple[str, ...]:
    """The shared class list, or LiverkitError naming the set whose classes differ."""
    names = real_train.class_names
    n_outputs = int(model.head[-1].out_features)
    if n_outputs != len(names):
        raise LiverkitError(
            f"the model has {n_outputs} outputs but the real training set has {len(names)} classes {list(names)}; "
            "use the classifier trained on these classes."
        )
    if BASELINE in synthetic:
        raise LiverkitError(f"'{BASELINE}' names the baseline comparison; give the synthetic set another name.")
    for set_name, lesions in {BASELINE: real_test, **synthetic}.items():
        if lesions.class_names != names:
            raise LiverkitError(
                f"set '{set_name}' has classes {list(lesions.class_names)} but the real training set and the model "
                f"have {list(names)}; sample the generators with class_names={names}."
            )
    return names


def _members(lesions: LesionSet, label: int | None) -> np.ndarray:
    """Indices of the lesions of one class (all lesions when ``label`` is None)."""
    return np.arange(len(lesions)) if label is None else np.flatnonzero(lesions.labels == label)


def _group_metrics(
    a: torch.Tensor, b: torch.Tensor, k: int, kid_subsets: int, kid_subset_size: int, seed: int, must: bool
) -> dict[str, tuple[float, str]]:
    """(value, note) per metric for one row group; with ``must``, a too-small group raises instead of NaN."""
    n_a, n_b, dim = len(a), len(b), a.shape[1]
    fid_problem = _fid_problem(n_a, n_b, dim) or _kid_problem(n_a, n_b)
    prdc_problem = _prdc_problem(n_a, n_b, k)
    if must:
        _require(fid_problem)
        _require(prdc_problem)
    out: dict[str, tuple[float, str]] = {}
    if fid_problem is None:
        distances = fid_kid_from_features(a, b, kid_subsets, kid_subset_size, seed)
        small = f"n <= feature dimension {dim}: FID biased upward" if min(n_a, n_b) <= dim else ""
        kid_note = f"KID subset size {distances['kid_subset_size']}"
        out |= {"fid": (distances["fid"], small), "kid_mean": (distances["kid_mean"], kid_note)}
        out["kid_std"] = (distances["kid_std"], kid_note)
    else:
        out |= dict.fromkeys(("fid", "kid_mean", "kid_std"), (np.nan, fid_problem))
    if prdc_problem is None:
        out |= {metric: (value, "") for metric, value in prdc(a, b, k).items()}
    else:
        out |= dict.fromkeys(("precision", "recall", "density", "coverage"), (np.nan, prdc_problem))
    return {metric: out[metric] for metric in METRICS}


def _with_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """Add the real-test value of the same class and metric to every synthetic row."""
    is_base = table["comparison"] == f"{BASELINE} vs real train"
    base = table[is_base].set_index(["class", "metric"])["value"]
    keys = pd.MultiIndex.from_frame(table[["class", "metric"]])
    table["baseline"] = np.where(is_base, np.nan, base.reindex(keys).to_numpy())
    return table[["comparison", "class", "metric", "value", "baseline", "n_a", "n_b", "note"]]


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
        f"{row.candidate_id}<br>{row.nearest_id}<br>d={row.pixel_distance:.3f}{' FLAG' if row.flagged else ''}"
        for row in top.itertuples()
    ]
    step = ROI_SIZE + 2  # image_mosaic's default gap is 2 pixels
    fig.update_xaxes(showticklabels=True, tickvals=[step * c + ROI_SIZE / 2 for c in range(len(top))], ticktext=ticks)
    fig.update_layout(margin=dict(b=80), width=max(130 * len(top) + 130, 400))
    return fig


def key_numbers(table: pd.DataFrame, memorization: dict[str, dict[str, float]]) -> dict:
    """The numbers notebook 07 records: each comparison's overall metrics (with the real-vs-real baseline) and
    each generator's memorization summary."""
    overall = table[table["class"] == "all"]
    numbers = {
        name: {m: None if pd.isna(v) else round(float(v), 5) for m, v in zip(part.metric, part.value, strict=True)}
        for name, part in overall.groupby("comparison", sort=False)
    }
    return {"overall": numbers, "memorization": memorization}

"""FID, KID and PRDC between two sets of lesions in a trained CNN's feature space: the formulas of notebook 07.

The numbers are computed on the last hidden layer of a trained :class:`~liverkit.nets.LesionCNN` (not Inception:
an ImageNet network has never seen a liver CT patch); :mod:`liverkit.evaluate.quality` builds notebook 07's table from
them and explains the choice of feature space and reference:

1. :class:`CNNFeatures`: a trained LesionCNN as a torchmetrics feature extractor (images -> float64 features).
2. :func:`fid_kid`: Frechet and kernel distances (FID, KID) between two LesionSets, with torchmetrics in float64.
3. :func:`prdc`: precision, recall, density and coverage (Naeem et al. 2020) from two feature arrays.
4. :func:`frechet_distance`, :func:`unbiased_mmd` and :func:`prdc_unchecked`: the same formulas computed directly,
   without the metric objects, where sets are resampled and repeat lesions (``origin`` tags leave pairs of copies
   out, so a repeat is never its own neighbour or a within-set pair); tests check that they agree with
   torchmetrics. :mod:`liverkit.evaluate.quality`'s paired KID bootstrap uses :func:`unbiased_mmd` this way. FID has no
   such fix (a resample holds fewer distinct lesions, and FID's small-sample bias grows as they fall), so FID is
   never resampled with replacement there. :func:`fid_size_problem`, :func:`kid_size_problem` and
   :func:`prdc_size_problem` say why a set is too small for a metric.

How torchmetrics is used. ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` accept any ``nn.Module``
as ``feature`` and call it inside ``update(images)``; :class:`CNNFeatures` is such a module (a test checks that
torchmetrics with it gives the same FID as a direct computation). The CNN is the slow part (several ms per image
on a 2-core CPU), and torchmetrics would run it once per metric and per class, so :func:`fid_kid` and
:func:`liverkit.evaluate.quality.fold_quality` embed each set once with :class:`CNNFeatures` and hand the features to
the two metrics through a pass-through feature module. CNNFeatures returns float64, so torchmetrics keeps its
statistics and its result in float64 (FID's sums are float64 anyway; KID works in the features' dtype).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.nets.classifier import LesionCNN


# ---------------------------------------------------------------------------------------------- features
class CNNFeatures(nn.Module):
    """A trained LesionCNN as a torchmetrics feature extractor: its last hidden layer, in eval mode, as float64.

    Works as ``FrechetInceptionDistance(feature=CNNFeatures(model))`` (``num_features`` tells torchmetrics the
    size). The model runs in its own dtype (float32, as in training) without gradients; the output is cast to
    float64. Don't call the metric's ``set_dtype`` with this module inside: ``nn.Module.type`` would convert the
    wrapped model's weights in place. The float64 output already makes torchmetrics compute in float64.
    """

    def __init__(self, model: LesionCNN) -> None:
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

    def __init__(self, num_features: int) -> None:
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


def fid_size_problem(n_real: int, n_fake: int, dim: int, names: tuple[str, str] = ("real", "fake")) -> str | None:
    """Why FID cannot be computed for sets of these sizes (``names`` name them in the text), or None when it can."""
    hint = f" (a reliable FID needs many more than the feature dimension, {dim})"
    return _size_problem("FID", n_real, n_fake, 2, hint, names)


def kid_size_problem(n_real: int, n_fake: int, names: tuple[str, str] = ("real", "fake")) -> str | None:
    """Why KID cannot be computed for sets of these sizes, or None when it can."""
    return _size_problem("KID", n_real, n_fake, 2, names=names)


def prdc_size_problem(n_real: int, n_fake: int, k: int, names: tuple[str, str] = ("real", "fake")) -> str | None:
    """Why PRDC with ``k`` neighbours cannot be computed for sets of these sizes, or None when it can."""
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
    # Imported here, not with the module: torchmetrics' image metrics pull in torchvision (about 2 s), and every GAN
    # trainer imports this module through quality.py, for the collapse ratio only.
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _pair(real_features, fake_features)
    n_real, n_fake, dim = len(real), len(fake), real.shape[1]
    _require(fid_size_problem(n_real, n_fake, dim))
    _require(kid_size_problem(n_real, n_fake))
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
def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
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


def unbiased_mmd(
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
    _require(prdc_size_problem(len(real), len(fake), k))
    return prdc_unchecked(real, fake, k)


def prdc_unchecked(
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

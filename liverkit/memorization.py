"""Does a generator copy its training images? Each synthetic lesion's nearest training lesion, flagged when close.

Notebook 07 asks this beside the quality table (:mod:`liverkit.quality`), with its own reference: the quality
numbers compare synthetic lesions with held-out real ones, while copying is judged against the GAN's own training
images. :func:`memorization_audit` finds each synthetic lesion's nearest training lesion (in pixels, and in the
CNN's feature space with a model) and flags it when it is closer than nearly all real lesions the generator never
saw; :func:`memorization_summary` gives the counts and medians notebook 07 records;
:func:`liverkit.plots.closest_pairs_figure` shows the closest pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.errors import LiverkitError
from liverkit.feature_metrics import CNNFeatures
from liverkit.nets.classifier import LesionCNN


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

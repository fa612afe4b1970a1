"""Does a generator copy its training images? Each synthetic lesion's nearest training lesion, flagged when close.

Notebook 07 asks this beside the quality numbers (:mod:`liverkit.evaluate.quality`), with its own reference: the quality
numbers compare synthetic lesions with held-out real ones, while copying is judged against the GAN's own training
images. :func:`memorization_audit` finds each synthetic lesion's nearest training lesion (in pixels, and in the
CNN's feature space with a model) and flags it when it is closer than nearly all real lesions the generator never
saw. A rule like that flags some genuinely new lesions too, and how many is computed, not assumed:
:func:`held_out_flag_rate` applies the same rule, against the same training set, to each real held-out lesion with
its own patient left out of the threshold (the chance rate, the null reference for the flag count).
:func:`memorization_summary` gives the counts, chance rates and medians notebook 07 records, :func:`pooled_summary`
adds them up over folds, :func:`audit_reading` says what they can and cannot show, and
:func:`liverkit.kit.plots.closest_pairs_figure` shows the closest pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.stats import binom

from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.errors import LiverkitError
from liverkit.evaluate.feature_metrics import CNNFeatures
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
    threshold is ``epsilon`` alone and no feature flags are set (features have no absolute scale). Genuinely new
    lesions get flagged too, at about ``quantile`` or more (more when ``epsilon`` sets the threshold, and the
    quantile of a small reference is coarse): ``attrs`` holds that chance rate as computed by
    :func:`held_out_flag_rate` on the reference. Read flags as "look at these", not as proof.

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
        "chance_rate": _chance(reference_pixel, reference, quantile, epsilon),
        "feature_chance_rate": float("nan"),
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
    table.attrs["feature_chance_rate"] = _chance(reference_distance, reference, quantile, 0.0)


def _chance(distances: torch.Tensor | None, reference: LesionSet | None, quantile: float, floor: float) -> float:
    """:func:`held_out_flag_rate` of the reference's distances (NaN without a reference)."""
    if distances is None or reference is None:
        return float("nan")
    return held_out_flag_rate(distances.numpy(), reference.patient_ids, quantile, floor)


def held_out_flag_rate(distances: np.ndarray, patients: np.ndarray, quantile: float, floor: float = 0.0) -> float:
    """The chance rate: how often the audit's rule flags a real lesion that is not a copy, computed on real ones.

    Each reference lesion is judged as a candidate would be, against a threshold made from the other patients'
    lesions only (its own patient left out, so it does not set its own threshold): flagged when its distance to the
    training set is at most ``max(quantile of the others' distances, floor)``. The rate is the fraction flagged:
    what a generator making new lesions, as far from the training set as real new lesions are, would score. The
    thresholds come from one patient fewer than the audit's, so the rate is for a slightly smaller reference.

    Args:
        distances: each reference lesion's distance to its nearest training lesion.
        patients: each reference lesion's patient id.
        quantile: the audit's quantile.
        floor: the audit's smallest threshold (``epsilon`` for pixels; 0 for features).

    Returns:
        The fraction of reference lesions flagged, NaN when there is only one patient.
    """
    distances, patients = np.asarray(distances, dtype=np.float64), np.asarray(patients)
    if len(np.unique(patients)) < 2:
        return float("nan")
    flagged = 0
    for patient in np.unique(patients):
        own = patients == patient
        threshold = max(float(np.quantile(distances[~own], quantile)), floor)
        flagged += int(np.sum(distances[own] <= threshold))
    return flagged / len(distances)


def memorization_summary(audit: pd.DataFrame) -> dict[str, float]:
    """Counts, chance rates and medians of a :func:`memorization_audit` table, next to the real reference's medians.

    Returns:
        ``n_candidates``, ``n_flagged``, ``fraction_flagged``, ``chance_rate`` (how often the same rule flags a real
        held-out lesion), ``expected_flagged`` (``chance_rate`` x ``n_candidates``: the flags a generator of new
        lesions would get by chance), ``pixel_threshold``, ``median_pixel_distance``,
        ``reference_median_pixel_distance``; with feature columns also ``n_feature_flagged``,
        ``fraction_feature_flagged``, ``feature_chance_rate``, ``expected_feature_flagged``, ``feature_threshold``,
        ``median_feature_distance``, ``reference_median_feature_distance``. A synthetic median far below the
        reference's means the generator stays closer to its training images than new real lesions do.
    """
    if "pixel_threshold" not in audit.attrs or "flagged" not in audit.columns:
        raise LiverkitError("memorization_summary needs the DataFrame returned by memorization_audit (with its attrs).")
    n = len(audit)
    chance = audit.attrs.get("chance_rate", float("nan"))
    out = {
        "n_candidates": n,
        "n_flagged": int(audit["flagged"].sum()),
        "fraction_flagged": float(audit["flagged"].mean()) if n else float("nan"),
        "chance_rate": chance,
        "expected_flagged": chance * n,
        "pixel_threshold": audit.attrs["pixel_threshold"],
        "median_pixel_distance": float(audit["pixel_distance"].median()),
        "reference_median_pixel_distance": audit.attrs["reference_median_pixel_distance"],
    }
    if "feature_distance" in audit.columns:
        feature_chance = audit.attrs.get("feature_chance_rate", float("nan"))
        out |= {
            "n_feature_flagged": int(audit["feature_flagged"].sum()),
            "fraction_feature_flagged": float(audit["feature_flagged"].mean()) if n else float("nan"),
            "feature_chance_rate": feature_chance,
            "expected_feature_flagged": feature_chance * n,
            "feature_threshold": audit.attrs["feature_threshold"],
            "median_feature_distance": float(audit["feature_distance"].median()),
            "reference_median_feature_distance": audit.attrs["reference_median_feature_distance"],
        }
    return out


_COUNTS = ("n_candidates", "n_flagged", "expected_flagged", "n_feature_flagged", "expected_feature_flagged")
"""The summary entries that add up over folds (:func:`pooled_summary`)."""


def pooled_summary(summaries: list[dict[str, float]]) -> dict[str, float]:
    """The counts of several :func:`memorization_summary` results (one per fold) added up.

    Args:
        summaries: the folds' summaries of one generator kind.

    Returns:
        The sums of ``n_candidates``, ``n_flagged``, ``expected_flagged`` and, where every summary has them,
        ``n_feature_flagged`` and ``expected_feature_flagged``.
    """
    if not summaries:
        raise LiverkitError("pooled_summary needs at least one memorization_summary.")
    keys = [key for key in _COUNTS if all(key in summary for summary in summaries)]
    return {key: sum(summary[key] for summary in summaries) for key in keys}


def audit_reading(name: str, summary: dict[str, float]) -> str:
    """What a summary (one fold's, or :func:`pooled_summary`'s) can and cannot show, in words true of its numbers.

    Per space (pixels; features where present): the flag count beside the count expected by chance, and the chance
    of at least that many flags if every candidate were flagged at the chance rate independently (binomial).

    Args:
        name: what the summary is of, e.g. ``"dcgan, fold 0"``.
        summary: :func:`memorization_summary` or :func:`pooled_summary` output.
    """
    lines = []
    for space, prefix in (("pixels", "n_"), ("CNN features", "n_feature_")):
        flagged, n = summary.get(f"{prefix}flagged"), summary["n_candidates"]
        expected = summary.get("expected_flagged" if prefix == "n_" else "expected_feature_flagged")
        if flagged is None or expected is None or not np.isfinite(expected):
            continue
        tail = float(binom.sf(flagged - 1, n, expected / n)) if n else float("nan")
        head = f"{name}, {space}: {flagged} of {n} flagged, {expected:.1f} expected by chance"
        if flagged > expected and tail < 0.05:
            lines.append(
                f"{head}; so many flags are unlikely by chance alone (P = {tail:.3f}): look at the closest pairs, "
                "a flag marks a near neighbour, not a proven copy."
            )
        else:
            lines.append(
                f"{head}; chance alone gives at least this many with P = {tail:.2f}: no sign of copying beyond "
                "what new real lesions show. This cannot rule out a few copies (they would hide among chance "
                "flags) nor copies this distance does not see (shifted, rescaled or partial)."
            )
    return "\n".join(lines)


def fold_to_show(audits: dict[int, pd.DataFrame]) -> int:
    """The fold whose audit is most worth a look: the most flags (pixels plus features), on a tie the closest pair.

    Args:
        audits: one generator's :func:`memorization_audit` tables by fold.
    """
    if not audits:
        raise LiverkitError("fold_to_show needs at least one audit.")

    def weight(fold: int) -> tuple[int, float]:
        audit = audits[fold]
        flags = int(audit["flagged"].sum()) + int(audit.get("feature_flagged", pd.Series(dtype=bool)).sum())
        return flags, -float(audit["pixel_distance"].min())

    return max(audits, key=weight)

"""The classifier's features of real and synthetic lesions as 2-D maps, and numbers that back them (notebook 06).

The paper shows t-SNE maps of the CNN's last hidden layer to argue that synthetic lesions look like real ones to
the classifier. A map is a picture, and t-SNE and UMAP can draw islands or bridges that are not in the data, so
this module pairs the maps with a small table of numbers measured in the feature space itself:

1. :func:`feature_table`: features of one or more LesionSets through a trained CNN, with a row of metadata each.
2. :func:`tsne_map` and :func:`umap_map`: N x 2 coordinates, deterministic for a fixed seed on the CPU.
3. :func:`feature_agreement`: k-nearest-neighbour class agreement, real/synthetic mixing and silhouettes.
4. :func:`map_table`: the maps' coordinates beside the metadata, saved for the run's report.

The maps are drawn by :func:`liverkit.kit.plots.map_figure` and :func:`liverkit.kit.plots.maps_figure` (colour = class,
symbol = source, hover = id, source, class and row index); :func:`liverkit.kit.plots.lesion_thumbnail` shows the ROI
behind a row index.

Real and synthetic lesions are told apart by their ``sources``: the generators' names (:data:`SYNTHETIC_SOURCES`)
are synthetic, everything else (``"phantom"``, a reader's name) is real.

umap-learn is imported only inside :func:`umap_map`: its import compiles numba code (about 25 s the first time
on a fresh environment, about 1 s once numba's cache is warm) and its first fit in a session compiles more
(about 15 s on a 2-core CPU); later fits of a few hundred points take about a second.

Both maps run with the OpenMP and BLAS thread pools limited to one thread. On a 2-core machine t-SNE's OpenMP
threads and OpenBLAS's spinning threads fight over the cores: the same 60-point t-SNE took 0.2 s, or now and
then 8 to 30 s; on one thread it took 0.2 s every time (600 points: about 3 s). One thread also makes a map
independent of the number of cores.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_samples
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError
from liverkit.nets.classifier import LesionCNN
from liverkit.train.classifier import embed_lesions

SYNTHETIC_SOURCES = ("dcgan", "acgan")
"""Sources that mark a lesion as synthetic: the generators' names (``TrainedGAN.source``). A source with a
suffix, such as ``"dcgan+classic"`` from classic augmentation, counts by the part before the ``+``."""

MIN_POINTS = 5
"""Fewest points a map is drawn for: below that t-SNE's perplexity and UMAP's neighbourhood have no room."""

META_COLUMNS = ("index", "set", "set_index", "id", "source", "kind", "class", "label")
"""The columns of :func:`feature_table`'s metadata."""


# ---------------------------------------------------------------------------------------------- features
def feature_table(
    model: LesionCNN,
    sets: Mapping[str, LesionSet] | Sequence[LesionSet] | LesionSet,
    device: str = "cpu",
) -> tuple[np.ndarray, pd.DataFrame]:
    """The CNN's last hidden layer for every lesion of ``sets``, stacked, with one metadata row per lesion.

    Args:
        model: a trained :class:`~liverkit.nets.LesionCNN` (its output size must match the sets' classes).
        sets: e.g. ``{"real": test_set, "dcgan": dcgan_samples, "acgan": acgan_samples}``, or a list (named
            ``"0"``, ``"1"``, ...), or one LesionSet. All must share one class list.
        device: where the CNN runs.

    Returns:
        ``(features, meta)``: features N x hidden float32; meta a DataFrame with the columns ``index`` (row in
        ``features``, the number shown on hover), ``set`` (the key in ``sets``) and ``set_index`` (position in
        that set: ``sets[set].images[set_index]`` is the ROI), ``id``, ``source`` (the LesionSet's source),
        ``kind`` (``"real"`` or ``"synthetic"``), ``class`` (name) and ``label`` (class index).
    """
    named = named_sets(sets)
    class_names = _shared_classes(named, model)
    features, parts = [], []
    for key, lesions in named.items():
        features.append(embed_lesions(model, lesions, device=device))
        parts.append(
            pd.DataFrame(
                {
                    "set": key,
                    "set_index": np.arange(len(lesions)),
                    "id": lesions.ids,
                    "source": lesions.sources,
                    "kind": [source_kind(s) for s in lesions.sources],
                    "class": np.asarray(class_names, dtype=object)[lesions.labels],
                    "label": lesions.labels.astype(np.int64),
                }
            )
        )
    meta = pd.concat(parts, ignore_index=True)
    meta.insert(0, "index", np.arange(len(meta)))
    return np.concatenate(features).astype(np.float32, copy=False), meta


def source_kind(source: str) -> str:
    """``"synthetic"`` for a generator's source (see :data:`SYNTHETIC_SOURCES`), else ``"real"``."""
    return "synthetic" if str(source).split("+")[0] in SYNTHETIC_SOURCES else "real"


def named_sets(sets: Mapping[str, LesionSet] | Sequence[LesionSet] | LesionSet) -> dict[str, LesionSet]:
    """The sets as ``{name: LesionSet}`` (list positions become ``"0"``, ``"1"``, ...), checked to be LesionSets."""
    if isinstance(sets, LesionSet):
        named = {"0": sets}
    elif isinstance(sets, Mapping):
        named = {str(key): value for key, value in sets.items()}
    else:
        named = {str(i): value for i, value in enumerate(sets)}
    if not named:
        raise LiverkitError("feature_table needs at least one LesionSet; got none.")
    wrong = {key: type(value).__name__ for key, value in named.items() if not isinstance(value, LesionSet)}
    if wrong:
        raise LiverkitError(f"feature_table takes LesionSets; got {wrong}.")
    return named


def _shared_classes(named: dict[str, LesionSet], model: LesionCNN) -> tuple[str, ...]:
    """The one class list of all sets, checked against each other and against the model's output size."""
    first_key, first = next(iter(named.items()))
    for key, lesions in named.items():
        if lesions.class_names != first.class_names:
            raise LiverkitError(
                f"set '{key}' has classes {list(lesions.class_names)} but set '{first_key}' has "
                f"{list(first.class_names)}; draw synthetic lesions with class_names=<real set>.class_names."
            )
    n_out = model.head[-1].out_features
    if n_out != len(first.class_names):
        raise LiverkitError(
            f"the model predicts {n_out} classes but the sets have {len(first.class_names)}: "
            f"{list(first.class_names)}; use the model trained on these classes."
        )
    return first.class_names


# ---------------------------------------------------------------------------------------------- maps
def standardise(features: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Each feature shifted and scaled to mean 0 and standard deviation 1 over ``reference`` (default: all rows).

    Why: t-SNE, UMAP and the neighbour counts below all use Euclidean distances, and the CNN's ReLU units differ
    in scale by orders of magnitude, so without this a handful of large units would decide who is whose
    neighbour. After it, every unit has an equal say. Units that are constant over the reference (dead ReLUs)
    are only shifted, not scaled.
    """
    reference = features if reference is None else reference
    mean = reference.mean(axis=0)
    std = reference.std(axis=0)
    return (features - mean) / np.where(std > 0, std, 1.0)


def tsne_map(features: np.ndarray, seed: int, perplexity: float | None = None) -> np.ndarray:
    """A t-SNE map of the (standardised) features, N x 2, the same for the same seed on the CPU.

    Args:
        features: N x D, e.g. from :func:`feature_table`; N >= :data:`MIN_POINTS`.
        seed: t-SNE's random state.
        perplexity: about how many neighbours each point tries to keep close. Default ``min(30, (N - 1) / 3)``:
            30 is the usual value for a few hundred points, and Barnes-Hut t-SNE looks at ``3 x perplexity``
            neighbours, which must exist, so small sets get a smaller one. Must be below N.

    The start is PCA (scikit-learn's default), which keeps the large-scale layout steadier than a random start.
    Distances between far-apart groups on a t-SNE map mean little; the neighbourhoods are what it keeps.
    """
    features = _check_features(features)
    n = len(features)
    perplexity = min(30.0, (n - 1) / 3) if perplexity is None else float(perplexity)
    if not 0 < perplexity < n:
        raise LiverkitError(f"t-SNE perplexity must lie in (0, {n}) for {n} points, got {perplexity}.")
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=int(seed))
    with threadpool_limits(limits=1):  # one thread: see the module docstring
        return tsne.fit_transform(standardise(features)).astype(np.float64)


def umap_map(features: np.ndarray, seed: int, n_neighbors: int | None = None) -> np.ndarray:
    """A UMAP map of the (standardised) features, N x 2, the same for the same seed on the CPU.

    Args:
        features: N x D, e.g. from :func:`feature_table`; N >= :data:`MIN_POINTS`.
        seed: UMAP's random state. Setting it makes UMAP run on one thread (that is what makes it repeatable);
            a few hundred points still take about a second (plus about 15 s of numba compiling on the first call).
        n_neighbors: the neighbourhood size each point's local structure is built from. Default
            ``min(15, N - 1)``: 15 is UMAP's own default; a point can have at most N - 1 neighbours. At least 2.
    """
    features = _check_features(features)
    n = len(features)
    n_neighbors = min(15, n - 1) if n_neighbors is None else n_neighbors
    if not isinstance(n_neighbors, (int, np.integer)) or not 2 <= n_neighbors < n:
        raise LiverkitError(f"UMAP n_neighbors must be an integer in [2, {n - 1}] for {n} points, got {n_neighbors}.")
    with warnings.catch_warnings():  # the import warns that the optional ParametricUMAP needs TensorFlow
        warnings.filterwarnings("ignore", message="Tensorflow not installed", category=ImportWarning)
        import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=int(n_neighbors), random_state=int(seed), n_jobs=1)
    with threadpool_limits(limits=1):  # one thread: see the module docstring
        return np.asarray(reducer.fit_transform(standardise(features)), dtype=np.float64)


def _check_features(features: np.ndarray) -> np.ndarray:
    """Features as a finite float64 N x D array with N >= MIN_POINTS."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise LiverkitError(f"features must be N x D (one row per lesion), got shape {features.shape}.")
    if len(features) < MIN_POINTS:
        raise LiverkitError(
            f"a 2-D map needs at least {MIN_POINTS} points, got {len(features)}; add lesions (a few hundred "
            "give a readable map)."
        )
    if not np.isfinite(features).all():
        raise LiverkitError("features contain NaN or inf; check the model (did training diverge?).")
    return features


# ---------------------------------------------------------------------------------------------- checks
def ordered_sources(meta: pd.DataFrame) -> list[str]:
    """The sources in order of first appearance, real ones first."""
    sources = list(dict.fromkeys(meta["source"].astype(str)))
    return sorted(sources, key=lambda s: source_kind(s) != "real")


def check_meta(meta: pd.DataFrame, n: int, columns: Sequence[str]) -> None:
    """Refuse metadata that lacks ``columns`` or has a row count other than ``n``."""
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise LiverkitError(f"meta lacks the column(s) {missing}; use the table that feature_table returns.")
    if len(meta) != n:
        raise LiverkitError(f"meta has {len(meta)} rows but there are {n} points; pass the matching pair.")


# ---------------------------------------------------------------------------------------------- numbers
def feature_agreement(features: np.ndarray, meta: pd.DataFrame, k: int = 5) -> pd.DataFrame:
    """How synthetic lesions sit among real ones in the CNN's feature space: one row per group and class.

    Groups are ``"real"`` and each synthetic source (``"dcgan"``, ``"acgan"``); each has a row per class and an
    ``"all"`` row (the mean over the group's points). Features are standardised with the REAL points' mean and
    spread, so adding synthetic points never moves the real baseline. Distances are Euclidean. Columns:

    - ``n``: points in the row.
    - ``class_agreement``: of each point's ``k`` nearest REAL lesions, the share with the point's class, averaged.
      For real points the point itself is left out (leave-one-out): this is the baseline, how cleanly the
      classifier's features keep real classes apart. A synthetic class close to the baseline sits where real
      lesions of its class sit; near 0 means it sits among another class (a cyst that the CNN reads as a
      metastasis, say); for C balanced classes a random mix gives about 1/C.
    - ``real_neighbours``: synthetic rows only. Pool the real points with this source's points; of each
      synthetic point's ``k`` nearest neighbours in the pool (itself left out), the share that are real.
      Near 0: the synthetic lesions form their own island, the CNN tells them from real ones at a glance.
    - ``real_neighbours_if_mixed``: what ``real_neighbours`` would be if synthetic and real points of a class
      were perfectly mixed: the real share of the point's class in the pool, ``real / (real + synthetic - 1)``.
      Compare the two; a few hundred synthetic against tens of real lesions makes this small on its own.
    - ``silhouette``: mean silhouette of the row's points, by class, in the pool (real only for the real group,
      real plus this source otherwise). Per point: (mean distance to the nearest other class minus mean distance
      to its own class), divided by the larger of the two; +1 deep inside its own class, 0 on a border, negative
      closer to another class than to its own.
    - ``pool_silhouette``: the silhouette of the whole pool (scikit-learn's ``silhouette_score``), the same on
      every row of a group. A synthetic source whose value is close to the real group's keeps the classes as
      separate as the real lesions alone; much lower means it blurs them.

    Silhouettes are NaN where the pool has fewer than 2 classes.

    Args:
        features: N x D, e.g. from :func:`feature_table`.
        meta: its metadata (needs ``kind``, ``source``, ``class`` and ``label``).
        k: neighbours per point; the real points must number more than ``k``.
    """
    features = _check_features(features)
    check_meta(meta, len(features), ("source", "kind", "class", "label"))
    is_real = (meta["kind"] == "real").to_numpy()
    n_real = int(is_real.sum())
    if not isinstance(k, (int, np.integer)) or k < 1 or n_real <= k:
        raise LiverkitError(
            f"feature_agreement needs an integer k >= 1 and more than k real points; got k={k!r} and "
            f"{n_real} real points (kind 'real'). Lower k or add real lesions."
        )
    z = standardise(features, reference=features[is_real])
    labels = meta["label"].to_numpy()
    names = dict(zip(meta["label"], meta["class"], strict=False))
    real_z, real_labels = z[is_real], labels[is_real]
    agree = (real_labels[_neighbours(real_z, real_z, k, leave_out=np.arange(n_real))] == real_labels[:, None]).mean(1)
    sil = _silhouettes(real_z, real_labels)
    nan = np.full(n_real, np.nan)
    rows = _group_rows("real", real_labels, names, [agree, nan, nan, sil], float(np.mean(sil)))
    for source in ordered_sources(meta[~is_real]):
        mine = (meta["source"] == source).to_numpy()
        rows += _source_rows(source, z[mine], labels[mine], real_z, real_labels, k, names)
    return pd.DataFrame(rows)


def _source_rows(
    source: str,
    syn_z: np.ndarray,
    syn_labels: np.ndarray,
    real_z: np.ndarray,
    real_labels: np.ndarray,
    k: int,
    names: dict,
) -> list[dict]:
    """The rows of one synthetic source: agreement with real neighbours, mixing and silhouettes in real + source."""
    agree = (real_labels[_neighbours(real_z, syn_z, k)] == syn_labels[:, None]).mean(1)
    pool, pool_labels = np.concatenate([real_z, syn_z]), np.concatenate([real_labels, syn_labels])
    n_real = len(real_z)
    near = _neighbours(pool, syn_z, k, leave_out=n_real + np.arange(len(syn_z)))
    mixing = (near < n_real).mean(1)
    real_c = np.array([np.sum(real_labels == c) for c in syn_labels])
    syn_c = np.array([np.sum(syn_labels == c) for c in syn_labels])
    expected = real_c / np.maximum(real_c + syn_c - 1, 1)
    sil = _silhouettes(pool, pool_labels)
    return _group_rows(source, syn_labels, names, [agree, mixing, expected, sil[n_real:]], float(np.mean(sil)))


def _neighbours(pool: np.ndarray, queries: np.ndarray, k: int, leave_out: np.ndarray | None = None) -> np.ndarray:
    """Row indices into ``pool`` of each query's ``k`` nearest points; ``leave_out[i]`` (query i's own row in
    the pool) is never its own neighbour."""
    extra = 0 if leave_out is None else 1
    _, found = NearestNeighbors(n_neighbors=k + extra).fit(pool).kneighbors(queries)
    if leave_out is None:
        return found
    return np.stack([row[row != own][:k] for row, own in zip(found, leave_out, strict=True)])


def _silhouettes(points: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-point silhouette by class, or NaN everywhere when fewer than 2 classes (or no spare point) exist."""
    n_classes = len(np.unique(labels))
    if not 2 <= n_classes <= len(points) - 1:
        return np.full(len(points), np.nan)
    return silhouette_samples(points, labels)


def _group_rows(group: str, labels: np.ndarray, names: dict, values: list[np.ndarray], pool_sil: float) -> list:
    """One row per class present in ``labels`` plus an ``"all"`` row: the means of the per-point ``values``."""
    columns = ("class_agreement", "real_neighbours", "real_neighbours_if_mixed", "silhouette")
    rows = []
    for label in [*np.unique(labels).tolist(), None]:
        sel = np.ones(len(labels), bool) if label is None else labels == label
        row = {"group": group, "class": "all" if label is None else names[label], "n": int(sel.sum())}
        row |= {c: float(np.mean(v[sel])) for c, v in zip(columns, values, strict=True)}
        rows.append(row | {"pool_silhouette": pool_sil})
    return rows


def agreement_numbers(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The ``"all"`` rows of :func:`feature_agreement` as ``{group: {column: value}}`` (for recorded metrics)."""
    rows = table[table["class"] == "all"].set_index("group")
    columns = ("n", "class_agreement", "real_neighbours", "real_neighbours_if_mixed", "pool_silhouette")
    return {
        group: {c: (None if pd.isna(row[c]) else round(float(row[c]), 4)) for c in columns}
        for group, row in rows.iterrows()
    }


def map_table(maps: Mapping[str, np.ndarray], meta: pd.DataFrame) -> pd.DataFrame:
    """``meta`` with each map's coordinates as ``<name>_x`` / ``<name>_y`` columns (saved for the run's report).

    Args:
        maps: ``{"t-SNE": N x 2, "UMAP": N x 2}`` as given to :func:`liverkit.kit.plots.maps_figure`; names are
            lower-cased and stripped of non-letters (``tsne_x``, ``umap_x``).
    """
    table = meta.copy()
    for name, coords in maps.items():
        coords = np.asarray(coords)
        if coords.shape != (len(meta), 2):
            raise LiverkitError(f"map '{name}' has shape {coords.shape}; expected ({len(meta)}, 2), one row per point.")
        key = "".join(ch for ch in name.lower() if ch.isalpha())
        table[f"{key}_x"], table[f"{key}_y"] = coords[:, 0], coords[:, 1]
    return table

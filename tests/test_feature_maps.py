"""Feature maps and their numbers: feature tables, t-SNE/UMAP maps, figures and the agreement table (notebook 06).

Only one test imports umap (its import and first fit compile numba code: seconds to tens of seconds).
"""

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import make_set
from sklearn.metrics import silhouette_score

from liverkit import LiverkitError
from liverkit.evaluate.feature_maps import (
    META_COLUMNS,
    feature_agreement,
    feature_table,
    map_table,
    source_kind,
    standardise,
    tsne_map,
    umap_map,
)
from liverkit.kit.plots import image_pixels, lesion_thumbnail, map_figure, maps_figure
from liverkit.nets import LesionCNN
from liverkit.train.classifier import embed_lesions


def _tiny_model(n_classes=3):
    torch.manual_seed(0)
    return LesionCNN(n_classes=n_classes, channels=(4, 8, 8), hidden=16)


def _clusters(n_per_class=10, dims=8, seed=0, spread=10.0):
    """Three well separated Gaussian clusters (centre spread ``spread``, noise sd 1): points, labels, centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dims)) * spread
    labels = np.repeat(np.arange(3), n_per_class)
    return centres[labels] + rng.normal(size=(len(labels), dims)), labels, centres


def _meta(groups):
    """Metadata like feature_table's for ``[(source, labels), ...]``, in that row order."""
    parts = [pd.DataFrame({"source": source, "label": np.asarray(labels)}) for source, labels in groups]
    meta = pd.concat(parts, ignore_index=True)
    meta["kind"] = [source_kind(s) for s in meta["source"]]
    meta["class"] = np.array(["cyst", "metastasis", "haemangioma"])[meta["label"]]
    meta["id"] = [f"lesion-{i}" for i in range(len(meta))]
    meta["index"] = np.arange(len(meta))
    return meta


def _map_nn_same_class(coords, labels):
    """Share of points whose nearest other point on the 2-D map has the same label."""
    d = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(labels[d.argmin(axis=1)] == labels))


# ---------------------------------------------------------------------------------------------- feature_table
def test_feature_table_stacks_sets_with_metadata():
    model = _tiny_model()
    real = make_set([0, 1, 2, 0, 1], source="phantom")
    dcgan = make_set([2, 2, 1], seed=1, source="dcgan")
    features, meta = feature_table(model, {"real": real, "dcgan": dcgan})
    assert features.shape == (8, 16) and features.dtype == np.float32
    np.testing.assert_allclose(features[:5], embed_lesions(model, real), rtol=0, atol=0)
    np.testing.assert_allclose(features[5:], embed_lesions(model, dcgan), rtol=0, atol=0)
    assert tuple(meta.columns) == META_COLUMNS
    assert meta["index"].tolist() == list(range(8))
    assert meta["set"].tolist() == ["real"] * 5 + ["dcgan"] * 3
    assert meta["set_index"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert meta["kind"].tolist() == ["real"] * 5 + ["synthetic"] * 3
    assert meta["source"].tolist() == ["phantom"] * 5 + ["dcgan"] * 3
    assert meta["class"].tolist() == ["a", "b", "c", "a", "b", "c", "c", "b"]
    assert meta["label"].tolist() == [0, 1, 2, 0, 1, 2, 2, 1]

    _, listed = feature_table(model, [real, dcgan])
    assert listed["set"].tolist() == ["0"] * 5 + ["1"] * 3

    thumb = lesion_thumbnail({"real": real, "dcgan": dcgan}, meta, 6)
    np.testing.assert_allclose(image_pixels(thumb.data[0]), dcgan.images[1, 0], atol=0.5 / 255 + 1e-6)  # 8 bits
    assert "item-1" in thumb.layout.title.text and "dcgan" in thumb.layout.title.text
    with pytest.raises(LiverkitError, match="outside"):
        lesion_thumbnail({"real": real, "dcgan": dcgan}, meta, 8)
    with pytest.raises(LiverkitError, match="set 'dcgan'"):
        lesion_thumbnail({"real": real}, meta, 6)


def test_feature_table_refuses_mismatched_classes():
    model = _tiny_model()
    real = make_set([0, 1, 2], source="phantom")
    two = make_set([0, 1], class_names=("a", "b"), source="dcgan")
    with pytest.raises(LiverkitError, match=r"set 'syn' has classes \['a', 'b'\].*\['a', 'b', 'c'\]"):
        feature_table(model, {"real": real, "syn": two})
    with pytest.raises(LiverkitError, match=r"predicts 2 classes but the sets have 3: \['a', 'b', 'c'\]"):
        feature_table(_tiny_model(n_classes=2), [real])
    with pytest.raises(LiverkitError, match="at least one"):
        feature_table(model, {})


def test_source_kind():
    assert [source_kind(s) for s in ("phantom", "medmnist", "dcgan", "acgan", "acgan+classic", "phantom+classic")] == [
        "real",
        "real",
        "synthetic",
        "synthetic",
        "synthetic",
        "real",
    ]


def test_standardise_uses_the_reference_and_keeps_dead_units():
    x = np.array([[1.0, 5.0, 0.0], [5.0, 5.0, 4.0], [101.0, 5.0, 50.0]])
    z = standardise(x, reference=x[:2])  # reference mean (3, 5, 2), sd (2, 0, 2)
    np.testing.assert_allclose(z[:2], [[-1.0, 0.0, -1.0], [1.0, 0.0, 1.0]])
    np.testing.assert_allclose(z[2], [49.0, 0.0, 24.0])


# ---------------------------------------------------------------------------------------------- maps
def test_tsne_map_is_deterministic_and_keeps_clusters():
    x, labels, _ = _clusters(n_per_class=20)
    a = tsne_map(x, seed=3)
    b = tsne_map(x, seed=3)
    assert a.shape == (60, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert _map_nn_same_class(a, labels) == 1.0
    scaled = x * np.geomspace(1e-3, 1e3, x.shape[1])  # units of very different size: standardised away
    np.testing.assert_allclose(tsne_map(scaled, seed=3), a, atol=1e-3)


def test_tsne_default_perplexity_adapts_to_small_sets(monkeypatch):
    import liverkit.evaluate.feature_maps as embed

    seen = []

    class Recording(embed.TSNE):
        def __init__(self, **kwargs):
            seen.append(kwargs["perplexity"])
            super().__init__(**kwargs)

    monkeypatch.setattr(embed, "TSNE", Recording)
    x, _, _ = _clusters(n_per_class=2)  # 6 points: scikit-learn refuses its default perplexity 30 here
    assert tsne_map(x, seed=0).shape == (6, 2)
    assert tsne_map(np.tile(x, (20, 1)) + np.arange(120)[:, None] * 1e-3, seed=0).shape == (120, 2)
    assert seen == [pytest.approx(5 / 3), 30.0]
    with pytest.raises(LiverkitError, match=r"perplexity must lie in \(0, 6\)"):
        tsne_map(x, seed=0, perplexity=6)
    with pytest.raises(LiverkitError, match="at least 5 points, got 4"):
        tsne_map(x[:4], seed=0)
    with pytest.raises(LiverkitError, match="NaN"):
        tsne_map(np.where(np.eye(6, 8) > 0, np.nan, x), seed=0)


def test_umap_map_shapes_determinism_and_small_sets(monkeypatch):
    import umap

    x, labels, _ = _clusters(n_per_class=20)
    a = umap_map(x, seed=1)
    b = umap_map(x, seed=1)
    assert a.shape == (60, 2) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert _map_nn_same_class(a, labels) >= 0.95

    seen = []

    class Recording(umap.UMAP):
        def __init__(self, **kwargs):
            seen.append(kwargs["n_neighbors"])
            super().__init__(**kwargs)

    monkeypatch.setattr(umap, "UMAP", Recording)
    assert umap_map(x[::10], seed=1).shape == (6, 2)  # 6 points: at most 5 neighbours each
    assert seen == [5]
    with pytest.raises(LiverkitError, match=r"n_neighbors must be an integer in \[2, 5\]"):
        umap_map(x[::10], seed=1, n_neighbors=6)
    with pytest.raises(LiverkitError, match="at least 5 points, got 3"):
        umap_map(x[:3], seed=1)


# ---------------------------------------------------------------------------------------------- figures
def _figure_case():
    groups = [("phantom", [0, 1, 2, 0]), ("dcgan", [0, 1, 2, 2]), ("acgan", [1, 2, 0, 0])]
    meta = _meta(groups)
    coords = np.random.default_rng(0).normal(size=(len(meta), 2))
    return coords, meta


def test_map_figure_traces_symbols_and_hover():
    coords, meta = _figure_case()
    fig = map_figure(coords, meta, "t-SNE")
    assert len(fig.data) == 9  # 3 sources x 3 classes
    assert sum(len(t.x) for t in fig.data) == len(meta)
    symbols = {t.name.split(" · ")[1]: t.marker.symbol for t in fig.data}
    assert symbols == {"phantom (real)": "circle", "dcgan": "diamond", "acgan": "x"}
    assert [t.name for t in fig.data[-3:]] == [
        "cyst · phantom (real)",
        "metastasis · phantom (real)",
        "haemangioma · phantom (real)",
    ]
    colours = {t.name.split(" · ")[0]: set() for t in fig.data}
    for t in fig.data:
        colours[t.name.split(" · ")[0]].add(t.marker.color)
    assert all(len(c) == 1 for c in colours.values()) and len(set.union(*colours.values())) == 3
    for t in fig.data:
        for (x, y), (row_id, source, kind, name, index) in zip(zip(t.x, t.y, strict=True), t.customdata, strict=True):
            row = meta.iloc[index]
            assert (row_id, source, kind, name) == (row["id"], row["source"], row["kind"], row["class"])
            assert (x, y) == tuple(coords[index])
        for field in ("customdata[0]", "customdata[1]", "customdata[3]", "index %{customdata[4]}"):
            assert field in t.hovertemplate


def test_map_table_keeps_meta_and_coordinates():
    coords, meta = _figure_case()
    table = map_table({"t-SNE": coords, "UMAP": coords * 2}, meta)
    assert list(table.columns) == [*meta.columns, "tsne_x", "tsne_y", "umap_x", "umap_y"]
    np.testing.assert_array_equal(table[["umap_x", "umap_y"]].to_numpy(), coords * 2)
    with pytest.raises(LiverkitError, match=r"map 't-SNE' has shape \(3, 2\)"):
        map_table({"t-SNE": coords[:3]}, meta)


def test_maps_figure_shares_one_legend():
    coords, meta = _figure_case()
    fig = maps_figure({"t-SNE": coords, "UMAP": coords[::-1].copy()}, meta, "CNN-AUG")
    assert len(fig.data) == 18
    assert [t.showlegend for t in fig.data] == [True] * 9 + [False] * 9
    assert [t.legendgroup for t in fig.data[:9]] == [t.legendgroup for t in fig.data[9:]]
    assert {t.xaxis for t in fig.data} == {"x", "x2"}
    assert [a.text for a in fig.layout.annotations] == ["t-SNE", "UMAP"]
    with pytest.raises(LiverkitError, match="N x 2"):
        map_figure(coords[:, :1], meta, "bad")
    with pytest.raises(LiverkitError, match=r"lacks the column\(s\) \['kind'\]"):
        map_figure(coords, meta.drop(columns="kind"), "bad")


# ---------------------------------------------------------------------------------------------- numbers
def _agreement(synthetic_points, synthetic_labels, real=None, source="dcgan", k=5):
    x, labels, centres = real if real is not None else _clusters()
    features = np.concatenate([x, synthetic_points])
    meta = _meta([("phantom", labels), (source, synthetic_labels)])
    return feature_agreement(features, meta, k=k).set_index(["group", "class"])


def test_agreement_synthetic_like_real():
    x, labels, centres = _clusters()
    rng = np.random.default_rng(5)
    table = _agreement(centres[labels] + rng.normal(size=x.shape), labels, real=(x, labels, centres))
    assert list(table.index) == [
        (g, c) for g in ("real", "dcgan") for c in ("cyst", "metastasis", "haemangioma", "all")
    ]
    assert table["n"].tolist() == [10, 10, 10, 30] * 2
    assert (table["class_agreement"] == 1.0).all()
    assert table.loc["real", "real_neighbours"].isna().all()
    assert table.loc[("dcgan", "all"), "real_neighbours_if_mixed"] == pytest.approx(10 / 19)
    assert table.loc[("dcgan", "all"), "real_neighbours"] == pytest.approx(10 / 19, abs=0.15)
    real_sil = silhouette_score(standardise(x), labels)
    assert table.loc[("real", "all"), "silhouette"] == pytest.approx(real_sil)
    np.testing.assert_allclose(table.loc["real", "pool_silhouette"], real_sil, rtol=1e-12)
    assert real_sil > 0.8 and table.loc[("dcgan", "all"), "pool_silhouette"] > 0.8


def test_agreement_synthetic_on_the_wrong_class():
    x, labels, centres = _clusters()
    rng = np.random.default_rng(5)
    few = np.repeat(np.arange(3), 3)  # 3 synthetic lesions per class, each drawn where the next class lies
    wrong = centres[(few + 1) % 3] + rng.normal(size=(9, x.shape[1]))  # a "cyst" among the metastases
    table = _agreement(wrong, few, real=(x, labels, centres), source="acgan")
    assert table.loc[("real", "all"), "class_agreement"] == 1.0
    assert (table.loc["acgan", "class_agreement"] == 0.0).all()
    assert (table.loc["acgan", "silhouette"] < -0.3).all()  # nearer another class than their own
    assert table.loc[("acgan", "all"), "pool_silhouette"] < table.loc[("real", "all"), "pool_silhouette"] - 0.2


def test_agreement_synthetic_island():
    x, labels, centres = _clusters()
    rng = np.random.default_rng(5)
    x = np.column_stack([x, np.zeros(len(x))])  # a unit that is constant for real lesions (a dead ReLU)
    island = np.column_stack([centres[labels] + rng.normal(size=(30, 8)), np.full(30, 50.0)])
    table = _agreement(island, labels, real=(x, labels, centres), source="acgan+classic")
    assert (table.loc["acgan+classic", "real_neighbours"] == 0.0).all()
    assert (table.loc["acgan+classic", "class_agreement"] == 1.0).all()  # its nearest real lesions: right class


def test_agreement_leaves_each_point_out():
    # Real lesions at 0, 1, ..., 11 on a line with alternating classes: with k=2 an inner point's two nearest
    # OTHER real lesions (at -1 and +1) are of the other class, an end point's are one of each: 2 x 0.5 / 12.
    # Synthetic lesions at 0.5, 2.5, ...: their two nearest other points in the pool are both real.
    real = np.arange(12.0)[:, None]
    synthetic = np.arange(0.5, 12, 2.0)[:, None]
    meta = _meta([("phantom", np.arange(12) % 2), ("dcgan", np.zeros(6, int))])
    table = feature_agreement(np.concatenate([real, synthetic]), meta, k=2).set_index(["group", "class"])
    assert table.loc[("real", "all"), "class_agreement"] == pytest.approx(1 / 12)
    assert (table.loc["dcgan", "real_neighbours"] == 1.0).all()
    assert table.loc[("dcgan", "all"), "real_neighbours_if_mixed"] == pytest.approx(6 / 11)


def test_agreement_refuses_bad_input():
    x, labels, _ = _clusters(n_per_class=2)
    meta = _meta([("phantom", labels[:5]), ("dcgan", labels[5:])])
    with pytest.raises(LiverkitError, match="more than k real points; got k=5 and 5 real points"):
        feature_agreement(x, meta, k=5)
    with pytest.raises(LiverkitError, match="meta has 5 rows but there are 6 points"):
        feature_agreement(x, meta.iloc[:5], k=2)
    assert len(feature_agreement(x, meta, k=2)) == 4 + 2  # real: 3 classes + all; dcgan: 1 class + all
    one_class = _meta([("phantom", np.zeros(5, int)), ("dcgan", [0])])
    table = feature_agreement(x, one_class, k=2)
    assert table["silhouette"].isna().all() and table["pool_silhouette"].isna().all()

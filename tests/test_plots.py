"""Figures shared by several notebooks: the image mosaic (torchvision's make_grid) and the confusion matrices."""

import numpy as np
import pandas as pd
import pytest

from liverkit.kit import plots


def _numpy_mosaic(images: np.ndarray, cols: int, gap: int = 2) -> np.ndarray:
    """The tiling plots.mosaic did by hand before it used make_grid: the reference its pixels must match."""
    k, h, w = images.shape
    rows = max(-(-k // cols), 1)
    canvas = np.ones((rows * (h + gap) - gap, cols * (w + gap) - gap), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return canvas


@pytest.mark.parametrize(
    ("k", "cols", "gap"),
    [(6, 3, 2), (7, 3, 2), (3, 5, 2), (1, 1, 2), (1, 4, 2), (0, 2, 2), (5, 2, 0), (4, 4, 3)],
)
def test_mosaic_gives_the_same_pixels_as_a_plain_numpy_tiling(k, cols, gap):
    images = np.random.default_rng(k + cols).random((k, 5, 4))  # float64, non-square: cast and shape both matter
    tiled = plots.mosaic(images, cols, gap)
    assert tiled.dtype == np.float32
    np.testing.assert_array_equal(tiled, _numpy_mosaic(images, cols, gap))


def test_confusion_figures_share_one_heatmap():
    matrix = np.array([[3, 1, 0], [2, 5, 1], [0, 0, 0]])
    single = plots.confusion_heatmap(matrix, ("a <b>", "b", "c")).data[0]
    row = plots.confusion_grid({"x": matrix, "y": matrix.T}, ("a <b>", "b", "c"), "t")
    np.testing.assert_allclose(single.z, [[0.75, 0.25, 0], [0.25, 0.625, 0.125], [0, 0, 0]])  # empty row: zeros
    assert list(single.x) == list(single.y) == ["a &lt;b&gt;", "b", "c"]
    assert single.hovertemplate == "true %{y}<br>predicted %{x}<br>%{text} (%{z:.0%} of the row)<extra></extra>"
    assert single.colorbar.title.text == "row share"
    assert [t.showscale for t in row.data] == [True, False]
    assert row.data[0].hovertemplate == "true %{y}<br>predicted %{x}<br>%{text}<extra></extra>"
    np.testing.assert_array_equal(row.data[0].z, single.z)
    np.testing.assert_array_equal(row.data[1].text, matrix.T)


def test_gan_curves_show_per_epoch_means_one_column_per_model_with_class_names_as_text():
    steps = np.arange(6)
    history = pd.DataFrame(
        {"step": steps, "epoch": steps // 3 + 1, "loss_d": steps.astype(float), "loss_g": 2.0, "d_real": 0.6,
         "d_fake": 0.4}
    )  # fmt: skip
    both = pd.concat([history.assign(model="benign <b>/a & b"), history.assign(model="c")])
    fig = plots.gan_curves(both, "t")
    titles = [a.text for a in fig.layout.annotations if a.text]
    assert titles == ["benign &lt;b&gt;/a &amp; b", "c"]  # one column per model, its name escaped
    loss_d = [t for t in fig.data if t.name == "D loss"]
    assert len(loss_d) == 2 and list(loss_d[0].x) == [1, 2] and list(loss_d[0].y) == [1.0, 4.0]  # epoch means
    assert [t.showlegend for t in loss_d] == [True, False]  # one legend entry per line, not per panel
    assert (
        fig.layout.yaxis.title.text == "loss" and fig.layout.yaxis3.title.text == "mean D output"
    )  # rows: yaxis3 opens row 2

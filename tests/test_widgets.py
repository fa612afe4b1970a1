"""The notebook widgets: each explorer draws what its controls say, and redraws when a control moves."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from liverkit import LiverkitError
from liverkit.data import LesionSet, make_phantom
from liverkit.experiment.gan_sweep import GanSweep
from liverkit.experiment.gan_verdict import curve_table
from liverkit.kit import plots, widgets
from liverkit.train.gan_config import GANConfig
from liverkit.train.gan_records import TrainedGAN


def _z(explorer) -> np.ndarray:
    return plots.image_pixels(explorer.figure.data[0])


PNG_STEP = 0.5 / 255 + 1e-9
"""How far an 8-bit figure's pixel may lie from the image it shows."""


def _phantom_mosaic(per_class: int, **settings) -> np.ndarray:
    lesions = make_phantom(n_cyst=per_class, n_metastasis=per_class, n_hemangioma=per_class, **settings)
    rows = [lesions.images[lesions.labels == k, 0] for k in range(3)]
    return plots.mosaic(np.concatenate(rows), per_class)


# ---------------------------------------------------------------------------------------------- phantom
def test_phantom_explorer_starts_at_make_phantom_and_redraws_on_a_slider():
    explorer = widgets.phantom_explorer(seed=3, per_class=2)
    assert explorer.values["difficulty"] == 0.8 and explorer.values["noise_hu_range"] == (4.0, 20.0)
    before = _z(explorer)
    assert before.shape == (3 * 64 + 2 * 2, 2 * 64 + 2)
    np.testing.assert_allclose(before, _phantom_mosaic(2, seed=3), atol=PNG_STEP)
    explorer.controls["difficulty"].value = 0.0  # as a student's slider does
    after = _z(explorer)
    assert np.abs(after - before).mean() > 0.005  # the lesions look different ...
    np.testing.assert_allclose(
        after, _phantom_mosaic(2, seed=3, difficulty=0.0), atol=PNG_STEP
    )  # ... exactly as the phantom says


def test_phantom_explorer_update_sets_several_controls_and_refuses_unknown_ones():
    explorer = widgets.phantom_explorer(seed=0, per_class=1)
    explorer.update(seed=4, max_vessels=0, noise_hu_range=(30.0, 40.0))
    np.testing.assert_allclose(
        _z(explorer), _phantom_mosaic(1, seed=4, max_vessels=0, noise_hu_range=(30.0, 40.0)), atol=PNG_STEP
    )
    with pytest.raises(LiverkitError, match="no control"):
        explorer.update(contrast=2)
    assert "phantom explorer" in repr(explorer)


# ---------------------------------------------------------------------------------------------- epochs
def _known_samples(epochs: int, classes: int, per_class: int) -> np.ndarray:
    """Each image filled with one value that encodes (epoch, class, sample)."""
    e, k, j = np.meshgrid(np.arange(epochs), np.arange(classes), np.arange(per_class), indexing="ij")
    values = (100 * e + 10 * k + j).reshape(epochs, classes * per_class) / 1000
    return np.broadcast_to(values[:, :, None, None], (*values.shape, 64, 64)).astype(np.float32)


def _fake_gan(samples: np.ndarray, class_names: tuple[str, ...], per_class: int) -> TrainedGAN:
    return TrainedGAN(
        None,
        None,
        pd.DataFrame(),
        samples,
        pd.DataFrame(),
        0.0,
        0.0,
        GANConfig(sample_grid=per_class),
        class_names,
        "dcgan",
        {},
        0,
        Path("."),
    )


def test_epoch_scrubber_shows_that_epoch_and_class():
    samples = _known_samples(epochs=5, classes=3, per_class=2)
    scrubber = widgets.epoch_scrubber(samples, per_class=2, class_names=("a", "b", "c"))
    assert scrubber.values == {"class_name": "a", "epoch": 5}  # starts at the last epoch
    np.testing.assert_allclose(_z(scrubber), plots.mosaic(samples[4, 0:2], 2), atol=PNG_STEP)
    scrubber.controls["class_name"].value = "b"
    scrubber.controls["epoch"].value = 3  # epoch 3 is epoch_samples[2]
    np.testing.assert_allclose(_z(scrubber), plots.mosaic(samples[2, 2:4], 2), atol=PNG_STEP)
    assert np.unique(_z(scrubber)).round(3).tolist() == [0.212, 1.0]  # 0.21/0.211 in 8 bits; 1.0: the gaps
    assert "b, epoch 3 of 5" in scrubber.figure.layout.title.text


def test_epoch_scrubber_escapes_class_names_in_its_title():
    samples = _known_samples(epochs=2, classes=2, per_class=2)
    scrubber = widgets.epoch_scrubber(samples, per_class=2, class_names=("benign <b>", "malignant & co"))
    assert scrubber.figure.layout.title.text.startswith("Fixed-noise samples: benign &lt;b&gt;, epoch 2 of 2")


def test_is_phantom_only_for_phantom_lesions():
    phantom = make_phantom(seed=0, n_cyst=2, n_metastasis=2, n_hemangioma=2)
    assert widgets.is_phantom(phantom)
    other = replace(phantom, sources="medmnist", ids=[f"m{i}" for i in range(len(phantom))])
    assert not widgets.is_phantom(other)
    assert not widgets.is_phantom(LesionSet.concat([phantom, other]))  # partly the phantom: not the phantom


def test_epoch_scrubber_takes_trained_gans():
    acgan = _fake_gan(_known_samples(4, 3, 2), ("cyst", "metastasis", "hemangioma"), per_class=2)
    scrubber = widgets.epoch_scrubber(acgan)
    scrubber.update(class_name="hemangioma", epoch=2)
    np.testing.assert_allclose(_z(scrubber), plots.mosaic(acgan.epoch_samples[1, 4:6], 2), atol=PNG_STEP)
    short = _fake_gan(_known_samples(2, 1, 3), ("cyst",), per_class=3)  # a fold's DCGANs, one trained less long
    long = _fake_gan(_known_samples(6, 1, 3), ("metastasis",), per_class=3)
    scrubber = widgets.epoch_scrubber({"cyst": short, "metastasis": long})
    assert scrubber.controls["epoch"].max == 6
    scrubber.update(class_name="cyst", epoch=5)
    np.testing.assert_allclose(_z(scrubber), plots.mosaic(short.epoch_samples[1], 3), atol=PNG_STEP)  # its last epoch
    assert "trained only 2 epochs" in scrubber.figure.layout.title.text
    with pytest.raises(LiverkitError, match="epochs"):
        widgets.epoch_scrubber(np.zeros((3, 5, 64, 64), np.float32), per_class=2, class_names=("a", "b"))


# ---------------------------------------------------------------------------------------------- sizes
def _sweep() -> GanSweep:
    """One fold, 10 lesions (5 of class a, 5 of b); classic gets 6 right, DCGAN at 20 gets 8 right."""
    y_true = np.array([0] * 5 + [1] * 5)
    right = {
        ("classic", 0): np.arange(10) < 6,
        ("dcgan", 10): np.arange(10) < 5,
        ("dcgan", 20): np.arange(10) >= 2,
        ("acgan", 10): np.ones(10, bool),
        ("acgan", 20): np.zeros(10, bool),
    }
    rows, timing = [], []
    for (arm, size), ok in right.items():
        key = {"repeat": 0, "fold": 0, "arm": arm, "synthetic": size}
        rows += [
            {
                **key,
                "classic_group": 100,
                "index": i,
                "id": f"l{i}",
                "patient": f"p{i}",
                "y_true": int(t),
                "y_pred": int(t if ok[i] else 1 - t),
            }
            for i, t in enumerate(y_true)
        ]
        timing.append({**key, "stage": "outer", "seconds": 1.0, "training_images": 100 + 2 * size})
    inner = pd.DataFrame(
        {
            "repeat": 0,
            "fold": 0,
            "inner_fold": 0,
            "arm": ["dcgan", "dcgan", "acgan", "acgan"],
            "synthetic": [10, 20, 10, 20],
            "val_correct": [5, 7, 6, 4],
            "val_lesions": 10,
        }
    )
    return GanSweep(pd.DataFrame(rows), inner, pd.DataFrame(timing), ("a", "b"), (10, 20))


def test_synthetic_size_explorer_shows_recorded_accuracy_and_confusion():
    sweep = _sweep()
    explorer = widgets.synthetic_size_explorer(sweep, curve_table(sweep, n_boot=200))
    assert explorer.values == {"kind": "dcgan", "synthetic": 10}
    assert list(explorer.controls["synthetic"].options) == [10, 20]
    explorer.controls["synthetic"].value = 20
    table = explorer.table.set_index("arm")
    assert table.loc["classic", "accuracy"] == pytest.approx(0.6) and table.loc["dcgan", "accuracy"] == 0.8
    assert table.loc["dcgan", "synthetic"] == 20 and table.loc["dcgan", "training_images"] == 140
    assert (table.ci_low <= table.accuracy).all() and (table.accuracy <= table.ci_high).all()
    classic, dcgan = (np.asarray(trace.text) for trace in explorer.figure.data)
    np.testing.assert_array_equal(classic, [[5, 0], [4, 1]])  # lesions 6-9 (class b) called a
    np.testing.assert_array_equal(dcgan, [[3, 2], [0, 5]])  # lesions 0-1 (class a) called b
    assert "picked 20 in 1 of 1 folds" in explorer.figure.layout.title.text
    explorer.controls["kind"].value = "acgan"
    assert explorer.table.set_index("arm").loc["acgan", "accuracy"] == 0.0
    np.testing.assert_array_equal(np.asarray(explorer.figure.data[1].text), [[0, 5], [5, 0]])
    assert "picked 20 in 0 of 1 folds" in explorer.figure.layout.title.text


def test_synthetic_size_explorer_needs_a_gan_arm():
    sweep = _sweep()
    sweep.predictions = sweep.predictions[sweep.predictions.arm == "classic"]
    with pytest.raises(LiverkitError, match="no added arm"):
        widgets.synthetic_size_explorer(sweep)


def test_in_ipython_the_view_goes_into_the_output_widget_in_one_update(monkeypatch):
    """What Jupyter and papermill get: the table and plotly's mime bundle as the Output widget's state."""
    from types import SimpleNamespace

    import plotly.io as pio
    from IPython.core.formatters import DisplayFormatter

    monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
    monkeypatch.setattr(widgets, "get_ipython", lambda: SimpleNamespace(display_formatter=DisplayFormatter()))
    sweep = _sweep()
    explorer = widgets.synthetic_size_explorer(sweep, curve_table(sweep, n_boot=50))
    explorer.controls["synthetic"].value = 20
    table, figure = explorer.output.outputs
    assert table["output_type"] == figure["output_type"] == "display_data"
    assert "0.8" in table["data"]["text/html"]
    plotly_json = figure["data"]["application/vnd.plotly.v1+json"]
    assert [trace["type"] for trace in plotly_json["data"]] == ["heatmap", "heatmap"]
    assert "picked 20 in 1 of 1 folds" in plotly_json["layout"]["title"]["text"]


def test_synthetic_size_explorer_with_one_size():
    sweep = _sweep()
    keep = sweep.predictions.synthetic != 20
    sweep.predictions, sweep.timing = sweep.predictions[keep], sweep.timing[sweep.timing.synthetic != 20]
    sweep.inner, sweep.sizes = sweep.inner.iloc[:0], (10,)  # one size: nothing to choose, no inner models
    explorer = widgets.synthetic_size_explorer(sweep)
    assert explorer.values == {"kind": "dcgan", "synthetic": 10}
    assert explorer.table.accuracy.tolist() == [0.6, 0.5]
    assert "picked 10 in 1 of 1 folds" in explorer.figure.layout.title.text


def test_explorer_output_carries_its_first_view_as_a_picture_when_static_pictures_are_on(monkeypatch):
    from liverkit.kit import display, widgets

    explorer = widgets.phantom_explorer(seed=0, per_class=1)
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "image/png" not in bundle
    assert bundle["text/plain"] == display.LIVE_HINT
    monkeypatch.setattr(display, "static_on", lambda: True)
    monkeypatch.setattr(display, "picture_png", lambda picture: b"PNG of " + type(picture).__name__.encode())
    import base64

    assert base64.b64decode(explorer._repr_mimebundle_()["image/png"]) == b"PNG of Figure"

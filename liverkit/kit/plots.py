"""Every plotly figure of the kit, for the notebooks and the report. They draw; the numbers come from elsewhere.

One section per notebook: the data (01), classic augmentation (02), the GANs and their explorers (03, 04), the
CNN-AUG-GAN experiment (05), the feature maps (06, from :mod:`liverkit.evaluate.feature_maps`), synthetic quality and
memorization (07, from :mod:`liverkit.evaluate.quality` and :mod:`liverkit.evaluate.memorization`) and the visual Turing
test (08, from :mod:`liverkit.kit.turing_test`). The modules those numbers come from draw nothing, and
:mod:`liverkit.kit.widgets` only puts these figures under its controls.

Longer than the kit's usual 500 lines on purpose: its one job is every figure of the kit, so that each figure has
one home and the figures share their colours, captions and mosaics.
"""

from __future__ import annotations

import base64
import html
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from io import BytesIO
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch
from PIL import Image
from plotly.subplots import make_subplots

from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.errors import LiverkitError
from liverkit.evaluate.feature_maps import check_meta, named_sets, ordered_sources, source_kind
from liverkit.kit.display import fit_width
from liverkit.kit.turing_test import Session, item_table

CLASS_COLOURS = px.colors.qualitative.Set2
"""One colour per class, in class order, shared by every figure."""


def display_name(name: str) -> str:
    """A class name (or any data-set text) escaped for plotly, whose titles, hover texts, legends and tick labels
    read a few HTML tags: a class called ``"benign <b>"`` would otherwise turn the rest of the label bold."""
    return html.escape(str(name), quote=False)


def display_names(names: Iterable[str]) -> list[str]:
    """:func:`display_name` of every name, in order."""
    return [display_name(name) for name in names]


def wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters (at spaces), joined by plotly's ``<br>``."""
    return "<br>".join(textwrap.wrap(str(text), width)) or str(text)


def pooled_caption(predictions: pd.DataFrame) -> str:
    """What pooled counts of ``predictions`` add up: its folds, and its repeats, in which every lesion is tested
    once each, so that a reader does not take the counts for lesions."""
    folds = predictions["fold"].nunique() if "fold" in predictions else 1
    repeats = predictions["repeat"].nunique() if "repeat" in predictions else 1
    if repeats == 1:
        return f"pooled over {folds} folds"
    return f"pooled over {folds} folds and {repeats} repeats (each lesion counted {repeats} times)"


# ---------------------------------------------------------------------------------------------- data (01)
def lesion_grid(lesions: LesionSet, per_class: int = 8, seed: int = 0, title: str | None = None) -> go.Figure:
    """A grid of example ROIs: one row per class, ``per_class`` random lesions each, with id and diameter on hover.

    Args:
        lesions: the set to show.
        per_class: ROIs per row (fewer when a class has fewer lesions).
        seed: which lesions are picked.
        title: figure title; default names the set's sources.
    """
    rng = np.random.default_rng(seed)
    rows = len(lesions.class_names)
    fig = make_subplots(rows=rows, cols=per_class, horizontal_spacing=0.005, vertical_spacing=0.03)
    for row, name in enumerate(lesions.class_names, start=1):
        members = np.flatnonzero(lesions.labels == row - 1)
        picked = rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members) else []
        for col, index in enumerate(sorted(picked), start=1):
            fig.add_trace(roi_image(lesions, int(index)), row=row, col=col)
        fig.update_yaxes(title_text=display_name(name), row=row, col=1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x")
    sources = ", ".join(sorted(set(lesions.sources.tolist())))
    fig.update_layout(
        title=title or f"Example ROIs per class ({display_name(sources)})",
        height=110 * rows + 80,
        width=max(110 * per_class, 500),
        margin=dict(l=90, r=10, t=50, b=10),
    )
    return fig


def lesion_caption(lesions: LesionSet, index: int) -> str:
    """A lesion's id with its diameter when known (``"p01/a (34 mm)"``, else ``"p01/a"``), escaped for plotly."""
    diameter = lesions.diameters_mm[index]
    size = f" ({diameter:.0f} mm)" if np.isfinite(diameter) else ""
    return display_name(lesions.ids[index]) + size


def png_image(image: np.ndarray, hover: str | None = None) -> go.Image:
    """A grey image in [0, 1] as a plotly image trace carrying an 8-bit PNG (about 1 byte a pixel in a saved
    notebook, against 5 for a heatmap's numbers), with ``hover`` as its hover text (None: no hover)."""
    source = "data:image/png;base64," + base64.b64encode(grey_png(image)).decode("ascii")
    if hover is None:
        return go.Image(source=source, hoverinfo="skip")
    return go.Image(source=source, hovertemplate=f"{hover}<extra></extra>")


def image_pixels(trace: go.Image | dict) -> np.ndarray:
    """The grey pixels in [0, 1] that an image trace of :func:`png_image` or :func:`image_mosaic` shows (8-bit:
    within 0.5 / 255 of the image it was made from); for reading a figure back, e.g. in tests."""
    source = trace["source"] if isinstance(trace, dict) else trace.source
    if not source or not source.startswith("data:image/png;base64,"):
        raise LiverkitError("image_pixels reads image traces that carry a PNG (plots.png_image, plots.image_mosaic).")
    picture = Image.open(BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("L")
    return np.asarray(picture, dtype=np.float64) / 255.0


def roi_image(lesions: LesionSet, index: int) -> go.Image:
    """One ROI as a grey image with its id, class and diameter in the hover text."""
    diameter = lesions.diameters_mm[index]
    size = f"{diameter:.0f} mm" if np.isfinite(diameter) else "diameter unknown"
    name = lesions.class_names[lesions.labels[index]]
    return png_image(lesions.images[index, 0], f"{display_name(lesions.ids[index])}<br>{display_name(name)}, {size}")


def diameter_histogram(lesions: LesionSet, bins: int = 40) -> go.Figure:
    """Lesion diameters in mm, overlaid per class (lesions of unknown diameter are left out and counted; with no
    known diameter at all the figure says so instead of drawing empty axes)."""
    table = _per_lesion_table(lesions)
    known = table.dropna(subset=["diameter_mm"])
    missing = len(table) - len(known)
    if not lesions.has_diameters:
        fig = go.Figure()
        fig.add_annotation(
            text=f"No diameters in this data set (all {missing} lesions: unknown)",
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
            font_size=16,
        )
        fig.update_layout(
            title="Lesion diameter per class: none known", height=250, xaxis_visible=False, yaxis_visible=False
        )
        return fig
    title = "Lesion diameter per class" + (f" ({missing} of unknown diameter not shown)" if missing else "")
    fig = px.histogram(
        known,
        x="diameter_mm",
        color="class",
        nbins=bins,
        barmode="overlay",
        opacity=0.6,
        title=title,
        category_orders={"class": display_names(lesions.class_names)},
        color_discrete_sequence=CLASS_COLOURS,
    )
    fig.update_layout(xaxis_title="diameter (mm)", yaxis_title="lesions", height=350)
    return fig


def intensity_histogram(lesions: LesionSet, bins: int = 40, region: str = "centre") -> go.Figure:
    """Mean ROI intensity per lesion, overlaid per class.

    Args:
        region: ``"centre"`` (the central 16 x 16 pixels, mostly lesion) or ``"whole"`` (the whole ROI).
    """
    table = _per_lesion_table(lesions)
    column = "centre_intensity" if region == "centre" else "mean_intensity"
    fig = px.histogram(
        table,
        x=column,
        color="class",
        nbins=bins,
        barmode="overlay",
        opacity=0.6,
        title=f"Mean intensity per lesion ({region} of the ROI, window [0, 1])",
        category_orders={"class": display_names(lesions.class_names)},
        color_discrete_sequence=CLASS_COLOURS,
    )
    fig.update_layout(xaxis_title="mean intensity", yaxis_title="lesions", height=350)
    return fig


def _per_lesion_table(lesions: LesionSet) -> pd.DataFrame:
    """One row per lesion: class, diameter, whole-ROI and centre mean intensity."""
    centre = lesions.images[:, 0, 24:40, 24:40].mean(axis=(1, 2))
    return pd.DataFrame(
        {
            "id": lesions.ids,
            "class": np.asarray(display_names(lesions.class_names))[lesions.labels],
            "diameter_mm": lesions.diameters_mm,
            "mean_intensity": lesions.images.mean(axis=(1, 2, 3)),
            "centre_intensity": centre,
        }
    )


def fold_bars(table: pd.DataFrame, class_names: tuple[str, ...]) -> go.Figure:
    """Stacked bars of lesions per class in each fold (the table from ``liverkit.data.folds.fold_table``)."""
    fig = go.Figure()
    for k, name in enumerate(class_names):
        colour = CLASS_COLOURS[k % len(CLASS_COLOURS)]
        fig.add_bar(x=[f"fold {f}" for f in table.index], y=table[name], name=display_name(name), marker_color=colour)
    fig.update_layout(barmode="stack", title="Lesions per class in each patient-level fold", height=350)
    fig.update_xaxes(title_text="test fold (its patients are held out together)")
    fig.update_yaxes(title_text="lesions")
    return fig


def class_rows(lesions: LesionSet, per_class: int) -> np.ndarray:
    """The first ``per_class`` images of every class, class by class: (classes x per_class) x 64 x 64."""
    blank = np.ones((per_class, *lesions.images.shape[2:]), np.float32)
    rows = [
        np.concatenate([lesions.images[lesions.labels == k, 0][:per_class], blank])[:per_class]
        for k in range(len(lesions.class_names))
    ]
    return np.concatenate(rows)


def phantom_figure(lesions: LesionSet, per_class: int) -> go.Figure:
    """The phantom explorer's grid (:func:`liverkit.kit.widgets.phantom_explorer`): one row per class, ``per_class``
    lesions each, diameters in the title."""
    low, high = lesions.diameters_mm.min(), lesions.diameters_mm.max()
    title = f"{per_class} phantom lesions per class, diameters {low:.0f}-{high:.0f} mm"
    return image_mosaic(class_rows(lesions, per_class), per_class, title, list(lesions.class_names))


# ---------------------------------------------------------------------------------------------- classic (02)
def image_row(images: np.ndarray, titles: list[str], title: str) -> go.Figure:
    """A row of grey images (K x 64 x 64 in [0, 1]) with a caption each: e.g. augmented variants of one ROI."""
    fig = make_subplots(rows=1, cols=len(images), subplot_titles=[wrap(t, 14) for t in titles], horizontal_spacing=0.01)
    for col, image in enumerate(images, start=1):
        fig.add_trace(png_image(image), row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(title=title, height=250, width=max(120 * len(images), 500), margin=dict(l=10, r=10, t=90, b=10))
    fig.update_annotations(font_size=10)
    return fit_width(fig)


REFERENCE_DASHES = ("dot", "dash", "longdash", "dashdot")
"""Line styles of the reference lines, in order: grey, told apart by their dashes and named in the legend."""


def reference_lines(fig: go.Figure, references: Mapping[str, float] | None) -> go.Figure:
    """Grey horizontal lines across the chart's x range at accuracies to read it against (e.g. the chance level and
    the paper's numbers, :func:`liverkit.experiment.scope.references`), named with their value in the legend (labels on
    the plot would cover the curves)."""
    xs = [x for trace in fig.data if trace.x is not None for x in trace.x]
    if not xs or not references:
        return fig
    for k, (name, value) in enumerate(references.items()):
        fig.add_scatter(
            x=[min(xs), max(xs)],
            y=[value, value],
            mode="lines",
            line=dict(color="grey", width=1.5, dash=REFERENCE_DASHES[k % len(REFERENCE_DASHES)]),
            name=f"{display_name(name)}: {100 * value:.1f}%",
            hoverinfo="name",
        )
    return fig


def sweep_chart(
    table: pd.DataFrame,
    title: str = "CNN-AUG: accuracy against training images",
    references: Mapping[str, float] | None = None,
) -> go.Figure:
    """Pooled accuracy per group with its 95% CI band, and each fold's accuracy as thin lines.

    Args:
        table: from ``liverkit.experiment.classic_sweep.sweep_table`` (group, training_images, accuracy, ci_low,
            ci_high, fold_*).
        references: accuracies drawn as labelled dashed lines (:func:`reference_lines`).
    """
    x = table["training_images"]
    fig = go.Figure()
    band_x = pd.concat([x, x[::-1]])
    band_y = pd.concat([table["ci_high"], table["ci_low"][::-1]])
    fig.add_scatter(
        x=band_x,
        y=band_y,
        fill="toself",
        fillcolor="rgba(31,119,180,0.2)",
        mode="lines",  # the band only: no markers at its corners
        line_width=0,
        name="95% CI (patients resampled)",
        hoverinfo="skip",
    )
    for column in [c for c in table.columns if c.startswith("fold_")]:
        fig.add_scatter(
            x=x,
            y=table[column],
            mode="lines+markers",
            line=dict(width=1, dash="dot"),
            name=column.replace("_", " "),
            opacity=0.6,
        )
    fig.add_scatter(
        x=x,
        y=table["accuracy"],
        mode="lines+markers",
        line=dict(width=3, color="rgb(31,119,180)"),
        name="pooled accuracy",
    )
    fig.update_layout(
        title=title,
        xaxis_title="images trained on (group 0: the original ROIs)",
        yaxis_title="accuracy",
        yaxis_range=[0, 1],
        height=420,
    )
    return reference_lines(fig, references)


def training_curves(history: pd.DataFrame, fold: int = 0, repeat: int = 0) -> go.Figure:
    """Training loss per epoch of each group's model in one fold (from ``ClassicSweep.history``)."""
    part = history[(history["fold"] == fold) & (history["repeat"] == repeat)]
    fig = px.line(
        part,
        x="steps",
        y="loss",
        color="group",
        markers=False,
        title=f"Training loss, fold {fold} (one line per classic group)",
    )
    fig.update_layout(xaxis_title="optimiser steps", yaxis_title="cross-entropy", height=380)
    return fig


def confusion_trace(matrix: np.ndarray, class_names: Sequence[str], hover: str, **style: Any) -> go.Heatmap:
    """One confusion matrix as a heatmap trace: rows = true class, columns = predicted class, the counts as text and
    each row's shares as colour (so a small class reads as clearly as a large one).

    Shared by :func:`confusion_heatmap` and :func:`confusion_grid`, so that every confusion matrix of the kit looks
    the same.

    Args:
        matrix: counts, classes x classes.
        class_names: the classes, in the matrix's order.
        hover: the hover text after the true and the predicted class (a plotly template, e.g. ``"%{text}"``).
        style: further ``go.Heatmap`` settings (e.g. ``colorbar_title``, ``showscale``).
    """
    matrix = np.asarray(matrix)
    row_share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = display_names(class_names)
    return go.Heatmap(
        z=row_share,
        x=names,
        y=names,
        text=matrix,
        texttemplate="%{text}",
        colorscale="Blues",
        zmin=0,
        zmax=1,
        hovertemplate=f"true %{{y}}<br>predicted %{{x}}<br>{hover}<extra></extra>",
        **style,
    )


def confusion_heatmap(matrix: np.ndarray, class_names: tuple[str, ...], title: str = "Confusion matrix") -> go.Figure:
    """Counts with rows = true class, columns = predicted class, and the row percentages on hover."""
    trace = confusion_trace(matrix, class_names, "%{text} (%{z:.0%} of the row)", colorbar_title="row share")
    fig = go.Figure(trace)
    fig.update_layout(title=wrap(title, 48), xaxis_title="predicted", yaxis_title="true", height=420, width=520)
    fig.update_yaxes(autorange="reversed")
    return fig


# ---------------------------------------------------------------------------------------------- GANs (03, 04)
def mosaic(images: np.ndarray, cols: int, gap: int = 2) -> np.ndarray:
    """Tile K x H x W images into one float32 array, ``cols`` per row, separated by ``gap`` white pixels (one trace
    instead of K, so large grids stay light in the notebook); cells past the last image stay white.

    The tiling is torchvision's ``make_grid``. It puts a border of ``gap`` round the whole grid, which is cut off
    here, and it fits its width to fewer than ``cols`` images and returns a lone image as it is, so the grid is
    filled up with white images to whole rows of ``cols`` first: a row of 3 images with ``cols=5`` keeps its 5
    columns (tests/test_plots.py checks the pixels against a plain numpy tiling).
    """
    from torchvision.utils import make_grid  # here, not with the module: torchvision takes ~1.5 s to import

    k, h, w = images.shape
    rows = max(-(-k // cols), 1)
    filled = np.ones((rows * cols, 1, h, w), dtype=np.float32)  # white where there is no image
    filled[:k, 0] = images
    grid = make_grid(torch.from_numpy(filled), nrow=cols, padding=gap, pad_value=1.0)[0]  # 3 grey channels: one
    if len(filled) > 1:  # make_grid returns a lone image without a border
        grid = grid[gap : grid.shape[0] - gap, gap : grid.shape[1] - gap]
    return grid.numpy()


def grey_png(image: np.ndarray, scale: int = 1) -> bytes:
    """A 2-D image in [0, 1] (an ROI, or a :func:`mosaic` of them) as grey PNG bytes, enlarged ``scale`` times by
    repeating pixels (nearest neighbour: nothing is smoothed away or invented)."""
    pixels = np.clip(np.asarray(image, dtype=np.float32) * 255.0, 0, 255).round().astype(np.uint8)
    picture = Image.fromarray(pixels, mode="L")
    picture = picture.resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def image_mosaic(images: np.ndarray, cols: int, title: str, row_labels: list[str] | None = None) -> go.Figure:
    """Images K x 64 x 64 in [0, 1] shown as one grey mosaic, ``cols`` per row, with optional row labels."""
    fig = go.Figure(png_image(mosaic(images, cols)))  # one 8-bit PNG, not thousands of numbers
    height = images.shape[1] + 2
    rows = max(-(-len(images) // cols), 1)
    fig.update_layout(title=title, height=min(60 * rows + 120, 900), margin=dict(l=110, r=10, t=50, b=10))
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(scaleanchor="x", showgrid=False, zeroline=False, constrain="domain", autorange="reversed")
    if row_labels:
        fig.update_yaxes(tickvals=[height * r + height / 2 for r in range(len(row_labels))], ticktext=row_labels)
    else:
        fig.update_yaxes(showticklabels=False)
    return fig


GAN_PANELS = (
    (("loss_d", "loss_g"), "loss"),
    (("d_real", "d_fake"), "mean D output"),
    (("acc_real", "acc_fake"), "class head accuracy"),
)
"""The rows of :func:`gan_curves`: the history columns drawn together and their y-axis title (the last row only
for an ACGAN, whose history has the class head's accuracies)."""
_GAN_LINE_NAMES = {
    "loss_d": "D loss",
    "loss_g": "G loss",
    "d_real": "D(x): real called real",
    "d_fake": "D(G(z)): generated called real",
    "acc_real": "class right, real images",
    "acc_fake": "class right, generated images",
}


def epoch_means(history: pd.DataFrame) -> pd.DataFrame:
    """A GAN history's per-step numbers averaged over each epoch's steps, per model (one row per model and epoch).

    Args:
        history: ``TrainedGAN.history`` (step, epoch and the logged columns), optionally with a ``model`` column.
    """
    history = history if "model" in history.columns else history.assign(model="")
    columns = [c for panel, _ in GAN_PANELS for c in panel if c in history.columns]
    means = history.groupby(["model", "epoch"], sort=False)[columns].mean()
    return means.reset_index()


def gan_curves(history: pd.DataFrame, title: str) -> go.Figure:
    """A GAN's training as per-epoch means: one column per model (a DCGAN's class), one row per pair of numbers.

    Rows: the two losses; D(x) and D(G(z)), the discriminator's mean belief that real and generated images are real
    (0.5: it cannot tell); for an ACGAN, the class head's accuracy on real and generated images. Means over each
    epoch's steps, because single steps are too noisy to read.

    Args:
        history: ``TrainedGAN.history`` (or ``synthesis.history_table``): step, epoch, loss_d, loss_g, d_real,
            d_fake (acc_real, acc_fake for an ACGAN), and optionally a ``model`` column naming each model.
    """
    means = epoch_means(history)
    panels = [(columns, name) for columns, name in GAN_PANELS if columns[0] in means.columns]
    models = list(dict.fromkeys(means["model"]))
    titles = [display_name(m or "generator") for m in models] + [""] * (len(models) * (len(panels) - 1))
    fig = make_subplots(
        rows=len(panels),
        cols=len(models),
        shared_xaxes=True,
        shared_yaxes=True,  # one scale per row: the classes compare at a glance
        subplot_titles=titles,
        vertical_spacing=0.1,
        horizontal_spacing=0.03,
    )
    for col, model in enumerate(models, start=1):
        part = means[means["model"] == model]
        for row, (columns, _) in enumerate(panels, start=1):
            for k, column in enumerate(columns):
                line = dict(color=("rgb(31,119,180)", "rgb(214,39,40)")[k], width=2)
                fig.add_scatter(
                    x=part["epoch"], y=part[column], name=_GAN_LINE_NAMES[column], line=line, mode="lines",
                    legendgroup=column, showlegend=col == 1, row=row, col=col,
                )  # fmt: skip
    for row, (_, name) in enumerate(panels, start=1):
        fig.update_yaxes(title_text=name, row=row, col=1)
    fig.update_xaxes(title_text="epoch", row=len(panels))
    fig.update_layout(
        title=f"{title}: means over each epoch's steps",
        height=240 * len(panels) + 160,
        legend=dict(orientation="h", yanchor="top", y=-0.12 - 0.1 / len(panels), x=0),
        margin=dict(t=90, b=110),
    )
    return fig


def epoch_progress(
    epoch_samples: np.ndarray, class_index: int, per_class: int, title: str, n_rows: int = 6
) -> go.Figure:
    """The fixed-noise samples of one class at up to ``n_rows`` evenly spaced epochs, one row per epoch.

    Args:
        epoch_samples: ``TrainedGAN.epoch_samples``, epochs x (classes x per_class) x 64 x 64, class-major.
        class_index: the class's position in the generator's classes (0 for a DCGAN).
        per_class: samples per class in the grid (``GANConfig.sample_grid``).
    """
    n_epochs = len(epoch_samples)
    epochs = sorted(set(np.linspace(1, n_epochs, min(n_rows, n_epochs)).round().astype(int).tolist()))
    start = class_index * per_class
    images = np.concatenate([epoch_samples[e - 1, start : start + per_class] for e in epochs])
    return image_mosaic(images, per_class, title, [f"epoch {e}" for e in epochs])


def epoch_figure(samples: np.ndarray, epoch: int, title: str) -> go.Figure:
    """The epoch scrubber's view (:func:`liverkit.kit.widgets.epoch_scrubber`): samples at ``epoch`` (from 1; past the
    last recorded epoch, the last) as one mosaic, 8 per row at most."""
    shown = min(max(epoch, 1), len(samples))
    note = "" if shown == epoch else f" (trained only {len(samples)} epochs)"
    images = samples[shown - 1]
    return image_mosaic(images, min(len(images), 8), f"{title}, epoch {shown} of {len(samples)}{note}")


def real_vs_synthetic(real: LesionSet, synthetic: LesionSet, per_class: int = 6, seed: int = 0) -> go.Figure:
    """Each class in a row: ``per_class`` real ROIs on the left, as many synthetic ones on the right."""
    rng = np.random.default_rng(seed)
    blank = np.ones((1, 64, 64), np.float32)
    rows, labels = [], []
    for k, name in enumerate(real.class_names):
        halves = []
        for part in (real, synthetic):
            members = np.flatnonzero(part.labels == k)
            chosen = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False))
            picked = part.images[chosen, 0]
            halves.append(np.concatenate([picked, np.repeat(blank, per_class - len(picked), axis=0)]))
        rows.append(np.concatenate([halves[0], blank, halves[1]]))
        labels.append(display_name(name))
    title = f"Real (left) and synthetic {display_name(', '.join(sorted(set(synthetic.sources.tolist()))))} (right)"
    return image_mosaic(np.concatenate(rows), 2 * per_class + 1, title, labels)


def collapse_chart(collapse: pd.DataFrame) -> go.Figure:
    """Collapse ratio per epoch (mean pairwise distance of samples / of real images; near 1 is healthy, near 0
    means the generator repeats itself). ``collapse``: columns fold, class, epoch, ratio."""
    collapse = collapse.assign(**{"class": display_names(collapse["class"])})
    fig = px.line(
        collapse,
        x="epoch",
        y="ratio",
        color="class",
        line_dash="fold",
        markers=True,
        title="Mode-collapse indicator (1 = as diverse as the real images)",
    )
    fig.add_hline(y=1.0, line_dash="dot", line_color="grey")
    height = max(380, 29 * len(fig.data) + 140)  # one legend entry per (class, fold), all visible
    fig.update_layout(yaxis_title="sample spread / real spread", height=height)
    return fig


# ---------------------------------------------------------------------------------------------- experiment (05)
ARM_COLOURS = {
    "classic": "rgb(31,119,180)",
    "classic_control": "rgb(127,127,127)",
    "dcgan": "rgb(214,39,40)",
    "acgan": "rgb(44,160,44)",
}
_ARM_NAMES = {
    "classic_control": "classic + extra classic (control)",
    "dcgan": "classic + DCGAN",
    "acgan": "classic + ACGAN",
}


def gan_sweep_chart(
    classic: pd.DataFrame, curve: pd.DataFrame, references: Mapping[str, float] | None = None
) -> go.Figure:
    """The paper's figure: accuracy against the images each model trained on, for classic augmentation (CNN-AUG)
    and for the chosen classic group plus added images (the same-size control and each GAN), with 95% CI bands.

    One x axis for every curve: the images actually trained on (group 0 is the original ROIs, not 0).

    Args:
        classic: ``liverkit.experiment.classic_sweep.sweep_table`` (group, training_images, accuracy, ci_low, ci_high).
        curve: ``liverkit.experiment.gan_verdict.curve_table`` (arm, synthetic, training_images, accuracy, ci_*).
        references: accuracies drawn as labelled dashed lines (:func:`reference_lines`).
    """
    fig = go.Figure()
    lines = {"classic": (classic, "CNN-AUG (classic only)")}
    for arm in [a for a in _ARM_NAMES if a in set(curve.arm)]:
        part = pd.concat([curve[curve.arm == "classic"], curve[curve.arm == arm]]).sort_values("training_images")
        lines[arm] = (part, _ARM_NAMES[arm])
    for arm, (part, name) in lines.items():
        colour, x = ARM_COLOURS[arm], part["training_images"]
        fig.add_scatter(
            x=pd.concat([x, x[::-1]]),
            y=pd.concat([part["ci_high"], part["ci_low"][::-1]]),
            fill="toself",
            fillcolor=colour.replace("rgb", "rgba").replace(")", ",0.12)"),
            mode="lines",
            line_width=0,
            showlegend=False,
            hoverinfo="skip",
        )
        dash = "dot" if arm == "classic_control" else "solid"
        fig.add_scatter(
            x=x, y=part["accuracy"], mode="lines+markers", name=name, line=dict(color=colour, width=3, dash=dash)
        )
    fig.update_layout(
        title="Accuracy against training images (bands: 95% CI, patients resampled)",
        xaxis_title="images trained on (mean over folds)",
        yaxis_title="accuracy",
        yaxis_range=[0, 1],
        height=440,
    )
    return reference_lines(fig, references)


def confusion_grid(
    matrices: dict[str, np.ndarray], class_names: tuple[str, ...], title: str, cols: int = 3
) -> go.Figure:
    """Several confusion matrices in a grid, ``cols`` per row (rows true, columns predicted; colour = row share,
    one colour scale for all), each titled with its key.

    Args:
        matrices: title -> counts (classes x classes).
        class_names: the classes, in the matrices' order.
        title: the figure's title; say what the counts add up (:func:`pooled_caption`).
        cols: matrices per row.
    """
    if not matrices:
        raise LiverkitError("confusion_grid needs at least one matrix, e.g. {'classic': counts}.")
    cols = min(cols, len(matrices))
    rows = -(-len(matrices) // cols)
    names = [wrap(display_name(name), 26) for name in matrices]
    # Room for the class names under each matrix, the colour bar clear of the last column, and a 90-character line
    # of title (about 9 px a character).
    width = max(260 * cols + 220, 900)
    title = wrap(title, 90)
    lines = title.count("<br>") + 1, max(name.count("<br>") + 1 for name in names)
    # Between rows: the tick labels (turned 30 degrees), the "predicted" title and the next row's subplot titles.
    cell, gap, bottom = 270, 110 + 22 * lines[1], 110
    top = 40 + 24 * lines[0] + 22 * lines[1]  # the title's lines above the first row's subplot titles
    height = top + rows * cell + (rows - 1) * gap + bottom
    spacing = gap / (height - top - bottom) if rows > 1 else 0.0
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.06, vertical_spacing=spacing)
    for i, matrix in enumerate(matrices.values()):
        row, col = i // cols + 1, i % cols + 1
        trace = confusion_trace(matrix, class_names, "%{text}", showscale=i == 0, colorbar_title="row share")
        fig.add_trace(trace, row, col)
        fig.update_yaxes(autorange="reversed", title_text="true" if col == 1 else "", row=row, col=col)
        fig.update_yaxes(showticklabels=col == 1, row=row, col=col)
        fig.update_xaxes(title_text="predicted", tickangle=-30, row=row, col=col)
    fig.update_layout(height=height, width=width, title=title, margin=dict(t=top, b=bottom, r=120))
    return fig


# ---------------------------------------------------------------------------------------------- feature maps (06)
SYMBOLS = ("circle", "diamond", "x", "triangle-up", "square", "star", "cross", "pentagon")
"""Marker symbols, one per source: real sources first (the first gets a circle), then the synthetic ones."""


def map_figure(coords: np.ndarray, meta: pd.DataFrame, title: str) -> go.Figure:
    """One map as a scatter plot: colour = class, symbol = source, hover = id, source, class and row index.

    Args:
        coords: N x 2 from :func:`~liverkit.evaluate.feature_maps.tsne_map` or
            :func:`~liverkit.evaluate.feature_maps.umap_map`.
        meta: the metadata from :func:`~liverkit.evaluate.feature_maps.feature_table`, in the same row order.
        title: figure title.
    """
    fig = go.Figure(_map_traces(coords, meta, show_legend=True))
    fig.update_layout(title=title, height=520, width=640, legend_title_text="class · source")
    fig.update_xaxes(showticklabels=False, title_text="")
    fig.update_yaxes(showticklabels=False, title_text="", scaleanchor="x")
    return fig


def maps_figure(maps: Mapping[str, np.ndarray], meta: pd.DataFrame, title: str) -> go.Figure:
    """Several maps of the same points side by side, e.g. ``{"t-SNE": tsne, "UMAP": umap}``, one legend.

    Clicking a legend entry hides that class and source in every panel.
    """
    if not maps:
        raise LiverkitError("maps_figure needs at least one map, e.g. {'t-SNE': coords}.")
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=list(maps), horizontal_spacing=0.04)
    for col, coords in enumerate(maps.values(), start=1):
        for trace in _map_traces(coords, meta, show_legend=col == 1):
            fig.add_trace(trace, row=1, col=col)
        fig.update_yaxes(scaleanchor="x" if col == 1 else f"x{col}", row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    entries = sum(trace.showlegend is not False for trace in fig.data)
    height = max(480, 29 * entries + 150)  # every legend entry visible (29 px each), also in a static picture
    fig.update_layout(title=title, height=height, width=1000, legend_title_text="class · source")
    return fig


def _map_traces(coords: np.ndarray, meta: pd.DataFrame, show_legend: bool) -> list[go.Scatter]:
    """One trace per (source, class), synthetic drawn first so the real points sit on top of them."""
    coords = np.asarray(coords, dtype=np.float64)
    check_meta(meta, len(coords), ("index", "id", "source", "kind", "class", "label"))
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise LiverkitError(f"map coordinates must be N x 2, got shape {coords.shape}.")
    sources = ordered_sources(meta)
    classes = meta.drop_duplicates("label").sort_values("label")
    traces = []
    for rank, source in reversed(list(enumerate(sources))):
        real = source_kind(source) == "real"
        for label, name in zip(classes["label"], classes["class"], strict=True):
            rows = np.flatnonzero((meta["source"] == source).to_numpy() & (meta["label"] == label).to_numpy())
            if len(rows):
                traces.append(_scatter(coords[rows], meta.iloc[rows], source, name, int(label), rank, real))
    for trace in traces:
        trace.showlegend = show_legend
    return traces


def _scatter(
    xy: np.ndarray, rows: pd.DataFrame, source: str, name: str, label: int, rank: int, real: bool
) -> go.Scatter:
    """The points of one source and class: real ones opaque with an outline, synthetic ones lighter."""
    shown = f"{source} (real)" if real else source
    return go.Scatter(
        x=xy[:, 0],
        y=xy[:, 1],
        mode="markers",
        name=display_name(f"{name} · {shown}"),
        legendgroup=f"{source}|{label}",
        legendrank=100 * rank + label,
        marker=dict(
            symbol=SYMBOLS[rank % len(SYMBOLS)],
            color=CLASS_COLOURS[label % len(CLASS_COLOURS)],
            size=8 if real else 6,
            opacity=0.95 if real else 0.55,
            line=dict(width=1 if real else 0, color="black"),
        ),
        customdata=_hover_data(rows),
        hovertemplate="%{customdata[0]}<br>source %{customdata[1]} (%{customdata[2]})<br>class %{customdata[3]}"
        "<br>index %{customdata[4]}<extra></extra>",
    )


def _hover_data(rows: pd.DataFrame) -> np.ndarray:
    """Id, source, kind, class (escaped: plotly reads HTML tags in hover text) and index of each point."""
    text = {column: display_names(rows[column].astype(str)) for column in ("id", "source", "kind", "class")}
    return pd.DataFrame(text | {"index": rows["index"].to_numpy()}).to_numpy(dtype=object)


def lesion_thumbnail(
    sets: Mapping[str, LesionSet] | Sequence[LesionSet] | LesionSet, meta: pd.DataFrame, index: int
) -> go.Figure:
    """The ROI behind row ``index`` of ``meta`` (the index shown on a map's hover), as a small grey image.

    Args:
        sets: the same ``sets`` that were given to :func:`~liverkit.evaluate.feature_maps.feature_table`.
        meta: its metadata.
        index: the row index, e.g. read off a map's hover.
    """
    check_meta(meta, len(meta), ("index", "set", "set_index", "id", "source", "class"))
    if not 0 <= int(index) < len(meta):
        raise LiverkitError(f"index {index} is outside the table's rows 0..{len(meta) - 1}.")
    row = meta.iloc[int(index)]
    named = named_sets(sets)
    if row["set"] not in named or len(named[row["set"]]) <= row["set_index"]:
        raise LiverkitError(f"row {index} comes from set '{row['set']}'; pass the sets given to feature_table.")
    lesions = named[row["set"]]
    if lesions.ids[row["set_index"]] != row["id"]:
        raise LiverkitError(f"set '{row['set']}' does not hold lesion '{row['id']}'; pass the same sets, in order.")
    fig = go.Figure(roi_image(lesions, int(row["set_index"])))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x")
    caption = f"#{index}: {display_name(row['id'])}<br>{display_name(row['class'])}, {display_name(row['source'])}"
    fig.update_layout(title=caption, height=300, width=280, margin=dict(l=10, r=10, t=60, b=10), title_font_size=12)
    return fig


# ---------------------------------------------------------------------------------------------- quality (07)
def closest_pairs_figure(
    audit: pd.DataFrame, train: LesionSet, candidates: LesionSet, n: int = 8, per_row: int = 4
) -> go.Figure:
    """The ``n`` candidates closest to a training lesion (pixel distance), ``per_row`` pairs per row: in each pair
    the candidate on the left and its nearest training lesion on the right, titled with their distance (and FLAG
    when the audit flags it); the ids are on hover.

    Args:
        audit: the table from :func:`~liverkit.evaluate.memorization.memorization_audit` for these ``train`` and
            ``candidates``.
        train, candidates: the sets the audit was computed on (its indices point into them).
        n: number of pairs (fewer when the audit is shorter).
        per_row: pairs per row.
    """
    if n < 1:
        raise LiverkitError(f"closest_pairs_figure needs n >= 1, got {n}.")
    if len(audit) != len(candidates) or audit["nearest_index"].max() >= len(train):
        raise LiverkitError(
            f"the audit ({len(audit)} rows) does not belong to these sets ({len(candidates)} candidates, "
            f"{len(train)} training lesions); pass the sets given to memorization_audit."
        )
    top = audit.nsmallest(n, "pixel_distance")
    cols = min(per_row, len(top))
    rows = -(-len(top) // cols)
    titles = [
        f"#{k + 1}: d = {r.pixel_distance:.3f}" + (" FLAG" if r.flagged else "") for k, r in enumerate(top.itertuples())
    ]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.12)
    gap = np.ones((ROI_SIZE, 2), np.float32)
    for k, pair in enumerate(top.itertuples()):
        image = np.hstack([candidates.images[pair.candidate_index, 0], gap, train.images[pair.nearest_index, 0]])
        hover = f"left: {display_name(pair.candidate_id)}<br>right: {display_name(pair.nearest_id)}"
        fig.add_trace(png_image(image, hover), row=k // cols + 1, col=k % cols + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed")
    for i in range(1, rows * cols + 1):  # square pixels: each subplot's y axis anchored to its own x axis
        fig.layout[f"yaxis{'' if i == 1 else i}"].scaleanchor = f"x{'' if i == 1 else i}"
    title = f"The {len(top)} candidates closest to a training lesion (left: candidate; right: its nearest)"
    fig.update_layout(title=title, height=160 * rows + 90, margin=dict(l=10, r=10, t=90, b=10), plot_bgcolor="white")
    return fig


# ---------------------------------------------------------------------------------------------- Turing test (08)
def fooled_figure(answers: pd.DataFrame, session: Session, n: int = 8) -> go.Figure:
    """Two rows of ROIs: synthetic ones most raters called real (top), real ones most called synthetic (bottom).

    Args:
        answers: the raters' answers (:func:`liverkit.kit.turing_test.load_answers`).
        session: the session they answered (:func:`liverkit.kit.turing_test.make_session`).
        n: ROIs per row at most (the most convincing first; blank where there are fewer).
    """
    items = item_table(answers, session)
    fake_as_real = items[items.is_synthetic & (items.called_synthetic < 0.5)].nsmallest(n, "called_synthetic")
    real_as_fake = items[~items.is_synthetic & (items.called_synthetic > 0.5)].nlargest(n, "called_synthetic")
    blank = np.ones((64, 64), dtype=np.float32)
    rows = []
    for chosen in (fake_as_real, real_as_fake):
        images = list(session.images(chosen["item"].tolist()))
        rows.extend(images + [blank] * (n - len(images)))
    labels = [f"synthetic, called real ({len(fake_as_real)})", f"real, called synthetic ({len(real_as_fake)})"]
    title = f"ROIs that fooled most of the raters (up to {n} per row; blank: no more such ROIs)"
    return image_mosaic(np.stack(rows), n, title, labels)


def null_chart(table: pd.DataFrame, title: str = "How often a 95% interval misses") -> go.Figure:
    """Share of simulated intervals that miss the true difference, per scenario and method, with Monte Carlo error
    bars and the 5% an honest 95% interval should miss.

    Args:
        table: ``liverkit.experiment.null_check.null_table`` (method, unit_sd_points, shift_points, misses, se).
    """
    estimated = table["spread"] == "estimated" if "spread" in table else [False] * len(table)
    own_line = {True: "<br>(this run)", False: ""}
    scenario = [
        f"{'no effect' if shift == 0 else f'effect {shift:+g} pts'},<br>spread {sd:g} pts{own_line[bool(own)]}"
        for sd, shift, own in zip(table.unit_sd_points, table.shift_points, estimated, strict=True)
    ]
    fig = go.Figure()
    for method, colour in zip(dict.fromkeys(table.method), ("rgb(31,119,180)", "rgb(214,39,40)"), strict=False):
        rows = (table.method == method).to_numpy()
        fig.add_bar(
            x=[s for s, keep in zip(scenario, rows, strict=True) if keep],
            y=table.misses[rows],
            error_y=dict(type="data", array=1.96 * table.se[rows]),
            name=method,
            marker_color=colour,
        )
    fig.add_hline(y=0.05, line_dash="dash", annotation_text="5%: what a 95% interval should miss")
    fig.update_layout(
        title=title,
        barmode="group",
        xaxis_title="simulated scenario ((repeat, fold) spread of one arm's accuracy)",
        yaxis_title="share of intervals that miss",
        yaxis_tickformat=".0%",
        height=420,
        legend_title="interval resamples",
    )
    return fig

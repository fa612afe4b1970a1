"""Plotly figures for the notebooks and the report. They draw; they compute nothing worth testing elsewhere."""

from __future__ import annotations

import html
from collections.abc import Iterable
from io import BytesIO

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from liverkit.data.lesionset import LesionSet
from liverkit.display import fit_width

CLASS_COLOURS = px.colors.qualitative.Set2
"""One colour per class, in class order, shared by every figure."""


def display_name(name: str) -> str:
    """A class name (or any data-set text) escaped for plotly, whose titles, hover texts, legends and tick labels
    read a few HTML tags: a class called ``"benign <b>"`` would otherwise turn the rest of the label bold."""
    return html.escape(str(name), quote=False)


def display_names(names: Iterable[str]) -> list[str]:
    """:func:`display_name` of every name, in order."""
    return [display_name(name) for name in names]


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
            fig.add_trace(roi_heatmap(lesions, int(index)), row=row, col=col)
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


def roi_heatmap(lesions: LesionSet, index: int) -> go.Heatmap:
    """One ROI as a grey heatmap in [0, 1] with its id, class and diameter in the hover text."""
    diameter = lesions.diameters_mm[index]
    size = f"{diameter:.0f} mm" if np.isfinite(diameter) else "diameter unknown"
    name = lesions.class_names[lesions.labels[index]]
    label = f"{display_name(lesions.ids[index])}<br>{display_name(name)}, {size}"
    return go.Heatmap(
        z=lesions.images[index, 0],
        zmin=0.0,
        zmax=1.0,
        colorscale="gray",
        showscale=False,
        hovertemplate=f"{label}<br>value %{{z:.2f}}<extra></extra>",
    )


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
    fig.update_yaxes(title_text="lesions")
    return fig


def image_row(images: np.ndarray, titles: list[str], title: str) -> go.Figure:
    """A row of grey images (K x 64 x 64 in [0, 1]) with a caption each: e.g. augmented variants of one ROI."""
    fig = make_subplots(rows=1, cols=len(images), subplot_titles=titles, horizontal_spacing=0.01)
    for col, image in enumerate(images, start=1):
        heatmap = go.Heatmap(z=image, zmin=0.0, zmax=1.0, colorscale="gray", showscale=False, hoverinfo="skip")
        fig.add_trace(heatmap, row=1, col=col)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(title=title, height=230, width=max(120 * len(images), 500), margin=dict(l=10, r=10, t=70, b=10))
    fig.update_annotations(font_size=10)
    return fit_width(fig)


def sweep_chart(table: pd.DataFrame, title: str = "CNN-AUG: accuracy against training images") -> go.Figure:
    """Pooled accuracy per group with its 95% CI band, and each fold's accuracy as thin lines.

    Args:
        table: from ``liverkit.experiment.sweep_table`` (group, training_images, accuracy, ci_low, ci_high, fold_*).
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
    return fig


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


def confusion_heatmap(matrix: np.ndarray, class_names: tuple[str, ...], title: str = "Confusion matrix") -> go.Figure:
    """Counts with rows = true class, columns = predicted class, and the row percentages on hover."""
    matrix = np.asarray(matrix)
    row_share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = display_names(class_names)
    fig = go.Figure(
        go.Heatmap(
            z=row_share,
            x=names,
            y=names,
            text=matrix,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar_title="row share",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text} lesions (%{z:.0%})<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=380, width=460)
    fig.update_yaxes(autorange="reversed")
    return fig


# ---------------------------------------------------------------------------------------------- GANs (03, 04)
def mosaic(images: np.ndarray, cols: int, gap: int = 2) -> np.ndarray:
    """Tile K x H x W images into one array, ``cols`` per row, separated by ``gap`` white pixels (one trace
    instead of K, so large grids stay light in the notebook)."""
    k, h, w = images.shape
    rows = max(-(-k // cols), 1)
    canvas = np.ones((rows * (h + gap) - gap, cols * (w + gap) - gap), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image
    return canvas


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
    fig = px.imshow(mosaic(images, cols), color_continuous_scale="gray", zmin=0, zmax=1, title=title)
    height = images.shape[1] + 2
    rows = max(-(-len(images) // cols), 1)
    fig.update_layout(coloraxis_showscale=False, height=min(60 * rows + 120, 900), margin=dict(l=110, r=10, t=50, b=10))
    fig.update_xaxes(showticklabels=False)
    if row_labels:
        fig.update_yaxes(tickvals=[height * r + height / 2 for r in range(len(row_labels))], ticktext=row_labels)
    else:
        fig.update_yaxes(showticklabels=False)
    return fig


def gan_curves(history: pd.DataFrame, title: str) -> go.Figure:
    """A GAN's per-step losses (top) and mean D(x), D(G(z)) (bottom), from ``TrainedGAN.history``.

    Args:
        history: step, loss_d, loss_g, d_real, d_fake (and acc_real, acc_fake for an ACGAN: a third panel), and
            optionally a ``model`` column (one set of lines per model).
    """
    history = history if "model" in history.columns else history.assign(model="")
    panels = [[("loss_d", "loss_g"), "losses"], [("d_real", "d_fake"), "mean D(x), D(G(z)) (0.5 = cannot tell)"]]
    if "acc_real" in history.columns:
        panels.append([("acc_real", "acc_fake"), "class head accuracy on real and generated images"])
    fig = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=[t for _, t in panels]
    )
    dashes = ["solid", "dot", "dash", "dashdot"]
    for i, (model, part) in enumerate(history.groupby("model", sort=False)):
        dash = dashes[i % len(dashes)]
        for row, (columns, _) in enumerate(panels, start=1):
            for column in columns:
                name = f"{model} {column}".strip()
                fig.add_scatter(x=part["step"], y=part[column], name=name, line_dash=dash, row=row, col=1)
    fig.update_xaxes(title_text="optimiser step", row=len(panels), col=1)
    fig.update_layout(title=title, height=280 * len(panels))
    return fig


def epoch_progress(epoch_samples: np.ndarray, class_index: int, per_class: int, title: str, n_rows: int = 6):
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
    fig.update_layout(yaxis_title="sample spread / real spread", height=380)
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


def gan_sweep_chart(classic: pd.DataFrame, curve: pd.DataFrame) -> go.Figure:
    """The paper's figure: accuracy against the images each model trained on, for classic augmentation (CNN-AUG)
    and for the chosen classic group plus added images (the same-size control and each GAN), with 95% CI bands.

    One x axis for every curve: the images actually trained on (group 0 is the original ROIs, not 0).

    Args:
        classic: ``liverkit.experiment.sweep_table`` (group, training_images, accuracy, ci_low, ci_high).
        curve: ``liverkit.gan_results.curve_table`` (arm, synthetic, training_images, accuracy, ci_*).
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
    return fig


def confusion_row(matrices: dict[str, np.ndarray], class_names: tuple[str, ...]) -> go.Figure:
    """Several confusion matrices side by side (rows true, columns predicted; colour = row share)."""
    fig = make_subplots(rows=1, cols=len(matrices), subplot_titles=list(matrices), horizontal_spacing=0.06)
    for i, matrix in enumerate(matrices.values(), start=1):
        matrix = np.asarray(matrix)
        share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        names = display_names(class_names)
        heatmap = go.Heatmap(
            z=share,
            x=names,
            y=names,
            text=matrix,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            showscale=i == 1,
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
        )
        fig.add_trace(heatmap, 1, i)
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    fig.update_layout(height=360, width=330 * len(matrices) + 80, title="Confusion matrices, pooled over folds")
    return fit_width(fig)  # four matrices would be 1,400 px: cut off in a normal window

"""Plotly figures for the notebooks and the report. They draw; they compute nothing worth testing elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from liverkit.data.lesionset import LesionSet

CLASS_COLOURS = px.colors.qualitative.Set2
"""One colour per class, in class order, shared by every figure."""


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
            fig.add_trace(_roi_heatmap(lesions, int(index)), row=row, col=col)
        fig.update_yaxes(title_text=name, row=row, col=1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x")
    sources = ", ".join(sorted(set(lesions.sources.tolist())))
    fig.update_layout(
        title=title or f"Example ROIs per class ({sources})",
        height=110 * rows + 80,
        width=max(110 * per_class, 500),
        margin=dict(l=90, r=10, t=50, b=10),
    )
    return fig


def _roi_heatmap(lesions: LesionSet, index: int) -> go.Heatmap:
    """One ROI as a grey heatmap in [0, 1] with its id, class and diameter in the hover text."""
    diameter = lesions.diameters_mm[index]
    size = f"{diameter:.0f} mm" if np.isfinite(diameter) else "diameter unknown"
    label = f"{lesions.ids[index]}<br>{lesions.class_names[lesions.labels[index]]}, {size}"
    return go.Heatmap(
        z=lesions.images[index, 0],
        zmin=0.0,
        zmax=1.0,
        colorscale="gray",
        showscale=False,
        hovertemplate=f"{label}<br>value %{{z:.2f}}<extra></extra>",
    )


def diameter_histogram(lesions: LesionSet, bins: int = 40) -> go.Figure:
    """Lesion diameters in mm, overlaid per class (lesions of unknown diameter are left out and counted)."""
    table = _per_lesion_table(lesions)
    known = table.dropna(subset=["diameter_mm"])
    missing = len(table) - len(known)
    title = "Lesion diameter per class" + (f" ({missing} of unknown diameter not shown)" if missing else "")
    fig = px.histogram(
        known, x="diameter_mm", color="class", nbins=bins, barmode="overlay", opacity=0.6, title=title,
        category_orders={"class": list(lesions.class_names)}, color_discrete_sequence=CLASS_COLOURS,
    )  # fmt: skip
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
        table, x=column, color="class", nbins=bins, barmode="overlay", opacity=0.6,
        title=f"Mean intensity per lesion ({region} of the ROI, window [0, 1])",
        category_orders={"class": list(lesions.class_names)}, color_discrete_sequence=CLASS_COLOURS,
    )  # fmt: skip
    fig.update_layout(xaxis_title="mean intensity", yaxis_title="lesions", height=350)
    return fig


def _per_lesion_table(lesions: LesionSet) -> pd.DataFrame:
    """One row per lesion: class, diameter, whole-ROI and centre mean intensity."""
    centre = lesions.images[:, 0, 24:40, 24:40].mean(axis=(1, 2))
    return pd.DataFrame(
        {
            "id": lesions.ids,
            "class": np.asarray(lesions.class_names)[lesions.labels],
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
        fig.add_bar(x=[f"fold {f}" for f in table.index], y=table[name], name=name, marker_color=colour)
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
    return fig


def sweep_chart(table: pd.DataFrame, title: str = "CNN-AUG: accuracy against classic training samples") -> go.Figure:
    """Pooled accuracy per group with its 95% CI band, and each fold's accuracy as thin lines.

    Args:
        table: from ``liverkit.experiment.sweep_table`` (group, accuracy, ci_low, ci_high, fold_*).
    """
    x = table["group"]
    fig = go.Figure()
    band_x = pd.concat([x, x[::-1]])
    band_y = pd.concat([table["ci_high"], table["ci_low"][::-1]])
    fig.add_scatter(x=band_x, y=band_y, fill="toself", fillcolor="rgba(31,119,180,0.2)", line_width=0,
                    name="95% CI (bootstrap over lesions)", hoverinfo="skip")  # fmt: skip
    for column in [c for c in table.columns if c.startswith("fold_")]:
        fig.add_scatter(x=x, y=table[column], mode="lines+markers", line=dict(width=1, dash="dot"),
                        name=column.replace("_", " "), opacity=0.6)  # fmt: skip
    fig.add_scatter(x=x, y=table["accuracy"], mode="lines+markers", line=dict(width=3, color="rgb(31,119,180)"),
                    name="pooled accuracy")  # fmt: skip
    fig.update_layout(title=title, xaxis_title="classic augmentation: training samples", yaxis_title="accuracy",
                      yaxis_range=[0, 1], height=420)  # fmt: skip
    return fig


def training_curves(history: pd.DataFrame, fold: int = 0, repeat: int = 0) -> go.Figure:
    """Training loss per epoch of each group's model in one fold (from ``ClassicSweep.history``)."""
    part = history[(history["fold"] == fold) & (history["repeat"] == repeat)]
    fig = px.line(part, x="steps", y="loss", color="group", markers=False,
                  title=f"Training loss, fold {fold} (one line per classic group)")  # fmt: skip
    fig.update_layout(xaxis_title="optimiser steps", yaxis_title="cross-entropy", height=380)
    return fig


def confusion_heatmap(matrix: np.ndarray, class_names: tuple[str, ...], title: str = "Confusion matrix") -> go.Figure:
    """Counts with rows = true class, columns = predicted class, and the row percentages on hover."""
    matrix = np.asarray(matrix)
    row_share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig = go.Figure(
        go.Heatmap(
            z=row_share, x=list(class_names), y=list(class_names), text=matrix, texttemplate="%{text}",
            colorscale="Blues", zmin=0, zmax=1, colorbar_title="row share",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text} lesions (%{z:.0%})<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=380, width=460)
    fig.update_yaxes(autorange="reversed")
    return fig

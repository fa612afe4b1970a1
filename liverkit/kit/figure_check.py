"""Can a student read this figure at its default size? Checked from the plotly layout alone, no browser needed.

Plotly places every subplot, title and legend from numbers in the figure's layout (sizes, margins, axis domains,
font sizes). :func:`legibility_problems` redoes that arithmetic, with plotly's defaults where the layout sets
nothing and an estimate of text widths, and lists what a reader would struggle with: a subplot smaller than
:data:`MIN_SUBPLOT_PX`, lesion images shown smaller than :data:`MIN_ROI_PX`, an axis with tick labels but no title,
titles or tick labels that overlap, a title wider than the figure, a legend that squeezes the plot or does not fit.
The tests run it on every figure the notebooks show (tests/test_figures.py); anyone making a figure can too.

The estimates are deliberately simple (a character is :data:`CHAR_WIDTH` of the font size wide): they flag a
strip 20 px high or two titles drawn over each other, not a label a few pixels too long.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

DEFAULT_WIDTH_PX = 900
"""Width of a figure without its own: the output area of a notebook in a JupyterLab window on a laptop."""
DEFAULT_HEIGHT_PX = 450
"""Plotly's height of a figure without its own."""
DEFAULT_MARGIN = {"l": 80, "r": 80, "t": 100, "b": 80}
"""Plotly's margins."""
MIN_SUBPLOT_PX = 100
"""The smallest subplot (width and height, pixels) a reader can read."""
MIN_ROI_PX = 48
"""The smallest on-screen size of one 64-pixel lesion image (0.75 screen pixels per image pixel)."""
MAX_LEGEND_SHARE = 0.35
"""A legend beside the plot may take at most this share of the figure's width."""
LEGEND_ROW = 2.4
"""Height of one legend entry, as a multiple of the legend's font size (29 px at plotly's 12 px font)."""
CHAR_WIDTH = 0.55
"""Width of an average character, as a share of the font size."""
LINE_HEIGHT = 1.3
"""Height of a line of text, as a multiple of the font size."""
_TITLE_FONT, _SUBPLOT_TITLE_FONT, _TICK_FONT, _AXIS_TITLE_FONT, _LEGEND_FONT = 17, 16, 12, 14, 12
_LEGEND_TYPES = {"scatter", "scattergl", "bar", "box", "violin", "histogram", "pie"}
_COLORBAR_PX = 100


@dataclass(frozen=True)
class Box:
    """A rectangle on the figure in pixels, from the top left corner; ``what`` names it in messages."""

    what: str
    left: float
    top: float
    right: float
    bottom: float

    def overlaps(self, other: Box) -> bool:
        """True when the two rectangles share more than a pixel each way."""
        return min(self.right, other.right) - max(self.left, other.left) > 1 and (
            min(self.bottom, other.bottom) - max(self.top, other.top) > 1
        )


@dataclass(frozen=True)
class Canvas:
    """The figure's size, and the plotting area left inside margins, legend and colour bar (pixels)."""

    width: float
    height: float
    left: float
    top: float
    plot_width: float
    plot_height: float

    def x_px(self, paper_x: float) -> float:
        """A horizontal paper coordinate (0 = left of the plotting area, 1 = right) in pixels."""
        return self.left + paper_x * self.plot_width

    def y_px(self, paper_y: float) -> float:
        """A vertical paper coordinate (0 = bottom of the plotting area, 1 = top) in pixels from the top."""
        return self.top + (1 - paper_y) * self.plot_height


def legibility_problems(figure: go.Figure | dict, name: str = "figure") -> list[str]:
    """What would make ``figure`` hard to read at its default size, one sentence each; empty when nothing.

    Args:
        figure: a plotly figure, or its dict (e.g. a notebook output's ``application/vnd.plotly.v1+json``).
        name: how the messages name the figure (e.g. the notebook and cell).
    """
    fig = figure.to_dict() if isinstance(figure, go.Figure) else figure
    layout, traces = fig.get("layout", {}), fig.get("data", [])
    problems = _legend_problems(layout, traces)
    canvas = _canvas(layout, traces)
    problems += _subplot_problems(canvas, layout, traces)
    problems += _axis_title_problems(layout, traces)
    problems += _tick_problems(canvas, layout, traces)
    problems += _overlap_problems(canvas, layout, traces)
    return [f"{name}: {problem}" for problem in problems]


# ---------------------------------------------------------------------------------------------- text and canvas
def text_lines(text: Any) -> list[str]:
    """The lines of a plotly text as shown: ``<br>`` breaks lines, other tags and entities take no room."""
    plain = re.sub(r"<br\s*/?>", "\n", str(text or ""))
    plain = re.sub(r"<[^>]+>", "", plain)
    plain = re.sub(r"&[a-z#0-9]+;", "x", plain)
    return plain.split("\n") if plain else []


def text_size(text: Any, font_px: float) -> tuple[float, float]:
    """Estimated (width, height) in pixels of a plotly text at ``font_px``."""
    lines = text_lines(text)
    if not lines:
        return 0.0, 0.0
    return max(len(line) for line in lines) * font_px * CHAR_WIDTH, len(lines) * font_px * LINE_HEIGHT


def _title_text(title: Any) -> str:
    return title.get("text", "") if isinstance(title, dict) else str(title or "")


def _legend_entries(layout: dict, traces: list[dict]) -> list[str]:
    """The names the legend lists (plotly shows a legend for two or more such traces, or one marked to show)."""
    entries = [
        str(t.get("name", ""))
        for t in traces
        if t.get("showlegend", t.get("type", "scatter") in _LEGEND_TYPES) is not False
        and (t.get("type", "scatter") in _LEGEND_TYPES or t.get("showlegend"))
    ]
    shown = layout.get("showlegend", len(entries) > 1 or any(t.get("showlegend") for t in traces))
    return entries if shown else []


def _legend_beside(layout: dict) -> bool:
    legend = layout.get("legend", {})
    return legend.get("orientation", "v") == "v" and legend.get("x", 1.02) >= 1.0


def _legend_width(layout: dict, traces: list[dict]) -> float:
    """Pixels a vertical legend beside the plot takes: symbol, the longest entry or its title, padding."""
    entries = _legend_entries(layout, traces)
    if not entries or not _legend_beside(layout):
        return 0.0
    title = _title_text(layout.get("legend", {}).get("title", ""))
    longest = max(text_size(text, _LEGEND_FONT)[0] for text in [*entries, title])
    return longest + 50


def _canvas(layout: dict, traces: list[dict]) -> Canvas:
    width = float(layout.get("width") or DEFAULT_WIDTH_PX)
    height = float(layout.get("height") or DEFAULT_HEIGHT_PX)
    margin = DEFAULT_MARGIN | {k: v for k, v in layout.get("margin", {}).items() if k in DEFAULT_MARGIN}
    colorbar = _COLORBAR_PX if any(_shows_scale(t, layout) for t in traces) else 0
    right = max(margin["r"], _legend_width(layout, traces) + 10, colorbar)
    return Canvas(
        width=width,
        height=height,
        left=margin["l"],
        top=margin["t"],
        plot_width=width - margin["l"] - right,
        plot_height=height - margin["t"] - margin["b"],
    )


def _shows_scale(trace: dict, layout: dict) -> bool:
    """Does this trace draw a colour bar (heatmaps do unless told not to; a shared colour axis may)?"""
    if "coloraxis" in trace:
        axis = layout.get(trace["coloraxis"], {})
        return axis.get("showscale", True) is not False
    return trace.get("type") in {"heatmap", "contour", "histogram2d"} and trace.get("showscale", True) is not False


# ---------------------------------------------------------------------------------------------- subplots
def _axis_key(ref: str, letter: str) -> str:
    """``"x2"`` -> ``"xaxis2"``; ``"x"`` -> ``"xaxis"``."""
    return f"{letter}axis{ref[1:]}"


def _subplots(layout: dict, traces: list[dict]) -> Iterator[tuple[str, str, list[dict]]]:
    """(x axis key, y axis key, its traces) for every subplot that holds a trace."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for trace in traces:
        if trace.get("type") in {"pie", "table", "indicator"}:
            continue
        key = (_axis_key(trace.get("xaxis", "x"), "x"), _axis_key(trace.get("yaxis", "y"), "y"))
        groups.setdefault(key, []).append(trace)
    for (x_key, y_key), members in groups.items():
        yield x_key, y_key, members


def _span(layout: dict, key: str) -> tuple[float, float]:
    low, high = layout.get(key, {}).get("domain", [0.0, 1.0])
    return float(low), float(high)


def _is_image(trace: dict, layout: dict, y_key: str) -> bool:
    """Images: plotly ``image`` traces, or heatmaps drawn with square pixels (one axis anchored to the other)."""
    x_key = _axis_key(trace.get("xaxis", "x"), "x")
    square = bool(layout.get(y_key, {}).get("scaleanchor") or layout.get(x_key, {}).get("scaleanchor"))
    return trace.get("type") == "image" or (trace.get("type") == "heatmap" and square)


def _png_size(source: str) -> tuple[int, int] | None:
    """(rows, columns) of a PNG data URI, from its header; None for anything else."""
    prefix = "data:image/png;base64,"
    if not source.startswith(prefix):
        return None
    header = base64.b64decode(source[len(prefix) : len(prefix) + 44])  # the PNG signature and its IHDR chunk
    width, height = struct.unpack(">II", header[16:24])
    return height, width


def _image_pixels(trace: dict) -> tuple[int, int]:
    """(rows, columns) of an image trace's picture or of a heatmap's z (64 x 64 when it cannot be read)."""
    if isinstance(trace.get("source"), str):
        return _png_size(trace["source"]) or (64, 64)
    z = trace.get("z")
    if z is None:
        return 64, 64
    if isinstance(z, dict):  # a binary-encoded array: {"dtype", "bdata", "shape": "r, c"}
        rows, cols = (int(v) for v in str(z.get("shape", "64, 64")).split(",")[:2])
        return rows, cols
    return len(z), len(z[0]) if len(z) else 0


def _subplot_problems(canvas: Canvas, layout: dict, traces: list[dict]) -> list[str]:
    problems = []
    if canvas.plot_width < MIN_SUBPLOT_PX or canvas.plot_height < MIN_SUBPLOT_PX:
        problems.append(f"the plotting area is {canvas.plot_width:.0f} x {canvas.plot_height:.0f} px")
    for x_key, y_key, members in _subplots(layout, traces):
        (x0, x1), (y0, y1) = _span(layout, x_key), _span(layout, y_key)
        width, height = (x1 - x0) * canvas.plot_width, (y1 - y0) * canvas.plot_height
        where = f"subplot {x_key}/{y_key}"
        images = [t for t in members if _is_image(t, layout, y_key)]
        if images:  # an image is as legible as its pixels are large, whatever its subplot's size
            rows, cols = _image_pixels(images[0])
            roi = 64 * min(width / max(cols, 1), height / max(rows, 1))
            if roi < MIN_ROI_PX:
                problems.append(f"{where} shows 64-pixel lesions at {roi:.0f} px (at least {MIN_ROI_PX})")
        elif width < MIN_SUBPLOT_PX or height < MIN_SUBPLOT_PX:
            problems.append(f"{where} is {width:.0f} x {height:.0f} px (at least {MIN_SUBPLOT_PX} each way)")
    return problems


# ---------------------------------------------------------------------------------------------- axes and ticks
def _needs_title(layout: dict, key: str, members: list[dict], y_key: str) -> bool:
    """An axis needs a title when it shows tick labels next to data that are not images."""
    axis = layout.get(key, {})
    if axis.get("visible") is False or axis.get("showticklabels") is False:
        return False
    return not all(_is_image(t, layout, y_key) for t in members)


def _axis_title_problems(layout: dict, traces: list[dict]) -> list[str]:
    problems = []
    for x_key, y_key, members in _subplots(layout, traces):
        for key in (x_key, y_key):
            if _needs_title(layout, key, members, y_key) and not _title_text(layout.get(key, {}).get("title")):
                problems.append(f"{key} shows tick labels but has no title")
    return sorted(set(problems))


def _tick_labels(layout: dict, key: str, members: list[dict]) -> list[str]:
    """Labels placed at explicit ticks, or the categories of a heatmap or bar axis (text axes)."""
    axis = layout.get(key, {})
    if axis.get("showticklabels") is False or axis.get("visible") is False:
        return []
    if axis.get("ticktext"):
        return [str(t) for t in axis["ticktext"]]
    letter = key[0]
    categories: list[str] = []
    for trace in members:
        values = trace.get(letter)
        if trace.get("type") in {"heatmap", "bar"} and isinstance(values, list) and values:
            if all(isinstance(v, str) for v in values):
                categories += [v for v in values if v not in categories]
    return categories


def _tick_problems(canvas: Canvas, layout: dict, traces: list[dict]) -> list[str]:
    problems = []
    for x_key, y_key, members in _subplots(layout, traces):
        (x0, x1), (y0, y1) = _span(layout, x_key), _span(layout, y_key)
        for key, span_px, along in (
            (x_key, (x1 - x0) * canvas.plot_width, 0),
            (y_key, (y1 - y0) * canvas.plot_height, 1),
        ):
            labels = _tick_labels(layout, key, members)
            if len(labels) < 2:
                continue
            room = span_px / len(labels)
            need = max(text_size(label, _TICK_FONT)[along] for label in labels)
            if need > room:
                problems.append(f"{key}'s {len(labels)} tick labels need {need:.0f} px each but have {room:.0f}")
    return problems


# ---------------------------------------------------------------------------------------------- overlaps
def _title_box(canvas: Canvas, layout: dict) -> Box | None:
    text = _title_text(layout.get("title"))
    if not text:
        return None
    title = layout.get("title", {}) if isinstance(layout.get("title"), dict) else {}
    width, height = text_size(text, title.get("font", {}).get("size", _TITLE_FONT))
    centred = title.get("x", 0.05) == 0.5 and title.get("xanchor", "auto") in {"auto", "center"}
    left = (canvas.width - width) / 2 if centred else canvas.width * title.get("x", 0.05)
    middle = canvas.top / 2  # plotly centres the title in the top margin
    return Box("the figure title", left, middle - height / 2, left + width, middle + height / 2)


def _annotation_boxes(canvas: Canvas, layout: dict) -> list[Box]:
    """Paper-placed annotations (subplot titles among them) as drawn: centred on x, standing on y."""
    boxes = []
    for note in layout.get("annotations", []):
        if note.get("xref", "paper") != "paper" or note.get("yref", "paper") != "paper" or not note.get("text"):
            continue
        width, height = text_size(note["text"], note.get("font", {}).get("size", _SUBPLOT_TITLE_FONT))
        x, y = canvas.x_px(float(note.get("x", 0.5))), canvas.y_px(float(note.get("y", 0.5)))
        left = {"left": x, "right": x - width}.get(note.get("xanchor", "center"), x - width / 2)
        top = {"bottom": y - height, "top": y}.get(note.get("yanchor", "middle"), y - height / 2)
        boxes.append(Box(f"annotation {text_lines(note['text'])[0]!r}", left, top, left + width, top + height))
    return boxes


def _x_title_boxes(canvas: Canvas, layout: dict, traces: list[dict]) -> list[Box]:
    """Each x axis title under its subplot, below one row of tick labels."""
    boxes = []
    for x_key, y_key, _ in _subplots(layout, traces):
        text = _title_text(layout.get(x_key, {}).get("title"))
        if not text:
            continue
        (x0, x1), (y0, _) = _span(layout, x_key), _span(layout, y_key)
        width, height = text_size(text, _AXIS_TITLE_FONT)
        ticks = 0 if layout.get(x_key, {}).get("showticklabels") is False else _TICK_FONT * LINE_HEIGHT + 8
        centre, top = canvas.x_px((x0 + x1) / 2), canvas.y_px(y0) + ticks + 4
        boxes.append(Box(f"{x_key}'s title", centre - width / 2, top, centre + width / 2, top + height))
    return boxes


def _overlap_problems(canvas: Canvas, layout: dict, traces: list[dict]) -> list[str]:
    boxes = _annotation_boxes(canvas, layout) + _x_title_boxes(canvas, layout, traces)
    title = _title_box(canvas, layout)
    problems = []
    if title is not None:
        if title.right - title.left > canvas.width:
            problems.append(f"the title is about {title.right - title.left:.0f} px wide, the figure {canvas.width:.0f}")
        boxes.insert(0, title)
    for i, first in enumerate(boxes):
        problems += [f"{first.what} overlaps {second.what}" for second in boxes[i + 1 :] if first.overlaps(second)]
    return problems


def _legend_problems(layout: dict, traces: list[dict]) -> list[str]:
    entries = _legend_entries(layout, traces)
    if not entries:
        return []
    width = float(layout.get("width") or DEFAULT_WIDTH_PX)
    height = float(layout.get("height") or DEFAULT_HEIGHT_PX)
    problems = []
    beside = _legend_width(layout, traces)
    if beside > MAX_LEGEND_SHARE * width:
        problems.append(f"the legend beside the plot takes {beside:.0f} of {width:.0f} px")
    rows = len(entries) if _legend_beside(layout) else 1
    below_top = height - layout.get("margin", {}).get("t", DEFAULT_MARGIN["t"])  # a legend hangs from the plot's top
    if rows * _LEGEND_FONT * LEGEND_ROW + 30 > below_top:  # plotly scrolls a taller legend; a picture cuts it off
        problems.append(f"the legend's {rows} entries do not fit the figure's {height:.0f} px height")
    return problems

"""Light files (issue 22, item 6): executed notebooks and the report sized for sharing.

The targets are for the quick profile: no executed notebook over 2 MB, the report under 5 MB (the README states the
measured sizes). The smoke run the tests make has no static pictures (``static_figures`` is off at smoke) and
smaller grids, so the checks here are what scales: what one image pixel of a figure costs, and a smoke budget per
notebook of half the quick one.

Where the bytes went (smoke run before this work: 03 1.9 MB, 04 1.5 MB, report 9.7 MB): images in plotly figures as
float32 arrays (base64 ``bdata``: 5.3 bytes a pixel), plotly.js inline (4.8 MB of the report), and with static
pictures on (quick) a PNG of the whole figure beside each of those arrays. Now the figures carry their images as
8-bit PNGs (plots.png_image, plots.image_mosaic), the report carries plotly.js gzipped, and a picture-only figure is
stored once.
"""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from liverkit.kit.notebook_runner import list_notebooks

MB = 1_000_000
SMOKE_BUDGET = 1 * MB
"""Bytes an executed smoke notebook may take: half the quick profile's 2 MB, which adds PNG copies and larger grids."""

BYTES_PER_PIXEL = 2.0
"""What one image pixel may cost inside a figure: an 8-bit PNG, base64-coded, costs 1.4 bytes at worst (noise) and
about 0.5 for a lesion; a float32 array costs 5.3."""

SMALL_FIGURE = 50_000
"""Bytes of images below which a figure is left alone (one 64 x 64 ROI as floats takes 22 kB)."""


def image_pixels_and_bytes(trace: dict) -> tuple[int, int]:
    """(image pixels, JSON bytes) of a plotly trace that draws an image: a 2-D heatmap of at least 32 x 32 values,
    or an image trace (its PNG ``source`` decoded for its size); (0, 0) for any other trace."""
    size = len(json.dumps(trace))
    if trace.get("type") == "image" and str(trace.get("source", "")).startswith("data:image/png;base64,"):
        picture = Image.open(io.BytesIO(base64.b64decode(trace["source"].split(",", 1)[1])))
        return picture.width * picture.height, size
    z = trace.get("z")
    if trace.get("type") != "heatmap" or z is None:
        return 0, 0
    shape = [int(n) for n in z["shape"].split(",")] if isinstance(z, dict) else list(np.shape(z))
    return (shape[0] * shape[1], size) if len(shape) == 2 and min(shape) >= 32 else (0, 0)


def figure_image_costs(path) -> list[tuple[str, float]]:
    """(cell id, bytes per image pixel) of every plotly output of an executed notebook that shows images (over
    :data:`SMALL_FIGURE` bytes of them)."""
    costs = []
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            figure = output.get("data", {}).get("application/vnd.plotly.v1+json")
            if figure:
                pixels, size = map(sum, zip(*[image_pixels_and_bytes(t) for t in figure["data"]], (0, 0), strict=False))
                if pixels and size > SMALL_FIGURE:
                    costs.append((cell.get("id"), size / pixels))
    return costs


def test_the_pixel_cost_is_measured_right():
    """Float heatmaps cost 5.3 bytes a pixel as plotly stores them, PNG images under 1.5: the yardstick itself."""
    import plotly.express as px
    import plotly.graph_objects as go

    image = np.random.default_rng(0).random((64, 96)).astype(np.float32)  # noise: the worst case for PNG
    floats = json.loads(go.Figure(go.Heatmap(z=image)).to_json())["data"][0]
    png = json.loads(px.imshow(image, binary_string=True, zmin=0, zmax=1).to_json())["data"][0]
    (pixels, float_bytes), (png_pixels, png_bytes) = image_pixels_and_bytes(floats), image_pixels_and_bytes(png)
    assert pixels == png_pixels == 64 * 96
    assert float_bytes / pixels > 5.0 and png_bytes / pixels < 1.5 < BYTES_PER_PIXEL


@pytest.mark.notebook
def test_images_in_figures_cost_at_most_two_bytes_a_pixel(smoke_run):
    costly = {
        (path.stem, cell): round(cost, 2)
        for path in list_notebooks(smoke_run.path / "notebooks")
        for cell, cost in figure_image_costs(path)
        if cost > BYTES_PER_PIXEL
    }
    assert costly == {}


@pytest.mark.notebook
@pytest.mark.parametrize("stem", [p.stem for p in list_notebooks()])
def test_executed_smoke_notebooks_stay_within_budget(smoke_run, stem):
    size = (smoke_run.path / "notebooks" / f"{stem}.ipynb").stat().st_size
    assert size <= SMOKE_BUDGET, f"{stem}: {size / MB:.2f} MB"

"""liverkit.kit.display and liverkit.progress: what saved notebooks show where no kernel runs."""

import base64
import importlib.util
import io
import sys

import ipywidgets
import nbformat
import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from helpers import BROWSER_MISSING, find_browser
from nbclient import NotebookClient
from PIL import Image

from liverkit import progress
from liverkit.errors import LiverkitError
from liverkit.kit import display


def has_static() -> bool:
    """kaleido and a browser for it, looked up when a test runs (a browser may be installed after import)."""
    return importlib.util.find_spec("kaleido") is not None and find_browser() is not None


@pytest.fixture
def static_pictures() -> None:
    """Skips, saying what to install, where PNG copies of figures cannot be made."""
    if importlib.util.find_spec("kaleido") is None:
        pytest.skip("kaleido is not installed: pip install 'liverkit[static]' (make setup does)")
    if find_browser() is None:
        pytest.skip(BROWSER_MISSING)


def _png_size(b64: str) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(b64))).size


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1400, 700), (1000, 500)), ((1400, None), (1000, None)), ((800, 600), (800, 600)), ((None, 400), (None, 400))],
)
def test_fit_width_shrinks_only_wide_figures_and_keeps_their_shape(size, expected):
    fig = go.Figure(layout={"width": size[0], "height": size[1]})
    assert display.fit_width(fig, max_px=1000) is fig
    assert (fig.layout.width, fig.layout.height) == expected


def test_fit_width_refuses_a_non_positive_width():
    with pytest.raises(LiverkitError, match="max_px"):
        display.fit_width(go.Figure(), max_px=0)


@pytest.mark.parametrize(
    "picture",
    [np.linspace(0, 1, 48 * 80).reshape(48, 80), np.zeros((48, 80, 3), np.uint8), Image.new("L", (80, 48))],
)
def test_widget_bundle_holds_the_live_view_a_picture_and_a_how_to_line(picture):
    slider = ipywidgets.IntSlider()
    bundle = display.widget_bundle(slider, picture)
    assert set(bundle) == {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == slider.model_id
    assert _png_size(bundle["image/png"]) == (80, 48)
    assert "JupyterLab" in bundle["text/plain"] and "run this cell" in bundle["text/plain"]
    hint = bundle["text/plain"]  # JupyterLab 4's ways to trust a notebook: it has no File > Trust Notebook
    assert "command palette" in hint and "Trust Notebook" in hint and "jupyter trust" in hint and "File >" not in hint


@pytest.mark.parametrize(
    ("picture", "message"),
    [(np.zeros((4, 4, 2)), "shape"), (np.full((4, 4), 2.0), r"\[0, 1\]"), (np.zeros((4, 4), np.int64), "uint8")],
)
def test_bad_picture_arrays_are_named(picture, message):
    with pytest.raises(LiverkitError, match=message):
        display.picture_png(picture)


def test_static_figures_off_says_why_and_leaves_plotly_alone(monkeypatch):
    before = pio.renderers.default
    monkeypatch.setitem(sys.modules, "kaleido", None)  # import kaleido now fails as if it were not installed
    assert display.static_figures() == (f"static pictures: off: kaleido is not installed; {display.STATIC_HOWTO}")
    assert display.static_figures(enabled=False).startswith("static pictures: off")
    assert pio.renderers.default == before


def test_static_renderer_draws_the_figure_at_its_layout_size(static_pictures):
    before = pio.renderers.default
    try:
        status = display.static_figures()
        assert status.startswith("static pictures: on (kaleido "), status
        assert pio.renderers.default.split("+")[-1] == display.STATIC_RENDERER
        assert "plotly_mimetype" not in pio.renderers.default.split("+")  # figure_bundle adds the plotly JSON itself
        fig = go.Figure(go.Scatter(y=[1, 3, 2]), layout={"width": 320, "height": 240})
        assert _png_size(display.widget_bundle(ipywidgets.Button(), fig)["image/png"]) == (320, 240)
    finally:
        display.static_figures(enabled=False)
    assert pio.renderers.default == before


def test_a_lean_png_is_smaller_and_looks_the_same():
    """Phantom lesions as kaleido draws a mosaic of them (RGBA, opaque, resampled), under an anti-aliased title band
    of a hundred more colours: 256 colours, no pixel visibly moved."""
    from liverkit.data.phantom import make_phantom
    from liverkit.kit.plots import mosaic

    lesions = make_phantom(seed=0, n_cyst=8, n_metastasis=8, n_hemangioma=8).images[:, 0]
    grey = Image.fromarray(np.round(mosaic(lesions, 8) * 255).astype(np.uint8)).resize((565, 212), Image.BILINEAR)
    rgb = np.repeat(np.asarray(grey)[..., None], 3, axis=2)
    fade = np.linspace(0, 1, rgb.shape[1])[:, None]
    rgb[:10] = np.round((1 - fade) * (42, 63, 95) + fade * 255).astype(np.uint8)  # plotly's title colour to white
    png = display.picture_png(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    lean = display.lean_png(png)
    assert len(lean) < 0.95 * len(png) and Image.open(io.BytesIO(lean)).mode == "P"
    error = np.abs(np.asarray(Image.open(io.BytesIO(lean)).convert("RGB"), dtype=int) - rgb)
    assert error.mean() < 0.5 and np.quantile(error, 0.99) <= 2, (error.mean(), np.quantile(error, 0.99))
    see_through = display.picture_png(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)]))
    assert display.lean_png(see_through) == see_through  # transparency is kept as it is


def _picture_figure() -> go.Figure:
    """A figure that only shows an image, as plotly express draws a mosaic of lesions (binary_string: a PNG), with
    nothing to show on hover."""
    import plotly.express as px

    image = px.imshow(np.linspace(0, 1, 64 * 96).reshape(64, 96), binary_string=True, zmin=0, zmax=1)
    return image.update_traces(hoverinfo="skip")


def test_a_picture_is_stored_once_as_png_and_a_chart_keeps_its_plotly_form():
    png = b"\x89PNG fake"
    picture = display.figure_bundle(_picture_figure().to_dict(), png)
    assert picture == {"image/png": base64.b64encode(png).decode("ascii")}  # no second copy of its pixels
    chart = go.Figure(go.Scatter(y=[1, 3, 2]), layout={"title": "a chart"})
    bundle = display.figure_bundle(chart.to_dict(), png)
    assert set(bundle) == {display.PLOTLY_MIMETYPE, "image/png"}
    assert bundle[display.PLOTLY_MIMETYPE]["layout"]["title"]["text"] == "a chart"
    mixed = go.Figure([*_picture_figure().data, go.Scatter(y=[1, 2])])
    assert display.is_picture(_picture_figure().to_dict()) and not display.is_picture(mixed.to_dict())
    hover = _picture_figure().update_traces(hoverinfo=None, hovertemplate="lesion 7, 31 mm<extra></extra>")
    assert not display.is_picture(hover.to_dict())  # an image that says something on hover stays interactive
    assert not display.is_picture(go.Figure().to_dict())  # nothing to show is not a picture


def test_with_static_pictures_a_picture_figure_is_one_png_at_its_layout_size(static_pictures):
    try:
        display.static_figures()
        fig = _picture_figure().update_layout(width=300, height=200)
        bundle = fig._repr_mimebundle_()
        assert set(bundle) == {"image/png"} and _png_size(bundle["image/png"]) == (300, 200)
        assert set(go.Figure(go.Bar(y=[1]))._repr_mimebundle_()) == {display.PLOTLY_MIMETYPE, "image/png"}
    finally:
        display.static_figures(enabled=False)


@pytest.mark.parametrize(("value", "headless"), [("1", True), ("0", False), ("", False)])
def test_progress_bar_is_plain_text_when_headless(monkeypatch, value, headless):
    monkeypatch.setenv(progress.HEADLESS_ENV, value)
    bar = progress.tqdm(range(3), disable=True)
    assert progress.is_headless() is headless
    assert (type(bar).__module__ == "tqdm.std") is headless


NOTEBOOK_CELLS = [
    "import numpy as np, ipywidgets, plotly.graph_objects as go\n"
    "from liverkit.kit.display import show_widget, static_figures\nfrom liverkit.progress import tqdm\n"
    "print(static_figures())",
    "go.Figure(go.Bar(y=[1, 2]), layout={'width': 300, 'height': 200})",
    "show_widget(ipywidgets.IntSlider(), np.zeros((30, 40)))",
    "for _ in tqdm(range(4), desc='steps'):\n    pass",
]


def test_a_headless_notebook_saves_pictures_and_text_bars(monkeypatch, tmp_path):
    """The outputs of a notebook executed as ``liverkit run`` does (no frontend, LIVERKIT_HEADLESS=1)."""
    monkeypatch.setenv(progress.HEADLESS_ENV, "1")  # the kernel inherits this process's environment
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    NotebookClient(nb, kernel_name="python3", timeout=300, coalesce_streams=True, resources={"metadata": {}}).execute()
    status, figure, widget, bar = (cell.outputs for cell in nb.cells)

    figure_data = figure[0]["data"]
    if has_static():
        assert status[0]["text"].startswith("static pictures: on")
        assert _png_size(figure_data["image/png"]) == (300, 200)
        assert "application/vnd.plotly.v1+json" in figure_data and "text/html" not in figure_data
    else:
        assert status[0]["text"].startswith("static pictures: off")
    assert len(widget) == 1 and _png_size(widget[0]["data"]["image/png"]) == (40, 30)
    assert widget[0]["data"]["text/plain"] == display.LIVE_HINT
    assert [o["name"] for o in bar] == ["stdout"] and "steps: 100%" in bar[0]["text"] and "\r" not in bar[0]["text"]


def test_widget_bar_labels_are_escaped_and_text_bars_are_not(monkeypatch):
    import io

    from liverkit import progress

    monkeypatch.setenv(progress.HEADLESS_ENV, "1")
    assert progress.tqdm(range(2), desc="benign <b>", file=io.StringIO()).desc == "benign <b>"
    monkeypatch.setenv(progress.HEADLESS_ENV, "0")
    monkeypatch.setattr(progress, "_draws_html", lambda: True)
    monkeypatch.setattr(progress, "auto_tqdm", progress.text_tqdm)
    assert progress.tqdm(range(2), desc="benign <b>", file=io.StringIO()).desc == "benign &lt;b&gt;"


def test_the_widest_kit_figures_fit_a_normal_window():
    import numpy as np

    from liverkit.kit import plots

    row = plots.image_row(np.zeros((12, 64, 64)), [str(i) for i in range(12)], "twelve")  # 1,440 px asked
    assert row.layout.width == 1000

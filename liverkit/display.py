"""Outputs that still show something where no kernel runs: GitHub, nbviewer, untrusted executed copies.

JupyterLab draws plotly figures and ipywidgets live, but a saved notebook opened elsewhere only shows what
its outputs carry as plain data. :func:`static_figures` makes every plotly figure carry a PNG beside its
interactive form; :func:`show_widget` shows a widget together with a picture of it and a line saying how to
get it live; :func:`fit_width` keeps wide figures inside a normal window. Used by every notebook's imports cell.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import io
import threading
from importlib.metadata import version
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import display
from PIL import Image
from plotly.io._base_renderers import MimetypeRenderer

from liverkit.errors import LiverkitError

STATIC_RENDERER = "liverkit_png"
"""Name of the plotly renderer that adds ``image/png`` to a figure's output."""

RENDER_TIMEOUT_S = 120.0
"""Seconds one picture may take (the browser's first start included) before the cell fails."""

LIVE_HINT = (
    "Interactive widget: open this notebook in JupyterLab and run the cell to use it "
    "(executed copies are untrusted: File > Trust Notebook)."
)

_HTML_RENDERERS = ("notebook", "notebook_connected")
_state: dict[str, Any] = {"renderer": None, "previous_default": None}


class KaleidoPngRenderer(MimetypeRenderer):
    """A plotly renderer that draws PNGs with one headless Chrome kept open for the whole session.

    kaleido starts a browser for every picture (several seconds each) unless it is kept open; this renderer
    keeps one ``kaleido.Kaleido`` on an event loop in a background thread. MathJax is off: kaleido would
    fetch it from a CDN, which hangs without internet.
    """

    def __init__(self) -> None:
        import kaleido

        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="liverkit-kaleido", daemon=True).start()
        self._kaleido = kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT_S, mathjax=False)
        self._run(self._kaleido.open())
        atexit.register(self.close)

    def _run(self, coroutine: Any) -> Any:
        """Run a coroutine on the browser's loop and wait for it, at most :data:`RENDER_TIMEOUT_S`."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=RENDER_TIMEOUT_S)

    def png(self, fig_dict: dict) -> bytes:
        """The figure as PNG bytes, at its layout size (kaleido's 700 x 500 when the layout has none)."""
        return self._run(self._kaleido.calc_fig(fig_dict, opts={"format": "png"}))

    def to_mimebundle(self, fig_dict: dict) -> dict[str, str]:
        """Plotly's renderer hook: the ``image/png`` entry of the figure's output."""
        return {"image/png": base64.b64encode(self.png(fig_dict)).decode("ascii")}

    def close(self) -> None:
        """Close the browser and stop the loop; safe to call twice."""
        if self._loop.is_running():
            self._run(self._kaleido.close())
            self._loop.call_soon_threadsafe(self._loop.stop)


def fit_width(fig: go.Figure, max_px: int = 1000) -> go.Figure:
    """Shrink a figure wider than ``max_px`` to that width, height scaled alike (panels keep their shape).

    A 1,400 px figure is cut off in a normal JupyterLab window. Figures without a set width already follow
    the window and are left alone. Changes ``fig`` in place and returns it, like plotly's ``update_layout``.
    """
    if max_px <= 0:
        raise LiverkitError(f"fit_width: max_px must be a positive number of pixels, got {max_px}.")
    width, height = fig.layout.width, fig.layout.height
    if width is None or width <= max_px:
        return fig
    scaled_height = None if height is None else round(height * max_px / width)
    return fig.update_layout(width=max_px, height=scaled_height)


def _find_chrome() -> str | None:
    """The Chrome/Chromium kaleido would use (``BROWSER_PATH``, kaleido's own download, then ``PATH``)."""
    from choreographer.browsers.chromium import Chromium

    return Chromium.find_browser(skip_local=False)


def _without_html(renderers: str) -> list[str]:
    """Plotly's renderer list minus the HTML ones: viewers pick HTML before PNG and GitHub drops its script."""
    return [name for name in renderers.split("+") if name and name not in _HTML_RENDERERS]


def static_figures(enabled: bool = True) -> str:
    """Make every plotly figure shown from now on also carry a PNG picture; returns a status line to print.

    The interactive output stays (``application/vnd.plotly.v1+json``, drawn by JupyterLab and VS Code);
    GitHub and nbviewer show the PNG. Needs the ``kaleido`` package and a Chrome/Chromium; without them, or
    with ``enabled=False``, figures are shown as before and the line says why. Never raises for a missing
    tool: pictures are a convenience, not a reason to stop a notebook.
    """
    if not enabled:
        _restore_renderers()
        return "static pictures: off (static_figures(enabled=False))"
    try:
        import kaleido  # noqa: F401 -- only: is it installed?
    except ImportError:
        return "static pictures: off: kaleido is not installed (pip install kaleido and a Chrome/Chromium)"
    chrome = _find_chrome()
    if chrome is None:
        return "static pictures: off: no Chrome/Chromium found (pip install kaleido and a Chrome/Chromium)"
    if _state["renderer"] is None:
        try:
            _state["renderer"] = KaleidoPngRenderer()
        except Exception as exc:  # noqa: BLE001 -- any browser failure turns pictures off; the line names it
            return f"static pictures: off: {chrome} did not start ({type(exc).__name__}: {exc})"
        pio.renderers[STATIC_RENDERER] = _state["renderer"]
    if _state["previous_default"] is None:
        _state["previous_default"] = pio.renderers.default
    names = _without_html(_state["previous_default"]) or ["plotly_mimetype"]
    pio.renderers.default = "+".join([*names, STATIC_RENDERER])
    return f"static pictures: on (kaleido {version('kaleido')}, {chrome})"


def static_on() -> bool:
    """Whether :func:`static_figures` is on: figures (and widgets' first views) carry PNG pictures."""
    return _state["previous_default"] is not None


def _restore_renderers() -> None:
    """Undo :func:`static_figures`: plotly's renderer list as it was; the browser stays open for a later call."""
    if _state["previous_default"] is not None:
        pio.renderers.default = _state["previous_default"]
        _state["previous_default"] = None


def picture_png(picture: Any) -> bytes:
    """PNG bytes of a PIL image, a numpy array (H x W, H x W x 3 or 4; floats in [0, 1] or uint8) or a plotly
    figure (needs :func:`static_figures` on)."""
    if isinstance(picture, go.Figure):
        if _state["renderer"] is None:
            raise LiverkitError(
                "a plotly figure as a picture needs static pictures: call liverkit.display.static_figures() "
                "first, or pass a PIL image or a numpy array."
            )
        return _state["renderer"].png(picture.to_dict())
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(_as_uint8(np.asarray(picture)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _as_uint8(array: np.ndarray) -> np.ndarray:
    """An image array as uint8: floats must lie in [0, 1] (the LesionSet convention)."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise LiverkitError(f"a picture array must be H x W, H x W x 3 or H x W x 4; got shape {array.shape}.")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating) or array.min() < 0 or array.max() > 1:
        raise LiverkitError(
            f"a picture array must be uint8, or floats in [0, 1]; got {array.dtype} in "
            f"[{array.min()}, {array.max()}]. Scale it to [0, 1] first."
        )
    return np.round(array * 255).astype(np.uint8)


def widget_bundle(widget: Any, picture: Any = None) -> dict[str, Any]:
    """The output :func:`show_widget` displays: the live view, a PNG of ``picture`` and a how-to line."""
    return with_picture(dict(widget._repr_mimebundle_()), picture)


def with_picture(bundle: dict[str, Any], picture: Any = None) -> dict[str, Any]:
    """A widget's mime bundle with the how-to line as its text and, when given, a PNG of ``picture``."""
    bundle = dict(bundle)
    bundle["text/plain"] = LIVE_HINT
    if picture is not None:
        bundle["image/png"] = base64.b64encode(picture_png(picture)).decode("ascii")
    return bundle


def show_widget(widget: Any, picture: Any = None) -> None:
    """Display an ipywidget as ONE output that JupyterLab draws live and GitHub/nbviewer show as ``picture``.

    ``picture`` is what the widget shows at first (e.g. its starting image grid) as a PIL image, a numpy
    array or a plotly figure; the plain-text line tells a reader of a saved copy how to get the widget live.
    """
    display(widget_bundle(widget, picture), raw=True)

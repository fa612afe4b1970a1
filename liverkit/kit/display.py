"""What notebooks show: outputs that also work where no kernel runs, kept light and quiet.

JupyterLab draws plotly figures and ipywidgets live, but a saved notebook opened elsewhere (GitHub, nbviewer, an
untrusted executed copy) only shows what its outputs carry as plain data. :func:`static_figures` makes every plotly
figure carry a PNG beside its interactive form; :func:`show_widget` shows a widget together with a picture of it and
a line saying how to get it live; :func:`fit_width` keeps wide figures inside a normal window. Quiet outputs:
:func:`short_errors` shows the kit's own errors as their message only, and :func:`note_summary` shows the notes of a
long results table once per kind instead of once per row. Used by every notebook's imports and setup cells.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import io
import re
import sys
import threading
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from IPython import get_ipython
from IPython.display import display
from PIL import Image
from plotly.io._base_renderers import MimetypeRenderer, PlotlyRenderer

from liverkit.errors import LiverkitError

STATIC_RENDERER = "liverkit_png"
"""Name of the plotly renderer that makes a figure's output with static pictures on (:func:`figure_bundle`)."""

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
"""A figure's interactive form in a notebook output."""

RENDER_TIMEOUT_S = 120.0
"""Seconds one picture may take (the browser's first start included) before the cell fails."""

STATIC_HOWTO = (
    "PNG copies of figures need the static extra (kaleido) and a Chrome/Chromium: make setup in a checkout, else "
    'pip install "liverkit[static] @ git+https://github.com/liverkit/liverkit"'
)
"""How to get static pictures, in the line :func:`static_figures` returns when kaleido is missing."""

LIVE_HINT = (
    "Interactive widget: open this notebook in JupyterLab and run this cell to use it. A saved copy shows its saved "
    "view only once trusted (JupyterLab 4: command palette, Ctrl+Shift+C, > Trust Notebook; or, in a terminal, "
    "jupyter trust NOTEBOOK.ipynb)."
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
        return lean_png(self._run(self._kaleido.calc_fig(fig_dict, opts={"format": "png"})))

    def to_mimebundle(self, fig_dict: dict) -> dict[str, Any]:
        """Plotly's renderer hook: the figure's whole output (:func:`figure_bundle`)."""
        return figure_bundle(fig_dict, self.png(fig_dict))

    def close(self) -> None:
        """Close the browser and stop the loop; safe to call twice."""
        if self._loop.is_running():
            self._run(self._kaleido.close())
            self._loop.call_soon_threadsafe(self._loop.stop)


def lean_png(png: bytes) -> bytes:
    """A figure's PNG as a 256-colour PNG (what pngquant makes) when the figure is opaque, else ``png`` as it is.

    kaleido draws RGBA on an opaque background. With its alpha channel dropped and its colours reduced to 256
    (median cut, no dithering) a figure's PNG takes 40-70% fewer bytes (notebook 03's quick figures: a mosaic of 48
    lesions 270 -> 161 kB, a chart 90 -> 30 kB), and the picture does not visibly change: on those figures the mean
    error is 0.01-0.1 of 255 levels and 99.9% of the pixels are within 2 levels (only the edges of anti-aliased
    lines and letters move more).
    """
    image = Image.open(io.BytesIO(png))
    if image.mode != "RGBA" or image.getchannel("A").getextrema() != (255, 255):
        return png
    palette = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    return buffer.getvalue() if buffer.tell() < len(png) else png


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


def is_picture(fig_dict: dict) -> bool:
    """Whether a figure is only a picture: every trace an ``image`` trace that shows nothing on hover (``hoverinfo``
    ``"skip"`` or ``"none"``), such as a mosaic of ROIs. An image that says something on hover (a lesion's id, say)
    keeps its interactive form."""
    traces = fig_dict.get("data") or []
    return bool(traces) and all(t.get("type") == "image" and t.get("hoverinfo") in ("skip", "none") for t in traces)


def figure_bundle(fig_dict: dict, png: bytes) -> dict[str, Any]:
    """A figure's output with static pictures on: its interactive form and ``png`` for viewers without plotly.js;
    a picture (:func:`is_picture`) as ``png`` alone.

    A picture is thus stored once: held both as plotly JSON (whose image is itself a PNG) and as the PNG of the
    whole figure, a mosaic of lesions would carry its pixels twice, for a zoom that a picture of 64 x 64 lesions
    hardly needs. Charts, maps and images with hover text keep their interactive form (hover, zoom, legend).
    """
    bundle = {"image/png": base64.b64encode(png).decode("ascii")}
    if is_picture(fig_dict):
        return bundle
    return pio.renderers["plotly_mimetype"].to_mimebundle(fig_dict) | bundle


def _other_renderers(renderers: str) -> list[str]:
    """Plotly's renderer list minus the HTML ones (viewers pick HTML before PNG, and GitHub drops its script) and
    the plotly-JSON ones (:func:`figure_bundle` adds that form itself, where it is wanted)."""
    names = [name for name in renderers.split("+") if name and name not in _HTML_RENDERERS]
    return [name for name in names if not isinstance(pio.renderers[name], PlotlyRenderer)]


def static_figures(enabled: bool = True) -> str:
    """Make every plotly figure shown from now on also carry a PNG picture; returns a status line to print.

    The interactive output stays (``application/vnd.plotly.v1+json``, drawn by JupyterLab and VS Code);
    GitHub and nbviewer show the PNG. A figure that is only a picture (:func:`is_picture`) is stored as its PNG
    alone (:func:`figure_bundle`). Needs ``kaleido`` (the ``static`` extra) and a Chrome/Chromium; without them, or
    with ``enabled=False``, figures are shown as before and the line says why. Never raises for a missing
    tool: pictures are a convenience, not a reason to stop a notebook.
    """
    if not enabled:
        _restore_renderers()
        return "static pictures: off (static_figures(enabled=False))"
    try:
        import kaleido  # noqa: F401 -- only: is it installed?
    except ImportError:
        return f"static pictures: off: kaleido is not installed; {STATIC_HOWTO}"
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
    pio.renderers.default = "+".join([*_other_renderers(_state["previous_default"]), STATIC_RENDERER])
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
                "a plotly figure as a picture needs static pictures: call liverkit.kit.display.static_figures() "
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


def short_errors(enabled: bool = True) -> None:
    """Show a :class:`~liverkit.errors.LiverkitError` in this notebook as its message only.

    A LiverkitError is a user mistake whose message names the file, field or value and says what to do; the 15
    frames of library code above it only hide that message. The setup cell of every notebook calls this: IPython's
    custom exception handler then shows ``LiverkitError: <message>`` and nothing else (``%tb`` in the next cell
    shows the whole traceback; ``short_errors(False)`` brings tracebacks back). The cell still fails as before: the
    error goes out through IPython's normal error path, so papermill stops the run and names the notebook and cell.
    Other exceptions (bugs) keep their full traceback. Outside IPython nothing changes.
    """
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((LiverkitError,) if enabled else (), _message_only)


def _message_only(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> None:
    """IPython's custom exception handler: send the error as ``<type>: <message>``, without the frames.

    ``_showtraceback`` is the call through which IPython itself sends every error (ipykernel turns it into the
    ``error`` output that JupyterLab shows and papermill fails on); only the traceback lines differ. The exception is
    kept in ``sys.last_*`` as for any uncaught error, so ``%tb`` can show the frames.
    """
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb
    sys.last_exc = value
    shell._showtraceback(etype, value, shell.InteractiveTB.get_exception_only(etype, value))


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def note_summary(table: pd.DataFrame, note: str = "note", where: Sequence[str] = ("metric",)) -> str:
    """Each kind of note in a long results table once, one line each: how many rows carry it, and where.

    A note such as ``KID subset size 17`` repeats on every row it applies to, each time with its own numbers; shown
    row by row the notes bury the results, and pandas cuts them off at 50 characters (notebook 07: 48 rows ending in
    ``; ...``). Here notes that differ only in their numbers are one kind, shown whole with each number's range::

        48 of 252 rows carry a note; each kind once:
        36 rows (kid_mean, kid_std): KID subset size 17–61

    Notes joined with ``"; "`` count separately; ``where`` names the columns whose values each line lists.
    """
    missing = sorted({note, *where} - set(table.columns))
    if missing:
        raise LiverkitError(f"note_summary: the table has no column(s) {missing}; it has {list(table.columns)}.")
    notes = table[note].fillna("").astype(str)
    parts = table[list(where)].assign(_note=notes.str.split("; ")).reset_index(drop=True).explode("_note")
    parts = parts[parts["_note"].str.strip() != ""]
    lines = [f"{(notes != '').sum()} of {len(table)} rows carry a note; each kind once:"]
    kinds = parts["_note"].map(lambda text: _NUMBER.sub("\0", text)).to_numpy()  # \0: where a number was
    for kind, group in parts.groupby(kinds, sort=False):
        numbers = [[float(n) for n in _NUMBER.findall(text)] for text in group["_note"]]
        text = kind
        for column in zip(*numbers, strict=True):
            text = text.replace("\0", _number_range(column), 1)
        places = "; ".join(", ".join(sorted(map(str, set(group[c])))) for c in where)
        lines.append(f"{len(group)} rows ({places}): {text}")
    return "\n".join(lines)


def _number_range(values: Sequence[float]) -> str:
    """``17`` when all values are 17, ``17–61`` for values from 17 to 61 (integers without a decimal point)."""
    low, high = min(values), max(values)
    show = [f"{v:g}" for v in (low, high)]
    return show[0] if low == high else f"{show[0]}–{show[1]}"

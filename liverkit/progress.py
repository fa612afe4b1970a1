"""Progress bars that read well both live in JupyterLab and in executed copies saved by papermill.

A widget bar (``tqdm.notebook``) needs a widget frontend to draw itself. Papermill runs the notebooks with
no frontend, so an executed copy keeps only a widget placeholder: a bar stuck at 0% or a line such as
``HBox(children=...)``. The kernel cannot see whether a frontend is listening, so ``liverkit run`` says so
through the environment: it sets ``LIVERKIT_HEADLESS=1`` for the kernels it starts, and :func:`tqdm` then
draws the plain-text bar, which is saved as ordinary text. Everywhere else it is ``tqdm.auto``: a widget in
JupyterLab, text in a terminal.
"""

from __future__ import annotations

import html
import os
import sys
from typing import Any

from tqdm import tqdm as text_tqdm
from tqdm.auto import tqdm as auto_tqdm

HEADLESS_ENV = "LIVERKIT_HEADLESS"
"""Environment variable that ``liverkit run`` sets to ``1`` for the notebooks it executes."""

HEADLESS_MININTERVAL = 5.0
"""Seconds between two redraws of a text bar in a headless run: fewer lines saved into the executed copy."""


def is_headless() -> bool:
    """True when no one watches live: ``LIVERKIT_HEADLESS`` is set to anything but empty or ``0``."""
    return os.environ.get(HEADLESS_ENV, "").strip() not in ("", "0")


def tqdm(*args: Any, **kwargs: Any) -> text_tqdm:
    """A progress bar, called exactly like ``tqdm.tqdm``: text when headless (see the module), else ``tqdm.auto``.

    The headless bar writes to stdout (stderr is shown on a red background) and redraws at most every
    :data:`HEADLESS_MININTERVAL` seconds unless the caller says otherwise; the choice is made at each call, so
    setting the variable after import works.
    """
    if is_headless():
        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("mininterval", HEADLESS_MININTERVAL)
        return text_tqdm(*args, **kwargs)
    if kwargs.get("desc") and _draws_html():
        kwargs["desc"] = html.escape(str(kwargs["desc"]))  # a widget bar's label is HTML: class names stay text
    return auto_tqdm(*args, **kwargs)


def _draws_html() -> bool:
    """Whether ``tqdm.auto`` resolved to the widget bar, whose description is an HTML label."""
    from tqdm.notebook import tqdm_notebook

    return issubclass(auto_tqdm, tqdm_notebook)

"""Lesion data: the LesionSet type, the phantom, the readers, the manifest and the patient-level folds.

- ``lesionset``: the one data type that travels through the whole kit.
- ``phantom``, ``phantom_config``, ``phantom_render``: the built-in CT lesion phantom.
- ``readers``: folders of images, NIfTI volumes with a table, MedMNIST files; ``imageops``: windowing and resizing.
- ``manifest``: the data sets the kit knows by name; ``folds``: patient-level stratified folds.

Notebooks: 01 (and every later notebook reads the data set and folds 01 saved).
May import: the top-level modules.
"""

import importlib
from typing import TYPE_CHECKING

from liverkit.data.lesionset import ROI_SIZE, LesionSet

if TYPE_CHECKING:  # for editors and type checkers; at run time see __getattr__
    from liverkit.data.manifest import load
    from liverkit.data.phantom import make_phantom
    from liverkit.data.phantom_config import CLASS_NAMES, PhantomConfig

_LAZY = {
    "load": "liverkit.data.manifest",
    "make_phantom": "liverkit.data.phantom",
    "CLASS_NAMES": "liverkit.data.phantom_config",
    "PhantomConfig": "liverkit.data.phantom_config",
}
"""Names imported on first use: their modules pull in torch, scipy and the readers, which importing
``liverkit.data.lesionset`` (the runner, the ``liverkit`` command) must not."""


def __getattr__(name: str):
    """Import a :data:`_LAZY` name's module when the name is first asked for (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'liverkit.data' has no attribute '{name}'")


def __dir__() -> list[str]:
    """The module's names with the lazy ones, for tab completion."""
    return sorted([*globals(), *_LAZY])


__all__ = ["CLASS_NAMES", "ROI_SIZE", "LesionSet", "PhantomConfig", "load", "make_phantom"]

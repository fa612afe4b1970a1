"""Lesion data: the LesionSet type, the phantom, the readers, the manifest and the patient-level folds."""

from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.data.manifest import load
from liverkit.data.phantom import make_phantom
from liverkit.data.phantom_config import CLASS_NAMES, PhantomConfig

__all__ = ["CLASS_NAMES", "ROI_SIZE", "LesionSet", "PhantomConfig", "load", "make_phantom"]

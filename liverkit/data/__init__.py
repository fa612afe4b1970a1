"""Lesion data: the LesionSet type, the phantom, the readers, the manifest and the patient-level folds."""

from liverkit.data.lesionset import ROI_SIZE, LesionSet

__all__ = ["ROI_SIZE", "LesionSet"]

"""Readers that turn a researcher's own data into a LesionSet (notebook 01).

- :func:`read_folder`: 2-D ROI files (PNG, TIFF, NPY, DICOM) listed in a CSV with labels and patients.
- :func:`read_medmnist`: a MedMNIST ``.npz`` archive (each image its own patient).
- :func:`read_nifti`: CT volumes with lesion masks (LiTS / Decathlon style), one ROI per lesion;
  :func:`list_nifti_lesions` shows the lesion numbering used by its table.

Every reader returns 64 x 64 ROIs in [0, 1], made with the same helpers as the phantom
(:mod:`liverkit.data.imageops`), and raises :class:`~liverkit.errors.LiverkitError` for mistakes in the data.
"""

from liverkit.data.readers.folder import read_folder
from liverkit.data.readers.medmnist import read_medmnist
from liverkit.data.readers.nifti import list_nifti_lesions, read_nifti

__all__ = ["list_nifti_lesions", "read_folder", "read_medmnist", "read_nifti"]

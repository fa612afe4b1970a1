"""Read a folder of 2-D lesion ROIs (PNG, TIFF, NPY or DICOM) listed in a CSV file (notebook 01).

The layout a researcher brings::

    my_lesions/
      labels.csv          path,label,patient_id,diameter_mm
      cyst/p01_a.png      cyst/p01_a.png,cyst,p01,12.5
      metastasis/p02.dcm  metastasis/p02.dcm,metastasis,p02,

Each file holds one lesion ROI, already cropped around the lesion (one axial slice). Every ROI goes through
the same steps as the phantom: intensities to [0, 1], colour to grey, bicubic resize to 64 x 64.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import tifffile
from PIL import Image, UnidentifiedImageError
from pydicom.errors import InvalidDicomError
from tqdm.auto import tqdm

from liverkit.data.imageops import LIVER_WINDOW_HU, resize_roi, to_grey, unit_range
from liverkit.data.imageops import window as apply_window  # the name `window` is read_folder's argument
from liverkit.data.lesionset import LesionSet
from liverkit.data.readers._common import encode_labels, line_of, read_table, require_filled, resolve_path
from liverkit.errors import LiverkitError

REQUIRED_COLUMNS = ("path", "label", "patient_id")
OPTIONAL_COLUMNS = ("diameter_mm",)


def read_folder(
    root: str | os.PathLike,
    labels_csv: str | os.PathLike = "labels.csv",
    class_names: Sequence[str] | None = None,
    window: tuple[float, float] | None = None,
) -> LesionSet:
    """Read the ROI files listed in a CSV into a LesionSet.

    Args:
        root: the folder holding the images; the CSV's ``path`` column is relative to it.
        labels_csv: the CSV file, relative to ``root`` or absolute. Columns ``path``, ``label`` (a class name),
            ``patient_id`` and optionally ``diameter_mm`` (an empty cell means unknown).
        class_names: the class order (label index k is ``class_names[k]``); None sorts the distinct labels.
            Every listed class must have at least one row.
        window: a CT window ``(low, high)`` in Hounsfield units. Given, PNG/TIFF/NPY pixels are taken as HU and
            windowed to [0, 1]; None scales integer pixels by their type's maximum (255 for 8-bit, 65535 for
            16-bit) and expects float pixels already in [0, 1]. DICOM is always converted to HU with
            RescaleSlope/RescaleIntercept and windowed (with ``LIVER_WINDOW_HU`` when None).

    Returns:
        A LesionSet with ids equal to the CSV paths and source ``"folder"``.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LiverkitError(
            f"folder '{root}' does not exist or is not a folder; give the folder that holds your ROI files and "
            f"'{labels_csv}'."
        )
    csv_path = resolve_path(root, labels_csv)
    table = read_table(csv_path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    for column in REQUIRED_COLUMNS:
        require_filled(table, column, csv_path)
    _check_unique_paths(table, csv_path)
    labels, names = encode_labels(table["label"].tolist(), class_names, csv_path)
    diameters = _diameters(table, csv_path)
    rois = [
        _read_roi(resolve_path(root, rel_path), window, where=f"CSV file '{csv_path}' line {line_of(row)}")
        for row, rel_path in enumerate(tqdm(table["path"], desc="reading ROIs", leave=False))
    ]
    return LesionSet(
        images=np.stack(rois)[:, None],
        labels=labels,
        class_names=names,
        patient_ids=table["patient_id"].to_numpy(),
        diameters_mm=diameters,
        ids=table["path"].to_numpy(),
        sources="folder",
    )


def _read_roi(path: Path, window_hu: tuple[float, float] | None, where: str = "") -> np.ndarray:
    """One ROI file as a 64 x 64 float32 image in [0, 1].

    Args:
        path: the image file; its extension picks the loader.
        window_hu: CT window for HU pixels, or None (see :func:`read_folder`).
        where: the CSV line that names the file, for error messages.
    """
    suffix = path.suffix.lower()
    if suffix not in _LOADERS:
        raise LiverkitError(
            f"'{path}' ({where}) has the unsupported extension '{path.suffix}'; "
            f"convert it to one of {sorted(_LOADERS)}."
        )
    if not path.is_file():
        raise LiverkitError(
            f"image file '{path}' ({where}) does not exist; fix the path column (paths are relative to the folder)."
        )
    pixels = _LOADERS[suffix](path)
    _check_finite(pixels, path)
    if suffix == ".dcm":
        unit = apply_window(pixels, window_hu or LIVER_WINDOW_HU)
    elif window_hu is not None:
        unit = apply_window(pixels, window_hu)
    else:
        unit = unit_range(pixels, source=str(path))
    return resize_roi(to_grey(unit, source=str(path)))


def _load_pil(path: Path) -> np.ndarray:
    """PNG pixels in their stored type (uint8 or uint16); palette images become RGBA, grey+alpha grey."""
    try:
        with Image.open(path) as image:
            if image.mode in ("P", "PA"):
                image = image.convert("RGBA")
            elif image.mode == "LA":
                image = image.convert("L")
            return np.asarray(image)
    except (UnidentifiedImageError, OSError) as exc:
        raise LiverkitError(f"image file '{path}' cannot be read as PNG ({exc}); re-export it.") from exc


def _load_tiff(path: Path) -> np.ndarray:
    """TIFF pixels in their stored type; a multi-page TIFF comes back 3-D and is refused later."""
    try:
        return np.asarray(tifffile.imread(path))
    except (ValueError, OSError) as exc:  # tifffile.TiffFileError and truncated data are ValueErrors
        raise LiverkitError(f"image file '{path}' cannot be read as TIFF ({exc}); re-export it.") from exc


def _load_npy(path: Path) -> np.ndarray:
    """A numpy array file, read without pickle (object arrays are refused)."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise LiverkitError(
            f"image file '{path}' cannot be read as a numeric .npy array ({exc}); save it with np.save."
        ) from exc


def _load_dicom_hu(path: Path) -> np.ndarray:
    """DICOM pixels in Hounsfield units: stored value x RescaleSlope + RescaleIntercept."""
    try:
        dataset = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError) as exc:
        raise LiverkitError(f"image file '{path}' cannot be read as DICOM ({exc}); re-export it.") from exc
    if "PixelData" not in dataset:
        raise LiverkitError(f"DICOM file '{path}' has no pixel data; list image files, not reports or DICOMDIRs.")
    try:
        stored = dataset.pixel_array
    except (ValueError, NotImplementedError, RuntimeError) as exc:
        raise LiverkitError(
            f"DICOM file '{path}': the pixel data cannot be decoded ({exc}); it may be corrupt or compressed "
            "with a codec that needs an extra package (pylibjpeg, gdcm). Export it uncompressed."
        ) from exc
    slope = float(dataset.get("RescaleSlope") or 1.0)  # absent or empty: stored values are HU already
    intercept = float(dataset.get("RescaleIntercept") or 0.0)
    return stored.astype(np.float32) * slope + intercept


_LOADERS: dict[str, Callable[[Path], np.ndarray]] = {
    ".png": _load_pil,
    ".tif": _load_tiff,
    ".tiff": _load_tiff,
    ".npy": _load_npy,
    ".dcm": _load_dicom_hu,
}


def _check_finite(pixels: np.ndarray, path: Path) -> None:
    """Refuse non-numeric arrays and images with NaN or inf pixels (windowing would pass them through)."""
    if not (np.issubdtype(pixels.dtype, np.number) or pixels.dtype == np.bool_):
        raise LiverkitError(f"image file '{path}' holds {pixels.dtype} values, not pixel numbers; re-export it.")
    if np.issubdtype(pixels.dtype, np.inexact) and not np.isfinite(pixels).all():
        raise LiverkitError(f"image file '{path}' contains NaN or inf pixels; fix or drop this file.")


def _check_unique_paths(table: pd.DataFrame, csv_path: Path) -> None:
    """Refuse a file listed twice (a lesion counted twice would leak between folds)."""
    first_line: dict[str, int] = {}
    for row, rel_path in enumerate(table["path"]):
        key = Path(rel_path).as_posix()
        if key in first_line:
            raise LiverkitError(
                f"CSV file '{csv_path}': path '{rel_path}' is listed twice (lines {first_line[key]} and "
                f"{line_of(row)}); list each ROI file once."
            )
        first_line[key] = line_of(row)


def _diameters(table: pd.DataFrame, csv_path: Path) -> np.ndarray:
    """The ``diameter_mm`` column as floats; NaN where the cell is empty or the column is absent."""
    if "diameter_mm" not in table.columns:
        return np.full(len(table), np.nan, dtype=np.float32)
    return np.array(
        [
            _diameter(text, f"CSV file '{csv_path}' line {line_of(row)}")
            for row, text in enumerate(table["diameter_mm"])
        ],
        dtype=np.float32,
    )


def _diameter(text: str, where: str) -> float:
    """One diameter cell: a positive number of millimetres, or empty for unknown."""
    if text == "":
        return math.nan
    try:
        value = float(text)
    except ValueError as exc:
        raise LiverkitError(
            f"{where}: diameter_mm '{text}' is not a number; give millimetres, or leave the cell empty if unknown."
        ) from exc
    if not (math.isfinite(value) and value > 0):
        raise LiverkitError(
            f"{where}: diameter_mm '{text}' must be a positive number of millimetres (empty if unknown)."
        )
    return value

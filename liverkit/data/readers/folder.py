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
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import tifffile
from PIL import Image, UnidentifiedImageError
from pydicom.errors import InvalidDicomError

from liverkit.data.imageops import LIVER_WINDOW_HU, pad_to_square, resize_roi, to_grey, unit_range
from liverkit.data.imageops import window as apply_window  # the name `window` is read_folder's argument
from liverkit.data.lesionset import LesionSet
from liverkit.data.readers.common import (
    encode_labels,
    line_of,
    read_table,
    require_filled,
    resolve_path,
    warn_blank_rois,
)
from liverkit.errors import LiverkitError, LiverkitWarning
from liverkit.io import path_inside
from liverkit.progress import tqdm

REQUIRED_COLUMNS = ("path", "label", "patient_id")
OPTIONAL_COLUMNS = ("diameter_mm",)


def read_folder(
    root: str | os.PathLike,
    labels_csv: str | os.PathLike = "labels.csv",
    class_names: Sequence[str] | None = None,
    window: tuple[float, float] | None = None,
    bit_depth: int | None = None,
    progress: bool = False,
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
        bit_depth: how many bits 16-bit integer pixels really use, e.g. 12 for CT stored in 16-bit PNGs (scaled by
            4095 instead of 65535, so they are not read near-black). None decides per file: a 16-bit image whose
            largest value fits in 12 bits is taken as 12-bit, with a warning naming the files.
        progress: show a progress bar while reading (off by default).

    Returns:
        A LesionSet with ids equal to the CSV paths and source ``"folder"``.

    Non-square images are padded to square with their border value (not stretched), and images smaller
    than 8 pixels, read as 12-bit, or all black / constant after reading give a ``LiverkitWarning`` naming the
    files. A path that leaves ``root`` (``../x.png``, ``/etc/x.png``) is refused.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LiverkitError(
            f"folder '{root}' does not exist or is not a folder; give the folder that holds your ROI files and "
            f"'{labels_csv}'."
        )
    if bit_depth not in (None, 8, 10, 12, 14, 16):
        raise LiverkitError(f"bit_depth must be 8, 10, 12, 14 or 16 (bits used by 16-bit pixels), got {bit_depth!r}.")
    csv_path = resolve_path(root, labels_csv)
    table = read_table(csv_path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    for column in REQUIRED_COLUMNS:
        require_filled(table, column, csv_path)
    _check_unique_paths(table, csv_path)
    labels, names = encode_labels(table["label"].tolist(), class_names, csv_path)
    diameters = _diameters(table, csv_path)
    notes: dict[str, list[str]] = {kind: [] for kind in _NOTES}
    rois = []
    for row, rel_path in enumerate(tqdm(table["path"], desc="reading ROIs", leave=False, disable=not progress)):
        where = f"CSV file '{csv_path}' line {line_of(row)}"
        rois.append(_read_roi(path_inside(root, rel_path, where), window, where, bit_depth, notes))
    _warn_notes(notes, csv_path)
    warn_blank_rois(np.stack(rois), table["path"].tolist(), f"folder '{root}'")
    return LesionSet(
        images=np.stack(rois)[:, None],
        labels=labels,
        class_names=names,
        patient_ids=table["patient_id"].to_numpy(),
        diameters_mm=diameters,
        ids=table["path"].to_numpy(),
        sources="folder",
    )


def _read_roi(
    path: Path,
    window_hu: tuple[float, float] | None,
    where: str = "",
    bit_depth: int | None = None,
    notes: dict[str, list[str]] | None = None,
) -> np.ndarray:
    """One ROI file as a 64 x 64 float32 image in [0, 1].

    Args:
        path: the image file; its extension picks the loader.
        window_hu: CT window for HU pixels, or None (see :func:`read_folder`).
        where: the CSV line that names the file, for error messages.
        bit_depth: bits used by 16-bit pixels (see :func:`read_folder`).
        notes: file names are added under the :data:`_NOTES` kinds that apply to this file (tiny, padded, 12-bit).
    """
    notes = notes if notes is not None else {kind: [] for kind in _NOTES}
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
    if pixels.size == 0:
        raise LiverkitError(
            f"image file '{path}' ({where}) has no pixels (shape {pixels.shape}); re-export the ROI or drop its row."
        )
    if suffix == ".dcm":
        unit = apply_window(pixels, window_hu or LIVER_WINDOW_HU)
    elif window_hu is not None:
        unit = apply_window(pixels, window_hu)
    else:
        unit = unit_range(_widen_12_bit(pixels, bit_depth, path, notes), source=str(path))
    grey = to_grey(unit, source=str(path))
    if min(grey.shape) < _TINY_PX:
        notes["tiny"].append(str(path))
    if grey.shape[0] != grey.shape[1]:
        notes["padded"].append(f"{path} ({grey.shape[0]} x {grey.shape[1]})")
        grey = pad_to_square(grey)
    return resize_roi(grey)


_TINY_PX = 8
"""Images with a side shorter than this hold too little of a lesion to be resized to 64 x 64 meaningfully."""

_NOTES = {
    "tiny": f"are smaller than {_TINY_PX} pixels on a side, so 64 x 64 ROIs of them are mostly interpolation",
    "padded": "are not square; they were padded to square with their border value (not stretched)",
    "12-bit": "are 16-bit with values that fit in 12 bits; they were scaled by 4095 (12-bit CT), not 65535. "
    "Pass bit_depth=16 (or 12) to choose for every file",
}
"""What each kind of note means, for the warning that lists the files."""


def _widen_12_bit(pixels: np.ndarray, bit_depth: int | None, path: Path, notes: dict[str, list[str]]) -> np.ndarray:
    """16-bit integer pixels that use only ``bit_depth`` bits, rescaled to the full 16-bit range for unit_range."""
    if pixels.dtype != np.uint16 or bit_depth == 16:
        return pixels
    if bit_depth is None:
        if pixels.max() > 4095:
            return pixels
        notes["12-bit"].append(str(path))
        bit_depth = 12
    top = 2**bit_depth - 1
    if pixels.max() > top:
        raise LiverkitError(
            f"image file '{path}' has 16-bit values up to {pixels.max()}, above {top} ({bit_depth}-bit); "
            "give the bit_depth its pixels really use."
        )
    return (pixels.astype(np.float64) * (65535 / top)).round().astype(np.uint16)


def _warn_notes(notes: dict[str, list[str]], csv_path: Path) -> None:
    """One LiverkitWarning per kind of note, naming the files."""
    for kind, files in notes.items():
        if files:
            warnings.warn(
                f"CSV file '{csv_path}': {len(files)} image(s) {_NOTES[kind]}: {files[:10]}"
                f"{' ...' if len(files) > 10 else ''}",
                LiverkitWarning,
                stacklevel=3,
            )


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

"""Read lesion ROIs from CT volumes with lesion masks (LiTS / Medical Segmentation Decathlon style; notebook 01).

The researcher brings NIfTI volumes, masks and a CSV that gives each lesion a class::

    volume,mask,label,patient_id,lesion
    volume-0.nii,segmentation-0.nii,metastasis,p0,        <- no lesion number: every lesion of this volume
    volume-1.nii,segmentation-1.nii,cyst,p1,1             <- only lesion 1 of this volume
    volume-1.nii,segmentation-1.nii,hemangioma,p1,2

Lesions are the 3-D connected components (26-connectivity) of the mask voxels whose value is in
``lesion_values`` (LiTS masks: 1 = liver, 2 = tumour, so use ``lesion_values=[2]``). They are numbered
1..L by decreasing voxel count; equal counts are ordered by their first voxel in C order of the reoriented
volume. :func:`list_nifti_lesions` prints that numbering so the ``lesion`` column can be filled in.

For each lesion the reader takes the axial slice where the lesion's area is largest, crops a square
centred on the lesion's bounding box on that slice, resamples it to square pixels, windows the HU to [0, 1]
and resizes it bicubically to 64 x 64. The ROI is laid out as a radiology viewer shows an axial slice:
anterior at the top, the patient's right on the left.
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nibabel.filebasedimages import ImageFileError
from scipy import ndimage

from liverkit.data.imageops import LIVER_WINDOW_HU, resize_roi
from liverkit.data.imageops import window as apply_window  # the name `window` is read_nifti's argument
from liverkit.data.lesionset import LesionSet
from liverkit.data.readers.common import (
    encode_labels,
    line_of,
    read_table,
    require_filled,
    warn_blank_rois,
)
from liverkit.errors import LiverkitError, LiverkitWarning
from liverkit.io import path_inside
from liverkit.progress import tqdm

REQUIRED_COLUMNS = ("volume", "mask", "label", "patient_id")
OPTIONAL_COLUMNS = ("lesion",)


@dataclass(frozen=True)
class _Lesion:
    """One connected lesion, in voxel indices of the volume reoriented to RAS (axis 2 axial)."""

    number: int  # 1 = largest
    voxels: int
    slice_index: int  # the axial slice where the lesion's area is largest (lowest slice on ties)
    centroid: tuple[float, float, float]
    diameter_mm: float  # equivalent-circle diameter of the lesion's area on that slice
    box: tuple[int, int, int, int]  # x_start, x_stop, y_start, y_stop of the lesion on that slice


@dataclass(frozen=True)
class _Scan:
    """A CT volume in HU, its voxel spacing in mm and its lesions, all in RAS orientation."""

    hu: np.ndarray
    spacing: tuple[float, float, float]
    lesions: list[_Lesion]


def read_nifti(
    table: str | os.PathLike,
    root: str | os.PathLike | None = None,
    lesion_values: Sequence[float] | float | None = None,
    margin: float = 0.5,
    window: tuple[float, float] = LIVER_WINDOW_HU,
    class_names: Sequence[str] | None = None,
    min_diameter_mm: float = 0.0,
    progress: bool = False,
) -> LesionSet:
    """Cut one 64 x 64 ROI per lesion out of NIfTI CT volumes, labelled by a CSV table.

    Args:
        table: CSV with columns ``volume``, ``mask``, ``label`` (class name), ``patient_id`` and optionally
            ``lesion`` (lesion number within the volume, see :func:`list_nifti_lesions`; empty or absent
            means the row's label applies to every lesion of that volume).
        root: the folder the ``volume`` and ``mask`` paths are relative to; default the table's folder. A path that
            leaves it (``../x.nii``, ``/data/x.nii``) is refused, as in :func:`~liverkit.data.readers.read_folder`.
        lesion_values: mask values that mark lesion voxels; None means any nonzero value.
            LiTS masks label liver 1 and tumour 2: use ``[2]``.
        margin: context around the lesion; the crop's side is ``(1 + 2 * margin)`` times the lesion's larger
            in-plane extent in mm (0.5 doubles it).
        window: CT window ``(low, high)`` in HU mapped to [0, 1].
        class_names: the class order; None sorts the distinct labels. Every listed class needs a row.
        min_diameter_mm: lesions with a smaller equivalent diameter are skipped, with a warning.
        progress: show a progress bar over the volumes (off by default).

    Returns:
        A LesionSet in table order (grouped by volume), ids ``"<volume stem>#<lesion>"``, source ``"nifti"``,
        and diameters = the equivalent-circle diameter of the lesion's area on its largest axial slice.
    """
    if not isinstance(margin, (int, float)) or not margin >= 0:
        raise LiverkitError(f"margin must be >= 0 (0.5 = crop twice the lesion's extent), got {margin!r}.")
    table_path = Path(table).expanduser()
    rows = read_table(table_path, REQUIRED_COLUMNS, OPTIONAL_COLUMNS)
    for column in REQUIRED_COLUMNS:
        require_filled(rows, column, table_path)
    labels, names = encode_labels(rows["label"].tolist(), class_names, table_path)
    numbers = _lesion_numbers(rows, table_path)
    base = table_path.parent if root is None else Path(root).expanduser()
    collector = _Collector(min_diameter_mm=float(min_diameter_mm))
    for (volume, mask), row_indices in tqdm(
        _rows_by_scan(rows).items(), desc="reading NIfTI", leave=False, disable=not progress
    ):
        where = f"table '{table_path}' line {line_of(row_indices[0])}"
        volume_path = _inside(base, volume, where, "volume", root)
        mask_path = _inside(base, mask, where, "mask", root)
        scan = _load_scan(volume_path, mask_path, lesion_values, where)
        stem = _nifti_stem(volume)
        for row in row_indices:
            where = f"table '{table_path}' line {line_of(row)}"
            for lesion in _lesions_of_row(scan, numbers[row], mask, where):
                lesion_id = f"{stem}#{lesion.number}"
                if collector.wants(lesion_id, lesion.diameter_mm, where):
                    roi = _crop_roi(scan, lesion, margin, window)
                    collector.add(roi, labels[row], rows["patient_id"].iat[row], lesion.diameter_mm, lesion_id)
    return collector.lesion_set(names)


def list_nifti_lesions(
    volume_path: str | os.PathLike,
    mask_path: str | os.PathLike,
    lesion_values: Sequence[float] | float | None = None,
) -> pd.DataFrame:
    """The lesions :func:`read_nifti` finds in one volume, numbered as it numbers them (1 = largest).

    Use it to fill in the table's ``lesion`` column. Voxel indices refer to the volume reoriented with
    ``nibabel.as_closest_canonical`` (RAS: axis 0 towards the patient's right, axis 2 axial, upwards).

    Args:
        volume_path: the CT volume (.nii or .nii.gz).
        mask_path: its lesion mask, same grid.
        lesion_values: mask values that mark lesion voxels; None means any nonzero value (LiTS tumour: ``[2]``).

    Returns:
        One row per lesion: ``lesion``, ``voxels``, ``largest_slice`` (axial index), ``centroid_x``,
        ``centroid_y``, ``centroid_z`` (voxel indices) and ``diameter_mm`` (equivalent-circle diameter on the
        largest slice).
    """
    scan = _load_scan(Path(volume_path).expanduser(), Path(mask_path).expanduser(), lesion_values, "list_nifti_lesions")
    return pd.DataFrame(
        [
            {
                "lesion": lesion.number,
                "voxels": lesion.voxels,
                "largest_slice": lesion.slice_index,
                "centroid_x": lesion.centroid[0],
                "centroid_y": lesion.centroid[1],
                "centroid_z": lesion.centroid[2],
                "diameter_mm": lesion.diameter_mm,
            }
            for lesion in scan.lesions
        ]
    )


# ---------------------------------------------------------------------------------------------- the table
def _lesion_numbers(rows: pd.DataFrame, table_path: Path) -> list[int | None]:
    """The ``lesion`` cell of each row as a number >= 1, or None (all lesions) where empty or absent."""
    if "lesion" not in rows.columns:
        return [None] * len(rows)
    return [
        _lesion_number(text, f"table '{table_path}' line {line_of(row)}") for row, text in enumerate(rows["lesion"])
    ]


def _lesion_number(text: str, where: str) -> int | None:
    """One ``lesion`` cell: empty, or a whole number >= 1."""
    if text == "":
        return None
    if not text.isdigit() or int(text) < 1:
        raise LiverkitError(
            f"{where}: lesion '{text}' must be a whole number >= 1 (1 = the largest lesion, see list_nifti_lesions), "
            "or empty for all lesions of the volume."
        )
    return int(text)


def _inside(base: Path, value: str, where: str, column: str, root: str | os.PathLike | None) -> Path:
    """A table cell's path under ``base``, refusing one that leaves it (the folder reader's rule, same helper)."""
    advice = "list volumes and masks relative to it (copy or link the files into it)"
    if root is None:
        advice += ", or pass root= the folder that holds them"
    root_name = "table's folder" if root is None else "root folder"
    return path_inside(base, value, f"{where}, column '{column}'", advice, root_name=root_name)


def _rows_by_scan(rows: pd.DataFrame) -> dict[tuple[str, str], list[int]]:
    """Row indices per (volume, mask) pair, in order of first appearance, so each volume is loaded once."""
    groups: dict[tuple[str, str], list[int]] = {}
    for row, (volume, mask) in enumerate(zip(rows["volume"], rows["mask"], strict=True)):
        groups.setdefault((volume, mask), []).append(row)
    return groups


def _nifti_stem(path: str) -> str:
    """The file name without ``.nii`` / ``.nii.gz``: ``"data/volume-3.nii.gz"`` -> ``"volume-3"``."""
    name = Path(path).name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _lesions_of_row(scan: _Scan, number: int | None, mask: str, where: str) -> list[_Lesion]:
    """All lesions of the scan (number None) or the one numbered ``number``."""
    if number is None:
        return scan.lesions
    if number > len(scan.lesions):
        raise LiverkitError(
            f"{where}: lesion {number} does not exist; mask '{mask}' has {len(scan.lesions)} lesion(s), numbered "
            "1 (largest) upwards. See list_nifti_lesions(volume, mask) for the numbering."
        )
    return [scan.lesions[number - 1]]


# ---------------------------------------------------------------------------------------------- volumes
def _load_scan(volume_path: Path, mask_path: Path, lesion_values: Sequence[float] | float | None, where: str) -> _Scan:
    """Load a volume and its mask in RAS orientation, check they match, and find the lesions."""
    hu, spacing = _load_canonical(volume_path, "volume", where)
    mask, mask_spacing = _load_canonical(mask_path, "mask", where)
    if hu.shape != mask.shape:
        raise LiverkitError(
            f"{where}: volume '{volume_path}' has shape {hu.shape} but mask '{mask_path}' has shape {mask.shape} "
            "(after reorienting both to RAS); the mask must be on the volume's voxel grid."
        )
    if not np.allclose(spacing, mask_spacing, rtol=1e-3, atol=1e-4):
        raise LiverkitError(
            f"{where}: volume '{volume_path}' has voxel spacing {_mm(spacing)} mm but mask '{mask_path}' has "
            f"{_mm(mask_spacing)} mm; resample the mask onto the volume's grid, or pair the right files."
        )
    for what, path, data in (("volume", volume_path, hu), ("mask", mask_path, mask)):
        _check_finite(data, f"{where}: {what} '{path}'", "-1000 HU (air)" if what == "volume" else "0")
    lesions = _find_lesions(mask, spacing, lesion_values)
    if not lesions:
        values = np.unique(mask)[:10].tolist()
        wanted = "nonzero" if lesion_values is None else f"in {list(np.atleast_1d(lesion_values))}"
        raise LiverkitError(
            f"{where}: mask '{mask_path}' has no lesion voxels (values {wanted}); its values are {values}. "
            "Set lesion_values to the mask value(s) of lesions (LiTS tumour: [2]), or drop this volume."
        )
    return _Scan(hu=hu, spacing=spacing, lesions=lesions)


def _check_finite(data: np.ndarray, what: str, fill: str) -> None:
    """Refuse NaN or inf voxels: windowing passes them through to the ROIs, and a mask reads NaN as lesion."""
    if np.issubdtype(data.dtype, np.inexact):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            raise LiverkitError(
                f"{what} has {bad} NaN or inf voxel(s); replace them with a real value (e.g. {fill}) and save the "
                "file again, or drop this row."
            )


def _mm(spacing: tuple[float, ...]) -> tuple[float, ...]:
    """Voxel spacing rounded for messages (NIfTI stores float32: 0.7 reads back as 0.699999988)."""
    return tuple(round(float(z), 4) for z in spacing)


def _load_canonical(path: Path, what: str, where: str) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A 3-D NIfTI image's data (scaled, e.g. to HU) and voxel spacing in mm, reoriented to RAS."""
    if not path.is_file():
        raise LiverkitError(
            f"{where}: {what} file '{path}' does not exist; fix the path in the table's '{what}' column."
        )
    try:
        image = nib.load(path)  # reads the header only
    except _NIFTI_ERRORS as exc:
        raise _unreadable(path, what, where, exc) from exc
    if len(image.shape) != 3:
        raise LiverkitError(
            f"{where}: {what} '{path}' has shape {image.shape}; expected one 3-D CT volume (x, y, z). "
            "Split 4-D files into one volume per file."
        )
    try:
        canonical = nib.as_closest_canonical(image)
        data = np.asanyarray(canonical.dataobj)  # reads and scales the voxels (e.g. to HU)
    except _NIFTI_ERRORS as exc:
        raise _unreadable(path, what, where, exc) from exc
    spacing = tuple(float(z) for z in canonical.header.get_zooms()[:3])
    return data, spacing  # type: ignore[return-value]


_NIFTI_ERRORS = (ImageFileError, OSError, EOFError, ValueError, zlib.error)
"""What nibabel raises for a file that is not NIfTI, truncated or badly compressed."""


def _unreadable(path: Path, what: str, where: str, exc: Exception) -> LiverkitError:
    return LiverkitError(f"{where}: {what} '{path}' cannot be read as NIfTI ({exc}); re-export it.")


def _find_lesions(
    mask: np.ndarray, spacing: tuple[float, float, float], lesion_values: Sequence[float] | float | None = None
) -> list[_Lesion]:
    """The 3-D connected lesions (26-connectivity) of a RAS-oriented mask, numbered 1..L by decreasing size.

    Args:
        mask: the mask volume, axis 2 axial.
        spacing: voxel size in mm along the three axes.
        lesion_values: mask values that count as lesion; None means any nonzero value.
    """
    selected = mask != 0 if lesion_values is None else np.isin(mask, np.atleast_1d(lesion_values))
    components, count = ndimage.label(selected, structure=np.ones((3, 3, 3), dtype=bool))
    boxes = ndimage.find_objects(components)
    voxels = np.bincount(components.ravel(), minlength=count + 1)[1:]
    first_voxel = [_first_voxel(components, box, k + 1) for k, box in enumerate(boxes)]
    order = np.lexsort((first_voxel, -voxels))  # by size, descending; ties by first voxel
    return [
        _describe(components[boxes[k]] == k + 1, boxes[k], number, spacing)
        for number, k in enumerate(order.tolist(), start=1)
    ]


def _first_voxel(components: np.ndarray, box: tuple[slice, ...], component: int) -> int:
    """Flat C-order index of the component's first voxel: it lies on the first plane of its bounding box."""
    first_plane = components[box][0] == component
    y, z = np.argwhere(first_plane)[0]
    index = (box[0].start, box[1].start + y, box[2].start + z)
    return int(np.ravel_multi_index(index, components.shape))


def _describe(inside: np.ndarray, box: tuple[slice, ...], number: int, spacing: tuple[float, float, float]) -> _Lesion:
    """Size, largest axial slice, centroid and equivalent diameter of one lesion (``inside``: its bounding box)."""
    offset = np.array([s.start for s in box])
    z = int(np.argmax(inside.sum(axis=(0, 1))))
    xs, ys = np.nonzero(inside[:, :, z])
    area_mm2 = len(xs) * spacing[0] * spacing[1]
    return _Lesion(
        number=number,
        voxels=int(inside.sum()),
        slice_index=int(offset[2] + z),
        centroid=tuple(float(c) for c in np.argwhere(inside).mean(axis=0) + offset),  # type: ignore[arg-type]
        diameter_mm=2.0 * math.sqrt(area_mm2 / math.pi),
        box=(
            int(offset[0] + xs.min()),
            int(offset[0] + xs.max() + 1),
            int(offset[1] + ys.min()),
            int(offset[1] + ys.max() + 1),
        ),
    )


def _crop_roi(scan: _Scan, lesion: _Lesion, margin: float, window_hu: tuple[float, float]) -> np.ndarray:
    """The lesion's square ROI on its largest slice, at square pixels, windowed and resized to 64 x 64.

    The crop's side is ``(1 + 2 * margin)`` times the lesion's larger extent in mm, sampled at the finer of
    the two in-plane spacings (linear interpolation); beyond the volume the edge voxels are repeated.
    Rows run from anterior to posterior and columns from the patient's right to left, as viewers show it.
    """
    sx, sy = scan.spacing[0], scan.spacing[1]
    x_start, x_stop, y_start, y_stop = lesion.box
    side_mm = (1 + 2 * margin) * max((x_stop - x_start) * sx, (y_stop - y_start) * sy)
    pixel_mm = min(sx, sy)
    n = max(1, math.ceil(side_mm / pixel_mm - 1e-6))
    offsets_mm = (np.arange(n) - (n - 1) / 2) * pixel_mm
    rows_y = (y_start + y_stop - 1) / 2 - offsets_mm / sy  # anterior (high y) first
    cols_x = (x_start + x_stop - 1) / 2 - offsets_mm / sx  # patient's right (high x) first
    grid_y, grid_x = np.meshgrid(rows_y, cols_x, indexing="ij")
    plane = scan.hu[:, :, lesion.slice_index].astype(np.float32)
    crop = ndimage.map_coordinates(plane, [grid_x, grid_y], order=1, mode="nearest")
    return resize_roi(apply_window(crop, window_hu))


# ---------------------------------------------------------------------------------------------- the result
@dataclass
class _Collector:
    """Gathers the ROIs of kept lesions; refuses a lesion listed twice and counts the small ones skipped."""

    min_diameter_mm: float
    images: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    patient_ids: list[str] = field(default_factory=list)
    diameters_mm: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    listed_at: dict[str, str] = field(default_factory=dict)

    def wants(self, lesion_id: str, diameter_mm: float, where: str) -> bool:
        """Whether to crop this lesion: False for one below ``min_diameter_mm``; an error for a repeat."""
        if lesion_id in self.listed_at:
            raise LiverkitError(
                f"{where}: lesion '{lesion_id}' was already listed ({self.listed_at[lesion_id]}); list each lesion "
                "once (a row with an empty 'lesion' covers all lesions of its volume; volume file names must differ)."
            )
        self.listed_at[lesion_id] = where
        if diameter_mm < self.min_diameter_mm:
            self.skipped.append(lesion_id)
            return False
        return True

    def add(self, roi: np.ndarray, label: int, patient_id: str, diameter_mm: float, lesion_id: str) -> None:
        """Keep one lesion's ROI and facts."""
        self.images.append(roi)
        self.labels.append(int(label))
        self.patient_ids.append(patient_id)
        self.diameters_mm.append(diameter_mm)
        self.ids.append(lesion_id)

    def lesion_set(self, class_names: tuple[str, ...]) -> LesionSet:
        """The kept lesions as a LesionSet, after warning about the skipped ones."""
        if self.skipped:
            warnings.warn(
                f"skipped {len(self.skipped)} lesion(s) smaller than min_diameter_mm={self.min_diameter_mm} "
                f"(equivalent diameter on the largest slice): {self.skipped[:10]}"
                f"{' ...' if len(self.skipped) > 10 else ''}",
                LiverkitWarning,
                stacklevel=3,
            )
        if not self.images:
            raise LiverkitError(
                f"all {len(self.skipped)} lesion(s) are smaller than min_diameter_mm={self.min_diameter_mm}; lower it."
            )
        warn_blank_rois(np.stack(self.images), self.ids, "read_nifti")
        return LesionSet(
            images=np.stack(self.images)[:, None],
            labels=np.array(self.labels, dtype=np.int64),
            class_names=class_names,
            patient_ids=self.patient_ids,
            diameters_mm=self.diameters_mm,
            ids=self.ids,
            sources="nifti",
        )

"""Read a MedMNIST ``.npz`` archive (e.g. BreastMNIST, PneumoniaMNIST) into a LesionSet (notebook 01).

MedMNIST stores each split as ``<split>_images`` (N x H x W grey or N x H x W x 3 RGB, uint8, H = W = 28,
64, 128 or 224) and ``<split>_labels`` (N x 1 integer class). The images are scaled to [0, 1] by /255,
made grey and bicubic-resized to 64 x 64 in batches, like every other source.

MedMNIST has no patient ids, so every image counts as its own patient; the reader warns about it because
the kit's patient-level folds then cannot keep one patient's images together.
"""

from __future__ import annotations

import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from liverkit.data.imageops import resize_rois, to_grey, unit_range
from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.data.readers.common import check_class_names, warn_blank_rois
from liverkit.errors import LiverkitError, LiverkitWarning
from liverkit.io import reading
from liverkit.progress import tqdm

SPLITS = ("train", "val", "test")
"""The split names MedMNIST uses."""

_PIXELS_PER_BATCH = 2**22
"""Resize this many input pixels at a time (about 32 MB as float64), so 224-pixel RGB sets fit in memory."""


def read_medmnist(
    path: str | os.PathLike,
    splits: Sequence[str] | str = SPLITS,
    class_names: Sequence[str] | None = None,
    progress: bool = False,
) -> LesionSet:
    """Read the chosen splits of a MedMNIST ``.npz`` file, in split order, into one LesionSet.

    Args:
        path: the ``.npz`` file (e.g. ``breastmnist.npz`` or ``breastmnist_128.npz``).
        splits: which of ``"train"``, ``"val"``, ``"test"`` to read (a single name is allowed).
        class_names: a name per label value (label k is ``class_names[k]``), e.g. from the ``label`` entry of
            ``medmnist.INFO``; None names them ``"class_0"`` .. ``"class_{K-1}"`` with K = largest label + 1.
        progress: show a progress bar while resizing (off by default: notebooks and logs stay clean).

    Returns:
        A LesionSet with source ``"medmnist"``, patient ids ``"<split>-<index>"`` (one patient per image),
        ids ``"<file stem>/<split>-<index>"`` and unknown (NaN) diameters.
    """
    path = Path(path).expanduser()
    splits = _checked_splits(splits)
    with _open_archive(path) as archive:
        parts = [_read_split(archive, split, path, progress) for split in splits]
    rois = np.concatenate([images for images, _ in parts])
    if len(rois) == 0:
        raise LiverkitError(f"'{path}' holds 0 images in split(s) {list(splits)}; choose splits that have images.")
    labels = np.concatenate([split_labels for _, split_labels in parts])
    counts = [len(split_labels) for _, split_labels in parts]
    patient_ids = [f"{split}-{i:05d}" for split, count in zip(splits, counts, strict=True) for i in range(count)]
    names = _class_names(class_names, labels, path)
    warnings.warn(
        f"{path.name}: MedMNIST has no patient ids, so each image is treated as its own patient "
        "(patient_id '<split>-<index>'); patient-level folds then equal image-level folds, and images of one "
        "patient may land in both training and test folds.",
        LiverkitWarning,
        stacklevel=2,
    )
    ids = [f"{path.stem}/{patient_id}" for patient_id in patient_ids]
    warn_blank_rois(rois, ids, f"'{path}'")
    return LesionSet(
        images=rois[:, None],
        labels=labels,
        class_names=names,
        patient_ids=patient_ids,
        diameters_mm=np.full(len(labels), np.nan, dtype=np.float32),
        ids=ids,
        sources="medmnist",
    )


def _checked_splits(splits: Sequence[str] | str) -> tuple[str, ...]:
    """The requested split names, refusing unknown ones and an empty list."""
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise LiverkitError(f"unknown MedMNIST split(s) {unknown or list(splits)}; choose from {list(SPLITS)}.")
    return splits


def _open_archive(path: Path) -> np.lib.npyio.NpzFile:
    """Open the ``.npz`` lazily (arrays are read on access), without pickle."""
    if not path.is_file():
        raise LiverkitError(
            f"MedMNIST file '{path}' does not exist; download it (e.g. breastmnist.npz) from https://medmnist.com, "
            "or list it in the data manifest with its url and md5 and fetch it with `liverkit data fetch NAME` "
            "(or liverkit.data.load(NAME, download=True))."
        )
    with reading(path, "the MedMNIST .npz archive", "download it again, or fix the manifest entry's path"):
        archive = np.load(path, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise LiverkitError(f"'{path}' holds a single array, not a MedMNIST .npz archive with train/val/test arrays.")
    return archive


def _read_split(
    archive: np.lib.npyio.NpzFile, split: str, path: Path, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One split as (N x 64 x 64 float32 ROIs in [0, 1], N int64 labels)."""
    images_key, labels_key = f"{split}_images", f"{split}_labels"
    missing = [key for key in (images_key, labels_key) if key not in archive.files]
    if missing:
        raise LiverkitError(
            f"'{path}' has no {missing} for split '{split}'; it holds {sorted(archive.files)}. {_split_hint(archive)}"
        )
    images = _array(archive, images_key, path)
    labels = _checked_labels(_array(archive, labels_key, path), len(images), f"'{path}' {labels_key}")
    _check_images(images, f"'{path}' {images_key}", _stated_size(path))
    return _to_rois(images, f"{path.name} {images_key}", progress), labels


def _split_hint(archive: np.lib.npyio.NpzFile) -> str:
    """What to do about a missing split: choose the splits the file has, or re-save a file that has none."""
    present = [s for s in SPLITS if f"{s}_images" in archive.files and f"{s}_labels" in archive.files]
    if present:
        return f"Choose the splits it has with splits={present}."
    return (
        "It has no split at all, so it is not a MedMNIST archive: those store <split>_images and <split>_labels "
        "(train_images, train_labels, ...). Save your arrays under those names, or use read_folder for image files."
    )


def _array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """Read one array from the archive, turning a damaged member into a LiverkitError."""
    try:
        return archive[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise LiverkitError(f"'{path}': array '{key}' is corrupt ({exc}); download the file again.") from exc


def _check_images(images: np.ndarray, where: str, stated_size: int | None = None) -> None:
    """Accept N x S x S (grey) and N x S x S x 3 (RGB) or x 1 pixel numbers; refuse 3-D MedMNIST volumes,
    non-square images (resizing would stretch them) and a size other than the one the file name states."""
    if images.ndim == 4 and images.shape[-1] not in (1, 3):
        raise LiverkitError(
            f"{where} has shape {images.shape}: a 3-D MedMNIST set (N x D x H x W volumes). "
            "The kit classifies 2-D ROIs; use a 2-D MedMNIST set, or export one slice per lesion and use read_folder."
        )
    if images.ndim not in (3, 4):
        raise LiverkitError(f"{where} has shape {images.shape}; expected N x H x W or N x H x W x 3 images.")
    if not (np.issubdtype(images.dtype, np.number) or images.dtype == np.bool_):
        raise LiverkitError(f"{where} holds {images.dtype} values, not pixel numbers; save the images as uint8.")
    height, width = images.shape[1:3]
    if height != width or height == 0:
        raise LiverkitError(
            f"{where} has shape {images.shape}: images of {height} x {width} pixels, but MedMNIST images are square "
            "(28, 64, 128 or 224 pixels a side); pad or crop them to square, or use read_folder, which pads."
        )
    if stated_size is not None and height != stated_size:
        raise LiverkitError(
            f"{where} holds {height} x {width} pixel images, but the file name says {stated_size} "
            f"(MedMNIST names files <set>_<size>.npz); fetch the {stated_size}-pixel file again, or rename this one."
        )


def _stated_size(path: Path) -> int | None:
    """The image size a MedMNIST file name states: ``breastmnist_64.npz`` -> 64; None without one."""
    match = re.search(r"_(64|128|224)$", path.stem)
    return int(match.group(1)) if match else None


def _checked_labels(labels: np.ndarray, n_images: int, where: str) -> np.ndarray:
    """Labels as a flat int64 array: one non-negative integer class per image (N or N x 1)."""
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise LiverkitError(
            f"{where} has {labels.shape[1]} columns: a multi-label set (like ChestMNIST), where an image can have "
            "several findings. The kit needs one class per lesion; choose a single-label MedMNIST set."
        )
    labels = labels.reshape(-1) if labels.ndim == 2 else labels
    if labels.ndim != 1 or len(labels) != n_images:
        raise LiverkitError(f"{where} has shape {labels.shape}; expected one label per image ({n_images} x 1).")
    if not np.issubdtype(labels.dtype, np.integer) or (labels.size and labels.min() < 0):
        raise LiverkitError(f"{where} must hold non-negative integer classes, got {labels.dtype} values.")
    return labels.astype(np.int64)


def _to_rois(images: np.ndarray, source: str, progress: bool = False) -> np.ndarray:
    """Scale by dtype (uint8: /255), convert to grey and resize to 64 x 64, a batch of images at a time."""
    n = len(images)
    batch = max(1, _PIXELS_PER_BATCH // max(1, images[0].size if n else 1))
    rois = np.empty((n, ROI_SIZE, ROI_SIZE), dtype=np.float32)
    for start in tqdm(range(0, n, batch), desc=f"resizing {source}", leave=False, disable=not progress):
        unit = unit_range(images[start : start + batch], source=source)
        if unit.ndim == 4:  # N x H x W x C: fold N into H so that one to_grey call converts the whole batch
            count, height, width, channels = unit.shape
            unit = to_grey(unit.reshape(count * height, width, channels), source=source).reshape(count, height, width)
        rois[start : start + batch] = resize_rois(unit)
    return rois


def _class_names(class_names: Sequence[str] | None, labels: np.ndarray, path: Path) -> tuple[str, ...]:
    """The given class names, checked to cover every label, or ``class_0`` .. ``class_{K-1}``."""
    n_classes = int(labels.max()) + 1 if labels.size else 1
    if class_names is None:
        return tuple(f"class_{k}" for k in range(n_classes))
    names = check_class_names(class_names)
    if len(names) < n_classes:
        raise LiverkitError(
            f"class_names has {len(names)} name(s) {list(names)}, but '{path}' has labels up to {n_classes - 1}; "
            f"give {n_classes} names, one per label value."
        )
    return names

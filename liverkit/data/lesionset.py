"""LesionSet: the one data type that travels through the whole kit (introduced in notebook 01).

A LesionSet holds lesion ROIs and what is known about each: class label, patient, diameter, where it came
from. Real lesions (phantom, readers) and synthetic ones (GAN samples) are both LesionSets, told apart by
their per-item ``sources``. Arrays are numpy on the host; :meth:`LesionSet.tensors` moves them to a device.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liverkit.errors import LiverkitError
from liverkit.io import atomic_write, reading

ROI_SIZE = 64
"""Height and width of every ROI, in pixels (the paper resizes each lesion ROI to 64 x 64)."""

_FORMAT_VERSION = 1

_PER_ITEM = ("labels", "patient_ids", "diameters_mm", "ids", "sources")
"""The fields with one entry per image."""


@dataclass(frozen=True, eq=False)
class LesionSet:
    """Lesion ROIs with labels and metadata, validated on construction.

    Args:
        images: float32 array, N x 1 x 64 x 64, values in [0, 1].
        labels: integer class index per item, in ``range(len(class_names))``.
        class_names: the class list; ``labels`` index into it.
        patient_ids: the patient each lesion belongs to (folds are split by patient).
        diameters_mm: lesion diameter in mm per item; NaN where unknown.
        ids: a unique id per item (e.g. ``"phantom-0007"`` or a file name).
        sources: where each item came from: ``"phantom"``, a reader name, or a generator name.
            A single string applies to every item.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    patient_ids: np.ndarray
    diameters_mm: np.ndarray
    ids: np.ndarray
    sources: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.images) if hasattr(self.images, "__len__") else -1
        if isinstance(self.sources, str) or self.sources is None:
            self._set("sources", np.full(max(n, 0), str(self.sources or "unknown")))
        self._set("images", np.asarray(self.images))
        self._set("labels", np.asarray(self.labels))
        self._set("class_names", tuple(str(c) for c in self.class_names))
        self._set("patient_ids", np.asarray(self.patient_ids).astype(str))
        self._set("diameters_mm", np.asarray(self.diameters_mm, dtype=np.float32))
        self._set("ids", np.asarray(self.ids).astype(str))
        self._set("sources", np.asarray(self.sources).astype(str))
        self._validate()

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        images = self.images
        if images.ndim != 4 or images.shape[1:] != (1, ROI_SIZE, ROI_SIZE):
            raise LiverkitError(
                f"LesionSet images must have shape N x 1 x {ROI_SIZE} x {ROI_SIZE}, got {images.shape}; "
                "resize ROIs with liverkit.data.imageops.resize_roi and add the channel axis."
            )
        if images.dtype != np.float32:
            raise LiverkitError(
                f"LesionSet images must be float32, got {images.dtype}; convert with .astype(np.float32)."
            )
        if not np.isfinite(images).all():
            bad = np.flatnonzero(~np.isfinite(images).reshape(len(images), -1).all(axis=1))
            raise LiverkitError(
                f"LesionSet images contain NaN or inf (items {bad[:5].tolist()}); clean the source images."
            )
        if images.size and (images.min() < 0.0 or images.max() > 1.0):
            raise LiverkitError(
                f"LesionSet images must lie in [0, 1], got [{images.min():.4g}, {images.max():.4g}]; "
                "window the intensities first (liverkit.data.imageops.window)."
            )
        self._validate_metadata(len(images))

    def _validate_metadata(self, n: int) -> None:
        for name in _PER_ITEM:
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise LiverkitError(
                    f"LesionSet field '{name}' must have one entry per image ({n}), got shape {arr.shape}; "
                    f"give {', '.join(_PER_ITEM)} one entry per lesion each, in the same order as the images."
                )
        if not np.issubdtype(self.labels.dtype, np.integer):
            raise LiverkitError(
                f"LesionSet labels must be integers, got dtype {self.labels.dtype}; give class indices "
                f"0..{len(self.class_names) - 1} into class_names."
            )
        if not self.class_names:
            raise LiverkitError("LesionSet class_names is empty; give at least one class name.")
        if len(set(self.class_names)) != len(self.class_names):
            raise LiverkitError(
                f"LesionSet class_names has duplicates: {list(self.class_names)}; list each class once."
            )
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            bad = sorted(set(self.labels[(self.labels < 0) | (self.labels >= len(self.class_names))].tolist()))
            raise LiverkitError(
                f"LesionSet labels {bad} are outside the class list {list(self.class_names)} "
                f"(valid: 0..{len(self.class_names) - 1}); fix those labels or add their classes to class_names."
            )
        if len(np.unique(self.ids)) != n:
            values, counts = np.unique(self.ids, return_counts=True)
            raise LiverkitError(
                f"LesionSet ids must be unique; repeated: {values[counts > 1][:5].tolist()}; "
                "give each lesion its own id."
            )
        bad = np.flatnonzero(np.isinf(self.diameters_mm) | (self.diameters_mm <= 0))  # NaN compares False: unknown
        if bad.size:
            raise LiverkitError(
                f"LesionSet diameters_mm must be positive, or NaN where unknown; items {bad[:5].tolist()} have "
                f"{self.diameters_mm[bad[:5]].tolist()}. Give millimetres > 0, or NaN for an unknown diameter."
            )

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}: {count}" for name, count in self.class_counts().items())
        sources = ", ".join(sorted(set(self.sources.tolist())))
        return f"LesionSet({len(self)} lesions, {len(self.patients)} patients; {counts}; source: {sources})"

    @property
    def has_diameters(self) -> bool:
        """Whether any lesion has a known diameter (MedMNIST and some folders have none: all NaN).

        Plots and captions use it to leave out "(nan mm)" and diameter axes; single entries may still be NaN.
        """
        return bool(np.isfinite(self.diameters_mm).any())

    @property
    def patients(self) -> np.ndarray:
        """The distinct patient ids, sorted."""
        return np.unique(self.patient_ids)

    def class_counts(self) -> dict[str, int]:
        """Number of items per class name, in class order (zero for an empty class)."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts, strict=True)}

    def summary(self):
        """A pandas table per class: lesions, patients, diameter median and range, mean intensity."""
        import pandas as pd

        rows = []
        for k, name in enumerate(self.class_names):
            sel = self.labels == k
            d = self.diameters_mm[sel]
            d = d[np.isfinite(d)]
            rows.append(
                {
                    "class": name,
                    "lesions": int(sel.sum()),
                    "patients": len(np.unique(self.patient_ids[sel])),
                    "diameter_median_mm": float(np.median(d)) if d.size else np.nan,
                    "diameter_min_mm": float(d.min()) if d.size else np.nan,
                    "diameter_max_mm": float(d.max()) if d.size else np.nan,
                    "mean_intensity": float(self.images[sel].mean()) if sel.any() else np.nan,
                }
            )
        return pd.DataFrame(rows).set_index("class")

    # ------------------------------------------------------------------ subsets
    def subset(self, index: Sequence[int] | np.ndarray) -> LesionSet:
        """The items at ``index`` (integer indices or a boolean mask), in that order."""
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise LiverkitError(f"boolean mask has shape {index.shape}, expected ({len(self)},).")
            index = np.flatnonzero(index)
        index = index.astype(np.int64, copy=False)
        if index.size and (index.min() < -len(self) or index.max() >= len(self)):
            raise LiverkitError(f"subset index out of range for a LesionSet of {len(self)} items.")
        return LesionSet(
            images=self.images[index],
            labels=self.labels[index],
            class_names=self.class_names,
            patient_ids=self.patient_ids[index],
            diameters_mm=self.diameters_mm[index],
            ids=self.ids[index],
            sources=self.sources[index],
        )

    def by_patients(self, patient_ids: Iterable[str], exclude: bool = False) -> LesionSet:
        """The items of the given patients (or of all other patients, with ``exclude=True``).

        Raises LiverkitError when a requested patient is not in the set, since that is always a mix-up.
        """
        wanted = np.asarray(list(patient_ids)).astype(str)
        unknown = sorted(set(wanted.tolist()) - set(self.patient_ids.tolist()))
        if unknown:
            raise LiverkitError(f"patients not in this LesionSet: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}.")
        mask = np.isin(self.patient_ids, wanted)
        return self.subset(~mask if exclude else mask)

    def by_class(self, class_name: str) -> LesionSet:
        """The items of one class, by name."""
        if class_name not in self.class_names:
            raise LiverkitError(f"unknown class '{class_name}'; this set has {list(self.class_names)}.")
        return self.subset(self.labels == self.class_names.index(class_name))

    # ------------------------------------------------------------------ combining and devices
    @staticmethod
    def concat(sets: Sequence[LesionSet]) -> LesionSet:
        """Join LesionSets that share one class list (e.g. real plus synthetic)."""
        if not sets:
            raise LiverkitError("concat needs at least one LesionSet.")
        names = sets[0].class_names
        for s in sets[1:]:
            if s.class_names != names:
                raise LiverkitError(
                    f"cannot concat LesionSets with different classes: {list(names)} vs {list(s.class_names)}."
                )
        return LesionSet(
            images=np.concatenate([s.images for s in sets]),
            labels=np.concatenate([s.labels for s in sets]),
            class_names=names,
            patient_ids=np.concatenate([s.patient_ids for s in sets]),
            diameters_mm=np.concatenate([s.diameters_mm for s in sets]),
            ids=np.concatenate([s.ids for s in sets]),
            sources=np.concatenate([s.sources for s in sets]),
        )

    def tensors(self, device: str | object = "cpu"):
        """Images (N x 1 x 64 x 64 float32) and labels (N int64) as torch tensors on ``device``."""
        import torch

        images = torch.from_numpy(np.ascontiguousarray(self.images)).to(device)
        labels = torch.from_numpy(self.labels.astype(np.int64)).to(device)
        return images, labels

    # ------------------------------------------------------------------ identity and files
    def fingerprint(self) -> str:
        """A short SHA-256 of the contents: equal sets give equal fingerprints (used to tie runs to data)."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(self.labels.astype(np.int64).tobytes())
        for arr in (np.asarray(self.class_names), self.patient_ids, self.ids, self.sources):
            h.update("\x1f".join(arr.tolist()).encode())
        h.update(np.nan_to_num(self.diameters_mm, nan=-1.0).tobytes())
        return h.hexdigest()[:16]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the set to a ``.npz`` file atomically; strings are stored as unicode arrays, never pickled."""
        path = Path(path)
        if path.suffix != ".npz":
            raise LiverkitError(f"LesionSet files end in .npz; got '{path}'.")
        arrays = {
            "format_version": np.asarray(_FORMAT_VERSION),
            "images": self.images,
            "labels": self.labels.astype(np.int64),
            "class_names": np.asarray(self.class_names, dtype=str),
            "patient_ids": self.patient_ids,
            "diameters_mm": self.diameters_mm,
            "ids": self.ids,
            "sources": self.sources,
        }
        return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> LesionSet:
        """Read a set written by :meth:`save` (``allow_pickle=False``)."""
        remedy = "write it again with LesionSet.save(), or check that the path names a LesionSet file"
        with reading(path, "the LesionSet file", remedy), np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        missing = {"images", "labels", "class_names", "patient_ids", "diameters_mm", "ids", "sources"} - set(data)
        if missing:
            raise LiverkitError(f"'{path}' is not a LesionSet file: missing arrays {sorted(missing)}.")
        version = data.get("format_version")
        if version is not None and (version.shape != () or version.item() != _FORMAT_VERSION):
            raise LiverkitError(
                f"'{path}': format_version is {version.tolist()!r}, but this liverkit reads LesionSet files of version "
                f"{_FORMAT_VERSION}; open it with the liverkit that wrote it, or write it again with LesionSet.save()."
            )
        if data["class_names"].ndim != 1:
            raise LiverkitError(
                f"'{path}': class_names must be a list of names, got {data['class_names'].tolist()!r}; "
                "write the file again with LesionSet.save()."
            )
        try:
            return cls(
                images=data["images"],
                labels=data["labels"],
                class_names=tuple(data["class_names"].tolist()),
                patient_ids=data["patient_ids"],
                diameters_mm=data["diameters_mm"],
                ids=data["ids"],
                sources=data["sources"],
            )
        except LiverkitError as exc:  # the checks name the field; the user also needs to know which file
            raise LiverkitError(
                f"LesionSet file '{path}': {exc} Fix the arrays and write the file again with LesionSet.save()."
            ) from exc

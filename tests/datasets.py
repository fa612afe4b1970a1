"""Two small data sets made in the tests, for running every notebook on data other than the phantom.

- :func:`make_medmnist_set`: a 2-class MedMNIST-format ``.npz`` (28 x 28 uint8), one image per patient, no
  diameters, class names that need escaping in HTML ("benign <b>", "malignant & co").
- :func:`make_folder_set`: a folder of PNG ROIs with ``labels.csv``, 4 classes (names with a space, a non-ASCII
  letter and a slash), several lesions per patient, no diameters.

Each writes its files and a manifest YAML into a folder and returns a :class:`MadeData` naming the manifest entry;
run the kit on it with ``LIVERKIT_MANIFEST=<manifest>``. The images carry a class signal (a bright disc, a dark
disc, a ring, ...) under noise so that training is not degenerate; nothing is tuned for any result.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

MEDMNIST_CLASSES = ("benign <b>", "malignant & co")
FOLDER_CLASSES = ("simple cyst", "métastase", "FNH/adenoma", "hemangioma")


@dataclass(frozen=True)
class MadeData:
    """A data set written for a test: its manifest entry name, the manifest file, and what it holds."""

    name: str
    manifest: Path
    class_names: tuple[str, ...]
    class_counts: dict[str, int]
    n_patients: int


def _roi(kind: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One ``size`` x ``size`` uint8 ROI of pattern ``kind`` (0-3) at a random position and radius, with noise."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    cy, cx = size / 2 + rng.uniform(-2, 2, 2)
    radius = size * rng.uniform(0.2, 0.3)
    dist = np.hypot(yy - cy, xx - cx) / radius
    inside = dist < 1
    background = 110.0
    pattern = {
        0: np.where(inside, 60.0, background),  # dark disc
        1: np.where(inside, 170.0, background),  # bright disc
        2: np.where(np.abs(dist - 1) < 0.3, 190.0, np.where(inside, 80.0, background)),  # ring around a dark centre
        3: np.where(inside, 120.0 + 60.0 * np.sin(xx / 2.0), background),  # striped disc
    }[kind]
    noisy = pattern + rng.normal(0, 25, (size, size))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def make_medmnist_set(folder: Path, n_per_class: int = 30, seed: int = 0) -> MadeData:
    """A 2-class MedMNIST ``.npz`` (train/val/test splits) and its manifest entry ``test-medmnist``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(2), n_per_class)
    rng.shuffle(labels)
    images = np.stack([_roi(int(label), 28, rng) for label in labels])
    cuts = {
        "train": slice(0, len(labels) * 2 // 3),
        "val": slice(len(labels) * 2 // 3, len(labels) * 5 // 6),
        "test": slice(len(labels) * 5 // 6, None),
    }
    arrays = {}
    for split, cut in cuts.items():
        arrays[f"{split}_images"] = images[cut]
        arrays[f"{split}_labels"] = labels[cut, None]
    np.savez(folder / "twoclass.npz", **arrays)
    entry = {
        "reader": "medmnist",
        "path": str(folder / "twoclass.npz"),
        "options": {"class_names": list(MEDMNIST_CLASSES)},
    }
    manifest = _write_manifest(folder, "test-medmnist", entry)
    counts = {name: int((labels == k).sum()) for k, name in enumerate(MEDMNIST_CLASSES)}
    return MadeData("test-medmnist", manifest, MEDMNIST_CLASSES, counts, len(labels))


def make_folder_set(folder: Path, patients_per_class: int = 5, seed: int = 0) -> MadeData:
    """A folder of PNG ROIs with ``labels.csv`` (2 or 3 lesions per patient) and its manifest entry ``test-folder``."""
    root = folder / "rois"
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for kind, name in enumerate(FOLDER_CLASSES):
        for p in range(patients_per_class):
            patient = f"pt-{kind}-{p}"
            for lesion in range(int(rng.integers(2, 4))):
                path = f"images/{patient}_{lesion}.png"
                Image.fromarray(_roi(kind, 48, rng)).save(root / path)
                rows.append({"path": path, "label": name, "patient_id": patient})
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "patient_id", "diameter_mm"])
        writer.writeheader()
        writer.writerows({**row, "diameter_mm": ""} for row in rows)
    entry = {"reader": "folder", "path": str(root), "options": {"class_names": list(FOLDER_CLASSES)}}
    manifest = _write_manifest(folder, "test-folder", entry)
    counts = {name: sum(row["label"] == name for row in rows) for name in FOLDER_CLASSES}
    return MadeData("test-folder", manifest, FOLDER_CLASSES, counts, patients_per_class * len(FOLDER_CLASSES))


def _write_manifest(folder: Path, name: str, entry: dict) -> Path:
    """A manifest YAML with the one entry ``name`` (the phantom stays available, as always)."""
    path = folder / "manifest.yaml"
    text = yaml.safe_dump({"version": 1, "datasets": {name: entry}}, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


OTHER_DATA = {"medmnist": make_medmnist_set, "folder": make_folder_set}
"""The data sets besides the phantom that every notebook runs on in the tests (conftest's ``notebook_runs``)."""

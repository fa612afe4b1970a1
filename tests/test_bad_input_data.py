"""Bad or suspicious input, one row each: what is built in tmp_path, and the LiverkitError or LiverkitWarning it gives.

Every row builds its input with the small builders below and names the error (a regex on the message, which must
name the file, key or value at fault) or the warning. Behaviour on good data is tested in test_readers.py,
test_manifest.py, test_folds.py and test_lesionset.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from helpers import make_set
from PIL import Image

from liverkit.data import LesionSet, manifest
from liverkit.data.folds import check_splittable
from liverkit.data.readers import read_folder, read_medmnist, read_nifti
from liverkit.errors import LiverkitError, LiverkitWarning

RNG = np.random.default_rng(0)
NOISE8 = RNG.integers(0, 256, (32, 32), dtype=np.uint8)


# ---------------------------------------------------------------------------------------------- builders
def manifest_file(tmp: Path, body: str) -> Path:
    """``manifest.yaml`` with this body, and a copy named ``m``: a YAML file that an entry can name as its data."""
    path = tmp / "manifest.yaml"
    path.write_text(textwrap.dedent(body))
    (tmp / "m").write_text(textwrap.dedent(body))
    return path


def bad_manifest(body: str):
    """A row action: read a manifest with this body."""
    return lambda tmp: lambda: manifest.read_manifest(manifest_file(tmp, body))


def folder(tmp: Path, rows: list[str], images: dict[str, np.ndarray] | None = None) -> Path:
    """A folder with labels.csv (header + rows) and the images (default: two noisy 8-bit PNGs a.png, b.png)."""
    images = {"a.png": NOISE8, "b.png": NOISE8[::-1].copy()} if images is None else images
    for name, pixels in images.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".npy"):
            np.save(tmp / name, pixels)
        else:
            Image.fromarray(pixels).save(tmp / name)
    (tmp / "labels.csv").write_text("\n".join(["path,label,patient_id,diameter_mm", *rows]) + "\n")
    return tmp


def bad_folder(rows: list[str], images: dict[str, np.ndarray] | None = None, **options):
    """A row action: read a folder whose first row is a.png (cyst) and whose other rows are given."""
    return lambda tmp: lambda: read_folder(folder(tmp, ["a.png,cyst,p1,", *rows], images), **options)


def one_image(pixels: np.ndarray, name: str = "x.png", **options):
    """A row action: read a folder of a good image a.png and one suspicious image."""
    return bad_folder([f"{name},metastasis,p2,"], {"a.png": NOISE8, name: pixels}, **options)


def medmnist_file(tmp: Path, **arrays: np.ndarray) -> Path:
    """A MedMNIST-like .npz with the given arrays (default: a train split of 4 noisy 28 px images, labels 0/1)."""
    arrays = arrays or {"train_images": RNG.integers(0, 256, (4, 28, 28), np.uint8), "train_labels": LABELS01}
    np.savez(tmp / "m.npz", **arrays)
    return tmp / "m.npz"


LABELS01 = np.array([[0], [1], [0], [1]])


def yaml_named(path: Path) -> Path:
    """A small YAML text saved under ``path`` (a data file that is not what its name says)."""
    path.write_text("datasets: {}\n")
    return path


def bad_medmnist(splits="train", class_names=None, name: str = "m.npz", **arrays: np.ndarray):
    """A row action: read a MedMNIST-like file (saved as ``name``) with these arrays."""

    def build(tmp: Path):
        path = medmnist_file(tmp, **arrays).rename(tmp / name)
        return lambda: read_medmnist(path, splits=splits, class_names=class_names)

    return build


def nifti_pair(
    tmp: Path,
    mask_shape=(20, 20, 8),
    mask_zoom=(1.0, 1.0, 2.0),
    lesion: int = 1,
    hu: np.ndarray | None = None,
    mask_nan: bool = False,
) -> Path:
    """A CT volume (default 20 x 20 x 8, 1 x 1 x 2 mm) with a mask of the given grid, and the table naming them.

    ``mask_nan`` stores the mask as float32 with one NaN voxel outside the lesion.
    """
    hu = RNG.normal(100, 10, (20, 20, 8)).astype(np.float32) if hu is None else hu
    mask = np.zeros(mask_shape, np.float32 if mask_nan else np.uint8)
    mask[5:10, 5:10, 2:5] = lesion
    if mask_nan:
        mask[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(hu, np.diag([1.0, 1.0, 2.0, 1.0])), tmp / "vol.nii.gz")
    nib.save(nib.Nifti1Image(mask, np.diag([*mask_zoom, 1.0])), tmp / "seg.nii.gz")
    (tmp / "t.csv").write_text("volume,mask,label,patient_id\nvol.nii.gz,seg.nii.gz,cyst,p1\n")
    return tmp / "t.csv"


def bad_nifti(**pair):
    return lambda tmp: lambda: read_nifti(nifti_pair(tmp, **pair))


def nifti_cells(volume: str, mask: str):
    """A row action: read a table in ``tmp/sub`` (beside copies of the pair) with these cells; ``{tmp}`` is tmp_path.

    Both named files exist, so only the path rule can refuse them.
    """

    def build(tmp: Path):
        nifti_pair(tmp)
        (tmp / "sub").mkdir()
        for name in ("vol.nii.gz", "seg.nii.gz"):
            (tmp / "sub" / name).write_bytes((tmp / name).read_bytes())
        table = tmp / "sub" / "t.csv"
        cells = f"{volume.format(tmp=tmp)},{mask.format(tmp=tmp)}"
        table.write_text(f"volume,mask,label,patient_id\n{cells},cyst,p1\n")
        return lambda: read_nifti(table)

    return build


NOISY_HU = RNG.normal(100, 10, (20, 20, 8)).astype(np.float32)


def damaged_lesionset(cut: bool):
    """A row action: load a LesionSet .npz that is truncated (cut) or holds a 0-d class_names array."""

    def build(tmp: Path):
        path = make_set([0, 1, 2]).save(tmp / "s.npz")
        if cut:
            path.write_bytes(path.read_bytes()[:300])
        else:
            arrays = dict(np.load(path))
            np.savez(path, **{**arrays, "class_names": np.asarray("abc")})
        return lambda: LesionSet.load(path)

    return build


def edited_lesionset(**arrays: np.ndarray):
    """A row action: load a LesionSet .npz of 3 lesions (classes a, b, c) with some arrays replaced."""

    def build(tmp: Path):
        path = make_set([0, 1, 2]).save(tmp / "s.npz")
        np.savez(path, **{**dict(np.load(path)), **arrays})
        return lambda: LesionSet.load(path)

    return build


def splittable(labels, patients, n_folds, inner_folds=None):
    return lambda tmp: lambda: check_splittable(make_set(labels, patients, ("a", "b")), n_folds, inner_folds)


E, W = LiverkitError, LiverkitWarning
ROWS = [
    # ------------------------------------------------------------------ manifest
    (
        "duplicate-entry",
        bad_manifest("datasets:\n  x: {reader: phantom}\n  x: {reader: phantom}\n"),
        E,
        r"manifest '.*manifest\.yaml' line 3: key 'x' is given twice \(first on line 2\)",
    ),
    (
        "duplicate-field",
        bad_manifest("datasets:\n  x:\n    reader: folder\n    path: a\n    path: b\n"),
        E,
        r"line 5: key 'path' is given twice \(first on line 4\)",
    ),
    (
        "path-leaves-root",
        bad_manifest("datasets:\n  x: {reader: folder, path: ../../etc}\n"),
        E,
        r"entry 'x': path '\.\./\.\./etc' leaves the data root '.*'; .* absolute path",
    ),
    ("unknown-reader", bad_manifest("datasets:\n  x: {reader: magic, path: a}\n"), E, r"reader 'magic' is not one of"),
    (
        "class-names-read-as-booleans",
        bad_manifest("datasets:\n  x: {reader: medmnist, path: a.npz, options: {class_names: [no, yes]}}\n"),
        E,
        r"class_names \[False, True\] are not text .* quotes",
    ),
    (
        "no-path",
        bad_manifest("datasets:\n  x: {reader: medmnist}\n"),
        E,
        r"entry 'x': reader 'medmnist' needs a 'path'",
    ),
    (
        "unknown-field",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, download: true}\n"),
        E,
        r"unknown field\(s\) \['download'\]",
    ),
    (
        "not-yaml",
        bad_manifest("datasets:\n  x: {reader: folder\n"),
        E,
        r"manifest '.*manifest\.yaml' is not valid YAML",
    ),
    (
        "yaml-registered-as-medmnist",
        lambda tmp: (
            lambda: manifest.check("y", manifest_file(tmp, f"datasets: {{y: {{reader: medmnist, path: {tmp}/m}}}}"))
        ),
        E,
        r"could not read the MedMNIST \.npz archive '.*/m'",
    ),
    (
        "public-file-not-fetched",
        lambda tmp: (
            lambda: manifest.load(
                "p", manifest_file(tmp, "datasets:\n  p: {reader: medmnist, path: p.npz, url: 'file:///n'}\n")
            )
        ),
        E,
        r"not on disk .*download=True.*liverkit data fetch p",
    ),
    (
        "md5-read-as-integer",
        bad_manifest("datasets:\n  x: {reader: medmnist, path: a.npz, md5: 12345678901234567890123456789012}\n"),
        E,
        r"manifest '.*manifest\.yaml', entry 'x': field 'md5' was read by YAML as a number "
        r"\(12345678901234567890123456789012\), not as a checksum \(a number drops leading zeros.*\)\. "
        r"Put the 32 hex digits in quotes exactly as published, e\.g\. md5: \"0123456789abcdef",
    ),
    (
        "md5-read-as-octal",
        bad_manifest("datasets:\n  x: {reader: medmnist, path: a.npz, md5: 01234567012345670123456701234567}\n"),
        E,
        r"entry 'x': field 'md5' was read by YAML as a number \(\d+\), not as a checksum",
    ),
    (
        "md5-read-as-float",
        bad_manifest("datasets:\n  x: {reader: medmnist, path: a.npz, md5: 1234.5678}\n"),
        E,
        r"entry 'x': field 'md5' was read by YAML as a number \(1234\.5678\)",
    ),
    (
        "md5-not-hex",
        bad_manifest('datasets:\n  x: {reader: medmnist, path: a.npz, md5: "0123456789abcdefg123456789abcdef"}\n'),
        E,
        r"entry 'x': field 'md5' '0123456789abcdefg123456789abcdef' is not an MD5 checksum \(32 hex digits 0-9 and "
        r"a-f; it has 32 characters\); copy it exactly as the data set publishes it, or remove the field",
    ),
    (
        "md5-too-short",
        bad_manifest('datasets:\n  x: {reader: medmnist, path: a.npz, md5: "0123"}\n'),
        E,
        r"field 'md5' '0123' is not an MD5 checksum .*it has 4 characters",
    ),
    (
        "md5-boolean",
        bad_manifest("datasets:\n  x: {reader: medmnist, path: a.npz, md5: yes}\n"),
        E,
        r"field 'md5' must be 32 hex digits in quotes, but YAML read True as a boolean",
    ),
    (
        "options-not-a-mapping",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, options: [1, 2]}\n"),
        E,
        r"entry 'x': 'options' must be a mapping of reader keyword arguments, e\.g\. options: "
        r"\{class_names: \[cyst, metastasis\]\}; got a list \[1, 2\]",
    ),
    (
        "options-empty-list",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, options: []}\n"),
        E,
        r"entry 'x': 'options' must be a mapping .*; got a list \[\]",
    ),
    (
        "augment-not-a-mapping",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, augment: n_flip}\n"),
        E,
        r"entry 'x': 'augment' must be a mapping of AugmentConfig fields, e\.g\. augment: \{n_flip: 0\}; "
        r"got text 'n_flip'",
    ),
    (
        "size-mb-negative",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, size_mb: -3}\n"),
        E,
        r"entry 'x': field 'size_mb' must be a number of megabytes >= 0 \(the file's download size, e\.g\. "
        r"size_mb: 38\.5\), got a number -3; fix it or remove the field",
    ),
    (
        "size-mb-text",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, size_mb: '38'}\n"),
        E,
        r"field 'size_mb' must be a number of megabytes >= 0 .*got text '38'",
    ),
    (
        "description-boolean",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, description: yes}\n"),
        E,
        r"entry 'x': field 'description' must be text, but YAML read True as a boolean .*; put the value in "
        r"quotes, e\.g\. description: \"\.\.\.\"",
    ),
    (
        "path-number",
        bad_manifest("datasets:\n  x: {reader: folder, path: 2024}\n"),
        E,
        r"entry 'x': field 'path' must be text, but YAML read 2024 as a number",
    ),
    (
        "licence-date",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, licence: 2024-01-01}\n"),
        E,
        r"field 'licence' must be text, but YAML read datetime\.date\(2024, 1, 1\) as a date",
    ),
    (
        "url-list",
        bad_manifest("datasets:\n  x: {reader: folder, path: a, url: [a, b]}\n"),
        E,
        r"field 'url' must be text, but YAML read \['a', 'b'\] as a list",
    ),
    (
        "reader-number",
        bad_manifest("datasets:\n  x: {reader: 1, path: a}\n"),
        E,
        r"field 'reader' must be text, but YAML read 1 as a number",
    ),
    # ------------------------------------------------------------------ folder of ROIs
    (
        "csv-path-climbs-out",
        bad_folder(["../../etc/passwd.png,cyst,p2,"]),
        E,
        r"line 3: path '\.\./\.\./etc/passwd\.png' leaves the data folder",
    ),
    (
        "csv-path-absolute",
        bad_folder(["/etc/passwd.png,cyst,p2,"]),
        E,
        r"path '/etc/passwd\.png' leaves the data folder",
    ),
    (
        "non-square-padded",
        one_image(RNG.integers(0, 256, (40, 20), np.uint8)),
        W,
        r"labels\.csv': 1 image\(s\) are not square; they were padded .*x\.png \(40 x 20\)",
    ),
    (
        "12-bit-in-16-bit-png",
        one_image(RNG.integers(0, 4096, (32, 32)).astype(np.uint16)),
        W,
        r"fit in 12 bits; they were scaled by 4095 .*x\.png",
    ),
    ("tiny", one_image(RNG.integers(0, 256, (6, 6), np.uint8)), W, r"smaller than 8 pixels on a side.*x\.png"),
    ("all-black", one_image(np.zeros((32, 32), np.uint8)), W, r"1 ROI\(s\) are all black.*\['x\.png'\]"),
    ("constant", one_image(np.full((32, 32), 90, np.uint8)), W, r"1 ROI\(s\) are one constant value.*\['x\.png'\]"),
    (
        "12-bit-over-range",
        one_image(np.full((8, 8), 5000, np.uint16), bit_depth=12),
        E,
        r"x\.png' has 16-bit values up to 5000, above 4095 \(12-bit\)",
    ),
    ("bad-bit-depth", bad_folder([], bit_depth=7), E, r"bit_depth must be 8, 10, 12, 14 or 16"),
    ("listed-twice", bad_folder(["./a.png,cyst,p2,"]), E, r"path '\./a\.png' is listed twice \(lines 2 and 3\)"),
    ("blank-patient", bad_folder(["b.png,cyst,,"]), E, r"column 'patient_id' is blank on line\(s\) \[3\]"),
    ("bad-diameter", bad_folder(["b.png,cyst,p2,-4"]), E, r"line 3: diameter_mm '-4' must be a positive"),
    (
        "missing-image",
        bad_folder(["gone.png,cyst,p2,"]),
        E,
        r"image file '.*gone\.png' \(CSV file .* line 3\) does not",
    ),
    ("unsupported-extension", bad_folder(["b.jpg,cyst,p2,"]), E, r"b\.jpg' .* unsupported extension '\.jpg'"),
    ("nan-pixels", one_image(np.array([[0.5, np.nan], [0.5, 0.5]]), "x.npy"), E, r"x\.npy' contains NaN or inf"),
    (
        "label-not-in-class-names",
        bad_folder(["b.png,cyst,p2,"], class_names=["metastasis"]),
        E,
        r"line 2: label 'cyst' is not one of class_names \['metastasis'\]",
    ),
    (
        "class-names-0-d",
        bad_folder(["b.png,cyst,p2,"], class_names=np.array("cyst")),
        E,
        r"class_names must be a list of names, got array\('cyst'",
    ),
    (
        "empty-image",
        one_image(np.zeros((0, 5), np.float32), "x.npy"),
        E,
        r"image file '.*x\.npy' \(CSV file '.*labels\.csv' line 3\) has no pixels \(shape \(0, 5\)\); "
        r"re-export the ROI or drop its row",
    ),
    # ------------------------------------------------------------------ MedMNIST
    (
        "medmnist-0-images",
        bad_medmnist(train_images=np.zeros((0, 28, 28), np.uint8), train_labels=np.zeros((0, 1), np.uint8)),
        E,
        r"m\.npz' holds 0 images in split\(s\) \['train'\]",
    ),
    (
        "medmnist-no-split-keys",
        bad_medmnist(images=np.zeros((2, 28, 28), np.uint8), labels=np.zeros((2, 1))),
        E,
        r"holds \['images', 'labels'\]\. It has no split at all, so it is not a MedMNIST archive",
    ),
    (
        "medmnist-other-split",
        bad_medmnist(splits="test"),
        E,
        r"no \['test_images', 'test_labels'\].*splits=\['train'\]",
    ),
    ("medmnist-class-names-0-d", bad_medmnist(class_names=np.array("a")), E, r"class_names must be a list of names"),
    (
        "medmnist-multi-label",
        bad_medmnist(train_images=NOISE8[None].repeat(2, 0), train_labels=np.ones((2, 3))),
        E,
        r"train_labels has 3 columns: a multi-label set",
    ),
    (
        "medmnist-3d",
        bad_medmnist(train_images=np.zeros((2, 28, 28, 28), np.uint8), train_labels=np.zeros((2, 1), int)),
        E,
        r"a 3-D MedMNIST set",
    ),
    ("medmnist-no-patients", bad_medmnist(), W, r"m\.npz: MedMNIST has no patient ids"),
    (
        "medmnist-not-npz",
        lambda tmp: lambda: read_medmnist(yaml_named(tmp / "m.npz")),
        E,
        r"could not read the MedMNIST \.npz archive '.*m\.npz' \(.*\); the file is damaged",
    ),
    (
        "medmnist-not-square",
        bad_medmnist(train_images=RNG.integers(0, 256, (4, 28, 30), np.uint8), train_labels=LABELS01),
        E,
        r"m\.npz' train_images has shape \(4, 28, 30\): images of 28 x 30 pixels, but MedMNIST images are "
        r"square .*; pad or crop them to square, or use read_folder",
    ),
    (
        "medmnist-size-not-as-named",
        bad_medmnist(name="m_64.npz"),
        E,
        r"m_64\.npz' train_images holds 28 x 28 pixel images, but the file name says 64 \(MedMNIST names files "
        r"<set>_<size>\.npz\); fetch the 64-pixel file again, or rename this one",
    ),
    (
        "medmnist-text-pixels",
        bad_medmnist(train_images=np.full((4, 28, 28), "a"), train_labels=LABELS01),
        E,
        r"m\.npz' train_images holds <U1 values, not pixel numbers; save the images as uint8",
    ),
    # ------------------------------------------------------------------ NIfTI
    (
        "nifti-mask-spacing",
        bad_nifti(mask_zoom=(1.0, 1.0, 3.0)),
        E,
        r"volume '.*vol\.nii\.gz' has voxel spacing \(1\.0, 1\.0, 2\.0\) mm but mask '.*seg\.nii\.gz' has \(1\.0, 1",
    ),
    (
        "nifti-mask-shape",
        bad_nifti(mask_shape=(20, 20, 9)),
        E,
        r"volume '.*vol\.nii\.gz' has shape \(20, 20, 8\) but mask '.*seg\.nii\.gz' has shape \(20, 20, 9\)",
    ),
    ("nifti-empty-mask", bad_nifti(lesion=0), E, r"mask '.*seg\.nii\.gz' has no lesion voxels"),
    (
        "nifti-volume-climbs-out",
        nifti_cells("../vol.nii.gz", "seg.nii.gz"),
        E,
        r"table '.*sub/t\.csv' line 2, column 'volume': path '\.\./vol\.nii\.gz' leaves the table's folder "
        r"'.*sub'; list volumes and masks relative to it \(copy or link the files into it\), or pass root= the "
        r"folder that holds them",
    ),
    (
        "nifti-mask-absolute",
        nifti_cells("vol.nii.gz", "{tmp}/seg.nii.gz"),
        E,
        r"table '.*sub/t\.csv' line 2, column 'mask': path '/.*/seg\.nii\.gz' leaves the table's folder",
    ),
    (
        "nifti-volume-nan",
        bad_nifti(hu=np.where(np.arange(NOISY_HU.size).reshape(NOISY_HU.shape) < 3, np.nan, NOISY_HU)),
        E,
        r"table '.*t\.csv' line 2: volume '.*vol\.nii\.gz' has 3 NaN or inf voxel\(s\); replace them with a real "
        r"value \(e\.g\. -1000 HU \(air\)\) and save the file again, or drop this row",
    ),
    (
        "nifti-mask-nan",
        bad_nifti(mask_nan=True),
        E,
        r"line 2: mask '.*seg\.nii\.gz' has 1 NaN or inf voxel\(s\); replace them with a real value \(e\.g\. 0\)",
    ),
    (
        "nifti-volume-4-d",
        bad_nifti(hu=np.stack([NOISY_HU, NOISY_HU], axis=-1)),
        E,
        r"line 2: volume '.*vol\.nii\.gz' has shape \(20, 20, 8, 2\); expected one 3-D CT volume .* Split 4-D",
    ),
    # ------------------------------------------------------------------ LesionSet files and splits
    ("lesionset-truncated", damaged_lesionset(cut=True), E, r"could not read the LesionSet file '.*s\.npz'"),
    ("lesionset-0-d-class-names", damaged_lesionset(cut=False), E, r"s\.npz': class_names must be a list of names"),
    (
        "lesionset-labels-length",
        edited_lesionset(labels=np.array([0, 1])),
        E,
        r"LesionSet file '.*s\.npz': LesionSet field 'labels' must have one entry per image \(3\), got shape "
        r"\(2,\); give labels, patient_ids, diameters_mm, ids, sources one entry per lesion each, in the same order "
        r"as the images\. Fix the arrays and write the file again with LesionSet\.save\(\)",
    ),
    (
        "lesionset-patient-ids-length",
        edited_lesionset(patient_ids=np.array(["p0", "p1", "p2", "p3"])),
        E,
        r"s\.npz': LesionSet field 'patient_ids' must have one entry per image \(3\), got shape \(4,\)",
    ),
    (
        "lesionset-diameters-length",
        edited_lesionset(diameters_mm=np.array([10.0], np.float32)),
        E,
        r"s\.npz': LesionSet field 'diameters_mm' must have one entry per image \(3\), got shape \(1,\)",
    ),
    (
        "lesionset-label-outside-classes",
        edited_lesionset(labels=np.array([0, 1, 5])),
        E,
        r"s\.npz': LesionSet labels \[5\] are outside the class list \['a', 'b', 'c'\] \(valid: 0\.\.2\); fix "
        r"those labels or add their classes to class_names",
    ),
    (
        "lesionset-text-labels",
        edited_lesionset(labels=np.array(["a", "b", "c"])),
        E,
        r"s\.npz': LesionSet labels must be integers, got dtype <U1; give class indices 0\.\.2 into class_names",
    ),
    (
        "lesionset-images-not-square",
        edited_lesionset(images=np.zeros((3, 1, 64, 32), np.float32)),
        E,
        r"s\.npz': LesionSet images must have shape N x 1 x 64 x 64, got \(3, 1, 64, 32\); resize ROIs",
    ),
    (
        "lesionset-nan-pixels",
        edited_lesionset(
            images=np.array([0.5, np.nan, 0.5], np.float32)[:, None, None, None].repeat(64, 2).repeat(64, 3)
        ),
        E,
        r"s\.npz': LesionSet images contain NaN or inf \(items \[1\]\); clean the source images",
    ),
    (
        "lesionset-negative-diameter",
        edited_lesionset(diameters_mm=np.array([10.0, -1.0, np.nan], np.float32)),
        E,
        r"s\.npz': LesionSet diameters_mm must be positive, or NaN where unknown; items \[1\] have \[-1\.0\]\. "
        r"Give millimetres > 0",
    ),
    (
        "lesionset-format-version",
        edited_lesionset(format_version=np.asarray(2)),
        E,
        r"s\.npz': format_version is 2, but this liverkit reads LesionSet files of version 1; open it with the "
        r"liverkit that wrote it, or write it again with LesionSet\.save\(\)",
    ),
    (
        "one-class",
        splittable([0, 0, 0, 0], None, 2),
        E,
        r"lesions of 1 class\(es\) \['a'\]; a classifier needs at least 2",
    ),
    (
        "outer-folds",
        splittable([0, 0, 1, 1, 1], None, 3),
        E,
        r"split .* 3 folds, but class 'a' has 2 patient\(s\)\. .*--set n_folds=2",
    ),
    (
        "inner-folds",
        splittable([0] * 6 + [1] * 6, None, 3, 5),
        E,
        r"inner split .* needs 5 patients .* class 'a' has 6 .* keeps as few as 4\. .*--set inner_folds=4",
    ),
]


@pytest.mark.parametrize(("build", "expect", "pattern"), [pytest.param(*row[1:], id=row[0]) for row in ROWS])
def test_bad_input(tmp_path, build, expect, pattern):
    action = build(tmp_path)
    if expect is LiverkitError:
        with pytest.raises(LiverkitError, match=pattern) as caught:
            action()
        assert "allow_pickle" not in str(caught.value)
    else:
        with pytest.warns(LiverkitWarning, match=pattern):
            action()


def test_rows_are_many_and_named_once():
    ids = [row[0] for row in ROWS]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)

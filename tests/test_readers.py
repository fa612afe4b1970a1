"""Readers: a folder of ROI files, MedMNIST archives and NIfTI volumes with masks, built here in tmp_path.

Every number asserted could come out wrong: intensities after scaling and windowing, class order, lesion
numbering by size, the largest slice and the equivalent diameter of planted spheres.
"""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset

from liverkit import LiverkitError
from liverkit.data.readers import list_nifti_lesions, read_folder, read_medmnist, read_nifti

LIVER_HU, LESION_HU = 110.0, 40.0


def _unit(hu: float, low: float = -100.0, high: float = 250.0) -> float:
    """Where ``hu`` lands in [0, 1] after windowing."""
    return (hu - low) / (high - low)


def _write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# ---------------------------------------------------------------------------------------------- folder
def _write_dicom(path: Path, hu: np.ndarray, slope: float = 2.0, intercept: float = -1024.0) -> None:
    """A minimal CT DICOM storing ``hu`` as int16 through RescaleSlope / RescaleIntercept."""
    stored = np.round((hu - intercept) / slope).astype(np.int16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
    meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)


def _save(path: Path, pixels: np.ndarray) -> None:
    """Write ``pixels`` in the format the extension names (DICOM pixels are HU)."""
    if path.suffix == ".png":
        Image.fromarray(pixels).save(path)
    elif path.suffix == ".tif":
        tifffile.imwrite(path, pixels)
    elif path.suffix == ".npy":
        np.save(path, pixels)
    else:
        _write_dicom(path, pixels)


def _dicom_hu() -> np.ndarray:
    """32 x 32 HU: a 16 x 16 region of 40 HU in the middle of 200 HU."""
    hu = np.full((32, 32), 200.0)
    hu[8:24, 8:24] = LESION_HU
    return hu


def _rgb_red() -> np.ndarray:
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[..., 0] = 255
    return rgb


ALL_FORMATS = {  # file -> (pixels, label, patient, diameter cell, expected value at the ROI centre)
    "grey8.png": (np.full((40, 30), 200, np.uint8), "cyst", "p1", "12.5", 200 / 255),
    "grey16.png": (np.full((32, 32), 30000, np.uint16), "cyst", "p1", "", 30000 / 65535),
    "rgb.png": (_rgb_red(), "metastasis", "p2", "8", 0.299),
    "float.tif": (np.full((50, 50), 0.25, np.float32), "metastasis", "p3", "", 0.25),
    "sub/array.npy": (np.full((64, 64), 0.75, np.float64), "hemangioma", "p3", "20", 0.75),
    "ct.dcm": (_dicom_hu(), "hemangioma", "p4", "", _unit(LESION_HU)),
}


def _format_folder(root: Path) -> Path:
    (root / "sub").mkdir()
    lines = ["path,label,patient_id,diameter_mm"]
    for name, (pixels, label, patient, diameter, _) in ALL_FORMATS.items():
        _save(root / name, pixels)
        lines.append(f"{name},{label},{patient},{diameter}")
    _write_csv(root / "labels.csv", lines)
    return root


def test_read_folder_reads_every_format(tmp_path):
    lesions = read_folder(_format_folder(tmp_path))
    assert lesions.images.shape == (6, 1, 64, 64)
    assert lesions.class_names == ("cyst", "hemangioma", "metastasis")  # sorted labels
    assert lesions.labels.tolist() == [0, 0, 2, 2, 1, 1]
    assert lesions.patient_ids.tolist() == ["p1", "p1", "p2", "p3", "p3", "p4"]
    assert lesions.ids.tolist() == list(ALL_FORMATS)
    assert set(lesions.sources.tolist()) == {"folder"}
    np.testing.assert_allclose(lesions.diameters_mm[[0, 2, 4]], [12.5, 8, 20])
    assert np.isnan(lesions.diameters_mm[[1, 3, 5]]).all()
    expected = [value for *_, value in ALL_FORMATS.values()]
    np.testing.assert_allclose(lesions.images[:, 0, 32, 32], expected, atol=1e-3)


def test_read_folder_dicom_region_of_40_hu_is_windowed(tmp_path):
    _format_folder(tmp_path)
    default = read_folder(tmp_path).by_class("hemangioma").images[1, 0]
    assert default[32, 32] == pytest.approx(_unit(LESION_HU), abs=1e-3)  # (40 + 100) / 350
    assert default[2, 2] == pytest.approx(_unit(200.0), abs=1e-3)
    wide = read_folder(tmp_path, window=(-160, 240)).by_class("hemangioma").images[1, 0]
    assert wide[32, 32] == pytest.approx(_unit(LESION_HU, -160, 240), abs=1e-3)


def test_read_folder_window_takes_npy_and_tiff_pixels_as_hu(tmp_path):
    _save(tmp_path / "hu.npy", np.full((32, 32), LESION_HU, np.int16))
    _save(tmp_path / "hu.tif", np.full((32, 32), 500.0, np.float32))  # above the window: clipped to 1
    _write_csv(tmp_path / "my.csv", ["path,label,patient_id", "hu.npy,a,p1", "hu.tif,b,p2"])
    lesions = read_folder(tmp_path, labels_csv=tmp_path / "my.csv", window=[-100, 250])
    np.testing.assert_allclose(lesions.images[:, 0, 10, 10], [_unit(LESION_HU), 1.0], atol=1e-5)


def test_read_folder_explicit_class_order(tmp_path):
    _format_folder(tmp_path)
    lesions = read_folder(tmp_path, class_names=["metastasis", "cyst", "hemangioma"])
    assert lesions.class_names == ("metastasis", "cyst", "hemangioma")
    assert lesions.labels.tolist() == [1, 1, 0, 0, 2, 2]


@pytest.fixture
def folder(tmp_path) -> Path:
    """A valid folder of two PNG ROIs of two classes; tests rewrite labels.csv to break it."""
    _save(tmp_path / "a.png", np.full((32, 32), 100, np.uint8))
    _save(tmp_path / "b.png", np.full((32, 32), 150, np.uint8))
    _write_csv(tmp_path / "labels.csv", ["path,label,patient_id", "a.png,cyst,p1", "b.png,metastasis,p2"])
    return tmp_path


HEADER = "path,label,patient_id"


@pytest.mark.parametrize(
    "lines, match",
    [
        (["path,label", "a.png,cyst"], r"labels\.csv' lacks column\(s\) \['patient_id'\].*needs columns path"),
        ([], r"labels\.csv' is empty"),
        ([HEADER], r"labels\.csv' has a header but no rows"),
        ([HEADER, "a.png,cyst,p1", "./a.png,cyst,p2"], r"path '\./a\.png' is listed twice \(lines 2 and 3\)"),
        ([HEADER, "a.png,cyst,p1", "b.png,cyst, "], r"column 'patient_id' is blank on line\(s\) \[3\]"),
        ([HEADER + ",diameter_mm", "a.png,cyst,p1,abc"], r"line 2: diameter_mm 'abc' is not a number"),
        ([HEADER + ",diameter_mm", "a.png,cyst,p1,-3"], r"line 2: diameter_mm '-3' must be a positive"),
        ([HEADER, "a.png,cyst,p1", "gone.png,cyst,p2"], r"image file '.*gone\.png' \(CSV file .* line 3\) does not"),
        ([HEADER, "a.jpg,cyst,p1"], r"a\.jpg' \(CSV file .* line 2\) has the unsupported extension '\.jpg'"),
    ],
)
def test_read_folder_refuses_bad_csv(folder, lines, match):
    _write_csv(folder / "labels.csv", lines)  # no lines: an empty file
    with pytest.raises(LiverkitError, match=match):
        read_folder(folder)


def test_read_folder_refuses_missing_root_and_csv(tmp_path):
    with pytest.raises(LiverkitError, match=r"folder '.*nowhere' does not exist"):
        read_folder(tmp_path / "nowhere")
    with pytest.raises(LiverkitError, match=r"CSV file '.*labels\.csv' does not exist.*path, label, patient_id"):
        read_folder(tmp_path)


def test_read_folder_refuses_label_outside_class_names(folder):
    with pytest.raises(LiverkitError, match=r"line 3: label 'metastasis' is not one of class_names \['cyst'\]"):
        read_folder(folder, class_names=["cyst"])


def test_read_folder_refuses_empty_class(folder):
    with pytest.raises(LiverkitError, match=r"empty class\(es\) \['hemangioma'\]"):
        read_folder(folder, class_names=["cyst", "metastasis", "hemangioma"])


@pytest.mark.parametrize(
    "name, match",
    [
        ("bad.png", r"bad\.png' cannot be read as PNG"),
        ("bad.tif", r"bad\.tif' cannot be read as TIFF"),
        ("bad.npy", r"bad\.npy' cannot be read as a numeric \.npy"),
        ("bad.dcm", r"bad\.dcm' cannot be read as DICOM"),
    ],
)
def test_read_folder_refuses_corrupt_files(folder, name, match):
    (folder / name).write_bytes(b"this is not an image at all" * 10)
    _write_csv(folder / "labels.csv", [HEADER, "a.png,cyst,p1", f"{name},cyst,p2"])
    with pytest.raises(LiverkitError, match=match):
        read_folder(folder)


@pytest.mark.parametrize(
    "name, match",
    [
        ("cut.png", r"cut\.png' cannot be read as PNG \(image file is truncated\)"),
        ("cut.tif", r"cut\.tif' cannot be read as TIFF"),
        ("cut.dcm", r"DICOM file '.*cut\.dcm': the pixel data cannot be decoded"),
    ],
)
def test_read_folder_refuses_truncated_files(folder, name, match):
    _save(folder / name, np.random.default_rng(0).integers(0, 255, (64, 64)).astype(np.uint8))
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])
    _write_csv(folder / "labels.csv", [HEADER, "a.png,cyst,p1", f"{name},cyst,p2"])
    with pytest.raises(LiverkitError, match=match):
        read_folder(folder)


@pytest.mark.parametrize(
    "pixels, match",
    [
        (np.full((5, 32, 32), 0.5, np.float32), r"odd\.npy: expected a 2-D ROI .* got shape \(5, 32, 32\)"),
        (np.array([[0.5, np.nan], [0.5, 0.5]]), r"odd\.npy' contains NaN or inf"),
        (np.full((8, 8), 300.0), r"odd\.npy: float pixels range over \[300, 300\], not \[0, 1\]"),
        (np.full((8, 8), -50, np.int16), r"odd\.npy: signed integer pixels .* give a CT window"),
        (np.array([["a", "b"]]), r"odd\.npy' holds <U1 values"),
    ],
)
def test_read_folder_refuses_unusable_pixels(folder, pixels, match):
    np.save(folder / "odd.npy", pixels)
    _write_csv(folder / "labels.csv", [HEADER, "a.png,cyst,p1", "odd.npy,cyst,p2"])
    with pytest.raises(LiverkitError, match=match):
        read_folder(folder)


# ---------------------------------------------------------------------------------------------- MedMNIST
def _medmnist(path: Path, size: int = 28, rgb: bool = False, **overrides: np.ndarray) -> Path:
    """A MedMNIST-style archive: train 6, val 2, test 3 images; image i of a split holds the value 10 * i."""
    arrays = {}
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        shape = (n, size, size, 3) if rgb else (n, size, size)
        values = (10 * np.arange(n, dtype=np.uint8)).reshape((n,) + (1,) * (len(shape) - 1))
        arrays[f"{split}_images"] = np.broadcast_to(values, shape).astype(np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 3)[:, None].astype(np.uint8)
    arrays.update(overrides)
    np.savez(path, **arrays)
    return path


def test_read_medmnist_grey_28px(tmp_path):
    with pytest.warns(UserWarning, match="each image is treated as its own patient.*image-level folds"):
        lesions = read_medmnist(_medmnist(tmp_path / "breastmnist.npz"))
    assert lesions.images.shape == (11, 1, 64, 64)
    assert lesions.class_names == ("class_0", "class_1", "class_2")
    assert lesions.labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2]
    assert lesions.patient_ids[[0, 5, 6, 8]].tolist() == ["train-00000", "train-00005", "val-00000", "test-00000"]
    assert lesions.ids[7] == "breastmnist/val-00001"
    assert set(lesions.sources.tolist()) == {"medmnist"}
    assert np.isnan(lesions.diameters_mm).all()
    np.testing.assert_allclose(lesions.images[:6, 0, 32, 32], np.arange(6) * 10 / 255, atol=1e-6)


def test_read_medmnist_rgb_and_other_sizes(tmp_path):
    red = np.zeros((2, 128, 128, 3), np.uint8)
    red[..., 0] = 255
    path = _medmnist(tmp_path / "derma.npz", size=128, rgb=True, test_images=red, test_labels=np.array([[0], [4]]))
    with pytest.warns(UserWarning):
        lesions = read_medmnist(path, splits="test", class_names=list("abcde"))
    assert lesions.images.shape == (2, 1, 64, 64)
    assert lesions.labels.tolist() == [0, 4]
    np.testing.assert_allclose(lesions.images[:, 0, 5, 5], 0.299, atol=1e-5)  # red through BT.601 luma


def test_read_medmnist_64px_passes_through_unchanged(tmp_path):
    path = _medmnist(tmp_path / "organ.npz", size=64)
    with pytest.warns(UserWarning):
        lesions = read_medmnist(path, splits=["val", "train"])
    assert lesions.patient_ids[:3].tolist() == ["val-00000", "val-00001", "train-00000"]
    np.testing.assert_array_equal(lesions.images[1, 0], np.full((64, 64), 10 / 255, np.float32))


@pytest.mark.parametrize(
    "overrides, options, match",
    [
        ({"val_labels": np.zeros((2, 14), np.uint8)}, {}, r"val_labels has 14 columns: a multi-label set"),
        ({"train_images": np.zeros((6, 28, 28, 28), np.uint8)}, {}, r"train_images has shape \(6, 28, 28, 28\)"),
        ({}, {"splits": ["train", "validation"]}, r"unknown MedMNIST split\(s\) \['validation'\]"),
        ({}, {"class_names": ["a", "b"]}, r"class_names has 2 name\(s\) .* labels up to 2"),
    ],
)
def test_read_medmnist_refuses_bad_content(tmp_path, overrides, options, match):
    with pytest.raises(LiverkitError, match=match):
        read_medmnist(_medmnist(tmp_path / "m.npz", **overrides), **options)


def test_read_medmnist_refuses_missing_split_keys(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, train_images=np.zeros((2, 28, 28), np.uint8), train_labels=np.zeros((2, 1), np.uint8))
    with pytest.raises(LiverkitError, match=r"no \['val_images', 'val_labels'\] .* holds \['train_images', 'train_"):
        read_medmnist(path)


def test_read_medmnist_refuses_missing_and_broken_files(tmp_path):
    with pytest.raises(
        LiverkitError, match=r"breastmnist\.npz' does not exist.*medmnist\.com.*url and md5.*data fetch NAME"
    ):
        read_medmnist(tmp_path / "breastmnist.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(LiverkitError, match=r"could not read the MedMNIST \.npz archive '.*text\.npz'"):
        read_medmnist(tmp_path / "text.npz")
    images = np.random.default_rng(0).integers(0, 255, (50, 28, 28)).astype(np.uint8)
    np.savez_compressed(tmp_path / "damaged.npz", train_images=images, train_labels=np.zeros((50, 1), np.uint8))
    data = bytearray((tmp_path / "damaged.npz").read_bytes())
    data[200:260] = bytes(60)  # inside the compressed train_images member
    (tmp_path / "damaged.npz").write_bytes(bytes(data))
    with pytest.raises(LiverkitError, match=r"damaged\.npz': array 'train_images' is corrupt"):
        read_medmnist(tmp_path / "damaged.npz", splits="train")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(LiverkitError, match=r"single\.npy' holds a single array"):
        read_medmnist(tmp_path / "single.npy")


# ---------------------------------------------------------------------------------------------- NIfTI
SPACING = (0.7, 0.9, 2.5)  # anisotropic in-plane and between slices
SHAPE = (64, 56, 26)
# Planted lesions (centre in mm, radius in mm), deliberately not in size order. Centres sit on slice
# centres, so the largest slice holds the full circle of the sphere's radius.
SPHERES = [((32.0, 12.0, 15.0), 4.0), ((15.0, 20.0, 25.0), 9.0), ((32.0, 32.0, 45.0), 6.0)]


def _ct_and_mask(spheres=SPHERES, shape=SHAPE, tumour_value: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Liver at 110 HU with spherical 40 HU lesions; the mask marks them with ``tumour_value``."""
    grid = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, SPACING, strict=True)], indexing="ij")
    ct = np.full(shape, LIVER_HU, np.float32)
    mask = np.zeros(shape, np.uint8)
    for centre, radius in spheres:
        inside = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2
        ct[inside], mask[inside] = LESION_HU, tumour_value
    return ct, mask


def _save_nifti(path: Path, data: np.ndarray, permuted: bool = False) -> Path:
    """Save with a diagonal affine, or (``permuted``) stored as z (flipped), y, x with a matching affine."""
    affine = np.diag([*SPACING, 1.0])
    if permuted:
        data = np.ascontiguousarray(data.transpose(2, 1, 0)[::-1])
        affine = np.array(
            [
                [0, 0, SPACING[0], 0],
                [0, SPACING[1], 0, 0],
                [-SPACING[2], 0, 0, (SHAPE[2] - 1) * SPACING[2]],
                [0, 0, 0, 1],
            ]
        )
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


@pytest.fixture
def scans(tmp_path) -> Path:
    """Two cases with the same lesions: case_a stored plainly, case_b permuted and flipped."""
    ct, mask = _ct_and_mask()
    for name, permuted in (("case_a", False), ("case_b", True)):
        _save_nifti(tmp_path / f"{name}.nii.gz", ct.astype(np.int16), permuted)
        _save_nifti(tmp_path / f"{name}_mask.nii.gz", mask, permuted)
    return tmp_path


def test_list_nifti_lesions_numbers_by_size(scans):
    table = list_nifti_lesions(scans / "case_a.nii.gz", scans / "case_a_mask.nii.gz")
    assert table["lesion"].tolist() == [1, 2, 3]
    assert table["voxels"].is_monotonic_decreasing
    by_size = sorted(SPHERES, key=lambda sphere: -sphere[1])  # radii 9, 6, 4
    for (_, row), (centre, radius) in zip(table.iterrows(), by_size, strict=True):
        assert row["largest_slice"] == round(centre[2] / SPACING[2])
        assert row["diameter_mm"] == pytest.approx(2 * radius, rel=0.1)
        np.testing.assert_allclose(
            row[["centroid_x", "centroid_y", "centroid_z"]], np.divide(centre, SPACING), atol=0.5
        )


def test_list_nifti_lesions_is_the_same_in_any_storage_order(scans):
    plain = list_nifti_lesions(scans / "case_a.nii.gz", scans / "case_a_mask.nii.gz")
    permuted = list_nifti_lesions(scans / "case_b.nii.gz", scans / "case_b_mask.nii.gz")
    np.testing.assert_allclose(permuted.to_numpy(), plain.to_numpy())


def test_lesion_ties_are_numbered_by_first_voxel(tmp_path):
    ct, mask = _ct_and_mask([((35.0, 27.0, 40.0), 5.0), ((7.0, 9.0, 40.0), 5.0)])  # centres on voxel centres
    table = list_nifti_lesions(_save_nifti(tmp_path / "v.nii", ct), _save_nifti(tmp_path / "m.nii", mask))
    assert table["voxels"].iloc[0] == table["voxels"].iloc[1]
    assert table["centroid_x"].tolist() == pytest.approx([10, 50])  # the one with the lower x comes first


def test_lesions_touching_at_a_corner_are_one_lesion(tmp_path):
    mask = np.zeros(SHAPE, np.uint8)
    mask[10:13, 10:13, 10:13] = 1
    mask[13:16, 13:16, 13:16] = 1  # meets the first cube only at a corner: connected under 26-connectivity
    ct = np.zeros(SHAPE, np.int16)
    table = list_nifti_lesions(_save_nifti(tmp_path / "v.nii", ct), _save_nifti(tmp_path / "m.nii", mask))
    assert table["voxels"].tolist() == [54]


def test_read_nifti_labels_rois_and_diameters(scans):
    _write_csv(
        scans / "lesions.csv",
        [
            "volume,mask,label,patient_id,lesion",
            "case_a.nii.gz,case_a_mask.nii.gz,metastasis,pa,",
            "case_b.nii.gz,case_b_mask.nii.gz,hemangioma,pb,2",
            "case_b.nii.gz,case_b_mask.nii.gz,cyst,pb,1",
        ],
    )
    lesions = read_nifti(scans / "lesions.csv")
    assert lesions.images.shape == (5, 1, 64, 64)
    assert lesions.ids.tolist() == ["case_a#1", "case_a#2", "case_a#3", "case_b#2", "case_b#1"]
    assert lesions.class_names == ("cyst", "hemangioma", "metastasis")
    assert lesions.labels.tolist() == [2, 2, 2, 1, 0]
    assert lesions.patient_ids.tolist() == ["pa", "pa", "pa", "pb", "pb"]
    assert set(lesions.sources.tolist()) == {"nifti"}
    np.testing.assert_allclose(lesions.diameters_mm, [18, 12, 8, 12, 18], rtol=0.1)
    np.testing.assert_allclose(lesions.images[3], lesions.images[1], atol=1e-5)  # storage order does not matter
    np.testing.assert_allclose(lesions.images[:, 0, 32, 32], _unit(LESION_HU), atol=0.01)
    np.testing.assert_allclose(lesions.images[:, 0, 1, 1], _unit(LIVER_HU), atol=0.01)


def _dark_extent(roi: np.ndarray) -> tuple[int, int]:
    """Rows and columns spanned by the lesion (pixels darker than halfway between lesion and liver)."""
    dark = roi < (_unit(LESION_HU) + _unit(LIVER_HU)) / 2
    return int(dark.any(axis=1).sum()), int(dark.any(axis=0).sum())


def test_read_nifti_crop_has_square_pixels_and_margin(scans):
    _write_csv(scans / "t.csv", ["volume,mask,label,patient_id", "case_a.nii.gz,case_a_mask.nii.gz,m,p"])
    for margin, expected in ((0.5, 32), (1.0, 64 / 3)):  # side = (1 + 2 margin) x diameter
        rows, cols = _dark_extent(read_nifti(scans / "t.csv", margin=margin).images[0, 0])
        assert rows == pytest.approx(expected, abs=2.5) and cols == pytest.approx(expected, abs=2.5)


def test_read_nifti_roi_is_oriented_like_a_viewer(tmp_path):
    ct, mask = _ct_and_mask([((20.0, 20.0, 25.0), 6.0)])
    marker = (round(26 / 0.7), round(26 / 0.9), 10)  # to the patient's right (+x) and anterior (+y) of the lesion
    ct[marker[0] - 1 : marker[0] + 2, marker[1] - 1 : marker[1] + 2, marker[2]] = 240.0
    _save_nifti(tmp_path / "v.nii", ct)
    _save_nifti(tmp_path / "m.nii", mask)
    _write_csv(tmp_path / "t.csv", ["volume,mask,label,patient_id", "v.nii,m.nii,m,p"])
    roi = read_nifti(tmp_path / "t.csv").images[0, 0]
    row, col = np.unravel_index(np.argmax(roi), roi.shape)
    assert row < 24 and col < 24  # anterior at the top, patient's right on the left (marker ~16 px off centre)


def test_read_nifti_pads_beyond_the_volume_by_edge_replication(tmp_path):
    edge_x = (SHAPE[0] - 1) * SPACING[0]
    ct, mask = _ct_and_mask([((edge_x, 25.0, 25.0), 6.0)])  # lesion centred on the last x plane
    _save_nifti(tmp_path / "v.nii", ct)
    _save_nifti(tmp_path / "m.nii", mask)
    _write_csv(tmp_path / "t.csv", ["volume,mask,label,patient_id", "v.nii,m.nii,m,p"])
    roi = read_nifti(tmp_path / "t.csv").images[0, 0]
    assert roi[32, 0] == pytest.approx(_unit(LESION_HU), abs=0.01)  # the edge voxel repeated, not zero padding


def test_read_nifti_lesion_values_pick_tumour_from_a_lits_mask(tmp_path):
    ct, mask = _ct_and_mask(tumour_value=2)
    mask[(mask == 0) & (np.indices(SHAPE)[0] < 58)] = 1  # liver around the tumours
    _save_nifti(tmp_path / "volume-0.nii", ct)
    _save_nifti(tmp_path / "segmentation-0.nii", mask)
    assert len(list_nifti_lesions(tmp_path / "volume-0.nii", tmp_path / "segmentation-0.nii")) == 1
    _write_csv(tmp_path / "t.csv", ["volume,mask,label,patient_id", "volume-0.nii,segmentation-0.nii,m,p"])
    lesions = read_nifti(tmp_path / "t.csv", lesion_values=[2])
    assert lesions.ids.tolist() == ["volume-0#1", "volume-0#2", "volume-0#3"]


def test_read_nifti_skips_small_lesions_with_a_warning(scans):
    _write_csv(scans / "t.csv", ["volume,mask,label,patient_id", "case_a.nii.gz,case_a_mask.nii.gz,m,p"])
    with pytest.warns(UserWarning, match=r"skipped 1 lesion\(s\) smaller than min_diameter_mm=10.0.*case_a#3"):
        lesions = read_nifti(scans / "t.csv", min_diameter_mm=10)
    assert lesions.ids.tolist() == ["case_a#1", "case_a#2"]
    with pytest.warns(UserWarning), pytest.raises(LiverkitError, match=r"all 3 lesion\(s\) are smaller"):
        read_nifti(scans / "t.csv", min_diameter_mm=50)


NIFTI_HEADER = "volume,mask,label,patient_id,lesion"


@pytest.mark.parametrize(
    "lines, options, match",
    [
        ([NIFTI_HEADER, "gone.nii,case_a_mask.nii.gz,m,p,"], {}, r"line 2: volume file '.*gone\.nii' does not exist"),
        ([NIFTI_HEADER, "case_a.nii.gz,gone.nii,m,p,"], {}, r"line 2: mask file '.*gone\.nii' does not exist"),
        (
            [NIFTI_HEADER, "case_a.nii.gz,case_a_mask.nii.gz,m,p,", "case_a.nii.gz,case_a_mask.nii.gz,m,p,5"],
            {},
            r"line 3: lesion 5 does not exist; mask 'case_a_mask\.nii\.gz' has 3 lesion\(s\)",
        ),
        (
            [NIFTI_HEADER, "case_a.nii.gz,case_a_mask.nii.gz,m,p,", "case_a.nii.gz,case_a_mask.nii.gz,m,p,2"],
            {},
            r"line 3: lesion 'case_a#2' was already listed \(table .* line 2\)",
        ),
        ([NIFTI_HEADER, "case_a.nii.gz,case_a_mask.nii.gz,m,p,two"], {}, r"line 2: lesion 'two' must be a whole"),
        ([NIFTI_HEADER, "case_a.nii.gz,case_a_mask.nii.gz,m,p,"], {"class_names": ["x"]}, r"label 'm' is not one"),
        (["volume,label,patient_id", "case_a.nii.gz,m,p"], {}, r"lacks column\(s\) \['mask'\]"),
        ([NIFTI_HEADER, "case_a.nii.gz,case_a_mask.nii.gz,m,p,"], {"lesion_values": [2]}, r"no lesion voxels"),
        ([NIFTI_HEADER, "case_a.nii.gz,case_a_mask.nii.gz,m,p,"], {"margin": -1}, r"margin must be >= 0"),
    ],
)
def test_read_nifti_refuses_bad_tables(scans, lines, options, match):
    _write_csv(scans / "t.csv", lines)
    with pytest.raises(LiverkitError, match=match):
        read_nifti(scans / "t.csv", **options)


def test_read_nifti_refuses_bad_volumes(tmp_path):
    ct, mask = _ct_and_mask()
    _save_nifti(tmp_path / "v.nii", ct)
    _save_nifti(tmp_path / "small_mask.nii", mask[:, :, :20])
    _save_nifti(tmp_path / "empty_mask.nii", np.zeros_like(mask))
    nib.save(nib.Nifti1Image(np.stack([ct, ct], axis=-1), np.eye(4)), tmp_path / "v4d.nii")
    (tmp_path / "broken.nii.gz").write_bytes(b"not a nifti file")
    cases = {
        "v.nii,small_mask.nii": r"shape \(64, 56, 26\) but mask '.*small_mask\.nii' has shape \(64, 56, 20\)",
        "v.nii,empty_mask.nii": r"mask '.*empty_mask\.nii' has no lesion voxels \(values nonzero\)",
        "v4d.nii,empty_mask.nii": r"volume '.*v4d\.nii' has shape \(64, 56, 26, 2\); expected one 3-D",
        "broken.nii.gz,empty_mask.nii": r"volume '.*broken\.nii\.gz' cannot be read as NIfTI",
    }
    for pair, match in cases.items():
        _write_csv(tmp_path / "t.csv", ["volume,mask,label,patient_id", f"{pair},m,p"])
        with pytest.raises(LiverkitError, match=match):
            read_nifti(tmp_path / "t.csv")
    with pytest.raises(LiverkitError, match=r"CSV file '.*absent\.csv' does not exist.*volume, mask, label"):
        read_nifti(tmp_path / "absent.csv")


def test_read_nifti_root_option(scans, tmp_path_factory):
    table_dir = tmp_path_factory.mktemp("tables")
    _write_csv(table_dir / "t.csv", ["volume,mask,label,patient_id", "case_a.nii.gz,case_a_mask.nii.gz,m,p"])
    assert len(read_nifti(table_dir / "t.csv", root=scans)) == 3
    assert math.isfinite(read_nifti(table_dir / "t.csv", root=str(scans)).diameters_mm.sum())


def test_read_nifti_keeps_table_paths_inside_the_root(scans, tmp_path_factory):
    table_dir = tmp_path_factory.mktemp("tables")
    inside = [f"{scans}/case_a.nii.gz,case_a_mask.nii.gz,m,p"]  # absolute, but inside root: allowed
    _write_csv(table_dir / "t.csv", ["volume,mask,label,patient_id", *inside])
    assert len(read_nifti(table_dir / "t.csv", root=scans)) == 3
    _write_csv(table_dir / "t.csv", ["volume,mask,label,patient_id", "../elsewhere/case_a.nii.gz,x.nii,m,p"])
    with pytest.raises(
        LiverkitError, match=r"line 2, column 'volume': path '\.\./.*' leaves the root folder '.*'; list"
    ):
        read_nifti(table_dir / "t.csv", root=scans)


def test_readers_take_the_working_folder_as_root(folder, scans, monkeypatch):
    monkeypatch.chdir(folder)
    assert len(read_folder(".")) == 2
    _write_csv(scans / "t.csv", ["volume,mask,label,patient_id", "case_a.nii.gz,case_a_mask.nii.gz,m,p"])
    assert len(read_nifti("t.csv")) == 3  # the table's folder is '.'


# ---------------------------------------------------------------------------------------------- suspicious input
def test_12_bit_ct_in_16_bit_png_is_not_read_near_black(folder):
    ct = np.full((32, 32), 2048, np.uint16)
    ct[0, 0] = 4095
    _save(folder / "ct.png", ct)
    _write_csv(folder / "labels.csv", [HEADER, "a.png,cyst,p1", "ct.png,metastasis,p2"])
    with pytest.warns(UserWarning, match=r"fit in 12 bits.*ct\.png"):
        lesions = read_folder(folder)
    assert lesions.images[1, 0, 32, 32] == pytest.approx(2048 / 4095, abs=1e-3)  # not 2048 / 65535 = 0.03
    assert read_folder(folder, bit_depth=16).images[1, 0, 32, 32] == pytest.approx(2048 / 65535, abs=1e-4)


def test_non_square_roi_is_padded_not_stretched(folder):
    wide = np.zeros((16, 48), np.uint8)
    wide[:, 16:32] = 255  # a 16 x 16 white square in the middle
    _save(folder / "wide.png", wide)
    _write_csv(folder / "labels.csv", [HEADER, "a.png,cyst,p1", "wide.png,metastasis,p2"])
    with pytest.warns(UserWarning, match=r"not square; they were padded.*wide\.png \(16 x 48\)"):
        roi = read_folder(folder).images[1, 0]
    bright = roi > 0.5
    rows, cols = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
    assert abs(len(rows) - len(cols)) <= 1 and 20 <= len(cols) <= 23  # stays square: 16 of 48 px is 21 of 64


def test_readers_are_quiet_unless_asked(folder, tmp_path_factory, capsys):
    read_folder(folder)
    path = _medmnist(tmp_path_factory.mktemp("m") / "m.npz")
    with pytest.warns(UserWarning):
        read_medmnist(path)
    quiet = capsys.readouterr().err
    assert "reading ROIs" not in quiet and "resizing" not in quiet and "%|" not in quiet
    read_folder(folder, progress=True)
    assert "reading ROIs" in capsys.readouterr().err


def test_medmnist_split_hint_fits_the_file(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 28, 28), np.uint8), y=np.zeros(2, np.uint8))
    with pytest.raises(LiverkitError, match=r"It has no split at all, so it is not a MedMNIST archive") as caught:
        read_medmnist(tmp_path / "x.npz")
    assert "splits=" not in str(caught.value)

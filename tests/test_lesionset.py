"""LesionSet: validation on construction, subsets, concat, fingerprints and .npz round trips."""

import numpy as np
import pytest
from helpers import make_set

from liverkit import LiverkitError
from liverkit.data import LesionSet


def _fields(n=4, **changes):
    fields = dict(
        images=np.zeros((n, 1, 64, 64), np.float32),
        labels=np.arange(n) % 2,
        class_names=("cyst", "metastasis"),
        patient_ids=[f"p{i}" for i in range(n)],
        diameters_mm=np.full(n, 20.0),
        ids=[f"x{i}" for i in range(n)],
        sources="test",
    )
    fields.update(changes)
    return fields


def test_valid_set_normalises_types():
    s = LesionSet(**_fields())
    assert len(s) == 4
    assert s.sources.tolist() == ["test"] * 4
    assert s.patient_ids.dtype.kind == "U"
    assert s.diameters_mm.dtype == np.float32
    assert s.class_counts() == {"cyst": 2, "metastasis": 2}


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"images": np.zeros((4, 64, 64), np.float32)}, r"N x 1 x 64 x 64, got \(4, 64, 64\)"),
        ({"images": np.zeros((4, 1, 32, 32), np.float32)}, "N x 1 x 64 x 64"),
        ({"images": np.zeros((4, 1, 64, 64), np.float64)}, "float32"),
        ({"images": np.full((4, 1, 64, 64), np.nan, np.float32)}, "NaN or inf"),
        ({"images": np.full((4, 1, 64, 64), 1.5, np.float32)}, r"\[0, 1\]"),
        ({"labels": np.array([0, 1, 2, 0])}, r"labels \[2\] are outside the class list .*add their classes to"),
        ({"labels": np.array([0, 1, -1, 0])}, r"labels \[-1\]"),
        ({"labels": np.array([0.0, 1.0, 0.0, 1.0])}, r"integers, got dtype float64; give class indices 0\.\.1"),
        ({"patient_ids": ["p0", "p1"]}, r"'patient_ids' must have one entry per image \(4\), got shape \(2,\); give"),
        ({"ids": ["a", "a", "b", "c"]}, r"unique; repeated: \['a'\]"),
        (
            {"diameters_mm": np.array([10.0, -1.0, 5.0, 5.0])},
            r"positive, or NaN where unknown; items \[1\] have \[-1\.0\]",
        ),
        ({"diameters_mm": np.array([np.nan, 5.0, 5.0, np.inf])}, r"items \[3\] have \[inf\]\. Give millimetres > 0"),
        ({"class_names": ("a", "a")}, "duplicates"),
    ],
)
def test_invalid_fields_are_named(changes, match):
    with pytest.raises(LiverkitError, match=match):
        LesionSet(**_fields(**changes))


def test_unknown_diameter_is_nan():
    s = LesionSet(**_fields(diameters_mm=[np.nan, 10, 20, 30]))
    assert np.isnan(s.diameters_mm[0])
    assert s.summary().loc["cyst", "diameter_min_mm"] == 20.0


def test_subset_by_index_mask_and_patient():
    s = make_set([0, 1, 2, 0, 1, 2], patients=["a", "a", "b", "b", "c", "c"])
    assert s.subset([5, 0]).ids.tolist() == ["item-5", "item-0"]
    assert s.subset(s.labels == 2).ids.tolist() == ["item-2", "item-5"]
    assert s.by_patients(["b"]).ids.tolist() == ["item-2", "item-3"]
    assert sorted(s.by_patients(["b"], exclude=True).patients.tolist()) == ["a", "c"]
    assert len(s.by_class("c")) == 2
    with pytest.raises(LiverkitError, match=r"patients not in this LesionSet: \['zz'\]"):
        s.by_patients(["zz"])
    with pytest.raises(LiverkitError, match="unknown class 'd'"):
        s.by_class("d")
    with pytest.raises(LiverkitError, match="out of range"):
        s.subset([6])


def test_concat_keeps_sources_and_checks_classes():
    real = make_set([0, 1], source="phantom")
    fake = LesionSet(**{**_fields(2, class_names=("a", "b", "c")), "ids": ["g0", "g1"], "sources": "dcgan"})
    both = LesionSet.concat([real, fake])
    assert both.sources.tolist() == ["phantom", "phantom", "dcgan", "dcgan"]
    other = make_set([0, 1], class_names=("x", "y"))
    with pytest.raises(LiverkitError, match="different classes"):
        LesionSet.concat([real, other])


def test_save_load_round_trip_without_pickle(tmp_path):
    s = LesionSet(**_fields(diameters_mm=[np.nan, 10, 20, 30]))
    path = s.save(tmp_path / "set.npz")
    loaded = LesionSet.load(path)
    assert np.array_equal(loaded.images, s.images)
    assert loaded.class_names == s.class_names
    assert loaded.ids.tolist() == s.ids.tolist()
    assert loaded.fingerprint() == s.fingerprint()
    with np.load(path, allow_pickle=False) as f:  # would raise if anything needed pickle
        assert f["ids"].dtype.kind == "U"
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]  # no temporary file left behind


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(LiverkitError, match="missing.npz' does not exist"):
        LesionSet.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(LiverkitError, match="could not read the LesionSet file '.*bad.npz'"):
        LesionSet.load(bad)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(LiverkitError, match="missing arrays"):
        LesionSet.load(tmp_path / "other.npz")
    with pytest.raises(LiverkitError, match=r"end in \.npz"):
        make_set([0]).save(tmp_path / "set.npy")


def test_fingerprint_changes_with_content():
    a, b = make_set([0, 1, 2], seed=0), make_set([0, 1, 2], seed=1)
    assert a.fingerprint() == make_set([0, 1, 2], seed=0).fingerprint()
    assert a.fingerprint() != b.fingerprint()
    assert len(a.fingerprint()) == 16


def test_tensors_shapes_and_dtypes():
    import torch

    images, labels = make_set([0, 1, 2]).tensors("cpu")
    assert images.shape == (3, 1, 64, 64) and images.dtype == torch.float32
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1, 2]


def test_has_diameters_tells_known_from_all_nan():
    lesions = make_set([0, 1, 2])
    assert lesions.has_diameters
    unknown = LesionSet(
        lesions.images, lesions.labels, lesions.class_names, lesions.patient_ids, np.full(3, np.nan), lesions.ids
    )
    assert not unknown.has_diameters and np.isnan(unknown.diameters_mm).all()
    partly = LesionSet(
        lesions.images, lesions.labels, lesions.class_names, lesions.patient_ids, [np.nan, 12.0, np.nan], lesions.ids
    )
    assert partly.has_diameters


@pytest.mark.parametrize("keep", [0, 100, 1000])
def test_truncated_lesionset_file_names_the_file(tmp_path, keep):
    path = make_set([0, 1, 2]).save(tmp_path / "s.npz")
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(LiverkitError, match=r"could not read the LesionSet file '.*s\.npz'.*LesionSet\.save") as caught:
        LesionSet.load(path)
    assert "allow_pickle" not in str(caught.value)

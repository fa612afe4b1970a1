"""The CT lesion phantom: paper-like data set, patients, determinism, clear refusals, and measurable class signs.

Class signatures are measured on the 64 x 64 ROIs: the lesion sits near the ROI centre with a radius of about
64 / (2 x fov_factor) = 16 px (the field-of-view jitter makes it 14-18 px), so fixed rings around the centre
sample the lesion's centre, its periphery and the surrounding parenchyma.
"""

import re
import time

import numpy as np
import pytest

from liverkit import LiverkitError
from liverkit.data.phantom import make_phantom
from liverkit.data.phantom_config import CLASS_NAMES, PhantomConfig
from liverkit.data.phantom_render import render_lesion_hu

CYST, METASTASIS, HEMANGIOMA = range(3)

_rows, _cols = np.mgrid[:64, :64]
_RADII = np.hypot(_rows - 31.5, _cols - 31.5) / (64 / (2 * PhantomConfig().fov_factor))  # in lesion radii
CENTRE = _RADII < 0.3
INTERIOR = _RADII < 0.5
RING = (_RADII > 0.5) & (_RADII < 0.8)
PERIPHERY = (_RADII > 0.5) & (_RADII < 1.0)
BACKGROUND = _RADII > 1.5  # the corners: parenchyma and vessels only


def _features(lesions):
    """Per-ROI intensities of the centre, ring, periphery (90th percentile), interior spread and background."""
    images = lesions.images[:, 0]
    return {
        "centre": images[:, CENTRE].mean(axis=1),
        "ring": images[:, RING].mean(axis=1),
        "periphery_p90": np.percentile(images[:, PERIPHERY], 90, axis=1),
        "interior": images[:, INTERIOR].mean(axis=1),
        "interior_std": images[:, INTERIOR].std(axis=1),
        "background": images[:, BACKGROUND].mean(axis=1),
    }


def _nearest_centroid_accuracy(features, labels):
    """Leave-one-out accuracy of a nearest-centroid classifier on standardised features (2 classes)."""
    x = (features - features.mean(axis=0)) / features.std(axis=0)
    correct = 0
    for i in range(len(labels)):
        others = np.arange(len(labels)) != i
        centroids = {k: x[others & (labels == k)].mean(axis=0) for k in np.unique(labels)}
        predicted = min(centroids, key=lambda k: np.sum((x[i] - centroids[k]) ** 2))
        correct += predicted == labels[i]
    return correct / len(labels)


def _lag1_autocorrelation(image):
    """Correlation of each pixel with its right-hand neighbour."""
    return np.corrcoef(image[:, 1:].ravel(), image[:, :-1].ravel())[0, 1]


@pytest.fixture(scope="module")
def default_phantom():
    start = time.perf_counter()
    lesions = make_phantom()
    return lesions, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------- the data set
def test_default_phantom_has_the_papers_counts_shapes_and_ranges(default_phantom):
    lesions, _ = default_phantom
    assert lesions.class_names == CLASS_NAMES == ("cyst", "metastasis", "hemangioma")
    assert lesions.class_counts() == {"cyst": 53, "metastasis": 64, "hemangioma": 65}
    assert lesions.images.shape == (182, 1, 64, 64) and lesions.images.dtype == np.float32
    assert lesions.images.min() >= 0.0 and lesions.images.max() <= 1.0
    assert lesions.images.std() > 0.05  # not a blank or saturated set
    assert set(lesions.sources.tolist()) == {"phantom"}
    assert lesions.ids[0] == "phantom-0000" and lesions.ids[-1] == "phantom-0181"
    assert all(re.fullmatch(r"P\d{3}", p) for p in lesions.patient_ids)


def test_diameters_follow_a_clinical_size_distribution(default_phantom):
    diameters = default_phantom[0].diameters_mm
    assert diameters.min() >= 10.0 and diameters.max() <= 102.0
    assert 0.6 <= np.mean((diameters >= 15) & (diameters <= 50)) <= 0.95  # most lesions 15-50 mm
    assert 20.0 <= np.median(diameters) <= 40.0  # log-normal, median 28 mm
    assert diameters.max() > 60.0  # a tail of large lesions, not a narrow band


def test_default_phantom_runs_in_under_5_seconds(default_phantom):
    assert default_phantom[1] < 5.0


def test_patients_group_lesions_like_a_clinical_series(default_phantom):
    lesions, _ = default_phantom
    patients, lesions_per_patient = np.unique(lesions.patient_ids, return_counts=True)
    assert 95 <= len(patients) <= 135  # 182 / 1.6 = 114
    assert np.sum(lesions_per_patient >= 2) >= 15
    classes_per_patient = np.array([len(np.unique(lesions.labels[lesions.patient_ids == p])) for p in patients])
    assert np.mean(classes_per_patient == 1) >= 0.85  # mostly one class per patient ...
    assert classes_per_patient.max() >= 2  # ... occasionally mixed
    for label in range(3):
        assert len(np.unique(lesions.patient_ids[lesions.labels == label])) >= 3

    # metastatic patients carry more lesions than hemangioma patients
    def lesions_per_patient(label):
        return np.mean(np.unique(lesions.patient_ids[lesions.labels == label], return_counts=True)[1])

    assert lesions_per_patient(METASTASIS) > lesions_per_patient(HEMANGIOMA)
    # ordered by patient: each patient's lesions are contiguous
    changes = np.sum(lesions.patient_ids[1:] != lesions.patient_ids[:-1])
    assert changes == len(patients) - 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_class_keeps_three_patients_when_lesions_are_few(seed):
    lesions = make_phantom(seed=seed, n_cyst=3, n_metastasis=5, n_hemangioma=4, mean_lesions_per_patient=3.0)
    for label in range(3):
        assert len(np.unique(lesions.patient_ids[lesions.labels == label])) >= 3


def test_same_seed_gives_identical_arrays_and_another_seed_differs():
    small = {"n_cyst": 6, "n_metastasis": 6, "n_hemangioma": 6}
    first, again, other = make_phantom(seed=7, **small), make_phantom(seed=7, **small), make_phantom(seed=8, **small)
    assert np.array_equal(first.images, again.images)
    assert np.array_equal(first.labels, again.labels) and np.array_equal(first.patient_ids, again.patient_ids)
    assert np.array_equal(first.diameters_mm, again.diameters_mm)
    assert first.fingerprint() == again.fingerprint() != other.fingerprint()
    assert not np.array_equal(first.images, other.images)
    assert not np.array_equal(first.diameters_mm, other.diameters_mm)


def test_difficulty_changes_the_rendering_but_keeps_the_layout():
    small = {"n_cyst": 5, "n_metastasis": 5, "n_hemangioma": 5}
    easy, hard = make_phantom(seed=4, difficulty=0.0, **small), make_phantom(seed=4, difficulty=1.0, **small)
    assert np.array_equal(easy.labels, hard.labels) and np.array_equal(easy.patient_ids, hard.patient_ids)
    assert np.array_equal(easy.diameters_mm, hard.diameters_mm)
    assert not np.array_equal(easy.images, hard.images)


# ---------------------------------------------------------------------------------------------- settings and errors
def test_overrides_apply_on_top_of_a_config():
    config = PhantomConfig(n_cyst=4, n_metastasis=4, n_hemangioma=4)
    lesions = make_phantom(config, seed=1, n_cyst=2, diameter_range_mm=[20, 30])  # a list, as YAML gives it
    assert lesions.class_counts() == {"cyst": 2, "metastasis": 4, "hemangioma": 4}
    assert lesions.diameters_mm.min() >= 20.0 and lesions.diameters_mm.max() <= 30.0
    assert PhantomConfig(diameter_range_mm=[20, 30]).diameter_range_mm == (20.0, 30.0)


def test_unknown_override_is_refused_listing_the_valid_fields():
    with pytest.raises(LiverkitError, match=r"difficulty_level.*valid PhantomConfig fields.*'n_cyst'"):
        make_phantom(difficulty_level=0.3)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("difficulty", 1.5),
        ("difficulty", -0.1),
        ("difficulty", float("nan")),
        ("diameter_range_mm", (50.0, 10.0)),
        ("diameter_range_mm", (0.0, 10.0)),
        ("diameter_range_mm", (10.0,)),
        ("noise_hu_range", (-1.0, 5.0)),
        ("window_hu", (250.0, -100.0)),
        ("n_cyst", -1),
        ("n_metastasis", 2.5),
        ("n_hemangioma", True),
        ("fov_factor", 1.0),
        ("pixel_mm", 0.0),
        ("mean_lesions_per_patient", 0.5),
        ("max_vessels", -1),
        ("noise_correlation_px", -1.0),
        ("mixed_patient_fraction", 0.9),
        ("max_canvas_px", 16),
    ],
)
def test_bad_config_values_are_refused_naming_field_value_and_range(field, value):
    with pytest.raises(LiverkitError, match=re.escape(f"PhantomConfig.{field} = {value!r} is invalid: it must be")):
        make_phantom(**{field: value})


def test_an_empty_phantom_is_refused():
    with pytest.raises(LiverkitError, match="n_cyst, n_metastasis and n_hemangioma are all 0"):
        PhantomConfig(n_cyst=0, n_metastasis=0, n_hemangioma=0)


def test_bad_seed_and_render_arguments_are_refused():
    with pytest.raises(LiverkitError, match="seed must be an integer >= 0"):
        make_phantom(seed=-1, n_cyst=3)
    rng, config = np.random.default_rng(0), PhantomConfig()
    with pytest.raises(LiverkitError, match="unknown phantom class 'tumour'"):
        render_lesion_hu("tumour", 30.0, rng, config, 10.0)
    with pytest.raises(LiverkitError, match="diameter_mm must be a number > 0"):
        render_lesion_hu("cyst", -5.0, rng, config, 10.0)
    with pytest.raises(LiverkitError, match="noise_hu must be a number >= 0"):
        render_lesion_hu("cyst", 30.0, rng, config, -1.0)


# ---------------------------------------------------------------------------------------------- HU canvases
def test_canvas_side_follows_the_lesion_size_and_mask_is_centred():
    config = PhantomConfig()
    for seed in range(5):
        hu, mask = render_lesion_hu("cyst", 30.0, np.random.default_rng(seed), config, 10.0)
        side = hu.shape[0]
        assert hu.shape == mask.shape == (side, side) and hu.dtype == np.float32 and mask.dtype == bool
        assert 2 * 30 * 0.9 / 0.7 - 1 <= side <= 2 * 30 * 1.15 / 0.7 + 1  # FOV = 2 x d x (0.9..1.15), 0.7 mm/px
        area = np.pi * (15.0 / 0.7) ** 2  # a circle of the lesion's diameter, in pixels
        assert 0.55 * area <= mask.sum() <= 1.05 * area  # an oval with axis ratio 0.6-1
        rows, cols = np.nonzero(mask)
        assert abs(rows.mean() - (side - 1) / 2) <= 0.06 * side and abs(cols.mean() - (side - 1) / 2) <= 0.06 * side
    small, _ = render_lesion_hu("cyst", 10.0, np.random.default_rng(0), PhantomConfig(fov_factor=1.2), 5.0)
    assert small.shape[0] >= 24
    large, _ = render_lesion_hu("hemangioma", 100.0, np.random.default_rng(0), PhantomConfig(max_canvas_px=64), 5.0)
    assert large.shape == (64, 64)


def test_noise_is_correlated_and_has_the_requested_std():
    """Two renders from equal generators that differ only in noise_hu differ by exactly the noise field."""
    config = PhantomConfig()
    clean, _ = render_lesion_hu("metastasis", 30.0, np.random.default_rng(5), config, 0.0)
    noisy, _ = render_lesion_hu("metastasis", 30.0, np.random.default_rng(5), config, 15.0)
    noise = noisy.astype(np.float64) - clean
    assert noise.std() == pytest.approx(15.0, rel=1e-3)
    # Gaussian-blurred white noise (sigma 1.2 px) has lag-1 autocorrelation exp(-1 / (4 x 1.2^2)) = 0.84
    assert _lag1_autocorrelation(noise) > 0.7 and _lag1_autocorrelation(noise.T) > 0.7
    white_config = PhantomConfig(noise_correlation_px=0.0)
    clean, _ = render_lesion_hu("metastasis", 30.0, np.random.default_rng(5), white_config, 0.0)
    noisy, _ = render_lesion_hu("metastasis", 30.0, np.random.default_rng(5), white_config, 15.0)
    assert abs(_lag1_autocorrelation(noisy.astype(np.float64) - clean)) < 0.1  # the measure can tell


def test_noise_free_canvases_have_the_radiological_densities():
    """Cysts are water, the parenchyma 90-120 HU, hemangioma nodules reach vessel brightness (difficulty 0)."""
    config = PhantomConfig(difficulty=0.0, max_vessels=0)
    cyst_levels, parenchyma_levels, hemangioma_peaks = [], [], []
    for seed in range(12):
        hu, mask = render_lesion_hu("cyst", 40.0, np.random.default_rng(seed), config, 0.0, texture_hu=0.0)
        cyst_levels.append(np.median(hu[mask]))
        parenchyma_levels.append(np.median(hu[~mask]))
        hu, mask = render_lesion_hu("hemangioma", 40.0, np.random.default_rng(seed), config, 0.0)
        hemangioma_peaks.append(hu[mask].max())
    assert 0.0 <= min(cyst_levels) and max(cyst_levels) <= 20.0
    assert 89.0 <= min(parenchyma_levels) and max(parenchyma_levels) <= 121.0
    assert np.mean(np.array(hemangioma_peaks) >= 145.0) >= 0.9


# ---------------------------------------------------------------------------------------------- class signatures
def test_cysts_are_homogeneous_and_darker_than_parenchyma(default_phantom):
    lesions, _ = default_phantom
    f, labels = _features(lesions), lesions.labels
    cyst, metastasis = labels == CYST, labels == METASTASIS
    assert f["interior_std"][metastasis].mean() > 1.3 * f["interior_std"][cyst].mean()
    contrast = f["centre"][cyst] - f["background"][cyst]  # in window units: 0.1 is 35 HU
    assert np.mean(contrast < -0.1) >= 0.95 and contrast.mean() < -0.2


def test_hemangioma_periphery_is_brighter_than_its_centre(default_phantom):
    lesions, _ = default_phantom
    f, labels = _features(lesions), lesions.labels
    ring_minus_centre = f["ring"] - f["centre"]
    hemangioma = ring_minus_centre[labels == HEMANGIOMA]
    assert hemangioma.mean() > 0.1 and np.mean(hemangioma > 0) >= 0.75
    # cysts have no rim: their value comes from the ring catching parenchyma beside ovals, the baseline to beat
    assert hemangioma.mean() > ring_minus_centre[labels == CYST].mean() + 0.05


def test_metastasis_interior_is_darker_than_hemangioma_periphery(default_phantom):
    lesions, _ = default_phantom
    f, labels = _features(lesions), lesions.labels
    metastasis_interior = f["interior"][labels == METASTASIS]
    hemangioma_periphery = f["periphery_p90"][labels == HEMANGIOMA]
    assert hemangioma_periphery.mean() - metastasis_interior.mean() > 0.15
    assert np.median(hemangioma_periphery) > np.percentile(metastasis_interior, 90)


def test_difficulty_merges_metastases_and_hemangiomas():
    accuracy, separation = {}, {}
    for difficulty in (0.0, 0.5, 1.0):
        lesions = make_phantom(seed=3, n_cyst=0, n_metastasis=40, n_hemangioma=40, difficulty=difficulty)
        f, labels = _features(lesions), lesions.labels
        x = np.stack([f["centre"], f["ring"], f["periphery_p90"] - f["background"], f["interior_std"]], axis=1)
        accuracy[difficulty] = _nearest_centroid_accuracy(x, labels)
        peak = f["periphery_p90"] - f["background"]
        separation[difficulty] = peak[labels == HEMANGIOMA].mean() - peak[labels == METASTASIS].mean()
    assert accuracy[0.0] >= 0.85  # apart by eye at 0
    assert accuracy[0.0] - accuracy[1.0] >= 0.15  # and close to chance (0.5) at 1
    # hemangioma nodules over metastasis rims, in window units (0.02 is 7 HU): shrinking step by step
    assert separation[0.0] > separation[0.5] + 0.02 and separation[0.5] > separation[1.0] + 0.02

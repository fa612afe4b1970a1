"""The built-in CT lesion phantom: a procedural stand-in for the paper's private data (notebook 01).

The paper's 182 portal-venous CT liver lesions (53 cysts, 64 metastases, 65 hemangiomas, 10-102 mm) are not
public, so the kit draws look-alikes with the same radiological signs. Each ROI is built in Hounsfield units
(HU), as a scanner would show it, and then goes through the same two steps as real data: the CT window to
[0, 1] (:func:`~liverkit.data.imageops.window`) and a bicubic resize to 64 x 64 (:func:`~liverkit.data.imageops.
resize_roi`).

The model, per ROI:

- Field of view: ``fov_factor`` x the lesion diameter (x 0.9-1.15 jitter), sampled at ``pixel_mm``, lesion near the
  centre. A small lesion is therefore upsampled to 64 px (coarse, blobby noise), a large one shrunk (noise averaged).
- Background: liver parenchyma at a per-patient level (90-120 HU) with a smooth texture of a few HU, and up to
  ``max_vessels`` portal-venous vessels (curved tubes, 150-200 HU) passing beside the lesion, hidden where they
  cross it.
- Cyst: round to oval, sharp margin, homogeneous water density, no rim.
- Metastasis: hypodense heterogeneous core, blurred lobulated margin, often a continuous enhancing rim a little
  brighter than the parenchyma (target look), sometimes a necrotic near-water centre.
- Hemangioma: hypodense homogeneous centre with nodular, discontinuous peripheral enhancement as bright as vessels,
  filled in towards the centre by a random fraction; lesions under 20 mm may be uniformly bright (flash filling).
- CT noise: white Gaussian noise blurred by ``noise_correlation_px`` (so it is spatially correlated, like
  reconstructed CT noise) and rescaled to the patient's standard deviation.
- Diameters: log-normal (median 28 mm) truncated to ``diameter_range_mm``, the same for every class, so size
  carries no class information.
- Patients: about ``n_lesions / mean_lesions_per_patient`` of them, each with its own noise, parenchyma level and
  texture. A patient's lesions share a class (metastatic patients have the most lesions, hemangioma patients the
  fewest), except ``mixed_patient_fraction`` of lesions moved to a patient of another class. Every class gets at
  least 3 patients when it has at least 3 lesions, so patient-level 3-fold cross-validation works.

The difficulty knob. ``difficulty`` = t in [0, 1] (default 0.8, calibrated: see below) is the one setting for
class overlap; every effect is linear in t, hence monotone and smooth:

- Metastases and hemangiomas come from one renderer whose traits (``_ENHANCING_TRAITS``) are drawn uniformly from
  class ranges. At t = 0 each class uses its own range; as t grows both ranges slide towards their shared midpoint
  by a fraction 0.9 t, so at t = 1 the ranges are 90 % merged and the pair is near-indistinguishable. At t = 0
  (metastasis / hemangioma): core 45-80 / 25-50 HU, core texture 8-16 / 1-4 HU, necrosis 40 % / 0 %, peripheral
  enhancement present 70 % / 100 %, its brightness +25-55 / +60-95 HU over parenchyma, continuity 0.8-1 / 0-0.2
  (1 = continuous rim, 0 = separate nodules), thickness 10-20 / 15-30 % of the radius, centripetal fill 0-10 /
  0-70 %, margin blur 1.5-4 / 0.3-1 mm, lobulation 4-12 / 0-4 %. So with t hemangioma nodules get dimmer, more
  continuous and less often present, metastasis rims brighter and more nodular, and the centres more alike.
- A hemangioma under 20 mm flash-fills with probability 0.5 at t = 0, falling to 0.1 at t = 1.
- Cysts: density 0-20 HU at t = 0 rising to 15-40 HU at t = 1 (nearer to metastasis cores), margin blur
  0.3 mm rising to 1.5 mm.
- Noise: each patient's standard deviation is drawn in ``noise_hu_range`` x (0.75 + 0.5 t): the range as given at
  t = 0.5, three quarters of it at 0, one and a quarter at 1.

Changing the difficulty keeps the patients, classes, diameters and random streams, and most traits are drawn as
the same quantile of the moved range, so the same seed shows the same lesions rendered easier or harder.

Calibration (docs/calibration.md): the default 0.8 is the difficulty, of 0.5-0.8, whose pooled 3-fold accuracies
with the paper's protocol and classic augmentation only (no augmentation, and the classic group 5000) came
closest to the paper's 57% and 78.6%. No GAN entered that choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import expit
from scipy.stats import norm

from liverkit.data.imageops import LIVER_WINDOW_HU, resize_roi, window
from liverkit.data.lesionset import LesionSet
from liverkit.errors import LiverkitError

CLASS_NAMES: tuple[str, ...] = ("cyst", "metastasis", "hemangioma")
"""The phantom's classes, in label order (the paper's three lesion types)."""

PARENCHYMA_HU_RANGE = (90.0, 120.0)
"""Per-patient liver parenchyma level in HU, portal venous phase."""

TEXTURE_HU_RANGE = (2.0, 6.0)
"""Per-patient standard deviation of the smooth parenchyma texture, in HU."""

VESSEL_HU_RANGE = (150.0, 200.0)
"""Enhanced portal and hepatic vessels in the portal venous phase, in HU."""

_TEXTURE_SCALE_MM = 5.0  # smoothing length of the parenchyma texture
_VESSEL_WIDTH_MM = (1.5, 4.0)  # full width at half maximum of a vessel
_FOV_JITTER = (0.9, 1.15)  # the field of view is fov_factor x diameter x this
_CENTRE_JITTER = 0.04  # largest lesion offset from the canvas centre, as a fraction of the canvas side
_MIN_CANVAS_PX = 24  # smallest HU canvas side
_DIAMETER_MEDIAN_MM = 28.0  # log-normal diameters: most lesions 15-50 mm, as in clinical series
_DIAMETER_LOG_SD = 0.5
_MIN_PATIENTS_PER_CLASS = 3  # patient-level 3-fold cross-validation needs 3 patients per class
_LESIONS_PER_PATIENT_WEIGHT = (1.0, 1.4, 0.8)  # relative lesions per patient: cyst, metastasis, hemangioma
_FLASH_FILL_MAX_MM = 20.0
_CYST_HU = ((0.0, 20.0), (15.0, 40.0))  # density range at difficulty 0 and 1
_CYST_MARGIN_MM = (0.3, 1.5)  # margin blur at difficulty 0 and 1
_MERGE_AT_FULL_DIFFICULTY = 0.9  # how far metastasis and hemangioma trait ranges merge at difficulty 1

_ENHANCING_TRAITS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    # trait: (metastasis range, hemangioma range) at difficulty 0; probabilities are given as (p, p)
    "core_hu": ((45.0, 80.0), (25.0, 50.0)),  # centre density, HU
    "core_texture_hu": ((8.0, 16.0), (1.0, 4.0)),  # heterogeneity of the centre, HU
    "necrosis_prob": ((0.4, 0.4), (0.0, 0.0)),  # chance of a near-water necrotic centre
    "periphery_prob": ((0.7, 0.7), (1.0, 1.0)),  # chance of peripheral enhancement (rim or nodules)
    "periphery_delta_hu": ((25.0, 55.0), (60.0, 95.0)),  # enhancement above the parenchyma, HU
    "continuity": ((0.8, 1.0), (0.0, 0.2)),  # 1 = continuous rim, 0 = separate nodules
    "periphery_thickness": ((0.10, 0.20), (0.15, 0.30)),  # fraction of the radius
    "fill": ((0.0, 0.1), (0.0, 0.7)),  # fraction of the radius filled in from the periphery
    "margin_mm": ((1.5, 4.0), (0.3, 1.0)),  # margin blur
    "lobulation": ((0.04, 0.12), (0.0, 0.04)),  # amplitude of the low-order radius harmonics
}


@dataclass(frozen=True)
class PhantomConfig:
    """How the phantom draws its lesions. Every field is checked on construction (LiverkitError if invalid)."""

    n_cyst: int = 53
    """Number of cysts, a count >= 0. 53, as in the paper's data set."""

    n_metastasis: int = 64
    """Number of metastases, a count >= 0. 64, as in the paper."""

    n_hemangioma: int = 65
    """Number of hemangiomas, a count >= 0. 65, as in the paper."""

    diameter_range_mm: tuple[float, float] = (10.0, 102.0)
    """Smallest and largest lesion diameter (longest axis), in mm: the paper's 10-102 mm. Diameters follow a
    log-normal with median 28 mm truncated to this range, so most fall between 15 and 50 mm."""

    noise_hu_range: tuple[float, float] = (4.0, 20.0)
    """Range of the per-patient CT noise standard deviation, in HU, before the difficulty scale (x 0.75 to 1.25).
    Portal venous liver CT runs from about 5 HU (standard dose) to about 20 HU (low dose, large patients)."""

    difficulty: float = 0.8
    """Class overlap in [0, 1], unitless: 0 = classes apart by eye, 1 = metastasis vs hemangioma near-
    indistinguishable (see the module docstring for what changes). The default 0.8 is calibrated with classic
    augmentation only (docs/calibration.md)."""

    mean_lesions_per_patient: float = 1.6
    """Average lesions per patient (>= 1). Real series include patients with several lesions, which is why the
    paper splits its folds by patient; 1.6 gives about 114 patients for the default 182 lesions."""

    pixel_mm: float = 0.7
    """In-plane pixel spacing of the simulated scan, in mm: typical abdominal CT (a 360 mm field on 512 pixels)."""

    fov_factor: float = 2.0
    """ROI field of view as a multiple of the lesion diameter (> 1, then x 0.9-1.15 jitter): 2 keeps a ring of
    parenchyma around the lesion, as a radiologist's crop does. The lesion radius in the 64 px ROI is then about
    64 / (2 x fov_factor) = 16 px."""

    window_hu: tuple[float, float] = LIVER_WINDOW_HU
    """CT window (low, high) in HU mapped to [0, 1]; the kit's liver window, shared with the readers."""

    max_vessels: int = 3
    """Most vessels per ROI, a count >= 0 (each ROI draws 0 to this many): a few bright distractors, as in a real
    liver crop."""

    noise_correlation_px: float = 1.2
    """Gaussian blur (sigma, in canvas pixels) applied to white noise, >= 0: reconstructed CT noise is spatially
    correlated; 1.2 px gives a lag-1 autocorrelation of about 0.8. 0 gives white noise."""

    mixed_patient_fraction: float = 0.05
    """Fraction of lesions, in [0, 0.5], moved to a patient whose other lesions are of another class: real patients
    are occasionally mixed (a cyst beside metastases). 5 % keeps patients mostly single-class."""

    max_canvas_px: int = 384
    """Largest HU canvas side in pixels (>= 32); beyond it the pixel spacing is coarsened so big lesions stay
    fast. 384 leaves every default lesion (102 mm needs at most about 335 px) at full resolution."""

    def __post_init__(self) -> None:
        _validate_counts(self)
        _validate_ranges(self)
        _validate_scalars(self)


# ---------------------------------------------------------------------------------------------- validation
def _fail(name: str, value: object, valid: str) -> LiverkitError:
    """The error for one bad PhantomConfig field: names the field, the value and what is allowed."""
    return LiverkitError(f"PhantomConfig.{name} = {value!r} is invalid: it must be {valid}.")


def _is_number(value: object) -> bool:
    """True for a finite int or float (not a bool)."""
    is_real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return is_real and math.isfinite(value)


def _is_count(value: object) -> bool:
    """True for an int >= 0 (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def _validate_counts(config: PhantomConfig) -> None:
    """Check the integer fields: class counts (not all zero), vessels and the canvas limit."""
    for name in ("n_cyst", "n_metastasis", "n_hemangioma", "max_vessels"):
        if not _is_count(getattr(config, name)):
            raise _fail(name, getattr(config, name), "an integer >= 0")
    if config.n_cyst + config.n_metastasis + config.n_hemangioma == 0:
        raise LiverkitError(
            "PhantomConfig n_cyst, n_metastasis and n_hemangioma are all 0: set at least one of them to a count > 0."
        )
    if not (_is_count(config.max_canvas_px) and config.max_canvas_px >= 32):
        raise _fail("max_canvas_px", config.max_canvas_px, "an integer >= 32 (pixels)")


def _validate_ranges(config: PhantomConfig) -> None:
    """Check the (low, high) fields and store them as tuples of floats (YAML and users may give lists)."""
    rules = {
        "diameter_range_mm": (lambda lo, hi: 0 < lo <= hi, "(low, high) in mm with 0 < low <= high"),
        "noise_hu_range": (lambda lo, hi: 0 <= lo <= hi, "(low, high) in HU with 0 <= low <= high"),
        "window_hu": (lambda lo, hi: lo < hi, "(low, high) in HU with low < high"),
    }
    for name, (is_valid, valid) in rules.items():
        value = getattr(config, name)
        pair = tuple(value) if isinstance(value, (tuple, list, np.ndarray)) else ()
        if len(pair) != 2 or not all(_is_number(v) for v in pair) or not is_valid(*pair):
            raise _fail(name, value, valid)
        object.__setattr__(config, name, (float(pair[0]), float(pair[1])))


def _validate_scalars(config: PhantomConfig) -> None:
    """Check the single-number fields against their allowed ranges."""
    rules = {
        "difficulty": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
        "mean_lesions_per_patient": (lambda v: v >= 1, "a number >= 1 (lesions per patient)"),
        "pixel_mm": (lambda v: v > 0, "a number > 0 (mm per pixel)"),
        "fov_factor": (lambda v: v > 1, "a number > 1 (field of view / lesion diameter)"),
        "noise_correlation_px": (lambda v: v >= 0, "a number >= 0 (pixels; 0 = white noise)"),
        "mixed_patient_fraction": (lambda v: 0 <= v <= 0.5, "a number in [0, 0.5]"),
    }
    for name, (is_valid, valid) in rules.items():
        value = getattr(config, name)
        if not (_is_number(value) and is_valid(value)):
            raise _fail(name, value, valid)


def _resolve_config(config: PhantomConfig | None, overrides: dict) -> PhantomConfig:
    """The config to use: ``config`` (or the defaults) with ``overrides`` applied, each name checked."""
    if config is None:
        config = PhantomConfig()
    if not isinstance(config, PhantomConfig):
        raise LiverkitError(f"config must be a PhantomConfig or None, got {type(config).__name__}.")
    valid = [f.name for f in fields(PhantomConfig)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise LiverkitError(f"unknown phantom setting(s) {unknown}; valid PhantomConfig fields are: {valid}.")
    return replace(config, **overrides)


# ---------------------------------------------------------------------------------------------- the data set
@dataclass(frozen=True)
class _Scan:
    """What one patient's scan adds to all of that patient's lesions."""

    noise_hu: float
    parenchyma_hu: float
    texture_hu: float


def make_phantom(config: PhantomConfig | None = None, seed: int = 0, **overrides) -> LesionSet:
    """Draw the phantom data set: lesion ROIs with labels, patients and true diameters.

    Args:
        config: the settings; None uses :class:`PhantomConfig`'s defaults (the paper's class counts).
        seed: the only source of randomness; the same seed gives bit-identical arrays.
        **overrides: PhantomConfig field names and values applied on top of ``config``, e.g. ``difficulty=0.3``.

    Returns:
        A LesionSet ordered by patient (``P000`` first), class names :data:`CLASS_NAMES`, source ``"phantom"``.
    """
    config = _resolve_config(config, overrides)
    if not _is_count(seed):
        raise LiverkitError(f"seed must be an integer >= 0, got {seed!r}.")
    layout_rng, scan_rng, lesion_rng = np.random.default_rng(seed).spawn(3)
    counts = [config.n_cyst, config.n_metastasis, config.n_hemangioma]
    labels = np.repeat(np.arange(len(CLASS_NAMES)), counts)
    patient_of = _assign_patients(labels, config, layout_rng)
    diameters = _draw_diameters(len(labels), config, layout_rng)
    order = np.argsort(patient_of, kind="stable")
    labels, patient_of, diameters = labels[order], patient_of[order], diameters[order]
    scans = _draw_scans(int(patient_of.max()) + 1, config, scan_rng)
    lesion_rngs = lesion_rng.spawn(len(labels))
    images = [
        _render_roi(CLASS_NAMES[label], diameter, scans[patient], config, rng)
        for label, diameter, patient, rng in zip(labels, diameters, patient_of, lesion_rngs, strict=True)
    ]
    return LesionSet(
        images=np.stack(images)[:, None],
        labels=labels,
        class_names=CLASS_NAMES,
        patient_ids=[f"P{p:03d}" for p in patient_of],
        diameters_mm=diameters,
        ids=[f"phantom-{i:04d}" for i in range(len(labels))],
        sources="phantom",
    )


def _render_roi(
    class_name: str, diameter_mm: float, scan: _Scan, config: PhantomConfig, rng: np.random.Generator
) -> np.ndarray:
    """One 64 x 64 ROI in [0, 1]: HU canvas, then the CT window, then the bicubic resize (as the paper does)."""
    scan_hu = {"parenchyma_hu": scan.parenchyma_hu, "texture_hu": scan.texture_hu}
    hu, _ = render_lesion_hu(class_name, diameter_mm, rng, config, scan.noise_hu, **scan_hu)
    return resize_roi(window(hu, config.window_hu))


def _draw_diameters(n: int, config: PhantomConfig, rng: np.random.Generator) -> np.ndarray:
    """Log-normal diameters truncated to the configured range by inverse-CDF sampling (no pile-up at the ends)."""
    low, high = config.diameter_range_mm
    mu = math.log(_DIAMETER_MEDIAN_MM)
    cdf_low, cdf_high = norm.cdf((np.log([low, high]) - mu) / _DIAMETER_LOG_SD)
    z = norm.ppf(rng.uniform(cdf_low, cdf_high, size=n))
    return np.clip(np.exp(mu + _DIAMETER_LOG_SD * z), low, high)


def _draw_scans(n_patients: int, config: PhantomConfig, rng: np.random.Generator) -> list[_Scan]:
    """Per-patient noise, parenchyma level and texture; the noise range is scaled by 0.75 + 0.5 x difficulty."""
    noise_scale = 0.75 + 0.5 * config.difficulty
    noise = rng.uniform(*config.noise_hu_range, size=n_patients) * noise_scale
    parenchyma = rng.uniform(*PARENCHYMA_HU_RANGE, size=n_patients)
    texture = rng.uniform(*TEXTURE_HU_RANGE, size=n_patients)
    return [_Scan(float(a), float(b), float(c)) for a, b, c in zip(noise, parenchyma, texture, strict=True)]


# ---------------------------------------------------------------------------------------------- patients
def _assign_patients(labels: np.ndarray, config: PhantomConfig, rng: np.random.Generator) -> np.ndarray:
    """A patient number per lesion: single-class patients, a few mixed ones, numbered in random order."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    patient_of = np.empty(len(labels), dtype=np.int64)
    n_patients = 0
    for label, n_class_patients in enumerate(_patients_per_class(counts, config.mean_lesions_per_patient)):
        sizes = _split_into_patients(counts[label], n_class_patients, rng)
        patient_of[labels == label] = n_patients + np.repeat(np.arange(n_class_patients), sizes)
        n_patients += n_class_patients
    patient_of = _mix_patients(patient_of, labels, config.mixed_patient_fraction, rng)
    return rng.permutation(n_patients)[patient_of]


def _patients_per_class(counts: np.ndarray, mean_lesions: float) -> np.ndarray:
    """Patients per class, so that the total is about sum(counts) / mean_lesions.

    Metastatic patients get more lesions each than cyst patients, hemangioma patients fewer
    (``_LESIONS_PER_PATIENT_WEIGHT``); every class keeps at least 3 patients when it has 3 lesions.
    """
    weights = np.asarray(_LESIONS_PER_PATIENT_WEIGHT)
    scale = np.sum(counts / weights) / counts.sum()
    patients = np.rint(counts / (mean_lesions * weights * scale)).astype(np.int64)
    return np.clip(patients, np.minimum(counts, _MIN_PATIENTS_PER_CLASS), counts)


def _split_into_patients(n_lesions: int, n_patients: int, rng: np.random.Generator) -> np.ndarray:
    """Lesions per patient: one each, the rest spread unevenly (Dirichlet-multinomial), so a few have many."""
    if n_patients == 0:
        return np.zeros(0, dtype=np.int64)
    shares = rng.dirichlet(np.ones(n_patients))
    return 1 + rng.multinomial(n_lesions - n_patients, shares)


def _mix_patients(patient_of: np.ndarray, labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Move a few lesions to a patient of another class.

    Each donor patient has at least 2 lesions and gives at most one, so nobody is left empty and no class
    loses a patient.
    """
    patient_of = patient_of.copy()
    patient_class = np.zeros(patient_of.max() + 1, dtype=np.int64)
    patient_class[patient_of] = labels
    donors = np.flatnonzero(np.bincount(patient_of) >= 2)
    n_moves = min(round(fraction * len(labels)), len(donors))
    for donor in rng.choice(donors, size=n_moves, replace=False):
        receivers = np.flatnonzero(patient_class != patient_class[donor])
        if receivers.size:
            lesion = rng.choice(np.flatnonzero(patient_of == donor))
            patient_of[lesion] = rng.choice(receivers)
    return patient_of


# ---------------------------------------------------------------------------------------------- one ROI in HU
@dataclass(frozen=True)
class _Canvas:
    """The pixel grid of one ROI; ``y`` and ``x`` are pixel offsets from the lesion centre (broadcastable)."""

    side: int
    pixel_mm: float
    radius_px: float
    y: np.ndarray
    x: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (self.side, self.side)


@dataclass(frozen=True)
class _Outline:
    """A lesion's shape on the canvas, per pixel."""

    rho: np.ndarray  # distance from the centre over the outline's radius at that angle: 1 on the margin
    theta: np.ndarray  # angle around the centre, in the lesion's own (rotated) frame
    inside_px: np.ndarray  # approximate distance to the margin in pixels, > 0 inside


def render_lesion_hu(
    class_name: str,
    diameter_mm: float,
    rng: np.random.Generator,
    config: PhantomConfig,
    noise_hu: float,
    *,
    parenchyma_hu: float | None = None,
    texture_hu: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One ROI canvas in Hounsfield units and its boolean lesion mask.

    The canvas is square, its side the field of view (``fov_factor`` x diameter, jittered) over ``pixel_mm``,
    at least 24 and at most ``max_canvas_px`` pixels. The noise is drawn last and always from the same number
    of random values, so two calls with equal generators that differ only in ``noise_hu`` differ only by noise.

    Args:
        class_name: one of :data:`CLASS_NAMES`.
        diameter_mm: the lesion's longest diameter, in mm.
        rng: the generator every random choice comes from.
        config: the phantom settings (``difficulty``, ``pixel_mm``, ``fov_factor``, vessels, noise blur).
        noise_hu: standard deviation of the correlated CT noise, in HU (0 for a noise-free canvas).
        parenchyma_hu: the liver's level in HU; None draws one in 90-120 HU (make_phantom passes the patient's).
        texture_hu: standard deviation of the parenchyma texture in HU; None draws one in 2-6 HU.

    Returns:
        ``(hu, mask)``: a float32 side x side HU image, and a bool image that is True inside the lesion.
    """
    _check_render_args(class_name, diameter_mm, rng, config, noise_hu)
    parenchyma_hu = rng.uniform(*PARENCHYMA_HU_RANGE) if parenchyma_hu is None else parenchyma_hu
    texture_hu = rng.uniform(*TEXTURE_HU_RANGE) if texture_hu is None else texture_hu
    canvas = _make_canvas(diameter_mm, config, rng)
    background = _background_hu(canvas, parenchyma_hu, texture_hu, config.max_vessels, rng)
    if class_name == "cyst":
        lesion_hu, outline, margin_mm = _cyst(canvas, config.difficulty, rng)
    else:
        lesion_hu, outline, margin_mm = _enhancing_lesion(class_name, canvas, diameter_mm, parenchyma_hu, config, rng)
    weight = expit(outline.inside_px * canvas.pixel_mm / margin_mm)
    noise = noise_hu * _unit_field(canvas.shape, config.noise_correlation_px, rng)
    hu = background + weight * (lesion_hu - background) + noise
    return hu.astype(np.float32), outline.inside_px > 0


def _check_render_args(class_name: str, diameter_mm: float, rng: object, config: object, noise_hu: float) -> None:
    """Refuse arguments a notebook or widget user could get wrong, with a message saying what is allowed."""
    if class_name not in CLASS_NAMES:
        raise LiverkitError(f"unknown phantom class '{class_name}'; choose one of {list(CLASS_NAMES)}.")
    if not (_is_number(diameter_mm) and diameter_mm > 0):
        raise LiverkitError(f"diameter_mm must be a number > 0 (mm), got {diameter_mm!r}.")
    if not (_is_number(noise_hu) and noise_hu >= 0):
        raise LiverkitError(f"noise_hu must be a number >= 0 (HU), got {noise_hu!r}.")
    if not isinstance(rng, np.random.Generator):
        raise LiverkitError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}.")
    if not isinstance(config, PhantomConfig):
        raise LiverkitError(f"config must be a PhantomConfig, got {type(config).__name__}.")


def _make_canvas(diameter_mm: float, config: PhantomConfig, rng: np.random.Generator) -> _Canvas:
    """The ROI grid: field of view tied to the lesion size, pixel spacing coarsened only past max_canvas_px."""
    fov_mm = config.fov_factor * diameter_mm * rng.uniform(*_FOV_JITTER)
    pixel_mm = max(config.pixel_mm, fov_mm / config.max_canvas_px)
    side = max(_MIN_CANVAS_PX, round(fov_mm / pixel_mm))
    centre = (side - 1) / 2 + rng.uniform(-_CENTRE_JITTER, _CENTRE_JITTER, size=2) * side
    y = (np.arange(side) - centre[0])[:, None]
    x = (np.arange(side) - centre[1])[None, :]
    return _Canvas(side=side, pixel_mm=pixel_mm, radius_px=diameter_mm / 2 / pixel_mm, y=y, x=x)


def _unit_field(shape: tuple[int, int], sigma_px: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-blurred white noise rescaled to mean 0 and standard deviation 1 over the canvas."""
    field = gaussian_filter(rng.standard_normal(shape), sigma_px)
    std = field.std()
    return (field - field.mean()) / std if std > 0 else field


def _background_hu(
    canvas: _Canvas, parenchyma_hu: float, texture_hu: float, max_vessels: int, rng: np.random.Generator
) -> np.ndarray:
    """Parenchyma with its smooth texture, then 0 to max_vessels vessels on top."""
    texture = texture_hu * _unit_field(canvas.shape, _TEXTURE_SCALE_MM / canvas.pixel_mm, rng)
    background = parenchyma_hu + texture
    for _ in range(rng.integers(0, max_vessels + 1)):
        vessel_hu = rng.uniform(*VESSEL_HU_RANGE)
        sigma_px = rng.uniform(*_VESSEL_WIDTH_MM) / canvas.pixel_mm / 2.355  # from full width at half maximum
        weight = np.exp(-0.5 * (_vessel_distance_px(canvas, rng) / sigma_px) ** 2)
        background += weight * (vessel_hu - background)
    return background


def _vessel_distance_px(canvas: _Canvas, rng: np.random.Generator) -> np.ndarray:
    """Distance of every pixel to a gently curved vessel (a circular arc) that misses the lesion centre.

    The arc's closest approach to the centre is a quarter to a half of the canvas side (about 1 to 2 lesion
    radii at fov_factor 2); where it crosses the lesion, the lesion hides it.
    """
    direction = rng.uniform(0, 2 * np.pi)
    closest_px = rng.uniform(0.25, 0.5) * canvas.side
    bend_px = rng.uniform(1.0, 4.0) * canvas.side * rng.choice([-1.0, 1.0])  # signed radius of curvature
    centre_y, centre_x = (closest_px + bend_px) * np.sin(direction), (closest_px + bend_px) * np.cos(direction)
    return np.abs(np.hypot(canvas.y - centre_y, canvas.x - centre_x) - abs(bend_px))


def _make_outline(canvas: _Canvas, axis_ratio: float, lobulation: float, rng: np.random.Generator) -> _Outline:
    """A rotated ellipse (major radius = diameter / 2) whose radius is modulated by harmonics 2, 3 and 4."""
    angle = rng.uniform(0, np.pi)
    u = canvas.x * np.cos(angle) + canvas.y * np.sin(angle)
    v = (canvas.y * np.cos(angle) - canvas.x * np.sin(angle)) / axis_ratio
    distance, theta = np.hypot(u, v), np.arctan2(v, u)
    amplitudes = lobulation * rng.uniform(0.3, 1.0, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    lobes = sum(a * np.cos(k * theta + p) for k, a, p in zip((2, 3, 4), amplitudes, phases, strict=True))
    radius = canvas.radius_px * (1 + lobes)
    return _Outline(rho=distance / radius, theta=theta, inside_px=radius - distance)


# ---------------------------------------------------------------------------------------------- lesion classes
def _lerp(a: float, b: float, t: float) -> float:
    """Linear interpolation: ``a`` at t = 0, ``b`` at t = 1."""
    return a + (b - a) * t


def _lerp_range(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    """A (low, high) range moved linearly from ``a`` (t = 0) to ``b`` (t = 1)."""
    return _lerp(a[0], b[0], t), _lerp(a[1], b[1], t)


def _cyst(canvas: _Canvas, difficulty: float, rng: np.random.Generator) -> tuple[float, _Outline, float]:
    """Homogeneous water density, sharp margin, round to oval; denser and blurrier with difficulty."""
    density = rng.uniform(*_lerp_range(*_CYST_HU, difficulty))
    margin_mm = _lerp(*_CYST_MARGIN_MM, difficulty) * rng.uniform(0.8, 1.2)
    outline = _make_outline(canvas, rng.uniform(0.6, 1.0), 0.0, rng)
    return density, outline, margin_mm


def _trait_range(class_name: str, trait: str, difficulty: float) -> tuple[float, float]:
    """The (low, high) range a metastasis or hemangioma trait is drawn from at this difficulty.

    Each class's range at difficulty 0 slides towards the midpoint of the two classes' ranges by
    ``0.9 x difficulty`` (see ``_ENHANCING_TRAITS`` and the module docstring).
    """
    metastasis, hemangioma = _ENHANCING_TRAITS[trait]
    own = metastasis if class_name == "metastasis" else hemangioma
    midpoint = _lerp_range(metastasis, hemangioma, 0.5)
    return _lerp_range(own, midpoint, _MERGE_AT_FULL_DIFFICULTY * difficulty)


def _enhancing_lesion(
    class_name: str,
    canvas: _Canvas,
    diameter_mm: float,
    parenchyma_hu: float,
    config: PhantomConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, _Outline, float]:
    """A metastasis or hemangioma: hypodense core plus peripheral enhancement (continuous rim to nodules)."""
    t = config.difficulty
    traits = {name: rng.uniform(*_trait_range(class_name, name, t)) for name in _ENHANCING_TRAITS}
    has_periphery = rng.random() < traits["periphery_prob"]
    is_small = diameter_mm < _FLASH_FILL_MAX_MM
    if class_name == "hemangioma" and is_small and rng.random() < _lerp(0.5, 0.1, t):
        has_periphery, traits["fill"], traits["continuity"] = True, 1.0, 1.0  # flash filling
    outline = _make_outline(canvas, rng.uniform(0.7, 1.0), traits["lobulation"], rng)
    core = _core_hu(canvas, outline, traits, rng)
    if not has_periphery:
        return core, outline, traits["margin_mm"]
    enhancement = _enhancement_weight(outline, traits, rng)
    lesion = core + enhancement * (parenchyma_hu + traits["periphery_delta_hu"] - core)
    return lesion, outline, traits["margin_mm"]


def _core_hu(canvas: _Canvas, outline: _Outline, traits: dict, rng: np.random.Generator) -> np.ndarray:
    """The lesion centre: a level plus smooth heterogeneity, sometimes with a near-water necrotic centre."""
    heterogeneity = _unit_field(canvas.shape, max(1.0, 0.12 * canvas.radius_px), rng)
    core = traits["core_hu"] + traits["core_texture_hu"] * heterogeneity
    if rng.random() < traits["necrosis_prob"]:
        necrosis_radius, necrosis_hu = rng.uniform(0.3, 0.6), rng.uniform(5.0, 25.0)
        necrotic = expit((necrosis_radius - outline.rho) / 0.08)
        core = core + necrotic * (necrosis_hu - core)
    return core


def _enhancement_weight(outline: _Outline, traits: dict, rng: np.random.Generator) -> np.ndarray:
    """Where the lesion takes the enhanced value, in [0, 1].

    A mix, by ``continuity``, of a continuous rim (a band just inside the margin) and separate nodules on that
    band. ``fill`` spreads both towards the centre: the rim's inner edge moves inwards and the nodules grow, so
    at fill 1 the whole lesion is enhanced.
    """
    thickness, fill, continuity = traits["periphery_thickness"], traits["fill"], traits["continuity"]
    band_centre = 1 - 0.6 * thickness
    band = np.exp(-0.5 * ((outline.rho - band_centre) / (thickness / 2.5)) ** 2)
    fill_front = band_centre * (1 - fill) - 0.2 * fill  # past the centre at fill 1
    filled = expit((outline.rho - fill_front) / 0.05) * expit((band_centre - outline.rho) / 0.05)
    rim = np.maximum(band, filled)
    nodules = _nodules(outline, band_centre, thickness, fill, rng)
    return continuity * rim + (1 - continuity) * nodules


def _nodules(
    outline: _Outline, band_centre: float, thickness: float, fill: float, rng: np.random.Generator
) -> np.ndarray:
    """4 to 8 round nodules, roughly evenly spaced on the band; radius about the band's thickness, grown by fill.

    Works in the lesion's normalised frame (margin at radius 1), so nodules follow the outline's shape.
    """
    n_nodules = int(rng.integers(4, 9))
    angles = (np.arange(n_nodules) + rng.uniform(-0.3, 0.3, size=n_nodules)) * 2 * np.pi / n_nodules
    angles += rng.uniform(0, 2 * np.pi)
    radii = thickness * rng.uniform(0.5, 0.8, size=n_nodules) + fill * band_centre
    u, v = outline.rho * np.cos(outline.theta), outline.rho * np.sin(outline.theta)
    pattern = np.zeros_like(outline.rho)
    for angle, radius in zip(angles, radii, strict=True):
        distance = np.hypot(u - band_centre * np.cos(angle), v - band_centre * np.sin(angle))
        pattern = np.maximum(pattern, expit((radius - distance) / 0.04))
    return pattern

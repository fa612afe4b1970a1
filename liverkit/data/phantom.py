"""The built-in CT lesion phantom: draws the data set that stands in for the paper's private data (notebook 01).

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

- Metastases and hemangiomas come from one renderer (:mod:`liverkit.data.phantom_render`) whose traits
  (``_ENHANCING_TRAITS`` there) are drawn uniformly from class ranges. At t = 0 each class uses its own range; as t
  grows both ranges slide towards their shared midpoint by a fraction 0.9 t, so at t = 1 the ranges are 90 % merged
  and the pair is near-indistinguishable. At t = 0 (metastasis / hemangioma): core 45-80 / 25-50 HU, core texture
  8-16 / 1-4 HU, necrosis 40 % / 0 %, peripheral enhancement present 70 % / 100 %, its brightness +25-55 / +60-95 HU
  over parenchyma, continuity 0.8-1 / 0-0.2 (1 = continuous rim, 0 = separate nodules), thickness 10-20 / 15-30 % of
  the radius, centripetal fill 0-10 / 0-70 %, margin blur 1.5-4 / 0.3-1 mm, lobulation 4-12 / 0-4 %. So with t
  hemangioma nodules get dimmer, more continuous and less often present, metastasis rims brighter and more nodular,
  and the centres more alike.
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

Where the pieces live: this module draws the data set (patients, diameters, per-patient scans) and windows and
resizes each ROI; :mod:`liverkit.data.phantom_render` draws one lesion in HU; :mod:`liverkit.data.phantom_config`
holds :class:`PhantomConfig` and its checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from liverkit.data.imageops import resize_roi, window
from liverkit.data.lesionset import LesionSet
from liverkit.data.phantom_config import CLASS_NAMES, PhantomConfig, is_count, resolve_config
from liverkit.data.phantom_render import PARENCHYMA_HU_RANGE, TEXTURE_HU_RANGE, render_lesion_hu
from liverkit.errors import LiverkitError

_DIAMETER_MEDIAN_MM = 28.0  # log-normal diameters: most lesions 15-50 mm, as in clinical series
_DIAMETER_LOG_SD = 0.5
_MIN_PATIENTS_PER_CLASS = 3  # patient-level 3-fold cross-validation needs 3 patients per class
_LESIONS_PER_PATIENT_WEIGHT = (1.0, 1.4, 0.8)  # relative lesions per patient: cyst, metastasis, hemangioma


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
    config = resolve_config(config, overrides)
    if not is_count(seed):
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

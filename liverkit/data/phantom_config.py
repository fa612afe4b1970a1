"""The phantom's settings: :class:`PhantomConfig`, the class names, and the checks every setting goes through.

:mod:`liverkit.data.phantom` draws the data set and :mod:`liverkit.data.phantom_render` draws each lesion; both
read their settings from here. What each setting does to the images is described in
:mod:`liverkit.data.phantom`'s docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from liverkit.data.imageops import LIVER_WINDOW_HU
from liverkit.errors import LiverkitError

CLASS_NAMES: tuple[str, ...] = ("cyst", "metastasis", "hemangioma")
"""The phantom's classes, in label order (the paper's three lesion types)."""


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


def is_number(value: object) -> bool:
    """True for a finite int or float (not a bool)."""
    is_real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return is_real and math.isfinite(value)


def is_count(value: object) -> bool:
    """True for an int >= 0 (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


def _validate_counts(config: PhantomConfig) -> None:
    """Check the integer fields: class counts (not all zero), vessels and the canvas limit."""
    for name in ("n_cyst", "n_metastasis", "n_hemangioma", "max_vessels"):
        if not is_count(getattr(config, name)):
            raise _fail(name, getattr(config, name), "an integer >= 0")
    if config.n_cyst + config.n_metastasis + config.n_hemangioma == 0:
        raise LiverkitError(
            "PhantomConfig n_cyst, n_metastasis and n_hemangioma are all 0: set at least one of them to a count > 0."
        )
    if not (is_count(config.max_canvas_px) and config.max_canvas_px >= 32):
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
        if len(pair) != 2 or not all(is_number(v) for v in pair) or not is_valid(*pair):
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
        if not (is_number(value) and is_valid(value)):
            raise _fail(name, value, valid)


def resolve_config(config: PhantomConfig | None, overrides: dict) -> PhantomConfig:
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

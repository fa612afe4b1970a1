"""Draws one phantom lesion ROI in Hounsfield units: canvas, parenchyma and vessels, outline, each class's look.

The model and the difficulty knob are described in :mod:`liverkit.data.phantom`, which calls
:func:`render_lesion_hu` once per lesion (with the patient's scan) and windows and resizes the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import expit

from liverkit.data.phantom_config import CLASS_NAMES, PhantomConfig, is_number
from liverkit.errors import LiverkitError

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
    if not (is_number(diameter_mm) and diameter_mm > 0):
        raise LiverkitError(f"diameter_mm must be a number > 0 (mm), got {diameter_mm!r}.")
    if not (is_number(noise_hu) and noise_hu >= 0):
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

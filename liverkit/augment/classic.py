"""The paper's classic augmentation and its nested data groups (notebook 02).

For every lesion ROI the paper draws N_rot = 30 rotations in [0, 180] degrees, and for each rotated ROI keeps
the ROI itself plus N_flip = 3 flips, N_trans = 7 translations and N_scale = 5 rescalings:
30 x (1 + 3 + 7 + 5) = 480 variants per ROI.

The kit's reading of the paper's terse rules (every number is a field of :class:`AugmentConfig`):

- **Lesion diameter d**: the paper's p = min(4, 0.1 d) is in pixels of the 64 x 64 ROI, so d is the lesion
  diameter in ROI pixels, d = ``lesion_fraction`` x 64. The default 0.5 (d = 32 px) is the usual lesion-centred
  crop with a margin of half a diameter on each side, and the phantom's construction (field of view = 2 x the
  diameter, jittered 0.9-1.15, so the lesion spans about 64 / 2 = 32 ROI pixels whatever its size in mm). The
  ROI's field of view follows the lesion, so the diameter in mm says nothing about its size in ROI pixels and is
  not used: data without diameters (NaN) augments exactly like data with them.
- **Translation**: shifts in x and y uniform in (-p, p) ROI pixels, p = min(4, 0.1 d): 3.2 px by default.
- **Scale**: factors uniform in [1 - q, 1 + q] with q = 2 p / d (capped at ``max_scale_change``): the lesion's
  diameter grows or shrinks by at most 2p pixels, the same order as the shifts; q = 0.2 by default.
- **No black corners**: every variant is one resampling of the original ROI (rotation, flip, shift and scale
  composed into one affine map) with reflection at the borders, so rotated corners show mirrored tissue.
- **Interpolation**: bicubic (``interpolation``), clamped to [0, 1]. Resampling at non-integer positions is a
  low-pass filter, and texture is a class cue, so a blurring renderer makes every training variant smoother than
  the untouched test ROIs. :func:`high_frequency_ratio` measures it: the high-frequency energy (mean squared
  isotropic Laplacian over the central disc of radius 16 px) of a variant over that of its parent ROI, 1 when
  the texture is kept. Measured on the 1,371 rotated, flipped or shifted variants among 2,000 drawn from the pool
  of 60 phantom ROIs (seed 0; rescaled variants change the texture scale on purpose, so they are left out):
  bilinear, median 0.72 and 10th percentile 0.58; bicubic, median 0.99 and 10th percentile 0.87 (90th 1.05, so
  no over-sharpening). Bicubic sampling costs about 1.5x bilinear; building the sampling grid as a broadcast sum
  pays for it, so 20,000 variants take as long as with the earlier bilinear renderer (4-5.5 s on 2 shared CPU
  cores, both).

Data groups are nested: a single random order of the pool is drawn once, and the group of size n is its first
n variants, so D1 lies within D2 and so on. Group 0 is the original ROIs with no augmentation.

Whether the rotations and flips erase a class cue (orientation, side) is checked by :mod:`liverkit.augment.invariance`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from liverkit.augment.classic_config import INTERPOLATIONS, PAPER_GROUPS, AugmentConfig  # the settings, without torch
from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.errors import LiverkitError


def shift_bound_px(diameters_mm: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """The shift bound p = min(max_shift_px, shift_fraction x d) per lesion, d = ``config.lesion_diameter_px``.

    Args:
        diameters_mm: one entry per lesion (N,); only its shape is used, NaN is fine (the ROI's field of view
            follows the lesion, so the diameter in mm does not set its size in ROI pixels).
        config: the augmentation settings.

    Returns:
        p in ROI pixels (N,), the same for every lesion (3.2 by default).
    """
    p = min(config.max_shift_px, config.shift_fraction * config.lesion_diameter_px)
    return np.full(np.shape(diameters_mm), p, dtype=np.float64)


def scale_bound(diameters_mm: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """The scale bound q = min(max_scale_change, 2 p / d) per lesion (0.2 by default).

    Args:
        diameters_mm: one entry per lesion (N,); only its shape is used (see :func:`shift_bound_px`).
        config: the augmentation settings.

    Returns:
        q (N,), the same for every lesion.
    """
    q = 2.0 * shift_bound_px(diameters_mm, config) / config.lesion_diameter_px
    return np.minimum(config.max_scale_change, q)


@dataclass(frozen=True)
class AugmentPlan:
    """Every variant of a pool as numbers, before any pixel is computed.

    Attributes:
        parent: index of the source ROI per variant (V,).
        angle_deg, flip_x, flip_y, shift_px (V x 2), scale: the variant's transform.
        kind: 0 rotated only, 1 flip, 2 translation, 3 scale (V,).
        interpolation: how :func:`render` resamples (``AugmentConfig.interpolation``).
    """

    parent: np.ndarray
    angle_deg: np.ndarray
    flip_x: np.ndarray
    flip_y: np.ndarray
    shift_px: np.ndarray
    scale: np.ndarray
    kind: np.ndarray
    interpolation: str = "bicubic"

    def __len__(self) -> int:
        return len(self.parent)


FLIPS = ((True, False), (False, True), (True, True))
"""The flips of a rotated ROI, in the order ``n_flip`` takes them: (flip x, flip y) = left-right, up-down, both."""


def plan_pool(lesions: LesionSet, config: AugmentConfig, rng: np.random.Generator) -> AugmentPlan:
    """Draw the random transforms of all ``per_roi`` variants of every ROI (cheap: no images touched)."""
    n, c = len(lesions), config
    angles = rng.uniform(*c.rot_range_deg, size=(n, c.n_rot))
    p = shift_bound_px(lesions.diameters_mm, c)[:, None, None]
    q = scale_bound(lesions.diameters_mm, c)[:, None]
    shifts = rng.uniform(-1.0, 1.0, size=(n, c.n_rot, c.n_trans, 2)) * p[..., None]
    scales = 1.0 + rng.uniform(-1.0, 1.0, size=(n, c.n_rot, c.n_scale)) * q[..., None]
    per_rot = 1 + c.n_flip + c.n_trans + c.n_scale
    kind = np.repeat([0, 1, 2, 3], [1, c.n_flip, c.n_trans, c.n_scale])  # per_rot
    flip_x = np.array([False] + [f[0] for f in FLIPS[: c.n_flip]] + [False] * (c.n_trans + c.n_scale))
    flip_y = np.array([False] + [f[1] for f in FLIPS[: c.n_flip]] + [False] * (c.n_trans + c.n_scale))
    shift = np.zeros((n, c.n_rot, per_rot, 2))
    shift[:, :, 1 + c.n_flip : 1 + c.n_flip + c.n_trans] = shifts
    scale = np.ones((n, c.n_rot, per_rot))
    scale[:, :, 1 + c.n_flip + c.n_trans :] = scales
    shape = (n, c.n_rot, per_rot)
    return AugmentPlan(
        parent=np.broadcast_to(np.arange(n)[:, None, None], shape).reshape(-1),
        angle_deg=np.broadcast_to(angles[:, :, None], shape).reshape(-1),
        flip_x=np.broadcast_to(flip_x, shape).reshape(-1),
        flip_y=np.broadcast_to(flip_y, shape).reshape(-1),
        shift_px=shift.reshape(-1, 2),
        scale=scale.reshape(-1),
        kind=np.broadcast_to(kind, shape).reshape(-1),
        interpolation=c.interpolation,
    )


def _affine_thetas(plan: AugmentPlan, index: np.ndarray) -> torch.Tensor:
    """The 2 x 3 sampling matrices (output -> input, normalised coordinates) of the chosen variants."""
    a = np.deg2rad(plan.angle_deg[index])
    cos, sin = np.cos(a), np.sin(a)
    sx = np.where(plan.flip_x[index], -1.0, 1.0) / plan.scale[index]
    sy = np.where(plan.flip_y[index], -1.0, 1.0) / plan.scale[index]
    theta = np.zeros((len(index), 2, 3))
    theta[:, 0, 0], theta[:, 0, 1] = cos * sx, -sin * sy
    theta[:, 1, 0], theta[:, 1, 1] = sin * sx, cos * sy
    theta[:, :, 2] = plan.shift_px[index] * (2.0 / ROI_SIZE)  # pixels -> normalised [-1, 1] units
    return torch.from_numpy(theta.astype(np.float32))


def _sampling_grid(theta: torch.Tensor) -> torch.Tensor:
    """The sampling positions of B variants, B x 64 x 64 x 2 (x, y; normalised, as affine_grid with
    align_corners=False), from their 2 x 3 matrices (B x 2 x 3).

    The map is affine and the output pixel centres form a product grid, so each coordinate is a per-row term plus
    a per-column term: one broadcast sum per coordinate, about 4x less CPU than a batched matrix product.
    """
    lin = (torch.arange(ROI_SIZE, dtype=theta.dtype, device=theta.device) * 2 + 1) / ROI_SIZE - 1  # 64 centres
    grid = torch.empty((len(theta), ROI_SIZE, ROI_SIZE, 2), dtype=theta.dtype, device=theta.device)
    for k in range(2):  # the x, then the y sampling coordinate
        rows = theta[:, k, 2, None] + theta[:, k, 1, None] * lin  # B x 64: offset + output y x its coefficient
        cols = theta[:, k, 0, None] * lin  # B x 64: output x x its coefficient
        torch.add(rows[:, :, None], cols[:, None, :], out=grid[..., k])  # B x 64 (y) x 64 (x)
    return grid


def render(
    lesions: LesionSet,
    plan: AugmentPlan,
    index: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    chunk: int = 512,
    interpolation: str | None = None,
) -> torch.Tensor:
    """Compute the images of the chosen variants (all when ``index`` is None): V x 1 x 64 x 64 on ``device``.

    One ``grid_sample`` per variant from the original ROI, reflection at the borders, clamped to [0, 1] (bicubic
    overshoots a little at sharp edges). The sampling grid is a broadcast sum (:func:`_sampling_grid`;
    ``affine_grid`` does the same but is several times slower on CPU). Deterministic on CPU.

    Args:
        lesions, plan: the ROIs and the plan drawn for them by :func:`plan_pool`.
        index: the variants to render (V,); None renders the whole pool.
        device: where to compute and return the images.
        chunk: variants per ``grid_sample`` call (bounds the memory).
        interpolation: ``bicubic`` or ``bilinear``; None uses the plan's (``AugmentConfig.interpolation``).
    """
    return resample(lesions.images, plan, index, device, chunk, interpolation)


def resample(
    images: np.ndarray,
    plan: AugmentPlan,
    index: np.ndarray | None,
    device: str | torch.device,
    chunk: int,
    interpolation: str | None,
) -> torch.Tensor:
    """:func:`render` on bare images (N x 1 x 64 x 64) instead of a LesionSet's."""
    index = np.arange(len(plan)) if index is None else np.asarray(index)
    mode = plan.interpolation if interpolation is None else interpolation
    if mode not in INTERPOLATIONS:
        raise LiverkitError(f"interpolation must be one of {', '.join(map(repr, INTERPOLATIONS))}, got {mode!r}.")
    source = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(device)  # N x 1 x 64 x 64
    out = torch.empty((len(index), 1, ROI_SIZE, ROI_SIZE), device=device)
    for start in range(0, len(index), chunk):
        part = index[start : start + chunk]
        grid = _sampling_grid(_affine_thetas(plan, part).to(device))  # B x 64 x 64 x 2
        images = source[torch.from_numpy(plan.parent[part]).to(device)]  # B x 1 x 64 x 64
        sampled = F.grid_sample(images, grid, mode=mode, padding_mode="reflection", align_corners=False)
        torch.clamp(sampled, 0.0, 1.0, out=out[start : start + len(part)])  # B x 1 x 64 x 64
    return out


# 6 x the 3 x 3 isotropic discrete Laplacian, whose response is -|k|^2 (1 + O(|k|^2)) with a rotation-invariant
# k^4 term; integer weights, so a flat ROI gives exactly 0.
_LAPLACIAN_X6 = torch.tensor([[1.0, 4.0, 1.0], [4.0, -20.0, 4.0], [1.0, 4.0, 1.0]], dtype=torch.float64)

_NO_ENERGY = 1e-12
"""Parent energies at or below this count as none: a flat ROI (one pixel off by one 8-bit grey level gives 2e-7)."""

HF_RADIUS_PX: float = 16.0
"""Radius, in ROI pixels, of the central disc over which :func:`high_frequency_energy` averages. A rotated,
flipped or shifted (by at most 4 px) variant samples its central disc from well inside the original ROI, so
reflected borders stay out of the measure."""


def high_frequency_energy(images: np.ndarray | torch.Tensor, radius_px: float = HF_RADIUS_PX) -> np.ndarray:
    """High-frequency energy per ROI: the mean squared response of the 3 x 3 isotropic discrete Laplacian over
    the pixels within ``radius_px`` of the ROI's centre (a disc, so the measure is nearly rotation-invariant).

    The Laplacian weights spatial frequency k by |k|^4, so the measure is dominated by the finest texture (CT
    noise, sharp margins): what interpolation blurs first.

    Args:
        images: N x 1 x 64 x 64 ROIs in [0, 1] (numpy or torch, any device).
        radius_px: radius of the central disc, in pixels (< 31).

    Returns:
        The energy per ROI (N,), float64.
    """
    x = torch.as_tensor(images).detach().to("cpu", torch.float64)  # N x 1 x 64 x 64
    centre = torch.arange(1, ROI_SIZE - 1, dtype=torch.float64) - (ROI_SIZE - 1) / 2  # the 62 valid pixels
    disc = (centre[:, None] ** 2 + centre[None, :] ** 2 <= radius_px**2).double()  # 62 x 62
    energy = torch.cat(
        [
            (F.conv2d(part, _LAPLACIAN_X6.view(1, 1, 3, 3))[:, 0] ** 2 * disc).sum(dim=(1, 2))  # B x 62 x 62 -> B
            for part in x.split(2048)
        ]
    )
    return (energy / (36.0 * disc.sum())).numpy()


def high_frequency_ratio(
    originals: np.ndarray | torch.Tensor, variants: np.ndarray | torch.Tensor, parents: np.ndarray
) -> np.ndarray:
    """Per variant, its high-frequency energy over that of its parent ROI (:func:`high_frequency_energy`).

    1 means the variant keeps the original's texture; below 1 it is smoother (interpolation blur), above 1
    sharper or aliased. For a rescaled variant (scale s != 1) the ratio also holds the intended change of texture
    scale (about s^-4 for well-resolved texture), so measure the renderer on the other variants
    (``plan.kind != 3``).

    Args:
        originals: the source ROIs, N x 1 x 64 x 64 (e.g. ``lesions.images``).
        variants: the rendered variants, V x 1 x 64 x 64 (e.g. from :func:`render`).
        parents: the index into ``originals`` of each variant's source ROI (V,) (e.g. ``plan.parent[index]``).

    Returns:
        The ratio per variant (V,); NaN where the parent has no high-frequency energy (a flat ROI, energy
        <= 1e-12).
    """
    parents = np.asarray(parents)
    if len(parents) != len(variants):
        raise LiverkitError(f"parents has {len(parents)} entries for {len(variants)} variants: give one per variant.")
    parent_energy = high_frequency_energy(originals)[parents]  # V
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(parent_energy > _NO_ENERGY, high_frequency_energy(variants) / parent_energy, np.nan)


def nested_order(plan: AugmentPlan, rng: np.random.Generator) -> np.ndarray:
    """One random order of the pool; the group of size n is its first n entries (so groups are nested)."""
    return rng.permutation(len(plan))


def make_group(
    lesions: LesionSet, plan: AugmentPlan, order: np.ndarray, size: int, device: str | torch.device = "cpu"
) -> LesionSet:
    """The data group of ``size`` augmented samples (``size = 0``: the original ROIs) as a LesionSet.

    Args:
        lesions: the training ROIs the plan was drawn for (never test lesions).
        plan, order: from :func:`plan_pool` and :func:`nested_order`.
        size: number of augmented training samples.
    """
    if size == 0:
        return lesions
    if not 0 < size <= len(plan):
        raise LiverkitError(
            f"group size {size} is larger than the augmentation pool ({len(plan)} = {len(lesions)} ROIs x "
            f"{len(plan) // max(len(lesions), 1)} variants); use a smaller group or more rotations (n_rot)."
        )
    chosen = order[:size]
    images = render(lesions, plan, chosen, device).cpu().numpy()
    parent = plan.parent[chosen]
    return LesionSet(
        images=images,
        labels=lesions.labels[parent],
        class_names=lesions.class_names,
        patient_ids=lesions.patient_ids[parent],
        diameters_mm=lesions.diameters_mm[parent] * plan.scale[chosen].astype(np.float32),
        ids=np.char.add(np.char.add(lesions.ids[parent], "/aug"), chosen.astype(str)),
        sources=np.char.add(lesions.sources[parent], "+classic"),
    )


def groups_for(pool_size: int, sizes: tuple[int, ...] = PAPER_GROUPS) -> tuple[int, ...]:
    """The group sizes that fit in a pool, in increasing order (a smaller pool drops the largest groups)."""
    return tuple(s for s in sorted(sizes) if s <= pool_size)


def example_variants(lesions: LesionSet, index: int, config: AugmentConfig, seed: int = 0) -> tuple[np.ndarray, list]:
    """One ROI, its first rotation, that rotation's flips, two shifts and two rescalings, for a figure.

    Returns:
        images (K x 64 x 64) and a caption per image.
    """
    one = lesions.subset([index])
    plan = plan_pool(one, config, np.random.default_rng(seed))
    per_rot = 1 + config.n_flip + config.n_trans + config.n_scale
    first = np.arange(per_rot)  # the variants of the first rotation
    picks = [i for kind, count in ((0, 1), (1, 3), (2, 2), (3, 2)) for i in first[plan.kind[first] == kind][:count]]
    images = render(one, plan, np.asarray(picks))[:, 0].numpy()
    captions = [_caption(plan, i) for i in picks]
    return np.concatenate([one.images[:, 0], images]), ["original", *captions]


def _caption(plan: AugmentPlan, i: int) -> str:
    text = f"rot {plan.angle_deg[i]:.0f}°"
    if plan.flip_x[i] or plan.flip_y[i]:
        text += " flip " + ("LR+UD" if plan.flip_x[i] and plan.flip_y[i] else "LR" if plan.flip_x[i] else "UD")
    if plan.kind[i] == 2:
        text += f" shift ({plan.shift_px[i, 0]:+.1f}, {plan.shift_px[i, 1]:+.1f})"
    if plan.kind[i] == 3:
        text += f" scale {plan.scale[i]:.2f}"
    return text


def group_table(train: LesionSet, config: AugmentConfig, groups: tuple[int, ...]) -> pd.DataFrame:
    """Pool size and each group's size and share of the pool, for one training fold."""
    pool = len(train) * config.per_roi
    rows = [
        {"group": g, "samples": g if g else len(train), "share_of_pool": g / pool, "fits": g <= pool} for g in groups
    ]
    return pd.DataFrame(rows).assign(pool=pool, rois=len(train), variants_per_roi=config.per_roi)


def most_oriented_lesion(lesions: LesionSet, block: int = 4) -> int:
    """The index of the ROI whose turns and flips show most (an irregular lesion, or vessels beside it), for
    notebook 02's example variants.

    A round lesion on a plain background looks the same rotated or flipped, so its variants would teach nothing
    about the transforms. Each ROI
    is smoothed into ``block`` x ``block`` means (so that pixel noise, which every flip changes, does not count)
    and scored by how much it changes under a left-right flip, an up-down flip and a half turn; the highest score
    wins (ties: the first).
    """
    images = lesions.images[:, 0]
    n, h, w = images.shape
    coarse = images[:, : h - h % block, : w - w % block].reshape(n, h // block, block, w // block, block)
    coarse = coarse.mean(axis=(2, 4))
    turned = (coarse[:, :, ::-1], coarse[:, ::-1, :], coarse[:, ::-1, ::-1])
    score = sum(np.abs(coarse - other).mean(axis=(1, 2)) for other in turned)
    return int(np.argmax(score))


def settings_sources(layers: dict[str, AugmentConfig]) -> pd.DataFrame:
    """Each augmentation setting's value and where it came from (notebook 02).

    Args:
        layers: the settings after each layer that can change them, in the order applied, e.g.
            ``{"profile 'quick'": ..., "data set 'my-ct' (manifest)": ..., "overrides": cfg.augment}``.

    Returns:
        One row per field: ``setting``, ``value`` (in the last layer) and ``set_by`` (the last layer that changed
        it; the first layer's name when none did).
    """
    names = list(layers)
    rows = []
    for field in AugmentConfig.__dataclass_fields__:
        values = [getattr(layers[name], field) for name in names]
        steps = zip(names[1:], values[:-1], values[1:], strict=True)
        changed = [name for name, before, after in steps if before != after]
        rows.append({"setting": field, "value": values[-1], "set_by": changed[-1] if changed else names[0]})
    return pd.DataFrame(rows)


# The invariance check moved to liverkit.augment.invariance; these names still resolve here until every caller imports
# them from there (liverkit/kit/standalone.py, notebooks/02_classic_augmentation.ipynb).

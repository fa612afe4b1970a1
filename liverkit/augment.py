"""The paper's classic augmentation and its nested data groups (notebook 02).

For every lesion ROI the paper draws N_rot = 30 rotations in [0, 180] degrees, and for each rotated ROI keeps
the ROI itself plus N_flip = 3 flips, N_trans = 7 translations and N_scale = 5 rescalings:
30 x (1 + 3 + 7 + 5) = 480 variants per ROI.

The kit's reading of the paper's terse rules (every number is a field of :class:`AugmentConfig`):

- **Translation**: shifts in x and y uniform in (-p, p) pixels of the 64 x 64 ROI, p = min(4, 0.1 d), where d is
  the lesion diameter in pixels of the CT scan, d = diameter_mm / pixel_mm (pixel_mm = 0.7 mm, a typical
  abdominal CT). A lesion of unknown diameter gets the largest bound, 4 pixels.
- **Scale**: factors uniform in [1 - q, 1 + q] with q = 2 p / d (capped at ``max_scale_change``): the lesion's
  diameter grows or shrinks by at most 2p pixels, the same order as the shifts; small lesions get relatively
  larger changes (up to 20%), large ones smaller.
- **No black corners**: every variant is one resampling of the original ROI (rotation, flip, shift and scale
  composed into one affine map) with reflection at the borders, so rotated corners show mirrored tissue.

Data groups are nested: a single random order of the pool is drawn once, and the group of size n is its first
n variants, so D1 lies within D2 and so on. Group 0 is the original ROIs with no augmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from liverkit.data.lesionset import ROI_SIZE, LesionSet
from liverkit.errors import LiverkitError

PAPER_GROUPS: tuple[int, ...] = (0, 500, 1000, 2000, 3000, 5000, 7500, 10000, 15000)
"""The paper's classic-augmentation group sizes (training samples); 0 means the original ROIs only."""


@dataclass(frozen=True)
class AugmentConfig:
    """Counts and ranges of the classic augmentation (defaults: the paper's)."""

    n_rot: int = 30
    """Rotations per ROI."""
    rot_range_deg: tuple[float, float] = (0.0, 180.0)
    """Range of the random rotation angles, degrees."""
    n_flip: int = 3
    """Flips per rotated ROI: left-right, up-down, both (at most 3)."""
    n_trans: int = 7
    """Random translations per rotated ROI."""
    n_scale: int = 5
    """Random rescalings per rotated ROI."""
    max_shift_px: float = 4.0
    """Upper bound of the shift bound p, in ROI pixels (the paper's 4)."""
    shift_fraction: float = 0.1
    """p = min(max_shift_px, shift_fraction x lesion diameter in scan pixels) (the paper's 0.1)."""
    pixel_mm: float = 0.7
    """Scan pixel spacing used to turn a diameter in mm into pixels."""
    max_scale_change: float = 0.2
    """Cap on the relative scale change q."""

    def __post_init__(self) -> None:
        for name in ("n_rot", "n_trans", "n_scale"):
            if getattr(self, name) < 0:
                raise LiverkitError(f"AugmentConfig.{name} must be >= 0, got {getattr(self, name)}.")
        if not 0 <= self.n_flip <= 3:
            raise LiverkitError(f"AugmentConfig.n_flip must be 0-3 (left-right, up-down, both), got {self.n_flip}.")
        if self.n_rot == 0:
            raise LiverkitError("AugmentConfig.n_rot must be >= 1: every variant starts from a rotated ROI.")
        if self.pixel_mm <= 0 or self.max_shift_px < 0 or not 0 <= self.max_scale_change < 1:
            raise LiverkitError("AugmentConfig: pixel_mm > 0, max_shift_px >= 0 and 0 <= max_scale_change < 1.")

    @property
    def per_roi(self) -> int:
        """Variants per ROI: n_rot x (1 + n_flip + n_trans + n_scale); 480 for the paper."""
        return self.n_rot * (1 + self.n_flip + self.n_trans + self.n_scale)


def shift_bound_px(diameters_mm: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """p = min(max_shift_px, shift_fraction x d) per lesion, d in scan pixels; max_shift_px where d is unknown."""
    d_px = np.asarray(diameters_mm, dtype=np.float64) / config.pixel_mm
    bound = np.minimum(config.max_shift_px, config.shift_fraction * d_px)
    return np.where(np.isfinite(bound), bound, config.max_shift_px)


def scale_bound(diameters_mm: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """q = min(max_scale_change, 2 p / d) per lesion; the cap where the diameter is unknown."""
    d_px = np.asarray(diameters_mm, dtype=np.float64) / config.pixel_mm
    q = np.minimum(config.max_scale_change, 2.0 * shift_bound_px(diameters_mm, config) / d_px)
    return np.where(np.isfinite(q), q, config.max_scale_change)


@dataclass(frozen=True)
class AugmentPlan:
    """Every variant of a pool as numbers, before any pixel is computed.

    Attributes:
        parent: index of the source ROI per variant (V,).
        angle_deg, flip_x, flip_y, shift_px (V x 2), scale: the variant's transform.
        kind: 0 rotated only, 1 flip, 2 translation, 3 scale (V,).
    """

    parent: np.ndarray
    angle_deg: np.ndarray
    flip_x: np.ndarray
    flip_y: np.ndarray
    shift_px: np.ndarray
    scale: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return len(self.parent)


_FLIPS = ((True, False), (False, True), (True, True))  # left-right, up-down, both


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
    flip_x = np.array([False] + [f[0] for f in _FLIPS[: c.n_flip]] + [False] * (c.n_trans + c.n_scale))
    flip_y = np.array([False] + [f[1] for f in _FLIPS[: c.n_flip]] + [False] * (c.n_trans + c.n_scale))
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


def _base_grid(device: str | torch.device) -> torch.Tensor:
    """Output pixel centres in normalised (x, y) coordinates, 1 x 4096 x 2 (as affine_grid, align_corners=False)."""
    lin = (torch.arange(ROI_SIZE, dtype=torch.float32, device=device) * 2 + 1) / ROI_SIZE - 1
    return torch.stack(torch.meshgrid(lin, lin, indexing="xy"), dim=-1).reshape(1, ROI_SIZE * ROI_SIZE, 2)


def render(
    lesions: LesionSet, plan: AugmentPlan, index: np.ndarray | None = None, device: str | torch.device = "cpu",
    chunk: int = 512,
) -> torch.Tensor:  # fmt: skip
    """Compute the images of the chosen variants (all when ``index`` is None): V x 1 x 64 x 64 on ``device``.

    One bilinear ``grid_sample`` per variant from the original ROI, reflection at the borders. The sampling
    grid is one batched matrix product (``affine_grid`` does the same but is about 4x slower on CPU).
    """
    index = np.arange(len(plan)) if index is None else np.asarray(index)
    source = torch.from_numpy(lesions.images).to(device)  # N x 1 x 64 x 64
    base = _base_grid(device)  # 1 x 4096 x 2
    out = torch.empty((len(index), 1, ROI_SIZE, ROI_SIZE), device=device)
    for start in range(0, len(index), chunk):
        part = index[start : start + chunk]
        theta = _affine_thetas(plan, part).to(device)  # B x 2 x 3
        linear, offset = theta[:, :, :2].transpose(1, 2), theta[:, :, 2].unsqueeze(1)  # B x 2 x 2, B x 1 x 2
        grid = torch.baddbmm(offset, base.expand(len(part), -1, -1), linear)  # B x 4096 x 2
        images = source[torch.from_numpy(plan.parent[part]).to(device)]  # B x 1 x 64 x 64
        sampled = F.grid_sample(
            images, grid.view(-1, ROI_SIZE, ROI_SIZE, 2), mode="bilinear", padding_mode="reflection",
            align_corners=False,
        )  # fmt: skip
        out[start : start + len(part)] = sampled.clamp_(0.0, 1.0)  # B x 1 x 64 x 64
    return out


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

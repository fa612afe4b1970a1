"""The classic augmentation's settings (:class:`AugmentConfig`) and the paper's group sizes, without torch.

They live apart from :mod:`liverkit.augment.classic`, which renders the variants with torch, so that the profiles
(:mod:`liverkit.kit.profiles`) and the ``liverkit`` command import no torch: the command's process stays small on a 2 GB
Binder. :mod:`liverkit.augment.classic` re-exports every name here; its docstring explains the rules these numbers set.
"""

from __future__ import annotations

from dataclasses import dataclass

from liverkit.data.lesionset import ROI_SIZE
from liverkit.errors import LiverkitError

PAPER_GROUPS: tuple[int, ...] = (0, 500, 1000, 2000, 3000, 5000, 7500, 10000, 15000)
"""The paper's classic-augmentation group sizes (training samples); 0 means the original ROIs only."""

INTERPOLATIONS: tuple[str, ...] = ("bicubic", "bilinear")
"""The allowed values of :attr:`AugmentConfig.interpolation` (``grid_sample`` modes)."""


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
    """p = min(max_shift_px, shift_fraction x lesion diameter in ROI pixels) (the paper's 0.1)."""
    lesion_fraction: float = 0.5
    """Lesion diameter as a fraction of the ROI side, in (0, 1]: d = lesion_fraction x 64 ROI pixels. 0.5 is a
    lesion-centred crop with half a diameter of margin each side (the phantom's ``fov_factor`` 2)."""
    max_scale_change: float = 0.2
    """Cap on the relative scale change q."""
    interpolation: str = "bicubic"
    """Resampling of each variant: ``bicubic`` (keeps the ROI's texture) or ``bilinear`` (the kit's earlier
    renderer; about 0.72 of the original high-frequency energy, see :mod:`liverkit.augment.classic`)."""

    def __post_init__(self) -> None:
        for name in ("n_rot", "n_trans", "n_scale"):
            if getattr(self, name) < 0:
                raise LiverkitError(f"AugmentConfig.{name} must be >= 0, got {getattr(self, name)}.")
        if not 0 <= self.n_flip <= 3:
            raise LiverkitError(f"AugmentConfig.n_flip must be 0-3 (left-right, up-down, both), got {self.n_flip}.")
        if self.n_rot == 0:
            raise LiverkitError("AugmentConfig.n_rot must be >= 1: every variant starts from a rotated ROI.")
        if self.max_shift_px < 0 or self.shift_fraction < 0 or not 0 <= self.max_scale_change < 1:
            raise LiverkitError("AugmentConfig: max_shift_px >= 0, shift_fraction >= 0 and 0 <= max_scale_change < 1.")
        if not 0 < self.lesion_fraction <= 1:
            raise LiverkitError(
                f"AugmentConfig.lesion_fraction must be in (0, 1] (lesion diameter / ROI side), got "
                f"{self.lesion_fraction!r}."
            )
        if self.interpolation not in INTERPOLATIONS:
            raise LiverkitError(
                f"AugmentConfig.interpolation must be one of {', '.join(map(repr, INTERPOLATIONS))}, got "
                f"{self.interpolation!r}."
            )

    @property
    def per_roi(self) -> int:
        """Variants per ROI: n_rot x (1 + n_flip + n_trans + n_scale); 480 for the paper."""
        return self.n_rot * (1 + self.n_flip + self.n_trans + self.n_scale)

    @property
    def lesion_diameter_px(self) -> float:
        """The lesion diameter d in ROI pixels: lesion_fraction x 64 (32 by default)."""
        return self.lesion_fraction * ROI_SIZE

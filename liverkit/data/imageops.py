"""Intensity windowing and ROI resizing shared by the phantom and every reader (notebook 01).

The paper feeds each lesion ROI to the nets at 64 x 64, bicubic-resized, with intensities in [0, 1].
These helpers do exactly that, in one place, so that phantom and real data go through the same steps.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from liverkit.data.lesionset import ROI_SIZE
from liverkit.errors import LiverkitError

LIVER_WINDOW_HU: tuple[float, float] = (-100.0, 250.0)
"""Default CT window in Hounsfield units: level 75, width 350. It keeps water (cysts, 0-20 HU), enhanced
parenchyma (90-120 HU) and enhanced vessels (150-250 HU) apart, and clips air and bone."""


def window(hu: np.ndarray, window_hu: tuple[float, float] = LIVER_WINDOW_HU) -> np.ndarray:
    """Map Hounsfield units to [0, 1] linearly between ``window_hu = (low, high)``, clipping outside."""
    low, high = float(window_hu[0]), float(window_hu[1])
    if not high > low:
        raise LiverkitError(f"CT window must have high > low, got {window_hu}.")
    out = (np.asarray(hu, dtype=np.float32) - low) / (high - low)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def resize_roi(image: np.ndarray, size: int = ROI_SIZE) -> np.ndarray:
    """Resize one 2-D image to ``size`` x ``size`` with bicubic interpolation (antialiased when shrinking).

    Values are not rescaled; bicubic overshoot is clipped back to the input's own range so that an
    image in [0, 1] stays in [0, 1].
    """
    batch = resize_rois(np.asarray(image, dtype=np.float32)[None], size)
    return batch[0]


def resize_rois(images: np.ndarray, size: int = ROI_SIZE) -> np.ndarray:
    """Resize a stack of 2-D images (N x H x W, one shared H x W) to N x size x size, bicubic.

    Antialiasing is on, so a large field of view shrunk to 64 pixels averages its noise as a scanner's
    reconstruction would, rather than aliasing it.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise LiverkitError(f"resize_rois expects N x H x W images, got shape {images.shape}.")
    if images.shape[1:] == (size, size):
        return images.copy()
    x = torch.from_numpy(np.ascontiguousarray(images))[:, None]  # N x 1 x H x W
    y = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)  # N x 1 x size x size
    lo = images.reshape(len(images), -1).min(axis=1)[:, None, None]
    hi = images.reshape(len(images), -1).max(axis=1)[:, None, None]
    return np.clip(y[:, 0].numpy(), lo, hi).astype(np.float32)


def pad_to_square(image: np.ndarray) -> np.ndarray:
    """Pad a 2-D image to square, centred, with its border value (the median of its outermost pixels).

    A non-square ROI resized straight to 64 x 64 would be stretched, changing the lesion's shape; padding keeps
    it, and the border's median continues the surrounding tissue without smearing the lesion to the edge.
    """
    height, width = image.shape
    extra = abs(height - width)
    before, after = extra // 2, extra - extra // 2
    pad = ((before, after), (0, 0)) if height < width else ((0, 0), (before, after))
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return np.pad(image, pad, mode="constant", constant_values=np.median(border))


def to_grey(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Return a 2-D greyscale image from H x W, H x W x 1, H x W x 3 (RGB) or H x W x 4 (RGBA, alpha dropped).

    Args:
        image: the array read from a file.
        source: the file name or description, used in the error message.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (1, 3, 4):
        if image.shape[-1] == 1:
            image = image[..., 0]
        else:
            rgb = image[..., :3].astype(np.float64)
            image = rgb @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma
    if image.ndim != 2:
        raise LiverkitError(
            f"{source}: expected a 2-D ROI (H x W, or H x W x 3 for RGB), got shape {image.shape}; "
            "export one axial slice per lesion."
        )
    return image


def unit_range(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Scale an image to [0, 1] by its storage type: integers by the type's maximum, floats kept as they are.

    Integer images (8- or 16-bit PNG/TIFF) are divided by the largest value their dtype holds, which keeps the
    relative brightness between files. Float images must already lie in [0, 1]; Hounsfield-unit data should be
    windowed with :func:`window` instead.

    Args:
        image: a 2-D image.
        source: the file name, used in error messages.
    """
    image = np.asarray(image)
    if np.issubdtype(image.dtype, np.bool_):
        return image.astype(np.float32)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        if info.min < 0:
            raise LiverkitError(
                f"{source}: signed integer pixels ({image.dtype}) look like Hounsfield units; "
                "give a CT window (window=(low, high)) so they can be mapped to [0, 1]."
            )
        return (image.astype(np.float64) / info.max).astype(np.float32)
    image = image.astype(np.float32)
    if not np.isfinite(image).all():
        raise LiverkitError(f"{source}: the image contains NaN or inf values; fix or drop this file.")
    if image.min() < 0.0 or image.max() > 1.0:
        raise LiverkitError(
            f"{source}: float pixels range over [{image.min():.4g}, {image.max():.4g}], not [0, 1]; "
            "store them in [0, 1], or give a CT window (window=(low, high)) if they are Hounsfield units."
        )
    return image

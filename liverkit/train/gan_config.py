"""GAN settings: the architecture and schedule (:class:`GANConfig`), how a training call runs (:class:`TrainOptions`),
and the networks a config describes (:func:`build_gan`).

``GANConfig`` says *what* is trained (every field changes the model), ``TrainOptions`` *how* a call runs (device,
resuming, progress bar, stopping early: none of them changes a step). Both are frozen and validated on creation,
so a bad value is a LiverkitError naming the field before anything is trained.

The module imports no torch (:func:`build_gan` imports the networks when called), so the profiles
(:mod:`liverkit.kit.profiles`) and the ``liverkit`` command stay light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from liverkit.errors import LiverkitError

if TYPE_CHECKING:
    import torch
    from torch import nn

_KINDS = ("dcgan", "acgan")


@dataclass(frozen=True)
class GANConfig:
    """A GAN's architecture and schedule. The defaults are the paper's DCGAN; see :meth:`paper_acgan`."""

    kind: str = "dcgan"
    """``"dcgan"`` (one model per class, :func:`train_dcgan`) or ``"acgan"`` (one model for all classes)."""
    z_dim: int = 100
    """Length of the noise vector, drawn uniform in [-1, 1] (the paper: 100)."""
    g_width: int = 1024
    """Channels of the generator's first 4 x 4 map, halved at each layer (the paper: 1024); a multiple of 8."""
    d_width: int = 64
    """Filters of the discriminator's first convolution, doubled at each layer (DCGAN 64; the kit's ACGAN 16)."""
    lr: float = 2e-4
    """Adam learning rate of both networks (the paper: 0.0002 for the DCGAN, 0.0001 for the ACGAN)."""
    betas: tuple[float, float] = (0.5, 0.999)
    """Adam betas (beta1 = 0.5 is the DCGAN default; the paper does not say)."""
    batch_size: int = 64
    """Real images per step, and as many noise vectors (the paper: 64)."""
    epochs: int = 70
    """Passes over the training images (the paper: 70 for the DCGAN, 50 for the ACGAN)."""
    checkpoint_every: int = 10
    """Write the resumable checkpoint every this many epochs (and always after the last)."""
    bf16: bool = False
    """Autocast to bfloat16 (faster on GPUs and AMX CPUs); False keeps exact fp32."""
    channels_last: bool = True
    """Keep images and convolution weights in channels-last memory layout: exact fp32 still, 10-15% faster for
    the quick-width DCGAN and ACGAN on a 2-core AVX2 CPU, and the usual layout for bf16 on GPUs."""
    max_steps: int | None = None
    """Cap on optimiser steps; None trains all epochs. CPU profiles use it to bound the time a large group takes."""
    trusted_steps: int | None = None
    """The fewest optimiser steps after which GANs of this config are known to make usable lesions (the quick
    widths: the settings rule on an independent phantom draw, docs/gan_settings.md; the paper's: the steps its own
    GANs took). Training does not change with it: notebook 05 warns about every GAN that trained fewer steps.
    None: no floor is known."""
    sample_grid: int = 8
    """Fixed-noise samples per class recorded after every epoch (the progress grid of notebooks 03 and 04)."""
    collapse_samples: int = 256
    """Fixed-noise samples per class, and most real images per class, behind the per-epoch collapse ratio."""
    dropout: float = 0.5
    """Dropout after every ACGAN discriminator convolution (the paper: 0.5); the DCGAN has none."""

    def __post_init__(self) -> None:
        _validate_config(self)

    @classmethod
    def paper_dcgan(cls, **overrides) -> GANConfig:
        """The paper's DCGAN: G width 1024, D width 64, lr 0.0002, 70 epochs (plus any field overrides)."""
        return cls(**{"kind": "dcgan", "g_width": 1024, "d_width": 64, "lr": 2e-4, "epochs": 70, **overrides})

    @classmethod
    def paper_acgan(cls, **overrides) -> GANConfig:
        """The paper's ACGAN: G width 1024, D width 16 (six 3 x 3 layers), lr 0.0001, 50 epochs (plus overrides)."""
        return cls(**{"kind": "acgan", "g_width": 1024, "d_width": 16, "lr": 1e-4, "epochs": 50, **overrides})

    def steps_per_epoch(self, n_images: int) -> int:
        """Full batches per epoch (the incomplete last one is dropped); 1 when all images fit in one batch."""
        return max(n_images // self.batch_size, 1)

    def total_steps(self, n_images: int) -> int:
        """Optimiser steps this schedule gives ``n_images`` training images: epochs x steps, capped by max_steps."""
        steps = self.epochs * self.steps_per_epoch(n_images)
        return steps if self.max_steps is None else min(steps, self.max_steps)

    def to_dict(self) -> dict:
        """The config as a plain dict (for checkpoints and run-folder records)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping) -> GANConfig:
        """The inverse of :meth:`to_dict`; an unknown field is a LiverkitError."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise LiverkitError(f"unknown GANConfig field(s) {unknown}; valid: {[f.name for f in fields(cls)]}.")
        values = dict(values)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


def _validate_config(config: GANConfig) -> None:
    """LiverkitError naming the first invalid field."""

    def fail(name: str, valid: str) -> LiverkitError:
        return LiverkitError(f"GANConfig.{name} must be {valid}, got {getattr(config, name)!r}.")

    if config.kind not in _KINDS:
        raise fail("kind", f"one of {list(_KINDS)}")
    for name in ("z_dim", "d_width", "batch_size", "epochs", "checkpoint_every", "sample_grid"):
        if not is_int(getattr(config, name), minimum=1):
            raise fail(name, "an integer >= 1")
    if not is_int(config.g_width, minimum=8) or config.g_width % 8:
        raise fail("g_width", "a positive multiple of 8")
    if not is_int(config.collapse_samples, minimum=2):
        raise fail("collapse_samples", "an integer >= 2")
    if config.max_steps is not None and not is_int(config.max_steps, minimum=1):
        raise fail("max_steps", "None or an integer >= 1")
    if config.trusted_steps is not None and not is_int(config.trusted_steps, minimum=1):
        raise fail("trusted_steps", "None or an integer >= 1")
    if not (_is_number(config.lr) and 0 < config.lr < math.inf):
        raise fail("lr", "a positive number")
    if (
        not isinstance(config.betas, (tuple, list))
        or len(config.betas) != 2
        or not all(_is_number(b) and 0 <= b < 1 for b in config.betas)
    ):
        raise fail("betas", "two numbers in [0, 1)")
    if not (_is_number(config.dropout) and 0 <= config.dropout < 1):
        raise fail("dropout", "a number in [0, 1)")
    for name in ("bf16", "channels_last"):
        if not isinstance(getattr(config, name), bool):
            raise fail(name, "True or False")


def is_int(value: object, minimum: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def build_gan(config: GANConfig, n_classes: int = 1) -> tuple[nn.Module, nn.Module]:
    """A fresh (generator, discriminator) pair for ``config`` (``n_classes`` matters for the ACGAN only)."""
    from liverkit.nets.acgan import ACGANDiscriminator, ACGANGenerator
    from liverkit.nets.dcgan import DCGANDiscriminator, DCGANGenerator

    if config.kind == "acgan":
        generator = ACGANGenerator(n_classes, config.z_dim, config.g_width)
        return generator, ACGANDiscriminator(n_classes, config.d_width, config.dropout)
    return DCGANGenerator(config.z_dim, config.g_width), DCGANDiscriminator(config.d_width)


@dataclass(frozen=True)
class TrainOptions:
    """How a GAN training call runs: the options every trainer shares (:func:`~liverkit.train.gan.train_dcgan`,
    ``train_dcgans``, ``train_acgan`` and the fused ``train_dcgans_fused`` / ``train_acgans_fused``).

    The model's identity, its ``out_dir`` and ``seed``, stays an explicit argument of the trainers (a fused job
    carries its own in :class:`~liverkit.train.fused_gan.GANJob`): those say *which* model is trained and where
    its files go, these only how the call runs. None of them changes a random draw or a result.
    """

    device: str | torch.device = "auto"
    """Where to train: ``"auto"`` (CUDA when there is one), ``"cpu"``, ``"cuda"``, ..."""
    resume: bool = False
    """Continue from ``out_dir``'s checkpoint when there is one (start afresh when there is none). Its settings and
    data must match the call's (only ``epochs`` and ``checkpoint_every`` may change). With False an existing
    checkpoint is overwritten at the first checkpoint epoch. The fused trainers default to True
    (:data:`~liverkit.train.fused_gan.FUSED_OPTIONS`): a job with a checkpoint goes to the one-by-one trainer."""
    progress: bool = True
    """Show a tqdm bar (over epochs one by one; over steps per fused group)."""
    stop_after: int | None = None
    """Stop after this epoch (counted from the start of training) with a checkpoint, as an interruption would;
    ``resume=True`` later continues from there. None trains to the end. The fused trainers refuse it."""

    def __post_init__(self) -> None:
        if self.stop_after is not None and not is_int(self.stop_after, minimum=1):
            raise LiverkitError(f"stop_after must be None or an epoch number >= 1, got {self.stop_after!r}.")


DEFAULT_OPTIONS = TrainOptions()
"""The one-by-one trainers' default: ``device="auto"``, a progress bar, start afresh, train to the end."""

"""What one GAN's training holds and leaves: the run in progress (:class:`TrainingRun`, what a checkpoint saves)
and the finished result (:class:`TrainedGAN`). The loop is :mod:`liverkit.train.gan`; the file formats are
:mod:`liverkit.train.checkpoints`, which reads and writes these records (so neither of those imports the other's
caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from liverkit.train.gan_config import GANConfig

CHECKPOINT_FILE = "checkpoint.pt"
"""The checkpoint's name in a GAN's ``out_dir`` (:mod:`liverkit.train.checkpoints` says what it holds)."""


@dataclass
class TrainedGAN:
    """A trained GAN (both networks in eval mode) with its diagnostics."""

    generator: nn.Module
    """The generator, in eval mode (batch norm uses its running statistics)."""
    discriminator: nn.Module
    """The discriminator, in eval mode."""
    history: pd.DataFrame
    """One row per step: epoch, step, loss_d, loss_g, d_real and d_fake (mean sigmoid of D on the real and the
    generated batch, before D's update); the ACGAN adds acc_real and acc_fake (D's class accuracy)."""
    epoch_samples: np.ndarray
    """Fixed-noise samples after every epoch: epochs x (classes x sample_grid) x 64 x 64 in [0, 1], class-major."""
    collapse: pd.DataFrame
    """:func:`collapse_ratio` after every epoch (index ``epoch``), one column per class. Samples are drawn in eval
    mode, as :func:`liverkit.experiment.synthesis.sample` draws them; batch norm's running statistics need a few dozen
    steps to settle, so in the first epochs of a short run the samples look flat and the ratio is near 0 without any
    collapse."""
    seconds: float
    """Wall time of this call (a resumed run counts only the part it trained)."""
    images_per_second: float
    """Real training images per second in this call."""
    config: GANConfig
    """The architecture and schedule."""
    class_names: tuple[str, ...]
    """The classes the generator draws: one for a DCGAN, all for an ACGAN (its label order)."""
    source: str
    """The generator's name, ``"dcgan"`` or ``"acgan"``: the ``sources`` tag of its samples."""
    data: dict
    """What reached the GAN: ``fingerprint``, ``n_images`` and the sorted ``patient_ids``."""
    seed: int
    """The seed it was trained with."""
    out_dir: Path
    """The folder with its checkpoint, samples and generator."""

    @property
    def epochs_trained(self) -> int:
        """Epochs completed so far (fewer than ``config.epochs`` after ``stop_after``)."""
        return len(self.epoch_samples)


@dataclass
class TrainingRun:
    """Everything one training run holds; a checkpoint saves the parts that change."""

    config: GANConfig
    seed: int
    device: torch.device
    class_names: tuple[str, ...]
    out_dir: Path
    data: dict
    images: torch.Tensor  # N x 1 x 64 x 64 in [-1, 1], on the device
    labels: torch.Tensor  # N class indices (all 0 for a DCGAN), on the device
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: torch.Generator  # CPU: data order, training noise and fake labels
    fixed_noise: torch.Tensor  # n_fixed x z_dim, on the device: the grid and collapse samples
    real_spread: list[float]  # mean pairwise distance of a fixed subset of real images, per class
    epoch: int = 0
    step: int = 0
    saved_epoch: int | None = None  # the epoch of the last checkpoint this run wrote or resumed from
    history: dict[str, list] = field(default_factory=dict)
    collapse: list[list[float]] = field(default_factory=list)
    epoch_samples: list[np.ndarray] = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        return min(self.config.batch_size, len(self.images))

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_FILE

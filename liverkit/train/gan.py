"""Training the GANs: one DCGAN per lesion class (notebook 03) and one ACGAN for all classes (notebook 04).

The API takes a LesionSet: the experiment passes a fold's training subset, so no test patient reaches a GAN;
every checkpoint records the patients and the :meth:`~liverkit.data.LesionSet.fingerprint` it was trained on.

The hot loop keeps the images on the device as one tensor scaled to [-1, 1]; each epoch draws one random
permutation and all of the epoch's noise from a dedicated CPU ``torch.Generator``, then slices batches from
them: no DataLoader, no per-sample Python, one host sync per epoch. The last incomplete batch is dropped; a
class with fewer images than one batch trains on all of them as one batch per step (with a warning).
Training is exact fp32 unless ``bf16`` asks for bfloat16 autocast.

Files in ``out_dir``: ``checkpoint.pt`` (everything needed to resume, written atomically every
``checkpoint_every`` epochs and at the end), ``samples.npy`` (the fixed-noise grid after every epoch),
and, once training is complete, ``generator.pt`` (:func:`load_generator`) and ``history.csv``.
A run interrupted and resumed gives bitwise the same weights on CPU as one that was never interrupted.
"""

from __future__ import annotations

import math
import pickle
import re
import struct
import time
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from liverkit.data.lesionset import LesionSet
from liverkit.env import resolve_device
from liverkit.errors import LiverkitError
from liverkit.io import atomic_path, atomic_write, reading
from liverkit.nets.acgan import ACGANDiscriminator, ACGANGenerator
from liverkit.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from liverkit.progress import tqdm
from liverkit.quality import mean_pairwise_distance, random_subset
from liverkit.seeds import GanStream, derive

CHECKPOINT_FILE = "checkpoint.pt"
"""The resumable training state in a GAN's ``out_dir``."""
GENERATOR_FILE = "generator.pt"
"""The finished generator with its config, class names and training-data record (read by :func:`load_generator`)."""
SAMPLES_FILE = "samples.npy"
"""The fixed-noise samples after every epoch, epochs x (classes x sample_grid) x 64 x 64 in [0, 1]."""
HISTORY_FILE = "history.csv"
"""The per-step losses and discriminator outputs of a finished run."""

_KINDS = ("dcgan", "acgan")
_EXTENDABLE = ("epochs", "checkpoint_every")
"""Config fields a resumed run may change: they say where training stops, not what a step does."""
_CHECKPOINT_FORMAT, _GENERATOR_FORMAT, _FORMAT_VERSION = "liverkit-gan-checkpoint", "liverkit-gan-generator", 1
_UNREADABLE = (
    RuntimeError,
    OSError,
    EOFError,
    KeyError,
    IndexError,
    ValueError,
    struct.error,
    pickle.UnpicklingError,
    zipfile.BadZipFile,
)
"""What ``torch.load(weights_only=True)`` raises for a damaged, truncated or foreign file (found by fuzzing)."""


# ---------------------------------------------------------------------------------------------- configuration
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
    if config.kind == "acgan":
        generator = ACGANGenerator(n_classes, config.z_dim, config.g_width)
        return generator, ACGANDiscriminator(n_classes, config.d_width, config.dropout)
    return DCGANGenerator(config.z_dim, config.g_width), DCGANDiscriminator(config.d_width)


# ---------------------------------------------------------------------------------------------- results
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
    mode, as :func:`sample` draws them; batch norm's running statistics need a few dozen steps to settle, so in
    the first epochs of a short run the samples look flat and the ratio is near 0 without any mode collapse."""
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
class SavedGenerator:
    """A generator read back by :func:`load_generator`, with what is known about its training."""

    generator: nn.Module
    """The generator, in eval mode."""
    config: GANConfig
    """The architecture and schedule it was trained with."""
    class_names: tuple[str, ...]
    """The classes it draws (one for a DCGAN; all, in label order, for an ACGAN)."""
    source: str
    """``"dcgan"`` or ``"acgan"``."""
    data: dict
    """``fingerprint``, ``n_images`` and ``patient_ids`` of its training images."""
    seed: int
    """The training seed."""
    epochs_trained: int
    """Epochs it was trained for."""
    path: Path
    """The file it was read from."""


class GANDiverged(LiverkitError):
    """A loss or weight became NaN or inf. ``generator`` holds the last good state (end of the previous epoch);
    ``checkpoint`` is the last good checkpoint this run wrote (None when it wrote none yet)."""

    def __init__(self, message: str, generator: nn.Module, checkpoint: Path | None):
        super().__init__(message)
        self.generator = generator
        self.checkpoint = checkpoint


# ---------------------------------------------------------------------------------------------- training API
def train_dcgan(
    lesions: LesionSet,
    class_name: str,
    config: GANConfig,
    *,
    out_dir: str | Path,
    seed: int,
    device: str | torch.device = "auto",
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainedGAN:
    """Train one DCGAN on the images of one class of ``lesions`` (notebook 03).

    Losses, the standard non-saturating ones: D minimises BCE(D(x), real) + BCE(D(G(z)), fake); G minimises
    BCE(D(G(z)), real), i.e. maximises log D(G(z)) rather than minimising log(1 - D(G(z))).

    Args:
        lesions: the training lesions (a fold's training subset, possibly augmented); only ``class_name``'s are used.
        class_name: the class to model.
        config: architecture and schedule, ``kind="dcgan"`` (e.g. ``GANConfig.paper_dcgan()``).
        out_dir: this GAN's folder (checkpoint, samples, generator).
        seed: seeds initialisation, data order and noise; the same seed gives the same weights on CPU
            (the global RNG state is left as it was).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        resume: continue from ``out_dir``'s checkpoint when there is one (and start afresh when there is none).
            Its settings and data must match this call's (only ``epochs`` and ``checkpoint_every`` may change).
            With ``resume=False`` an existing checkpoint is overwritten at the first checkpoint epoch.
        progress: show a tqdm bar over epochs.
        stop_after: stop after this epoch (counted from the start of training) with a checkpoint, as an
            interruption would; ``resume=True`` later continues from there.

    Raises:
        LiverkitError: fewer than 2 images of the class, or a checkpoint that cannot be resumed.
        GANDiverged: a loss or weight became non-finite.
    """
    check_kind(config, "dcgan", "train_dcgan")
    images = lesions.by_class(class_name)
    check_count(len(images), f"class '{class_name}'")
    warn_if_under_one_batch(len(images), config.batch_size, f"class '{class_name}'")
    labels = np.zeros(len(images), dtype=np.int64)
    return _train(images, labels, (class_name,), config, seed, out_dir, device, resume, progress, stop_after)


def train_dcgans(
    lesions: LesionSet,
    config: GANConfig,
    *,
    out_dir: str | Path,
    seed: int,
    device: str | torch.device = "auto",
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> dict[str, TrainedGAN]:
    """One DCGAN per class of ``lesions``, each in ``out_dir / class_folder(name)``; see :func:`train_dcgan`.

    Every class uses the same ``seed``, so each model is exactly what ``train_dcgan`` gives for that class alone.
    """
    folders = class_folders(lesions.class_names)
    return {
        name: train_dcgan(
            lesions,
            name,
            config,
            out_dir=Path(out_dir) / folders[name],
            seed=seed,
            device=device,
            resume=resume,
            progress=progress,
            stop_after=stop_after,
        )
        for name in lesions.class_names
    }


def train_acgan(
    lesions: LesionSet,
    config: GANConfig,
    *,
    out_dir: str | Path,
    seed: int,
    device: str | torch.device = "auto",
    resume: bool = False,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainedGAN:
    """Train one ACGAN on all classes of ``lesions`` (notebook 04); arguments as for :func:`train_dcgan`.

    The paper's objectives, D maximising L_S + L_C and G maximising L_C - L_S (L_S: log-likelihood of the right
    source, real or fake; L_C: of the right class), in the usual non-saturating form: D minimises
    BCE(real) + BCE(fake) + CE(class of real) + CE(class of fake); G minimises BCE(D(G(z, c)), real) + CE(c).
    Fake labels are drawn uniformly over the classes. ``config.kind`` must be ``"acgan"``.
    """
    check_kind(config, "acgan", "train_acgan")
    for name, count in lesions.class_counts().items():
        check_count(count, f"class '{name}'")
    warn_if_under_one_batch(len(lesions), config.batch_size, f"the ACGAN's training set {lesions.class_counts()}")
    labels = lesions.labels.astype(np.int64)
    return _train(lesions, labels, lesions.class_names, config, seed, out_dir, device, resume, progress, stop_after)


def class_folders(class_names: tuple[str, ...]) -> dict[str, str]:
    """A safe folder name per class (letters, digits, '_', '.', '-'; anything else becomes '_').

    Names that would share a folder ("a b" and "a_b") are told apart by the class's index as a prefix ("00_a_b").
    """
    folders = {name: re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "_" for name in class_names}
    if len(set(folders.values())) != len(folders):
        folders = {name: f"{i:02d}_{folder}" for i, (name, folder) in enumerate(folders.items())}
    return folders


def check_kind(config: GANConfig, kind: str, function: str) -> None:
    if not isinstance(config, GANConfig):
        raise LiverkitError(f"{function} needs a GANConfig, got {type(config).__name__}.")
    if config.kind != kind:
        raise LiverkitError(
            f"{function} trains a {kind.upper()} but the config has kind='{config.kind}'; "
            f"use GANConfig.paper_{kind}() or replace(config, kind='{kind}')."
        )


def check_count(n: int, what: str) -> None:
    """Refuse fewer than 2 images: batch norm needs a batch of at least 2."""
    if n < 2:
        raise LiverkitError(
            f"{what} has {n} training image(s); a GAN needs at least 2. Add lesions of this class, use a larger "
            "augmentation group, or leave the class out."
        )


def warn_if_under_one_batch(n: int, batch_size: int, what: str) -> None:
    """Warn that all ``n`` images will form one batch per step when they are fewer than one batch."""
    if n < batch_size:
        warnings.warn(
            f"{what} has only {n} training images, fewer than one batch ({batch_size}): the GAN trains on all {n} "
            "as one batch, one step per epoch. Expect a weak generator; a larger augmentation group gives more images.",
            UserWarning,
            stacklevel=3,
        )


# ---------------------------------------------------------------------------------------------- the training run
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


def _train(lesions, labels, class_names, config, seed, out_dir, device, resume, progress, stop_after) -> TrainedGAN:
    """Set up (fresh, or from the checkpoint when resuming), then fit; the global RNG state is restored after."""
    if not is_int(seed, minimum=0):
        raise LiverkitError(f"seed must be a non-negative integer, got {seed!r}.")
    if stop_after is not None and not is_int(stop_after, minimum=1):
        raise LiverkitError(f"stop_after must be None or an epoch number >= 1, got {stop_after!r}.")
    device = resolve_device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        run = new_run(lesions, labels, class_names, config, int(seed), device, Path(out_dir))
        if resume and run.checkpoint_path.exists():
            _restore(run, _read_checkpoint(run.checkpoint_path))
        return _fit(run, progress, stop_after)


def new_run(lesions, labels, class_names, config, seed, device, out_dir) -> TrainingRun:
    """Fresh networks (from the global RNG, seeded by the caller), optimisers, data on the device, fixed noise."""
    generator, discriminator = (m.to(device) for m in build_gan(config, len(class_names)))
    images = torch.from_numpy(lesions.images).to(device) * 2 - 1  # N x 1 x 64 x 64 in [-1, 1]
    if config.channels_last:
        generator, discriminator = (m.to(memory_format=torch.channels_last) for m in (generator, discriminator))
        images = images.contiguous(memory_format=torch.channels_last)
    fixed_rng = torch.Generator().manual_seed(derive(seed, GanStream.FIXED_NOISE))
    n_fixed = max(config.sample_grid, config.collapse_samples)
    data = {"fingerprint": lesions.fingerprint(), "n_images": len(lesions), "patient_ids": lesions.patients.tolist()}
    run = TrainingRun(
        config=config,
        seed=seed,
        device=device,
        class_names=tuple(class_names),
        out_dir=out_dir,
        data=data,
        images=images,
        labels=torch.from_numpy(labels).to(device),
        generator=generator,
        discriminator=discriminator,
        opt_g=adam_for(generator, config),
        opt_d=adam_for(discriminator, config),
        rng=torch.Generator().manual_seed(derive(seed, GanStream.TRAINING)),
        fixed_noise=uniform_noise((n_fixed, config.z_dim), fixed_rng).to(device),
        real_spread=[_real_spread(lesions.images[labels == k], config, fixed_rng) for k in range(len(class_names))],
    )
    run.history = {name: [] for name in ("epoch", "step", *_stat_names(config.kind))}
    return run


def adam_for(model: nn.Module, config: GANConfig) -> torch.optim.Adam:
    return torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas)


def _stat_names(kind: str) -> tuple[str, ...]:
    """The per-step statistics the step functions return, in order."""
    names = ("loss_d", "loss_g", "d_real", "d_fake")
    return (*names, "acc_real", "acc_fake") if kind == "acgan" else names


def uniform_noise(shape: tuple[int, ...], rng: torch.Generator) -> torch.Tensor:
    """Noise uniform in [-1, 1] (the paper's z), on the CPU."""
    return torch.rand(shape, generator=rng) * 2 - 1


def _real_spread(images: np.ndarray, config: GANConfig, rng: torch.Generator) -> float:
    """Mean pairwise distance of a fixed random subset of one class's real images (the collapse denominator)."""
    subset = random_subset(torch.from_numpy(images), config.collapse_samples, rng)
    return mean_pairwise_distance(subset)


# ---------------------------------------------------------------------------------------------- the loop
def _fit(run: TrainingRun, progress: bool, stop_after: int | None) -> TrainedGAN:
    """Train from ``run.epoch`` to the end of the schedule (or ``stop_after``), checkpointing on the way."""
    n_images, config = len(run.images), run.config
    total_steps, steps_per_epoch = config.total_steps(n_images), config.steps_per_epoch(n_images)
    final_epoch = math.ceil(total_steps / steps_per_epoch)
    last_epoch = final_epoch if stop_after is None else min(final_epoch, stop_after)
    good_state = clone_state(run.generator)
    start, first_step = time.perf_counter(), run.step
    desc = f"{config.kind.upper()} {'/'.join(run.class_names)}"
    bar = tqdm(range(run.epoch, last_epoch), desc=desc, initial=run.epoch, total=last_epoch, disable=not progress)
    for _ in bar:
        stats = _run_epoch(run, min(steps_per_epoch, total_steps - run.step))
        check_finite(run, stats, good_state)
        record_epoch(run, stats)
        good_state = clone_state(run.generator)
        if run.epoch % config.checkpoint_every == 0 or run.epoch == last_epoch:
            save_checkpoint(run)
        bar.set_postfix(loss_d=run.history["loss_d"][-1], loss_g=run.history["loss_g"][-1])
    seconds = time.perf_counter() - start
    result = run_result(run, seconds, (run.step - first_step) * run.batch_size)
    if run.epoch >= final_epoch:
        save_generator(result, run.out_dir / GENERATOR_FILE)
        atomic_write(run.out_dir / HISTORY_FILE, lambda tmp: result.history.to_csv(tmp, index=False))
    return result


def _run_epoch(run: TrainingRun, n_steps: int) -> torch.Tensor:
    """``n_steps`` updates over one random permutation; returns the per-step statistics (n_steps x k, CPU).

    The permutation, the noise and the fake labels of the whole epoch come from ``run.rng`` up front, so the
    loop only slices tensors already on the device, and the statistics are read back once, at the end.
    """
    b = run.batch_size
    order = torch.randperm(len(run.images), generator=run.rng).to(run.device)
    noise = uniform_noise((n_steps, b, run.config.z_dim), run.rng).to(run.device)  # steps x B x z_dim
    acgan = run.config.kind == "acgan"
    if acgan:
        fake_labels = torch.randint(len(run.class_names), (n_steps, b), generator=run.rng).to(run.device)
    run.generator.train()
    run.discriminator.train()
    stats = []
    for i in range(n_steps):
        index = order[i * b : (i + 1) * b]
        real = run.images[index]  # B x 1 x 64 x 64
        if acgan:
            stats.append(_acgan_step(run, real, run.labels[index], noise[i], fake_labels[i]))
        else:
            stats.append(_dcgan_step(run, real, noise[i]))
    return torch.stack(stats).cpu()


def _dcgan_step(run: TrainingRun, real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """One D and one G update with the non-saturating BCE losses; returns [loss_d, loss_g, d_real, d_fake]."""
    g, d = run.generator, run.discriminator
    with _autocast(run):
        fake = g(z)  # B x 1 x 64 x 64
        real_logit, fake_logit = d(real), d(fake.detach())  # B, B
        loss_d = _bce(real_logit, 1.0) + _bce(fake_logit, 0.0)
    _update(run.opt_d, loss_d)
    with _autocast(run):
        loss_g = _bce(d(fake), 1.0)  # G wants D to call its images real
    _update(run.opt_g, loss_g)
    return _stats(loss_d, loss_g, torch.sigmoid(real_logit).mean(), torch.sigmoid(fake_logit).mean())


def _acgan_step(run: TrainingRun, real, real_labels, z, fake_labels) -> torch.Tensor:
    """One D and one G update with the ACGAN losses (source BCE plus class CE); returns the six statistics."""
    g, d = run.generator, run.discriminator
    with _autocast(run):
        fake = g(z, fake_labels)  # B x 1 x 64 x 64
        (real_src, real_cls), (fake_src, fake_cls) = d(real), d(fake.detach())  # B and B x C, twice
        loss_d = _bce(real_src, 1.0) + _bce(fake_src, 0.0) + _ce(real_cls, real_labels) + _ce(fake_cls, fake_labels)
    _update(run.opt_d, loss_d)
    with _autocast(run):
        gen_src, gen_cls = d(fake)
        loss_g = _bce(gen_src, 1.0) + _ce(gen_cls, fake_labels)  # look real, and look like class c
    _update(run.opt_g, loss_g)
    accuracy_real = (real_cls.argmax(1) == real_labels).float().mean()
    accuracy_fake = (fake_cls.argmax(1) == fake_labels).float().mean()
    d_real, d_fake = torch.sigmoid(real_src).mean(), torch.sigmoid(fake_src).mean()
    return _stats(loss_d, loss_g, d_real, d_fake, accuracy_real, accuracy_fake)


def _autocast(run: TrainingRun) -> torch.autocast:
    return torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.config.bf16)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Binary cross-entropy of logits against a constant target (1 real, 0 fake), in fp32."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels)


def _update(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def _stats(*values: torch.Tensor) -> torch.Tensor:
    return torch.stack([v.detach().float() for v in values])


def clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def check_finite(run: TrainingRun, stats: torch.Tensor, good_state: dict) -> None:
    """Raise GANDiverged when a loss or a weight of this epoch is NaN or inf; the checkpoint on disk is untouched."""
    finite = torch.isfinite(stats[:, :2])  # steps x (loss_d, loss_g)
    if bool(finite.all()) and _weights_finite(run):
        return
    if not bool(finite.all()):
        row = int((~finite.all(1)).nonzero()[0])
        column = 0 if not bool(finite[row, 0]) else 1
        what = f"{('loss_d', 'loss_g')[column]} became {stats[row, column].item()} at step {run.step + row + 1}"
    else:
        what = f"the weights became non-finite in its last step ({run.step + len(stats)})"
    run.generator.load_state_dict(good_state)
    run.generator.eval()
    kept = run.checkpoint_path if run.saved_epoch is not None else None
    on_disk = f"the last good checkpoint '{kept}' (epoch {run.saved_epoch}) is kept" if kept else "no checkpoint yet"
    raise GANDiverged(
        f"the {run.config.kind.upper()} ({'/'.join(run.class_names)}) diverged in epoch {run.epoch + 1}: {what}; "
        f"{on_disk}. The exception's generator holds the state after epoch {run.epoch}. Lower the learning rate "
        "(GANConfig.lr), train in fp32 (bf16=False) or check the data.",
        run.generator,
        kept,
    )


def _weights_finite(run: TrainingRun) -> bool:
    tensors = [*run.generator.state_dict().values(), *run.discriminator.state_dict().values()]
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors if t.is_floating_point()]).all())


def record_epoch(run: TrainingRun, stats: torch.Tensor) -> None:
    """Append the epoch's per-step statistics, its fixed-noise samples and its collapse ratios."""
    n = len(stats)
    run.history["epoch"] += [run.epoch + 1] * n
    run.history["step"] += list(range(run.step + 1, run.step + n + 1))
    for column, name in enumerate(_stat_names(run.config.kind)):
        run.history[name] += stats[:, column].tolist()
    run.epoch, run.step = run.epoch + 1, run.step + n
    grid, ratios = _snapshot(run)
    run.epoch_samples.append(grid)
    run.collapse.append(ratios)


@torch.no_grad()
def _snapshot(run: TrainingRun) -> tuple[np.ndarray, list[float]]:
    """The fixed-noise samples per class in eval mode, fp32: the first ``sample_grid`` for the grid (as a
    (classes x sample_grid) x 64 x 64 array in [0, 1]) and ``collapse_samples`` for the collapse ratio."""
    config, generator = run.config, run.generator
    generator.eval()
    grid, ratios = [], []
    for k in range(len(run.class_names)):
        images = _to_unit(_generate(generator, run.fixed_noise, k))  # n_fixed x 1 x 64 x 64
        grid.append(images[: config.sample_grid, 0].cpu())
        ratios.append(mean_pairwise_distance(images[: config.collapse_samples]) / run.real_spread[k])
    generator.train()
    return torch.cat(grid).numpy(), ratios


def _generate(generator: nn.Module, z: torch.Tensor, class_index: int | None) -> torch.Tensor:
    """Generator output for noise ``z``; an ACGAN draws class ``class_index`` (a DCGAN ignores it)."""
    if isinstance(generator, ACGANGenerator):
        return generator(z, torch.full((len(z),), int(class_index or 0), device=z.device))
    return generator(z)


def _to_unit(images: torch.Tensor) -> torch.Tensor:
    """tanh output in [-1, 1] to [0, 1] (clamped), fp32 and contiguous."""
    return ((images.float() + 1) / 2).clamp(0, 1).contiguous()


def run_result(run: TrainingRun, seconds: float, images_seen: int) -> TrainedGAN:
    """The TrainedGAN for the run so far, with both networks switched to eval mode."""
    run.generator.eval()
    run.discriminator.eval()
    n_grid = len(run.class_names) * run.config.sample_grid
    samples = np.stack(run.epoch_samples) if run.epoch_samples else np.zeros((0, n_grid, 64, 64), np.float32)
    epochs = pd.RangeIndex(1, len(run.collapse) + 1, name="epoch")
    return TrainedGAN(
        generator=run.generator,
        discriminator=run.discriminator,
        history=pd.DataFrame(run.history),
        epoch_samples=samples,
        collapse=pd.DataFrame(run.collapse, index=epochs, columns=list(run.class_names)),
        seconds=seconds,
        images_per_second=images_seen / seconds if seconds > 0 else 0.0,
        config=run.config,
        class_names=run.class_names,
        source=run.config.kind,
        data=run.data,
        seed=run.seed,
        out_dir=run.out_dir,
    )


# ---------------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(run: TrainingRun) -> None:
    """Write the resumable state and the sample grid atomically (each file is complete, or the old one stays)."""
    state = {
        "format": _CHECKPOINT_FORMAT,
        "version": _FORMAT_VERSION,
        "config": run.config.to_dict(),
        "seed": run.seed,
        "class_names": list(run.class_names),
        "data": run.data,
        "epoch": run.epoch,
        "step": run.step,
        "generator": run.generator.state_dict(),
        "discriminator": run.discriminator.state_dict(),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "rng": _rng_state(run),
        "history": run.history,
        "collapse": run.collapse,
        "epoch_samples": torch.from_numpy(np.stack(run.epoch_samples)),
    }
    with atomic_path(run.checkpoint_path) as tmp:
        torch.save(state, tmp)
    atomic_write(run.out_dir / SAMPLES_FILE, lambda tmp: np.save(tmp, np.stack(run.epoch_samples)))
    run.saved_epoch = run.epoch


def _rng_state(run: TrainingRun) -> dict:
    """The run's noise generator and the global torch RNGs (initialisation, dropout)."""
    cuda = torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None
    return {"training": run.rng.get_state(), "torch_cpu": torch.get_rng_state(), "torch_cuda": cuda}


def _read_checkpoint(path: Path) -> dict:
    """Load a checkpoint with ``weights_only=True``; a damaged or foreign file is a LiverkitError naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except _UNREADABLE as exc:
        raise LiverkitError(
            f"cannot read the GAN checkpoint '{path}' ({type(exc).__name__}: {str(exc)[:200]}). The file is damaged "
            "or not a liverkit checkpoint; delete it, or train with resume=False, to start afresh."
        ) from exc
    if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
        raise LiverkitError(f"'{path}' is not a liverkit GAN checkpoint; delete it or train with resume=False.")
    return state


def _restore(run: TrainingRun, state: dict) -> None:
    """Check that the checkpoint belongs to this run, then load every piece of its state into ``run``."""
    path = run.checkpoint_path
    _check_resumable(run, state, path)
    try:
        run.generator.load_state_dict(state["generator"])
        run.discriminator.load_state_dict(state["discriminator"])
        run.opt_g.load_state_dict(state["opt_g"])
        run.opt_d.load_state_dict(state["opt_d"])
        run.rng.set_state(state["rng"]["training"])
        torch.set_rng_state(state["rng"]["torch_cpu"])
        if run.device.type == "cuda" and state["rng"]["torch_cuda"] is not None:
            torch.cuda.set_rng_state(state["rng"]["torch_cuda"], run.device)
        run.epoch, run.step = int(state["epoch"]), int(state["step"])
        run.history = {name: list(values) for name, values in state["history"].items()}
        run.collapse = [list(row) for row in state["collapse"]]
        run.epoch_samples = list(state["epoch_samples"].numpy())
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise LiverkitError(
            f"the GAN checkpoint '{path}' is incomplete or damaged ({exc}); delete it to start afresh."
        ) from exc
    run.saved_epoch = run.epoch


def _check_resumable(run: TrainingRun, state: dict, path: Path) -> None:
    """LiverkitError when the checkpoint's settings or data differ from this call's."""
    saved = state.get("config", {})
    differences = [
        f"{name}: checkpoint {saved.get(name)!r}, now {value!r}"
        for name, value in run.config.to_dict().items()
        if name not in _EXTENDABLE and _plain(saved.get(name)) != _plain(value)
    ]
    for name, now in (("seed", run.seed), ("class_names", list(run.class_names))):
        if _plain(state.get(name)) != _plain(now):
            differences.append(f"{name}: checkpoint {state.get(name)!r}, now {now!r}")
    if differences:
        raise LiverkitError(
            f"cannot resume from '{path}': it was trained with other settings ({'; '.join(differences)}). "
            "Use the checkpoint's settings, or train with resume=False (or another out_dir) to start afresh."
        )
    saved_data = state.get("data", {})
    if saved_data.get("fingerprint") != run.data["fingerprint"]:
        raise LiverkitError(
            f"cannot resume from '{path}': it was trained on other data (fingerprint {saved_data.get('fingerprint')}, "
            f"{saved_data.get('n_images')} images) than this call's (fingerprint {run.data['fingerprint']}, "
            f"{run.data['n_images']} images). Pass the same training set (same fold, group and seed), or train with "
            "resume=False (or another out_dir) to start afresh."
        )


def _plain(value: object) -> object:
    """Tuples as lists, so a config read back from a checkpoint compares equal to the live one."""
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


# ---------------------------------------------------------------------------------------------- generator files
def save_generator(gan: TrainedGAN | SavedGenerator, path: str | Path) -> Path:
    """Write a generator with its config, classes and training-data record atomically (for :func:`load_generator`)."""
    payload = {
        "format": _GENERATOR_FORMAT,
        "version": _FORMAT_VERSION,
        "config": gan.config.to_dict(),
        "class_names": list(gan.class_names),
        "source": gan.source,
        "data": gan.data,
        "seed": gan.seed,
        "epochs_trained": gan.epochs_trained,
        "state_dict": {k: v.detach().cpu() for k, v in gan.generator.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> SavedGenerator:
    """Read a generator written by :func:`save_generator` (``weights_only=True``), in eval mode on ``device``."""
    path = Path(path)
    if not path.is_file():
        raise LiverkitError(
            f"generator file '{path}' does not exist; train the GAN first (it writes {GENERATOR_FILE})."
        )
    with reading(path, "the generator file", "delete it and train the GAN again (notebook 03 or 04)"):
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != _GENERATOR_FORMAT:
            raise LiverkitError(f"'{path}' is not a liverkit generator file (written by save_generator).")
        config = GANConfig.from_dict(payload["config"])
        class_names = tuple(payload["class_names"])
        generator, _ = build_gan(config, len(class_names))
        generator.load_state_dict(payload["state_dict"])
        recorded = {
            "source": str(payload["source"]),
            "data": payload["data"],
            "seed": int(payload["seed"]),
            "epochs_trained": int(payload["epochs_trained"]),
        }
    return SavedGenerator(
        generator=generator.to(resolve_device(device)).eval(),
        config=config,
        class_names=class_names,
        path=path,
        **recorded,
    )


def load_dcgans(out_dir: str | Path, device: str | torch.device = "cpu") -> dict[str, SavedGenerator]:
    """The per-class DCGANs that :func:`train_dcgans` wrote under ``out_dir``, keyed by class name."""
    files = sorted(Path(out_dir).glob(f"*/{GENERATOR_FILE}"))
    if not files:
        raise LiverkitError(f"no DCGAN generators under '{out_dir}'; train them with train_dcgans(out_dir=...).")
    gans = [load_generator(file, device) for file in files]
    not_dcgan = [str(g.path) for g in gans if g.source != "dcgan"]
    if not_dcgan:
        raise LiverkitError(f"{not_dcgan} are not DCGAN generators; keep each GAN kind in its own folder.")
    return {g.class_names[0]: g for g in gans}


# ---------------------------------------------------------------------------------------------- sampling
def sample(
    gans: Mapping[str, TrainedGAN | SavedGenerator | nn.Module] | TrainedGAN | SavedGenerator | nn.Module,
    n_per_class: int | Mapping[str, int],
    *,
    seed: int,
    class_names: tuple[str, ...] | list[str] | None = None,
    batch_size: int = 256,
) -> LesionSet:
    """Synthetic lesions as a LesionSet, ready to concatenate with the real training set (notebooks 03-05).

    Images are the generators' tanh output mapped to [0, 1] (clamped), drawn in eval mode and fp32. Each item
    is its own synthetic patient, ``synthetic-<source>-<class>-s<seed>-<i>``, which no real id looks like;
    diameters are unknown (NaN) and ``sources`` is the generator's name (``"dcgan"`` or ``"acgan"``).

    Args:
        gans: ``{class name: DCGAN}`` (each a TrainedGAN, SavedGenerator or DCGANGenerator), or one ACGAN
            (a TrainedGAN or SavedGenerator; a bare ACGANGenerator needs ``class_names`` in its label order).
        n_per_class: images per class: one count for every class the generators know, or ``{class name: n}``
            (classes left out get none).
        seed: the noise; the same seed gives the same images. Each class draws from its own noise stream, so
            a larger count with the same seed extends a smaller one (up to float rounding): synthetic groups of
            growing size are nested.
        class_names: the real set's class list, so that labels index into it; defaults to the generators' classes.
        batch_size: images per generator call (memory only: in eval mode an image depends only on its noise).
    """
    if not is_int(seed, minimum=0):
        raise LiverkitError(f"seed must be a non-negative integer, got {seed!r}.")
    generators = _generators_by_class(gans, class_names)
    names = tuple(str(c) for c in class_names) if class_names is not None else tuple(generators)
    outside = [name for name in generators if name not in names]
    if outside:
        raise LiverkitError(f"the generators' classes {outside} are not in class_names {list(names)}.")
    counts = _counts(n_per_class, generators)
    parts = []
    for name in names:
        if counts.get(name, 0) > 0:
            module, class_index, source = generators[name]
            rng = torch.Generator().manual_seed(derive(int(seed), GanStream.SAMPLES + names.index(name)))
            images = _draw(module, class_index, counts[name], rng, batch_size)
            parts.append((name, source, images))
    return _synthetic_set(parts, names, int(seed))


def _unwrap(gan: object) -> tuple[nn.Module, str, tuple[str, ...] | None]:
    """(generator module, source name, class names or None) of a TrainedGAN, SavedGenerator or bare generator."""
    if isinstance(gan, (TrainedGAN, SavedGenerator)):
        return gan.generator, gan.source, tuple(gan.class_names)
    if isinstance(gan, (DCGANGenerator, ACGANGenerator)):
        return gan, "acgan" if isinstance(gan, ACGANGenerator) else "dcgan", None
    raise LiverkitError(
        f"cannot sample from a {type(gan).__name__}; pass a TrainedGAN, a SavedGenerator (load_generator) or a "
        "DCGANGenerator / ACGANGenerator."
    )


def _generators_by_class(gans, class_names) -> dict[str, tuple[nn.Module, int | None, str]]:
    """{class name: (generator, ACGAN class index or None, source)} for a dict of DCGANs or one ACGAN."""
    if isinstance(gans, Mapping):
        out = {}
        for name, gan in gans.items():
            module, source, trained_on = _unwrap(gan)
            if not isinstance(module, DCGANGenerator):
                raise LiverkitError("a dict of generators must hold DCGANs; pass an ACGAN on its own, not in a dict.")
            if trained_on is not None and trained_on != (str(name),):
                raise LiverkitError(f"the DCGAN under key '{name}' was trained on class {list(trained_on)}.")
            out[str(name)] = (module, None, source)
        return out
    module, source, trained_on = _unwrap(gans)
    if not isinstance(module, ACGANGenerator):
        raise LiverkitError("a single DCGAN does not say its class; pass {class_name: gan} instead.")
    order = trained_on if trained_on is not None else class_names
    if order is None or len(order) != module.n_classes:
        raise LiverkitError(
            f"a bare ACGANGenerator needs class_names, its {module.n_classes} classes in label order; got {order!r}."
        )
    return {str(name): (module, k, source) for k, name in enumerate(order)}


def _counts(n_per_class: int | Mapping[str, int], known: Mapping) -> dict[str, int]:
    """Images per class, checked: counts are integers >= 0 and every named class has a generator."""
    counts = dict(n_per_class) if isinstance(n_per_class, Mapping) else dict.fromkeys(known, n_per_class)
    unknown = [name for name in counts if name not in known]
    if unknown:
        raise LiverkitError(f"no generator for class(es) {unknown}; the generators know {list(known)}.")
    bad = {name: n for name, n in counts.items() if not is_int(n, minimum=0)}
    if bad:
        raise LiverkitError(f"n_per_class must be integers >= 0, got {bad}.")
    return {name: int(n) for name, n in counts.items()}


@torch.no_grad()
def _draw(module: nn.Module, class_index: int | None, n: int, rng: torch.Generator, batch_size: int) -> np.ndarray:
    """``n`` images N x 1 x 64 x 64 in [0, 1] from ``module`` in eval mode (its training mode is restored after)."""
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    z = uniform_noise((n, module.z_dim), rng)  # n x z_dim
    chunks = [
        _to_unit(_generate(module, z[i : i + batch_size].to(device), class_index)).cpu()
        for i in range(0, n, batch_size)
    ]
    module.train(was_training)
    return torch.cat(chunks).numpy()


def _synthetic_set(parts: list[tuple[str, str, np.ndarray]], class_names: tuple[str, ...], seed: int) -> LesionSet:
    """A LesionSet of generated images: one synthetic patient per image, unknown diameters."""
    images, labels, sources, ids = [np.zeros((0, 1, 64, 64), np.float32)], [], [], []
    for name, source, drawn in parts:
        images.append(drawn)
        labels += [class_names.index(name)] * len(drawn)
        sources += [source] * len(drawn)
        ids += [f"synthetic-{source}-{name}-s{seed}-{i:05d}" for i in range(len(drawn))]
    return LesionSet(
        images=np.concatenate(images),
        labels=np.asarray(labels, np.int64),
        class_names=class_names,
        patient_ids=ids,
        diameters_mm=np.full(len(ids), np.nan, np.float32),
        ids=ids,
        sources=np.asarray(sources, dtype=str),
    )

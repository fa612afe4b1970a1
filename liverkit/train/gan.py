"""Training one GAN at a time: one DCGAN per lesion class (notebook 03) or one ACGAN for all classes (notebook 04).

The API takes a LesionSet: the experiment passes a fold's training subset, so no test patient reaches a GAN;
every checkpoint records the patients and the :meth:`~liverkit.data.LesionSet.fingerprint` it was trained on.
Settings are :class:`~liverkit.train.gan_config.GANConfig` (what is trained) and
:class:`~liverkit.train.gan_config.TrainOptions` (how the call runs); the files a run writes, and how they are
read back, are :mod:`liverkit.train.checkpoints`; drawing synthetic lesions from a trained GAN is
:func:`liverkit.experiment.synthesis.sample`. The per-step pieces (step helpers, epoch bookkeeping) are public because
the fused trainer (:mod:`liverkit.train.fused_gan`) reuses them to give each of its models exactly this run.

The hot loop keeps the images on the device as one tensor scaled to [-1, 1]; each epoch draws one random
permutation and all of the epoch's noise from a dedicated CPU ``torch.Generator``, then slices batches from
them: no DataLoader, no per-sample Python, one host sync per epoch. The last incomplete batch is dropped; a
class with fewer images than one batch trains on all of them as one batch per step (with a warning).
Training is exact fp32 unless ``bf16`` asks for bfloat16 autocast.

A run writes its checkpoint every ``checkpoint_every`` epochs and at the end, and its generator and history once
training is complete. A run interrupted and resumed gives bitwise the same weights on CPU as one that was never
interrupted. (About 530 lines: the setup, the loop, its epoch bookkeeping and its result are one piece, kept
together because the fused trainer reuses each part step for step.)
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from liverkit.data.lesionset import LesionSet
from liverkit.env import resolve_device, reuse_freed_memory
from liverkit.errors import LiverkitError
from liverkit.nets.acgan import ACGANGenerator
from liverkit.progress import tqdm
from liverkit.seeds import GanStream, derive
from liverkit.train.checkpoints import restore_checkpoint, save_checkpoint, save_finished
from liverkit.train.collapse import mean_pairwise_distance, random_subset
from liverkit.train.gan_config import DEFAULT_OPTIONS, GANConfig, TrainOptions, build_gan, is_int
from liverkit.train.gan_records import TrainedGAN, TrainingRun


# ---------------------------------------------------------------------------------------------- results
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
    options: TrainOptions = DEFAULT_OPTIONS,
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
        options: device, resume, progress bar and ``stop_after`` (:class:`~liverkit.train.gan_config.TrainOptions`).

    Raises:
        LiverkitError: fewer than 2 images of the class, or a checkpoint that cannot be resumed.
        GANDiverged: a loss or weight became non-finite.
    """
    check_kind(config, "dcgan", "train_dcgan")
    images = lesions.by_class(class_name)
    check_count(len(images), f"class '{class_name}'")
    warn_if_under_one_batch(len(images), config.batch_size, f"class '{class_name}'")
    labels = np.zeros(len(images), dtype=np.int64)
    return _train(images, labels, (class_name,), config, seed, Path(out_dir), options)


def train_dcgans(
    lesions: LesionSet,
    config: GANConfig,
    *,
    out_dir: str | Path,
    seed: int,
    options: TrainOptions = DEFAULT_OPTIONS,
) -> dict[str, TrainedGAN]:
    """One DCGAN per class of ``lesions``, each in ``out_dir / class_folder(name)``; see :func:`train_dcgan`.

    Every class uses the same ``seed``, so each model is exactly what ``train_dcgan`` gives for that class alone.
    """
    folders = class_folders(lesions.class_names)
    return {
        name: train_dcgan(lesions, name, config, out_dir=Path(out_dir) / folders[name], seed=seed, options=options)
        for name in lesions.class_names
    }


def train_acgan(
    lesions: LesionSet,
    config: GANConfig,
    *,
    out_dir: str | Path,
    seed: int,
    options: TrainOptions = DEFAULT_OPTIONS,
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
    return _train(lesions, labels, lesions.class_names, config, seed, Path(out_dir), options)


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
def _train(lesions, labels, class_names, config, seed, out_dir: Path, options: TrainOptions) -> TrainedGAN:
    """Set up (fresh, or from the checkpoint when resuming), then fit; the global RNG state is restored after."""
    if not is_int(seed, minimum=0):
        raise LiverkitError(f"seed must be a non-negative integer, got {seed!r}.")
    if not isinstance(options, TrainOptions):
        raise LiverkitError(f"options must be a TrainOptions, got {type(options).__name__}.")
    device = resolve_device(options.device)
    reuse_freed_memory()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        run = new_run(lesions, labels, class_names, config, int(seed), device, out_dir)
        if options.resume and run.checkpoint_path.exists():
            restore_checkpoint(run)
        return _fit(run, options.progress, options.stop_after)


def new_run(
    lesions: LesionSet,
    labels: np.ndarray,
    class_names: tuple[str, ...],
    config: GANConfig,
    seed: int,
    device: torch.device,
    out_dir: Path,
) -> TrainingRun:
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
        save_finished(result)
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
    with autocast(run.config, run.device):
        fake = g(z)  # B x 1 x 64 x 64
        real_logit, fake_logit = d(real), d(fake.detach())  # B, B
        loss_d = bce(real_logit, 1.0) + bce(fake_logit, 0.0)
    update(run.opt_d, loss_d)
    with autocast(run.config, run.device), frozen(d):
        loss_g = bce(d(fake), 1.0)  # G wants D to call its images real
        update(run.opt_g, loss_g)
    return stack_stats(loss_d, loss_g, torch.sigmoid(real_logit).mean(), torch.sigmoid(fake_logit).mean())


def _acgan_step(run: TrainingRun, real, real_labels, z, fake_labels) -> torch.Tensor:
    """One D and one G update with the ACGAN losses (source BCE plus class CE); returns the six statistics."""
    g, d = run.generator, run.discriminator
    with autocast(run.config, run.device):
        fake = g(z, fake_labels)  # B x 1 x 64 x 64
        (real_src, real_cls), (fake_src, fake_cls) = d(real), d(fake.detach())  # B and B x C, twice
        loss_d = bce(real_src, 1.0) + bce(fake_src, 0.0) + _ce(real_cls, real_labels) + _ce(fake_cls, fake_labels)
    update(run.opt_d, loss_d)
    with autocast(run.config, run.device), frozen(d):
        gen_src, gen_cls = d(fake)
        loss_g = bce(gen_src, 1.0) + _ce(gen_cls, fake_labels)  # look real, and look like class c
        update(run.opt_g, loss_g)
    accuracy_real = (real_cls.argmax(1) == real_labels).float().mean()
    accuracy_fake = (fake_cls.argmax(1) == fake_labels).float().mean()
    d_real, d_fake = torch.sigmoid(real_src).mean(), torch.sigmoid(fake_src).mean()
    return stack_stats(loss_d, loss_g, d_real, d_fake, accuracy_real, accuracy_fake)


def autocast(config: GANConfig, device: torch.device) -> torch.autocast:
    """bfloat16 autocast on ``device`` when ``config.bf16``, else a no-op context (exact fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16)


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Binary cross-entropy of logits against a constant target (1 real, 0 fake), in fp32."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.float(), labels)


@contextmanager
def frozen(discriminator: nn.Module) -> Iterator[None]:
    """D's weights need no gradient while G updates: only G's optimiser steps, and D's gradients are cleared
    before its own next update. Skipping them leaves every number as it was and saves D's weight-gradient
    convolutions (a quick DCGAN step about 7% faster on 2 CPU cores)."""
    discriminator.requires_grad_(False)
    try:
        yield
    finally:
        discriminator.requires_grad_(True)


def update(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss`` (a scalar; the fused trainer passes the sum of its models' losses)."""
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def stack_stats(*values: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """A step's statistics as one detached fp32 tensor, stacked along ``dim`` (1 for the fused K x statistics)."""
    return torch.stack([v.detach().float() for v in values], dim)


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
        images = to_unit(generate(generator, run.fixed_noise, k))  # n_fixed x 1 x 64 x 64
        grid.append(images[: config.sample_grid, 0].cpu())
        ratios.append(mean_pairwise_distance(images[: config.collapse_samples]) / run.real_spread[k])
    generator.train()
    return torch.cat(grid).numpy(), ratios


def generate(generator: nn.Module, z: torch.Tensor, class_index: int | None) -> torch.Tensor:
    """Generator output for noise ``z``; an ACGAN draws class ``class_index`` (a DCGAN ignores it)."""
    if isinstance(generator, ACGANGenerator):
        return generator(z, torch.full((len(z),), int(class_index or 0), device=z.device))
    return generator(z)


def to_unit(images: torch.Tensor) -> torch.Tensor:
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

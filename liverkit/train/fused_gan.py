"""Training many GANs of one config as one fused network, so that a GPU runs them at once (``Profile.fused``).

The paper profile trains 9 small DCGANs per repeat (3 classes x 3 folds) and one ACGAN per fold; one such model
leaves most of a GPU idle. Here K models of the same :class:`~liverkit.train.gan_config.GANConfig` become one *fused*
generator and one fused discriminator, and every optimiser step updates all K at once.

Mechanism: grouped layers (:mod:`liverkit.nets.fused_gan`): activations B x (K*C) x H x W, images B x K x 64 x 64,
and every fused tensor the K models' tensors concatenated along dim 0, so one model's weights, batch-norm buffers
and Adam moments are a slice (:func:`~liverkit.nets.fused_gan.model_state`). This keeps per-model
batch-norm running statistics, which ``torch.func.vmap`` cannot (it forbids in-place buffer updates).
The losses are per-model means, summed: each model's gradient is exactly its own loss's. Adam is elementwise,
so one Adam over the fused tensors is K Adams (all models of a group step together, so they share the step count).

Each model keeps exactly what :func:`~liverkit.train.gan.train_dcgan` / ``train_acgan`` would give it: its
``TrainingRun`` is built by the same ``new_run`` under ``torch.manual_seed(seed)`` (initial weights, fixed noise,
data on the device, its own ``torch.Generator`` for data order, noise and fake labels, drawn per epoch exactly
as ``_run_epoch`` draws them). ACGAN dropout masks come from a per-model generator started from the global RNG
state the one-by-one run would have, drawn with the same call; on CPU they are the same masks whenever the
activations have the same memory layout: always with ``channels_last=True`` (every profile). With
``channels_last=False`` the one-by-one layout follows the strides of its image array, so its masks may differ; on
CUDA the two generators need not stand at the same offset, so they may differ there too (with the same
distribution).
Models with fewer images have fewer steps per epoch and may finish early: each model ends its own epochs (history,
samples, collapse ratios, checkpoints every ``checkpoint_every`` epochs) and, once it has taken all its steps,
writes its files and is dropped from the fused group (the group is rebuilt without it, Adam moments included),
so it never takes another update. On CPU at fp32 the results equal the one-by-one trainer's up to float rounding:
grouped kernels sum in another order, and Adam (which turns rounding noise in near-zero gradients into lr-sized
steps) and leaky-ReLU inputs within rounding of 0 can grow it along the trajectory; ``tests/test_fused_gan.py``
states the measured differences and tolerances.

Grouping: models fuse only when their batch size ``min(batch_size, n_images)`` and class count agree; each such
group trains fused, one group after another, and a group of one model trains with the one-by-one trainer.

Options: one :class:`~liverkit.train.gan_config.TrainOptions` as for the one-by-one trainer, but its default here
is :data:`FUSED_OPTIONS` (``resume=True``), and ``stop_after`` is refused (a fused group stops all at once).

Resume: a job whose ``out_dir`` holds a checkpoint is handed to the one-by-one trainer with ``resume=True``:
a finished run is loaded without training (as ``train_dcgan`` does with ``resume=True``), a partial one (an
interrupted fused run leaves one every ``checkpoint_every`` epochs) is continued there, one model at a time.
The files each model writes are the one-by-one trainer's (checkpoint, samples, generator, history), so a later
one-by-one call with ``resume=True`` sees a finished run. ``TrainedGAN.seconds`` is the model's share of the
fused wall time (each step's time split evenly among the models that took it), so a group's seconds add up to
its wall time.

A model that diverges raises :class:`~liverkit.train.gan.GANDiverged` as alone, which stops the whole group; the
others keep their last checkpoints (``resume`` continues them one by one).

bf16 autocast applies when ``config.bf16``; channels-last applies when ``config.channels_last`` (both exercised on
CPU by the tests; untested on GPU here). On a 2-core Intel Xeon (AVX-512, AMX) at one thread, three fused
quick-width DCGANs (widths 64/16, batch 16) train at about the speed of the same three one after another (0.97x to
1.2x, noisy on a shared machine): no gain worth the memory on CPU. ``Profile.fused="auto"`` stays off on CUDA as
well until a GPU run is recorded (:func:`liverkit.train.fused_check.use_fused`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from liverkit.data.lesionset import LesionSet
from liverkit.env import resolve_device
from liverkit.errors import LiverkitError
from liverkit.nets.fused_gan import (
    FusedACGANDiscriminator,
    FusedACGANGenerator,
    FusedDCGANDiscriminator,
    FusedDCGANGenerator,
    FusedDropout,
    kept_models,
    model_slice,
    model_state,
    stack_states,
)
from liverkit.progress import tqdm
from liverkit.train.checkpoints import save_checkpoint, save_finished
from liverkit.train.gan import (
    TrainedGAN,
    TrainingRun,
    adam_for,
    autocast,
    check_count,
    check_finite,
    check_kind,
    clone_state,
    frozen,
    new_run,
    record_epoch,
    run_result,
    stack_stats,
    train_acgan,
    train_dcgan,
    uniform_noise,
    update,
    warn_if_under_one_batch,
)
from liverkit.train.gan_config import GANConfig, TrainOptions, is_int
from liverkit.train.gan_records import CHECKPOINT_FILE

FUSED_OPTIONS = TrainOptions(resume=True)
"""The fused trainers' default options: ``device="auto"``, a progress bar, and resume jobs with a checkpoint."""


@dataclass(frozen=True)
class GANJob:
    """One model to train: its images, classes, folder and seed."""

    lesions: LesionSet
    """Its training images: for a DCGAN the one class's (``LesionSet.by_class``), for an ACGAN all classes."""
    class_names: tuple[str, ...]
    """What it draws: ``(class name,)`` for a DCGAN, ``lesions.class_names`` for an ACGAN."""
    out_dir: Path
    """Its folder (checkpoint, samples, generator, history), as ``out_dir`` of the one-by-one trainer."""
    seed: int
    """Its seed, as ``seed`` of the one-by-one trainer."""


# ---------------------------------------------------------------------------------------------- public API
def train_dcgans_fused(
    jobs: Sequence[GANJob], config: GANConfig, options: TrainOptions = FUSED_OPTIONS
) -> list[TrainedGAN]:
    """Train one DCGAN per job, fused (see the module docstring); the same results and files as
    ``train_dcgan(job.lesions, job.class_names[0], config, out_dir=job.out_dir, seed=job.seed, options=options)``
    for each job, up to float rounding.

    Args:
        jobs: the models; each ``class_names`` is one class, and only that class's images of ``lesions`` are used.
        config: their common architecture and schedule, ``kind="dcgan"``.
        options: device, progress (one tqdm bar over steps per fused group) and resume: True (the default here)
            hands jobs whose ``out_dir`` holds a checkpoint to the one-by-one trainer (finished: loaded; partial:
            continued), False trains every job afresh. ``stop_after`` must be None.

    Returns:
        One TrainedGAN per job, in job order.
    """
    check_kind(config, "dcgan", "train_dcgans_fused")
    return _train_jobs(jobs, config, options)


def train_acgans_fused(
    jobs: Sequence[GANJob], config: GANConfig, options: TrainOptions = FUSED_OPTIONS
) -> list[TrainedGAN]:
    """Train one ACGAN per job, fused; the same as ``train_acgan(job.lesions, config, out_dir=job.out_dir,
    seed=job.seed, options=options)`` for each job, up to float rounding. Arguments as for
    :func:`train_dcgans_fused` (``config.kind`` must be ``"acgan"``, each job's ``class_names`` its
    ``lesions.class_names``)."""
    check_kind(config, "acgan", "train_acgans_fused")
    return _train_jobs(jobs, config, options)


def _train_jobs(jobs, config: GANConfig, options: TrainOptions) -> list[TrainedGAN]:
    """Check the jobs, hand resumable and lone ones to the one-by-one trainer, fuse the rest by batch size."""
    if not isinstance(options, TrainOptions) or options.stop_after is not None:
        raise LiverkitError(f"the fused trainers take TrainOptions without stop_after, got {options!r}.")
    jobs = [_checked_job(job, config) for job in _as_job_list(jobs)]
    device, progress = resolve_device(options.device), options.progress
    results: dict[int, TrainedGAN] = {}
    fresh = []
    for i, job in enumerate(jobs):
        if options.resume and (job.out_dir / CHECKPOINT_FILE).exists():
            results[i] = _train_one(job, config, TrainOptions(device, resume=True, progress=progress))
        else:
            fresh.append(i)
    for group in _groups(jobs, fresh, config).values():
        if len(group) == 1:
            results[group[0]] = _train_one(
                jobs[group[0]], config, TrainOptions(device, resume=False, progress=progress)
            )
        else:
            results.update(zip(group, _train_group([jobs[i] for i in group], config, device, progress), strict=True))
    return [results[i] for i in range(len(jobs))]


def _as_job_list(jobs) -> list[GANJob]:
    """The jobs as a list; anything but GANJobs, or two jobs sharing an ``out_dir``, is a LiverkitError."""
    jobs = list(jobs)
    wrong = [type(job).__name__ for job in jobs if not isinstance(job, GANJob)]
    if wrong:
        raise LiverkitError(f"the fused trainers take a list of GANJob, got {wrong[:3]}; build GANJob(...) per model.")
    folders = [Path(job.out_dir).resolve() for job in jobs]
    shared = sorted({str(f) for f in folders if folders.count(f) > 1})
    if shared:
        raise LiverkitError(f"jobs share the out_dir(s) {shared}; give every model its own folder.")
    return jobs


def _checked_job(job: GANJob, config: GANConfig) -> GANJob:
    """The job with ``out_dir`` a Path and, for a DCGAN, ``lesions`` cut to its class; LiverkitError if invalid."""
    if not is_int(job.seed, minimum=0):
        raise LiverkitError(f"GANJob.seed must be a non-negative integer, got {job.seed!r}.")
    names, lesions = tuple(job.class_names), job.lesions
    if config.kind == "dcgan":
        if len(names) != 1 or names[0] not in lesions.class_names:
            raise LiverkitError(
                f"a DCGAN job's class_names must be one of its lesions' classes {list(lesions.class_names)}, "
                f"got {list(names)}."
            )
        lesions = lesions.by_class(names[0])
        check_count(len(lesions), f"class '{names[0]}'")
        warn_if_under_one_batch(len(lesions), config.batch_size, f"class '{names[0]}'")
    else:
        if names != lesions.class_names:
            raise LiverkitError(
                f"an ACGAN job's class_names must be its lesions' classes {list(lesions.class_names)}, "
                f"got {list(names)}."
            )
        for name, count in lesions.class_counts().items():
            check_count(count, f"class '{name}'")
        warn_if_under_one_batch(len(lesions), config.batch_size, f"the ACGAN's training set {lesions.class_counts()}")
    return GANJob(lesions=lesions, class_names=names, out_dir=Path(job.out_dir), seed=int(job.seed))


def _groups(jobs: list[GANJob], indices: list[int], config: GANConfig) -> dict[tuple[int, int], list[int]]:
    """Job indices by (batch size, class count): only models with both equal can share a fused batch."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i in indices:
        key = (min(config.batch_size, len(jobs[i].lesions)), len(jobs[i].class_names))
        groups.setdefault(key, []).append(i)
    return groups


def _train_one(job: GANJob, config: GANConfig, options: TrainOptions) -> TrainedGAN:
    """The one-by-one trainer for one job (a lone model, or one with a checkpoint to load or continue)."""
    if config.kind == "dcgan":
        return train_dcgan(job.lesions, job.class_names[0], config, out_dir=job.out_dir, seed=job.seed, options=options)
    return train_acgan(job.lesions, config, out_dir=job.out_dir, seed=job.seed, options=options)


def _adam_state(old: torch.optim.Optimizer, new: torch.optim.Optimizer, cut: Callable) -> None:
    """Give ``new`` the Adam state of ``old``, parameter by parameter (same order), each moment passed through
    ``cut`` (a model's slice, or the kept models); the step count is shared, so it is copied as is."""
    for p_old, p_new in zip(old.param_groups[0]["params"], new.param_groups[0]["params"], strict=True):
        new.state[p_new] = {
            name: value.clone() if value.dim() == 0 else torch.empty_like(p_new).copy_(cut(value))
            for name, value in old.state[p_old].items()
        }


# ---------------------------------------------------------------------------------------------- the fused group
@dataclass
class _Member:
    """One model of a fused group: its one-by-one ``TrainingRun`` (networks synced at epoch ends) and its progress."""

    run: TrainingRun
    total_steps: int
    steps_per_epoch: int
    final_epoch: int
    dropout_rng: torch.Generator  # the global RNG the one-by-one run would use for dropout
    init_rng: torch.Tensor  # the global CPU RNG state after initialisation (a checkpoint records it)
    good_state: dict  # the generator after the last finite epoch (GANDiverged restores it)
    epoch_steps: int = 0  # steps of the current epoch (the last one may be cut by max_steps)
    position: int = 0  # steps taken in the current epoch
    order: torch.Tensor | None = None  # the epoch's permutation of the images, on the device
    noise: torch.Tensor | None = None  # epoch_steps x B x z_dim, on the device
    fake_labels: torch.Tensor | None = None  # epoch_steps x B (ACGAN), on the device
    stats: list[torch.Tensor] = field(default_factory=list)  # the epoch's per-step statistics, on the device
    seconds: float = 0.0  # its share of the fused wall time
    result: TrainedGAN | None = None


@dataclass
class _Fused:
    """The fused networks of a group's active models and their Adam optimisers."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    k: int


def _new_member(job: GANJob, config: GANConfig, device: torch.device) -> _Member:
    """The model's run built exactly as the one-by-one trainer builds it: ``new_run`` under its seed."""
    labels = job.lesions.labels.astype(np.int64) if config.kind == "acgan" else np.zeros(len(job.lesions), np.int64)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(job.seed)
        run = new_run(job.lesions, labels, job.class_names, config, job.seed, device, job.out_dir)
        init_rng = torch.get_rng_state()
    dropout_rng = torch.Generator(device)
    if device.type == "cpu":
        dropout_rng.set_state(init_rng)
    else:  # what torch.manual_seed(seed) left in the device's generator
        dropout_rng.manual_seed(job.seed)
    n = len(job.lesions)
    total, per_epoch = config.total_steps(n), config.steps_per_epoch(n)
    return _Member(
        run=run,
        total_steps=total,
        steps_per_epoch=per_epoch,
        final_epoch=-(-total // per_epoch),
        dropout_rng=dropout_rng,
        init_rng=init_rng,
        good_state=clone_state(run.generator),
    )


def _fuse(config: GANConfig, members: list[_Member], g_state: dict, d_state: dict) -> _Fused:
    """Fused networks for ``members`` holding the given fused state dicts, with fresh Adam optimisers."""
    device = members[0].run.device
    with device:
        generator, discriminator = build_fused(config, len(members), len(members[0].run.class_names))
    generator.load_state_dict(g_state)
    discriminator.load_state_dict(d_state)
    if config.channels_last:
        generator, discriminator = (m.to(memory_format=torch.channels_last) for m in (generator, discriminator))
    for module in discriminator.modules():
        if isinstance(module, FusedDropout):
            module.rngs = [m.dropout_rng for m in members]
    generator.train()
    discriminator.train()
    return _Fused(generator, discriminator, adam_for(generator, config), adam_for(discriminator, config), len(members))


def _fuse_members(config: GANConfig, members: list[_Member]) -> _Fused:
    """The fused group of freshly built members: their initial weights, stacked."""
    g_state = stack_states([m.run.generator.state_dict() for m in members])
    d_state = stack_states([m.run.discriminator.state_dict() for m in members])
    return _fuse(config, members, g_state, d_state)


def _shrink(fused: _Fused, config: GANConfig, members: list[_Member], keep: list[int]) -> _Fused:
    """The group without its finished models: the kept models' slices of every weight, buffer and Adam moment."""
    g_state = {key: kept_models(value, fused.k, keep) for key, value in fused.generator.state_dict().items()}
    d_state = {key: kept_models(value, fused.k, keep) for key, value in fused.discriminator.state_dict().items()}
    smaller = _fuse(config, members, g_state, d_state)
    _adam_state(fused.opt_g, smaller.opt_g, lambda t: kept_models(t, fused.k, keep))
    _adam_state(fused.opt_d, smaller.opt_d, lambda t: kept_models(t, fused.k, keep))
    return smaller


# ---------------------------------------------------------------------------------------------- the loop
def _train_group(jobs: list[GANJob], config: GANConfig, device: torch.device, progress: bool) -> list[TrainedGAN]:
    """Train the jobs (same batch size) fused; the global RNG state is restored after, as one by one."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        members = [_new_member(job, config, device) for job in jobs]
        _fit_group(members, config, progress)
    return [m.result for m in members]


def _fit_group(members: list[_Member], config: GANConfig, progress: bool) -> None:
    """Step all active models together; end each model's epochs on its own schedule; drop it when it is done."""
    active = list(members)
    fused = _fuse_members(config, active)
    step = _acgan_step if config.kind == "acgan" else _dcgan_step
    desc = f"{config.kind.upper()} x{len(members)} fused"
    bar = tqdm(total=max(m.total_steps for m in members), desc=desc, disable=not progress)
    while active:
        tick = time.perf_counter()
        stats = step(fused, config, *_batch(active, config))  # K x statistics
        share = (time.perf_counter() - tick) / len(active)
        for j, m in enumerate(active):
            m.seconds += share
            m.stats.append(stats[j])
            m.position += 1
            if m.position == m.epoch_steps:
                tick = time.perf_counter()
                _end_epoch(m, fused, j)
                m.seconds += time.perf_counter() - tick
        keep = [j for j, m in enumerate(active) if m.run.step < m.total_steps]
        if len(keep) < len(active):
            for m in active:
                if m.run.step == m.total_steps:
                    _finish(m)
            active = [active[j] for j in keep]
            fused = _shrink(fused, config, active, keep) if active else fused
        bar.update(1)
    bar.close()


def _start_epoch(m: _Member) -> None:
    """Draw the epoch's permutation, noise and fake labels from the model's generator, as ``_run_epoch`` does."""
    run, b = m.run, m.run.batch_size
    m.epoch_steps = min(m.steps_per_epoch, m.total_steps - run.step)
    m.order = torch.randperm(len(run.images), generator=run.rng).to(run.device)
    m.noise = uniform_noise((m.epoch_steps, b, run.config.z_dim), run.rng).to(run.device)  # steps x B x z_dim
    if run.config.kind == "acgan":
        m.fake_labels = torch.randint(len(run.class_names), (m.epoch_steps, b), generator=run.rng).to(run.device)


def _batch(members: list[_Member], config: GANConfig) -> tuple[torch.Tensor, ...]:
    """This step's real images N x K x 64 x 64, real labels K x N, noise K x N x z_dim and fake labels K x N
    (all zero for a DCGAN, which ignores them); a model at the start of an epoch draws the epoch first."""
    reals, real_labels, noise, fake_labels = [], [], [], []
    for m in members:
        if m.position == 0:
            _start_epoch(m)
        b, i = m.run.batch_size, m.position
        index = m.order[i * b : (i + 1) * b]
        reals.append(m.run.images[index])  # N x 1 x 64 x 64
        real_labels.append(m.run.labels[index])  # N
        noise.append(m.noise[i])  # N x z_dim
        fake_labels.append(m.fake_labels[i] if m.fake_labels is not None else torch.zeros_like(real_labels[-1]))
    real = torch.cat(reals, 1)  # N x K x 64 x 64
    if config.channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    return real, torch.stack(real_labels), torch.stack(noise), torch.stack(fake_labels)


def _end_epoch(m: _Member, fused: _Fused, j: int) -> None:
    """The model's epoch end, as the one-by-one ``_fit``: sync its networks out of the fused ones, check they are
    finite, record history, samples and collapse ratios, and write its checkpoint when one is due."""
    run = m.run
    stats = torch.stack(m.stats).cpu()  # steps x statistics
    run.generator.load_state_dict(model_state(fused.generator.state_dict(), fused.k, j))
    run.discriminator.load_state_dict(model_state(fused.discriminator.state_dict(), fused.k, j))
    check_finite(run, stats, m.good_state)
    record_epoch(run, stats)
    m.good_state = clone_state(run.generator)
    if run.epoch % run.config.checkpoint_every == 0 or run.epoch == m.final_epoch:
        _adam_state(fused.opt_g, run.opt_g, lambda t: model_slice(t, fused.k, j))
        _adam_state(fused.opt_d, run.opt_d, lambda t: model_slice(t, fused.k, j))
        _save_member_checkpoint(m)
    m.position, m.stats = 0, []


def _save_member_checkpoint(m: _Member) -> None:
    """``save_checkpoint`` with this model's RNG states where it records the global ones (the one-by-one run's
    global RNG drives dropout); the caller's global state is restored by the ``fork_rng`` around the group."""
    device = m.run.device
    torch.set_rng_state(m.dropout_rng.get_state() if device.type == "cpu" else m.init_rng)
    if device.type == "cuda":
        torch.cuda.set_rng_state(m.dropout_rng.get_state(), device)
    save_checkpoint(m.run)


def _finish(m: _Member) -> None:
    """The model took all its steps: its TrainedGAN, generator file and history, as the one-by-one ``_fit``."""
    run = m.run
    m.result = run_result(run, m.seconds, run.step * run.batch_size)
    save_finished(m.result)
    m.order = m.noise = m.fake_labels = None


# ---------------------------------------------------------------------------------------------- the steps
def _dcgan_step(f: _Fused, config: GANConfig, real, real_labels, z, fake_labels) -> torch.Tensor:
    """One D and one G update of every model, as ``gan._dcgan_step``; returns K x [loss_d, loss_g, d_real, d_fake].

    Args:
        real: N x K x 64 x 64; z: K x N x z_dim; the labels (K x N) are unused by the DCGAN.
    """
    with autocast(config, real.device):
        fake = f.generator(z)  # N x K x 64 x 64
        real_logit, fake_logit = f.discriminator(real), f.discriminator(fake.detach())  # K x N, K x N
        loss_d = _bce(real_logit, 1.0) + _bce(fake_logit, 0.0)  # K
    update(f.opt_d, loss_d.sum())  # each model's gradient is its own loss's
    with autocast(config, real.device), frozen(f.discriminator):
        loss_g = _bce(f.discriminator(fake), 1.0)  # K: G wants D to call its images real
        update(f.opt_g, loss_g.sum())
    d_real, d_fake = torch.sigmoid(real_logit).mean(1), torch.sigmoid(fake_logit).mean(1)
    return stack_stats(loss_d, loss_g, d_real, d_fake, dim=1)  # K x statistics


def _acgan_step(f: _Fused, config: GANConfig, real, real_labels, z, fake_labels) -> torch.Tensor:
    """One D and one G update of every model, as ``gan._acgan_step``; returns K x the six statistics.

    Args:
        real: N x K x 64 x 64; real_labels, fake_labels: K x N; z: K x N x z_dim.
    """
    with autocast(config, real.device):
        fake = f.generator(z, fake_labels)  # N x K x 64 x 64
        (real_src, real_cls), (fake_src, fake_cls) = f.discriminator(real), f.discriminator(fake.detach())
        loss_d = _bce(real_src, 1.0) + _bce(fake_src, 0.0) + _ce(real_cls, real_labels) + _ce(fake_cls, fake_labels)
    update(f.opt_d, loss_d.sum())  # each model's gradient is its own loss's
    with autocast(config, real.device), frozen(f.discriminator):
        gen_src, gen_cls = f.discriminator(fake)  # K x N, K x N x C
        loss_g = _bce(gen_src, 1.0) + _ce(gen_cls, fake_labels)  # K: look real, and look like class c
        update(f.opt_g, loss_g.sum())
    accuracy_real = (real_cls.argmax(2) == real_labels).float().mean(1)
    accuracy_fake = (fake_cls.argmax(2) == fake_labels).float().mean(1)
    d_real, d_fake = torch.sigmoid(real_src).mean(1), torch.sigmoid(fake_src).mean(1)
    return stack_stats(loss_d, loss_g, d_real, d_fake, accuracy_real, accuracy_fake, dim=1)  # K x statistics


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Per-model binary cross-entropy of logits K x N against a constant target, in fp32: K means (the one-by-one
    trainer's ``bce`` takes one mean over one model's batch, so it is not shared)."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none").mean(1)


def _ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-model cross-entropy of class logits K x N x C against labels K x N, in fp32: K means."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="none")  # K*N
    return losses.view(labels.shape).mean(1)  # K


def build_fused(config: GANConfig, k: int, n_classes: int) -> tuple[nn.Module, nn.Module]:
    """A fused (generator, discriminator) pair for K models (weights are loaded afterwards, not initialised)."""
    if config.kind == "acgan":
        generator = FusedACGANGenerator(k, n_classes, config.z_dim, config.g_width)
        return generator, FusedACGANDiscriminator(k, n_classes, config.d_width, config.dropout)
    return FusedDCGANGenerator(k, config.z_dim, config.g_width), FusedDCGANDiscriminator(k, config.d_width)

"""Many GANs of one config trained as one network, so that a GPU runs them at once (issue 14).

The paper profile trains 9 small DCGANs per repeat (3 classes x 3 folds) and one ACGAN per fold; one such model
leaves most of a GPU idle. Here K models of the same :class:`~liverkit.train.gan.GANConfig` become one *fused*
generator and one fused discriminator, and every optimiser step updates all K at once.

Mechanism: grouped layers. Every convolution becomes one ``Conv2d``/``ConvTranspose2d`` with ``groups=K`` (model
k owns channel block k), every batch norm one ``BatchNorm2d`` over K x C channels (the same per-channel batch
statistics and running statistics each model has alone), the linear layers and the ACGAN's class embedding
batched matrix products over a leading model axis. Activations are B x (K*C) x H x W; images B x K x 64 x 64
(channel k is model k's image). Every fused tensor is the K models' tensors concatenated along dim 0, so one
model's weights, batch-norm buffers and Adam moments are a slice (:func:`_model_state`). This keeps per-model
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
CUDA the one-by-one path uses the fused dropout kernel, so they differ there too (with the same distribution).
Models with fewer images have fewer steps per epoch and may finish early: each model ends its own epochs (history,
samples, collapse ratios, checkpoints every ``checkpoint_every`` epochs) and, once it has taken all its steps,
writes its files and is dropped from the fused group (the group is rebuilt without it, Adam moments included),
so it never takes another update. On CPU at fp32 the results equal the one-by-one trainer's up to float rounding:
grouped kernels sum in another order, and Adam (which turns rounding noise in near-zero gradients into lr-sized
steps) and leaky-ReLU inputs within rounding of 0 can grow it along the trajectory; ``tests/test_fused_gan.py``
states the measured differences and tolerances.

Grouping: models fuse only when their batch size ``min(batch_size, n_images)`` and class count agree; each such
group trains fused, one group after another, and a group of one model trains with the one-by-one trainer.

Resume: a job whose ``out_dir`` holds a checkpoint is handed to the one-by-one trainer with ``resume=True``:
a finished run is loaded without training (as ``train_dcgan(..., resume=True)`` does), a partial one (an
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
1.2x, noisy on a shared machine): no gain worth the memory, so ``Profile.fused="auto"`` fuses on CUDA only.
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
from liverkit.io import atomic_write
from liverkit.nets.dcgan import down_conv, up_conv
from liverkit.progress import tqdm
from liverkit.train.gan import (
    CHECKPOINT_FILE,
    GENERATOR_FILE,
    HISTORY_FILE,
    GANConfig,
    TrainedGAN,
    TrainingRun,
    adam_for,
    check_count,
    check_finite,
    check_kind,
    clone_state,
    is_int,
    new_run,
    record_epoch,
    run_result,
    save_checkpoint,
    save_generator,
    train_acgan,
    train_dcgan,
    uniform_noise,
    warn_if_under_one_batch,
)


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
    jobs: Sequence[GANJob],
    config: GANConfig,
    device: str | torch.device = "auto",
    progress: bool = True,
    resume: bool = True,
) -> list[TrainedGAN]:
    """Train one DCGAN per job, fused (see the module docstring); the same results and files as
    ``train_dcgan(job.lesions, job.class_names[0], config, out_dir=job.out_dir, seed=job.seed, resume=resume)``
    for each job, up to float rounding.

    Args:
        jobs: the models; each ``class_names`` is one class, and only that class's images of ``lesions`` are used.
        config: their common architecture and schedule, ``kind="dcgan"``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        progress: show one tqdm bar (over steps) per fused group.
        resume: hand jobs whose ``out_dir`` holds a checkpoint to the one-by-one trainer (finished: loaded;
            partial: continued); False trains every job afresh.

    Returns:
        One TrainedGAN per job, in job order.
    """
    check_kind(config, "dcgan", "train_dcgans_fused")
    return _train_jobs(jobs, config, device, progress, resume)


def train_acgans_fused(
    jobs: Sequence[GANJob],
    config: GANConfig,
    device: str | torch.device = "auto",
    progress: bool = True,
    resume: bool = True,
) -> list[TrainedGAN]:
    """Train one ACGAN per job, fused; the same as ``train_acgan(job.lesions, config, out_dir=job.out_dir,
    seed=job.seed, resume=resume)`` for each job, up to float rounding. Arguments as for :func:`train_dcgans_fused`
    (``config.kind`` must be ``"acgan"``, each job's ``class_names`` its ``lesions.class_names``)."""
    check_kind(config, "acgan", "train_acgans_fused")
    return _train_jobs(jobs, config, device, progress, resume)


def _train_jobs(jobs, config: GANConfig, device, progress: bool, resume: bool) -> list[TrainedGAN]:
    """Check the jobs, hand resumable and lone ones to the one-by-one trainer, fuse the rest by batch size."""
    jobs = [_checked_job(job, config) for job in _as_job_list(jobs)]
    device = resolve_device(device)
    results: dict[int, TrainedGAN] = {}
    fresh = []
    for i, job in enumerate(jobs):
        if resume and (job.out_dir / CHECKPOINT_FILE).exists():
            results[i] = _train_one(job, config, device, progress, resume=True)
        else:
            fresh.append(i)
    for group in _groups(jobs, fresh, config).values():
        if len(group) == 1:
            results[group[0]] = _train_one(jobs[group[0]], config, device, progress, resume=False)
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


def _train_one(job: GANJob, config: GANConfig, device: torch.device, progress: bool, resume: bool) -> TrainedGAN:
    """The one-by-one trainer for one job (a lone model, or one with a checkpoint to load or continue)."""
    common = {"out_dir": job.out_dir, "seed": job.seed, "device": device, "resume": resume, "progress": progress}
    if config.kind == "dcgan":
        return train_dcgan(job.lesions, job.class_names[0], config, **common)
    return train_acgan(job.lesions, config, **common)


# ---------------------------------------------------------------------------------------------- fused layers
class _BatchedLinear(nn.Module):
    """K independent linear layers, K x N x n_in -> K x N x n_out. The weight is the K weights stacked
    (K*n_out x n_in) and the bias K*n_out, so model k's are a slice along dim 0 like every fused tensor's."""

    def __init__(self, k: int, n_in: int, n_out: int, bias: bool = True):
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(torch.empty(k * n_out, n_in))
        self.bias = nn.Parameter(torch.zeros(k * n_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight.view(self.k, -1, self.weight.shape[1]).transpose(1, 2)  # K x n_in x n_out
        if self.bias is None:
            return torch.bmm(x, weight)  # K x N x n_out
        return torch.baddbmm(self.bias.view(self.k, 1, -1), x, weight)  # K x N x n_out


class _BatchedEmbedding(nn.Module):
    """K independent class embeddings: labels K x N -> K x N x dim; the weight is K*n_classes x dim."""

    def __init__(self, k: int, n_classes: int, dim: int):
        super().__init__()
        self.k, self.n_classes = k, n_classes
        self.weight = nn.Parameter(torch.empty(k * n_classes, dim))

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        offsets = torch.arange(self.k, device=labels.device).unsqueeze(1) * self.n_classes  # K x 1
        return F.embedding(labels + offsets, self.weight)  # K x N x dim


class _ToMaps(nn.Module):
    """K x N x (C*s*s) vectors to N x (K*C) x s x s maps, model-major channels (the DCGAN's Unflatten)."""

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.channels, self.size = channels, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, n = x.shape[:2]
        maps = x.view(k, n, self.channels, self.size, self.size)  # K x N x C x s x s
        return maps.transpose(0, 1).reshape(n, k * self.channels, self.size, self.size)  # N x K*C x s x s


class _ToVectors(nn.Module):
    """N x (K*C) x H x W maps to K x N x (C*H*W) vectors, each model's in the order ``nn.Flatten`` gives alone."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], self.k, -1).transpose(0, 1)  # K x N x C*H*W


class _FusedDropout(nn.Module):
    """Dropout with each model's mask drawn from its own generator (``rngs``, set by :func:`_fuse`), with the
    call ``torch.dropout`` makes on CPU (``empty_like(x).bernoulli_(1 - p)``, scaled by 1 / (1 - p)) on a tensor of
    the model's shape, dtype and memory format: on CPU the masks are the one-by-one run's."""

    def __init__(self, k: int, p: float):
        super().__init__()
        self.k, self.p = k, p
        self.rngs: list[torch.Generator] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        n, kc, h, w = x.shape  # N x K*C x H x W
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        shape = (n, kc // self.k, h, w)
        masks = [
            torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=layout).bernoulli_(1 - self.p, generator=g)
            for g in self.rngs
        ]  # K x (N x C x H x W)
        return x * torch.cat(masks, 1).div_(1 - self.p)  # N x K*C x H x W


# ---------------------------------------------------------------------------------------------- fused networks
class FusedDCGANGenerator(nn.Module):
    """K :class:`~liverkit.nets.dcgan.DCGANGenerator` as one: noise K x N x z_dim to images N x K x 64 x 64.
    Same layers, order and state-dict keys; shapes below for ``width=1024``."""

    def __init__(self, k: int, z_dim: int, width: int):
        super().__init__()
        self.k, self.z_dim, self.width = k, z_dim, width
        w = width
        self.project = nn.Sequential(
            _BatchedLinear(k, z_dim, w * 4 * 4, bias=False),  # K x N x 16384
            _ToMaps(w, 4),  # N x K*1024 x 4 x 4
            nn.BatchNorm2d(k * w),
            nn.ReLU(),
        )
        self.upsample = nn.Sequential(
            up_conv(k * w, k * w // 2, groups=k, bias=False),  # N x K*512 x 8 x 8
            nn.BatchNorm2d(k * w // 2),
            nn.ReLU(),
            up_conv(k * w // 2, k * w // 4, groups=k, bias=False),  # N x K*256 x 16 x 16
            nn.BatchNorm2d(k * w // 4),
            nn.ReLU(),
            up_conv(k * w // 4, k * w // 8, groups=k, bias=False),  # N x K*128 x 32 x 32
            nn.BatchNorm2d(k * w // 8),
            nn.ReLU(),
            up_conv(k * w // 8, k, groups=k),  # N x K x 64 x 64
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z))  # N x K x 64 x 64


class FusedDCGANDiscriminator(nn.Module):
    """K :class:`~liverkit.nets.dcgan.DCGANDiscriminator` as one: images N x K x 64 x 64 to logits K x N.
    Shapes below for ``width=64``."""

    def __init__(self, k: int, width: int):
        super().__init__()
        self.k, self.width = k, width
        w = width
        self.features = nn.Sequential(
            down_conv(k, k * w, groups=k),  # N x K*64 x 32 x 32
            nn.LeakyReLU(0.2),
            down_conv(k * w, k * 2 * w, groups=k, bias=False),  # N x K*128 x 16 x 16
            nn.BatchNorm2d(k * 2 * w),
            nn.LeakyReLU(0.2),
            down_conv(k * 2 * w, k * 4 * w, groups=k, bias=False),  # N x K*256 x 8 x 8
            nn.BatchNorm2d(k * 4 * w),
            nn.LeakyReLU(0.2),
            down_conv(k * 4 * w, k * 8 * w, groups=k, bias=False),  # N x K*512 x 4 x 4
            nn.BatchNorm2d(k * 8 * w),
            nn.LeakyReLU(0.2),
            _ToVectors(k),  # K x N x 8192
        )
        self.head = _BatchedLinear(k, 8 * w * 4 * 4, 1)  # K x N x 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(2)  # K x N


class FusedACGANGenerator(nn.Module):
    """K :class:`~liverkit.nets.acgan.ACGANGenerator` as one: noise K x N x z_dim and labels K x N to images
    N x K x 64 x 64."""

    def __init__(self, k: int, n_classes: int, z_dim: int, width: int):
        super().__init__()
        self.k, self.n_classes, self.z_dim, self.width = k, n_classes, z_dim, width
        self.embed = _BatchedEmbedding(k, n_classes, z_dim)  # K x N x z_dim
        self.body = FusedDCGANGenerator(k, z_dim, width)  # N x K x 64 x 64

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(z * self.embed(labels))  # N x K x 64 x 64


class FusedACGANDiscriminator(nn.Module):
    """K :class:`~liverkit.nets.acgan.ACGANDiscriminator` as one: images N x K x 64 x 64 to real/fake logits
    K x N and class logits K x N x n_classes. Shapes below for ``width=16``."""

    def __init__(self, k: int, n_classes: int, width: int, dropout: float):
        super().__init__()
        self.k, self.n_classes, self.width = k, n_classes, width
        w = width
        self.features = nn.Sequential(
            *_block(k, 1, w, 2, dropout, batch_norm=False),  # N x K*16 x 32 x 32
            *_block(k, w, 2 * w, 1, dropout),  # N x K*32 x 32 x 32
            *_block(k, 2 * w, 4 * w, 2, dropout),  # N x K*64 x 16 x 16
            *_block(k, 4 * w, 8 * w, 1, dropout),  # N x K*128 x 16 x 16
            *_block(k, 8 * w, 16 * w, 2, dropout),  # N x K*256 x 8 x 8
            *_block(k, 16 * w, 32 * w, 1, dropout),  # N x K*512 x 8 x 8
            _ToVectors(k),  # K x N x 32768
        )
        self.source = _BatchedLinear(k, 32 * w * 8 * 8, 1)  # K x N x 1
        self.classes = _BatchedLinear(k, 32 * w * 8 * 8, n_classes)  # K x N x n_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)  # K x N x 32w*64
        return self.source(h).squeeze(2), self.classes(h)  # K x N, K x N x n_classes


def _block(k: int, c_in: int, c_out: int, stride: int, dropout: float, batch_norm: bool = True) -> list[nn.Module]:
    """The ACGAN discriminator's block for K models: grouped 3 x 3 convolution, [batch norm], leaky ReLU, dropout."""
    conv = nn.Conv2d(k * c_in, k * c_out, 3, stride=stride, padding=1, bias=not batch_norm, groups=k)
    layers: list[nn.Module] = [conv, nn.BatchNorm2d(k * c_out)] if batch_norm else [conv]
    return [*layers, nn.LeakyReLU(0.2), _FusedDropout(k, dropout)]


def _build_fused(config: GANConfig, k: int, n_classes: int) -> tuple[nn.Module, nn.Module]:
    """A fused (generator, discriminator) pair for K models (weights are loaded afterwards, not initialised)."""
    if config.kind == "acgan":
        generator = FusedACGANGenerator(k, n_classes, config.z_dim, config.g_width)
        return generator, FusedACGANDiscriminator(k, n_classes, config.d_width, config.dropout)
    return FusedDCGANGenerator(k, config.z_dim, config.g_width), FusedDCGANDiscriminator(k, config.d_width)


# ---------------------------------------------------------------------------------------------- model slices
def _stack_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The fused state dict of K models' state dicts: each tensor concatenated along dim 0. A 0-d tensor (batch
    norm's step counter, equal in models that step together) is taken once."""
    first = states[0]
    return {key: first[key] if first[key].dim() == 0 else torch.cat([s[key] for s in states]) for key in first}


def _model_slice(tensor: torch.Tensor, k: int, index: int | list[int]) -> torch.Tensor:
    """Model ``index``'s block of a fused tensor (a view; a list of models gives them stacked, K' x ...)."""
    return tensor if tensor.dim() == 0 else tensor.unflatten(0, (k, -1))[index]


def _model_state(state: dict[str, torch.Tensor], k: int, j: int) -> dict[str, torch.Tensor]:
    """Model ``j``'s state dict (views) out of a fused state dict of ``k`` models."""
    return {key: _model_slice(value, k, j) for key, value in state.items()}


def _kept(tensor: torch.Tensor, k: int, keep: list[int]) -> torch.Tensor:
    """A fused tensor of ``k`` models cut to the models ``keep``, still concatenated along dim 0."""
    return tensor if tensor.dim() == 0 else _model_slice(tensor, k, keep).flatten(0, 1)


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
        generator, discriminator = _build_fused(config, len(members), len(members[0].run.class_names))
    generator.load_state_dict(g_state)
    discriminator.load_state_dict(d_state)
    if config.channels_last:
        generator, discriminator = (m.to(memory_format=torch.channels_last) for m in (generator, discriminator))
    for module in discriminator.modules():
        if isinstance(module, _FusedDropout):
            module.rngs = [m.dropout_rng for m in members]
    generator.train()
    discriminator.train()
    return _Fused(generator, discriminator, adam_for(generator, config), adam_for(discriminator, config), len(members))


def _fuse_members(config: GANConfig, members: list[_Member]) -> _Fused:
    """The fused group of freshly built members: their initial weights, stacked."""
    g_state = _stack_states([m.run.generator.state_dict() for m in members])
    d_state = _stack_states([m.run.discriminator.state_dict() for m in members])
    return _fuse(config, members, g_state, d_state)


def _shrink(fused: _Fused, config: GANConfig, members: list[_Member], keep: list[int]) -> _Fused:
    """The group without its finished models: the kept models' slices of every weight, buffer and Adam moment."""
    g_state = {key: _kept(value, fused.k, keep) for key, value in fused.generator.state_dict().items()}
    d_state = {key: _kept(value, fused.k, keep) for key, value in fused.discriminator.state_dict().items()}
    smaller = _fuse(config, members, g_state, d_state)
    _adam_state(fused.opt_g, smaller.opt_g, lambda t: _kept(t, fused.k, keep))
    _adam_state(fused.opt_d, smaller.opt_d, lambda t: _kept(t, fused.k, keep))
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
    run.generator.load_state_dict(_model_state(fused.generator.state_dict(), fused.k, j))
    run.discriminator.load_state_dict(_model_state(fused.discriminator.state_dict(), fused.k, j))
    check_finite(run, stats, m.good_state)
    record_epoch(run, stats)
    m.good_state = clone_state(run.generator)
    if run.epoch % run.config.checkpoint_every == 0 or run.epoch == m.final_epoch:
        _adam_state(fused.opt_g, run.opt_g, lambda t: _model_slice(t, fused.k, j))
        _adam_state(fused.opt_d, run.opt_d, lambda t: _model_slice(t, fused.k, j))
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
    save_generator(m.result, run.out_dir / GENERATOR_FILE)
    atomic_write(run.out_dir / HISTORY_FILE, lambda tmp: m.result.history.to_csv(tmp, index=False))
    m.order = m.noise = m.fake_labels = None


# ---------------------------------------------------------------------------------------------- the steps
def _dcgan_step(f: _Fused, config: GANConfig, real, real_labels, z, fake_labels) -> torch.Tensor:
    """One D and one G update of every model, as ``gan._dcgan_step``; returns K x [loss_d, loss_g, d_real, d_fake].

    Args:
        real: N x K x 64 x 64; z: K x N x z_dim; the labels (K x N) are unused by the DCGAN.
    """
    with _autocast(config, real.device):
        fake = f.generator(z)  # N x K x 64 x 64
        real_logit, fake_logit = f.discriminator(real), f.discriminator(fake.detach())  # K x N, K x N
        loss_d = _bce(real_logit, 1.0) + _bce(fake_logit, 0.0)  # K
    _update(f.opt_d, loss_d)
    with _autocast(config, real.device):
        loss_g = _bce(f.discriminator(fake), 1.0)  # K: G wants D to call its images real
    _update(f.opt_g, loss_g)
    return _stats(loss_d, loss_g, torch.sigmoid(real_logit).mean(1), torch.sigmoid(fake_logit).mean(1))


def _acgan_step(f: _Fused, config: GANConfig, real, real_labels, z, fake_labels) -> torch.Tensor:
    """One D and one G update of every model, as ``gan._acgan_step``; returns K x the six statistics.

    Args:
        real: N x K x 64 x 64; real_labels, fake_labels: K x N; z: K x N x z_dim.
    """
    with _autocast(config, real.device):
        fake = f.generator(z, fake_labels)  # N x K x 64 x 64
        (real_src, real_cls), (fake_src, fake_cls) = f.discriminator(real), f.discriminator(fake.detach())
        loss_d = _bce(real_src, 1.0) + _bce(fake_src, 0.0) + _ce(real_cls, real_labels) + _ce(fake_cls, fake_labels)
    _update(f.opt_d, loss_d)
    with _autocast(config, real.device):
        gen_src, gen_cls = f.discriminator(fake)  # K x N, K x N x C
        loss_g = _bce(gen_src, 1.0) + _ce(gen_cls, fake_labels)  # K: look real, and look like class c
    _update(f.opt_g, loss_g)
    accuracy_real = (real_cls.argmax(2) == real_labels).float().mean(1)
    accuracy_fake = (fake_cls.argmax(2) == fake_labels).float().mean(1)
    d_real, d_fake = torch.sigmoid(real_src).mean(1), torch.sigmoid(fake_src).mean(1)
    return _stats(loss_d, loss_g, d_real, d_fake, accuracy_real, accuracy_fake)


def _autocast(config: GANConfig, device: torch.device) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16)


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Per-model binary cross-entropy of logits K x N against a constant target, in fp32: K means."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none").mean(1)


def _ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-model cross-entropy of class logits K x N x C against labels K x N, in fp32: K means."""
    losses = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="none")  # K*N
    return losses.view(labels.shape).mean(1)  # K


def _update(optimiser: torch.optim.Optimizer, losses: torch.Tensor) -> None:
    """Step on the sum of the K models' losses: each model's gradient is its own loss's (models share nothing)."""
    optimiser.zero_grad(set_to_none=True)
    losses.sum().backward()
    optimiser.step()


def _stats(*values: torch.Tensor) -> torch.Tensor:
    return torch.stack([v.detach().float() for v in values], 1)  # K x statistics

"""Benchmarks: the kit's training loops against minimal plain-PyTorch loops doing the same work, in one run.

Every row is one JSON object with at least ``name``, ``device``, ``img_per_s`` (the kit's training images per
second), ``k_models`` (models trained at once) and ``precision`` (``fp32`` or ``bf16``); a kit-vs-plain row adds
``kit`` and ``plain`` (best images/s of each side), ``ratio`` (kit / plain) and ``timed`` (what the clock covers).
Rows are printed as they are measured and saved as JSON lines (``--out``; default
``benchmarks/results/<date>-<device>.jsonl``, rewritten atomically after every row).

Timing like with like. A kit call does more than a plain loop: it converts and copies the data, builds the mean
image, fingerprints the data (GANs), writes checkpoints, and keeps per-epoch diagnostics. The single-model rows
therefore time the training loop on both sides, over several epochs (so that once-per-epoch work weighs as much as
in a real run): the kit's own clock (``TrainedClassifier.seconds``, ``TrainedGAN.seconds``: all epochs with the
per-epoch copy of the last good state, loss sync, history, GAN fixed-noise samples, collapse ratio and
checkpoints) against the plain loop after its model build. The whole call's throughput, setup included, is
``kit_call``. Fused rows time whole calls on both sides: K models fused against K x one model one by one.

After a warm-up, kit and plain run ``--repeats`` times in back-to-back pairs; ``kit`` and ``plain`` are the best
throughputs and ``ratio`` is the median of the per-pair ratios. On a shared 2-core CPU a single ratio of two minima
varied by about +-10%; pairing and the median make it steadier. ``paper_profile_estimate`` divides the paper
profile's counted work (:func:`paper_work`) by the rates measured here.

Run with ``make bench`` or ``python benchmarks/bench.py [--device cuda] [--quick] [--out PATH]``;
``--paper-run SECONDS`` instead times notebooks 01-05 of a shrunk paper profile (see :func:`time_paper_run`).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from liverkit.augment import classic
from liverkit.augment.classic import AugmentConfig
from liverkit.data import LesionSet, make_phantom
from liverkit.env import resolve_device
from liverkit.errors import LiverkitError
from liverkit.experiment import classic_sweep
from liverkit.experiment.run_folder import RunFolder
from liverkit.io import atomic_write
from liverkit.kit.profiles import Profile, get_profile, parse_overrides, resolve_profile
from liverkit.nets import LesionCNN
from liverkit.train.classifier import ClassifierConfig, build_model, train_classifier
from liverkit.train.gan import train_acgan, train_dcgan
from liverkit.train.gan_config import GANConfig, TrainOptions, build_gan

WIDTHS = {"quick": ((8, 16, 32), 64), "paper": ((32, 64, 128), 256)}
"""Classifier (channels, hidden) per profile."""
GAN_WIDTHS = {
    "dcgan": {"quick": (64, 16), "paper": (1024, 64)},
    "acgan": {"quick": (64, 4), "paper": (1024, 16)},
}
"""(generator, discriminator) widths per GAN kind and profile."""
RESULTS = Path(__file__).parent / "results"
PAPER_RUN_OVERRIDES = ("repeats=1", "classifier.epochs=2", "dcgan.epochs=2", "acgan.epochs=2", "fused=on")
"""What ``--paper-run`` changes in the paper profile: one repeat, and few epochs so that it fits a GPU session; and
fused training on, which ``auto`` leaves off until such a run is recorded (it runs the fused self-check first)."""
LOOP_TIMED = "training loop over all epochs: kit's own clock (per-epoch work included), plain after its model build"


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _training_set(n: int, seed: int = 0, n_classes: int = 3) -> LesionSet:
    """``n`` random 64 x 64 images with labels cycling over ``n_classes`` (the first is "cyst")."""
    rng = np.random.default_rng(seed)
    return LesionSet(
        images=rng.random((n, 1, 64, 64), dtype=np.float32),
        labels=np.arange(n) % n_classes,
        class_names=("cyst", "metastasis", "hemangioma"),
        patient_ids=[f"p{i}" for i in range(n)],
        diameters_mm=rng.uniform(10, 100, n),
        ids=[f"x{i}" for i in range(n)],
        sources="bench",
    )


def _precision(bf16: bool) -> str:
    return "bf16" if bf16 else "fp32"


def _timed(loop) -> float:
    """Seconds of ``loop()`` with the device synchronised at both ends."""
    _sync()
    start = time.perf_counter()
    loop()
    _sync()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------- classifier
def plain_loop(model: LesionCNN, images: torch.Tensor, labels: torch.Tensor, epochs: int, batch: int, bf16: bool):
    """The minimal loop: ``epochs`` passes in a fresh random order over on-device tensors, SGD with momentum."""
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), device=images.device)
        for start in range(0, len(images), batch):
            index = order[start : start + batch]
            with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(images[index]).float(), labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()


def bench_classifier(device: torch.device, width: str, steps: int, epochs: int, repeats: int, bf16: bool) -> dict:
    """The kit's ``train_classifier`` against ``plain_loop``: ``epochs`` passes of ``steps`` batches of 64.

    Both build a fresh model in the kit's memory layout; the clock covers the epochs (see the module docstring).
    """
    channels, hidden = WIDTHS[width]
    config = ClassifierConfig(channels=channels, hidden=hidden, epochs=epochs, batch_size=64, bf16=bf16)
    data = _training_set(steps * config.batch_size)
    images, labels = data.tensors(device)
    if config.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)

    def kit() -> float:
        return train_classifier(data, config, seed=0, device=device).seconds

    def plain() -> float:
        model = build_model(data, config, device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return _timed(lambda: plain_loop(model, images, labels, epochs, config.batch_size, bf16))

    kit_times, plain_times, calls = _alternate(kit, plain, repeats)
    n = epochs * steps * config.batch_size
    return _row(
        f"classifier_train_{width}",
        device,
        n,
        (kit_times, plain_times),
        precision=_precision(bf16),
        timed=LOOP_TIMED,
        kit_call=round(n / min(calls), 1),
        batch=config.batch_size,
        steps=steps,
        epochs=epochs,
        channels=list(channels),
        hidden=hidden,
        channels_last=config.channels_last,
    )


def bench_classifier_fused(
    device: torch.device, width: str, k: int, steps: int, epochs: int, repeats: int, bf16: bool
) -> dict:
    """K CNNs trained as one (``train_classifiers_fused``) against K x one ``train_classifier`` call, timed in
    the same run; whole calls on both sides. Every model gets the same images (speed does not depend on the
    pixels) and its own seed. ``ratio`` > 1: fusing is faster than one model after another."""
    from liverkit.train.fused import train_classifiers_fused

    channels, hidden = WIDTHS[width]
    config = ClassifierConfig(channels=channels, hidden=hidden, epochs=epochs, batch_size=64, bf16=bf16)
    data = _training_set(steps * config.batch_size)

    def fused() -> None:
        train_classifiers_fused([data] * k, config, seeds=list(range(k)), device=device)

    def one() -> None:
        train_classifier(data, config, seed=0, device=device)

    fused_times, one_times, _ = _alternate(fused, one, repeats)
    n = k * epochs * steps * config.batch_size
    return _row(
        f"classifier_fused_{width}_k{k}",
        device,
        n,
        (fused_times, [k * t for t in one_times]),
        precision=_precision(bf16),
        timed=f"whole calls: {k} models fused vs {k} x one train_classifier",
        k_models=k,
        batch=config.batch_size,
        steps=steps,
        epochs=epochs,
        channels=list(channels),
        hidden=hidden,
    )


# ---------------------------------------------------------------------------------------------- augmentation
def bench_augment_pool(device: torch.device, n_lesions: int, repeats: int) -> dict:
    """Building the paper's 480-variant pool for a training fold against affine_grid + grid_sample per chunk."""
    lesions = make_phantom(seed=0).subset(np.arange(n_lesions))
    config = AugmentConfig()
    plan = classic.plan_pool(lesions, config, np.random.default_rng(0))
    thetas = classic._affine_thetas(plan, np.arange(len(plan))).to(device)
    source = torch.from_numpy(lesions.images).to(device)
    parents = torch.from_numpy(plan.parent).to(device)

    def kit() -> None:
        classic.render(lesions, classic.plan_pool(lesions, config, np.random.default_rng(0)), device=device)

    def plain() -> None:
        for start in range(0, len(plan), 4096):
            theta = thetas[start : start + 4096]
            grid = F.affine_grid(theta, [len(theta), 1, 64, 64], align_corners=False)
            F.grid_sample(
                source[parents[start : start + 4096]],
                grid,
                mode=config.interpolation,
                padding_mode="reflection",
                align_corners=False,
            )

    kit_times, plain_times, _ = _alternate(kit, plain, repeats)
    return _row(
        "augment_pool_480",
        device,
        len(plan),
        (kit_times, plain_times),
        precision="fp32",
        timed="whole calls: kit plans and renders; plain samples a precomputed plan",
        lesions=n_lesions,
        variants=len(plan),
        kit_seconds=round(min(kit_times), 2),
    )


# ---------------------------------------------------------------------------------------------- GANs
GAN_COLLAPSE_SAMPLES = 64
"""Fixed-noise samples per epoch behind the kit's collapse ratio in the GAN rows (the profiles use 256, whose
per-epoch sampling weighs more when an epoch has few steps)."""


def _gan_config(kind: str, width: str, batch: int, epochs: int, bf16: bool) -> GANConfig:
    g_width, d_width = GAN_WIDTHS[kind][width]
    paper = GANConfig.paper_dcgan if kind == "dcgan" else GANConfig.paper_acgan
    return paper(
        g_width=g_width,
        d_width=d_width,
        batch_size=batch,
        epochs=epochs,
        bf16=bf16,
        collapse_samples=GAN_COLLAPSE_SAMPLES,
    )


def _fresh_gan(config: GANConfig, n_classes: int, device: torch.device):
    """New (generator, discriminator) on ``device`` in the kit's memory layout, both in training mode."""
    generator, discriminator = (m.to(device).train() for m in build_gan(config, n_classes))
    if config.channels_last:
        generator, discriminator = (m.to(memory_format=torch.channels_last) for m in (generator, discriminator))
    return generator, discriminator


def _adams(config: GANConfig, *models) -> list[torch.optim.Adam]:
    return [torch.optim.Adam(m.parameters(), lr=config.lr, betas=config.betas) for m in models]


def _update(optimiser: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def plain_dcgan_loop(generator, discriminator, images: torch.Tensor, steps: int, batch: int, config: GANConfig):
    """The minimal DCGAN loop: on-device batches in a fresh random order every epoch, uniform noise, one D and one
    G Adam update per step."""
    opt_g, opt_d = _adams(config, generator, discriminator)
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(batch, device=images.device), torch.zeros(batch, device=images.device)
    per_epoch = len(images) // batch
    for i in range(steps):
        if i % per_epoch == 0:
            order = torch.randperm(len(images), device=images.device)
        start = (i % per_epoch) * batch
        real = images[order[start : start + batch]]
        z = torch.rand(batch, config.z_dim, device=images.device) * 2 - 1
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            fake = generator(z)
            loss_d = bce(discriminator(real).float(), ones) + bce(discriminator(fake.detach()).float(), zeros)
        _update(opt_d, loss_d)
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            loss_g = bce(discriminator(fake).float(), ones)
        _update(opt_g, loss_g)


def plain_acgan_loop(generator, discriminator, images, labels, steps: int, batch: int, config: GANConfig):
    """The minimal ACGAN loop, the work of ``train_acgan``'s step: fake labels drawn per step; D minimises source
    BCE plus class CE on the real and the fake batch (its dropout on), then G source BCE plus class CE."""
    opt_g, opt_d = _adams(config, generator, discriminator)
    bce, ce = F.binary_cross_entropy_with_logits, F.cross_entropy
    device = images.device
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)
    per_epoch = len(images) // batch
    for i in range(steps):
        if i % per_epoch == 0:  # a fresh random order every epoch
            order = torch.randperm(len(images), device=device)
        start = (i % per_epoch) * batch
        index = order[start : start + batch]
        real, real_labels = images[index], labels[index]
        z = torch.rand(batch, config.z_dim, device=device) * 2 - 1
        fake_labels = torch.randint(generator.n_classes, (batch,), device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            fake = generator(z, fake_labels)
            (real_src, real_cls), (fake_src, fake_cls) = discriminator(real), discriminator(fake.detach())
            sources = bce(real_src.float(), ones) + bce(fake_src.float(), zeros)
            loss_d = sources + ce(real_cls.float(), real_labels) + ce(fake_cls.float(), fake_labels)
        _update(opt_d, loss_d)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
            gen_src, gen_cls = discriminator(fake)
            loss_g = bce(gen_src.float(), ones) + ce(gen_cls.float(), fake_labels)
        _update(opt_g, loss_g)


def bench_gan(
    device: torch.device, kind: str, width: str, batch: int, steps: int, epochs: int, repeats: int, bf16: bool, tmp: str
) -> dict:
    """The kit's ``train_dcgan`` or ``train_acgan`` (``kind``) against ``plain_dcgan_loop`` or ``plain_acgan_loop``
    on fresh nets of the same widths, batch, precision and memory layout: ``epochs`` epochs of ``steps`` batches.

    The kit's clock covers its epochs with their fixed-noise samples, collapse ratio, finiteness check and the
    checkpoint after the last epoch; its data fingerprint and final generator file are outside it (``kit_call``
    has them).
    """
    config = _gan_config(kind, width, batch, epochs, bf16)
    n_classes = 1 if kind == "dcgan" else 3  # a DCGAN models one class ("cyst"), the ACGAN all three
    data = _training_set(steps * batch, n_classes=n_classes)
    images, labels = data.tensors(device)
    layout = torch.channels_last if config.channels_last else torch.contiguous_format
    images = (images * 2 - 1).contiguous(memory_format=layout)  # in [-1, 1], as the kit scales them

    def kit() -> float:
        common = {"out_dir": tmp, "seed": 0, "options": TrainOptions(device=device, progress=False)}
        if kind == "dcgan":
            return train_dcgan(data, "cyst", config, **common).seconds
        return train_acgan(data, config, **common).seconds

    def plain() -> float:
        generator, discriminator = _fresh_gan(config, n_classes, device)
        if kind == "dcgan":
            return _timed(lambda: plain_dcgan_loop(generator, discriminator, images, epochs * steps, batch, config))
        return _timed(lambda: plain_acgan_loop(generator, discriminator, images, labels, epochs * steps, batch, config))

    kit_times, plain_times, calls = _alternate(kit, plain, repeats)
    n = epochs * steps * batch
    g_width, d_width = GAN_WIDTHS[kind][width]
    return _row(
        f"{kind}_train_{width}",
        device,
        n,
        (kit_times, plain_times),
        precision=_precision(bf16),
        timed=LOOP_TIMED,
        kit_call=round(n / min(calls), 1),
        batch=batch,
        steps=steps,
        epochs=epochs,
        g_width=g_width,
        d_width=d_width,
        channels_last=config.channels_last,
    )


def bench_dcgan_fused(
    device: torch.device, width: str, k: int, batch: int, steps: int, epochs: int, repeats: int, bf16: bool, tmp: str
) -> dict:
    """K DCGANs fused (``train_dcgans_fused``, e.g. 3 folds x 3 classes) against K x one ``train_dcgan``, each
    call in a fresh folder and timed without the folder's removal; whole calls otherwise."""
    from liverkit.train.fused_gan import GANJob, train_dcgans_fused

    config = _gan_config("dcgan", width, batch, epochs, bf16)
    data = _training_set(steps * batch, n_classes=1)

    def fused() -> float:
        with tempfile.TemporaryDirectory(dir=tmp) as folder:
            jobs = [GANJob(data, ("cyst",), Path(folder) / f"gan{i}", seed=i) for i in range(k)]
            return _timed(lambda: train_dcgans_fused(jobs, config, TrainOptions(device, resume=True, progress=False)))

    def one() -> float:
        with tempfile.TemporaryDirectory(dir=tmp) as folder:
            return _timed(
                lambda: train_dcgan(
                    data, "cyst", config, out_dir=folder, seed=0, options=TrainOptions(device, progress=False)
                )
            )

    fused_times, one_times, _ = _alternate(fused, one, repeats)
    g_width, d_width = GAN_WIDTHS["dcgan"][width]
    return _row(
        f"dcgan_fused_{width}_k{k}",
        device,
        k * epochs * steps * batch,
        (fused_times, [k * t for t in one_times]),
        precision=_precision(bf16),
        timed=f"whole calls: {k} DCGANs fused vs {k} x one train_dcgan",
        k_models=k,
        batch=batch,
        steps=steps,
        epochs=epochs,
        g_width=g_width,
        d_width=d_width,
    )


# ---------------------------------------------------------------------------------------------- the paper's work
def paper_work(profile: Profile, n_lesions: int = 182, n_classes: int = 3, group: int | None = None) -> dict:
    """The training images a whole run of ``profile`` counts, by kind: CNN image-epochs (trainings x epochs x
    training-set size) and GAN images (steps x batch), for a data set of ``n_lesions`` in ``n_classes`` classes.

    Counted as the notebooks train (per repeat and patient-level fold):

    - 02, ``cnn_classic_images``: every classic group's outer model, and ``inner_folds`` inner models on the
      inner training patients (group 0: the original lesions, ``n_train`` outer, ``n_train x (inner - 1) / inner``
      inner; a group of g: g images);
    - 03, ``dcgan_images``: one DCGAN per class, fold and GAN repeat, on the chosen group's images of its class;
    - 04, ``acgan_images``: one ACGAN per fold and GAN repeat, on the chosen group;
    - 05, ``cnn_gan_images``: the chosen group alone, and the control arm and both GAN arms at every synthetic
      size (group + size x classes) as outer models and, when there are two sizes or more, as inner models.

    The chosen group is data dependent; ``group`` None takes the largest (an upper bound, as
    :func:`liverkit.kit.eta.notebook_work` does). Folds are taken as equal (``n_lesions / n_folds`` each) and the
    classes of a group as balanced. Unlike ``notebook_work`` (relative work units for the progress line), this
    counts raw images, smaller inner sets included, and no kernel or notebook overheads.
    """
    splits = profile.repeats * profile.n_folds
    n_train = n_lesions * (profile.n_folds - 1) / profile.n_folds
    inner = profile.inner_folds if profile.inner_folds >= 2 else 0
    n_inner = n_train * (inner - 1) / inner if inner else 0.0
    epochs = profile.classifier.epochs
    chosen = max(profile.classic_groups) if group is None else group

    classic_set = sum((g or n_train) + inner * (g or n_inner) for g in profile.classic_groups)
    added = sum(profile.synthetic_sizes) * n_classes
    arms = 3  # the same-size control, the DCGAN and the ACGAN arm
    sizes = len(profile.synthetic_sizes)
    gan_outer = (chosen or n_train) + arms * (sizes * (chosen or n_train) + added)
    gan_inner = inner * arms * (sizes * (chosen or n_inner) + added) if sizes >= 2 else 0.0

    gan_runs = profile.n_folds * profile.repeats
    dcgan, acgan = profile.dcgan, profile.acgan
    dcgan_steps = dcgan.total_steps(int((chosen or n_train) / n_classes))
    acgan_steps = acgan.total_steps(int(chosen or n_train))
    return {
        "cnn_classic_images": round(splits * epochs * classic_set),
        "cnn_gan_images": round(splits * epochs * (gan_outer + gan_inner)),
        "cnn_images": round(splits * epochs * (classic_set + gan_outer + gan_inner)),
        "dcgan_images": gan_runs * n_classes * dcgan_steps * dcgan.batch_size,
        "acgan_images": gan_runs * acgan_steps * acgan.batch_size,
        "chosen_group": chosen,
    }


def _best_rate(rows: list[dict], names: tuple[str, ...], batch: int) -> dict | None:
    """The row with the highest ``img_per_s`` among ``names`` (a name ending in '*' is a prefix) at ``batch``."""

    def matches(name: str) -> bool:
        return any(name.startswith(n[:-1]) if n.endswith("*") else name == n for n in names)

    found = [r for r in rows if matches(r["name"]) and r.get("batch") == batch]
    return max(found, key=lambda r: r["img_per_s"], default=None)


def _gan_rate(rows: list[dict], kind: str, config: GANConfig) -> tuple[float, str] | None:
    """(images/s, source) of the paper-width ``kind`` GAN: its best paper-width row, or else the quick-width row
    scaled by the square of the generator widths (the cost model of ``liverkit.kit.eta.GAN_IMAGE_WORK``)."""
    row = _best_rate(rows, (f"{kind}_train_paper", f"{kind}_fused_paper_*"), config.batch_size)
    if row is not None:
        return row["img_per_s"], row["name"]
    quick = max((r for r in rows if r["name"] == f"{kind}_train_quick"), key=lambda r: r["img_per_s"], default=None)
    if quick is None:
        return None
    scale = (quick["g_width"] / config.g_width) ** 2
    return quick["img_per_s"] * scale, f"{kind}_train_quick x (g_width {quick['g_width']}/{config.g_width})^2"


def paper_estimate_row(rows: list[dict], device: torch.device, work: dict) -> dict | None:
    """``seconds`` of the whole paper profile: its CNN images over the best paper-width CNN rate measured here
    (fused or one by one), plus each GAN kind's images over its rate (:func:`_gan_rate`); ``img_per_s`` is all
    counted images over those seconds. None when a rate is missing. Kernels, augmentation, evaluation and files
    are not counted, so it is a lower bound at these rates (``--paper-run`` measures what they add).

    On CUDA the best rates are bf16 ones, while the paper profile trains in exact fp32 unless told otherwise
    (``--set classifier.bf16=true``, and ``dcgan.bf16``, ``acgan.bf16``): the estimate is for such a bf16 run,
    which is what ``--paper-run`` runs on CUDA."""
    paper = get_profile("paper")
    cnn = _best_rate(rows, ("classifier_train_paper", "classifier_fused_paper_*"), paper.classifier.batch_size)
    dcgan, acgan = _gan_rate(rows, "dcgan", paper.dcgan), _gan_rate(rows, "acgan", paper.acgan)
    if cnn is None or dcgan is None or acgan is None:
        return None
    parts = {
        "cnn": work["cnn_images"] / cnn["img_per_s"],
        "dcgan": work["dcgan_images"] / dcgan[0],
        "acgan": work["acgan_images"] / acgan[0],
    }
    seconds = sum(parts.values())
    images = work["cnn_images"] + work["dcgan_images"] + work["acgan_images"]
    return {
        "name": "paper_profile_estimate",
        "device": _device_name(device),
        "img_per_s": round(images / seconds, 1),
        "k_models": cnn.get("k_models", 1),
        "precision": cnn["precision"],
        "seconds": round(seconds, 1),
        "hours": round(seconds / 3600, 2),
        **{key: work[key] for key in ("cnn_images", "dcgan_images", "acgan_images", "chosen_group")},
        "cnn_img_per_s": cnn["img_per_s"],
        "dcgan_img_per_s": float(f"{dcgan[0]:.4g}"),
        "acgan_img_per_s": float(f"{acgan[0]:.4g}"),
        "seconds_by_kind": {key: round(value, 1) for key, value in parts.items()},
        "rates_from": {"cnn": cnn["name"], "dcgan": dcgan[1], "acgan": acgan[1]},
        "threads": torch.get_num_threads(),
    }


# ---------------------------------------------------------------------------------------------- timing and rows
def _alternate(kit, plain, repeats: int) -> tuple[list[float], list[float], list[float]]:
    """(kit seconds, plain seconds, kit whole-call seconds) of ``repeats`` back-to-back pairs after one warm-up.

    A side's seconds are what its callable returns (the span it times), or the call's wall time when it returns
    None. The order within a pair alternates (kit first, then plain first) so that neither side always runs on
    the machine state the other left behind.
    """
    kit(), plain()
    times: dict[str, list[float]] = {"kit": [], "plain": [], "call": []}
    for i in range(repeats):
        for side, fn in (("kit", kit), ("plain", plain))[:: 1 if i % 2 == 0 else -1]:
            _sync()
            start = time.perf_counter()
            timed = fn()
            _sync()
            wall = time.perf_counter() - start
            times[side].append(wall if timed is None else timed)
            if side == "kit":
                times["call"].append(wall)
    return times["kit"], times["plain"], times["call"]


def _row(
    name: str,
    device: torch.device,
    n_images: int,
    timing: tuple[list[float], list[float]],
    *,
    precision: str,
    timed: str,
    k_models: int = 1,
    **extra,
) -> dict:
    """One JSON row: best-of throughputs, ``ratio`` as the median of the per-pair ratios and ``spread`` as their
    interquartile range over the median (0.05: the middle half of the pairs lies within 5% of the ratio).

    A pair's two runs see nearly the same machine state, so the median paired ratio is steadier on a shared CPU
    than the ratio of two minima taken at different moments; ``ratio_best`` (best kit / best plain) is kept too.
    """
    kit_times, plain_times = timing
    paired = sorted(p / k for k, p in zip(kit_times, plain_times, strict=True))
    best_kit, best_plain = n_images / min(kit_times), n_images / min(plain_times)
    q25, median, q75 = np.percentile(paired, [25, 50, 75])
    return {
        "name": name,
        "device": _device_name(device),
        "img_per_s": round(best_kit, 1),
        "k_models": k_models,
        "precision": precision,
        "kit": round(best_kit, 1),
        "plain": round(best_plain, 1),
        "ratio": round(float(np.median(paired)), 3),
        "ratio_best": round(best_kit / best_plain, 3),
        "ratio_pairs": [round(r, 3) for r in paired],
        "spread": round(float((q75 - q25) / median), 3),
        "timed": timed,
        "threads": torch.get_num_threads(),
        **extra,
    }


def _cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), or what ``platform`` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "cpu"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_model()} ({torch.get_num_threads()} threads)" if device.type == "cpu" else device.type


_CPU_WORDS = {"intel", "amd", "apple", "genuine", "cpu", "processor", "core", "r", "tm"}


def device_slug(device: torch.device) -> str:
    """A short name for result files: ``h100`` or ``h200`` (the GPU's model), ``cpu-epyc`` or ``cpu-xeon``."""
    if device.type == "cuda":
        tokens = re.findall(r"[a-z]*\d+[a-z]*", torch.cuda.get_device_name(device).lower().replace("nvidia", ""))
        return tokens[0] if tokens else "cuda"
    if device.type != "cpu":
        return device.type
    words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.sub(r"\((r|tm)\)", " ", _cpu_model().lower()))
    kept = [w for w in words if w not in _CPU_WORDS]
    return f"cpu-{kept[0]}" if kept else "cpu"


def default_out(device: torch.device) -> Path:
    """``benchmarks/results/<yyyy-mm-dd>-<device slug>.jsonl``."""
    return RESULTS / f"{datetime.date.today().isoformat()}-{device_slug(device)}.jsonl"


def save_rows(path: Path, rows: list[dict]) -> None:
    """All rows as JSON lines, written to a temporary file and renamed onto ``path``."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    atomic_write(path, lambda tmp: tmp.write_text(text))


# ---------------------------------------------------------------------------------------------- the paper run
NOTEBOOKS = ("01", "02", "03", "04", "05")
"""The notebooks that train (01 makes the data): the ones ``--paper-run`` times."""
GPU_RUN_OVERRIDES = ("classifier.bf16=true", "dcgan.bf16=true", "acgan.bf16=true")
"""Added on CUDA, so that the run trains in the precision of the rates behind ``paper_profile_estimate``."""


def _run_notebook(notebook: str, profile: str, overrides, device: torch.device, folder: Path, limit_s: float):
    """(seconds, None) for one ``liverkit run --notebooks NOTEBOOK`` in ``folder / "run"``, or (seconds, what went
    wrong); at ``limit_s`` the run and its kernel (its own process group) are killed."""
    command = [sys.executable, "-m", "liverkit.kit.cli", "run", "--profile", profile, "--device", str(device)]
    command += ["--out", str(folder / "run"), "--notebooks", notebook]
    for assignment in overrides:
        command += ["--set", assignment]
    log = folder / f"{notebook}.log"
    start = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return time.monotonic() - start, f"notebook {notebook} passed the time limit ({limit_s:.0f} s)"
    seconds = time.monotonic() - start
    if code != 0:
        return seconds, f"notebook {notebook} failed (exit {code}): {log.read_text(errors='replace')[-400:]}"
    return seconds, None


def time_paper_run(
    device: torch.device,
    limit_s: float,
    overrides=PAPER_RUN_OVERRIDES,
    estimate: dict | None = None,
    profile: str = "paper",
    folder: Path | None = None,
) -> dict:
    """The row ``paper_fold_repeat_seconds``: notebooks 01-05 of ``profile`` shrunk by ``overrides``, run end to
    end with ``liverkit run`` (one notebook per call, one run folder) until ``limit_s`` seconds are spent.

    The CLI cannot run one fold alone (``--folds N`` sets how many folds there are), so this runs every fold of
    one repeat; ``seconds_per_fold`` divides by the folds. ``work`` is the shrunk run's :func:`paper_work` at
    its mean chosen group (read from the run's ``classic_choice`` table). Given the bench's
    ``paper_profile_estimate`` row, ``estimate_seconds`` is that work at the estimate's rates and
    ``overhead_factor`` the measured seconds over it: what the estimate leaves out (kernels, augmentation,
    evaluation, files), as a factor, at these few epochs (more epochs make it smaller).
    """
    resolved = resolve_profile(profile, "phantom", parse_overrides(list(overrides)))  # a bad override fails here
    folder = folder or Path(tempfile.mkdtemp(prefix="liverkit-paper-run-"))
    deadline = time.monotonic() + limit_s
    seconds, error = {}, None
    for notebook in NOTEBOOKS:
        spent, error = _run_notebook(notebook, profile, overrides, device, folder, deadline - time.monotonic())
        seconds[notebook] = round(spent, 1)
        if error is not None:
            break
    work = paper_work(resolved, group=_mean_chosen_group(folder / "run"))
    total = sum(seconds.values())
    images = work["cnn_images"] + work["dcgan_images"] + work["acgan_images"]
    row = {
        "name": "paper_fold_repeat_seconds",
        "device": _device_name(device),
        "img_per_s": round(images / total, 1) if error is None else None,
        "k_models": None,  # many models, fused as the run decides (Profile.fused)
        "precision": _precision(resolved.classifier.bf16),
        "seconds": round(total, 1),
        "completed": error is None,
        "error": error,
        "notebook_seconds": seconds,
        "folds": resolved.n_folds,
        "repeats": resolved.repeats,
        "seconds_per_fold": round(total / resolved.n_folds, 1),
        "overrides": list(overrides),
        "work": work,
        "run_folder": str(folder / "run"),
    }
    if estimate is not None and error is None:
        kinds = ("cnn", "dcgan", "acgan")
        row["estimate_seconds"] = round(sum(work[f"{k}_images"] / estimate[f"{k}_img_per_s"] for k in kinds), 1)
        row["overhead_factor"] = round(total / row["estimate_seconds"], 2)
    return row


def _mean_chosen_group(run_folder: Path) -> int | None:
    """The mean classic group notebook 02 chose over the folds, or None when it has not run."""
    try:
        return round(float(classic_sweep.load_choice(RunFolder(run_folder))["group"].mean()))
    except (LiverkitError, KeyError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------- the rows to run
def _jobs(device: torch.device, quick: bool, r: int) -> tuple[list, list]:
    """(rows the estimate needs, other rows), each a function of a scratch folder; ``quick``: tiny sizes."""
    cuda = device.type == "cuda" and torch.cuda.is_bf16_supported()

    def size(cpu: tuple, gpu: tuple, tiny: tuple) -> tuple:
        return tiny if quick else gpu if cuda else cpu

    cnn_quick, cnn_paper = size((40, 3), (50, 4), (3, 2)), size((12, 2), (50, 4), (2, 2))  # steps, epochs
    dcgan_quick = size((64, 10, 3), (64, 30, 3), (16, 2, 2))  # batch, steps, epochs
    acgan_quick = size((64, 10, 2), (64, 30, 3), (16, 2, 2))  # 2 epochs on a CPU: the bench stays under 5 minutes
    main = [
        lambda tmp: bench_classifier(device, "quick", *cnn_quick, r, bf16=False),
        lambda tmp: bench_classifier(device, "paper", *cnn_paper, r, bf16=False),
        lambda tmp: bench_gan(device, "dcgan", "quick", *dcgan_quick, r, False, tmp),
        lambda tmp: bench_gan(device, "acgan", "quick", *acgan_quick, r, False, tmp),
    ]
    if cuda:
        main += [
            lambda tmp: bench_classifier(device, "paper", 50, 4, r, bf16=True),
            lambda tmp: bench_gan(device, "dcgan", "paper", 64, 20, 10, r, True, tmp),
            lambda tmp: bench_gan(device, "acgan", "paper", 64, 20, 10, r, True, tmp),
            *(lambda tmp, k=k: bench_classifier_fused(device, "paper", k, 25, 2, r, bf16=True) for k in (8, 32, 128)),
            lambda tmp: bench_dcgan_fused(device, "paper", 9, 64, 20, 3, r, True, tmp),
        ]
    else:  # documents that fusing does not pay on a CPU
        fused = (2, 1) if quick else (5, 2)
        main.append(lambda tmp: bench_classifier_fused(device, "quick", 8, *fused, r, bf16=False))
    extra = [lambda tmp: bench_augment_pool(device, n_lesions=3 if quick else 120, repeats=r)]
    if device.type == "cpu" and not quick:
        extra.append(lambda tmp: bench_sweep_executors(max(2, r // 2)))
    if cuda:
        extra += [
            lambda tmp: bench_gan(device, "dcgan", "paper", 512, 6, 10, r, True, tmp),
            lambda tmp: bench_gan(device, "dcgan", "paper", 64, 10, 10, r, False, tmp),
        ]
    return main, extra


BUSY_CORES = 0.2
"""Other processes' mean CPU use during a row (in cores; steal by a hypervisor counts) above which the row's figures
are not believed: on 2 cores, two-thread torch slows 4-6x beside any other busy process."""
MAX_SPREAD = 0.10
"""Interquartile range of a row's paired ratios, over their median, above which the ratio is not believed."""
MIN_RATIO = 0.95
"""The kit's training loops must run at this fraction of a plain loop's speed or better (``--check``)."""


def _cpu_seconds() -> tuple[float, float]:
    """(every core's busy seconds since boot, this process's and its finished children's CPU seconds)."""
    import psutil

    machine = psutil.cpu_times()
    busy = sum(getattr(machine, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
    own = psutil.Process().cpu_times()
    return busy, own.user + own.system + own.children_user + own.children_system


def judge(row: dict) -> dict:
    """Mark ``row`` ``trusted`` or not, with a ``warning`` saying why: other processes busy, or pairs spread wide."""
    problems = []
    if row.get("others_cores", 0.0) > BUSY_CORES:
        problems.append(f"other processes used {row['others_cores']:.2f} cores on average while it ran")
    if row.get("spread", 0.0) > MAX_SPREAD:
        problems.append(f"its kit/plain pairs spread by {row['spread']:.0%} (interquartile range over the median)")
    row["trusted"] = not problems
    if problems:
        row["warning"] = "; ".join(problems) + ": its figures are noise; rerun on a quiet machine"
    return row


def _measure(jobs: list, rows: list[dict], out: Path) -> None:
    """Run each job in a scratch folder, timing what other processes used meanwhile; print its row (and a
    warning when it cannot be believed) and save all rows so far."""
    for job in jobs:
        start, (busy, own) = time.perf_counter(), _cpu_seconds()
        with tempfile.TemporaryDirectory() as tmp:
            row = job(tmp)
        wall, (busy_after, own_after) = time.perf_counter() - start, _cpu_seconds()
        row["others_cores"] = round(max(0.0, (busy_after - busy) - (own_after - own)) / wall, 2)
        row["row_seconds"] = round(wall, 1)
        rows.append(judge(row))
        print(json.dumps(row), flush=True)
        if not row["trusted"]:
            print(f"WARNING {row['name']}: {row['warning']}", file=sys.stderr, flush=True)
        save_rows(out, rows)


def verdict(rows: list[dict]) -> list[str]:
    """What ``--check`` fails on: rows not believed, and kit training loops slower than :data:`MIN_RATIO` of plain."""
    problems = [f"{r['name']}: {r['warning']}" for r in rows if not r.get("trusted", True)]
    loops = [r for r in rows if r.get("timed") == LOOP_TIMED]
    problems += [f"{r['name']}: kit/plain {r['ratio']} < {MIN_RATIO}" for r in loops if r["ratio"] < MIN_RATIO]
    return problems


# ---------------------------------------------------------------------------------------------- executors
def bench_sweep_executors(repeats: int, per_class: int | None = None, epochs: int | None = None) -> dict:
    """One repeat of the quick profile's classic sweep as ``make demo`` trains it (the phantom's 182 lesions, 3
    patient folds, the quick CNN and epochs, groups 0 and 150, 2 inner folds: 18 CNNs) in this process at 2 threads,
    against 2 one-thread worker processes (:class:`liverkit.experiment.executors.ProcessExecutor`, quick's default);
    whole sweeps, alternating, the processes' start-up included. ``ratio`` > 1: the processes are faster.

    Args:
        per_class, epochs: smaller sizes for the tests (None: the quick profile's phantom and epochs).
    """
    from liverkit.data.folds import patient_folds
    from liverkit.experiment.executors import LocalExecutor, ProcessExecutor

    quick = get_profile("quick")
    sizes = {} if per_class is None else dict(n_cyst=per_class, n_metastasis=per_class, n_hemangioma=per_class)
    lesions = make_phantom(seed=1, **sizes)
    fold_of = patient_folds(lesions, k=quick.n_folds, seed=1)
    clf = quick.classifier if epochs is None else dataclasses.replace(quick.classifier, epochs=epochs)
    groups = quick.classic_groups[:2]
    threads = torch.get_num_threads()
    common = dict(seed=0, repeats=1, inner_folds=quick.inner_folds, progress=False)

    def sweep(executor, n_threads: int):
        def run() -> None:
            torch.set_num_threads(n_threads)
            try:
                args = (lesions, fold_of, groups, quick.augment, clf)
                classic_sweep.run_classic_sweep(*args, executor=executor, **common)
            finally:
                torch.set_num_threads(threads)

        return run

    here, there, _ = _alternate(sweep(LocalExecutor("cpu", "off"), 2), sweep(ProcessExecutor(2), 1), repeats)
    ratios = sorted(h / t for h, t in zip(here, there, strict=True))
    q25, median, q75 = np.percentile(ratios, [25, 50, 75])
    n_models = quick.n_folds * len(groups) * (quick.inner_folds + 1)  # folds x groups x (inner models + outer)
    return {
        "name": "classic_sweep_threads_vs_processes",
        "device": _device_name(torch.device("cpu")),
        "img_per_s": 0.0,
        "k_models": n_models,
        "precision": "fp32",
        "threads_seconds": round(min(here), 2),
        "processes_seconds": round(min(there), 2),
        "ratio": round(float(median), 3),
        "ratio_pairs": [round(r, 3) for r in ratios],
        "spread": round(float((q75 - q25) / median), 3),
        "faster": "2 one-thread processes" if median > 1 else "one process at 2 threads",
        "timed": "whole quick-sized classic sweeps: this process at 2 threads vs ProcessExecutor(2) at 1 thread each",
        "groups": list(groups),
        "epochs": clf.epochs,
    }


def quick_notebook_rows(run_folder: Path) -> list[dict]:
    """Each notebook's wall time in the quick run folder ``run_folder`` (``make demo``'s ``runs/demo``), as
    papermill recorded it there: read, not measured by the bench (a whole quick run takes 15+ minutes)."""
    identity = run_folder / "run.json"
    if not identity.is_file() or json.loads(identity.read_text()).get("profile") != "quick":
        return []
    rows = []
    for path in sorted((run_folder / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        if path.name.endswith(".failed.ipynb"):
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        if meta.get("duration") is not None:
            rows.append(
                {
                    "name": f"quick_notebook_{path.stem}",
                    "seconds": round(float(meta["duration"]), 1),
                    "finished": meta.get("end_time"),
                    "timed": f"read from {path} (papermill's duration), not measured by this bench",
                }
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--repeats", type=int, default=5, help="kit/plain pairs per row after the warm-up")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a check that the harness runs)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, help="JSON-lines file (default: benchmarks/results/<date>-<device>.jsonl)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a row is noise or a kit loop is slow")
    parser.add_argument("--demo-run", type=Path, default=Path("runs/demo"), help="quick run folder to read times from")
    parser.add_argument(
        "--paper-run",
        type=float,
        metavar="SECONDS",
        help="instead: time notebooks 01-05 of the shrunk paper profile within SECONDS and add the row to --out",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    out = args.out or default_out(device)
    if args.paper_run is not None:
        earlier = [json.loads(line) for line in out.read_text().splitlines() if line] if out.is_file() else []
        overrides = PAPER_RUN_OVERRIDES + (GPU_RUN_OVERRIDES if device.type == "cuda" else ())
        estimate = next((r for r in reversed(earlier) if r["name"] == "paper_profile_estimate"), None)
        row = time_paper_run(device, args.paper_run, overrides=overrides, estimate=estimate)
        print(json.dumps(row), flush=True)
        save_rows(out, [*earlier, row])
        return
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > BUSY_CORES + 0.3:
        print(f"WARNING the machine was busy before the bench started (load average {load:.2f})", file=sys.stderr)
    rows: list[dict] = []
    main_jobs, extra_jobs = _jobs(device, args.quick, args.repeats)
    _measure(main_jobs, rows, out)
    estimate = paper_estimate_row(rows, device, paper_work(get_profile("paper")))
    if estimate is not None:
        _measure([lambda tmp: estimate], rows, out)
    _measure(extra_jobs, rows, out)
    for row in quick_notebook_rows(args.demo_run):
        rows.append(row)
        print(json.dumps(row), flush=True)
    save_rows(out, rows)
    problems = verdict(rows)
    for line in problems:
        print(f"{'FAILED' if args.check else 'WARNING'} {line}", file=sys.stderr)
    if args.check and problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

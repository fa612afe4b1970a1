"""Benchmarks: the kit's hot loops against minimal plain-PyTorch loops doing the same work, in one run.

Prints one JSON object per line with at least ``name``, ``device``, ``kit`` and ``plain`` (images/s) and
``ratio`` (kit / plain). After a warm-up, kit and plain run ``--repeats`` times in back-to-back pairs;
``kit`` and ``plain`` are the best throughputs and ``ratio`` is the median of the per-pair ratios. On a shared
2-core CPU a single ratio of two minima varied by about +-10% (the quick classifier row read 0.905, 0.94, 0.953
and 1.154 in four runs); pairing and the median make it steadier.
Run with ``make bench`` or ``python benchmarks/bench.py [--device cuda] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from liverkit import augment
from liverkit.augment import AugmentConfig
from liverkit.data import LesionSet, make_phantom
from liverkit.env import resolve_device
from liverkit.nets import LesionCNN
from liverkit.train.classifier import ClassifierConfig, build_model, train_classifier
from liverkit.train.gan import GANConfig, build_gan, train_dcgan

WIDTHS = {"quick": ((8, 16, 32), 64), "paper": ((32, 64, 128), 256)}
GAN_WIDTHS = {"quick": (64, 16), "paper": (1024, 64)}  # DCGAN (generator, discriminator) widths per profile


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _training_set(n: int, seed: int = 0, n_classes: int = 3) -> LesionSet:
    rng = np.random.default_rng(seed)
    return LesionSet(
        images=rng.random((n, 1, 64, 64), dtype=np.float32), labels=np.arange(n) % n_classes,
        class_names=("cyst", "metastasis", "hemangioma"), patient_ids=[f"p{i}" for i in range(n)],
        diameters_mm=rng.uniform(10, 100, n), ids=[f"x{i}" for i in range(n)], sources="bench",
    )  # fmt: skip


def plain_loop(model: LesionCNN, images: torch.Tensor, labels: torch.Tensor, steps: int, batch: int, bf16: bool):
    """The minimal loop: random batches from on-device tensors, SGD with momentum, nothing else."""
    optimiser = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    order = torch.randperm(len(images), device=images.device)
    model.train()
    for i in range(steps):
        index = order[i * batch : (i + 1) * batch]
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(images[index]).float(), labels[index])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()


def bench_classifier(device: torch.device, width: str, steps: int, repeats: int, bf16: bool) -> dict:
    """The kit's ``train_classifier`` (one epoch of ``steps`` batches of 64) against ``plain_loop``.

    Both build a fresh model and run the same number of steps; the kit's extras (mean image, history, divergence
    check, a copy of the last good state) are part of what is timed.
    """
    channels, hidden = WIDTHS[width]
    config = ClassifierConfig(channels=channels, hidden=hidden, epochs=1, batch_size=64, bf16=bf16)
    data = _training_set(steps * config.batch_size)
    images, labels = data.tensors(device)

    def kit():
        train_classifier(data, config, seed=0, device=device)

    if config.channels_last:  # the plain loop gets the kit's memory layout: same model, same settings
        images = images.contiguous(memory_format=torch.channels_last)

    def plain():  # a fresh model each time, as the kit builds one per call
        model = build_model(data, config, device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        plain_loop(model, images, labels, steps, config.batch_size, bf16)

    timing = _alternate(kit, plain, repeats)
    n = steps * config.batch_size
    return _row(f"classifier_train_{width}", device, n, timing, batch=64, steps=steps, channels=list(channels),
                hidden=hidden, precision="bf16" if bf16 else "fp32", channels_last=config.channels_last)  # fmt: skip


def bench_augment_pool(device: torch.device, n_lesions: int, repeats: int) -> dict:
    """Building the paper's 480-variant pool for a training fold against affine_grid + grid_sample per chunk."""
    lesions = make_phantom(seed=0).subset(np.arange(n_lesions))
    config = AugmentConfig()
    plan = augment.plan_pool(lesions, config, np.random.default_rng(0))
    thetas = augment._affine_thetas(plan, np.arange(len(plan))).to(device)
    source = torch.from_numpy(lesions.images).to(device)
    parents = torch.from_numpy(plan.parent).to(device)

    def kit():
        augment.render(lesions, augment.plan_pool(lesions, config, np.random.default_rng(0)), device=device)

    def plain():
        for start in range(0, len(plan), 4096):
            theta = thetas[start : start + 4096]
            grid = F.affine_grid(theta, [len(theta), 1, 64, 64], align_corners=False)
            F.grid_sample(source[parents[start : start + 4096]], grid, mode=config.interpolation,
                          padding_mode="reflection", align_corners=False)  # fmt: skip

    timing = _alternate(kit, plain, repeats)
    return _row("augment_pool_480", device, len(plan), timing, lesions=n_lesions, variants=len(plan),
                kit_seconds=round(min(timing[0]), 2))  # fmt: skip


def plain_dcgan_loop(generator, discriminator, images: torch.Tensor, steps: int, batch: int, config: GANConfig):
    """The minimal DCGAN loop: on-device batches, uniform noise, one D and one G Adam update per step."""
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=config.betas)
    bce = F.binary_cross_entropy_with_logits
    ones, zeros = torch.ones(batch, device=images.device), torch.zeros(batch, device=images.device)
    for i in range(steps):
        real = images[i * batch : (i + 1) * batch]
        z = torch.rand(batch, config.z_dim, device=images.device) * 2 - 1
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            fake = generator(z)
            loss_d = bce(discriminator(real).float(), ones) + bce(discriminator(fake.detach()).float(), zeros)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            loss_g = bce(discriminator(fake).float(), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()


def bench_dcgan(device: torch.device, width: str, batch: int, steps: int, repeats: int, bf16: bool, tmp: str) -> dict:
    """The kit's ``train_dcgan`` (one epoch of ``steps`` batches, checkpoint and diagnostics included) against
    ``plain_dcgan_loop`` on fresh nets of the same widths, batch, precision and memory layout (the kit's default
    channels_last).

    Args:
        bf16: bf16 autocast (the GPU setting); False is exact fp32.
    """
    g_width, d_width = GAN_WIDTHS[width]
    config = GANConfig.paper_dcgan(g_width=g_width, d_width=d_width, batch_size=batch, epochs=1, bf16=bf16,
                                   collapse_samples=64)  # fmt: skip
    data = _training_set(steps * batch, n_classes=1)  # all "cyst": one DCGAN's class
    images = torch.from_numpy(data.images).to(device) * 2 - 1
    if config.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)

    def kit():
        train_dcgan(data, "cyst", config, out_dir=tmp, seed=0, device=device, progress=False)

    def plain():
        generator, discriminator = (m.to(device) for m in build_gan(config))
        if config.channels_last:
            generator, discriminator = (m.to(memory_format=torch.channels_last) for m in (generator, discriminator))
        plain_dcgan_loop(generator, discriminator, images, steps, batch, config)

    timing = _alternate(kit, plain, repeats)
    return _row(f"dcgan_train_{width}", device, steps * batch, timing, batch=batch, steps=steps, g_width=g_width,
                d_width=d_width, precision="bf16" if bf16 else "fp32", channels_last=config.channels_last)  # fmt: skip


def _alternate(kit, plain, repeats: int) -> tuple[list[float], list[float]]:
    """Wall times of ``repeats`` back-to-back (kit, plain) pairs after one warm-up of each.

    The order within a pair alternates (kit first, then plain first) so that neither side always runs on the
    machine state the other left behind.
    """
    kit(), plain()
    kit_times, plain_times = [], []
    for i in range(repeats):
        for fn, times in ((kit, kit_times), (plain, plain_times))[:: 1 if i % 2 == 0 else -1]:
            _sync()
            start = time.perf_counter()
            fn()
            _sync()
            times.append(time.perf_counter() - start)
    return kit_times, plain_times


def _row(name: str, device: torch.device, n_images: int, timing: tuple[list[float], list[float]], **extra) -> dict:
    """One JSON row: best-of throughputs, and ``ratio`` as the median of the per-pair ratios.

    A pair's two runs see nearly the same machine state, so the median paired ratio is steadier on a shared CPU
    than the ratio of two minima taken at different moments; ``ratio_best`` (best kit / best plain) is kept too.
    """
    kit_times, plain_times = timing
    paired = sorted(p / k for k, p in zip(kit_times, plain_times, strict=True))
    best_kit, best_plain = n_images / min(kit_times), n_images / min(plain_times)
    return {"name": name, "device": _device_name(device), "kit": round(best_kit, 1), "plain": round(best_plain, 1),
            "ratio": round(float(np.median(paired)), 3), "ratio_best": round(best_kit / best_plain, 3),
            "ratio_pairs": [round(r, 3) for r in paired], "threads": torch.get_num_threads(), **extra}  # fmt: skip


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer steps (a check that the harness runs)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    scale = 0.2 if args.quick else 1.0
    on_gpu = device.type == "cuda"
    r = args.repeats
    jobs = [
        lambda tmp: bench_classifier(device, "quick", math.ceil((200 if on_gpu else 120) * scale), r, bf16=False),
        lambda tmp: bench_classifier(device, "paper", math.ceil((200 if on_gpu else 36) * scale), r, bf16=False),
        lambda tmp: bench_augment_pool(device, n_lesions=max(3, round(120 * scale)), repeats=r),
        lambda tmp: bench_dcgan(device, "quick", 64, math.ceil(30 * scale), r, bf16=False, tmp=tmp),
    ]
    if on_gpu and torch.cuda.is_bf16_supported():
        jobs += [
            lambda tmp: bench_classifier(device, "paper", 200, r, bf16=True),
            lambda tmp: bench_dcgan(device, "paper", 64, 200, r, bf16=True, tmp=tmp),
            lambda tmp: bench_dcgan(device, "paper", 512, 60, r, bf16=True, tmp=tmp),
            lambda tmp: bench_dcgan(device, "paper", 64, 100, r, bf16=False, tmp=tmp),
        ]
    for job in jobs:  # each row is printed as soon as it is measured
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(job(tmp)), flush=True)


if __name__ == "__main__":
    main()

"""Before the first fused training on a GPU: a short check that fused and one-by-one training agree there.

The fused trainers (:mod:`liverkit.train.fused` for CNNs, :mod:`liverkit.train.fused_gan` for GANs) train many
small models as one network. They are tested against one-by-one training on CPU (``tests/test_fused*.py``), but on
CUDA they run other kernels (grouped convolutions, batched matrix products, TF32), and no GPU run of them has been
recorded yet. So before the first fused training of a process on a CUDA device, :func:`fused_agrees` trains two tiny
CNNs and two tiny DCGANs both ways for two epochs and compares them; where they disagree, the kit trains one by one
and says why (:func:`liverkit.train.fused_check.use_fused`).

The tolerances sit far above float rounding (CPU, fp32: CNN weights 1.5e-5 apart after two epochs, GAN samples
1.2e-5) and TF32's (about 1e-3 relative), and below what a broken fused path gives: a wrong dropout stream moves the
CNN weights by 2.4e-2, a model slice mixed up with another moves samples and losses by tenths.
"""

from __future__ import annotations

import functools
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from liverkit.data.phantom import make_phantom
from liverkit.env import resolve_device
from liverkit.errors import LiverkitError, LiverkitWarning
from liverkit.train.classifier import ClassifierConfig, train_classifier
from liverkit.train.fused import train_classifiers_fused
from liverkit.train.fused_gan import GANJob, train_dcgans_fused
from liverkit.train.gan import train_dcgan
from liverkit.train.gan_config import GANConfig, TrainOptions

CNN = ClassifierConfig(channels=(4, 8, 8), hidden=16, epochs=2, lr=0.01)
GAN = GANConfig.paper_dcgan(
    d_width=4, epochs=2, g_width=16, batch_size=4, sample_grid=2, collapse_samples=8, checkpoint_every=2
)
TOLERANCE = {"cnn weights": 5e-3, "cnn loss": 1e-2, "gan samples": 2e-2, "gan losses": 5e-2}
"""Largest difference allowed between fused and one-by-one training, per quantity (see the module docstring)."""


def fused_differences(device: str | torch.device) -> dict[str, float]:
    """The largest differences between fused and one-by-one training of two tiny CNNs and two tiny DCGANs on
    ``device`` (two epochs each, a few seconds on a GPU), keyed as :data:`TOLERANCE`."""
    lesions = make_phantom(seed=0, n_cyst=12, n_metastasis=8, n_hemangioma=4)
    sets, seeds = [lesions, lesions.subset(np.arange(4, 20))], [1, 2]
    fused_cnns = train_classifiers_fused(sets, CNN, seeds, device)
    alone_cnns = [train_classifier(s, CNN, seed, device) for s, seed in zip(sets, seeds, strict=True)]
    found = {"cnn weights": 0.0, "cnn loss": 0.0, "gan samples": 0.0, "gan losses": 0.0}
    for fused, alone in zip(fused_cnns, alone_cnns, strict=True):
        theirs = alone.model.state_dict()
        for key, value in fused.model.state_dict().items():
            found["cnn weights"] = max(found["cnn weights"], float((value - theirs[key]).abs().max()))
        loss = np.abs(fused.history["loss"].to_numpy() - alone.history["loss"].to_numpy()).max()
        found["cnn loss"] = max(found["cnn loss"], float(loss))
    options = TrainOptions(device=device, progress=False)
    with tempfile.TemporaryDirectory(prefix="liverkit-fused-check-") as folder:
        root = Path(folder)
        jobs = [GANJob(lesions.by_class(n), (n,), root / "fused" / n, seed=3) for n in lesions.class_names[:2]]
        fused_gans = train_dcgans_fused(jobs, GAN, TrainOptions(device=device, progress=False, resume=False))
        for job, fused in zip(jobs, fused_gans, strict=True):
            alone = train_dcgan(
                job.lesions,
                job.class_names[0],
                GAN,
                out_dir=root / "alone" / job.class_names[0],
                seed=job.seed,
                options=options,
            )
            samples = np.abs(fused.epoch_samples - alone.epoch_samples).max()
            losses = (fused.history[["loss_d", "loss_g"]] - alone.history[["loss_d", "loss_g"]]).abs().to_numpy().max()
            found["gan samples"] = max(found["gan samples"], float(samples))
            found["gan losses"] = max(found["gan losses"], float(losses))
    return found


def fused_agrees(device: str | torch.device) -> tuple[bool, str]:
    """Whether fused training agrees with one-by-one training on ``device``, and a line that says how far apart
    they were (each quantity against its :data:`TOLERANCE`)."""
    found = fused_differences(device)
    over = [name for name, value in found.items() if not value <= TOLERANCE[name]]  # NaN counts as over
    said = ", ".join(f"{name} {found[name]:.1e} (limit {TOLERANCE[name]:.0e})" for name in found)
    return not over, f"fused vs one-by-one on {device}: {said}" + (
        f"; over the limit: {', '.join(over)}" if over else ""
    )


def use_fused(setting: str, device: str | torch.device) -> bool:
    """Whether to train many small models as one (``Profile.fused``): ``on`` or ``off`` as forced; ``auto`` is off.

    Fusing is for GPUs, where one small model leaves most of the chip idle. On CPUs it gains nothing: measured here,
    fused GANs ran at about the speed of one after another (``liverkit.train.fused_gan``) and fused CNNs slower
    for the widths that matter (``liverkit.train.fused``). On CUDA, where it should pay, it has never run on a real
    GPU (no GPU run is recorded in ``benchmarks/results/``), so ``auto`` stays off there too until one is; ``on`` on
    CUDA first runs :func:`liverkit.train.fused_check.fused_agrees` once per process and device, and trains one by one,
    with a warning that gives the differences, where fused and one-by-one training disagree.
    """
    if setting not in ("auto", "on", "off"):
        raise LiverkitError(f"fused must be 'auto', 'on' or 'off', got {setting!r}.")
    if setting != "on":
        return False
    resolved = resolve_device(device)
    return resolved.type != "cuda" or _fused_checked(str(resolved))


@functools.cache
def _fused_checked(device: str) -> bool:
    """:func:`liverkit.train.fused_check.fused_agrees` on ``device``, once per process; a warning where it disagrees."""
    agrees, said = fused_agrees(device)
    if not agrees:
        warnings.warn(
            f"fused training disagrees with one-by-one training on this GPU ({said}); training one by one instead "
            "(slower, same results). Please report this with `liverkit config`'s output.",
            LiverkitWarning,
            stacklevel=3,
        )
    return agrees

"""Compare GAN settings for a CPU profile: training time and per-class FID against the GAN's own training images.

Usage (after ``make demo``, which leaves the fold's data and classic CNN in ``runs/demo``)::

    python scripts/compare_gan_settings.py runs/demo out/ dcgan:64/16/32/200 dcgan:64/16/16/1000 acgan:64/4/16/800

A setting is ``kind:g_width/d_width/batch/steps``; the rest of the config is the quick profile's. Every setting
trains on fold ``--fold``'s classic group ``--group`` (the fold's training patients only: no test patient is
involved, so choosing settings by this table cannot leak the test set) with the same seed. The score is the
Frechet distance, in the feature space of the run's classic CNN of that fold, between 300 synthetic lesions of a
class and up to 300 of the generator's training images of that class (lower is closer). One seed per setting: a
difference of a few tenths is within run-to-run noise. Writes ``<out>/<setting>.png`` (12 samples per class,
one row per class) and prints a markdown table. ``docs/gan_settings.md`` records the table behind the quick
profile's choice.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from liverkit import synthesis
from liverkit.config import get_profile
from liverkit.data import LesionSet
from liverkit.errors import LiverkitError
from liverkit.gan_experiment import first_per_class
from liverkit.io import atomic_write
from liverkit.plots import grey_png, mosaic
from liverkit.quality import fid_kid
from liverkit.runs import RunFolder
from liverkit.train.classifier import load_classifier
from liverkit.train.gan import GANConfig, sample, train_acgan, train_dcgans

PER_CLASS = 300


def parse_setting(text: str) -> GANConfig:
    """``dcgan:64/16/16/1000`` -> the quick profile's config of that kind with those widths, batch and steps."""
    kind, _, numbers = text.partition(":")
    try:
        g_width, d_width, batch, steps = (int(n) for n in numbers.split("/"))
    except ValueError:
        g_width = None
    if kind not in ("dcgan", "acgan") or g_width is None:
        hint = "kind:g_width/d_width/batch/steps with kind dcgan or acgan, e.g. dcgan:64/16/16/1000"
        raise LiverkitError(f"setting '{text}' is not {hint}.")
    base = getattr(get_profile("quick"), kind)
    return dataclasses.replace(base, g_width=g_width, d_width=d_width, batch_size=batch, max_steps=steps, epochs=10_000)


def train_and_sample(group: LesionSet, config: GANConfig, seed: int) -> tuple[LesionSet, float]:
    """Train the setting's generator(s) on ``group``; returns PER_CLASS samples per class and seconds per class."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        train = train_dcgans if config.kind == "dcgan" else train_acgan
        gans = train(group, config, out_dir=tmp, seed=seed, device="cpu", progress=False)
    seconds = (time.perf_counter() - start) / len(group.class_names)
    return sample(gans, PER_CLASS, seed=0, class_names=group.class_names), seconds


def class_fids(model, group: LesionSet, synthetic: LesionSet) -> list[float]:
    """FID per class between the synthetic lesions and up to PER_CLASS training images of that class."""
    real = first_per_class(group, PER_CLASS)
    return [fid_kid(model, real.by_class(name), synthetic.by_class(name))["fid"] for name in group.class_names]


def save_grid(synthetic: LesionSet, path: Path, per_class: int = 12) -> None:
    """One row of samples per class, as a PNG."""
    rows = [synthetic.by_class(name).images[:per_class, 0] for name in synthetic.class_names]
    png = grey_png(mosaic(np.concatenate(rows), cols=per_class))
    atomic_write(path, lambda tmp: tmp.write_bytes(png))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("out_dir")
    parser.add_argument("settings", nargs="+", help="kind:g_width/d_width/batch/steps")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--group", type=int, default=1000, help="classic group the GANs train on (0 = real ROIs only)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(2)
    run, profile = RunFolder(args.run_dir), get_profile("quick")
    lesions, fold_of = run.load_lesionset("lesions"), run.load_array("folds")
    group = synthesis.fold_training_group(lesions, fold_of, args.fold, args.group, profile.augment, 0)
    model, _, _ = load_classifier(run.artifact(f"cnn_classic_fold{args.fold}.pt"))
    names = " / ".join(lesions.class_names)
    print(f"| setting | s per class (2 cores) | FID {names} | mean FID |\n|---|---|---|---|", flush=True)
    for text in args.settings:
        synthetic, seconds = train_and_sample(group, parse_setting(text), args.seed)
        fids = class_fids(model, group, synthetic)
        save_grid(synthetic, Path(args.out_dir) / f"{text.replace(':', '_').replace('/', '-')}.png")
        print(f"| {text} | {seconds:.0f} | {' / '.join(f'{f:.2f}' for f in fids)} | {np.mean(fids):.2f} |", flush=True)


if __name__ == "__main__":
    main()

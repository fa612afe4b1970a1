"""Model file formats: writing and reading the GAN training checkpoint, the generator file and the classifier file.

Every file is a ``torch.save`` dict written atomically (each file is complete, or the old one stays) and read with
``weights_only=True``. One policy for all three:

- **Version.** Each file records its ``format`` (what it is) and ``version`` (:data:`FORMAT_VERSION`, the layout);
  a reader accepts its own format at this version only. Classifier files from before the version field have the
  current layout, so a classifier file without one reads as version 1; GAN files always had the field.
- **Unreadable files.** A missing, truncated, damaged or foreign file, a file of another liverkit format or
  version, or one with missing or mismatched entries is a :class:`~liverkit.errors.LiverkitError` naming the file
  and saying what to do (:func:`liverkit.io.reading` words it).

Files in a GAN's ``out_dir``: :data:`CHECKPOINT_FILE` (everything needed to resume, written every
``checkpoint_every`` epochs and at the end), :data:`SAMPLES_FILE` (the fixed-noise grid after every epoch), and,
once training is complete, :data:`GENERATOR_FILE` (:func:`load_generator`) and :data:`HISTORY_FILE`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from liverkit.env import resolve_device
from liverkit.errors import LiverkitError
from liverkit.io import atomic_path, atomic_write, reading
from liverkit.nets.classifier import LesionCNN
from liverkit.story import remake_advice
from liverkit.train.classifier import ClassifierConfig, config_dict
from liverkit.train.gan_config import GANConfig, build_gan
from liverkit.train.gan_records import TrainedGAN, TrainingRun

GENERATOR_FILE = "generator.pt"
"""The finished generator with its config, class names and training-data record (read by :func:`load_generator`)."""
SAMPLES_FILE = "samples.npy"
"""The fixed-noise samples after every epoch, epochs x (classes x sample_grid) x 64 x 64 in [0, 1]."""
HISTORY_FILE = "history.csv"
"""The per-step losses and discriminator outputs of a finished run."""

FORMAT_VERSION = 1
"""The layout version every liverkit model file is written with, and the only one the readers accept."""
CHECKPOINT_FORMAT = "liverkit-gan-checkpoint"
GENERATOR_FORMAT = "liverkit-gan-generator"
CLASSIFIER_FORMAT = "liverkit-classifier"
_UNVERSIONED_IS_CURRENT = (CLASSIFIER_FORMAT,)
"""Formats whose files from before the ``version`` field have the current layout (read as FORMAT_VERSION)."""
_EXTENDABLE = ("epochs", "checkpoint_every")
"""Config fields a resumed run may change: they say where training stops, not what a step does."""


# ---------------------------------------------------------------------------------------------- the file policy
def _header(fmt: str) -> dict:
    """The entries every file starts with: what it is and its layout version."""
    return {"format": fmt, "version": FORMAT_VERSION}


@contextmanager
def _reading(path: Path, fmt: str, noun: str, remedy: str) -> Iterator[dict]:
    """The file's dict, read with ``torch.load(weights_only=True)``: the one policy of every reader here.

    A file that is not of format ``fmt`` at :data:`FORMAT_VERSION` is a LiverkitError naming it and ``remedy``; so
    is any failure to read it or, inside the ``with`` block, to use its entries (:func:`liverkit.io.reading`).
    """
    with reading(path, f"the {noun}", remedy):
        payload = torch.load(path, map_location="cpu", weights_only=True)
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        if found != fmt:
            raise LiverkitError(f"'{path}' is not a liverkit {noun} (format '{fmt}'; it holds {found!r}): {remedy}.")
        version = payload.get("version", FORMAT_VERSION if fmt in _UNVERSIONED_IS_CURRENT else None)
        if version != FORMAT_VERSION:
            raise LiverkitError(
                f"the {noun} '{path}' has format version {version!r}, and this liverkit reads version "
                f"{FORMAT_VERSION} only: {remedy}."
            )
        yield payload


def _must_exist(path: Path, noun: str, remedy: str) -> None:
    if not path.is_file():
        raise LiverkitError(f"{noun} '{path}' does not exist; {remedy}.")


# ---------------------------------------------------------------------------------------------- GAN checkpoints
def save_checkpoint(run: TrainingRun) -> None:
    """Write the resumable state and the sample grid atomically (each file is complete, or the old one stays)."""
    state = {
        **_header(CHECKPOINT_FORMAT),
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


def restore_checkpoint(run: TrainingRun) -> None:
    """Read ``run``'s checkpoint, check that it belongs to this run, and load every piece of its state into ``run``."""
    path = run.checkpoint_path
    remedy = f"{remake_advice(path)}; in Python, train with resume=False to start afresh"
    with _reading(path, CHECKPOINT_FORMAT, "GAN checkpoint", remedy) as state:
        _check_resumable(run, state, path)
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
            f"Use the checkpoint's settings, or start afresh: {remake_advice(path)}; in Python, train with "
            "resume=False (or another out_dir)."
        )
    saved_data = state.get("data", {})
    if saved_data.get("fingerprint") != run.data["fingerprint"]:
        raise LiverkitError(
            f"cannot resume from '{path}': it was trained on other data (fingerprint {saved_data.get('fingerprint')}, "
            f"{saved_data.get('n_images')} images) than this call's (fingerprint {run.data['fingerprint']}, "
            f"{run.data['n_images']} images). Pass the same training set (same fold, group and seed), or start "
            f"afresh: {remake_advice(path)}; in Python, train with resume=False (or another out_dir)."
        )


def _plain(value: object) -> object:
    """Tuples as lists, so a config read back from a checkpoint compares equal to the live one."""
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


# ---------------------------------------------------------------------------------------------- generator files
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


def save_finished(gan: TrainedGAN) -> None:
    """The files of a run that took all its steps: its generator (:data:`GENERATOR_FILE`) and history."""
    save_generator(gan, gan.out_dir / GENERATOR_FILE)
    atomic_write(gan.out_dir / HISTORY_FILE, lambda tmp: gan.history.to_csv(tmp, index=False))


def save_generator(gan: TrainedGAN | SavedGenerator, path: str | Path) -> Path:
    """Write a generator with its config, classes and training-data record atomically (for :func:`load_generator`)."""
    payload = {
        **_header(GENERATOR_FORMAT),
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
    _must_exist(path, "generator file", f"train the GAN first (it writes {GENERATOR_FILE})")
    remedy = remake_advice(path, "delete it and train the GAN again (notebook 03 or 04)")
    with _reading(path, GENERATOR_FORMAT, "generator file", remedy) as payload:
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
    """The per-class DCGANs that :func:`~liverkit.train.gan.train_dcgans` wrote under ``out_dir``, by class name."""
    files = sorted(Path(out_dir).glob(f"*/{GENERATOR_FILE}"))
    if not files:
        raise LiverkitError(f"no DCGAN generators under '{out_dir}'; train them with train_dcgans(out_dir=...).")
    gans = [load_generator(file, device) for file in files]
    not_dcgan = [str(g.path) for g in gans if g.source != "dcgan"]
    if not_dcgan:
        raise LiverkitError(f"{not_dcgan} are not DCGAN generators; keep each GAN kind in its own folder.")
    return {g.class_names[0]: g for g in gans}


# ---------------------------------------------------------------------------------------------- classifier files
def save_classifier(model: LesionCNN, config: ClassifierConfig, class_names: tuple[str, ...], path) -> Path:
    """Write a trained CNN with its config and classes atomically (read back with :func:`load_classifier`)."""
    payload = {
        **_header(CLASSIFIER_FORMAT),
        "config": config_dict(config),
        "class_names": list(class_names),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_classifier(path, device: str | torch.device = "cpu") -> tuple[LesionCNN, ClassifierConfig, tuple[str, ...]]:
    """(model in eval mode, config, class names) from a file written by :func:`save_classifier` (weights only)."""
    path = Path(path)
    _must_exist(path, "classifier file", "run the notebook that trains it (05) first")
    remedy = remake_advice(path, "delete it and rerun the notebook that trains it (05)")
    with _reading(path, CLASSIFIER_FORMAT, "classifier file", remedy) as payload:
        values = payload["config"]
        known = {f.name for f in fields(ClassifierConfig)}  # files from before the budget rule also hold max_steps
        kept = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        config = ClassifierConfig(**kept)
        class_names = tuple(payload["class_names"])
        state = payload["state_dict"]
        model = LesionCNN(
            len(class_names), config.channels, config.kernels, config.hidden, config.dropout, state["mean_image"]
        )
        model.load_state_dict(state)
    if config.channels_last:  # the layout it was trained in, so that predictions match to the last bit
        model = model.to(memory_format=torch.channels_last)
    return model.to(resolve_device(device)).eval(), config, class_names

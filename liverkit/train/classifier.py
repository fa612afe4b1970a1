"""Training and evaluating the lesion classifier CNN (notebook 02); its file format is
:mod:`liverkit.train.checkpoints`.

One model per call, with its own seed, batches of 64 and optimiser state; the data stays on the device as tensors
and each epoch is one random permutation, so no DataLoader workers and no per-sample Python in the loop.
(The API takes one job at a time; training several models at once with ``torch.func`` can be added behind it.)
The training budget is one rule for every model (see ``ClassifierConfig.epochs``): a fixed number of full passes
over the model's own training set, no step cap.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from liverkit.data.lesionset import LesionSet
from liverkit.env import resolve_device, reuse_freed_memory
from liverkit.errors import LiverkitError
from liverkit.nets.classifier import LesionCNN
from liverkit.progress import tqdm
from liverkit.train.classifier_config import ClassifierConfig  # the settings, without torch


def epoch_orders(n_samples: int, config: ClassifierConfig, seed: int) -> list[torch.Tensor]:
    """The sample order of every epoch: ``config.epochs`` random permutations of ``range(n_samples)``.

    Each epoch visits every training image exactly once, so an image is seen ``epochs`` times whatever else is in
    the training set (the budget rule; ``tests/test_classifier.py`` counts it).
    """
    generator = torch.Generator().manual_seed(seed)
    return [torch.randperm(n_samples, generator=generator) for _ in range(config.epochs)]


@dataclass
class TrainedClassifier:
    """A trained model with its training history (one row per epoch) and speed."""

    model: LesionCNN
    history: pd.DataFrame
    seconds: float
    images_per_second: float
    config: ClassifierConfig
    n_images: int
    """Size of the training set (every image was seen ``config.epochs`` times)."""


class TrainingDiverged(LiverkitError):
    """The loss became NaN or inf. ``model`` holds the last good state (end of the previous epoch)."""

    def __init__(self, message: str, model: LesionCNN):
        super().__init__(message)
        self.model = model


def build_model(train: LesionSet, config: ClassifierConfig, device: torch.device) -> LesionCNN:
    """A fresh CNN for ``train``'s classes, with ``train``'s mean image subtracted from every input."""
    mean_image = torch.from_numpy(train.images.mean(axis=0))  # 1 x 64 x 64
    model = LesionCNN(
        len(train.class_names), config.channels, config.kernels, config.hidden, config.dropout, mean_image
    )
    return model.to(device)


def train_classifier(
    train: LesionSet,
    config: ClassifierConfig,
    seed: int,
    device: str | torch.device = "cpu",
    val: LesionSet | None = None,
    progress: bool = False,
) -> TrainedClassifier:
    """Train one CNN on ``train`` with SGD; the same seed gives the same weights on CPU.

    Args:
        train: the training group (a fold's training lesions, possibly augmented).
        config: architecture and schedule.
        seed: seeds initialisation, batch order and dropout (global RNG state is left untouched).
        device: where to train.
        val: optional lesions whose accuracy is recorded after every epoch (never test lesions).
        progress: show a tqdm bar over epochs.
    """
    check_trainable(train, val)
    device = resolve_device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = build_model(train, config, device)
        return _fit(model, train, config, device, val, progress, seed)


def check_trainable(train: LesionSet, val: LesionSet | None) -> None:
    """Refuse a training set with a class that has no lesions, and validation lesions with other classes."""
    counts = train.class_counts()
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        raise LiverkitError(
            f"classes {missing} have no training lesions in this fold; the CNN cannot learn them. "
            "Use fewer folds or check the fold assignment."
        )
    if val is not None and val.class_names != train.class_names:
        raise LiverkitError(f"validation classes {list(val.class_names)} differ from {list(train.class_names)}.")


def _fit(model, train, config, device, val, progress, seed) -> TrainedClassifier:
    reuse_freed_memory()
    images, labels = train.tensors(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    rows, step, start = [], 0, time.perf_counter()
    good_state = copy.deepcopy(model.state_dict())
    orders = epoch_orders(len(train), config, seed)
    for epoch, order in enumerate(tqdm(orders, desc="epochs", disable=not progress, leave=False)):
        args = (model, optimiser, images, labels, order.to(device), steps_per_epoch, config, epoch, good_state)
        loss_sum, correct = _run_epoch(*args)
        step += steps_per_epoch
        row = {
            "epoch": epoch + 1,
            "steps": step,
            "loss": loss_sum / steps_per_epoch,
            "train_accuracy": correct / len(train),
        }
        if val is not None:
            row["val_accuracy"] = float((predict(model, val, device) == val.labels).mean())
        rows.append(row)
        good_state = copy.deepcopy(model.state_dict())
    seconds = time.perf_counter() - start
    model.eval()
    return TrainedClassifier(
        model, pd.DataFrame(rows), seconds, config.epochs * len(train) / seconds, config, len(train)
    )


def _run_epoch(model, optimiser, images, labels, order, n_steps, config, epoch, good_state):
    """One pass of ``n_steps`` mini-batches; returns (summed loss, correct training predictions).

    Loss and accuracy are summed on the device and read once per epoch, so a GPU never waits for the host
    inside the loop; a non-finite loss anywhere in the epoch resets the model to ``good_state``.
    """
    model.train()
    loss_sum = torch.zeros((), device=images.device)
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    for i in range(n_steps):
        index = order[i * config.batch_size : (i + 1) * config.batch_size]
        x, y = images[index], labels[index]  # B x 1 x 64 x 64, B
        with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=config.bf16):
            logits = model(x)  # B x n_classes
            loss = F.cross_entropy(logits.float(), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        loss_sum += loss.detach()
        correct += (logits.detach().argmax(1) == y).sum()
    if not torch.isfinite(loss_sum):
        model.load_state_dict(good_state)
        raise TrainingDiverged(
            f"the classifier's loss became {loss_sum.item()} during epoch {epoch + 1}; the model was reset to the end "
            "of the previous epoch. Lower the learning rate (ClassifierConfig.lr) or check the data.",
            model,
        )
    return loss_sum.item(), int(correct)


@torch.no_grad()
def predict_proba(model: LesionCNN, lesions: LesionSet, device: str | torch.device = "cpu", batch: int = 512):
    """Class probabilities, N x n_classes numpy array (model in eval mode, exact fp32)."""
    if model.head[-1].out_features != len(lesions.class_names):
        raise LiverkitError(
            f"the model predicts {model.head[-1].out_features} classes but the data has {len(lesions.class_names)} "
            f"({list(lesions.class_names)}); train a model on data with the same classes."
        )
    model.eval()
    device = resolve_device(device)
    images = torch.from_numpy(lesions.images)
    out = [torch.softmax(model(images[i : i + batch].to(device)), 1).cpu() for i in range(0, len(lesions), batch)]
    return torch.cat(out).numpy() if out else np.zeros((0, len(lesions.class_names)), np.float32)


@torch.no_grad()
def embed_lesions(model: LesionCNN, lesions: LesionSet, device: str | torch.device = "cpu", batch: int = 512):
    """The CNN's last hidden layer for every lesion, N x hidden float32 numpy (eval mode, exact fp32).

    The feature space of the t-SNE/UMAP maps (notebook 06) and the quality metrics (notebook 07).
    """
    model.eval()
    device = resolve_device(device)
    images = torch.from_numpy(lesions.images)
    out = [model.embed(images[i : i + batch].to(device)).float().cpu() for i in range(0, len(lesions), batch)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.hidden[0].out_features), np.float32)


def predict(model: LesionCNN, lesions: LesionSet, device: str | torch.device = "cpu") -> np.ndarray:
    """Predicted class index per lesion."""
    return predict_proba(model, lesions, device).argmax(axis=1)


def config_dict(config: ClassifierConfig) -> dict:
    """The config as a plain dict (for run-folder records)."""
    return asdict(config)

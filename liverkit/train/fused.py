"""Training many lesion CNNs as one model: the GPU path of the sweeps (``Profile.fused``).

One paper CNN at batch 64 leaves most of a GPU idle (kernel launches, not arithmetic, bound it), and the sweeps
train hundreds of them. Here K models of the same shape train at once: their parameters are stacked along a new
first dimension and :func:`torch.func.vmap` runs the K forward and backward passes as one (a convolution with
stacked weights becomes one grouped convolution). Nothing is shared but the arithmetic: each model keeps

- its own training set, initial weights and mean image (built exactly as :func:`~liverkit.train.classifier.
  train_classifier` builds them from its seed);
- its own batch order (:func:`~liverkit.train.classifier.epoch_orders`, drawn one epoch at a time from its own
  generator) and its own dropout stream (masks drawn per step from its own generator; on a CPU this generator
  starts where the one-by-one path's global generator stands after initialisation, so the masks are the same);
- its own schedule (``epochs`` passes over its own set: a smaller set has fewer steps, and a model that has done
  its last step leaves the stack) and its own SGD momentum.

The last batch of an epoch may be smaller than 64: it is padded, and the padding's loss weight is 0, so each
model's gradient is the mean over its real images, as one by one. Fused and one-by-one training are the same
computation summed in a different order, so their weights agree to float rounding (``tests/test_fused.py``
measures it), not to the bit. On CPUs fusing was measured slower than one model after another (8 quick CNNs:
2,429 img/s one by one in channels-last, 446 with vmap), so :func:`liverkit.train.fused_check.use_fused` keeps CPUs on
the one-by-one path unless asked. Channels-last is not used here: vmap folds the model axis into the channels.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from liverkit.data.lesionset import LesionSet
from liverkit.env import resolve_device
from liverkit.errors import LiverkitError
from liverkit.nets.classifier import LesionCNN
from liverkit.train.classifier import ClassifierConfig, TrainedClassifier, build_model, check_trainable

_HEAD_KEYS = {"head.weight": "head.1.weight", "head.bias": "head.1.bias"}
"""The stacked head's parameter names and the LesionCNN state-dict keys they load into."""


class _Embed(nn.Module):
    """The CNN up to its last hidden layer, so that the dropout before the head can use an explicit mask."""

    def __init__(self, model: LesionCNN):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.embed(x)  # B x hidden


@dataclass
class _Member:
    """One model's place in the fused run: its data, its random streams and where it is in its schedule."""

    position: int  # index in the caller's list
    offset: int  # first row of its images in the shared image tensor
    n_images: int
    total_steps: int
    order_rng: torch.Generator  # batch orders, one permutation per epoch (as epoch_orders draws them)
    dropout_rng: torch.Generator  # dropout masks, one per step
    order: torch.Tensor | None = None  # this epoch's permutation
    step: int = 0
    loss: list | None = None  # per-epoch summed loss (device scalars, read once at the end)
    correct: list | None = None


def train_classifiers_fused(
    train_sets: Sequence[LesionSet],
    config: ClassifierConfig,
    seeds: Sequence[int],
    device: str | torch.device = "auto",
) -> list[TrainedClassifier]:
    """Train one CNN per training set, all at once; model ``i`` is what ``train_classifier(train_sets[i], config,
    seeds[i])`` gives, up to float rounding.

    Args:
        train_sets: each model's training lesions (any sizes; all with the same classes).
        config: the shared architecture and schedule (``channels_last`` is ignored: see the module docstring).
        seeds: one seed per model (initial weights, batch order, dropout).
        device: where to train.

    Returns:
        One :class:`TrainedClassifier` per training set, in order. ``seconds`` is the fused run's wall time
        shared out in proportion to each model's training images, so the seconds add up to the wall time.
    """
    if len(train_sets) != len(seeds) or not train_sets:
        raise LiverkitError(f"give one seed per training set: {len(train_sets)} sets, {len(seeds)} seeds.")
    names = {tuple(t.class_names) for t in train_sets}
    if len(names) > 1:
        raise LiverkitError(f"fused models must share their classes; got {sorted(names)}.")
    device = resolve_device(device)
    models, members = _build(train_sets, config, seeds, device)
    images = torch.cat([t.tensors(device)[0] for t in train_sets])  # (sum N) x 1 x 64 x 64
    labels = torch.cat([t.tensors(device)[1] for t in train_sets])  # sum N
    start = time.perf_counter()
    trained_state = _train(models, members, images, labels, config)
    seconds = time.perf_counter() - start
    return _results(models, members, trained_state, config, seconds)


def _build(train_sets, config, seeds, device) -> tuple[list[LesionCNN], list[_Member]]:
    """Each model built from its seed as ``train_classifier`` builds it, with its order and dropout generators."""
    models, members, offset = [], [], 0
    for i, (train, seed) in enumerate(zip(train_sets, seeds, strict=True)):
        check_trainable(train, None)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            models.append(build_model(train, config, device))
            dropout_rng = _dropout_generator(seed, device)
        steps = config.steps_for(len(train))
        order_rng = torch.Generator().manual_seed(seed)
        members.append(_Member(i, offset, len(train), steps, order_rng, dropout_rng, loss=[], correct=[]))
        offset += len(train)
    return models, members


def _dropout_generator(seed: int, device: torch.device) -> torch.Generator:
    """The model's dropout stream: on a CPU, the global generator's state right after initialisation (where the
    one-by-one path draws its masks from); on a GPU, a generator of its own seeded with the model's seed."""
    if device.type == "cpu":
        generator = torch.Generator()
        generator.set_state(torch.get_rng_state())
        return generator
    return torch.Generator(device=device).manual_seed(seed)


def _train(models, members, images, labels, config) -> dict[int, dict[str, torch.Tensor]]:
    """Run every model's schedule; returns each model's final state dict by position."""
    params, buffers = stack_module_state([_Embed(m) for m in models])  # every tensor K x ...
    params = {k: v for k, v in params.items() if not k.startswith("model.head.")}  # the head is applied by hand
    params |= {f"head.{k}": torch.stack([m.head[1].state_dict()[k] for m in models]) for k in ("weight", "bias")}
    momentum: dict[str, torch.Tensor] = {}
    base = _Embed(copy.deepcopy(models[0])).to("meta")  # the structure only; tensors come stacked
    active, finished = list(members), {}
    while active:
        batch, valid, masks = _next_batches(active, config, images.device)
        grads, loss, correct = _step(base, params, buffers, images[batch], labels[batch], valid, masks, config)
        _sgd(params, momentum, grads, config)
        for k, member in enumerate(active):
            _account(member, loss[k], correct[k], config)
        done = [k for k, member in enumerate(active) if member.step == member.total_steps]
        if done:
            for k in done:
                finished[active[k].position] = {name: value[k].detach().clone() for name, value in params.items()}
            keep = [k for k in range(len(active)) if k not in done]
            params, buffers, momentum = (_take(d, keep) for d in (params, buffers, momentum))
            active = [active[k] for k in keep]
    return finished


def _next_batches(active: list[_Member], config: ClassifierConfig, device: torch.device):
    """Each active model's next batch as rows of the shared image tensor, padded to the batch size.

    Returns (rows K x B, valid K x B bool, dropout masks K x B x hidden scaled by 1 / (1 - p)).
    """
    b, rows, valid, masks = config.batch_size, [], [], []
    for member in active:
        steps_per_epoch = math.ceil(member.n_images / b)
        position = member.step % steps_per_epoch
        if position == 0:  # a new epoch: its permutation, drawn as epoch_orders draws it
            member.order = torch.randperm(member.n_images, generator=member.order_rng).to(device)
        index = member.order[position * b : (position + 1) * b]
        masks.append(_dropout_mask(len(index), b, config, member.dropout_rng, device))
        rows.append(F.pad(index + member.offset, (0, b - len(index)), value=member.offset))
        valid.append(torch.arange(b, device=device) < len(index))
    return torch.stack(rows), torch.stack(valid), torch.stack(masks)


def _dropout_mask(n: int, b: int, config: ClassifierConfig, rng: torch.Generator, device) -> torch.Tensor:
    """``n`` rows of dropout mask (as ``F.dropout`` draws them), padded with zeros to ``b`` rows."""
    keep = 1.0 - config.dropout
    mask = torch.empty(n, config.hidden, device=device).bernoulli_(keep, generator=rng)  # n x hidden
    mask = mask.div_(keep) if keep > 0 else mask
    return F.pad(mask, (0, 0, 0, b - n))  # b x hidden


def _step(base, params, buffers, x, y, valid, masks, config):
    """One SGD step's gradients for all active models; returns (grads, per-model loss K, per-model correct K)."""
    params = {k: v.detach().requires_grad_(True) for k, v in params.items()}

    def logits_of(p, buf, x_one, mask):
        embed_params = {k: v for k, v in p.items() if not k.startswith("head.")}
        hidden = functional_call(base, (embed_params, buf), (x_one,))  # B x hidden
        return F.linear(hidden * mask, p["head.weight"], p["head.bias"])  # B x n_classes

    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=config.bf16):
        logits = vmap(logits_of)(params, buffers, x, masks)  # K x B x n_classes
    per_image = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none").view_as(y)  # K x B
    weight = valid.float()
    loss = (per_image * weight).sum(1) / weight.sum(1)  # K: each model's mean over its real images
    grads = torch.autograd.grad(loss.sum(), list(params.values()))
    correct = ((logits.detach().argmax(2) == y) & valid).sum(1)  # K
    return dict(zip(params, grads, strict=True)), loss.detach(), correct


@torch.no_grad()
def _sgd(params, momentum, grads, config: ClassifierConfig) -> None:
    """SGD with momentum as ``torch.optim.SGD`` does it (no dampening): buffer = m * buffer + grad (the grad on
    the first step), then parameter -= lr * buffer; elementwise, so stacked models update independently."""
    for name, grad in grads.items():
        if name not in momentum:
            momentum[name] = grad.clone()
        else:
            momentum[name].mul_(config.momentum).add_(grad)
        params[name] = params[name].detach().add_(momentum[name], alpha=-config.lr)


def _account(member: _Member, loss: torch.Tensor, correct: torch.Tensor, config: ClassifierConfig) -> None:
    """Add one step's loss and correct count to the model's epoch totals (kept on the device)."""
    steps_per_epoch = math.ceil(member.n_images / config.batch_size)
    if member.step % steps_per_epoch == 0:
        member.loss.append(torch.zeros((), device=loss.device))
        member.correct.append(torch.zeros((), dtype=torch.long, device=loss.device))
    member.loss[-1] = member.loss[-1] + loss
    member.correct[-1] = member.correct[-1] + correct
    member.step += 1


def _take(stacked: dict[str, torch.Tensor], keep: list[int]) -> dict[str, torch.Tensor]:
    """The stacked tensors of the models still training."""
    index = torch.tensor(keep, dtype=torch.long)
    return {name: value[index.to(value.device)] for name, value in stacked.items()}


def _results(models, members, trained_state, config, seconds) -> list[TrainedClassifier]:
    """Load each model's final weights and build its TrainedClassifier (history read from the device once)."""
    work = sum(m.n_images for m in members)
    out = []
    for model, member in zip(models, members, strict=True):
        trained = {_HEAD_KEYS.get(k, k.removeprefix("model.")): v for k, v in trained_state[member.position].items()}
        model.load_state_dict(model.state_dict() | trained)
        if config.channels_last:  # the layout a saved and reloaded model predicts in (load_classifier)
            model = model.to(memory_format=torch.channels_last)
        model.eval()
        history = _history(member, config)
        share = seconds * member.n_images / work
        out.append(
            TrainedClassifier(model, history, share, config.epochs * member.n_images / share, config, member.n_images)
        )
    return out


def _history(member: _Member, config: ClassifierConfig) -> pd.DataFrame:
    """One row per epoch, as the one-by-one trainer records it; a non-finite loss is an error."""
    steps_per_epoch = math.ceil(member.n_images / config.batch_size)
    losses = torch.stack(member.loss).cpu()
    correct = torch.stack(member.correct).cpu()
    if not torch.isfinite(losses).all():
        epoch = int((~torch.isfinite(losses)).nonzero()[0]) + 1
        raise LiverkitError(
            f"model {member.position} of the fused run diverged (loss {losses[epoch - 1].item()} in epoch {epoch}). "
            "Lower the learning rate (ClassifierConfig.lr) or check the data."
        )
    return pd.DataFrame(
        {
            "epoch": range(1, len(losses) + 1),
            "steps": [steps_per_epoch * (e + 1) for e in range(len(losses))],
            "loss": (losses / steps_per_epoch).tolist(),
            "train_accuracy": (correct.double() / member.n_images).tolist(),
        }
    )

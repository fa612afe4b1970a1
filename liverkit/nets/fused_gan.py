"""The fused GAN networks: K DCGANs or ACGANs of one config as one network, so that a GPU trains them at once.

Grouped layers: every convolution becomes one ``Conv2d``/``ConvTranspose2d`` with ``groups=K`` (model k owns
channel block k), every batch norm one ``BatchNorm2d`` over K x C channels (the same per-channel batch statistics and
running statistics each model has alone), the linear layers and the ACGAN's class embedding batched matrix
products over a leading model axis. Activations are B x (K*C) x H x W; images B x K x 64 x 64 (channel k is model
k's image). Every fused tensor is the K models' tensors concatenated along dim 0, so one model's weights and
batch-norm buffers are a slice (:func:`model_state`); the functions at the end move state between the fused and the
per-model layout. The same layers, order and state-dict keys as :mod:`liverkit.nets.dcgan` and
:mod:`liverkit.nets.acgan`; the trainer is :mod:`liverkit.train.fused_gan`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from liverkit.nets.dcgan import down_conv, up_conv


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


class FusedDropout(nn.Module):
    """:class:`~liverkit.nets.acgan.ThresholdDropout` for K models, each model's mask drawn from its own generator
    (``rngs``, set by the trainer) as the model alone draws it (uniform draws of the model's shape and memory format,
    in fp32, kept where ``>= p``): on the same device the masks are the one-by-one run's."""

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
        draws = [
            torch.empty(shape, dtype=torch.float32, device=x.device, memory_format=layout).uniform_(generator=g)
            for g in self.rngs
        ]  # K x (N x C x H x W)
        return x * (torch.cat(draws, 1) >= self.p) * (1 / (1 - self.p))  # N x K*C x H x W


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
    return [*layers, nn.LeakyReLU(0.2), FusedDropout(k, dropout)]


# ---------------------------------------------------------------------------------------------- model slices
def stack_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The fused state dict of K models' state dicts: each tensor concatenated along dim 0. A 0-d tensor (batch
    norm's step counter, equal in models that step together) is taken once."""
    first = states[0]
    return {key: first[key] if first[key].dim() == 0 else torch.cat([s[key] for s in states]) for key in first}


def model_slice(tensor: torch.Tensor, k: int, index: int | list[int]) -> torch.Tensor:
    """Model ``index``'s block of a fused tensor (a view; a list of models gives them stacked, K' x ...)."""
    return tensor if tensor.dim() == 0 else tensor.unflatten(0, (k, -1))[index]


def model_state(state: dict[str, torch.Tensor], k: int, j: int) -> dict[str, torch.Tensor]:
    """Model ``j``'s state dict (views) out of a fused state dict of ``k`` models."""
    return {key: model_slice(value, k, j) for key, value in state.items()}


def kept_models(tensor: torch.Tensor, k: int, keep: list[int]) -> torch.Tensor:
    """A fused tensor of ``k`` models cut to the models ``keep``, still concatenated along dim 0."""
    return tensor if tensor.dim() == 0 else model_slice(tensor, k, keep).flatten(0, 1)

"""The paper's ACGAN, one conditional model for all lesion classes (notebook 04).

Generator: the class label enters through a learned embedding; then the DCGAN generator's stack.
Discriminator: as the DCGAN's but with 3 x 3 kernels, strided convolution on every odd layer, dropout 0.5 on
every layer but the last, and two heads: real/fake P(S | X) and class P(C | X).

Where the paper is silent, the kit's reading (following Odena et al.'s ACGAN and its common PyTorch ports):

- The label enters by multiplying the noise elementwise with a learned class embedding of the same length
  (``nn.Embedding(n_classes, z_dim)``, left at PyTorch's N(0, 1) initialisation so the product keeps the
  noise's scale); the generator stack, widths and initialisation are the DCGAN's (width 1024).
- Six convolutions, strides 2, 1, 2, 1, 2, 1 (64 -> 32 -> 32 -> 16 -> 16 -> 8 -> 8 pixels), padding 1, widths
  w, 2w, 4w, 8w, 16w, 32w with w = 16 (so the last has 512 channels, as in the DCGAN discriminator).
- Leaky ReLU (0.2) after every convolution; batch norm on all but the first; dropout 0.5 after every
  convolution ("every layer but the last": the last layer is the pair of linear heads).
- Both heads return logits (sigmoid and softmax live in the losses).
- Dropout draws its mask as ``uniform >= p`` (:class:`ThresholdDropout`): ``nn.Dropout``'s distribution, cheaper to
  draw on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from liverkit.nets.dcgan import DCGANGenerator, init_gan_weights


class ACGANGenerator(nn.Module):
    """Noise and a class label to a 64 x 64 image in [-1, 1].

    Args:
        n_classes: number of lesion classes.
        z_dim: length of the noise vector and of the class embedding (the paper: 100).
        width: channels of the generator's first 4 x 4 map (the kit uses the DCGAN's 1024).
    """

    def __init__(self, n_classes: int, z_dim: int = 100, width: int = 1024):
        super().__init__()
        self.n_classes, self.z_dim, self.width = n_classes, z_dim, width
        self.embed = nn.Embedding(n_classes, z_dim)  # N x z_dim
        self.body = DCGANGenerator(z_dim, width)  # N x 1 x 64 x 64

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Images N x 1 x 64 x 64 in [-1, 1] for noise N x z_dim and integer class labels N."""
        return self.body(z * self.embed(labels))  # N x 1 x 64 x 64


class ACGANDiscriminator(nn.Module):
    """A 64 x 64 image in [-1, 1] to a real/fake logit and class logits. Shapes below are for ``width=16``.

    Args:
        n_classes: number of lesion classes (size of the class head).
        width: filters of the first convolution (the paper's reading: 16; doubled at each of the six layers).
        dropout: dropout probability after every convolution (the paper: 0.5).
    """

    def __init__(self, n_classes: int, width: int = 16, dropout: float = 0.5):
        super().__init__()
        self.n_classes, self.width = n_classes, width
        w = width
        self.features = nn.Sequential(
            *_block(1, w, 2, dropout, batch_norm=False),  # N x 16 x 32 x 32
            *_block(w, 2 * w, 1, dropout),  # N x 32 x 32 x 32
            *_block(2 * w, 4 * w, 2, dropout),  # N x 64 x 16 x 16
            *_block(4 * w, 8 * w, 1, dropout),  # N x 128 x 16 x 16
            *_block(8 * w, 16 * w, 2, dropout),  # N x 256 x 8 x 8
            *_block(16 * w, 32 * w, 1, dropout),  # N x 512 x 8 x 8
            nn.Flatten(),  # N x 32768
        )
        self.source = nn.Linear(32 * w * 8 * 8, 1)  # N x 1
        self.classes = nn.Linear(32 * w * 8 * 8, n_classes)  # N x n_classes
        init_gan_weights(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real/fake logits N, class logits N x n_classes) for images N x 1 x 64 x 64 in [-1, 1]."""
        h = self.features(x)  # N x 32w * 64
        return self.source(h).squeeze(1), self.classes(h)  # N, N x n_classes


def _block(c_in: int, c_out: int, stride: int, dropout: float, batch_norm: bool = True) -> list[nn.Module]:
    """3 x 3 convolution (no bias before batch norm), [batch norm], leaky ReLU 0.2, dropout."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    return [*layers, nn.LeakyReLU(0.2), ThresholdDropout(dropout)]


class ThresholdDropout(nn.Module):
    """Dropout whose mask keeps a unit where a uniform draw is ``>= p`` (kept units scaled by 1 / (1 - p)).

    The same distribution as ``nn.Dropout``, but on a CPU ``nn.Dropout``'s ``bernoulli_`` was a quarter of a
    quick ACGAN step; uniform draws compared with ``p`` are 3-4x cheaper, and the step ran about 18% faster
    (2-core Xeon, one thread, fp32 and bf16). The draws come from the global generator of ``x``'s device, in
    ``x``'s shape and memory layout (:class:`liverkit.nets.fused_gan.FusedDropout` draws the same per model).
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand_like(x, dtype=torch.float32) >= self.p  # x's shape and layout
        return x * keep * (1 / (1 - self.p))

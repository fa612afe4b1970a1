"""The paper's DCGAN, one per lesion class (notebook 03).

Generator: z (100 numbers, uniform in [-1, 1]) -> fully connected to 4 x 4 x 1024 -> four fractionally-strided
5 x 5 convolutions up to 64 x 64 x 1, batch norm and ReLU on every layer but the output, tanh output.
Discriminator: four strided 5 x 5 convolutions and one fully connected layer, batch norm on all but the input
and output layers, leaky ReLU (slope 0.2). Weights from N(0, 0.02).

Where the paper is silent, the kit's reading (parameters where it matters):

- Widths are parameters: ``width`` is the generator's first feature map (paper 1024, halved at each layer) and
  the discriminator's first convolution (64, doubled at each layer, as in Radford et al.'s DCGAN).
- Layers followed by batch norm have no bias (batch norm would cancel it, as in pytorch/examples' DCGAN);
  the output layers keep theirs.
- Padding 2 (and output padding 1 in the generator) makes every stride-2 layer exactly halve or double the size.
- The discriminator returns a logit, not a probability: the sigmoid lives in the loss
  (``binary_cross_entropy_with_logits``), which is the same model but numerically safer.
- Batch-norm scales start from N(1, 0.02) and shifts at 0 (the DCGAN reference initialisation).
"""

from __future__ import annotations

import torch
from torch import nn

from liverkit.errors import LiverkitError

INIT_STD = 0.02
"""Standard deviation of the initial weights (the paper: N(0, 0.02))."""


def init_gan_weights(module: nn.Module) -> None:
    """The DCGAN initialisation for every layer of ``module``: weights N(0, 0.02), biases 0, BN scales N(1, 0.02).

    Embeddings (the ACGAN's class embedding) are left at PyTorch's N(0, 1).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, INIT_STD)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, INIT_STD)
            nn.init.zeros_(layer.bias)


def up_conv(c_in: int, c_out: int, **kwargs) -> nn.ConvTranspose2d:
    """A 5 x 5 fractionally-strided convolution that doubles height and width."""
    return nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1, **kwargs)


def down_conv(c_in: int, c_out: int, **kwargs) -> nn.Conv2d:
    """A 5 x 5 strided convolution that halves height and width."""
    return nn.Conv2d(c_in, c_out, 5, stride=2, padding=2, **kwargs)


class DCGANGenerator(nn.Module):
    """Noise to a 64 x 64 image in [-1, 1]. Shapes below are for the paper's ``width=1024``.

    Args:
        z_dim: length of the noise vector (the paper: 100).
        width: channels of the 4 x 4 map after the fully connected layer (the paper: 1024); a multiple of 8.
    """

    def __init__(self, z_dim: int = 100, width: int = 1024):
        super().__init__()
        if width % 8 or width < 8:
            raise LiverkitError(f"the generator width must be a positive multiple of 8, got {width!r}.")
        self.z_dim, self.width = z_dim, width
        w = width
        self.project = nn.Sequential(
            nn.Linear(z_dim, w * 4 * 4, bias=False),  # N x 16384
            nn.Unflatten(1, (w, 4, 4)),  # N x 1024 x 4 x 4
            nn.BatchNorm2d(w),
            nn.ReLU(),  # N x 1024 x 4 x 4
        )
        self.upsample = nn.Sequential(
            up_conv(w, w // 2, bias=False),
            nn.BatchNorm2d(w // 2),
            nn.ReLU(),  # N x 512 x 8 x 8
            up_conv(w // 2, w // 4, bias=False),
            nn.BatchNorm2d(w // 4),
            nn.ReLU(),  # N x 256 x 16 x 16
            up_conv(w // 4, w // 8, bias=False),
            nn.BatchNorm2d(w // 8),
            nn.ReLU(),  # N x 128 x 32 x 32
            up_conv(w // 8, 1),
            nn.Tanh(),  # N x 1 x 64 x 64
        )
        init_gan_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images N x 1 x 64 x 64 in [-1, 1] for noise N x z_dim."""
        return self.upsample(self.project(z))  # N x 1 x 64 x 64


class DCGANDiscriminator(nn.Module):
    """A 64 x 64 image in [-1, 1] to one real/fake logit. Shapes below are for the paper's ``width=64``.

    Args:
        width: filters of the first convolution (64 in DCGAN; doubled at each of the four layers).
    """

    def __init__(self, width: int = 64):
        super().__init__()
        w = width
        self.width = width
        self.features = nn.Sequential(
            down_conv(1, w),
            nn.LeakyReLU(0.2),  # N x 64 x 32 x 32
            down_conv(w, 2 * w, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),  # N x 128 x 16 x 16
            down_conv(2 * w, 4 * w, bias=False),
            nn.BatchNorm2d(4 * w),
            nn.LeakyReLU(0.2),  # N x 256 x 8 x 8
            down_conv(4 * w, 8 * w, bias=False),
            nn.BatchNorm2d(8 * w),
            nn.LeakyReLU(0.2),  # N x 512 x 4 x 4
            nn.Flatten(),  # N x 8192
        )
        self.head = nn.Linear(8 * w * 4 * 4, 1)  # N x 1
        init_gan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real/fake logits, shape N, for images N x 1 x 64 x 64 in [-1, 1] (sigmoid gives P(real))."""
        return self.head(self.features(x)).squeeze(1)  # N

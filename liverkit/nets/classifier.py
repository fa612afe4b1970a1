"""The paper's lesion classifier CNN (notebook 02).

Three (convolution -> ReLU -> 2x2 max-pooling) blocks, then two fully connected layers with dropout 0.5 and a
softmax over the classes, on 64 x 64 x 1 inputs from which the training-set mean image is subtracted. The paper
does not give filter counts, kernel sizes or the initialisation; the kit's choices (32/64/128 filters, 5/5/3
kernels, 256 hidden units, He initialisation) are parameters, documented in the README.

Each block applies the max-pooling before the ReLU. ReLU is monotone, so max(ReLU(x)) = ReLU(max(x)): the outputs
and the gradients are those of convolution -> ReLU -> pooling (``tests/test_classifier.py`` checks them bit for bit),
but the ReLU runs on a map 4x smaller: a quick-width training step ran 10-20% faster (2-core Xeon, one thread).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class LesionCNN(nn.Module):
    """Conv-pool x 3, FC, dropout, FC; returns logits (softmax lives in the loss).

    Args:
        n_classes: number of lesion classes (from the data: 3 for the paper, 2 or 11 for other sets).
        channels: filters of the three convolutions.
        kernels: kernel sizes of the three convolutions ("same" padding).
        hidden: units of the first fully connected layer.
        dropout: dropout probability before the last layer (the paper: 0.5).
        mean_image: the training-set mean (1 x 64 x 64) subtracted from every input; zeros when None.
    """

    def __init__(
        self,
        n_classes: int = 3,
        channels: Sequence[int] = (32, 64, 128),
        kernels: Sequence[int] = (5, 5, 3),
        hidden: int = 256,
        dropout: float = 0.5,
        mean_image: torch.Tensor | None = None,
    ):
        super().__init__()
        c1, c2, c3 = channels
        k1, k2, k3 = kernels
        self.register_buffer("mean_image", torch.zeros(1, 64, 64) if mean_image is None else mean_image.clone())
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, k1, padding=k1 // 2),
            nn.MaxPool2d(2),
            nn.ReLU(),  # c1 x 32 x 32
            nn.Conv2d(c1, c2, k2, padding=k2 // 2),
            nn.MaxPool2d(2),
            nn.ReLU(),  # c2 x 16 x 16
            nn.Conv2d(c2, c3, k3, padding=k3 // 2),
            nn.MaxPool2d(2),
            nn.ReLU(),  # c3 x 8 x 8
            nn.Flatten(),  # c3 * 64
        )
        self.hidden = nn.Sequential(nn.Linear(c3 * 8 * 8, hidden), nn.ReLU())  # hidden
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))  # n_classes
        self._init_weights()

    def _init_weights(self) -> None:
        """He-normal weights and zero biases for every convolution and linear layer.

        With PyTorch's default initialisation, SGD at the paper's learning rate (0.001) on mean-subtracted
        [0, 1] inputs barely moves for the first several hundred steps; He initialisation, the standard for
        ReLU nets, starts learning at once. (The paper does not say how it initialised the CNN.)
        """
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's features (N x hidden), used for t-SNE/UMAP and quality metrics."""
        return self.hidden(self.features(x - self.mean_image))  # N x hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, N x n_classes, for images N x 1 x 64 x 64 in [0, 1]."""
        return self.head(self.embed(x))  # N x n_classes

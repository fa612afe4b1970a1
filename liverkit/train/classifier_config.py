"""The classifier CNN's shape and training schedule (:class:`ClassifierConfig`), without torch.

It lives apart from :mod:`liverkit.train.classifier`, which trains the CNN with torch, so that the profiles
(:mod:`liverkit.kit.profiles`) and the ``liverkit`` command import no torch. :mod:`liverkit.train.classifier`
re-exports it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ClassifierConfig:
    """The CNN's shape and its training schedule (defaults: the paper's, with the kit's documented widths)."""

    channels: tuple[int, int, int] = (32, 64, 128)
    """Filters of the three convolutions (the paper does not give them; the kit's choice)."""
    kernels: tuple[int, int, int] = (5, 5, 3)
    """Kernel sizes of the three convolutions (the kit's choice)."""
    hidden: int = 256
    """Units of the first fully connected layer (the kit's choice)."""
    dropout: float = 0.5
    """Dropout before the output layer (the paper: 0.5)."""
    lr: float = 1e-3
    """SGD learning rate (the paper: 0.001)."""
    momentum: float = 0.9
    """SGD momentum (not given by the paper; 0.9 is the usual choice with lr 0.001)."""
    batch_size: int = 64
    """Mini-batch size (the paper: 64)."""
    epochs: int = 150
    """Passes over the model's whole training set (the paper: 150). This is the kit's training-budget rule: every
    model, whatever its training set, trains ``epochs`` full passes over all of it with no step cap, so adding
    synthetic or extra classic images never takes a pass away from the images two arms share (it adds steps)."""
    bf16: bool = False
    """Autocast to bfloat16 (about 2x faster on CPUs with AMX and on GPUs); False keeps exact fp32."""
    channels_last: bool = True
    """Train in the channels-last memory layout: still exact fp32, but about 1.4x faster for the quick-width CNN
    on a 2-core AVX2 CPU (max-pooling is much cheaper in that layout) and neutral at the paper width; results
    differ from the NCHW layout only by float rounding."""

    def steps_for(self, n_samples: int) -> int:
        """Optimiser steps the budget rule gives a training set of ``n_samples``: epochs x batches per epoch."""
        return self.epochs * math.ceil(n_samples / self.batch_size)

"""The collapse ratio's parts: how spread a set of images is, on a fixed random subset (every GAN epoch records it).

A generator that collapses onto a few outputs makes samples that lie close together; the ratio of the samples'
mean pairwise distance to the real images' (``liverkit.train.gan`` per epoch, ``liverkit.evaluate.quality``'s
``collapse_ratio`` after training) falls towards 0 as it does.
"""

from __future__ import annotations

import torch


def random_subset(images: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
    """At most ``n`` of ``images``, a random subset drawn with ``rng`` (all of them, in order, when there are few)."""
    if len(images) <= n:
        return images
    return images[torch.randperm(len(images), generator=rng)[:n].to(images.device)]


def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Mean L2 distance over all pairs of images (flattened), in fp32."""
    return torch.pdist(images.flatten(1).float()).mean().item()

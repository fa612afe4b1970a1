"""The networks: the classifier CNN, DCGAN, ACGAN and their fused K-model forms. ``nn.Module``s, shapes commented.

- ``classifier``: the paper's lesion CNN (notebooks 02, 05).
- ``dcgan`` and ``acgan``: the paper's GANs (notebooks 03, 04).
- ``fused_gan``: K GANs of one shape as one network, for a GPU.

Notebooks: 02-07 (through ``train`` and the experiment).
May import: the top-level modules.
"""

from liverkit.nets.acgan import ACGANDiscriminator, ACGANGenerator
from liverkit.nets.classifier import LesionCNN
from liverkit.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from liverkit.nets.fused_gan import (
    FusedACGANDiscriminator,
    FusedACGANGenerator,
    FusedDCGANDiscriminator,
    FusedDCGANGenerator,
)

__all__ = [
    "ACGANDiscriminator",
    "ACGANGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "FusedACGANDiscriminator",
    "FusedACGANGenerator",
    "FusedDCGANDiscriminator",
    "FusedDCGANGenerator",
    "LesionCNN",
]

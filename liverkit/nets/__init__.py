"""The networks: the classifier CNN, DCGAN, ACGAN and their fused K-model forms. ``nn.Module``s, shapes commented."""

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

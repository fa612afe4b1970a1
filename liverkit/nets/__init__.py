"""The networks: the classifier CNN, DCGAN and ACGAN. Only ``nn.Module``s, with shapes commented."""

from liverkit.nets.acgan import ACGANDiscriminator, ACGANGenerator
from liverkit.nets.classifier import LesionCNN
from liverkit.nets.dcgan import DCGANDiscriminator, DCGANGenerator

__all__ = ["ACGANDiscriminator", "ACGANGenerator", "DCGANDiscriminator", "DCGANGenerator", "LesionCNN"]

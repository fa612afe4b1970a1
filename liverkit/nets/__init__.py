"""The networks: the classifier CNN, DCGAN and ACGAN. Only ``nn.Module``s, with shapes commented."""

from liverkit.nets.classifier import LesionCNN

__all__ = ["LesionCNN"]

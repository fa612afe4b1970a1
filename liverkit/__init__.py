"""liverkit: GAN-based synthetic augmentation for liver lesion classification, as a Jupyter-first kit."""

from liverkit.errors import LiverkitError, LiverkitWarning

__version__ = "0.1.0"

__all__ = ["LiverkitError", "LiverkitWarning", "__version__"]

"""The order of the story: the kit's notebooks, and which earlier notebooks' results each one reads.

Torch-free on purpose: the runner (a small process beside the kernels) uses it to count the work of a notebook that
will rebuild its predecessors, and :mod:`liverkit.pipeline` to decide what to rebuild.
"""

from __future__ import annotations

NOTEBOOKS = (
    "01_data",
    "02_classic_augmentation",
    "03_dcgan",
    "04_acgan",
    "05_gan_augmentation",
    "06_feature_maps",
    "07_synthetic_quality",
    "08_visual_turing_test",
)

NEEDS: dict[str, tuple[str, ...]] = {
    "01_data": (),
    "02_classic_augmentation": ("01_data",),
    "03_dcgan": ("01_data", "02_classic_augmentation"),
    "04_acgan": ("01_data", "02_classic_augmentation"),
    "05_gan_augmentation": ("01_data", "02_classic_augmentation", "03_dcgan", "04_acgan"),
    "06_feature_maps": ("01_data", "02_classic_augmentation", "03_dcgan", "04_acgan", "05_gan_augmentation"),
    "07_synthetic_quality": ("01_data", "02_classic_augmentation", "03_dcgan", "04_acgan", "05_gan_augmentation"),
    "08_visual_turing_test": ("01_data", "02_classic_augmentation", "03_dcgan", "04_acgan"),
}
"""The earlier steps each notebook reads from (directly or through the steps it reads), in story order. Notebook
06's feature maps and 07's quality numbers are read by no later notebook, so they are never rebuilt."""

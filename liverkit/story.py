"""The order of the story: the kit's notebooks, and which earlier notebooks' results each one reads.

Torch-free on purpose: the runner (a small process beside the kernels) uses it to count the work of a notebook that
will rebuild its predecessors, and :mod:`liverkit.kit.standalone` to decide what to rebuild.
"""

from __future__ import annotations

import os
from pathlib import Path

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

MAKES: dict[str, tuple[str, ...]] = {
    "01_data": ("artifacts/lesions.npz", "artifacts/folds.npy"),
    "02_classic_augmentation": ("artifacts/classic_*",),
    "03_dcgan": ("artifacts/gans/dcgan/*", "artifacts/synthetic_dcgan_*"),
    "04_acgan": ("artifacts/gans/acgan/*", "artifacts/synthetic_acgan_*"),
    "05_gan_augmentation": ("artifacts/gan_*", "artifacts/cnn_*"),
    "06_feature_maps": ("artifacts/feature_*",),
    "07_synthetic_quality": ("artifacts/quality_*", "artifacts/memorization_*"),
    "08_visual_turing_test": ("artifacts/turing_*",),
}
"""The files each notebook writes into the run folder's ``artifacts/`` (``fnmatch`` patterns, relative to the run
folder; ``*`` crosses folders). Besides these, each notebook has its executed copy and ``metrics/<notebook>.json``.
The runner moves a notebook's files aside when its inputs change, and an error about a damaged file names the
notebook that remakes it; ``tests/test_notebooks.py`` checks that every file of a run has exactly one maker."""


def maker(relative: str) -> str | None:
    """The notebook that writes the run-folder file ``relative`` (e.g. ``"artifacts/folds.npy"``), or None."""
    from fnmatch import fnmatchcase

    relative = relative.replace("\\", "/")
    for notebook, patterns in MAKES.items():
        if any(fnmatchcase(relative, pattern) for pattern in patterns):
            return notebook
    return None


def remake_advice(path: str | os.PathLike, otherwise: str | None = None) -> str:
    """What to do about a damaged, missing or mismatched run-folder file (``<run>/artifacts/...``): the notebook that
    remakes it, as a command; ``otherwise`` (or a generic line) for a file outside a run folder's artefacts."""
    parts = Path(path).parts
    at = max((i for i, part in enumerate(parts) if part == "artifacts"), default=None)
    notebook = None if at is None else maker("/".join(parts[at:]))
    if notebook is None:
        return otherwise or f"delete it and rerun the notebook that saves '{Path(path).name}'"
    run_dir = Path(*parts[:at])
    return (
        f"rerun notebook {notebook[:2]} ({notebook}), which remakes it: liverkit run --out {run_dir} --notebooks "
        f"{notebook[:2]} --force (its old files move to stale/)"
    )

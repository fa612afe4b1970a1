"""Export the README's picture from a run folder: real test lesions above DCGAN and ACGAN lesions, per class.

Usage: ``python scripts/readme_figure.py runs/demo docs/images/real_vs_synthetic.png`` (after ``make demo``).
Rows: for each class, real ROIs of fold 0's test set, then the fold's DCGAN samples, then its ACGAN samples.
"""

from __future__ import annotations

import argparse

import numpy as np

from liverkit.data.folds import split
from liverkit.experiment import classic_sweep, synthesis
from liverkit.experiment.run_folder import RunFolder
from liverkit.io import atomic_write
from liverkit.kit.plots import grey_png, mosaic


def rows_for(run: RunFolder, per_row: int, fold: int = 0) -> np.ndarray:
    """Images (rows x per_row) x 64 x 64: real, DCGAN, ACGAN for every class."""
    lesions, fold_of = run.load_lesionset(classic_sweep.LESIONS_FILE), run.load_array(classic_sweep.FOLDS_FILE)
    _, test = split(lesions, fold_of, fold)
    sets = [test] + [synthesis.load_fold_samples(run, kind, fold) for kind in synthesis.GAN_KINDS]
    rows = []
    for name in lesions.class_names:
        rows.extend(lesion_set.by_class(name).images[:per_row, 0] for lesion_set in sets)
    return np.concatenate(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("out")
    parser.add_argument("--per-row", type=int, default=10)
    args = parser.parse_args()
    canvas = mosaic(rows_for(RunFolder(args.run_dir), args.per_row), cols=args.per_row)
    png = grey_png(canvas, scale=2)
    atomic_write(args.out, lambda tmp: tmp.write_bytes(png))
    print(args.out)


if __name__ == "__main__":
    main()

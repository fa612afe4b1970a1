"""Export the README's picture from a run folder: real test lesions above DCGAN and ACGAN lesions, per class.

Usage: ``python scripts/readme_figure.py runs/demo docs/images/real_vs_synthetic.png`` (after ``make demo``).
Rows: for each class, real ROIs of fold 0's test set, then the fold's DCGAN samples, then its ACGAN samples.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from liverkit.data.folds import split
from liverkit.io import atomic_write
from liverkit.plots import mosaic
from liverkit.runs import RunFolder


def rows_for(run: RunFolder, per_row: int, fold: int = 0) -> np.ndarray:
    """Images (rows x per_row) x 64 x 64: real, DCGAN, ACGAN for every class."""
    lesions, fold_of = run.load_lesionset("lesions"), run.load_array("folds")
    _, test = split(lesions, fold_of, fold)
    sets = [test] + [run.load_lesionset(f"synthetic_{kind}_fold{fold}") for kind in ("dcgan", "acgan")]
    rows = []
    for k in range(len(lesions.class_names)):
        for lesion_set in sets:
            chosen = np.flatnonzero(lesion_set.labels == k)[:per_row]
            rows.append(lesion_set.images[chosen, 0])
    return np.concatenate(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("out")
    parser.add_argument("--per-row", type=int, default=10)
    args = parser.parse_args()
    canvas = mosaic(rows_for(RunFolder(args.run_dir), args.per_row), cols=args.per_row)
    image = Image.fromarray((np.clip(canvas, 0, 1) * 255).astype(np.uint8)).resize(
        (canvas.shape[1] * 2, canvas.shape[0] * 2), Image.NEAREST
    )
    atomic_write(args.out, lambda tmp: image.save(tmp, format="PNG"))
    print(args.out)


if __name__ == "__main__":
    main()

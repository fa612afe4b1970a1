"""Calibrate the phantom's difficulty with classic augmentation only (issue 3, item 6).

For each difficulty, the 3-fold patient-level CNN-AUG protocol is run with the given groups (default 0, no
augmentation, and 5000, the paper's classic optimum) under the kit's budget rule (the same epochs over every
model's whole training set), and the pooled accuracy with its patient-cluster bootstrap CI is printed as one JSON
line. Nothing about GANs enters this choice. Calibrate on seeds the demo does not use (the demo uses seed 0).

Usage: python scripts/calibrate_phantom.py --difficulties 0.6 0.7 0.8 --epochs 8 --lr 0.01 --seeds 7
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from liverkit.augment.classic import AugmentConfig
from liverkit.data import make_phantom
from liverkit.data.folds import patient_folds
from liverkit.experiment.classic_sweep import run_classic_sweep, sweep_table
from liverkit.train.classifier import ClassifierConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--difficulties", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="phantom and protocol seeds")
    parser.add_argument("--channels", type=int, nargs=3, default=[8, 16, 32])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=150, help="passes over every model's training set")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--groups", type=int, nargs="+", default=[0, 5000])
    args = parser.parse_args()
    clf = ClassifierConfig(channels=tuple(args.channels), hidden=args.hidden, epochs=args.epochs, lr=args.lr)
    for difficulty in args.difficulties:
        for seed in args.seeds:
            start = time.perf_counter()
            lesions = make_phantom(seed=seed, difficulty=difficulty)
            fold_of = patient_folds(lesions, k=3, seed=seed)
            sweep = run_classic_sweep(
                lesions, fold_of, tuple(args.groups), AugmentConfig(), clf, seed=seed, inner_folds=None, progress=False
            )
            table = sweep_table(sweep).round(4)
            record = {
                "difficulty": difficulty,
                "seed": seed,
                "channels": args.channels,
                "hidden": args.hidden,
                "epochs": args.epochs,
                "lr": args.lr,
                "precision": "fp32",
                "threads": torch.get_num_threads(),
                "seconds": round(time.perf_counter() - start, 1),
                "groups": table.to_dict("records"),
            }
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()

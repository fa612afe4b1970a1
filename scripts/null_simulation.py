"""How often notebook 05's intervals miss, on a finished run's structure: the README's null-simulation table.

Usage: ``python scripts/null_simulation.py runs/demo docs/null_simulation.md`` (after ``make demo``; about a minute
per 1,000 simulated runs and GAN kind on two cores). For each GAN kind's primary pair it simulates two arms that are
the same procedure with different seeds (and, in one scenario, a GAN arm with a true effect) on the run's lesions,
patients and per-repeat folds (``liverkit.experiment.null_check``), and writes the share of 95% intervals that miss, for
the kit's interval (repeats and patients resampled) and for the patients-only interval it replaced.
"""

from __future__ import annotations

import argparse

import pandas as pd

from liverkit.experiment import classic_sweep, gan_sweep, null_check
from liverkit.experiment.run_folder import RunFolder
from liverkit.io import atomic_write
from liverkit.kit.profiles import resolve_profile


def table_for(run_dir: str, sims: int, boots: int, seed: int) -> pd.DataFrame:
    """Every GAN kind's :func:`~liverkit.experiment.null_check.null_table` on the run's sweep, with a ``gan`` column."""
    run = RunFolder(run_dir)
    identity = run.identity
    profile = resolve_profile(identity["profile"], identity["data"], identity.get("overrides"))
    lesions = run.load_lesionset(classic_sweep.LESIONS_FILE)
    sweep = gan_sweep.load_sweep(run, lesions.class_names, profile.synthetic_sizes)
    kinds = [k for k in ("dcgan", "acgan") if k in set(sweep.predictions.arm)]
    frames = [null_check.null_table(sweep, k, n_sims=sims, n_boot=boots, seed=seed).assign(gan=k) for k in kinds]
    return pd.concat(frames, ignore_index=True)


def markdown(table: pd.DataFrame, command: str) -> str:
    """The table as the README shows it, with the command that made it."""
    lines = [
        "| GAN pair | scenario | interval resamples | misses (95% MC range) | mean width (points) |",
        "|---|---|---|---|---|",
    ]

    def own(row) -> str:
        return " (this run's)" if getattr(row, "spread", "") == "estimated" else ""

    for row in table.itertuples():
        scenario = "no effect" if row.shift_points == 0 else f"true effect {row.shift_points:+g} points"
        low, high = max(row.misses - 1.96 * row.se, 0), row.misses + 1.96 * row.se
        lines.append(
            f"| {row.gan} vs control | {scenario}, spread {row.unit_sd_points:g} points{own(row)} | {row.method} | "
            f"{100 * row.misses:.1f}% ({100 * low:.1f}-{100 * high:.1f}%) | {row.width_points:.1f} |"
        )
    sims, repeats = int(table.sims.iloc[0]), int(table.repeats.iloc[0])
    return (
        f"Simulated runs per row: {sims}, each of {repeats} repeats. Made by `{command}`.\n\n" + "\n".join(lines) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("out")
    parser.add_argument("--sims", type=int, default=1000)
    parser.add_argument("--boots", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    table = table_for(args.run_dir, args.sims, args.boots, args.seed)
    command = f"python scripts/null_simulation.py {args.run_dir} {args.out} --sims {args.sims}"
    text = markdown(table, command)
    atomic_write(args.out, lambda tmp: tmp.write_text(text))
    print(text)


if __name__ == "__main__":
    main()
